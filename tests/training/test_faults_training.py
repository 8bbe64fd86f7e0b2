"""Training and evaluation under faults: damaged data counted exactly, resume by what a
run is rather than how it was spelled, one commit point per epoch (docs/reliability.md)."""

from __future__ import annotations

import json
import shutil

import pytest

import tests.tiny_model  # noqa: F401  (registers the tiny model)
from ferzoo.cli import main
from tests import fake_datasets
from tests.tiny_model import NAME

FAST = ["--recipe", "default", "--batch-size", "4", "--lr", "3e-3", "--quiet"]


@pytest.fixture(scope="module")
def fake_dir(tmp_path_factory):
    # train: 2 shards of 12 clips (4 subjects); test: 1 shard of 12 clips (2 subjects)
    return fake_datasets.make_dataset_dir(tmp_path_factory.mktemp("fake"), subjects=4, clips=6)


def damage(shard, record: int) -> None:
    """Flip one byte inside ``record``'s data."""
    report = json.loads((shard.parent / ".shards" / f"{shard.name}.json").read_text())
    offset = [c["offset"] for c in report["clips"] if c["status"] == "written"][record]
    data = bytearray(shard.read_bytes())
    data[offset + 40] ^= 0xFF
    shard.write_bytes(bytes(data))


def test_faults_skip_corrupt_counts_exactly_in_train_and_evaluate(fake_dir, tmp_path, capsys):
    data = tmp_path / "data"
    shutil.copytree(fake_dir, data)
    damage(data / "train-00000-of-00002.tfrecord", 5)
    test_shard = data / "test-00000-of-00001.tfrecord"
    damage(test_shard, 2)
    run = tmp_path / "run"
    argv = ["train", "--model", NAME, "--data", str(data), "--test-data", str(data),
            "--out", str(run), "--epochs", "1", *FAST]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "corrupt input records (rerun with --skip-corrupt" in err
    assert f"shard {data / 'train-00000-of-00002.tfrecord'} record 5" in err

    assert main([*argv, "--skip-corrupt"]) == 0
    out = capsys.readouterr().out
    assert "train data: skipped 1 of 24 clips (23 read)" in out
    assert "test data: skipped 1 of 12 clips (11 read)" in out
    result = json.loads((run / "result.json").read_text())
    skipped = result["skipped_data"]
    assert (skipped["train"]["planned"], skipped["train"]["read"]) == (24, 23)
    assert skipped["test"]["skips"][0]["shard"] == str(test_shard)
    assert skipped["test"]["skips"][0]["record"] == 2
    assert result["test"]["num_clips"] == 11  # the test evaluation honoured the flag

    assert main(["evaluate", "--run", str(run), "--data", str(test_shard)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("ferzoo evaluate: error: corrupt input records")
    assert f"shard {test_shard} record 2" in err
    assert main(["evaluate", "--run", str(run), "--data", str(test_shard),
                 "--skip-corrupt", "--name", "again"]) == 0
    captured = capsys.readouterr()
    assert "skipped 1 of 12 clips (11 read)" in captured.err
    assert json.loads(captured.out)["num_clips"] == 11
    report = json.loads((run / "again_report.json").read_text())
    assert report["skipped_data"]["skipped"] == 1


def test_faults_random_bytes_shard_in_train(tmp_path, capsys):
    (tmp_path / "train-00000-of-00001.tfrecord").write_bytes(b"\x00\x01" * 4)
    assert main(["train", "--model", NAME, "--data", str(tmp_path), "--out",
                 str(tmp_path / "run"), *FAST]) == 2
    err = capsys.readouterr().err
    assert f"{tmp_path / 'train-00000-of-00001.tfrecord'} is not a TFRecord file" in err

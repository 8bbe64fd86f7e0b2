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


def history_epochs(run) -> list[int]:
    rows = (run / "history.csv").read_text().strip().splitlines()[1:]
    return [int(row.split(",")[0]) for row in rows]


def test_faults_resume_by_what_the_run_is_not_how_it_is_spelled(fake_dir, tmp_path,
                                                                monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    shutil.copytree(fake_dir, tmp_path / "data")
    base = ["train", "--model", NAME, *FAST]
    assert main([*base, "--out", "runs/x", "--data", "data", "--epochs", "1"]) == 0
    capsys.readouterr()
    # a trailing slash, an absolute data folder with one: the same run
    assert main([*base, "--out", "runs/x/", "--data", f"{tmp_path}/data/", "--epochs", "2"]) == 0
    assert f"resuming {NAME} from epoch 1" in capsys.readouterr().out
    # a moved run folder resumes
    shutil.move(tmp_path / "runs" / "x", tmp_path / "moved")
    assert main([*base, "--out", str(tmp_path / "moved"), "--data", "data",
                 "--epochs", "3"]) == 0
    assert f"resuming {NAME} from epoch 2" in capsys.readouterr().out
    assert history_epochs(tmp_path / "moved") == [1, 2, 3]
    # other data under the same name is another run
    fake_datasets.make_dataset_dir(tmp_path / "other", subjects=4, clips=5)
    assert main([*base, "--out", "moved", "--data", "other", "--epochs", "4"]) == 2
    assert "holds a run on other data (its train data differ" in capsys.readouterr().err


def test_faults_missing_or_damaged_state(fake_dir, tmp_path, capsys):
    run = tmp_path / "run"
    argv = ["train", "--model", NAME, "--data", str(fake_dir), "--out", str(run),
            "--epochs", "1", *FAST]
    assert main(argv) == 0
    state = run / "state.json"
    text = state.read_text()
    state.unlink()
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert (f"ferzoo train: error: {run} has checkpoints (epoch-0001.weights.h5) but no "
            "state.json") in err
    assert f"delete {run / 'ckpt'}" in err
    state.write_text(text[:len(text) // 2])  # truncated
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert f"ferzoo train: error: {state} is damaged (" in err
    assert "it records the finished epochs: restore it, or delete" in err


def test_faults_one_commit_point_per_epoch(fake_dir, tmp_path, monkeypatch, capsys):
    """Killed after the best weights of epoch 2 are written but before its state: the run
    is at epoch 1 with epoch 1's best weights; evaluate says it is incomplete."""
    from ferzoo.training import run_folder
    from ferzoo.training.trainer import Trainer

    monkeypatch.setattr(Trainer, "_is_better", staticmethod(lambda row, best: True))
    write = run_folder.atomic_write_text

    def killed_at_epoch_2(path, text):
        if path.name == "state.json" and json.loads(text)["epoch"] == 2:
            raise KeyboardInterrupt  # the process dies here
        write(path, text)

    monkeypatch.setattr(run_folder, "atomic_write_text", killed_at_epoch_2)
    run = tmp_path / "run"
    argv = ["train", "--model", NAME, "--data", str(fake_dir), "--out", str(run),
            "--epochs", "2", *FAST]
    assert main(argv) == 130
    state = json.loads((run / "state.json").read_text())
    assert state["epoch"] == 1 and state["best"]["epoch"] == 1
    assert (run / "ckpt" / "best-0002.weights.h5").exists()  # written, never committed
    assert (run / "best.weights.h5").read_bytes() == \
        (run / "ckpt" / "best-0001.weights.h5").read_bytes()
    capsys.readouterr()
    assert main(["evaluate", "--run", str(run), "--data", str(fake_dir)]) == 0
    assert f"warning: {run} is an incomplete run: 1 of 2 epochs done" in capsys.readouterr().err
    monkeypatch.setattr(run_folder, "atomic_write_text", write)
    assert main(argv) == 0
    assert sorted(p.name for p in (run / "ckpt").iterdir()) == [
        "best-0002.weights.h5", "epoch-0002.opt.npz", "epoch-0002.weights.h5"]
    assert main(["evaluate", "--run", str(run), "--data", str(fake_dir)]) == 0
    assert "incomplete" not in capsys.readouterr().err


def test_faults_full_disk_during_training_keeps_earlier_checkpoints(fake_dir, tmp_path,
                                                                    monkeypatch, capsys):
    """A disk that fills at epoch 2: one line, exit 2, epoch 1 intact and resumable.

    (The free space is what the check sees; a real full disk is measured in
    docs/reliability.md: HDF5 can crash the process there, so the space is checked first.)
    """
    import collections

    from ferzoo.training import run_folder

    calls = []
    usage = collections.namedtuple("usage", "total used free")

    def disk_usage(path):
        calls.append(path)
        return usage(1 << 30, 0, (1 << 30) if len(calls) < 2 else 1000)

    monkeypatch.setattr(run_folder.shutil, "disk_usage", disk_usage)
    run = tmp_path / "run"
    argv = ["train", "--model", NAME, "--data", str(fake_dir), "--out", str(run),
            "--epochs", "2", *FAST]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert (f"ferzoo train: error: cannot write {run / 'ckpt' / 'epoch-0002.tmp.weights.h5'}: "
            "no space left on device (a checkpoint needs about") in err
    assert json.loads((run / "state.json").read_text())["epoch"] == 1
    assert {p.name for p in (run / "ckpt").iterdir()} >= {"epoch-0001.weights.h5",
                                                          "epoch-0001.opt.npz"}
    monkeypatch.undo()
    assert main(argv) == 0
    assert f"resuming {NAME} from epoch 1" in capsys.readouterr().out


def test_faults_read_only_out_of_evaluate_and_synth(fake_dir, tmp_path, monkeypatch, capsys):
    """A read-only --out: one line naming the folder (as the OS reports it), exit 2."""
    import errno
    import pathlib

    run = tmp_path / "run"
    assert main(["train", "--model", NAME, "--data", str(fake_dir), "--out", str(run),
                 "--epochs", "1", *FAST]) == 0
    locked = tmp_path / "ro"
    mkdir = pathlib.Path.mkdir

    def read_only_mkdir(self, *args, **kwargs):
        if str(self).startswith(str(locked)):
            raise OSError(errno.EROFS, "Read-only file system", str(self))
        return mkdir(self, *args, **kwargs)

    monkeypatch.setattr(pathlib.Path, "mkdir", read_only_mkdir)
    assert main(["evaluate", "--run", str(run), "--data", str(fake_dir),
                 "--out", str(locked / "eval")]) == 2
    assert (f"ferzoo evaluate: error: cannot write {locked / 'eval'}: read-only file system"
            in capsys.readouterr().err)
    assert main(["synth", "--root", str(locked), "--set", "size=32", "num_subjects=3",
                 "test_subjects=1", "clips_per_subject=1", "min_frames=6",
                 "max_frames=6"]) == 2
    assert (f"ferzoo synth: error: cannot write {locked}" in capsys.readouterr().err)

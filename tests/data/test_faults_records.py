"""Damaged and foreign TFRecord files: every intact record read, each lost clip counted
and named (docs/reliability.md)."""

from __future__ import annotations

import json
import shutil

import pytest

from ferzoo.data import records
from ferzoo.data.pipeline import InputSpec, make_dataset, resolve_files, skipped_clips
from ferzoo.errors import DataError
from tests import fake_datasets


@pytest.fixture(scope="module")
def fake_dir(tmp_path_factory):
    # 2 train shards of 12 clips each, 1 test shard of 12
    return fake_datasets.make_dataset_dir(tmp_path_factory.mktemp("fake"), subjects=4, clips=6)


@pytest.fixture
def copy(fake_dir, tmp_path):
    """A writable copy of the fake dataset."""
    out = tmp_path / "data"
    shutil.copytree(fake_dir, out)
    return out


def count(data) -> int:
    ds = make_dataset(str(data), InputSpec(2, 8), training=False, batch_size=100,
                      skip_corrupt=True)
    return sum(int(y.shape[0]) for _, y in ds)


def offsets(shard):
    report = json.loads((shard.parent / ".shards" / f"{shard.name}.json").read_text())
    return [c["offset"] for c in report["clips"] if c["status"] == "written"], report


def test_faults_writer_records_each_record_offset(fake_dir):
    for shard in fake_dir.glob("*.tfrecord"):
        starts, _ = offsets(shard)
        data = shard.read_bytes()
        assert starts[0] == 0 and len(starts) == 12
        ends = []
        for offset in starts:
            payload, reason = records.read_record_at(data, offset)
            assert payload is not None, reason
            ends.append(offset + records.record_size(len(payload)))
        assert ends[:-1] == starts[1:] and ends[-1] == len(data)


def test_faults_corrupt_record_mid_shard_loses_only_that_clip(copy, capsys):
    shard = sorted(copy.glob("train-*.tfrecord"))[0]
    starts, report = offsets(shard)
    data = bytearray(shard.read_bytes())
    data[starts[4] + 40] ^= 0xFF  # one flipped byte inside record 4's data
    shard.write_bytes(bytes(data))
    account = skipped_clips(str(copy), "train")
    assert (account["planned"], account["read"], account["skipped"]) == (24, 23, 1)
    [skip] = account["skips"]
    assert skip["shard"] == str(shard) and skip["record"] == 4
    assert skip["clip_id"] == report["clips"][4]["clip_id"]
    assert "checksum" in skip["reason"]
    assert count(copy / "train-*.tfrecord") == 23  # every intact record, after the break too


def test_faults_truncated_shard_counts_exactly(copy):
    shard = sorted(copy.glob("train-*.tfrecord"))[1]
    starts, _ = offsets(shard)
    shard.write_bytes(shard.read_bytes()[:starts[7] + 30])  # cut inside record 7
    account = skipped_clips(str(copy), "train")
    assert (account["planned"], account["read"], account["skipped"]) == (24, 19, 5)
    assert [s["record"] for s in account["skips"]] == [7, 8, 9, 10, 11]
    assert count(copy / "train-*.tfrecord") == 19
    text = records.describe_skips(account)
    assert text.startswith("skipped 5 of 24 clips (19 read)")
    assert f"shard {shard} record 7" in text


def test_faults_shard_without_offsets_resumes_at_next_valid_header(copy):
    """A shard written before offsets were recorded: the reader finds the next record."""
    shard = sorted(copy.glob("train-*.tfrecord"))[0]
    starts, report = offsets(shard)
    for clip in report["clips"]:
        del clip["offset"]
    (shard.parent / ".shards" / f"{shard.name}.json").write_text(json.dumps(report))
    data = bytearray(shard.read_bytes())
    data[starts[2] + 3] ^= 0xFF  # record 2's length header
    shard.write_bytes(bytes(data))
    account = skipped_clips([str(shard)])
    assert (account["planned"], account["read"], account["skipped"]) == (12, 11, 1)
    assert count(shard) == 11


def test_faults_evaluation_of_a_corrupt_shard_names_shard_and_record(copy):
    import tests.tiny_model  # noqa: F401
    from ferzoo import registry
    from ferzoo.training.evaluate import evaluate_model

    shard = copy / "test-00000-of-00001.tfrecord"
    starts, _ = offsets(shard)
    data = bytearray(shard.read_bytes())
    data[starts[3] + 50] ^= 0xFF
    shard.write_bytes(bytes(data))
    model = registry.build(tests.tiny_model.NAME, num_classes=3, frames=2, image_size=8)
    spec = InputSpec.from_model(model)
    with pytest.raises(DataError, match=rf"shard {shard} record 3 \(clip S00\d_00\d\): "
                                        r"corrupt data \(checksum mismatch\)"):
        evaluate_model(model, str(copy), spec, fake_datasets.LABELS, batch_size=4, augment={})
    report = evaluate_model(model, str(copy), spec, fake_datasets.LABELS, batch_size=4,
                            augment={}, skip_corrupt=True)
    assert report["num_clips"] == 11
    assert report["skipped_data"]["skipped"] == 1


@pytest.mark.parametrize("content", [b"\x13" * 8, bytes(range(256)) * 40])
def test_faults_random_bytes_are_not_a_tfrecord_file(tmp_path, content):
    path = tmp_path / "train-00000-of-00001.tfrecord"
    path.write_bytes(content)
    with pytest.raises(DataError, match=f"{path} is not a TFRecord file"):
        resolve_files(str(tmp_path), "train")
    (tmp_path / "empty.tfrecord").write_bytes(b"")
    assert records.is_tfrecord_file(tmp_path / "empty.tfrecord")

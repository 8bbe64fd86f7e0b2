import functools
import json

import pytest

from ferzoo.data import writer
from ferzoo.data.schema import Clip, SchemaError
from tests import fake_datasets


def test_shards_manifest_and_checksums(tmp_path):
    fake_datasets.make_dataset_dir(tmp_path, subjects=4, clips=3, test_subjects=1, num_shards=3)
    names = sorted(p.name for p in tmp_path.glob("*.tfrecord"))
    assert names == [
        "test-00000-of-00001.tfrecord", "train-00000-of-00003.tfrecord",
        "train-00001-of-00003.tfrecord", "train-00002-of-00003.tfrecord",
    ]
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["labels"] == fake_datasets.LABELS
    train = manifest["splits"]["train"]
    assert train["num_clips"] == 12 and sum(s["clips"] for s in train["shards"]) == 12
    assert train["per_subject"] == {"S000": 3, "S001": 3, "S002": 3, "S003": 3}
    assert train["per_class"] == {"anger": 4, "disgust": 4, "fear": 4}
    for shard in train["shards"]:
        assert writer.sha256_file(tmp_path / shard["file"]) == shard["sha256"]


def _flaky_load(item, fail_at):
    if item == fail_at:
        raise RuntimeError("simulated crash")
    return fake_datasets.load_fake(item)


def test_interrupted_run_resumes_to_identical_shards(tmp_path):
    items = fake_datasets.items(4, 3)
    clean, resumed = tmp_path / "clean", tmp_path / "resumed"
    writer.write_split(clean, "train", items, fake_datasets.load_fake, labels=fake_datasets.LABELS,
                       num_shards=4, progress=False)
    with pytest.raises(writer.ConversionError, match=r"\('S002', 0\).*simulated crash"):
        writer.write_split(resumed, "train", items,
                           functools.partial(_flaky_load, fail_at=("S002", 0)),
                           labels=fake_datasets.LABELS, num_shards=4, progress=False)
    finished = sorted(p.name for p in resumed.glob("*.tfrecord"))
    assert finished == ["train-00000-of-00004.tfrecord", "train-00001-of-00004.tfrecord"]
    assert not (resumed / "manifest.json").exists()
    first_mtime = (resumed / finished[0]).stat().st_mtime_ns
    writer.write_split(resumed, "train", items, fake_datasets.load_fake, labels=fake_datasets.LABELS,
                       num_shards=4, progress=False)
    assert (resumed / finished[0]).stat().st_mtime_ns == first_mtime  # kept, not redone
    for shard in sorted(clean.glob("*.tfrecord")):
        assert writer.sha256_file(shard) == writer.sha256_file(resumed / shard.name)
    assert not list(resumed.glob(".*tmp*"))


def _skipping_load(item):
    if item[1] == 0:
        raise writer.SkipClip("no face found")
    return fake_datasets.load_fake(item)


def test_skipped_clips_are_reported(tmp_path):
    entry = writer.write_split(tmp_path, "train", fake_datasets.items(2, 3), _skipping_load,
                               labels=fake_datasets.LABELS, progress=False)
    assert entry["num_clips"] == 4 and entry["num_skipped"] == 2
    assert {s["reason"] for s in entry["skipped"]} == {"no face found"}


def _bad_label(item):
    clip = fake_datasets.load_fake(item)
    clip.label_name = "joy"
    return clip


def test_unknown_label_names_the_item(tmp_path):
    with pytest.raises(SchemaError, match=r"\('S000', 0\): unknown label 'joy'"):
        writer.write_split(tmp_path, "train", fake_datasets.items(1, 1), _bad_label,
                           labels=fake_datasets.LABELS, progress=False)


def test_clip_without_frames_is_refused(tmp_path):
    import numpy as np

    def empty(item):
        return Clip(frames=np.zeros((0, 8, 8, 3), np.uint8), label=0, label_name="anger",
                    subject="S0", clip_id="c0")

    with pytest.raises(SchemaError, match="'c0'.*T>=1"):
        writer.write_split(tmp_path, "train", [1], empty, progress=False)


def test_a_second_writer_waits_for_the_first_and_reuses_its_shards(tmp_path, capfd):
    """Two processes writing one folder (two trainings making the same synthetic data): the
    second waits on the folder's lock, says so, then finds the shards finished."""
    import threading

    import filelock

    items = fake_datasets.items(3, 2)
    writer.write_split(tmp_path, "train", items, fake_datasets.load_fake,
                       labels=fake_datasets.LABELS, num_shards=2, progress=False)
    first = {p.name: p.stat().st_mtime_ns for p in tmp_path.glob("*.tfrecord")}
    other = filelock.FileLock(str(tmp_path / writer.WRITER_LOCK))  # the other process
    other.acquire()
    done = []
    thread = threading.Thread(target=lambda: done.append(writer.write_split(
        tmp_path, "train", items, fake_datasets.load_fake, labels=fake_datasets.LABELS,
        num_shards=2, progress=False)), daemon=True)
    try:
        thread.start()
        thread.join(timeout=1.0)
        assert thread.is_alive() and not done, "the second writer did not wait for the lock"
    finally:
        other.release()
    thread.join(timeout=30)
    assert done and done[0]["num_clips"] == 6
    assert "another process is writing this dataset" in capfd.readouterr().err
    assert {p.name: p.stat().st_mtime_ns for p in tmp_path.glob("*.tfrecord")} == first

"""Each converter on a miniature tree in its real layout; report, resume, determinism."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from ferzoo.data import converters
from ferzoo.data.converters import base
from ferzoo.data.schema import parse_example, read_context
from ferzoo.data.writer import ConversionError, sha256_file
from ferzoo.video.faces import FaceOptions
from ferzoo.training.protocols import make_folds
from tests.data import dataset_trees

REPO = Path(__file__).resolve().parents[2]
FAST_FACES = FaceOptions(max_side=320)  # real faces here are large enough for this


def records(out: Path, split: str | None = None) -> list[dict]:
    """Context of every record (plus decoded frame shape), in shard order."""
    pattern = f"{split}-*.tfrecord" if split else "*.tfrecord"
    result = []
    for shard in sorted(out.glob(pattern)):
        for raw in tf.data.TFRecordDataset(str(shard)):
            context = read_context(raw.numpy())
            frame = tf.io.decode_image(parse_example(raw)["image/encoded"][0]).numpy()
            context["frame_shape"] = frame.shape
            result.append(context)
    return result


def checksums(out: Path) -> dict[str, str]:
    return {p.name: sha256_file(p) for p in sorted(out.glob("*.tfrecord"))}


# ---------------------------------------------------------------- benchmarks


def test_ckplus_with_face_detection(tmp_path, real_dir):
    expect = dataset_trees.make_ckplus(tmp_path / "CK+", real_dir)
    out = tmp_path / "out"
    report = converters.convert("ck+", tmp_path / "CK+", out, face=FAST_FACES, progress=False)
    counts = [report[k] for k in ("inputs", "written", "skipped", "excluded")]
    assert counts == [5, 2, 1, 2]
    skipped = report["splits"]["all"]["skipped"]
    assert skipped[0]["item"].endswith("S012/001") and "no face" in skipped[0]["reason"]
    reasons = {e["item"].split("cohn-kanade-images/")[1]: e["reason"]
               for e in report["excluded_items"]}
    assert "contempt" in reasons["S011/001"] and "classes=7" in reasons["S011/001"]
    assert "no emotion label" in reasons["S011/002"]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["labels"] == list(base.BASIC6)
    assert manifest["splits"]["all"]["per_subject"] == {"S005": 1, "S010": 1}
    got = {r["clip/id"]: r for r in records(out)}
    assert {k: r["clip/label/name"] for k, r in got.items()} == expect["written"]
    for r in got.values():
        assert r["frame_shape"] == (64, 64, 3) and r["clip/source"] == "ckplus"
        assert r["num_stored_frames"] == 4 and r["clip/apex_index"] == 3  # peak: last frame
        assert r["clip/label/index"] == base.BASIC6.index(r["clip/label/name"])
    assert json.loads((out / "protocol.json").read_text())["kind"] == "kfold"
    # Same input, same bytes (face detection included).
    again = converters.convert("ck+", tmp_path / "CK+", tmp_path / "again", face=FAST_FACES,
                               progress=False)
    assert again["written"] == 2 and checksums(out) == checksums(tmp_path / "again")


def test_ckplus_seven_classes_keeps_contempt(tmp_path, real_dir):
    dataset_trees.make_ckplus(tmp_path, real_dir)
    found = converters.get_converter("ckplus").discover(tmp_path, classes=7)
    assert found.labels == base.WITH_CONTEMPT
    assert {i.clip_id: i.label for i in found.splits["all"]}["S011_001"] == "contempt"
    with pytest.raises(ValueError, match="classes must be 6 or 7"):
        converters.get_converter("ckplus").discover(tmp_path, classes=8)


def test_oulu_vl_strong_without_detection(tmp_path):
    dataset_trees.make_oulu(tmp_path / "Oulu")
    out = tmp_path / "out"
    report = converters.convert("oulu", tmp_path / "Oulu", out, detect=False, size=32,
                                progress=False)
    assert report["written"] == 9 and report["excluded"] == 1
    assert "Thumbs" in report["excluded_items"][0]["item"]
    recs = records(out)
    assert {r["clip/subject"] for r in recs} == {"P001", "P002", "P010"}
    assert {r["clip/label/name"] for r in recs} == {"anger", "disgust", "fear"}
    assert all(r["num_stored_frames"] == 5 and r["frame_shape"] == (32, 32, 3) for r in recs)
    ni = converters.get_converter("oulu").discover(tmp_path / "Oulu", modality="NI")
    assert len(ni.splits["all"]) == 3
    folds = make_folds(out, folds=3, val_fraction=0)
    assert [f.test.subjects for f in folds] == [("P001",), ("P002",), ("P010",)]


def test_mmi_emotion_metatag_apex_and_10_fps(tmp_path):
    expect = dataset_trees.make_mmi(tmp_path / "mmi")
    out = tmp_path / "out"
    report = converters.convert("mmi", tmp_path / "mmi", out, detect=False, size=32,
                                progress=False)
    assert report["written"] == 3 and report["excluded"] == 1
    assert "no Emotion metatag" in report["excluded_items"][0]["reason"]
    got = {r["clip/id"]: r for r in records(out)}
    assert {k: r["clip/label/name"] for k, r in got.items()} == {
        k: v[0] for k, v in expect["written"].items()}
    for clip_id, (_, apex) in expect["written"].items():
        r = got[clip_id]
        assert r["clip/fps"] == pytest.approx(10.0)
        assert r["num_stored_frames"] == 12  # 30 frames at 25 fps, kept at 10 fps
        assert r["clip/num_frames"] == 30  # the source's frames, before any selection
        # The apex (a frame index at 25 fps) becomes the nearest stored frame.
        assert r["clip/apex_index"] == (-1 if apex < 0 else round(apex / 2.5))
    assert {r["clip/subject"] for r in got.values()} == {"S001", "S002"}


def test_afew_detects_faces_and_reports_the_faceless_clip(tmp_path, real_dir):
    dataset_trees.make_afew(tmp_path / "AFEW", real_dir)
    out = tmp_path / "out"
    report = converters.convert("afew", tmp_path / "AFEW", out, size=48, face=FAST_FACES,
                                progress=False)
    assert report["splits"]["train"]["written"] == 2
    assert report["splits"]["test"]["written"] == 1
    skipped = report["splits"]["test"]["skipped"]
    assert len(skipped) == 1 and skipped[0]["item"].endswith("004.mp4")
    assert skipped[0]["reason"].startswith("no face found")
    assert report["excluded"] == 1 and "notes.txt" in report["excluded_items"][0]["item"]
    assert report["inputs"] == 5
    labels = {r["clip/id"]: r["clip/label/name"] for r in records(out)}
    assert labels == {"Train/Happy/000046280": "happiness", "Train/Neutral/000123400": "neutral",
                      "Val/Sad/002": "sadness"}
    assert json.loads((out / "manifest.json").read_text())["labels"] == list(base.WITH_NEUTRAL)


def test_dfew_five_official_folds(tmp_path):
    expect = dataset_trees.make_dfew(tmp_path / "DFEW")
    out = tmp_path / "out"
    report = converters.convert("dfew", tmp_path / "DFEW", out, size=32, progress=False)
    assert report["options"]["detect"] is False  # face crops already
    assert report["written"] == 9
    reasons = {Path(e["item"]).name: e["reason"] for e in report["excluded_items"]}
    assert "no frame folder" in reasons[expect["missing"]]
    assert "not in any single-labeled test split" in reasons[expect["unlisted"]]
    manifest = json.loads((out / "manifest.json").read_text())
    assert sorted(manifest["splits"]) == [f"fold{f}" for f in range(1, 6)]
    for f, rows in expect["folds"].items():
        want = {f"{n:05d}": dataset_trees.DFEW_CODES[c] for n, c in rows if n != 10}
        got = {r["clip/id"]: r["clip/label/name"] for r in records(out, f"fold{f}")}
        assert got == want
    folds = make_folds(out, val_fraction=0)
    assert len(folds) == 5
    assert folds[0].test.splits == ("fold1",) and folds[0].train.splits == (
        "fold2", "fold3", "fold4", "fold5")
    assert "00003" not in folds[0].train.subjects  # fold 1's train CSV leaves it out
    assert "00003" in folds[2].train.subjects  # (it is in fold 2's test set)
    with pytest.raises(ValueError, match="5 predefined folds"):
        make_folds(out, folds=10)


def test_ferv39k_fixed_split(tmp_path):
    expect = dataset_trees.make_ferv39k(tmp_path / "FERV39k")
    out = tmp_path / "out"
    report = converters.convert("ferv39k", tmp_path / "FERV39k", out, size=32, progress=False)
    assert report["splits"]["train"]["written"] == 3 and report["splits"]["test"]["written"] == 2
    assert report["excluded_items"][0]["item"].endswith(expect["unlisted"])
    got = {r["clip/id"]: r["clip/label/name"] for r in records(out, "test")}
    assert got == {"Talkshow/Neutral/0007": "neutral", "Action/Fear/0001": "fear"}
    (fold,) = make_folds(out, val_fraction=0.34)
    assert fold.test.splits == ("test",) and len(fold.val.subjects) == 1


# ---------------------------------------------------------------- generic


def test_generic_folders_and_csv_give_the_same_clips(tmp_path):
    dataset_trees.make_generic(tmp_path / "mine")
    out = tmp_path / "out"
    report = converters.convert("generic", tmp_path / "mine", out, detect=False, size=24,
                                subject_pattern=r"^(S\d+)_", progress=False)
    assert report["written"] == 12 and report["labels"] == ["happiness", "sadness", "surprise"]
    recs = records(out)
    assert {r["clip/subject"] for r in recs} == {"S00", "S01", "S02", "S03"}
    assert all(r["num_stored_frames"] == 6 for r in recs)
    # The same clips listed in a CSV manifest (relative paths, header, subject column).
    rows = ["path,label,subject"] + [
        f"{Path(r['clip/id'] + ('.avi' if r['clip/id'].endswith('S00_0') else '')).as_posix()},"
        f"{r['clip/label/name']},{r['clip/subject']}" for r in recs]
    (tmp_path / "mine" / "list.csv").write_text("\n".join(rows) + "\n")
    from_csv = converters.convert("generic", tmp_path / "mine" / "list.csv", tmp_path / "csv",
                                  detect=False, size=24, progress=False)
    assert from_csv["written"] == 12
    assert sorted(checksums(out).values()) == sorted(checksums(tmp_path / "csv").values())


def test_generic_split_folders_fixed_length_and_bad_inputs(tmp_path):
    for split in ("train", "test"):
        dataset_trees.make_generic(tmp_path / "mine" / split, subjects=2, per_subject=2,
                           labels=("cat", "dog"), frames=5)
    (tmp_path / "mine" / "train" / "dog" / "broken.mp4").write_bytes(b"\x00" * 64)
    out = tmp_path / "out"
    report = converters.convert("generic", tmp_path / "mine", out, detect=False, size=16,
                                length=8, progress=False)
    assert report["labels"] == ["cat", "dog"]  # not emotions: kept as named, sorted
    assert report["splits"]["train"]["written"] == 4 and report["splits"]["test"]["written"] == 4
    (skip,) = report["splits"]["train"]["skipped"]
    assert skip["item"].endswith("broken.mp4") and skip["reason"].startswith("unreadable")
    recs = records(out)
    assert all(r["num_stored_frames"] == 8 for r in recs)  # 5 frames -> 8: last repeated
    assert json.loads((out / "protocol.json").read_text())["kind"] == "fixed"


def test_fixed_length_reuses_the_pipeline_sampling():
    from ferzoo.data.sampling import sample_indices

    for n, length in [(30, 18), (10, 18), (18, 18)]:
        got = base.fixed_length_indices(n, length)
        np.testing.assert_array_equal(got, sample_indices("uniform", n, length).numpy())
    np.testing.assert_array_equal(base.fixed_length_indices(5, 8), [0, 1, 2, 3, 4, 4, 4, 4])


def test_flow_stream(tmp_path):
    pytest.importorskip("ferzoo.video.flow")
    dataset_trees.make_generic(tmp_path / "mine", subjects=1, per_subject=2, frames=4)
    out = tmp_path / "out"
    converters.convert("generic", tmp_path / "mine", out, detect=False, size=24, flow=True,
                       progress=False)
    for r in records(out):
        assert r["num_flow_frames"] == r["num_stored_frames"] - 1 and r["flow/scale"] > 0


def test_unknown_dataset_and_options_are_explained(tmp_path):
    with pytest.raises(ValueError, match="did you mean 'ckplus'"):
        converters.convert("ckplsu", tmp_path, tmp_path / "o")
    with pytest.raises(ValueError, match="unknown option"):
        converters.convert("ckplus", tmp_path, tmp_path / "o", modality="VL")
    with pytest.raises(FileNotFoundError, match="cohn-kanade-images"):
        converters.convert("ckplus", tmp_path, tmp_path / "o")


# ---------------------------------------------------------------- at scale


def test_interrupted_conversion_resumes_to_identical_shards(tmp_path, monkeypatch):
    dataset_trees.make_generic(tmp_path / "mine", subjects=4, per_subject=3)
    kwargs = dict(detect=False, size=24, clips_per_shard=2, progress=False,
                  subject_pattern=r"^(S\d+)_")
    clean = converters.convert("generic", tmp_path / "mine", tmp_path / "clean", **kwargs)
    calls = {"n": 0}
    real_load = base.load_clip

    def crashing(item, **kw):
        calls["n"] += 1
        if calls["n"] == 7:
            raise RuntimeError("simulated crash")
        return real_load(item, **kw)

    monkeypatch.setattr(base, "load_clip", crashing)
    with pytest.raises(ConversionError, match="simulated crash"):
        converters.convert("generic", tmp_path / "mine", tmp_path / "resumed", **kwargs)
    monkeypatch.setattr(base, "load_clip", real_load)
    done = sorted((tmp_path / "resumed").glob("*.tfrecord"))
    assert [p.name for p in done] == [f"all-0000{i}-of-00006.tfrecord" for i in range(3)]
    mtimes = {p.name: p.stat().st_mtime_ns for p in done}
    resumed = converters.convert("generic", tmp_path / "mine", tmp_path / "resumed", **kwargs)
    assert {p.name: p.stat().st_mtime_ns for p in done} == mtimes  # kept, not redone
    assert checksums(tmp_path / "resumed") == checksums(tmp_path / "clean")
    assert resumed["written"] == clean["written"] == 12
    ids = [r["clip/id"] for r in records(tmp_path / "resumed")]
    assert len(ids) == len(set(ids)) == 12  # no clip lost or written twice


@pytest.mark.slow
def test_killed_subprocess_and_workers_give_the_same_bytes(tmp_path):
    """A conversion killed with SIGKILL and rerun, and one with 2 worker processes, give
    the bytes of an uninterrupted in-process run."""
    dataset_trees.make_generic(tmp_path / "mine", subjects=6, per_subject=4, frames=20, size=256)
    pattern = r"^(S\d+)_"
    converters.convert("generic", tmp_path / "mine", tmp_path / "clean", detect=False, size=128,
                       clips_per_shard=2, progress=False, subject_pattern=pattern)
    # Killed from outside: a subprocess running the command line.
    cmd = [sys.executable, "-m", "ferzoo.cli", "convert", "generic", str(tmp_path / "mine")]
    opts = ["--no-detect", "--size", "128", "--clips-per-shard", "2", "--quiet",
            "--option", f"subject_pattern={pattern}"]
    env = {**os.environ, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "2"}
    proc = subprocess.Popen(cmd + [str(tmp_path / "killed")] + opts, env=env, cwd=REPO,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not list((tmp_path / "killed").glob("all-*.tfrecord")):
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    finished = list((tmp_path / "killed").glob("all-*.tfrecord"))
    assert 0 < len(finished) < 12, "the conversion ended before it could be killed"
    kwargs = dict(detect=False, size=128, clips_per_shard=2, progress=False,
                  subject_pattern=pattern)
    converters.convert("generic", tmp_path / "mine", tmp_path / "killed", **kwargs)  # resume
    converters.convert("generic", tmp_path / "mine", tmp_path / "workers", workers=2, **kwargs)
    assert checksums(tmp_path / "killed") == checksums(tmp_path / "clean")
    assert checksums(tmp_path / "workers") == checksums(tmp_path / "clean")
    assert not list((tmp_path / "killed").glob(".*tmp*"))

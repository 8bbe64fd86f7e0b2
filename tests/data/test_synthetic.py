"""The synthetic dataset: determinism, clip contents, facial regions, splits, contact sheet."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections import Counter

import cv2
import numpy as np
import pytest
import tensorflow as tf

from ferzoo.data import synthetic
from ferzoo.data.schema import read_context
from ferzoo.data.synthetic import (
    ACTIONS,
    EXPRESSIONS,
    NEUTRAL,
    VALENCE,
    SyntheticConfig,
    contact_sheet,
    ensure_synthetic,
    expression_actions,
    generate,
    labels,
    make_subject,
    plan_clip,
    render_clip,
    render_face,
    resting_actions,
)

# 3 subjects (the last is the test split), 6 short 32x32 clips each: generates in ~1 s
TINY = SyntheticConfig(size=32, min_frames=6, max_frames=8, num_subjects=3, test_subjects=1,
                       clips_per_subject=6)


def test_labels():
    assert labels(False) == list(EXPRESSIONS) == list(TINY.labels)
    assert labels(True) == list(EXPRESSIONS) + [NEUTRAL]
    assert EXPRESSIONS == ("anger", "disgust", "fear", "happiness", "sadness", "surprise")


def test_same_arguments_same_pixels_and_seed_changes_them():
    a, b = render_clip(TINY, 1, 4), render_clip(TINY, 1, 4)
    np.testing.assert_array_equal(a.frames, b.frames)
    assert (a.label, a.apex_index, a.valence) == (b.label, b.apex_index, b.valence)
    other = render_clip(dataclasses.replace(TINY, seed=1), 1, 4)
    same_length = min(len(a.frames), len(other.frames))
    assert not np.array_equal(a.frames[:same_length], other.frames[:same_length])
    assert not np.array_equal(a.frames, render_clip(TINY, 1, 5).frames)


@pytest.mark.parametrize("clip_index", range(6))
def test_clip_contents(clip_index):
    clip = render_clip(TINY, 2, clip_index)
    t = len(clip.frames)
    assert clip.frames.shape == (t, 32, 32, 3) and clip.frames.dtype == np.uint8
    assert TINY.min_frames <= t <= TINY.max_frames and clip.num_frames == t
    assert 0 <= clip.apex_index < t
    assert clip.label_name == EXPRESSIONS[clip.label]
    assert (clip.subject, clip.clip_id) == ("S002", f"S002_{clip_index:03d}")
    assert (clip.source, clip.fps, clip.flow) == ("synthetic", 25.0, None)
    intensity = plan_clip(TINY, 2, clip_index).intensity
    assert 0.5 <= intensity <= 1.0
    assert clip.valence == pytest.approx(VALENCE[clip.label_name] * intensity)
    assert -1.0 <= clip.valence <= 1.0
    # real images: not flat, not saturated
    assert 20 < clip.frames.mean() < 235 and clip.frames.std() > 15


def test_valence_signs():
    assert VALENCE["happiness"] > VALENCE["surprise"] > VALENCE[NEUTRAL] == 0
    assert all(VALENCE[name] < 0 for name in ("anger", "disgust", "fear", "sadness"))


def test_timing_profiles():
    """CK+ clips end at their apex; MMI clips return towards neutral; all start neutral."""
    config = dataclasses.replace(TINY, min_frames=10, max_frames=32, clips_per_subject=60)
    profiles = Counter()
    for clip_index in range(config.clips_per_subject):
        plan = plan_clip(config, 0, clip_index)
        profiles[plan.profile] += 1
        expression = np.delete(plan.actions, ACTIONS.index("blink"), axis=1)
        strength = np.abs(expression).sum(axis=1)
        assert strength[0] == 0, "the first frame is the subject's neutral face"
        assert strength[plan.apex_index] == pytest.approx(strength.max())
        assert strength[plan.apex_index] > 0
        if plan.profile == "onset_apex":
            assert plan.apex_index >= plan.num_frames - 4
            assert strength[-1] == pytest.approx(strength.max())
        else:
            assert plan.apex_index < plan.num_frames - 2
            assert strength[-1] < 0.5 * strength.max()
    assert profiles["onset_apex"] > 10 and profiles["onset_apex_offset"] > 10
    only_ck = dataclasses.replace(config, mmi_fraction=0.0)
    assert {plan_clip(only_ck, 0, i).profile for i in range(20)} == {"onset_apex"}


def test_lengths_vary_within_range():
    config = dataclasses.replace(TINY, min_frames=10, max_frames=32)
    lengths = {plan_clip(config, s, i).num_frames for s in range(3) for i in range(10)}
    assert min(lengths) >= 10 and max(lengths) <= 32 and len(lengths) > 8


def _regions(subject, size):
    """Pixel boxes of facial regions (head upright, unscaled), from the subject geometry."""
    def px(u, centre, scale=subject.head_scale):
        return int(round((centre + u * scale) * size))

    between = (subject.brow_y + subject.eye_y) / 2
    boxes = {  # name: (top, bottom, half-width) in face units
        "brows": (subject.brow_y - 0.3, between, 0.8),
        "nose": (subject.eye_y + 0.12, subject.nose_y + 0.05, 0.35),
        "mouth": (subject.mouth_y - 0.12, subject.mouth_y + 0.15, 0.5),
    }
    return {name: (slice(px(top, subject.head_y), px(bottom, subject.head_y)),
                   slice(px(-half, subject.head_x), px(half, subject.head_x)))
            for name, (top, bottom, half) in boxes.items()}


@pytest.mark.parametrize("subject_id", [0, 5])
def test_expressions_move_the_expected_regions(subject_id):
    config = dataclasses.replace(TINY, size=64)
    neutral = render_face(config, subject_id).astype(np.float32)
    np.testing.assert_array_equal(render_face(config, subject_id, expression_actions(NEUTRAL)),
                                  neutral)
    regions = _regions(make_subject(config.seed, subject_id), config.size)
    change = {}
    for name in EXPRESSIONS:
        apex = render_face(config, subject_id, expression_actions(name, 0.75))
        diff = np.abs(apex.astype(np.float32) - neutral).mean(axis=-1)
        change[name] = {region: float(diff[box].mean()) for region, box in regions.items()}
    # happiness leaves the brows alone; the others move them (raise, lower, slant)
    assert change["happiness"]["brows"] < 1.0
    for name in ("anger", "fear", "sadness", "surprise"):
        assert change[name]["brows"] > max(2.0, 3 * change["happiness"]["brows"]), change
    # every expression moves the mouth (smile, press, stretch, O, frown, lip raise)
    for name in EXPRESSIONS:
        assert change[name]["mouth"] > 1.0, (name, change[name])
    assert change["happiness"]["mouth"] > 10 * change["happiness"]["brows"]
    assert change["surprise"]["mouth"] > change["anger"]["mouth"]  # open O vs pressed lips
    # only disgust wrinkles the nose
    assert change["disgust"]["nose"] > 3 * max(change[n]["nose"] for n in ("fear", "surprise"))


def test_first_frames_are_alike_apex_frames_are_not():
    """One subject's clips start from the same neutral face and part towards the apex.

    Head pose and light differ from clip to clip (as between recording sessions), so
    they are held steady here; blinks are left out; sensor noise stays.
    """
    config = dataclasses.replace(TINY, size=64)
    firsts, apexes = [], []
    for clip_index in range(6):
        plan = plan_clip(config, 0, clip_index)
        actions = plan.actions.copy()
        actions[:, ACTIONS.index("blink")] = 0
        steady = dataclasses.replace(
            plan, actions=actions, poses=np.tile([0.0, 0.0, 0.0, 1.0], (plan.num_frames, 1)),
            gains=np.tile([1.0, 0.0, 0.0], (plan.num_frames, 1)), cast=np.ones(3))
        frames = synthetic.render_frames(config, 0, steady)
        firsts.append(frames[0])
        apexes.append(frames[plan.apex_index])
    assert sorted(plan_clip(config, 0, i).label for i in range(6)) == list(range(6))

    boxes = _regions(make_subject(config.seed, 0), config.size)
    face = (slice(boxes["brows"][0].start, boxes["mouth"][0].stop), boxes["brows"][1])

    def spread(frames):  # mean pairwise difference over the inner face
        grey = [cv2.GaussianBlur(cv2.cvtColor(f, cv2.COLOR_RGB2GRAY).astype(np.float32),
                                 (0, 0), 1.0)[face] for f in frames]
        return np.mean([np.abs(a - b).mean() for i, a in enumerate(grey) for b in grey[i + 1:]])

    assert spread(firsts) < 1.5  # sensor noise only
    assert spread(apexes) > 4 * spread(firsts)


@pytest.mark.parametrize("neutral", [False, True])
def test_labels_balanced_per_subject(neutral):
    n = 7 if neutral else 6
    config = dataclasses.replace(TINY, neutral=neutral, clips_per_subject=2 * n)
    for subject_id in range(config.num_subjects):
        counts = Counter(plan_clip(config, subject_id, i).label_name
                         for i in range(config.clips_per_subject))
        assert counts == {name: 2 for name in labels(neutral)}


def test_subjects_differ():
    a, b = make_subject(0, 0), make_subject(0, 1)
    assert a != dataclasses.replace(b, subject_id=0)
    assert make_subject(0, 3) == make_subject(0, 3)
    faces = [render_face(TINY, s).astype(np.float32) for s in range(3)]
    assert np.abs(faces[0] - faces[1]).mean() > 10


def test_config_key_and_validation():
    assert SyntheticConfig().key() == SyntheticConfig().key()
    assert SyntheticConfig().key() != SyntheticConfig(seed=1).key()
    assert SyntheticConfig().key().startswith("64px-s0-")
    with pytest.raises(ValueError, match="min_frames"):
        SyntheticConfig(min_frames=12, max_frames=8)
    with pytest.raises(ValueError, match="test_subjects"):
        SyntheticConfig(num_subjects=4, test_subjects=4)
    with pytest.raises(ValueError, match="size"):
        SyntheticConfig(size=8)
    with pytest.raises(TypeError, match="unknown synthetic-data setting"):
        ensure_synthetic("unused", subjects=3)
    with pytest.raises(ValueError, match="resting_expression=1.5"):
        SyntheticConfig(resting_expression=1.5)
    # Settings added later keep the default data's cache name (the recorded results in
    # ferzoo/catalog/results/synthetic.json name it); changing it means bumping RENDER_VERSION.
    assert SyntheticConfig(resting_expression=0.0).key() == "64px-s0-2ba83865"
    assert SyntheticConfig(resting_expression=0.5).key() != SyntheticConfig().key()


def test_resting_expression_holds_through_every_frame():
    """A subject's resting expression is one of the six at up to the set intensity, in
    every frame; the clip's own expression adds on top (per action the larger)."""
    plain, resting = TINY, dataclasses.replace(TINY, resting_expression=0.8)
    assert not resting_actions(plain, 0).any()
    for subject_id in range(3):
        rest = resting_actions(resting, subject_id)
        full = {name: expression_actions(name) for name in EXPRESSIONS}
        matches = [n for n, v in full.items() if np.allclose(rest / rest.max(), v / v.max())]
        assert len(matches) == 1, rest
        scale = rest.max() / full[matches[0]].max()
        assert 0.4 - 1e-6 <= scale <= 0.8 + 1e-6
        for clip_index in range(6):
            a = plan_clip(plain, subject_id, clip_index)
            b = plan_clip(resting, subject_id, clip_index)
            assert a.label == b.label and a.apex_index == b.apex_index
            np.testing.assert_allclose(b.actions, np.maximum(a.actions, rest))
            assert np.allclose(b.actions[0, :-1], rest[:-1])  # neutral start (blink aside)
    # the rendering follows: a resting face differs from the plain one at the first frame
    first = [render_clip(c, 0, 0).frames[0].astype(np.float32) for c in (plain, resting)]
    assert np.abs(first[0] - first[1]).mean() > 0.5


def _shard_digests(path):
    return {f.name: hashlib.sha256(f.read_bytes()).hexdigest()
            for f in sorted(path.glob("*.tfrecord"))}


def test_generate_writes_subject_independent_balanced_splits(tmp_path):
    out = generate(tmp_path / "a", TINY, progress=False)
    manifest = json.loads((tmp_path / "a" / "manifest.json").read_text())
    assert out == manifest
    assert manifest["labels"] == list(EXPRESSIONS) and manifest["source"] == "synthetic"
    train, test = manifest["splits"]["train"], manifest["splits"]["test"]
    assert set(train["per_subject"]) == {"S000", "S001"} and set(test["per_subject"]) == {"S002"}
    assert train["num_clips"] == 12 and test["num_clips"] == 6
    assert train["per_class"] == {name: 2 for name in EXPRESSIONS}
    assert test["per_class"] == {name: 1 for name in EXPRESSIONS}

    # the records carry what render_clip made
    shard = tmp_path / "a" / test["shards"][0]["file"]
    contexts = [read_context(r.numpy()) for r in tf.data.TFRecordDataset(str(shard))]
    for context in contexts:
        index = int(context["clip/id"].split("_")[1])
        clip = render_clip(TINY, 2, index)
        assert context["clip/label/name"] == clip.label_name
        assert context["clip/apex_index"] == clip.apex_index
        assert context["num_stored_frames"] == len(clip.frames) == context["clip/num_frames"]
        assert context["clip/valence"] == pytest.approx(clip.valence, abs=1e-6)

    # same arguments, same bytes
    generate(tmp_path / "b", TINY, progress=False)
    assert _shard_digests(tmp_path / "a") == _shard_digests(tmp_path / "b")
    with pytest.raises(ValueError, match="other settings"):
        generate(tmp_path / "a", dataclasses.replace(TINY, seed=3), progress=False)

    sheet = cv2.imread(str(tmp_path / "a" / "contact_sheet.png"))
    assert sheet is not None and sheet.shape[0] > 6 * 3 * 96 and sheet.shape[1] > 6 * 96
    assert sheet.std() > 30


def test_ensure_synthetic_caches_and_resumes(tmp_path):
    path = ensure_synthetic(tmp_path, TINY, progress=False)
    assert path == tmp_path / f"synthetic-{TINY.key()}"
    digests = _shard_digests(path)
    stamp = {f: f.stat().st_mtime_ns for f in path.glob("*.tfrecord")}
    assert ensure_synthetic(tmp_path, TINY, progress=False) == path
    assert {f: f.stat().st_mtime_ns for f in path.glob("*.tfrecord")} == stamp  # cached
    lost = sorted(path.glob("train-*.tfrecord"))[0]
    lost.unlink()  # as if the run had died before this shard was finished
    (path / ".shards" / f"{lost.name}.json").unlink()
    assert ensure_synthetic(tmp_path, TINY, progress=False) == path
    assert _shard_digests(path) == digests
    overridden = ensure_synthetic(tmp_path, TINY, progress=False, seed=4)
    assert overridden != path and overridden.name.startswith("synthetic-32px-s4-")


def test_flow_stream(tmp_path):
    config = dataclasses.replace(TINY, num_subjects=2, clips_per_subject=1, flow=True)
    clip = render_clip(config, 0, 0)
    t = len(clip.frames)
    assert clip.flow.shape == (t - 1, 32, 32, 2) and clip.flow.dtype == np.float32
    path = ensure_synthetic(tmp_path, config, progress=False)
    record = next(iter(tf.data.TFRecordDataset(str(next(path.glob("test-*.tfrecord"))))))
    context = read_context(record.numpy())
    assert context["num_flow_frames"] == context["num_stored_frames"] - 1


def test_contact_sheet_groups_rows_by_class(tmp_path):
    path = contact_sheet(tmp_path / "sheet.png", dataclasses.replace(TINY, neutral=True),
                         clips_per_class=1, frames_per_clip=4)
    sheet = cv2.imread(str(path))
    assert sheet.shape[0] > 7 * 96 and sheet.shape[1] > 4 * 96
    assert sheet.std() > 30

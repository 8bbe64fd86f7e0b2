"""Every face of a video: BlazeFace detection, stable ids through turns and absences,
re-identification by appearance."""

import collections

import numpy as np
import pytest

from ferzoo.video.faces import FaceDetector
from ferzoo.video.faces.blazeface import FastDetectorUnavailable, anchors, model_path
from ferzoo.video.faces.multi import (
    MultiFaceOptions,
    MultiFaceTracker,
    appearance_signature,
    signature_similarity,
)
from ferzoo.video.io import read_clip, read_image

try:
    model_path()
    import ai_edge_litert  # noqa: F401

    FAST = True
except (FastDetectorUnavailable, ImportError):
    FAST = False

IVAN_EYES = ((291, 117), (314, 114))  # mtcnn's documented output (tests/data/real/SOURCES.md)
needs_fast = pytest.mark.skipif(not FAST, reason="ferzoo[fast] not installed")


def _detector(kind):
    if kind == "fast":
        from ferzoo.video.faces.blazeface import BlazeFaceDetector

        return BlazeFaceDetector()
    return FaceDetector(max_side=640)


DETECTORS = [pytest.param("fast", marks=needs_fast), pytest.param("mtcnn", marks=pytest.mark.slow)]


def test_anchor_grids_match_mediapipe():
    short = anchors(128, (8, 16, 16, 16), True)
    assert short.shape == (896, 2)  # 16x16x2 + 8x8x6
    np.testing.assert_allclose(short[0], (0.5 / 16, 0.5 / 16))
    assert anchors(192, (4,), False).shape == (2304, 2)


@needs_fast
def test_fast_detector_finds_ivans_eyes_where_mtcnn_does(real_dir):
    from ferzoo.video.faces.blazeface import BlazeFaceDetector

    faces = BlazeFaceDetector().detect(read_image(real_dir / "ivan.jpg"))
    assert len(faces) == 1 and faces[0].keypoints.shape == (5, 2)
    np.testing.assert_allclose(faces[0].keypoints[:2], IVAN_EYES, atol=3)
    assert BlazeFaceDetector().detect(read_image(real_dir / "no-faces.jpg")) == []


def _follow(frames, kind, **options):
    tracker = MultiFaceTracker(_detector(kind), MultiFaceOptions(**options))
    seen = collections.defaultdict(list)
    for index, _, faces in tracker.follow(list(frames)):
        for face in faces:
            assert face.aligned.shape == (64, 64, 3)
            seen[face.id].append((index, (face.box[0] + face.box[2]) / 2))
    return tracker, seen


@pytest.mark.parametrize("kind", DETECTORS)
def test_a_face_hidden_for_a_while_comes_back_with_its_id(real_dir, kind):
    frames = read_clip(real_dir / "head-pose-face-detection-female-and-male.gif")[0].copy()
    frames[15:35, :, 240:] = 128  # the man (right half) is hidden for 20 frames
    tracker, seen = _follow(frames, kind)
    assert sorted(seen) == [0, 1] and tracker.reidentified >= 1
    man = max(seen, key=lambda f: np.mean([x for _, x in seen[f]]))
    indices = [i for i, _ in seen[man]]
    assert min(indices) < 15 and max(indices) > 40  # before and after, one id
    assert all(x > 240 for _, x in seen[man])


@pytest.mark.parametrize("kind", DETECTORS)
def test_another_person_after_a_gap_gets_a_new_id(real_dir, kind):
    male = read_clip(real_dir / "head-pose-face-detection-male.gif")[0]
    female = read_clip(real_dir / "head-pose-face-detection-female.gif")[0]
    gap = np.full((10, *male.shape[1:]), 128, np.uint8)
    tracker, seen = _follow(np.concatenate([male[:16], gap, female[:16]]), kind)
    assert sorted(seen) == [0, 1] and tracker.reidentified == 0
    assert max(i for i, _ in seen[0]) < 16 and min(i for i, _ in seen[1]) >= 26
    # the man again after the same gap: his id back
    tracker, seen = _follow(np.concatenate([male[:16], gap, male[30:46]]), kind)
    assert sorted(seen) == [0] and tracker.reidentified == 1


@needs_fast
def test_max_faces_and_min_face_size(real_dir):
    frames = read_clip(real_dir / "head-pose-face-detection-female-and-male.gif",
                       max_frames=12)[0]
    _, seen = _follow(frames, "fast", max_faces=1)
    assert len(seen) == 1
    _, seen = _follow(frames, "fast", min_face_size=200)
    assert len(seen) == 0


def test_signature_tells_the_same_face_from_another(real_dir):
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
    b = np.clip(a.astype(int) + rng.integers(-6, 7, a.shape), 0, 255).astype(np.uint8)
    c = np.zeros_like(a)
    c[..., 0] = np.linspace(0, 255, 64, dtype=np.uint8)[None, :]
    sa, sb, sc = (appearance_signature(x) for x in (a, b, c))
    assert sa.shape == (256,) and signature_similarity(sa, sa) == pytest.approx(1.0)
    assert signature_similarity(sa, sb) > 0.9 > signature_similarity(sa, sc)


@needs_fast
def test_detecting_every_third_frame_carries_faces_by_optical_flow(real_dir):
    frames = read_clip(real_dir / "head-pose-face-detection-male.gif")[0]
    tracker, seen = _follow(frames, "fast", every=3)
    assert tracker.detector.calls == 21  # frames 0, 3, ..., 60 of 62
    assert sorted(seen) == [0] and len(seen[0]) >= 55
    every_frame = dict(_follow(frames, "fast")[1][0])
    carried = dict(seen[0])
    common = sorted(set(every_frame) & set(carried))
    drift = [abs(carried[i] - every_frame[i]) for i in common]
    assert np.median(drift) < 4 and max(drift) < 15  # box centres, pixels

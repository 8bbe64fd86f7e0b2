"""MTCNN detection, face choice, gaps, smoothing and STC-NLSTM alignment."""

import math
from pathlib import Path

import cv2
import matplotlib
import numpy as np
import pytest

from ferzoo.video import faces as F
from ferzoo.video.io import FrameSource, read_image

# References: shared/data/real/SOURCES.md (mtcnn's documented output for ivan.jpg) and
# docs/design.md#what-the-stack-does-and-does-not-do (grace_hopper.jpg).
IVAN = {"left_eye": (291, 117), "right_eye": (314, 114), "box": (277, 90, 48, 63)}
GRACE = {"left_eye": (220, 190), "right_eye": (308, 186), "box": (178, 110, 173, 220)}
GRACE_PATH = Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"


@pytest.fixture(scope="module")
def detector():
    return F.FaceDetector()


@pytest.mark.parametrize("name", ["ivan", "grace"])
def test_eyes_match_the_documented_reference(name, real_dir, detector):
    path, ref = (real_dir / "ivan.jpg", IVAN) if name == "ivan" else (GRACE_PATH, GRACE)
    faces = detector.detect(read_image(path))
    assert faces and faces[0].confidence >= 0.9
    best = max(faces, key=lambda f: f.area)
    assert np.abs(best.left_eye - ref["left_eye"]).max() <= 3
    assert np.abs(best.right_eye - ref["right_eye"]).max() <= 3
    assert np.abs(np.array(best.xywh()) - ref["box"]).max() <= 5
    assert best.keypoints.dtype == np.float64  # sub-pixel, not mtcnn's rounded ints


def test_threshold_drops_the_weak_second_face_of_ivan(real_dir, detector):
    image = read_image(real_dir / "ivan.jpg")
    assert len(detector.detect(image)) == 1  # the 0.85 false positive is below 0.9
    assert len(F.FaceDetector(min_confidence=0.8).detect(image)) == 2


def test_no_face_photo(real_dir, detector):
    assert detector.detect(read_image(real_dir / "no-faces.jpg")) == []
    with pytest.raises(F.NoFaceError, match="no face"):
        F.align_clip(FrameSource(real_dir / "no-faces.jpg"), 64)


def test_downscaled_detection_maps_back(real_dir):
    image = read_image(GRACE_PATH)
    face = F.FaceDetector(max_side=256).detect(image)[0]
    assert np.abs(face.left_eye - GRACE["left_eye"]).max() <= 4
    assert np.abs(face.right_eye - GRACE["right_eye"]).max() <= 4


def test_batch_with_a_faceless_image(real_dir, detector):
    ivan = read_image(real_dir / "ivan.jpg")
    empty = cv2.resize(read_image(real_dir / "no-faces.jpg"), ivan.shape[1::-1])
    results = detector.detect_batch([ivan, empty, ivan])
    assert [len(r) for r in results] == [1, 0, 1]
    np.testing.assert_allclose(results[0][0].keypoints, results[2][0].keypoints)


def _face(cx, cy, w, conf=0.99):
    box = np.array([cx - w / 2, cy - w / 2, cx + w / 2, cy + w / 2])
    kp = np.array([[cx - w / 4, cy], [cx + w / 4, cy], [cx, cy + w / 8],
                   [cx - w / 5, cy + w / 4], [cx + w / 5, cy + w / 4]])
    return F.Face(box, conf, kp)


def test_choose_face_modes():
    shape = (100, 200, 3)
    small_central, big_corner = _face(100, 50, 20), _face(20, 20, 40)
    faces = [small_central, big_corner]
    assert F.choose_face(faces, shape, "largest") is big_corner
    assert F.choose_face(faces, shape, "central") is small_central
    assert F.choose_face(faces, shape, "track") is big_corner  # no previous: largest
    assert F.choose_face(faces, shape, "track", previous=_face(98, 52, 20)) is small_central
    # The tracked face is gone and only a far-away one is left: no jump.
    assert F.choose_face([big_corner], shape, "track", previous=_face(150, 70, 20)) is None
    assert F.choose_face([], shape, "largest") is None
    with pytest.raises(ValueError, match="unknown face choice"):
        F.choose_face(faces, shape, "biggest")


def _track(states, values):
    n = len(states)
    kp = np.repeat(np.asarray(values, float)[:, None, None], 5, 1).repeat(2, 2)
    boxes = np.repeat(np.asarray(values, float)[:, None], 4, 1)
    kp[np.asarray(states) == F.MISSING] = np.nan
    boxes[np.asarray(states) == F.MISSING] = np.nan
    return F.FaceTrack(kp, boxes, np.full(n, np.nan), np.asarray(states, np.uint8),
                       np.arange(n), (10, 10, 3))


def test_fill_gaps_interpolates_short_holds_ends_reports_long():
    D, M = F.DETECTED, F.MISSING
    states = [M, D, M, M, D, D, M, M, M, M, M, D, M]
    values = [0, 10, 0, 0, 40, 50, 0, 0, 0, 0, 0, 110, 0]
    track = F.fill_gaps(_track(states, values), max_gap=3)
    x = track.keypoints[:, 0, 0]
    np.testing.assert_allclose(x[:6], [10, 10, 20, 30, 40, 50])  # start held, gap linear
    assert np.isnan(x[6:11]).all() and track.long_gaps == [(6, 11)]
    assert x[12] == 110 and track.state[12] == F.FILLED
    filled = F.fill_all(_track(states, values))
    np.testing.assert_allclose(filled.keypoints[6:11, 0, 0], [60, 70, 80, 90, 100])


def test_gaussian_smoothing_matches_numpy_and_respects_runs():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 3))
    sigma = 1.5
    got = F.gaussian_smooth(x, sigma)
    r = math.ceil(3 * sigma)
    k = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma) ** 2)
    k /= k.sum()
    ref = np.stack([np.convolve(x[:, j], k, mode="valid") for j in range(3)], 1)
    np.testing.assert_allclose(got[r:-r], ref, atol=1e-12)  # interior: plain convolution
    const = np.full((10, 2), 7.0)
    np.testing.assert_allclose(F.gaussian_smooth(const, 2.0), const)  # no pull at the ends
    valid = np.array([True] * 5 + [False] * 2 + [True] * 5)
    step = np.array([0.0] * 5 + [np.nan] * 2 + [100.0] * 5)
    out = F.gaussian_smooth(step, 2.0, valid)
    np.testing.assert_allclose(out[:5], 0.0)  # runs are smoothed separately
    np.testing.assert_allclose(out[7:], 100.0)


def _two_dots(left, right, shape=(420, 500)):
    image = np.zeros(shape + (3,), np.uint8)
    image[:] = (90, 90, 90)
    for x, y in (left, right):
        cv2.circle(image, (int(round(x)), int(round(y))), 4, (255, 255, 255), -1)
    return image


def _dot_centres(face):
    grey = face[..., 0].astype(float)
    mask = grey > 170
    n, labels = cv2.connectedComponents(mask.astype(np.uint8))
    centres = []
    for i in range(1, n):
        ys, xs = np.nonzero(labels == i)
        w = grey[ys, xs]
        centres.append((np.sum(xs * w) / w.sum(), np.sum(ys * w) / w.sum()))
    return np.array(sorted(centres))


@pytest.mark.parametrize("angle,size", [(0.0, 64), (25.0, 112), (-35.0, 64)])
def test_alignment_puts_the_eyes_level_at_fixed_places(angle, size):
    centre, d = np.array([250.0, 170.0]), 80.0  # the whole crop lies inside the image
    offset = 0.5 * d * np.array([math.cos(math.radians(angle)), math.sin(math.radians(angle))])
    left, right = centre - offset, centre + offset
    face, matrix = F.align_face(_two_dots(left, right), left, right, size)
    assert face.shape == (size, size, 3) and face.dtype == np.uint8
    expected = F.aligned_eye_positions(size)
    np.testing.assert_allclose(F.transform_points(matrix, [left, right]), expected, atol=1e-9)
    assert expected[0, 1] == expected[1, 1]  # level
    # The dots themselves (the image content, not only the matrix) land there.
    np.testing.assert_allclose(_dot_centres(face), expected, atol=0.75)
    # Eye distance fixes the scale: d eye distances -> size / max(2.2, 2.8).
    assert expected[1, 0] - expected[0, 0] == pytest.approx(size / 2.8)
    # Zero padding left and right of the 2.2 d wide rectangle in the 2.8 d square.
    pad = int(size * 0.3 / 2.8)
    assert face[:, :pad].max() == 0 and face[:, -pad:].max() == 0
    assert face[:, pad + 1:-pad - 1].min() > 0


def test_alignment_pad_image_keeps_context_and_shrinks_without_aliasing():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (600, 800, 3), dtype=np.uint8)
    left, right = (300.0, 250.0), (500.0, 250.0)  # d = 200 -> side 560 -> 64: area average
    face, _ = F.align_face(image, left, right, 64, pad="image")
    assert face[:, :3].min() >= 0 and face[:, :3].std() > 0  # context, not black
    # Area averaging of noise keeps the mean and strongly reduces the spread.
    assert abs(face.mean() - 127) < 4 and face.std() < image.std() / 4


def test_square_resize_pads_centred():
    frame = np.full((20, 40, 3), 200, np.uint8)
    out = F.square_resize(frame, 20)
    assert out.shape == (20, 20, 3)
    assert out[:4].max() == 0 and out[-4:].max() == 0 and out[6:14].min() == 200


def test_long_gap_without_face_skips_early(real_dir):
    options = F.FaceOptions(max_side=320, max_gap=4)
    detector = options.detector()
    with pytest.raises(F.NoFaceError, match=r"no face found in frames 0-4 \(5 frames"):
        F.align_clip(FrameSource(real_dir / "no_face.mp4"), 64, options, detector)
    assert detector.calls <= 8  # stopped after the first batch, not all 95 frames


@pytest.mark.slow
def test_head_pose_gifs_align_with_the_eyes_in_place(real_dir, tmp_path):
    """Every frame of the three real GIFs, aligned at 112 px; eyes re-detected on the
    aligned faces must sit where alignment puts them. Writes a contact sheet."""
    size = 112
    expected = F.aligned_eye_positions(size)
    detector = F.FaceDetector()
    rows, worst = [], {}
    # The woman turns to full profile (one eye hidden): MTCNN guesses that eye, so her
    # worst frames are further off; the median still sits on the mark.
    for name, limit in [("male", 3.5), ("female", 9.0), ("female-and-male", 3.5)]:
        clip = F.align_clip(FrameSource(real_dir / f"head-pose-face-detection-{name}.gif"), size)
        assert len(clip.frames) == clip.track.frame_indices.size  # no frame lost
        errors = []
        for found in detector.detect_batch(list(clip.frames)):
            if found:
                face = min(found, key=lambda f: np.abs(f.keypoints[:2] - expected).max())
                errors.append(np.linalg.norm(face.keypoints[:2] - expected, axis=1).max())
        # Some of her profile frames are not found again at all.
        assert len(errors) >= 0.65 * len(clip.frames), name
        worst[name] = max(errors)
        assert worst[name] <= limit and np.median(errors) <= 3.0, (name, errors)
        rows.append(clip.frames)
    sheet = F.contact_sheet(rows, columns=12, marks=expected)
    out = tmp_path / "aligned_gifs.png"
    cv2.imwrite(str(out), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))
    assert out.stat().st_size > 10_000


def test_large_min_face_size_on_a_small_image_still_finds_the_face(real_dir):
    # mtcnn 1.0 alone returns nothing here (its pyramid drops below 12 pixels).
    crop = cv2.resize(read_image(real_dir / "ivan.jpg")[60:200, 240:360], (96, 112))
    assert len(F.FaceDetector(min_face_size=60).detect(crop)) == 1

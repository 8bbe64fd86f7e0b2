"""Faces in clips: MTCNN detection, one face per clip, tracking, smoothing, alignment.

The path from a clip to aligned face frames, as STC-NLSTM prepares its input (Yu et
al. 2018, Sec. 4.1: "MTCNN ... coordinates of two eyes ... rectangular face by keeping
the distances between two eyes invariable ... a square through zero padding ...
64 x 64"):

1. **detect** (:class:`FaceDetector`): MTCNN (the ``mtcnn`` package, weights in the
   wheel) on every ``every``-th frame ("keyframes"), optionally on a copy downscaled
   so its longer side is at most ``max_side``, in batches; faces below
   ``min_confidence`` (default 0.9) are dropped.
2. **choose** (:func:`choose_face`): one face per keyframe: the largest, the most
   central, or (default) the one that continues the track of the previous keyframe.
3. **between keyframes**: keypoints interpolated linearly, or tracked with
   Lucas-Kanade optical flow and corrected towards the next detection
   (``between="flow"``).
4. **gaps**: runs of frames without a face of at most ``max_gap`` frames are
   interpolated from their neighbours (held at the clip's ends); longer runs are
   reported, and the clip is skipped (``on_long_gap="skip"``, default), or those
   frames are dropped (``"drop"``) or interpolated anyway (``"fill"``).
5. **smooth**: Gaussian smoothing of the keypoints and boxes over time.
6. **align** (:func:`align_face`): rotate so the eyes are level, crop a rectangle set
   by the eye distance, zero-pad it to a square, resize to ``size``.

:func:`align_clip` runs all of it over a :class:`~ferzoo.video.io.FrameSource`
in a few streamed passes (only the aligned output is held in memory).

Coordinates are OpenCV's: x right, y down, pixel centres at integers. MTCNN's
``left_eye`` is the eye on the image's left (the subject's right eye).
"""

from __future__ import annotations

import dataclasses
import functools
import math
import os
from typing import Iterable, Sequence

import cv2
import numpy as np

from ferzoo.video.io import FrameSource

KEYPOINT_NAMES = ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right")
LEFT_EYE, RIGHT_EYE = 0, 1

# docs/design.md#what-the-stack-does-and-does-not-do: MTCNN gave a false positive at 0.80 on a face-less
# photo, so faces need at least 0.9.
DEFAULT_MIN_CONFIDENCE = 0.9

# Crop geometry, in eye distances d, after rotating the eyes level. STC-NLSTM keeps
# the eye distance fixed but does not give the rectangle's proportions: **decision**:
# 2.2 d wide centred on the eyes, from 1.0 d above to 1.8 d below them (on MTCNN boxes
# of frontal faces the box is ~2.0 d wide, ~0.9 d above and ~1.6 d below the eyes).
CROP_WIDTH, CROP_ABOVE, CROP_BELOW = 2.2, 1.0, 1.8

# Track states per frame.
MISSING, DETECTED, TRACKED, FILLED = 0, 1, 2, 3
STATE_NAMES = {MISSING: "missing", DETECTED: "detected", TRACKED: "tracked", FILLED: "filled"}

CHOICES = ("track", "largest", "central")
BETWEEN = ("linear", "flow")
LONG_GAP_POLICIES = ("skip", "drop", "fill")


class NoFaceError(Exception):
    """A clip (or image) without a usable face; ``str(error)`` is the reason."""


# --------------------------------------------------------------------------- detection


@dataclasses.dataclass(frozen=True)
class Face:
    """One detected face: box (x1, y1, x2, y2), confidence, keypoints (5, 2) as x, y.

    Keypoints are in :data:`KEYPOINT_NAMES` order.
    """

    box: np.ndarray
    confidence: float
    keypoints: np.ndarray

    @property
    def width(self) -> float:
        return float(self.box[2] - self.box[0])

    @property
    def height(self) -> float:
        return float(self.box[3] - self.box[1])

    @property
    def area(self) -> float:
        return self.width * self.height

    @property
    def center(self) -> np.ndarray:
        return np.array([(self.box[0] + self.box[2]) / 2, (self.box[1] + self.box[3]) / 2])

    @property
    def left_eye(self) -> np.ndarray:
        return self.keypoints[LEFT_EYE]

    @property
    def right_eye(self) -> np.ndarray:
        return self.keypoints[RIGHT_EYE]

    def xywh(self) -> list[float]:
        return [float(self.box[0]), float(self.box[1]), self.width, self.height]


def quiet_tensorflow() -> None:
    """Silence TensorFlow's Python-side logging (retracing warnings and the like)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import logging

    import tensorflow as tf

    tf.get_logger().setLevel(logging.ERROR)
    try:
        from absl import logging as absl_logging

        absl_logging.set_verbosity(absl_logging.ERROR)
    except ImportError:  # absl ships with TensorFlow; be safe anyway
        pass


@functools.lru_cache(maxsize=4)
def mtcnn_model(device: str = "CPU:0"):
    """The MTCNN network (built once per process and device, then reused)."""
    quiet_tensorflow()
    from mtcnn import MTCNN

    return MTCNN(device=device)


def _pyramid_safe(min_face: int, dim: int, factor: float = 0.709) -> int:
    """Cap MTCNN's ``min_face_size`` so its image pyramid stays >= 12 pixels.

    mtcnn 1.0 sizes the pyramid from the image alone; with a ``min_face_size`` large for
    the image its last level drops below PNet's 12-pixel input and the whole detection
    silently returns no face (seen on 128-pixel images with min_face_size >= 32).
    """
    levels = round(-(math.log(dim / 12) / math.log(factor) + 1))
    if levels < 1:
        return 12
    return max(12, min(min_face, int(dim * factor ** (levels - 1))))


def _rows_to_faces(rows: np.ndarray, scale: float) -> list[Face]:
    # mtcnn's numpy rows: [image, x1, y1, x2, y2, confidence, x of the 5 keypoints,
    # y of the 5 keypoints] (the package's docstring says interleaved; its code is not).
    faces = []
    for row in rows:
        keypoints = np.stack([row[6:11], row[11:16]], axis=1) / scale
        faces.append(Face(box=np.asarray(row[1:5], np.float64) / scale,
                          confidence=float(row[5]), keypoints=keypoints.astype(np.float64)))
    faces.sort(key=lambda f: -f.confidence)
    return faces


class FaceDetector:
    """MTCNN with a confidence threshold, optional downscaling and batching.

    Args:
        min_confidence: faces below this are dropped (default 0.9; see docs/design.md#what-the-stack-does-and-does-not-do).
        max_side: detect on a copy of the frame resized so that its longer side is at
            most this (``None``: full resolution). Coordinates are mapped back.
        min_face_size: smallest face searched for, in pixels of the full frame
            (MTCNN's pyramid starts there). It is capped at about 21-24 pixels, the most
            mtcnn 1.0 handles correctly (see :func:`_pyramid_safe`): for speed, use
            ``max_side``.
        batch_size: frames detected together (MTCNN batches equal-sized images; on
            one CPU core a batch of 8 halves the time per frame).
        device: TensorFlow device for MTCNN.

    Example:
        >>> detector = FaceDetector()                                  # doctest: +SKIP
        >>> faces = detector.detect(rgb_image)   # list of Face, best first
    """

    def __init__(self, min_confidence: float = DEFAULT_MIN_CONFIDENCE,
                 max_side: int | None = None, min_face_size: int = 20,
                 batch_size: int = 8, device: str = "CPU:0"):
        if not 0.0 < min_confidence <= 1.0:
            raise ValueError(f"min_confidence must be in (0, 1], got {min_confidence}")
        if max_side is not None and max_side < 24:
            raise ValueError(f"max_side must be at least 24 pixels (or None), got {max_side}")
        self.min_confidence, self.max_side = float(min_confidence), max_side
        self.min_face_size, self.batch_size = int(min_face_size), int(batch_size)
        self.device = device
        self.calls = 0  # frames passed to MTCNN

    def _prepare(self, image: np.ndarray) -> tuple[np.ndarray, float]:
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(f"detect needs an RGB uint8 (H, W, 3) image, got "
                             f"{image.dtype} {image.shape}")
        longer = max(image.shape[:2])
        if self.max_side is None or longer <= self.max_side:
            return image, 1.0
        scale = self.max_side / longer
        size = (max(1, round(image.shape[1] * scale)), max(1, round(image.shape[0] * scale)))
        return cv2.resize(image, size, interpolation=cv2.INTER_AREA), scale

    def detect_batch(self, images: Sequence[np.ndarray]) -> list[list[Face]]:
        """Faces in each image (images of one batch must share their size)."""
        if not len(images):
            return []
        prepared = [self._prepare(np.asarray(image)) for image in images]
        scale = prepared[0][1]
        small = [p[0] for p in prepared]
        if len({s.shape for s in small}) > 1:
            return [faces for image in images for faces in self.detect_batch([image])]
        min_face = _pyramid_safe(max(12, round(self.min_face_size * scale)),
                                 min(small[0].shape[:2]))
        model = mtcnn_model(self.device)
        self.calls += len(small)
        rows = model.detect_faces(
            small if len(small) > 1 else small[0], output_type="numpy", box_format="xyxy",
            min_face_size=min_face, threshold_onet=min(self.min_confidence, 0.99),
        )
        rows = np.asarray(rows, np.float64).reshape(-1, 16)
        rows = rows[rows[:, 5] >= self.min_confidence]
        return [_rows_to_faces(rows[rows[:, 0] == i], scale) for i in range(len(small))]

    def detect(self, image: np.ndarray) -> list[Face]:
        """Faces in one RGB uint8 image, most confident first (empty: none)."""
        return self.detect_batch([image])[0]


# --------------------------------------------------------------------------- choice


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    x1, y1 = max(a[0], b[0]), max(a[1], b[1])
    x2, y2 = min(a[2], b[2]), min(a[3], b[3])
    inter = max(0.0, x2 - x1) * max(0.0, y2 - y1)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def choose_face(faces: Sequence[Face], frame_shape: Sequence[int], mode: str = "track",
                previous: Face | None = None, max_jump: float = 1.0) -> Face | None:
    """Pick one face.

    Args:
        faces: candidates in one frame.
        frame_shape: (H, W, ...) of the frame.
        mode: ``"largest"`` (biggest box), ``"central"`` (box centre nearest the frame
            centre) or ``"track"`` (the face nearest ``previous``; the largest when there
            is no previous face).
        previous: the face chosen at the last keyframe (for ``"track"``).
        max_jump: with ``"track"``, a candidate whose centre is more than
            ``max_jump`` x the previous face's width away from it (and that does not
            overlap it) is another face: ``None`` is returned rather than jumping.
    """
    if mode not in CHOICES:
        raise ValueError(f"unknown face choice {mode!r}; use one of {CHOICES}")
    if not faces:
        return None
    if mode == "largest" or (mode == "track" and previous is None):
        return max(faces, key=lambda f: f.area)
    if mode == "central":
        centre = np.array([frame_shape[1] / 2, frame_shape[0] / 2])
        return min(faces, key=lambda f: float(np.linalg.norm(f.center - centre)))
    dist = [float(np.linalg.norm(f.center - previous.center)) / max(previous.width, 1.0)
            for f in faces]
    best = int(np.argmin(dist))
    if dist[best] <= max_jump or _iou(faces[best].box, previous.box) > 0.3:
        return faces[best]
    return None


# --------------------------------------------------------------------------- tracks


@dataclasses.dataclass(frozen=True)
class FaceOptions:
    """How faces are found and followed through a clip (picklable, for workers).

    Attributes:
        min_confidence: MTCNN confidence threshold (>= 0.9 advised).
        max_side: detect on frames downscaled to this longer side (``None``: full size).
        min_face_size: smallest face searched for, in full-frame pixels.
        every: detect on every ``every``-th frame (and the last); in between, see
            ``between``.
        between: ``"linear"`` interpolation of the keypoints between keyframes, or
            ``"flow"``: Lucas-Kanade tracking corrected towards the next detection.
        choose: ``"track"``, ``"largest"`` or ``"central"`` (see :func:`choose_face`).
        smooth_sigma: standard deviation, in frames, of the Gaussian smoothing of
            keypoints and boxes over time (0: none).
        max_gap: longest run of frames without a face that is interpolated (``None``:
            ``max(8, 2 * every)``).
        on_long_gap: ``"skip"`` the clip, ``"drop"`` the frames, or ``"fill"`` them anyway.
        batch_size: keyframes detected per MTCNN call.
        refine: detect once more on each face after a first alignment (eyes level,
            ``refine_size`` pixels) and map the keypoints back. MTCNN's landmarks are
            biased on tilted heads; on the real head-pose GIFs this brought the worst
            eye offset in 112-pixel aligned faces from 8.5 to about 2 pixels.
    """

    min_confidence: float = DEFAULT_MIN_CONFIDENCE
    max_side: int | None = None
    min_face_size: int = 20
    every: int = 1
    between: str = "linear"
    choose: str = "track"
    smooth_sigma: float = 1.0
    max_gap: int | None = None
    on_long_gap: str = "skip"
    batch_size: int = 8
    refine: bool = True
    refine_size: int = 128

    def __post_init__(self):
        if self.every < 1:
            raise ValueError(f"every must be >= 1, got {self.every}")
        if self.between not in BETWEEN:
            raise ValueError(f"unknown between={self.between!r}; use one of {BETWEEN}")
        if self.choose not in CHOICES:
            raise ValueError(f"unknown choose={self.choose!r}; use one of {CHOICES}")
        if self.on_long_gap not in LONG_GAP_POLICIES:
            raise ValueError(f"unknown on_long_gap={self.on_long_gap!r}; use one of "
                             f"{LONG_GAP_POLICIES}")

    @property
    def gap_limit(self) -> int:
        return self.max_gap if self.max_gap is not None else max(8, 2 * self.every)

    def detector(self) -> FaceDetector:
        return FaceDetector(self.min_confidence, self.max_side, self.min_face_size,
                            self.batch_size)


@dataclasses.dataclass
class FaceTrack:
    """One face followed through the T selected frames of a clip.

    Attributes:
        keypoints: (T, 5, 2) float64, NaN where the face is missing.
        boxes: (T, 4) float64 (x1, y1, x2, y2), NaN where missing.
        confidence: (T,) MTCNN confidence on detected frames, NaN elsewhere.
        state: (T,) uint8: MISSING, DETECTED, TRACKED (between keyframes), FILLED (gap).
        frame_indices: (T,) index of each frame in the source's decoded frames.
        frame_shape: (H, W, 3) of the frames.
        detector_calls: frames MTCNN ran on.
        long_gaps: (start, stop) position ranges of the gaps longer than ``max_gap``.
        refined: frames whose keypoints a second detection refined (see ``refine``).
    """

    keypoints: np.ndarray
    boxes: np.ndarray
    confidence: np.ndarray
    state: np.ndarray
    frame_indices: np.ndarray
    frame_shape: tuple
    detector_calls: int = 0
    long_gaps: list[tuple[int, int]] = dataclasses.field(default_factory=list)
    refined: int = 0

    def __len__(self) -> int:
        return len(self.state)

    @property
    def known(self) -> np.ndarray:
        return self.state != MISSING

    def counts(self) -> dict[str, int]:
        return {STATE_NAMES[s]: int(np.sum(self.state == s)) for s in STATE_NAMES}


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """(start, stop) of the runs of True in a 1-D boolean array."""
    padded = np.concatenate([[False], mask, [False]]).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    return list(zip(edges[0::2].tolist(), edges[1::2].tolist()))


def _describe_gap(track_positions: np.ndarray, start: int, stop: int) -> str:
    first, last = int(track_positions[start]), int(track_positions[stop - 1])
    return f"frames {first}-{last}" if last > first else f"frame {first}"


def detect_keyframes(source: FrameSource, options: FaceOptions,
                     detector: FaceDetector | None = None) -> FaceTrack:
    """Pass 1: detect on the keyframes, choose one face, fill between keyframes linearly.

    Raises :class:`NoFaceError` early (without reading the rest) when
    ``on_long_gap="skip"`` and a run of frames without a face already exceeds the gap
    limit.
    """
    detector = detector or options.detector()
    calls_before = detector.calls
    every, limit = options.every, options.gap_limit
    found: dict[int, Face] = {}
    indices: list[int] = []
    pending: list[tuple[int, np.ndarray]] = []
    state = {"previous": None, "last_good": -1, "shape": None, "missed_from": None}

    def flush():
        if not pending:
            return
        results = detector.detect_batch([frame for _, frame in pending])
        for (position, frame), faces in zip(pending, results):
            face = choose_face(faces, frame.shape, options.choose, state["previous"])
            if face is not None:
                found[position] = face
                state["previous"], state["last_good"] = face, position
                state["missed_from"] = None
            elif options.on_long_gap == "skip":
                # Frames after the last good keyframe up to here have no face we can use.
                gap = position - state["last_good"]
                if state["last_good"] < 0:
                    gap = position + 1
                if gap > limit:
                    first = state["last_good"] + 1
                    what = ("no face found" if not found else "face lost")
                    raise NoFaceError(
                        f"{what} in frames {indices[first]}-{indices[position]} "
                        f"({gap} frames, more than max_gap={limit}; threshold "
                        f"{options.min_confidence})")
        pending.clear()

    last = None
    for position, (index, frame) in enumerate(source):
        indices.append(index)
        state["shape"] = frame.shape
        if position % every == 0:
            pending.append((position, frame))
            last = None
            if len(pending) >= detector.batch_size:
                flush()
        else:
            last = (position, frame)
    if last is not None:  # the clip's last frame is always a keyframe
        pending.append(last)
    flush()
    n = len(indices)
    if n == 0:
        raise NoFaceError(f"{source.path}: no frame could be decoded "
                          f"({'; '.join(source.info.errors) or 'empty'})")
    keypoints = np.full((n, 5, 2), np.nan)
    boxes = np.full((n, 4), np.nan)
    confidence = np.full(n, np.nan)
    states = np.zeros(n, np.uint8)
    for position, face in found.items():
        keypoints[position], boxes[position] = face.keypoints, face.box
        confidence[position], states[position] = face.confidence, DETECTED
    # Between two consecutive keyframes that both found the face: interpolate. Frames
    # next to a keyframe that missed stay MISSING, for the gap rules of fill_gaps.
    keyframes = sorted(set(range(0, n, every)) | {n - 1})
    for a, b in zip(keyframes[:-1], keyframes[1:]):
        if a in found and b in found and b - a > 1:
            t = (np.arange(a + 1, b) - a) / (b - a)
            keypoints[a + 1:b] = keypoints[a] + t[:, None, None] * (keypoints[b] - keypoints[a])
            boxes[a + 1:b] = boxes[a] + t[:, None] * (boxes[b] - boxes[a])
            states[a + 1:b] = TRACKED
    return FaceTrack(keypoints, boxes, confidence, states, np.asarray(indices),
                     tuple(state["shape"]), detector.calls - calls_before)


def refine_with_flow(source: FrameSource, track: FaceTrack, win: int = 21,
                     levels: int = 3, max_drift: float = 0.25) -> FaceTrack:
    """Pass 2 (``between="flow"``): Lucas-Kanade tracking of the keypoints between keyframes.

    From each detected keyframe a the keypoints are tracked forward frame by frame to
    the next detected keyframe b; the drift at b (detection minus tracked) is spread
    linearly over a..b. Where tracking fails, or ends more than ``max_drift`` eye
    distances away from the detection at b, the linear interpolation stays.
    """
    detected = np.flatnonzero(track.state == DETECTED)
    if len(detected) < 2:
        return track
    next_good = {int(a): int(b) for a, b in zip(detected[:-1], detected[1:])
                 if b - a > 1 and np.all(track.state[a + 1:b] == TRACKED)}
    if not next_good:
        return track
    keypoints = track.keypoints.copy()
    segment = None  # (a, b, tracked points per position)
    prev_grey = prev_pts = None
    params = dict(winSize=(win, win), maxLevel=levels,
                  criteria=(cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 30, 0.01))
    for position, (_, frame) in enumerate(source):
        grey = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
        if segment is not None and prev_pts is not None:
            pts, status, _ = cv2.calcOpticalFlowPyrLK(prev_grey, grey, prev_pts, None, **params)
            if status is None or not status.all():
                segment, prev_pts = None, None  # lost: keep the linear interpolation
            else:
                segment[2][position] = pts.reshape(5, 2).astype(np.float64)
                prev_pts = pts
                a, b, tracked = segment
                if position == b:
                    drift = track.keypoints[b] - tracked[b]
                    eyes = np.linalg.norm(track.keypoints[b, RIGHT_EYE]
                                          - track.keypoints[b, LEFT_EYE])
                    # A tracker that ends far from the detection went astray somewhere:
                    # keep the linear interpolation for this segment.
                    if np.abs(drift).max() <= max_drift * eyes:
                        for p in range(a + 1, b):
                            keypoints[p] = tracked[p] + (p - a) / (b - a) * drift
                    segment = None
        if position in next_good:
            segment = (position, next_good[position], {})
            prev_pts = track.keypoints[position].reshape(5, 1, 2).astype(np.float32)
        elif segment is None:
            prev_pts = None
        prev_grey = grey
    return dataclasses.replace(track, keypoints=keypoints)


def fill_gaps(track: FaceTrack, max_gap: int) -> FaceTrack:
    """Interpolate runs of at most ``max_gap`` missing frames; record longer runs.

    A gap between two known frames is interpolated linearly; one at the start or end of
    the clip takes the nearest known values. Longer gaps stay MISSING and are listed in
    ``long_gaps``.
    """
    keypoints, boxes, state = track.keypoints.copy(), track.boxes.copy(), track.state.copy()
    n = len(state)
    long_gaps = []
    if not np.any(state != MISSING):
        return dataclasses.replace(track, long_gaps=[(0, n)])
    for start, stop in _runs(state == MISSING):
        if stop - start > max_gap:
            long_gaps.append((start, stop))
            continue
        before, after = start - 1, stop
        for p in range(start, stop):
            if before >= 0 and after < n:
                t = (p - before) / (after - before)
                keypoints[p] = keypoints[before] + t * (keypoints[after] - keypoints[before])
                boxes[p] = boxes[before] + t * (boxes[after] - boxes[before])
            else:
                src = after if before < 0 else before
                keypoints[p], boxes[p] = keypoints[src], boxes[src]
            state[p] = FILLED
    return dataclasses.replace(track, keypoints=keypoints, boxes=boxes, state=state,
                               long_gaps=long_gaps)


def fill_all(track: FaceTrack) -> FaceTrack:
    """Interpolate every gap, whatever its length (``on_long_gap="fill"``)."""
    return fill_gaps(track, max_gap=len(track))


def gaussian_smooth(values: np.ndarray, sigma: float,
                    valid: np.ndarray | None = None) -> np.ndarray:
    """Smooth ``values`` (T, ...) along axis 0 with a Gaussian of ``sigma`` frames.

    Only frames where ``valid`` is True are used and changed; each run of valid frames
    is smoothed on its own, with the kernel renormalised at the run's ends (so a still
    face stays exactly still and nothing is pulled towards zero).
    """
    values = np.asarray(values, np.float64)
    if sigma <= 0 or len(values) < 2:
        return values.copy()
    valid = np.ones(len(values), bool) if valid is None else np.asarray(valid, bool)
    radius = max(1, int(math.ceil(3 * sigma)))
    offsets = np.arange(-radius, radius + 1)
    kernel = np.exp(-0.5 * (offsets / sigma) ** 2)
    out = values.copy()
    for start, stop in _runs(valid):
        run = values[start:stop]
        flat = run.reshape(len(run), -1)
        acc = np.zeros_like(flat)
        weight = np.zeros(len(run))
        for k, offset in zip(kernel, offsets):
            lo, hi = max(0, -offset), min(len(run), len(run) - offset)
            if lo >= hi:
                continue
            acc[lo:hi] += k * flat[lo + offset:hi + offset]
            weight[lo:hi] += k
        out[start:stop] = (acc / weight[:, None]).reshape(run.shape)
    return out


def smooth_track(track: FaceTrack, sigma: float) -> FaceTrack:
    """Gaussian smoothing of keypoints and boxes over the known frames."""
    if sigma <= 0:
        return track
    known = track.known
    return dataclasses.replace(
        track,
        keypoints=gaussian_smooth(track.keypoints, sigma, known),
        boxes=gaussian_smooth(track.boxes, sigma, known),
    )


def track_face(source: FrameSource, options: FaceOptions = FaceOptions(),
               detector: FaceDetector | None = None) -> FaceTrack:
    """Find and follow one face through a clip (passes 1-2, gaps, smoothing).

    Raises:
        NoFaceError: no face at all, or (``on_long_gap="skip"``) a gap longer than
            the limit; the message is the reason for the clip's report.
    """
    track = detect_keyframes(source, options, detector)
    if not np.any(track.state == DETECTED):
        raise NoFaceError(f"no face found in any of {len(track)} frames "
                          f"(threshold {options.min_confidence})")
    if options.between == "flow" and options.every > 1:
        track = refine_with_flow(source, track)
    track = fill_gaps(track, options.gap_limit)
    if track.long_gaps:
        if options.on_long_gap == "skip":
            start, stop = track.long_gaps[0]
            raise NoFaceError(
                f"no face in {_describe_gap(track.frame_indices, start, stop)} "
                f"({stop - start} frames, more than max_gap={options.gap_limit})")
        if options.on_long_gap == "fill":
            track = fill_all(track)
    return smooth_track(track, options.smooth_sigma)


# --------------------------------------------------------------------------- alignment


def alignment_matrix(left_eye: Sequence[float], right_eye: Sequence[float], size: int,
                     width: float = CROP_WIDTH, above: float = CROP_ABOVE,
                     below: float = CROP_BELOW,
                     ) -> tuple[np.ndarray, tuple[float, float, float, float]]:
    """The 2x3 affine map from frame pixels to aligned-face pixels, and the content box.

    The eyes end up level, their midpoint at the horizontal centre; the crop rectangle
    is ``width`` x (``above`` + ``below``) eye distances, centred in a square of side
    ``max(width, above + below)`` eye distances that is resized to ``size``.

    Returns:
        (matrix, (x0, y0, x1, y1)): the OpenCV affine matrix (pixel centres at integers)
        and the rectangle of real content in output pixels (outside it: zero padding).
    """
    le, re = np.asarray(left_eye, np.float64), np.asarray(right_eye, np.float64)
    delta = re - le
    d = float(np.hypot(*delta))
    if not np.isfinite(d) or d < 1e-3:
        raise ValueError(f"eyes too close to align a face: left {le}, right {re}")
    angle = math.atan2(delta[1], delta[0])
    side = max(width, above + below) * d
    s = size / side
    ox, oy = (side - width * d) / 2, (side - (above + below) * d) / 2
    target = np.array([side / 2, oy + above * d]) * s  # eye midpoint, corner convention
    c, si = math.cos(-angle), math.sin(-angle)
    a = s * np.array([[c, -si], [si, c]])
    # Corner convention (pixel i spans [i, i+1]) for the geometry, OpenCV's (centres at
    # integers) for points: the eye midpoint maps to target - 0.5.
    t = target - 0.5 - a @ ((le + re) / 2)
    matrix = np.concatenate([a, t[:, None]], axis=1)
    box = (ox * s, oy * s, (ox + width * d) * s, (oy + (above + below) * d) * s)
    return matrix, box


def aligned_eye_positions(size: int, width: float = CROP_WIDTH, above: float = CROP_ABOVE,
                          below: float = CROP_BELOW) -> np.ndarray:
    """Where :func:`align_face` puts the (left, right) eyes: (2, 2) output pixels."""
    matrix, _ = alignment_matrix((0.0, 0.0), (100.0, 0.0), size, width, above, below)
    return transform_points(matrix, np.array([[0.0, 0.0], [100.0, 0.0]]))


def transform_points(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Apply a 2x3 affine matrix to (..., 2) points."""
    points = np.asarray(points, np.float64)
    return points @ matrix[:, :2].T + matrix[:, 2]


def align_face(frame: np.ndarray, left_eye: Sequence[float], right_eye: Sequence[float],
               size: int = 64, width: float = CROP_WIDTH, above: float = CROP_ABOVE,
               below: float = CROP_BELOW, pad: str = "zero") -> tuple[np.ndarray, np.ndarray]:
    """Rotate, crop by eye distance, zero-pad to a square, resize (STC-NLSTM Sec. 4.1).

    Args:
        frame: (H, W, C) uint8.
        left_eye, right_eye: (x, y) of the eye on the image's left and right.
        size: output side (64 for STC-NLSTM, 112, 224/240 for STCAM and LSTPNet).
        width, above, below: the crop rectangle in eye distances (see module notes).
        pad: ``"zero"``: the square around the rectangle is black, as in the paper;
            ``"image"``: it keeps the surrounding image (outside the frame stays black).

    Returns:
        (face, matrix): (size, size, C) uint8 and the 2x3 map from frame to face pixels.
        Shrinking is done by warping to an integer multiple of ``size`` and area
        averaging, so large faces do not alias.
    """
    if pad not in ("zero", "image"):
        raise ValueError(f"unknown pad={pad!r}; use 'zero' or 'image'")
    matrix, box = alignment_matrix(left_eye, right_eye, size, width, above, below)
    scale = float(np.hypot(*matrix[:, 0]))
    factor = max(1, int(math.floor(1.0 / scale))) if scale < 1 else 1
    big = size * factor
    if factor > 1:
        fine, _ = alignment_matrix(left_eye, right_eye, big, width, above, below)
        out = cv2.warpAffine(frame, fine, (big, big), flags=cv2.INTER_LINEAR,
                             borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        out = cv2.resize(out, (size, size), interpolation=cv2.INTER_AREA)
    else:
        out = cv2.warpAffine(frame, matrix, (size, size), flags=cv2.INTER_LINEAR,
                             borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    if out.ndim == 2:
        out = out[..., None] if frame.ndim == 3 else out
    if pad == "zero":
        x0, y0, x1, y1 = (int(round(v)) for v in box)
        out[:, :max(0, x0)] = 0
        out[:, min(size, x1):] = 0
        out[:max(0, y0)] = 0
        out[min(size, y1):] = 0
    return out, matrix


def square_resize(frame: np.ndarray, size: int) -> np.ndarray:
    """Zero-pad a frame to a square (centred) and resize it: for clips already cropped."""
    h, w = frame.shape[:2]
    side = max(h, w)
    if h != w:
        padded = np.zeros((side, side) + frame.shape[2:], frame.dtype)
        y, x = (side - h) // 2, (side - w) // 2
        padded[y:y + h, x:x + w] = frame
        frame = padded
    if side == size:
        return frame.copy()
    interp = cv2.INTER_AREA if side > size else cv2.INTER_LINEAR
    out = cv2.resize(frame, (size, size), interpolation=interp)
    return out.reshape((size, size) + frame.shape[2:])


# --------------------------------------------------------------------------- clips


@dataclasses.dataclass
class AlignedClip:
    """Aligned face frames of one clip and how they were obtained.

    Attributes:
        frames: (T, size, size, 3) uint8 RGB.
        frame_indices: source index of each output frame.
        track: the face track (before dropping any frame).
        fps: frame rate of the output frames (0: unknown).
        notes: counts for reports: frames detected / tracked / filled / dropped,
            detector calls.
    """

    frames: np.ndarray
    frame_indices: np.ndarray
    track: FaceTrack | None
    fps: float
    notes: dict


def refine_keypoints(source: FrameSource, track: FaceTrack, detector: FaceDetector,
                     options: FaceOptions, width: float = CROP_WIDTH,
                     above: float = CROP_ABOVE, below: float = CROP_BELOW) -> FaceTrack:
    """Detect again on each face aligned with the current keypoints; map them back.

    The face seen level and centred gives MTCNN its best case. Frames where the second
    detection finds no face near the expected eyes keep their keypoints; the result is
    smoothed again with ``options.smooth_sigma``.
    """
    size = options.refine_size
    expected = aligned_eye_positions(size, width, above, below)
    eye_distance = float(expected[1, 0] - expected[0, 0])
    keypoints = track.keypoints.copy()
    refined = np.zeros(len(track), bool)
    batch: list[tuple[int, np.ndarray, np.ndarray]] = []
    # The aligned face spans ~70% of the image: searching small faces would only cost
    # time (a deeper image pyramid: 44 ms per 128-pixel image with the smallest faces).
    plain = FaceDetector(detector.min_confidence, None, size // 5, detector.batch_size,
                         detector.device)

    def flush():
        if not batch:
            return
        results = plain.detect_batch([image for _, image, _ in batch])
        for (position, _, matrix), faces in zip(batch, results):
            if not faces:
                continue
            face = min(faces, key=lambda f: float(np.abs(f.keypoints[:2] - expected).max()))
            if np.abs(face.keypoints[:2] - expected).max() > 0.5 * eye_distance:
                continue  # another face, or a poor detection
            inverse = cv2.invertAffineTransform(matrix)
            keypoints[position] = transform_points(inverse, face.keypoints)
            refined[position] = True
        batch.clear()

    for position, (_, frame) in enumerate(source):
        if position >= len(track) or not track.known[position]:
            continue
        kp = track.keypoints[position]
        image, matrix = align_face(frame, kp[LEFT_EYE], kp[RIGHT_EYE], size, width, above,
                                   below, pad="image")
        batch.append((position, image, matrix))
        if len(batch) >= detector.batch_size:
            flush()
    flush()
    refined_track = dataclasses.replace(
        track, keypoints=keypoints, refined=int(refined.sum()),
        detector_calls=track.detector_calls + int(track.known.sum()))
    return smooth_track(refined_track, options.smooth_sigma)


def _crop_eyes(keypoints: np.ndarray, box: np.ndarray,
               eye_floor: float | None) -> tuple[np.ndarray, np.ndarray]:
    left, right = keypoints[LEFT_EYE], keypoints[RIGHT_EYE]
    if eye_floor is None:
        return left, right
    d = float(np.linalg.norm(right - left))
    floor = eye_floor * float(box[2] - box[0])
    if d >= floor or d < 1e-6:
        return left, right
    mid, half = (left + right) / 2, (right - left) / 2 * (floor / d)
    return mid - half, mid + half


def align_clip(source: FrameSource, size: int = 64, options: FaceOptions = FaceOptions(),
               detector: FaceDetector | None = None, pad: str = "zero",
               width: float = CROP_WIDTH, above: float = CROP_ABOVE,
               below: float = CROP_BELOW, eye_floor: float | None = None) -> AlignedClip:
    """Track the face of a clip and return its aligned frames (a last streamed pass).

    ``eye_floor``: when set, the eye distance used for the crop is at least
    ``eye_floor`` x the face box width (about 0.5 on frontal faces), so a head turned
    to profile, whose eyes nearly meet, is not blown up. ``None`` (default) is pure
    eye distance, as STC-NLSTM.

    Raises:
        NoFaceError: see :func:`track_face`.
    """
    detector = detector or options.detector()
    track = track_face(source, options, detector)
    if options.refine:
        track = refine_keypoints(source, track, detector, options, width, above, below)
    keep = track.known
    frames, indices = [], []
    for position, (index, frame) in enumerate(source):
        if position >= len(track) or not keep[position]:
            continue
        left, right = _crop_eyes(track.keypoints[position], track.boxes[position], eye_floor)
        face, _ = align_face(frame, left, right, size, width, above, below, pad)
        frames.append(face)
        indices.append(index)
    if not frames:
        raise NoFaceError("no frame with a face is left after dropping long gaps")
    counts = track.counts()
    notes = {
        "frames_detected": counts["detected"],
        "frames_tracked": counts["tracked"],
        "frames_filled": counts["filled"],
        "frames_dropped": int(np.sum(~keep)),
        "faces_missed": counts["filled"] + int(np.sum(~keep)),
        "frames_refined": track.refined,
        "detector_calls": track.detector_calls,
    }
    return AlignedClip(np.stack(frames), np.asarray(indices), track, source.fps, notes)


def eye_errors(reference: FaceTrack, track: FaceTrack) -> np.ndarray:
    """Per-frame eye-point error (pixels, the mean over both eyes) of ``track`` against
    ``reference``, on frames both know (NaN elsewhere)."""
    n = min(len(reference), len(track))
    ref, got = reference.keypoints[:n, :2], track.keypoints[:n, :2]
    err = np.linalg.norm(ref - got, axis=-1).mean(axis=-1)
    err[~(reference.known[:n] & track.known[:n])] = np.nan
    return err


def contact_sheet(rows: Iterable[np.ndarray], columns: int = 16, marks: np.ndarray | None = None,
                  gap: int = 2) -> np.ndarray:
    """Tile clips (one row each, (T, H, W, 3) uint8) into one RGB image for a look.

    Rows longer than ``columns`` frames are sampled uniformly. ``marks`` (K, 2) are
    points (x, y) drawn as small red crosses on every tile, e.g. where the eyes should
    sit after alignment.
    """
    rows = [np.asarray(r) for r in rows]
    h, w = rows[0].shape[1:3]
    sheet = np.full((len(rows) * (h + gap) + gap, columns * (w + gap) + gap, 3), 255, np.uint8)
    for r, clip in enumerate(rows):
        picks = np.linspace(0, len(clip) - 1, min(columns, len(clip))).round().astype(int)
        for c, i in enumerate(picks):
            tile = clip[i]
            if tile.shape[:2] != (h, w):
                tile = cv2.resize(tile, (w, h))
            tile = np.ascontiguousarray(tile[..., :3] if tile.shape[-1] >= 3
                                        else np.repeat(tile, 3, axis=-1))
            if marks is not None:
                for x, y in np.asarray(marks):
                    cv2.drawMarker(tile, (int(round(x)), int(round(y))), (255, 0, 0),
                                   cv2.MARKER_CROSS, max(3, w // 16), 1)
            y0, x0 = gap + r * (h + gap), gap + c * (w + gap)
            sheet[y0:y0 + h, x0:x0 + w] = tile
    return sheet

"""One face followed through a clip: choice among the detections, keyframes, optical
flow between them, gaps, smoothing.

:func:`track_face` runs detection (:mod:`ferzoo.video.faces.detect`) on the keyframes,
keeps one face per keyframe (:func:`choose_face`), fills the frames between keyframes
(linearly, or with Lucas-Kanade flow), interpolates short gaps and smooths the keypoints
and boxes over time; the result is a :class:`FaceTrack`. :class:`FaceOptions` holds
every setting of these stages.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Sequence

import cv2
import numpy as np

from ferzoo.video.faces.detect import (
    DEFAULT_MIN_CONFIDENCE,
    LEFT_EYE,
    RIGHT_EYE,
    Face,
    FaceDetector,
    NoFaceError,
)
from ferzoo.video.io import FrameSource

# Track states per frame.
MISSING, DETECTED, TRACKED, FILLED = 0, 1, 2, 3
STATE_NAMES = {MISSING: "missing", DETECTED: "detected", TRACKED: "tracked", FILLED: "filled"}

CHOICES = ("track", "largest", "central")
BETWEEN = ("linear", "flow")
LONG_GAP_POLICIES = ("skip", "drop", "fill")


# --------------------------------------------------------------------------- choice


def box_iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two (x1, y1, x2, y2) boxes."""
    x1, y1 = max(a[0], b[0]), max(a[1], b[1])
    x2, y2 = min(a[2], b[2]), min(a[3], b[3])
    inter = max(0.0, x2 - x1) * max(0.0, y2 - y1)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


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
    if dist[best] <= max_jump or box_iou(faces[best].box, previous.box) > 0.3:
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
                    at_b = track.keypoints[b]
                    eyes = np.linalg.norm(at_b[RIGHT_EYE] - at_b[LEFT_EYE])
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


def eye_errors(reference: FaceTrack, track: FaceTrack) -> np.ndarray:
    """Per-frame eye-point error (pixels, the mean over both eyes) of ``track`` against
    ``reference``, on frames both know (NaN elsewhere)."""
    n = min(len(reference), len(track))
    ref, got = reference.keypoints[:n, :2], track.keypoints[:n, :2]
    err = np.linalg.norm(ref - got, axis=-1).mean(axis=-1)
    err[~(reference.known[:n] & track.known[:n])] = np.nan
    return err

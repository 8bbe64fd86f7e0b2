"""Every face of a video, followed frame by frame with stable ids, for streaming.

:class:`MultiFaceTracker` takes frames as they arrive (a file, a camera) and says, for
each frame, which faces are on it: an id (0, 1, ... in order of confirmation), the box,
the five keypoints and the aligned face. Nothing looks ahead, so memory does not grow
with the video.

- **detect** every ``every``-th frame (MTCNN or the fast detector, in batches); in
  between, the keypoints of each face are carried by Lucas-Kanade optical flow.
- **associate** detections with the faces being followed by box overlap (IoU) and the
  mean distance of the keypoints (in face widths): the cheapest pairs first, a pair
  only when the boxes overlap (IoU >= ``min_iou``) or the keypoints are within half a
  face width.
- **confirm**: a new face gets its id after ``confirm`` detections (a one-frame false
  positive gets none).
- **lose**: a face not matched for more than ``max_lost`` frames is lost; its
  appearance signature (:func:`appearance_signature`: a hue-saturation histogram and
  local-binary-pattern histograms of the aligned face) is kept for ``reid_frames``
  frames. A new face whose signature matches a lost one (Bhattacharyya similarity >=
  ``reid_threshold``, less ``reid_near_bonus`` where it reappears within a face width
  of where it was lost; the best match) takes the lost face's id back: a face that turns
  away or is hidden for a while keeps its id.
- **smooth** the keypoints with a causal exponential average (reset on fast motion).

Faces smaller than ``min_face_size`` pixels (box width) are ignored; at most
``max_faces`` are followed at once (the largest first).
"""

from __future__ import annotations

import dataclasses
import time
from typing import Iterable, Iterator, Sequence

import cv2
import numpy as np

from ferzoo.video.faces.align import align_face
from ferzoo.video.faces.detect import LEFT_EYE, RIGHT_EYE, Face
from ferzoo.video.faces.track import box_iou

SIGNATURE_SIZE = 48


def _covered(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection of two boxes over the smaller one's area."""
    x1, y1 = max(a[0], b[0]), max(a[1], b[1])
    x2, y2 = min(a[2], b[2]), min(a[3], b[3])
    inter = max(0.0, x2 - x1) * max(0.0, y2 - y1)
    smaller = min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))
    return float(inter / smaller) if smaller > 0 else 0.0


def _lbp(grey: np.ndarray) -> np.ndarray:
    """8-neighbour local binary pattern codes of the interior pixels (uint8)."""
    g = grey.astype(np.int16)
    centre = g[1:-1, 1:-1]
    code = np.zeros(centre.shape, np.uint8)
    shifts = [(-1, -1), (-1, 0), (-1, 1), (0, 1), (1, 1), (1, 0), (1, -1), (0, -1)]
    h, w = g.shape
    for bit, (dy, dx) in enumerate(shifts):
        neighbour = g[1 + dy:h - 1 + dy, 1 + dx:w - 1 + dx]
        code |= ((neighbour >= centre).astype(np.uint8) << bit)
    return code


def appearance_signature(face: np.ndarray) -> np.ndarray:
    """A colour and texture signature of an aligned face (RGB uint8): a 16 x 8
    hue-saturation histogram of the inner face (the zero padding left out) and a 32-bin
    local-binary-pattern histogram of each quarter of it, each normalised to sum 1
    (256 values: colour first, then the four texture histograms)."""
    face = cv2.resize(face, (SIGNATURE_SIZE, SIGNATURE_SIZE), interpolation=cv2.INTER_AREA)
    m = SIGNATURE_SIZE // 6
    inner = np.ascontiguousarray(face[m:-m, m:-m])
    hsv = cv2.cvtColor(inner, cv2.COLOR_RGB2HSV)
    parts = [cv2.calcHist([hsv], [0, 1], None, [16, 8], [0, 180, 0, 256]).ravel()]
    code = _lbp(cv2.cvtColor(inner, cv2.COLOR_RGB2GRAY)) >> 3
    h, w = code.shape
    for y in range(2):
        for x in range(2):
            cell = code[y * h // 2:(y + 1) * h // 2, x * w // 2:(x + 1) * w // 2]
            parts.append(np.bincount(cell.ravel(), minlength=32).astype(np.float32))
    return np.concatenate([p / max(float(p.sum()), 1e-9) for p in parts]).astype(np.float32)


def signature_similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Mean of the colour histogram's Bhattacharyya coefficient and the texture
    histograms' mean one (1: identical)."""
    colour = float(np.sqrt(a[:128] * b[:128]).sum())
    texture = float(np.sqrt(a[128:] * b[128:]).sum()) / 4
    return (colour + texture) / 2


@dataclasses.dataclass
class FaceOnFrame:
    """One followed face on one frame.

    Attributes:
        id: 0-based face id, stable over the video.
        box: (x1, y1, x2, y2) float.
        keypoints: (5, 2) smoothed keypoints (MTCNN order).
        detected: True where the detector found it on this frame, False where optical
            flow carried it from the previous frame.
        confidence: detector score (NaN on flow-carried frames).
        aligned: the aligned face, (size, size, 3) uint8.
    """

    id: int
    box: np.ndarray
    keypoints: np.ndarray
    detected: bool
    confidence: float
    aligned: np.ndarray | None = None


@dataclasses.dataclass
class _Track:
    key: int
    box: np.ndarray
    keypoints: np.ndarray
    signature: np.ndarray | None = None
    id: int | None = None  # public id, once confirmed
    hits: int = 0
    lost: int = 0  # frames since last seen
    last_frame: int = -1
    seen_now: bool = False
    detected_now: bool = False
    confidence: float = float("nan")

    @property
    def width(self) -> float:
        return max(float(self.box[2] - self.box[0]), 1.0)


@dataclasses.dataclass(frozen=True)
class MultiFaceOptions:
    """How faces are followed (see the module notes).

    Attributes:
        max_faces: most faces followed at once.
        min_face_size: smallest face (box width, frame pixels) followed.
        every: detect on every ``every``-th frame; optical flow in between.
        max_lost: frames a face may go unmatched before it is lost.
        reid_frames: frames a lost face can still be re-identified by appearance.
        reid_threshold: smallest signature similarity for re-identification.
        reid_near_bonus: added to the similarity of a lost face whose last box centre
            is within one face width of the new face's.
        confirm: detections before a new face gets an id.
        min_iou: least box overlap of a match (unless the keypoints are close).
        smoothing: weight of the previous keypoints in the exponential average (0: none).
        align_size: side of the aligned faces (0: no alignment).
    """

    max_faces: int = 4
    min_face_size: int = 20
    every: int = 1
    max_lost: int = 6
    reid_frames: int = 150
    reid_threshold: float = 0.9
    reid_near_bonus: float = 0.05
    confirm: int = 3
    min_iou: float = 0.2
    smoothing: float = 0.4
    align_size: int = 64

    def __post_init__(self):
        if self.max_faces < 1:
            raise ValueError(f"max_faces must be >= 1, got {self.max_faces}")
        if self.every < 1:
            raise ValueError(f"every must be >= 1, got {self.every}")


class MultiFaceTracker:
    """Follow every face of a stream of frames; see the module notes.

    Args:
        detector: a :class:`~ferzoo.video.faces.detect.FaceDetector` or
            :class:`~ferzoo.video.faces.blazeface.BlazeFaceDetector` (anything with
            ``detect_batch(images) -> list[list[Face]]``).
        options: :class:`MultiFaceOptions`.

    Example:
        >>> tracker = MultiFaceTracker(FaceDetector())                 # doctest: +SKIP
        >>> for index, frame, faces in tracker.follow(FrameSource("a.mp4")):
        ...     print(index, [(f.id, f.box) for f in faces])
    """

    def __init__(self, detector, options: MultiFaceOptions = MultiFaceOptions()):
        self.detector, self.options = detector, options
        self.tracks: list[_Track] = []
        self.lost: list[_Track] = []  # confirmed faces lost, kept for re-identification
        self.next_key = 0
        self.next_id = 0
        self.frame_count = 0
        self.reidentified = 0
        self._prev_grey: np.ndarray | None = None
        # seconds spent: detector calls, association/flow/re-identification, alignment
        self.timings = {"detect": 0.0, "track": 0.0, "align": 0.0}

    # ------------------------------------------------------------------ public

    def follow(self, frames: Iterable, batch_size: int | None = None
               ) -> Iterator[tuple[int, np.ndarray, list[FaceOnFrame]]]:
        """``(index, frame, faces)`` for each ``(index, frame)`` (or bare frame) of
        ``frames``; the detector sees the keyframes in batches of ``batch_size``."""
        batch_size = batch_size or getattr(self.detector, "batch_size", 8)
        chunk: list[tuple[int, np.ndarray]] = []
        for position, item in enumerate(frames):
            index, frame = item if isinstance(item, tuple) else (position, item)
            chunk.append((index, frame))
            if len(chunk) >= batch_size * self.options.every:
                yield from self._process(chunk)
                chunk = []
        if chunk:
            yield from self._process(chunk)

    def update(self, frame: np.ndarray, faces: Sequence[Face] | None = None
               ) -> list[FaceOnFrame]:
        """The faces on the next frame; ``faces``: its detections (``None``: carry the
        faces by optical flow, no detection)."""
        started = time.perf_counter()
        grey = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
        for track in self.tracks:
            track.seen_now = track.detected_now = False
        if faces is None:
            self._flow(grey)
        else:
            self._associate(frame, list(faces))
        self._prev_grey = grey
        out = []
        for track in self.tracks:
            if track.seen_now:
                track.lost = 0
                track.last_frame = self.frame_count
            else:
                track.lost += 1
        self._retire()
        aligned_at = time.perf_counter()
        for track in self.tracks:
            if track.seen_now and track.id is not None:
                aligned = None
                if self.options.align_size:
                    aligned, _ = align_face(frame, track.keypoints[LEFT_EYE],
                                            track.keypoints[RIGHT_EYE], self.options.align_size)
                out.append(FaceOnFrame(track.id, track.box.copy(), track.keypoints.copy(),
                                       track.detected_now, track.confidence, aligned))
        done = time.perf_counter()
        self.timings["align"] += done - aligned_at
        for track in self.tracks:
            if track.seen_now and track.id is not None and track.detected_now:
                self._update_signature(track, frame)
        self.timings["track"] += (time.perf_counter() - done) + (aligned_at - started)
        self.frame_count += 1
        return sorted(out, key=lambda f: f.id)

    @property
    def faces_seen(self) -> int:
        """Faces that got an id so far."""
        return self.next_id

    # ---------------------------------------------------------------- internals

    def _process(self, chunk):
        every = self.options.every
        keyframes = [k for k in range(len(chunk)) if (self.frame_count + k) % every == 0]
        started = time.perf_counter()
        detections = self.detector.detect_batch([chunk[k][1] for k in keyframes])
        self.timings["detect"] += time.perf_counter() - started
        found = dict(zip(keyframes, detections))
        for k, (index, frame) in enumerate(chunk):
            yield index, frame, self.update(frame, found.get(k) if k in found else None)

    def _usable(self, faces: list[Face]) -> list[Face]:
        faces = [f for f in faces if f.width >= self.options.min_face_size
                 and np.all(np.isfinite(f.keypoints))
                 and np.linalg.norm(f.keypoints[RIGHT_EYE] - f.keypoints[LEFT_EYE]) > 1.0]
        return sorted(faces, key=lambda f: -f.area)

    def _associate(self, frame: np.ndarray, faces: list[Face]) -> None:
        faces = self._usable(faces)
        pairs = []
        for t, track in enumerate(self.tracks):
            for d, face in enumerate(faces):
                iou = box_iou(track.box, face.box)
                dist = float(np.linalg.norm(track.keypoints - face.keypoints, axis=1).mean()
                             ) / track.width
                if iou >= self.options.min_iou or dist <= 0.5:
                    pairs.append(((1.0 - iou) + dist, t, d))
        used_t, used_d = set(), set()
        for _, t, d in sorted(pairs):
            if t in used_t or d in used_d:
                continue
            used_t.add(t)
            used_d.add(d)
            self._observe(self.tracks[t], faces[d])
        for d, face in enumerate(faces):
            if d in used_d:
                continue
            if len(self.tracks) >= self.options.max_faces:
                break
            if any(_covered(face.box, t.box) > 0.5 for t in self.tracks):
                continue  # a second detection of a face already followed
            track = _Track(self.next_key, face.box.copy(), face.keypoints.copy())
            self.next_key += 1
            self.tracks.append(track)
            self._observe(track, face, first=True)
            self._maybe_confirm(frame, track)
        for track in list(self.tracks):
            if track in self.tracks and track.detected_now and track.id is None:
                self._maybe_confirm(frame, track)

    def _observe(self, track: _Track, face: Face, first: bool = False) -> None:
        a = self.options.smoothing
        jump = float(np.linalg.norm(track.keypoints - face.keypoints, axis=1).max())
        if first or a <= 0 or jump > 0.15 * track.width:
            track.keypoints = face.keypoints.copy()
            track.box = face.box.copy()
        else:
            track.keypoints = a * track.keypoints + (1 - a) * face.keypoints
            track.box = a * track.box + (1 - a) * face.box
        track.hits += 1
        track.seen_now = track.detected_now = True
        track.confidence = float(face.confidence)

    def _maybe_confirm(self, frame: np.ndarray, track: _Track) -> None:
        if track.id is not None or track.hits < self.options.confirm:
            return
        # A face coming back: the lost face it looks most like, if alike enough (a
        # lower bar where it reappears near where it was lost).
        # Candidates: the faces lost, and those followed but missing on this frame (a
        # face that moved too far for the geometric match while its old track lives on).
        candidates = self.lost + [t for t in self.tracks if t.id is not None
                                  and not t.seen_now and t.signature is not None]
        if candidates:
            aligned, _ = align_face(frame, track.keypoints[LEFT_EYE],
                                    track.keypoints[RIGHT_EYE], SIGNATURE_SIZE)
            signature = appearance_signature(aligned)
            scores = []
            for old in candidates:
                score = signature_similarity(signature, old.signature)
                near = np.linalg.norm((track.box[:2] + track.box[2:]) / 2
                                      - (old.box[:2] + old.box[2:]) / 2) <= old.width
                scores.append(score + (self.options.reid_near_bonus if near else 0.0))
            best = int(np.argmax(scores))
            if scores[best] >= self.options.reid_threshold:
                old = candidates[best]
                if old in self.lost:
                    self.lost.remove(old)
                else:
                    self.tracks.remove(old)
                track.id, track.signature = old.id, old.signature
                self.reidentified += 1
                return
        track.id = self.next_id
        self.next_id += 1

    def _update_signature(self, track: _Track, frame: np.ndarray) -> None:
        aligned, _ = align_face(frame, track.keypoints[LEFT_EYE], track.keypoints[RIGHT_EYE],
                                SIGNATURE_SIZE)
        signature = appearance_signature(aligned)
        if track.signature is None:
            track.signature = signature
        else:
            track.signature = 0.9 * track.signature + 0.1 * signature

    def _flow(self, grey: np.ndarray) -> None:
        if self._prev_grey is None:
            return
        for track in self.tracks:
            if track.lost > 0:
                continue
            pts = track.keypoints.reshape(-1, 1, 2).astype(np.float32)
            moved, status, _ = cv2.calcOpticalFlowPyrLK(
                self._prev_grey, grey, pts, None, winSize=(21, 21), maxLevel=3,
                criteria=(cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 20, 0.03))
            if status is None or not status.all():
                continue
            moved = moved.reshape(-1, 2).astype(np.float64)
            shift = np.median(moved - track.keypoints, axis=0)
            track.keypoints = moved
            track.box = track.box + np.tile(shift, 2)
            track.seen_now = True
            track.confidence = float("nan")

    def _retire(self) -> None:
        keep = []
        for track in self.tracks:
            if track.lost <= self.options.max_lost:
                keep.append(track)
            elif track.id is not None and track.signature is not None:
                self.lost.append(track)
        self.tracks = keep
        horizon = self.frame_count - self.options.reid_frames
        self.lost = [t for t in self.lost if t.last_frame >= horizon]

    def active_ids(self) -> set[int]:
        """Ids of the faces followed now (seen within ``max_lost`` frames)."""
        return {t.id for t in self.tracks if t.id is not None}

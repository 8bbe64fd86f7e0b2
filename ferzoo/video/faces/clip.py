"""The whole clip: track its face, refine the keypoints on level faces, align every
frame (:func:`align_clip`), and a contact sheet of aligned clips for a look.
"""

from __future__ import annotations

import dataclasses
from typing import Iterable

import cv2
import numpy as np

from ferzoo.video.faces.align import (
    CROP_ABOVE,
    CROP_BELOW,
    CROP_WIDTH,
    align_face,
    aligned_eye_positions,
    transform_points,
)
from ferzoo.video.faces.detect import LEFT_EYE, RIGHT_EYE, FaceDetector, NoFaceError
from ferzoo.video.faces.track import FaceOptions, FaceTrack, smooth_track, track_face
from ferzoo.video.io import FrameSource


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

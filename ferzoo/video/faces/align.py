"""Eye alignment: rotate a face so its eyes are level, crop a rectangle set by the
eye distance, zero-pad it to a square and resize it, as STC-NLSTM prepares its input
(Yu et al. 2018, Sec. 4.1); and the plain square resize for clips already cropped.
"""

from __future__ import annotations

import math
from typing import Sequence

import cv2
import numpy as np

# Crop geometry, in eye distances d, after rotating the eyes level. STC-NLSTM keeps
# the eye distance fixed but does not give the rectangle's proportions: **decision**:
# 2.2 d wide centred on the eyes, from 1.0 d above to 1.8 d below them (on MTCNN boxes
# of frontal faces the box is ~2.0 d wide, ~0.9 d above and ~1.6 d below the eyes).
CROP_WIDTH, CROP_ABOVE, CROP_BELOW = 2.2, 1.0, 1.8


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

"""Dense optical flow between adjacent frames (OpenCV), for two-stream models (RFSCNN).

Flow is computed on grey versions of the frames and returned in pixels of the input
resolution, ``flow[t, y, x] = (dx, dy)`` mapping frame ``t`` onto frame ``t + 1``.

Methods:
    ``"dis"`` (default): Dense Inverse Search (Kroeger et al., ECCV 2016) with OpenCV's
        ``MEDIUM`` preset: about as fast as Farneback at face-crop sizes (~1.6 ms per
        112x112 pair, docs/design.md#what-the-stack-does-and-does-not-do) and more accurate
        than the ``FAST`` preset, whose coarse
        patches lose small motion on 64x64 crops. Pass ``preset="fast"`` (or
        ``"ultrafast"``) to trade accuracy for speed.
    ``"farneback"``: Farneback's polynomial expansion (SCIA 2003) with OpenCV's usual
        parameters (pyramid scale 0.5, 3 levels, window 15, 3 iterations, poly_n 5,
        poly_sigma 1.2).

TV-L1 (used by many two-stream papers) is only in the opencv-contrib build, which the
project does not install (see docs/design.md#what-the-stack-does-and-does-not-do).
"""

from __future__ import annotations

import cv2
import numpy as np

METHODS = ("dis", "farneback")
DIS_PRESETS = {
    "ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
    "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
    "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
}
FARNEBACK_PARAMS = dict(
    pyr_scale=0.5, levels=3, winsize=15, iterations=3, poly_n=5, poly_sigma=1.2, flags=0
)


def to_grey(frames: np.ndarray) -> np.ndarray:
    """(T, H, W[, C]) uint8 or float in [0, 1] -> (T, H, W) uint8 grey."""
    frames = np.asarray(frames)
    if frames.ndim == 4 and frames.shape[-1] == 1:
        frames = frames[..., 0]
    if frames.ndim == 4 and frames.shape[-1] == 3:
        if frames.dtype != np.uint8:
            frames = _to_uint8(frames)
        return np.stack([cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in frames])
    if frames.ndim != 3:
        raise ValueError(
            f"frames must be (T, H, W), (T, H, W, 1) or (T, H, W, 3), got shape {frames.shape}"
        )
    return frames if frames.dtype == np.uint8 else _to_uint8(frames)


def _to_uint8(frames: np.ndarray) -> np.ndarray:
    frames = frames.astype(np.float32)
    if frames.size and frames.max() <= 1.0:  # float frames in [0, 1]
        frames = frames * 255.0
    return np.clip(np.rint(frames), 0, 255).astype(np.uint8)


def compute_flow(frames: np.ndarray, method: str = "dis", preset: str = "medium") -> np.ndarray:
    """Optical flow between each pair of adjacent frames.

    Args:
        frames: (T, H, W, C) with C in {1, 3} (RGB), or (T, H, W); uint8, or float in
            [0, 1]. T >= 2.
        method: ``"dis"`` or ``"farneback"`` (see the module docstring).
        preset: DIS preset, ``"medium"`` (default), ``"fast"`` or ``"ultrafast"``;
            ignored by Farneback.

    Returns:
        float32 (T-1, H, W, 2): per-pixel (dx, dy) in pixels from frame t to frame t+1.
    """
    if method not in METHODS:
        raise ValueError(
            f"unknown optical-flow method {method!r}; use one of {METHODS} "
            "(TV-L1 needs opencv-contrib, which ferzoo does not install)"
        )
    grey = to_grey(frames)
    if len(grey) < 2:
        raise ValueError(f"optical flow needs at least 2 frames, got {len(grey)}")
    t, h, w = grey.shape
    out = np.empty((t - 1, h, w, 2), np.float32)
    if method == "dis":
        if preset not in DIS_PRESETS:
            raise ValueError(f"unknown DIS preset {preset!r}; use one of {tuple(DIS_PRESETS)}")
        dis = cv2.DISOpticalFlow_create(DIS_PRESETS[preset])
        for i in range(t - 1):
            out[i] = dis.calc(grey[i], grey[i + 1], None)
    else:
        for i in range(t - 1):
            out[i] = cv2.calcOpticalFlowFarneback(grey[i], grey[i + 1], None, **FARNEBACK_PARAMS)
    return out

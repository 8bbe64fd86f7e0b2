"""Optical flow: a translated texture gives a flow equal to the translation."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from ferzoo.video.flow import compute_flow, to_grey


def _translated_pair(dx: float, dy: float, size: int = 64, seed: int = 0) -> np.ndarray:
    """Two RGB frames of a smooth random texture, the second moved by (dx, dy) pixels."""
    rng = np.random.default_rng(seed)
    big = size + 32
    low = rng.uniform(0, 255, (big // 4, big // 4, 3)).astype(np.float32)
    texture = cv2.resize(low, (big, big), interpolation=cv2.INTER_CUBIC)
    moved = cv2.warpAffine(texture, np.float32([[1, 0, dx], [0, 1, dy]]), (big, big),
                           flags=cv2.INTER_LINEAR)
    crop = slice(16, 16 + size)
    return np.clip(np.stack([texture[crop, crop], moved[crop, crop]]), 0, 255).astype(np.uint8)


@pytest.mark.parametrize("method", ["dis", "farneback"])
@pytest.mark.parametrize("shift", [(2.0, -1.0), (-1.5, 0.5)])
def test_translation_gives_constant_flow(method, shift):
    frames = _translated_pair(*shift)
    flow = compute_flow(frames, method=method)
    assert flow.shape == (1, 64, 64, 2) and flow.dtype == np.float32
    inner = flow[0, 8:-8, 8:-8]  # borders see texture that moved in from outside
    np.testing.assert_allclose(np.median(inner.reshape(-1, 2), axis=0), shift, atol=0.1)
    assert np.abs(inner - shift).mean() < 0.2


@pytest.mark.parametrize("method", ["dis", "farneback"])
def test_still_frames_give_zero_flow(method):
    frames = _translated_pair(0.0, 0.0)
    frames = np.concatenate([frames, frames[:1]])  # 3 identical frames
    flow = compute_flow(frames, method=method)
    assert flow.shape == (2, 64, 64, 2)
    assert np.abs(flow).max() < 0.1 and np.abs(flow).mean() < 0.01


def test_input_layouts_agree():
    frames = _translated_pair(1.0, 1.0)
    grey = to_grey(frames)
    assert grey.shape == (2, 64, 64) and grey.dtype == np.uint8
    reference = compute_flow(frames)
    np.testing.assert_array_equal(compute_flow(grey), reference)
    np.testing.assert_array_equal(compute_flow(grey[..., None]), reference)
    np.testing.assert_array_equal(compute_flow(frames.astype(np.float32) / 255.0), reference)


def test_bad_arguments_are_explained():
    frames = _translated_pair(1.0, 0.0)
    with pytest.raises(ValueError, match="unknown optical-flow method 'tvl1'"):
        compute_flow(frames, method="tvl1")
    with pytest.raises(ValueError, match="unknown DIS preset"):
        compute_flow(frames, preset="slow")
    with pytest.raises(ValueError, match="at least 2 frames"):
        compute_flow(frames[:1])
    with pytest.raises(ValueError, match="frames must be"):
        compute_flow(np.zeros((2, 8, 8, 4), np.uint8))

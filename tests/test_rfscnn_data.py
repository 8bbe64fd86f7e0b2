"""RFSCNN's 16-frame segments (Sec. 3.1): centred trim, padding by copying end frames."""

from __future__ import annotations

import numpy as np
import pytest

from ferzoo.data.sampling import rfscnn_segments, sample_indices, segment_flow_index


@pytest.mark.parametrize("n", [1, 5, 11, 15, 16, 17, 20, 33])
def test_centred_segment(n):
    idx = sample_indices("rfscnn_segment", n, 16).numpy()
    assert idx.shape == (16,)
    if n >= 16:  # drop (n - 16) / 2 frames at each end
        start = (n - 16) // 2
        np.testing.assert_array_equal(idx, np.arange(start, start + 16))
    else:  # copy the first and last frame (16 - n) / 2 times each
        before, after = (16 - n) // 2, 16 - n - (16 - n) // 2
        np.testing.assert_array_equal(
            idx, np.concatenate([[0] * before, np.arange(n), [n - 1] * after]))


def test_training_segment_is_a_random_window():
    starts = {int(sample_indices("rfscnn_segment", 24, 16, training=True).numpy()[0])
              for _ in range(60)}
    assert starts <= set(range(9)) and len(starts) > 3
    for _ in range(5):
        idx = sample_indices("rfscnn_segment", 24, 16, training=True).numpy()
        np.testing.assert_array_equal(np.diff(idx), 1)
    short = sample_indices("rfscnn_segment", 10, 16, training=True).numpy()
    np.testing.assert_array_equal(short, sample_indices("rfscnn_segment", 10, 16).numpy())


@pytest.mark.parametrize("n, count", [(10, 1), (16, 1), (17, 2), (32, 2), (40, 3)])
def test_all_segments_cover_the_clip(n, count):
    segments = rfscnn_segments(n, 16).numpy()
    assert segments.shape == (count, 16)
    assert segments.min() == 0 and segments.max() == n - 1
    assert set(segments.ravel()) == set(range(n))


def test_flow_of_a_padded_segment_is_zero_at_copies():
    idx = sample_indices("rfscnn_segment", 12, 16)  # 2 copies of frame 0, 2 of frame 11
    flow_index, moving = (t.numpy() for t in segment_flow_index(idx))
    assert flow_index.shape == moving.shape == (15,)
    np.testing.assert_array_equal(moving, [False, False] + [True] * 11 + [False, False])
    np.testing.assert_array_equal(flow_index[moving], np.arange(11))

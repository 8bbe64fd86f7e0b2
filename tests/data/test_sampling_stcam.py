"""The ``stcam`` sampling mode: neutral first, peak last, evenly between (Sec. 4.2)."""

from __future__ import annotations

import numpy as np
import pytest

from ferzoo.data.sampling import sample_indices


def _indices(num_frames, frames=7, training=False, apex_index=-1):
    return sample_indices("stcam", num_frames, frames, training, apex_index).numpy().tolist()


@pytest.mark.parametrize("num_frames, expected", [
    (13, [0, 2, 4, 6, 8, 10, 12]),   # onset -> apex (CK+): the last frame is the peak
    (7, [0, 1, 2, 3, 4, 5, 6]),
    (4, [0, 1, 1, 2, 2, 3, 3]),      # shorter than 7: frames repeat, order kept
    (1, [0] * 7),
])
def test_first_and_last_frame_and_even_spacing(num_frames, expected):
    assert _indices(num_frames) == expected


def test_apex_index_is_the_peak_for_onset_apex_offset_clips():
    # MMI-style clip of 25 frames whose apex is the middle frame 12.
    assert _indices(25, apex_index=12) == [0, 2, 4, 6, 8, 10, 12]
    assert _indices(10, apex_index=40) == _indices(10)  # out of range: clamped to last


def test_training_jitters_only_the_frames_between():
    draws = np.array([_indices(61, training=True) for _ in range(30)])
    assert (draws[:, 0] == 0).all() and (draws[:, -1] == 60).all()
    assert (np.diff(draws, axis=1) >= 0).all()
    even = np.arange(7) * 10
    assert (np.abs(draws - even) <= 5).all()
    assert len({tuple(d) for d in draws}) > 1

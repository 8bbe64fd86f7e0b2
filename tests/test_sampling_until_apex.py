"""The ``until_apex`` sampling mode of the hybrid CNN-RNN: the P frames ending at the apex."""

from __future__ import annotations

import numpy as np

from ferzoo.data.sampling import sample_indices


def _idx(num, frames, apex=-1, training=False):
    return sample_indices("until_apex", num, frames, training, apex).numpy().tolist()


def test_window_ends_at_the_apex():
    assert _idx(20, 4, apex=10) == [7, 8, 9, 10]
    assert _idx(20, 4, apex=10, training=True) == [7, 8, 9, 10]
    assert _idx(20, 1, apex=10) == [10]


def test_unknown_or_invalid_apex_means_the_last_frame():
    assert _idx(20, 4) == [16, 17, 18, 19]
    assert _idx(5, 1, apex=9) == [4]


def test_short_windows_repeat_the_first_frame():
    assert _idx(3, 5, apex=1) == [0, 0, 0, 0, 1]
    got = np.array(_idx(12, 16, apex=11))
    assert got.min() == 0 and got.max() == 11 and np.all(np.diff(got) >= 0)

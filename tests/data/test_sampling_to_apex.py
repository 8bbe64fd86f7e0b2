"""The ``to_apex`` sampling mode of the hybrid CNN-RNN: onset to apex, evenly spaced."""

from __future__ import annotations

import numpy as np

from ferzoo.data.sampling import sample_indices


def _idx(num, frames, apex=-1, training=False):
    return sample_indices("to_apex", num, frames, training, apex).numpy().tolist()


def test_spans_the_first_frame_to_the_apex():
    assert _idx(20, 5, apex=12) == [0, 3, 6, 9, 12]
    assert _idx(20, 5, apex=12, training=True) == [0, 3, 6, 9, 12]
    assert _idx(20, 1, apex=12) == [12]


def test_unknown_or_invalid_apex_means_the_last_frame():
    assert _idx(9, 3) == [0, 4, 8]
    assert _idx(5, 1, apex=9) == [4]
    assert _idx(5, 2, apex=-1) == [0, 4]


def test_short_spans_repeat_frames_in_order():
    got = np.array(_idx(4, 8, apex=3))
    assert got[0] == 0 and got[-1] == 3 and np.all(np.diff(got) >= 0)
    assert set(got.tolist()) == {0, 1, 2, 3}


def test_before_apex_is_the_window_of_consecutive_frames_ending_at_the_apex():
    def before(num, frames, apex=-1):
        return sample_indices("before_apex", num, frames, True, apex).numpy().tolist()

    assert before(20, 4, apex=12) == [9, 10, 11, 12]
    assert before(20, 4) == [16, 17, 18, 19]  # unknown apex: the last frame
    assert before(20, 5, apex=2) == [0, 0, 0, 1, 2]  # a short onset repeats frame 0

"""RFSCNN's data: 16-frame segments (Sec. 3.1), centred trim or padding by copying end
frames, and the optical-flow stream of a segment through the pipeline."""

from __future__ import annotations

import numpy as np
import pytest

from ferzoo.data.augment import ZERO_FLOW
from ferzoo.data.pipeline import InputSpec, make_dataset
from ferzoo.data.sampling import rfscnn_segments, sample_indices, segment_flow_index
from tests import fake_datasets


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
    flow_index, still = (t.numpy() for t in segment_flow_index(idx))
    assert flow_index.shape == still.shape == (15,)
    np.testing.assert_array_equal(still, [True, True] + [False] * 11 + [True, True])
    np.testing.assert_array_equal(flow_index[~still], np.arange(11))


@pytest.fixture(scope="module")
def short_flow_clips(tmp_path_factory):
    """5-frame clips whose stored flow is dx = 1 px everywhere."""
    return fake_datasets.make_dataset_dir(tmp_path_factory.mktemp("flow"), subjects=1, clips=2,
                                    test_subjects=1, num_shards=1, flow=True, frames=5)


def test_pipeline_flow_of_a_padded_segment(short_flow_clips):
    spec = InputSpec(frames=8, image_size=16, streams=("flow",), sampling="rfscnn_segment")
    inputs, _ = next(iter(make_dataset(short_flow_clips, spec, training=False, batch_size=2,
                                       split="train", augment={"crop": None})))
    flow = inputs["flow"].numpy()
    assert flow.shape == (2, 7, 16, 16, 3)
    # frames [0, 0, 1, 2, 3, 4, 4, 4]: the pairs (0, 0), (4, 4), (4, 4) do not move
    still = np.array([True, False, False, False, False, True, True])
    np.testing.assert_allclose(flow[:, still], np.broadcast_to(ZERO_FLOW, flow[:, still].shape),
                               atol=1e-6)
    stored = np.array([128 + 16, 128, 16]) / 255.0  # quantize_flow of (1, 0) at scale 16
    np.testing.assert_allclose(flow[:, ~still], np.broadcast_to(stored, flow[:, ~still].shape),
                               atol=1e-6)


def test_rotated_flow_only_stream_fills_with_zero_motion(short_flow_clips):
    spec = InputSpec(frames=5, image_size=16, streams=("flow",), sampling="rfscnn_segment")
    ds = make_dataset(short_flow_clips, spec, training=True, batch_size=2, split="train",
                      augment={"flip": False, "rotate": 30.0, "crop": None}, seed=0)
    for inputs, _ in ds.take(2):
        flow = inputs["flow"].numpy()
        assert flow.shape == (2, 4, 16, 16, 3)
        # dy is 0 in the stored flow and in the corners rotated in: 128/255 everywhere
        np.testing.assert_allclose(flow[..., 1], 128 / 255, atol=1e-5)

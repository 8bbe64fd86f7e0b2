"""Pool3D gives Keras' MaxPool3D / AveragePooling3D values without their TF ops."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from ferzoo.layers import Pool3D
from tests.keras_checks import run_layer_test

CASES = [  # pool_size, strides, padding, T
    ((1, 3, 3), (1, 2, 2), "same", 5),    # the STCAM stem
    ((2, 3, 3), (2, 2, 2), "same", 7),    # STCAM reductions, odd T: one padded step
    ((2, 2, 2), (2, 2, 2), "valid", 6),   # tiling windows: the reshape path
    ((3, 2, 2), (2, 1, 1), "valid", 7),   # overlapping windows in time
    ((3, 1, 1), (1, 1, 1), "same", 4),    # time only
]


@pytest.mark.parametrize("mode", ["max", "average"])
@pytest.mark.parametrize("pool_size, strides, padding, frames", CASES)
def test_pool3d_matches_keras_3d_pooling(mode, pool_size, strides, padding, frames):
    x = np.random.default_rng(0).normal(size=(2, frames, 9, 8, 3)).astype("float32")
    reference_cls = keras.layers.MaxPool3D if mode == "max" else keras.layers.AveragePooling3D
    expected = reference_cls(pool_size, strides, padding=padding)(x).numpy()
    layer = Pool3D(pool_size, strides, padding=padding, mode=mode)
    got = run_layer_test(layer, x, expected.shape)
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-6)


def test_pool3d_saves_and_loads(tmp_path):
    x = np.random.default_rng(1).normal(size=(2, 5, 8, 8, 2)).astype("float32")
    run_layer_test(Pool3D((2, 3, 3), (2, 2, 2), "same"), x, (2, 3, 4, 4, 2), tmp_path)


def test_pool3d_rejects_bad_arguments():
    with pytest.raises(ValueError, match="padding must be 'valid' or 'same'; got 'full'"):
        Pool3D(padding="full")
    with pytest.raises(ValueError, match="mode must be 'max' or 'average'"):
        Pool3D(mode="min")
    with pytest.raises(ValueError, match=r"pool_size must be an int or 3 ints"):
        Pool3D((2, 2))

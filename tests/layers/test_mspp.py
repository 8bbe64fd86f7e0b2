"""MSPPNorm against a direct numpy spatial-pyramid max-pool (Yu et al. 2018, Sec. 3.2.1)."""

from __future__ import annotations

import math

import keras
import numpy as np
import pytest

from ferzoo.layers import MSPPNorm
from tests.keras_checks import run_layer_test


def mspp_reference(x: np.ndarray, levels) -> np.ndarray:
    """Per step, level and bin: the max of the bin's rows and columns, written out in loops.

    Bin i of n over an axis of size a spans floor(i*a/n) .. ceil((i+1)*a/n) (exclusive),
    features ordered level, bin row, bin column, channel.
    """
    batch, steps, height, width, channels = x.shape
    out = np.zeros((batch, steps, channels * sum(n * n for n in levels)), x.dtype)
    for b in range(batch):
        for t in range(steps):
            k = 0
            for n in levels:
                for i in range(n):
                    r0, r1 = math.floor(i * height / n), math.ceil((i + 1) * height / n)
                    for j in range(n):
                        c0, c1 = math.floor(j * width / n), math.ceil((j + 1) * width / n)
                        for c in range(channels):
                            out[b, t, k] = x[b, t, r0:r1, c0:c1, c].max()
                            k += 1
    return out


@pytest.mark.parametrize("size", [8, 9, 13, 16, 21, 32, 64])
def test_5376_values_per_step_for_64_channels_and_equal_to_reference(size):
    x = np.random.default_rng(size).normal(size=(1, 2, size, size, 64)).astype("float32")
    got = keras.ops.convert_to_numpy(MSPPNorm()(x))
    assert got.shape == (1, 2, 5376)  # 64 * (8*8 + 4*4 + 2*2), Table 2
    np.testing.assert_array_equal(got, mspp_reference(x, (8, 4, 2)))


@pytest.mark.parametrize("height,width", [(9, 20), (16, 11), (4, 4)])
def test_non_square_maps_and_other_levels(height, width):
    x = np.random.default_rng(1).normal(size=(2, 3, height, width, 5)).astype("float32")
    got = keras.ops.convert_to_numpy(MSPPNorm(levels=(4, 3, 1))(x))
    np.testing.assert_array_equal(got, mspp_reference(x, (4, 3, 1)))


def test_layer_contract_and_saving(tmp_path):
    x = np.random.default_rng(2).normal(size=(2, 3, 10, 10, 4)).astype("float32")
    got = run_layer_test(
        MSPPNorm(levels=(4, 2, 1)), x, expected_output_shape=(2, 3, 4 * 21), tmp_path=tmp_path
    )
    np.testing.assert_array_equal(got, mspp_reference(x, (4, 2, 1)))


def test_variable_number_of_steps():
    inputs = keras.Input((None, 8, 8, 2))
    model = keras.Model(inputs, MSPPNorm(levels=(2, 1))(inputs))
    for steps in (1, 5):
        x = np.random.default_rng(steps).normal(size=(2, steps, 8, 8, 2)).astype("float32")
        np.testing.assert_array_equal(model(x).numpy(), mspp_reference(x, (2, 1)))


def test_map_smaller_than_finest_level_is_a_clear_error():
    with pytest.raises(ValueError, match=r"need H and W >= 8, got a 7x9 map"):
        MSPPNorm()(np.zeros((1, 2, 7, 9, 3), "float32"))


@pytest.mark.parametrize("levels", [(), 4, (4, 0), (2.5,)])
def test_bad_levels_are_rejected(levels):
    with pytest.raises(ValueError, match="levels"):
        MSPPNorm(levels=levels)

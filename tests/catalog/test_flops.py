"""count_flops against a hand count (1 multiply-add = 2 FLOPs, 1 per bias add)."""

from __future__ import annotations

import keras
import pytest

from ferzoo.catalog.flops import count_flops


def test_count_flops_matches_hand_count_of_conv3d_and_dense():
    inputs = keras.Input((4, 8, 8, 3), name="video")
    x = keras.layers.Conv3D(5, 3, padding="valid")(inputs)  # -> (2, 6, 6, 5)
    x = keras.layers.Flatten()(x)
    outputs = keras.layers.Dense(7)(x)
    model = keras.Model(inputs, outputs)
    positions = 2 * 6 * 6
    conv = 2 * (3 * 3 * 3 * 3) * 5 * positions + 5 * positions  # multiply-adds, bias
    dense = 2 * (positions * 5) * 7 + 7
    assert count_flops(model) == conv + dense


def test_count_flops_is_per_clip_and_ignores_activations():
    inputs = keras.Input((2, 4, 4, 3))
    hidden = keras.layers.Conv3D(4, 1, use_bias=False, activation="relu")(inputs)
    model = keras.Model(inputs, keras.layers.Activation("sigmoid")(hidden))
    assert count_flops(model) == 2 * 3 * 4 * (2 * 4 * 4)


def test_count_flops_needs_static_shapes():
    inputs = keras.Input((None, 8, 8, 3), name="video")
    model = keras.Model(inputs, keras.layers.Conv3D(2, 1)(inputs))
    with pytest.raises(ValueError, match="static input shape; input 'video'"):
        count_flops(model)

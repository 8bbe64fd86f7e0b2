"""STC-NLSTM and its ablations (Yu et al. 2018, Sec. 3, 4.2, Table 2, Fig. 10)."""

from __future__ import annotations

import keras
import numpy as np
import pytest

import ferzoo
from ferzoo.models.stc_nlstm import conv_map_sizes, spatial_max_pool
from tests import runtimes

VARIANTS = ("stc_nlstm", "stc", "stc_lstm", "stc_slstm")


def _shape(model, layer):
    return tuple(model.get_layer(layer).output.shape)


def test_paper_default_builds_at_18x64x64x3_with_table_2_shapes():
    model = ferzoo.build("stc_nlstm")
    assert tuple(model.inputs[0].shape) == (None, 18, 64, 64, 3)
    sizes = {1: 64, 2: 32, 3: 16, 4: 16, 5: 8}  # Table 2, input size of each conv's output
    for j, size in sizes.items():
        assert _shape(model, f"conv{j}") == (None, 18, size, size, 64)
        assert _shape(model, f"mspp{j}") == (None, 18, 5376)
        assert _shape(model, f"t_lstm{j}_2") == (None, 128)
    for j, size in {1: 32, 2: 16, 4: 8}.items():
        assert _shape(model, f"pool{j}") == (None, 18, size, size, 64)
    assert [layer.name for layer in model.layers if layer.name.startswith("bn")] == ["bn1", "bn2"]
    assert _shape(model, "h") == (None, 5, 128)  # (h_1 .. h_5) into the C-LSTM
    assert _shape(model, "c_lstm_2") == (None, 128)
    assert tuple(model.outputs[0].shape) == (None, 6)


def test_ablation_shapes():
    stc = ferzoo.build("stc")
    assert _shape(stc, "flatten") == (None, 18 * 8 * 8 * 64)
    assert not [layer for layer in stc.layers if "mspp" in layer.name or "lstm" in layer.name]

    stc_lstm = ferzoo.build("stc_lstm")
    assert [layer.name for layer in stc_lstm.layers if layer.name.startswith("mspp")] == ["mspp5"]
    assert _shape(stc_lstm, "lstm_1") == (None, 18, 128)
    assert _shape(stc_lstm, "lstm_2") == (None, 128)

    stc_slstm = ferzoo.build("stc_slstm")
    assert _shape(stc_slstm, "mspp_sum") == (None, 18, 5376)
    assert len(stc_slstm.get_layer("mspp_sum").input) == 5
    assert _shape(stc_slstm, "lstm_2") == (None, 128)
    for model in (stc, stc_lstm, stc_slstm):
        assert tuple(model.outputs[0].shape) == (None, 6)


@pytest.mark.parametrize("num_conv_layers", range(1, 8))  # Fig. 10
def test_number_of_conv_layers(num_conv_layers):
    model = ferzoo.build("stc_nlstm", num_conv_layers=num_conv_layers)
    convs = [layer.name for layer in model.layers if layer.__class__.__name__ == "Conv3D"]
    assert len(convs) == num_conv_layers
    sizes = [64, 32, 16, 16, 8, 8, 8][:num_conv_layers]  # no pooling beyond pool4
    for j, size in enumerate(sizes, start=1):
        assert _shape(model, f"conv{j}") == (None, 18, size, size, 64)
        assert _shape(model, f"mspp{j}") == (None, 18, 5376)
    assert _shape(model, "c_lstm_1") == (None, num_conv_layers, 128)
    assert tuple(model.outputs[0].shape) == (None, 6)


def test_single_conv_layer_runs():
    model = ferzoo.build("stc_nlstm", preset="tiny", num_conv_layers=1)
    y = model(np.random.default_rng(0).uniform(size=(2, 4, 32, 32, 3)).astype("float32"))
    np.testing.assert_allclose(keras.ops.convert_to_numpy(y).sum(-1), 1.0, atol=1e-6)


@pytest.mark.parametrize("height,width", [(8, 8), (7, 5), (6, 9)])
def test_spatial_max_pool_is_a_per_frame_2x2_max_pool(height, width):
    x = np.random.default_rng(height).normal(size=(2, 3, height, width, 4)).astype("float32")
    inputs = keras.Input(x.shape[1:])
    got = keras.Model(inputs, spatial_max_pool(inputs, "pool"))(x).numpy()
    h2, w2 = height // 2, width // 2
    expected = np.zeros((2, 3, h2, w2, 4), "float32")
    for i in range(h2):
        for j in range(w2):
            expected[:, :, i, j] = x[:, :, 2 * i:2 * i + 2, 2 * j:2 * j + 2].max(axis=(2, 3))
    np.testing.assert_array_equal(got, expected)


def test_odd_map_sizes_follow_valid_pooling():
    assert conv_map_sizes(34) == [(34, 34), (17, 17), (8, 8), (8, 8), (4, 4)]
    model = ferzoo.build("stc_nlstm", preset="tiny", image_size=(34, 38))
    assert _shape(model, "conv5") == (None, 4, 4, 4, 4)
    assert conv_map_sizes((34, 38))[-1] == (4, 4)


def test_too_small_maps_for_mspp_are_a_clear_error():
    with pytest.raises(ValueError, match=r"conv5 gives 4x4 maps at image_size=32"):
        ferzoo.build("stc_nlstm", image_size=32)
    with pytest.raises(ValueError, match=r"conv5 gives 4x4"):
        ferzoo.build("stc_lstm", image_size=32)
    ferzoo.build("stc", image_size=32)  # no MSPP-norm, so no limit


@pytest.mark.parametrize("name", VARIANTS)
def test_registration(name):
    entry = ferzoo.get_entry(name)
    assert (entry.paper, entry.sampling, entry.recipe) == ("stc_nlstm", "uniform",
                                                          "stc_nlstm_paper")
    assert {"tiny", "cpu"} <= set(entry.presets)
    assert entry.defaults["frames"] == 18 and entry.defaults["image_size"] == 64
    assert entry.defaults["width"] == 64 and entry.defaults["num_conv_layers"] == 5


def test_tiny_model_converts_to_tflite_builtins_only(tmp_path):
    model = ferzoo.build("stc_nlstm", preset="tiny")
    shape = (1,) + tuple(model.inputs[0].shape[1:])
    path = runtimes.export_tflite(model, tmp_path / "stc_nlstm_tiny.tflite")
    ops = runtimes.assert_builtin_ops(path)
    assert {"CONV_3D", "REDUCE_MAX", "MAX_POOL_2D"} <= ops, sorted(ops)
    x = np.random.default_rng(0).uniform(size=shape).astype("float32")
    np.testing.assert_allclose(runtimes.run_tflite(path, x), model(x).numpy(), atol=1e-5)

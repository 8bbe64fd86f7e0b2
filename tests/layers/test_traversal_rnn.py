"""The spatial and temporal recursive layers against plain-Python loops (RFSCNN Sec. 3.3);
the temporal layer's export to TFLite builtins."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from ferzoo.layers import SpatialRecursiveLayer, TemporalRecursiveLayer
from tests import runtimes
from tests.keras_checks import run_layer_test

# Written out again here (not imported) so the test checks the layer against docs/design.md#rfscnn.
NEIGHBOURS = {
    "top_left": [(0, -1), (-1, -1), (-1, 0)],
    "top_right": [(0, 1), (-1, 0), (-1, 1)],
    "bottom_left": [(0, -1), (1, -1), (1, 0)],
    "bottom_right": [(0, 1), (1, 0), (1, 1)],
}
# A visiting order in which every neighbour of a cell comes before it.
ORDER = {
    "top_left": (1, 1),
    "top_right": (1, -1),
    "bottom_left": (-1, 1),
    "bottom_right": (-1, -1),
}


def relu(x):
    return np.maximum(x, 0.0)


def spatial_reference(x, directions, u_k, w_k, b, g, p):
    """Cell-by-cell traversal of every (batch, time) slice.

    x (B, L, h, w, C); per direction r: u_k[r] (C, u), w_k[r] (u, u), b[r] (u,),
    g[r] (K, K_d), p[r] (K_d,). Returns (B, L, u).
    """
    batch, steps, height, width, _ = x.shape
    out = np.zeros((batch, steps, u_k.shape[-1]))
    for n in range(batch):
        for t in range(steps):
            for r, name in enumerate(directions):
                di, dj = ORDER[name]
                rows = range(height) if di > 0 else range(height - 1, -1, -1)
                cols = range(width) if dj > 0 else range(width - 1, -1, -1)
                hidden = {}
                for i in rows:
                    for j in cols:
                        total = np.zeros(u_k.shape[-1])
                        for oi, oj in NEIGHBOURS[name]:
                            if (i + oi, j + oj) in hidden:
                                total += hidden[(i + oi, j + oj)]
                            else:  # only cells outside the grid are unvisited
                                assert not (0 <= i + oi < height and 0 <= j + oj < width)
                        hidden[(i, j)] = relu(x[n, t, i, j] @ u_k[r] + total @ w_k[r] + b[r])
                states = np.stack([hidden[(i, j)] for i in range(height) for j in range(width)])
                s = g[r].T @ states  # (K_d, u): s_l = sum_k G_kl h_k
                out[n, t] += p[r] @ s  # m_t = sum_r P^r s^r
    return out


def _randomise(layer, rng):
    for v in layer.weights:
        v.assign(rng.normal(0.0, 0.4, size=v.shape).astype("float32"))


@pytest.mark.parametrize(
    "directions",
    [("top_left",), ("top_right",), ("bottom_left",), ("bottom_right",),
     ("top_left", "top_right", "bottom_left", "bottom_right")],
    ids=["top_left", "top_right", "bottom_left", "bottom_right", "all"],
)
@pytest.mark.parametrize("grid", [(3, 4), (4, 3)], ids=["3x4", "4x3"])
def test_spatial_layer_matches_cell_loop(directions, grid):
    rng = np.random.default_rng(0)
    height, width = grid
    x = rng.normal(size=(2, 3, height, width, 5)).astype("float32")
    layer = SpatialRecursiveLayer(units=6, projection_size=4, directions=directions)
    layer.build(x.shape)
    _randomise(layer, rng)
    got = keras.ops.convert_to_numpy(layer(x))
    expected = spatial_reference(
        x.astype("float64"), directions,
        *(np.asarray(v, "float64") for v in (
            layer.input_kernel, layer.recurrent_kernel, layer.bias, layer.projection,
            layer.direction_weights,
        )),
    )
    assert np.abs(expected).max() > 1.0  # the recurrence is not dead (ReLU all zero)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("grid", [(1, 1), (1, 5), (5, 1)])
def test_spatial_layer_degenerate_grids(grid):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(1, 2, *grid, 3)).astype("float32")
    layer = SpatialRecursiveLayer(units=4, projection_size=2)
    layer.build(x.shape)
    _randomise(layer, rng)
    expected = spatial_reference(
        x.astype("float64"), layer.directions,
        *(np.asarray(v, "float64") for v in (
            layer.input_kernel, layer.recurrent_kernel, layer.bias, layer.projection,
            layer.direction_weights,
        )),
    )
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer(x)), expected,
                               rtol=1e-4, atol=1e-4)


def temporal_reference(m, layer):
    """Forward and backward ReLU RNNs, projections G (L -> L_d) and o = P^f q^f + P^b q^b."""
    # The layer's own projections and output kernels, and each RNN's R, V and b.
    w = {v.path.split("/")[-1]: np.asarray(v, "float64") for v in layer.weights
         if "_rnn/" not in v.path}
    for side in ("forward", "backward"):
        cell = getattr(layer, f"{side}_rnn").cell
        for name in ("kernel", "recurrent_kernel", "bias"):
            w[f"{side}_{name}"] = np.asarray(getattr(cell, name), "float64")
    batch, steps, _ = m.shape
    out = np.zeros((batch, layer.output_units))
    for side, order in (("forward", range(steps)), ("backward", range(steps - 1, -1, -1))):
        for n in range(batch):
            h = np.zeros(layer.units)
            states = {}
            kernel, recurrent, bias = (w[f"{side}_{name}"]
                                       for name in ("kernel", "recurrent_kernel", "bias"))
            for t in order:
                h = relu(m[n, t] @ kernel + h @ recurrent + bias)
                states[t] = h
            q = np.zeros((layer.projection_size, layer.units))
            for t in range(steps):
                for k in range(layer.projection_size):
                    q[k] += w[f"{side}_projection"][t, k] * states[t]
            out[n] += np.einsum("lu,luo->o", q, w[f"{side}_output_kernel"])
    return out


def test_temporal_layer_matches_numpy_loop():
    rng = np.random.default_rng(2)
    m = rng.normal(size=(3, 7, 5)).astype("float32")
    layer = TemporalRecursiveLayer(units=6, projection_size=3, output_units=4)
    layer.build(m.shape)
    _randomise(layer, rng)
    got = keras.ops.convert_to_numpy(layer(m))
    expected = temporal_reference(m.astype("float64"), layer)
    assert np.abs(expected).max() > 1.0
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)


def test_temporal_backward_rnn_reads_the_future():
    """h^b_1 depends on m_L; h^f_1 does not: o changes when only m_L changes."""
    rng = np.random.default_rng(3)
    layer = TemporalRecursiveLayer(units=4, projection_size=2, output_units=3)
    m = rng.normal(size=(1, 5, 3)).astype("float32")
    layer.build(m.shape)
    _randomise(layer, rng)
    for name in ("forward_projection", "backward_projection"):
        v = getattr(layer, name)
        mask = np.zeros(v.shape, "float32")
        mask[0] = 1.0  # only t = 1 reaches the output
        v.assign(np.asarray(v) * mask)
    m2 = m.copy()
    m2[0, -1] += 5.0
    assert not np.allclose(keras.ops.convert_to_numpy(layer(m)),
                           keras.ops.convert_to_numpy(layer(m2)))
    layer.backward_output_kernel.assign(np.zeros(layer.backward_output_kernel.shape))
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer(m)),
                               keras.ops.convert_to_numpy(layer(m2)), atol=1e-6)


def test_temporal_rnns_are_unrolled_simple_rnns_and_export_to_tflite_builtins(tmp_path):
    """Forward and backward unrolled Keras SimpleRNNs: no WHILE loop, builtin TFLite ops."""
    keras.utils.set_random_seed(6)
    layer = TemporalRecursiveLayer(units=4, projection_size=2, output_units=3)
    for rnn, backwards in ((layer.forward_rnn, False), (layer.backward_rnn, True)):
        assert type(rnn) is keras.layers.SimpleRNN and rnn.unroll
        assert rnn.go_backwards is backwards and rnn.return_sequences
    inputs = keras.Input((5, 3), name="slices")
    model = keras.Model(inputs, layer(inputs))
    m = np.random.default_rng(7).normal(size=(2, 5, 3)).astype("float32")
    expected = keras.ops.convert_to_numpy(model(m))
    assert np.abs(expected).max() > 1e-3
    path = runtimes.export_tflite(model, tmp_path / "temporal.tflite")
    assert "WHILE" not in runtimes.assert_builtin_ops(path)
    np.testing.assert_allclose(runtimes.run_tflite(path, m), expected, atol=1e-5)


def test_layers_shapes_config_and_saving(tmp_path):
    x = np.random.default_rng(4).random((2, 4, 3, 5, 6)).astype("float32")
    spatial = SpatialRecursiveLayer(units=7, projection_size=3, sparsity=1e-3,
                                    directions=("top_left", "bottom_right"))
    run_layer_test(spatial, x, expected_output_shape=(2, 4, 7), tmp_path=tmp_path)
    m = np.random.default_rng(5).random((2, 4, 7)).astype("float32")
    temporal = TemporalRecursiveLayer(units=5, projection_size=2, output_units=9,
                                      sparsity=1e-3)
    run_layer_test(temporal, m, expected_output_shape=(2, 9), tmp_path=tmp_path)


def test_sparsity_adds_l1_penalty_on_projections():
    x = np.ones((1, 2, 3, 3, 2), "float32")
    layer = SpatialRecursiveLayer(units=3, projection_size=2, sparsity=0.01)
    layer(x)
    expected = 0.01 * np.abs(np.asarray(layer.projection)).sum()
    np.testing.assert_allclose(float(sum(layer.losses)), expected, rtol=1e-5)
    assert not SpatialRecursiveLayer(units=3, projection_size=2).losses
    temporal = TemporalRecursiveLayer(units=3, projection_size=2, output_units=2,
                                      sparsity=0.01)
    temporal(np.ones((1, 4, 3), "float32"))
    expected = 0.01 * sum(np.abs(np.asarray(v)).sum()
                          for v in (temporal.forward_projection, temporal.backward_projection))
    np.testing.assert_allclose(float(sum(temporal.losses)), expected, rtol=1e-5)


def test_bad_arguments_say_what_is_wrong():
    with pytest.raises(ValueError, match="directions"):
        SpatialRecursiveLayer(directions=("top_left", "left"))
    with pytest.raises(ValueError, match="static"):
        SpatialRecursiveLayer().build((None, 4, None, 5, 3))

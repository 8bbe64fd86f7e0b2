"""IRNN: initialisation (identity recurrence, N(0, 0.001^2) kernel, zero bias), a numpy
reference of the stacked recurrence, serialisation and TFLite export (builtin ops)."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from ferzoo.layers import IRNN
from ferzoo.layers.irnn import KERNEL_STDDEV
from tests import runtimes
from tests.keras_checks import run_layer_test


def _weights_by_kind(layer):
    """{'kernel': [...], 'recurrent_kernel': [...], 'bias': [...]} in layer order."""
    out = {"kernel": [], "recurrent_kernel": [], "bias": []}
    for variable in layer.weights:  # .../simple_rnn_<i>/simple_rnn_cell/<kind>
        out[variable.path.split("/")[-1]].append(keras.ops.convert_to_numpy(variable))
    return out


def numpy_irnn(x, weights, relu=True, return_sequences=False):
    """Reference: h_t = act(x_t W_in + h_{t-1} W_rec + b), h_0 = 0, layer by layer."""
    act = (lambda v: np.maximum(v, 0.0)) if relu else np.tanh
    seq = x.astype(np.float64)
    for w_in, w_rec, b in zip(weights["kernel"], weights["recurrent_kernel"], weights["bias"]):
        h = np.zeros((x.shape[0], w_in.shape[1]))
        states = []
        for t in range(x.shape[1]):
            h = act(seq[:, t] @ w_in + h @ w_rec + b)
            states.append(h)
        seq = np.stack(states, axis=1)
    return seq if return_sequences else seq[:, -1]


def test_recurrent_matrix_starts_as_identity():
    layer = IRNN(16, num_layers=3)
    layer.build((None, 5, 10))
    recurrent = _weights_by_kind(layer)["recurrent_kernel"]
    assert len(recurrent) == 3
    for matrix in recurrent:
        np.testing.assert_array_equal(matrix, np.eye(16, dtype="float32"))
    scaled = IRNN(4, recurrent_gain=0.5)
    scaled.build((None, 2, 3))
    np.testing.assert_array_equal(_weights_by_kind(scaled)["recurrent_kernel"][0], 0.5 * np.eye(4))


def _check_normal(kernel, stddev):
    n = kernel.size
    assert abs(kernel.mean()) < 5 * stddev / np.sqrt(n)
    assert kernel.std() == pytest.approx(stddev, rel=0.03)
    # A normal, not a uniform: ~68.3% of the values lie within one stddev.
    assert np.mean(np.abs(kernel) < stddev) == pytest.approx(0.683, abs=0.01)


def test_kernel_is_normal_with_stddev_0_001_and_bias_is_zero():
    keras.utils.set_random_seed(1)
    layer = IRNN(200, num_layers=3)
    layer.build((None, 4, 300))
    weights = _weights_by_kind(layer)
    assert KERNEL_STDDEV == 0.001
    assert [k.shape for k in weights["kernel"]] == [(300, 200), (200, 200), (200, 200)]
    _check_normal(weights["kernel"][0], KERNEL_STDDEV)  # 60,000 samples
    # Between stacked layers: He-normal / sqrt(T) = sqrt(2 / (200 * 4)).
    for kernel in weights["kernel"][1:]:
        _check_normal(kernel, np.sqrt(2 / (200 * 4)))
    for bias in weights["bias"]:
        np.testing.assert_array_equal(bias, 0.0)
    all_small = IRNN(200, num_layers=2, hidden_kernel_stddev=0.001)
    all_small.build((None, 4, 300))
    _check_normal(_weights_by_kind(all_small)["kernel"][1], 0.001)


def test_stacked_layers_keep_the_signal_scale():
    """With the default initialisation a deep stack neither vanishes nor explodes."""
    keras.utils.set_random_seed(2)
    x = np.abs(np.random.default_rng(0).normal(size=(64, 8, 200))).astype("float32")
    first = _np_mean_abs(IRNN(150, num_layers=1)(x))
    deep = _np_mean_abs(IRNN(150, num_layers=6)(x))
    assert 0.1 < deep / first < 10, (first, deep)
    tiny = _np_mean_abs(IRNN(150, num_layers=6, hidden_kernel_stddev=0.001)(x))
    assert tiny / first < 1e-6  # the all-0.001 stack: the signal is gone


def _np_mean_abs(tensor):
    return float(np.mean(np.abs(keras.ops.convert_to_numpy(tensor))))


@pytest.mark.parametrize("relu", [True, False])
@pytest.mark.parametrize("return_sequences", [True, False])
def test_matches_numpy_reference(relu, return_sequences):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 6, 5)).astype("float32")
    layer = IRNN(4, num_layers=3, relu=relu, return_sequences=return_sequences)
    layer.build(x.shape)
    # Random weights everywhere (the identity/zero init would hide transposition bugs).
    layer.set_weights([rng.normal(scale=0.5, size=w.shape).astype("float32")
                       for w in layer.get_weights()])
    got = keras.ops.convert_to_numpy(layer(x))
    expected = numpy_irnn(x, _weights_by_kind(layer), relu, return_sequences)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


def test_identity_start_accumulates_input():
    """At initialisation a ReLU IRNN sums its (projected, non-negative) inputs over time."""
    x = np.abs(np.random.default_rng(2).normal(size=(2, 7, 3))).astype("float32")
    layer = IRNN(3, return_sequences=True)
    layer.build(x.shape)
    layer.set_weights([np.eye(3, dtype="float32"), np.eye(3, dtype="float32"),
                       np.zeros(3, "float32")])
    got = keras.ops.convert_to_numpy(layer(x))
    np.testing.assert_allclose(got, np.cumsum(x, axis=1), rtol=1e-6)


def test_layer_contract(tmp_path):
    x = np.random.default_rng(3).normal(size=(2, 4, 6)).astype("float32")
    run_layer_test(IRNN(5, num_layers=2, relu=False), x, (2, 5), tmp_path=tmp_path)
    run_layer_test(
        IRNN(5, return_sequences=True, kernel_regularizer="l2"), x, (2, 4, 5), tmp_path=None
    )


def test_recurrences_are_unrolled_simple_rnns_and_export_to_tflite_builtins(tmp_path):
    """One unrolled Keras SimpleRNN per layer: no WHILE loop, builtin TFLite ops only."""
    keras.utils.set_random_seed(4)
    layer = IRNN(4, num_layers=2, kernel_stddev=0.3)
    assert len(layer.rnns) == 2
    for rnn in layer.rnns:
        assert type(rnn) is keras.layers.SimpleRNN and rnn.unroll
    inputs = keras.Input((5, 3), name="features")
    model = keras.Model(inputs, layer(inputs))
    x = np.abs(np.random.default_rng(5).normal(size=(2, 5, 3))).astype("float32")
    expected = keras.ops.convert_to_numpy(model(x))
    assert np.abs(expected).max() > 1e-3  # not an all-zero ReLU output
    path = runtimes.export_tflite(model, tmp_path / "irnn.tflite")
    assert "WHILE" not in runtimes.assert_builtin_ops(path)
    np.testing.assert_allclose(runtimes.run_tflite(path, x), expected, atol=1e-5)


def test_rejects_dynamic_time_and_bad_sizes():
    with pytest.raises(ValueError, match="static time axis"):
        IRNN(4).build((None, None, 8))
    with pytest.raises(ValueError, match="units >= 1"):
        IRNN(0)

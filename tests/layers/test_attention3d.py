"""The 3D attention layers against independent numpy computations (STCAM Sec. 3.2)."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from ferzoo.layers import STCAM, ChannelAttention3D, NonLocalBlock3D, SpatioTemporalAttention
from tests.keras_checks import run_layer_test

SHAPE = (2, 3, 6, 5, 8)  # (B, T, H, W, C)


def _x(seed=0, shape=SHAPE):
    return np.random.default_rng(seed).normal(size=shape).astype("float32")


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _randomise(layer, seed=1):
    """Give every weight random values (biases and BN statistics included)."""
    rng = np.random.default_rng(seed)
    for v in layer.weights:
        value = rng.normal(scale=0.5, size=v.shape)
        if "variance" in v.path:
            value = np.abs(value) + 0.5
        v.assign(value.astype("float32"))


def _np_cam(x, layer):
    w1, b1 = layer.hidden_dense.kernel.numpy(), layer.hidden_dense.bias.numpy()
    w2, b2 = layer.output_dense.kernel.numpy(), layer.output_dense.bias.numpy()
    mlp = lambda v: np.maximum(v @ w1 + b1, 0.0) @ w2 + b2  # noqa: E731
    b, c = x.shape[0], x.shape[-1]
    flat = x.reshape(b, -1, c)
    weights = _sigmoid(mlp(flat.mean(1)) + mlp(flat.max(1))).reshape(b, 1, 1, 1, c)
    return x * weights, weights


def _np_conv3d_same(x, kernel, bias):
    """Stride-1 "same" 3D convolution (odd kernels), channels_last."""
    kt, kh, kw, _, out = kernel.shape
    b, t, h, w, _ = x.shape
    p = np.pad(x, ((0, 0), (kt // 2,) * 2, (kh // 2,) * 2, (kw // 2,) * 2, (0, 0)))
    y = np.zeros((b, t, h, w, out))
    for i in range(kt):
        for j in range(kh):
            for k in range(kw):
                y += p[:, i:i + t, j:j + h, k:k + w] @ kernel[i, j, k]
    return y + bias


def _np_stam(x, layer):
    descriptors = np.concatenate([x.mean(-1, keepdims=True), x.max(-1, keepdims=True)], -1)
    weights = _sigmoid(_np_conv3d_same(descriptors, layer.conv.kernel.numpy(),
                                       layer.conv.bias.numpy()))
    return x * weights, weights


def test_channel_attention_matches_numpy(tmp_path):
    x = _x()
    layer = ChannelAttention3D(reduction=4)
    run_layer_test(layer, x, SHAPE, tmp_path)
    _randomise(layer)
    y, m = layer(x, return_attention=True)
    y_ref, m_ref = _np_cam(x, layer)
    assert layer.hidden_dense.units == 2  # C // r
    np.testing.assert_allclose(m.numpy(), m_ref, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(y.numpy(), y_ref, rtol=1e-5, atol=1e-5)


def test_channel_attention_hidden_width_is_at_least_one():
    layer = ChannelAttention3D(reduction=16)
    layer(_x())
    assert layer.hidden_dense.units == 1  # 8 // 16 == 0 -> 1


def test_spatiotemporal_attention_matches_numpy(tmp_path):
    x = _x(2)
    layer = SpatioTemporalAttention((3, 5, 3))
    run_layer_test(layer, x, SHAPE, tmp_path)
    _randomise(layer)
    y, m = layer(x, return_attention=True)
    y_ref, m_ref = _np_stam(x, layer)
    assert m.shape == SHAPE[:-1] + (1,)
    np.testing.assert_allclose(m.numpy(), m_ref, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(y.numpy(), y_ref, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("order", ["cam_stam", "stam_cam"])
def test_stcam_is_cam_and_stam_in_sequence(order, tmp_path):
    x = _x(3)
    layer = STCAM(reduction=2, kernel_size=(3, 3, 3), order=order)
    run_layer_test(layer, x, SHAPE, tmp_path)
    _randomise(layer)
    y, mc, mst = layer(x, return_attention=True)
    cam, stam = layer.channel_attention, layer.spatiotemporal_attention
    if order == "cam_stam":
        z, mc_ref = _np_cam(x, cam)
        y_ref, mst_ref = _np_stam(z, stam)
    else:
        z, mst_ref = _np_stam(x, stam)
        y_ref, mc_ref = _np_cam(z, cam)
    np.testing.assert_allclose(mc.numpy(), mc_ref, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(mst.numpy(), mst_ref, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(y.numpy(), y_ref, rtol=1e-5, atol=1e-5)


def _np_softmax(a):
    e = np.exp(a - a.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def _np_conv1(x, conv):
    return x @ conv.kernel.numpy()[0, 0, 0] + conv.bias.numpy()


@pytest.mark.parametrize("mode", ["gaussian", "embedded_gaussian"])
def test_nonlocal_block_matches_numpy(mode, tmp_path):
    x = _x(4) * 0.3
    layer = NonLocalBlock3D(mode, inter_channels=3)
    run_layer_test(layer, x, SHAPE, tmp_path)
    _randomise(layer)
    y, a = layer(x, return_attention=True)
    b, t, h, w, c = x.shape
    n = t * h * w
    flat = x.reshape(b, n, c)
    if mode == "gaussian":
        query = key = flat
    else:
        query, key = _np_conv1(flat, layer.theta), _np_conv1(flat, layer.phi)
    a_ref = _np_softmax(query @ key.transpose(0, 2, 1))
    z = _np_conv1(a_ref @ _np_conv1(flat, layer.g), layer.w_z)
    bn = layer.batchnorm
    z = (z - bn.moving_mean.numpy()) / np.sqrt(bn.moving_variance.numpy() + bn.epsilon)
    z = z * bn.gamma.numpy() + bn.beta.numpy()
    assert a.shape == (b, n, n)
    np.testing.assert_allclose(a.numpy(), a_ref, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(y.numpy(), (z + flat).reshape(x.shape), rtol=1e-4, atol=1e-4)


def test_nonlocal_zero_init_starts_as_identity():
    x = _x(5)
    y = NonLocalBlock3D("embedded_gaussian", zero_init=True)(x)
    np.testing.assert_allclose(y.numpy(), x, atol=1e-6)


def test_attention_maps_are_exposed_in_a_functional_graph():
    inputs = keras.Input(SHAPE[1:])
    outputs, mc, mst = STCAM(reduction=2)(inputs, return_attention=True)
    model = keras.Model(inputs, [outputs, mc, mst])
    got = model(_x(6))
    assert [tuple(g.shape) for g in got] == [SHAPE, (2, 1, 1, 1, 8), SHAPE[:-1] + (1,)]


@pytest.mark.parametrize("kwargs, match", [
    (dict(order="both"), "order must be one of"),
    (dict(kernel_size=(3, 3)), r"kernel_size must be \(time, height, width\)"),
])
def test_bad_arguments_say_what_is_wrong(kwargs, match):
    with pytest.raises(ValueError, match=match):
        STCAM(**kwargs)

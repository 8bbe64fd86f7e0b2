"""The rewrites that keep a traced graph builtin-only and quantisable in TFLite.

While tracing for TFLite (:func:`ferzoo.export.tflite.convert_tflite`), Keras RNN layers
are unrolled over the fixed T (a WHILE loop crashes int8 calibration), and Conv3D layers
run as one CONV_2D over their stacked temporal taps (TFLite's CONV_3D has no int8 kernel,
so a Conv3D network would otherwise stay float in "int8"; the rewrite is exact and also
faster on CPU). Every rewrite computes the same function with the same variables, and is
undone when the trace is done.
"""

from __future__ import annotations

import contextlib
import types

import keras
import numpy as np


@contextlib.contextmanager
def tflite_rewrites(model: keras.Model):
    """While tracing for TFLite: Keras LSTMs as a compact unrolled loop, other Keras RNN
    layers unrolled, and Conv3D as CONV_2D.

    Every rewrite computes the same function with the same variables; they are undone
    on exit. Yields the list of notes describing what was rewritten.
    """
    layers = all_layers(model)
    lstms = [layer for layer in layers
             if type(layer) is keras.layers.LSTM and not layer.stateful]
    rnns = [layer for layer in layers
            if isinstance(layer, keras.layers.RNN) and not layer.unroll and layer not in lstms]
    convs = [
        layer for layer in layers
        if type(layer) is keras.layers.Conv3D
        if tuple(layer.dilation_rate) == (1, 1, 1)
        if layer.groups == 1
        if layer.data_format == "channels_last"
    ]
    notes = []
    if lstms:
        notes.append(f"{len(lstms)} LSTM layer(s) unrolled over T, gates fused")
    if rnns:
        notes.append(f"{len(rnns)} RNN layer(s) unrolled over T")
    if convs:
        notes.append(f"{len(convs)} Conv3D layer(s) run as CONV_2D over stacked time taps")
    try:
        for layer in rnns:
            layer.unroll = True
        # Instance attributes shadow the class methods for this trace only.
        for layer in lstms:
            object.__setattr__(layer, "call", types.MethodType(_lstm_unrolled, layer))
        for layer in convs:
            object.__setattr__(layer, "convolution_op", types.MethodType(_conv3d_as_conv2d, layer))
        yield notes
    finally:
        for layer in rnns:
            layer.unroll = False
        for layer in lstms:
            object.__delattr__(layer, "call")
        for layer in convs:
            object.__delattr__(layer, "convolution_op")


def _lstm_unrolled(layer, sequences, initial_state=None, mask=None, training=False):
    """A Keras LSTM over a fixed T as a Python loop of few ops per step.

    The input projection of every step is one matmul; the gate columns are reordered
    from Keras' (i, f, g, o) to (i, f, o | g) so each step takes one sigmoid over
    i, f, o and one tanh over g. Same function, about a third fewer TFLite ops and
    tensors than Keras' own unrolling (a smaller file, most of all in int8).
    """
    if mask is not None:  # masked steps: Keras' own (unrolled) implementation
        layer.unroll = True
        try:
            return type(layer).call(layer, sequences, initial_state=initial_state,
                                    mask=mask, training=training)
        finally:
            layer.unroll = False
    ops = keras.ops
    cell, units = layer.cell, layer.cell.units
    order = np.concatenate([np.arange(0, 2 * units), np.arange(3 * units, 4 * units),
                            np.arange(2 * units, 3 * units)])
    kernel = ops.take(cell.kernel, order, axis=1)
    recurrent = ops.take(cell.recurrent_kernel, order, axis=1)
    x = sequences[:, ::-1] if layer.go_backwards else sequences
    projected = ops.matmul(x, kernel)  # (B, T, 4U)
    if cell.use_bias:
        projected = projected + ops.take(cell.bias, order)
    if initial_state is None:
        h = c = ops.zeros_like(projected[:, 0, :units])
    else:
        h, c = initial_state
    outputs = []
    for step in ops.unstack(projected, axis=1):
        z = step + ops.matmul(h, recurrent)
        sigmoid_part, tanh_part = ops.split(z, [3 * units], axis=-1)
        i, f, o = ops.split(cell.recurrent_activation(sigmoid_part), 3, axis=-1)
        c = f * c + i * cell.activation(tanh_part)
        h = o * cell.activation(c)
        outputs.append(h)
    output = ops.stack(outputs, axis=1) if layer.return_sequences else h
    return [output, h, c] if layer.return_state else output


def _conv3d_as_conv2d(layer, inputs, kernel):
    """Conv3D (channels_last, no dilation) as one 2D convolution.

    The ``kt`` temporal taps of every output step are stacked along channels and
    convolved with the kernel reshaped to (kh, kw, kt*C, F): the same sum, in an op
    TFLite quantises.
    """
    kt, kh, kw, cin, cout = kernel.shape
    st, sh, sw = layer.strides
    _, t, h, w, _ = inputs.shape
    if layer.padding == "same":
        t_out = -(-t // st)
        total = max((t_out - 1) * st + kt - t, 0)  # TF's SAME split: extra at the end
        inputs = keras.ops.pad(
            inputs, [[0, 0], [total // 2, total - total // 2], [0, 0], [0, 0], [0, 0]]
        )
    else:
        t_out = (t - kt) // st + 1
    taps = [inputs[:, dt: dt + st * (t_out - 1) + 1: st] for dt in range(kt)]
    x = taps[0] if kt == 1 else keras.ops.concatenate(taps, axis=-1)  # (B, T', H, W, kt*C)
    x = keras.ops.reshape(x, (-1, h, w, kt * cin))
    k = keras.ops.reshape(keras.ops.transpose(kernel, (1, 2, 0, 3, 4)), (kh, kw, kt * cin, cout))
    y = keras.ops.conv(x, k, strides=(sh, sw), padding=layer.padding)  # (B*T', H', W', F)
    return keras.ops.reshape(y, (-1, t_out, *y.shape[1:]))


def all_layers(model: keras.Model) -> list[keras.layers.Layer]:
    """Every layer inside ``model``, nested ones included (not the model itself)."""
    return list(model._flatten_layers(include_self=False, recursive=True))

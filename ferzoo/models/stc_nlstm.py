"""STC-NLSTM: spatio-temporal convolutional features with nested LSTM (Yu et al. 2018).

A 3DCNN extracts spatio-temporal features; MSPP-norm turns every conv layer's output into
a ``(T, C * sum(n*n))`` sequence; a T-LSTM per conv layer summarises that layer's
sequence into ``h_j``; the C-LSTM runs across the layers' ``h_1 .. h_I`` and a softmax
classifies its final state (Sec. 3, Fig. 2 and 4, Table 2)::

    video (B, T, 64, 64, 3)
      conv1-BN-ReLU -> mspp1 -> T-LSTM1 -> h1     (T, 64, 64, 64) -> (T, 5376) -> (128,)
      pool1 1x2x2
      conv2-BN-ReLU -> mspp2 -> T-LSTM2 -> h2     (T, 32, 32, 64)
      pool2 1x2x2
      conv3-ReLU    -> mspp3 -> T-LSTM3 -> h3     (T, 16, 16, 64)
      conv4-ReLU    -> mspp4 -> T-LSTM4 -> h4     (T, 16, 16, 64)
      pool4 1x2x2
      conv5-ReLU    -> mspp5 -> T-LSTM5 -> h5     (T, 8, 8, 64)
    (h1 .. h5) (B, 5, 128) -> C-LSTM -> o (B, 128) -> softmax

The ablations of Sec. 4.2 are registered beside it: ``stc`` (3DCNN only), ``stc_lstm``
(last conv's MSPP sequence -> LSTM) and ``stc_slstm`` (sum of all layers' MSPP sequences
-> LSTM). They share the 3DCNN and "the same parametric configuration" (Sec. 4.2).

Choices the paper leaves open (decisions, also in docs/design.md#stc-nlstm):

- LSTMs: 128 units; "two-level" (Sec. 4.2) = two stacked LSTM layers, for the T-LSTMs, the
  C-LSTM and the ablations' LSTM alike. Keras LSTMs with ``unroll=True`` (T is static):
  unrolled RNNs convert to TFLite builtins and quantise to int8
  (docs/design.md#what-the-stack-does-and-does-not-do).
- Number of conv layers (Fig. 10 varies it from 1 to 7): layer ``j`` is a 3x3x3 conv of
  ``width`` filters with ReLU; BN after conv1 and conv2 only, as in Table 2; 1x2x2
  pooling after the layers in ``pool_after`` (Table 2: 1, 2, 4) that are followed by
  another conv. Layers 6 and 7 therefore run at conv5's resolution (8x8 at 64x64 input):
  a fourth pooling would leave 4x4 maps, too small for the 8x8 MSPP level.
- Dropout: the paper names none (it regularises with weight decay 0.0015), so
  ``dropout=0.0``; when set, it is applied to the feature vector before the classifier.
- STC's "FC" (Sec. 4.2; the 3DCNN string ends in "FC18"): the flattened last conv
  output feeds one Dense layer with softmax (the classifier itself).
- Init: Xavier (glorot_uniform) for every conv, dense and LSTM input kernel (Sec. 4.2);
  LSTM recurrent kernels keep Keras' orthogonal default.
"""

from __future__ import annotations

import functools
from typing import Sequence

import keras

from ferzoo.layers import MSPPNorm
from ferzoo.registry import Paper, register_model

PAPER = Paper(
    "stc_nlstm",
    "Yu et al. 2018, Spatio-temporal convolutional features with nested LSTM for facial "
    "expression recognition (Neurocomputing)",
)

FRAMES = 18  # Table 2 (CK+'s mean length; 22 for Oulu-CASIA and MMI, Sec. 4.1)
IMAGE_SIZE = 64  # Table 2
CHANNELS = 3  # Table 2
WIDTH = 64  # Table 2: C(3, 64) in every conv layer
NUM_CONV_LAYERS = 5  # Table 2: conv1 .. conv5
LEVELS = (8, 4, 2)  # Table 2: mspp [8, 4, 2]
POOL_AFTER = (1, 2, 4)  # Table 2: pool1, pool2, pool4 (1x2x2, stride 1x2x2)
BATCH_NORM_AFTER = (1, 2)  # Sec. 4.2: C(3,64)-BN-P2-C(3,64)-BN-P2-C(3,64)-C(3,64)-P2-C(3,64)
LSTM_UNITS = 128  # decision (docs/design.md#stc-nlstm): the paper gives no size
LSTM_LAYERS = 2  # Sec. 4.2: "a two-level LSTM architecture" for T-LSTM and C-LSTM
INIT = "glorot_uniform"  # Sec. 4.2: "xavier" initialisation

TINY = dict(frames=4, image_size=32, width=4, levels=(4, 2, 1), lstm_units=8)
# Reduced width and resolution for a short run on a 2-core CPU (docs/models/stc_nlstm.md
# gives its measured results).
CPU = dict(frames=12, image_size=32, width=16, levels=(4, 2, 1), lstm_units=64)


def _pair(image_size) -> tuple[int, int]:
    if isinstance(image_size, int):
        return image_size, image_size
    height, width = image_size
    return int(height), int(width)


def _check_args(num_conv_layers: int, width: int, pool_after: Sequence[int]) -> None:
    if not 1 <= int(num_conv_layers):
        raise ValueError(f"num_conv_layers must be >= 1, got {num_conv_layers}")
    if int(width) < 1:
        raise ValueError(f"width must be >= 1, got {width}")
    if any(int(j) < 1 for j in pool_after):
        raise ValueError(f"pool_after holds 1-based conv layer numbers, got {pool_after}")


def conv_map_sizes(
    image_size, num_conv_layers: int = NUM_CONV_LAYERS, pool_after: Sequence[int] = POOL_AFTER
) -> list[tuple[int, int]]:
    """The ``(H, W)`` of each conv layer's output for an input of ``image_size``."""
    height, width = _pair(image_size)
    sizes = []
    for j in range(1, num_conv_layers + 1):
        sizes.append((height, width))
        if j in pool_after and j < num_conv_layers:
            height, width = height // 2, width // 2
    return sizes


def _check_mspp_sizes(image_size, num_conv_layers, pool_after, levels, layers) -> None:
    """Every MSPP-norm the model uses gets maps at least as large as its finest level."""
    sizes = conv_map_sizes(image_size, num_conv_layers, pool_after)
    for j in layers:
        height, width = sizes[j - 1]
        if min(height, width) < max(levels):
            raise ValueError(
                f"conv{j} gives {height}x{width} maps at image_size={image_size!r} "
                f"(pooling after layers {tuple(pool_after)}), smaller than the MSPP level "
                f"{max(levels)} of levels={tuple(levels)}; use a larger image_size, fewer "
                "conv layers or pooling layers, or smaller levels"
            )


def spatial_max_pool(x, name: str):
    """1x2x2 max-pooling with stride 1x2x2 of ``(B, T, H, W, C)``, without MaxPool3D.

    The frames are stacked along the rows, ``(T, H, W, C) -> (T*H, W, C)``, and pooled
    with a 2x2 MaxPooling2D: with ``H`` even, no 2x2 window spans two frames. An odd
    ``H`` first loses its last row, as 'valid' pooling would drop it anyway.
    """
    steps, height, width, channels = x.shape[1:]
    if height % 2:
        x = keras.layers.Cropping3D(((0, 0), (0, 1), (0, 0)), name=f"{name}_crop")(x)
        height -= 1
    x = keras.layers.Reshape((steps * height, width, channels), name=f"{name}_fold")(x)
    x = keras.layers.MaxPooling2D(2, name=f"{name}_max")(x)  # (T*H/2, W/2, C)
    return keras.layers.Reshape((steps, height // 2, width // 2, channels), name=name)(x)


def stc_3dcnn(
    video,
    num_conv_layers: int = NUM_CONV_LAYERS,
    width: int = WIDTH,
    pool_after: Sequence[int] = POOL_AFTER,
) -> list:
    """The 3DCNN of Fig. 3 / Table 2: the output of every conv layer (after ReLU).

    Returns:
        ``num_conv_layers`` tensors ``(B, T, H_j, W_j, width)``, before pooling.
    """
    outputs, x = [], video
    for j in range(1, num_conv_layers + 1):
        batch_norm = j in BATCH_NORM_AFTER
        x = keras.layers.Conv3D(
            width, 3, padding="same", use_bias=not batch_norm, kernel_initializer=INIT,
            name=f"conv{j}",
        )(x)
        if batch_norm:
            x = keras.layers.BatchNormalization(name=f"bn{j}")(x)
        x = keras.layers.ReLU(name=f"relu{j}")(x)
        outputs.append(x)
        if j in pool_after and j < num_conv_layers:
            x = spatial_max_pool(x, name=f"pool{j}")
    return outputs


def stacked_lstm(x, units: int, layers: int, name: str):
    """``layers`` stacked LSTMs over ``(B, steps, features)``; the last state ``(B, units)``."""
    for level in range(1, layers + 1):
        x = keras.layers.LSTM(
            units, return_sequences=level < layers, unroll=True, kernel_initializer=INIT,
            name=f"{name}_{level}",
        )(x)
    return x


def _classifier(x, num_classes: int, dropout: float):
    if dropout:
        x = keras.layers.Dropout(dropout, name="dropout")(x)
    return keras.layers.Dense(
        num_classes, activation="softmax", kernel_initializer=INIT, dtype="float32",
        name="classifier",
    )(x)


def _build(
    variant: str,
    *,
    num_classes: int,
    frames: int,
    image_size,
    channels: int,
    num_conv_layers: int,
    width: int,
    pool_after: Sequence[int],
    dropout: float,
    levels: Sequence[int] = LEVELS,
    lstm_units: int = LSTM_UNITS,
    lstm_layers: int = LSTM_LAYERS,
) -> keras.Model:
    _check_args(num_conv_layers, width, pool_after)
    if int(lstm_layers) < 1:
        raise ValueError(f"lstm_layers must be >= 1, got {lstm_layers}")
    mspp_layers = {
        "stc_nlstm": range(1, num_conv_layers + 1),
        "stc_slstm": range(1, num_conv_layers + 1),
        "stc_lstm": [num_conv_layers],
        "stc": [],
    }[variant]
    _check_mspp_sizes(image_size, num_conv_layers, pool_after, levels, mspp_layers)

    height, width_px = _pair(image_size)
    video = keras.Input((frames, height, width_px, channels), name="video")
    features = stc_3dcnn(video, num_conv_layers, width, pool_after)
    mspp = {j: MSPPNorm(levels, name=f"mspp{j}")(features[j - 1]) for j in mspp_layers}

    if variant == "stc_nlstm":
        # T-LSTM_j over each layer's (B, T, D) sequence -> h_j (B, units).
        states = [
            keras.layers.Reshape((1, lstm_units), name=f"h{j}")(
                stacked_lstm(mspp[j], lstm_units, lstm_layers, name=f"t_lstm{j}")
            )
            for j in mspp_layers
        ]
        # (h_1 .. h_I): (B, I, units) -> C-LSTM -> o (B, units).
        h = states[0] if len(states) == 1 else keras.layers.Concatenate(
            axis=1, name="h")(states)
        x = stacked_lstm(h, lstm_units, lstm_layers, name="c_lstm")
    elif variant == "stc_slstm":
        # Sum fusion of all layers' MSPP sequences (equal widths): (B, T, D) -> LSTM.
        summed = mspp[1] if num_conv_layers == 1 else keras.layers.Add(name="mspp_sum")(
            list(mspp.values()))
        x = stacked_lstm(summed, lstm_units, lstm_layers, name="lstm")
    elif variant == "stc_lstm":
        x = stacked_lstm(mspp[num_conv_layers], lstm_units, lstm_layers, name="lstm")
    else:  # stc: (B, T, H, W, C) of the last conv -> FC -> softmax
        x = keras.layers.Flatten(name="flatten")(features[-1])
    return keras.Model(video, _classifier(x, num_classes, dropout), name=variant)


# --- registered variants: the model of Sec. 3 and the ablations of Sec. 4.2 ---

DEFAULTS = dict(
    num_classes=6, frames=FRAMES, image_size=IMAGE_SIZE, channels=CHANNELS,
    num_conv_layers=NUM_CONV_LAYERS, width=WIDTH, levels=LEVELS, lstm_units=LSTM_UNITS,
    lstm_layers=LSTM_LAYERS, pool_after=POOL_AFTER, dropout=0.0,
)
PRESETS = {"tiny": TINY, "cpu": CPU}
# STC has no LSTM: its defaults and presets leave out the LSTM arguments.
_LSTM_ARGS = ("levels", "lstm_units", "lstm_layers")
_STC_DEFAULTS = {k: v for k, v in DEFAULTS.items() if k not in _LSTM_ARGS}
_STC_PRESETS = {
    preset: {k: v for k, v in overrides.items() if k not in _LSTM_ARGS}
    for preset, overrides in PRESETS.items()
}
# The cpu preset trains with a recipe measured to learn at its size (docs/recipes.md);
# the paper-size model with the paper's.
_COMMON = dict(paper=PAPER, sampling="uniform", recipe="stc_nlstm_paper",
               preset_recipes={"cpu": "stc_nlstm_cpu"})

register_model(
    "stc_nlstm", functools.partial(_build, "stc_nlstm"), defaults=DEFAULTS, presets=PRESETS,
    description="STC-NLSTM: 3DCNN, MSPP-norm + T-LSTM per conv layer, C-LSTM, softmax "
    "(Sec. 3).",
    **_COMMON,
)
register_model(
    "stc_slstm", functools.partial(_build, "stc_slstm"), defaults=DEFAULTS, presets=PRESETS,
    description="STC-SLSTM ablation: all layers' MSPP sequences summed -> LSTM (Sec. 4.2).",
    **_COMMON,
)
register_model(
    "stc_lstm", functools.partial(_build, "stc_lstm"), defaults=DEFAULTS, presets=PRESETS,
    description="STC-LSTM ablation: the last conv layer's MSPP sequence -> LSTM (Sec. 4.2).",
    **_COMMON,
)
register_model(
    "stc", functools.partial(_build, "stc"), defaults=_STC_DEFAULTS, presets=_STC_PRESETS,
    description="STC ablation: the 3DCNN alone, last conv layer -> FC -> softmax (Sec. 4.2).",
    **_COMMON,
)

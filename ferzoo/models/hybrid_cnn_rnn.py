"""Hybrid CNN-RNN (Jain et al. 2018): a frame CNN whose features feed an IRNN.

Paper: Jain, Kumar, Kumar, Shamsolmoali, Zareapoor, "Hybrid deep neural networks for
face emotion recognition", Pattern Recognition Letters 115 (2018), Sec. 3;
docs/design.md#hybrid-cnn-rnn.

    frame (H, W, C) -> 6 x [conv 5x5 + ReLU] with 3x3 max-pooling after the first five
    and average pooling after the sixth -> FC 200 + ReLU + dropout -> FC 200 + ReLU
    (+ dropout) -> softmax (expression) or linear (valence)           = frame CNN

    video (B, P, H, W, C) -> frame CNN features of each of the P frames (B, P, 200)
    -> stacked IRNN (150 units, 6 layers) -> last step -> softmax / valence
                                                                      = hybrid CNN-RNN

Building blocks, for two-stage training (the paper's way: Sec. 3.3 trains the CNN on
single frames, fixes it and trains the RNN on its features):

- :func:`frame_cnn` builds the single-frame CNN (stage 1), input ``frame`` (H, W, C);
- :func:`frame_features` cuts a (trained) frame CNN at its feature layer;
- :func:`temporal_rnn` builds the IRNN head alone, input ``features`` (P, D) (stage 2
  can train it on cached features);
- :func:`rnn_on_cnn` assembles video -> features -> IRNN from a frame CNN, frozen or
  not; the registered ``hybrid_cnn_rnn*`` builders call it (``cnn_weights=`` loads a
  stage-1 CNN, ``freeze_cnn=True`` fixes it).

Inside a hybrid model the two parts are the nested models ``frame_features`` (wrapped
in ``TimeDistributed``) and ``temporal_rnn``: ``model.get_layer("temporal_rnn")`` is the
stage-2 network, sharing its weights with the whole.

Decisions where the paper is silent or unclear (docs/design.md#hybrid-cnn-rnn):
- kernels 5x5: Sec. 3.1 says the filter size was "expanded from 3 to 5" (Fig. 2's
  caption names both); ``kernel_size`` is a parameter.
- max-pooling 3x3 with stride 2 and 'same' padding (the stride is not given; stride 2
  halves the map five times: 64 -> 2 before the average pooling, which is global).
- the feature source is the 200-d output of the second FC layer (after its ReLU, before
  its dropout); ``feature_source="conv3"`` (any of conv1..conv6) takes that conv layer's
  pooled output, flattened, and ``"conv3+conv6"`` concatenates several: Sec. 3.1 picked
  "every third convolutional layer right after max pooling".
- P, the number of frames the RNN reads (Sec. 3.3, [t-P, t]), is ``frames`` (default
  16), and the clip's prediction is the RNN's output at the last step t. For a
  clip-level label t is the peak of the expression: the models' sampling mode
  ``to_apex`` spreads the P frames evenly from the clip's first frame to its apex (the
  last frame when the apex is unknown; CK+ clips end at the peak), so the RNN always
  sees the neutral start and the peak (P consecutive frames would hold only the top of
  the rise of a long clip), and reads an MMI clip (neutral -> apex -> neutral) up to
  its apex.
- ``hybrid_cnn`` (the single-frame "CNN" row of Table 1) reads one frame by default
  (``frames=1``): with ``to_apex`` that is the apex, and the input pipeline decodes and
  augments that frame alone. With ``frames > 1`` it takes the hybrid's video input and
  classifies frame ``frame_index`` (default the last: the apex).
- the IRNN's first input kernel starts from N(0, 0.001^2) (Le et al. 2015), the kernels
  between its stacked layers from He-normal / sqrt(T): with 0.001 there too the 6-layer
  stack passes ~1e-10 of its input and does not train (see ``ferzoo.layers.IRNN``).
- the tanh variant (Table 1's "CNN-RNN" row) keeps the IRNN's initialisation and only
  changes the activation, so the pair isolates the effect of the ReLU.
- conv and FC kernels start from He-normal (the paper names no initialiser; with
  Glorot the signal of a deep ReLU stack shrinks layer by layer).
- weight decay: L2 on every conv and FC kernel with Reg(w) = weight_decay / 2 * w^2
  (Eq. 1's 1/2 w^2), i.e. an SGD weight decay of ``weight_decay`` (1e-4, Sec. 3.2).
- input 64 x 64 x 1 grey (JAFFE is grey), values in [0, 1]; histogram equalisation and
  mean/std normalisation (Sec. 3, 4) are pipeline options, not model layers.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Sequence

import keras

from ferzoo.layers import IRNN
from ferzoo.layers.irnn import KERNEL_STDDEV
from ferzoo.registry import Paper, register_model

PAPER = Paper(
    "hybrid_cnn_rnn",
    "Jain et al. 2018, Hybrid deep neural networks for face emotion recognition "
    "(Pattern Recognition Letters)",
)

FILTERS = (8, 16, 32, 64, 128, 256)  # Sec. 3.1 and Fig. 2
KERNEL_SIZE = 5  # Sec. 3.1: "we expanded the filter size from 3 to 5"
POOL_SIZE = 3  # Fig. 2: 3x3 max-pooling after each of the first five convs
POOL_STRIDES = 2  # decision: the paper gives no stride
FC_UNITS = 200  # Sec. 3.2: "two fully-connected layers with 200 hidden units"
FC_LAYERS = 2  # Sec. 3.1
DROPOUT = 0.5  # Sec. 3.1
WEIGHT_DECAY = 1e-4  # Sec. 3.2
RNN_UNITS = 150  # Table 2 (best of 50/100/150/200)
RNN_LAYERS = 6  # Table 3 (best of 4/5/6)
FRAMES = 16  # decision: P of Sec. 3.3 is not given
IMAGE_SIZE = 64  # decision (docs/design.md#hybrid-cnn-rnn)
CHANNELS = 1  # decision: grey frames (JAFFE)

HEADS = ("softmax", "regression")


def _check_head(head: str) -> None:
    if head not in HEADS:
        raise ValueError(f"head must be one of {HEADS}, got {head!r}")


def _size(image_size) -> tuple[int, int]:
    return (image_size, image_size) if isinstance(image_size, int) else tuple(image_size)


def _head_layer(head: str, num_classes: int) -> keras.layers.Layer:
    """Softmax over the expressions, or one linear valence output (MSE, Sec. 3.2)."""
    _check_head(head)
    if head == "regression":
        return keras.layers.Dense(1, name="valence", dtype="float32")
    return keras.layers.Dense(
        num_classes, activation="softmax", name="predictions", dtype="float32"
    )


def frame_cnn(
    num_classes: int = 6,
    image_size: int | tuple[int, int] = IMAGE_SIZE,
    channels: int = CHANNELS,
    filters: Sequence[int] = FILTERS,
    kernel_size: int = KERNEL_SIZE,
    pool_size: int = POOL_SIZE,
    pool_strides: int = POOL_STRIDES,
    fc_units: int = FC_UNITS,
    fc_layers: int = FC_LAYERS,
    dropout: float = DROPOUT,
    weight_decay: float = WEIGHT_DECAY,
    head: str = "softmax",
    name: str = "frame_cnn",
) -> keras.Model:
    """The single-frame CNN of Sec. 3.1-3.2 (Fig. 2): stage 1 of two-stage training.

    Layers are named ``conv1..convN``, ``pool1..poolN`` (the last is the global
    average pooling), ``fc1..fcM``, ``dropout1..dropoutM`` and ``predictions`` /
    ``valence``; :func:`frame_features` relies on these names.

    Returns:
        A model from ``frame`` (B, H, W, C) to (B, num_classes) probabilities, or
        (B, 1) valence with ``head="regression"``.
    """
    _check_head(head)
    if len(filters) < 1:
        raise ValueError("frame_cnn needs at least one conv layer; got filters=()")
    regularizer = keras.regularizers.L2(weight_decay / 2) if weight_decay else None
    frame = keras.Input((*_size(image_size), channels), name="frame")
    x = frame
    for i, width in enumerate(filters, start=1):
        x = keras.layers.Conv2D(
            width, kernel_size, padding="same", activation="relu",
            kernel_initializer="he_normal", kernel_regularizer=regularizer, name=f"conv{i}",
        )(x)
        if i < len(filters):  # (B, h, w, c) -> (B, h/2, w/2, c)
            x = keras.layers.MaxPooling2D(
                pool_size, strides=pool_strides, padding="same", name=f"pool{i}"
            )(x)
        else:  # (B, h, w, c) -> (B, c)
            x = keras.layers.GlobalAveragePooling2D(name=f"pool{i}")(x)
    for j in range(1, fc_layers + 1):
        x = keras.layers.Dense(
            fc_units, activation="relu", kernel_initializer="he_normal",
            kernel_regularizer=regularizer, name=f"fc{j}",
        )(x)
        x = keras.layers.Dropout(dropout, name=f"dropout{j}")(x)
    outputs = _head_layer(head, num_classes)(x)
    return keras.Model(frame, outputs, name=name)


def _layer_names(cnn: keras.Model) -> tuple[list[str], list[str]]:
    names = [layer.name for layer in cnn.layers]
    convs = [n for n in names if n.startswith("conv")]
    fcs = [n for n in names if n.startswith("fc")]
    if not convs or any(f"pool{n[4:]}" not in names for n in convs):
        raise ValueError(
            f"model {cnn.name!r} is not a frame_cnn (layers conv1.., pool1.., fc1.. "
            f"expected; it has {names})"
        )
    return convs, fcs


def frame_features(
    cnn: keras.Model,
    feature_source: str = "fc",
    dropout: bool = True,
    name: str = "frame_features",
) -> keras.Model:
    """The part of a :func:`frame_cnn` that gives the RNN's per-frame features.

    The returned model reuses ``cnn``'s layers (same weights).

    Args:
        cnn: a model built by :func:`frame_cnn` (trained or not).
        feature_source: ``"fc"`` (the last FC layer's output, 200-d, Sec. 3.3), or
            ``"convK"`` (conv layer K's pooled output, flattened), or several joined
            with ``+`` (``"conv3+conv6"``: every third conv layer, Sec. 3.1), which are
            concatenated.
        dropout: keep the dropout between the FC layers (end-to-end training); a
            frozen feature extractor leaves it out.

    Returns:
        A model from ``frame`` (B, H, W, C) to (B, D).
    """
    convs, fcs = _layer_names(cnn)
    sources = [s.strip() for s in feature_source.split("+")]
    known = ["fc", *convs]
    unknown = [s for s in sources if s not in known]
    if unknown or not sources:
        raise ValueError(
            f"unknown feature_source {feature_source!r}; use one of {known} or several "
            f"joined with '+' (e.g. 'conv3+conv6')"
        )
    if "fc" in sources and not fcs:
        raise ValueError(f"feature_source 'fc' needs FC layers; {cnn.name!r} has none")
    frame = keras.Input(cnn.inputs[0].shape[1:], name="frame")
    x, taps = frame, {}
    for conv in convs:
        x = cnn.get_layer(f"pool{conv[4:]}")(cnn.get_layer(conv)(x))
        taps[conv] = x
    if "fc" in sources:
        for j, fc in enumerate(fcs):
            if j and dropout:
                x = cnn.get_layer(f"dropout{j}")(x)
            x = cnn.get_layer(fc)(x)
        taps["fc"] = x
    flat = [
        taps[s] if len(taps[s].shape) == 2
        else keras.layers.Flatten(name=f"{s}_flatten")(taps[s])
        for s in sources
    ]
    features = flat[0] if len(flat) == 1 else keras.layers.Concatenate(name="concat")(flat)
    return keras.Model(frame, features, name=name)


def temporal_rnn(
    frames: int,
    feature_dim: int,
    num_classes: int = 6,
    units: int = RNN_UNITS,
    num_layers: int = RNN_LAYERS,
    relu: bool = True,
    head: str = "softmax",
    rnn_kernel_stddev: float = KERNEL_STDDEV,
    name: str = "temporal_rnn",
) -> keras.Model:
    """The RNN of Sec. 3.3 alone: (B, P, D) frame features -> IRNN -> prediction.

    Stage 2 of two-stage training can train this on cached CNN features.
    """
    features = keras.Input((frames, feature_dim), name="features")
    h = IRNN(
        units, num_layers=num_layers, relu=relu, kernel_stddev=rnn_kernel_stddev, name="irnn"
    )(features)  # (B, P, D) -> (B, units)
    return keras.Model(features, _head_layer(head, num_classes)(h), name=name)


def rnn_on_cnn(
    cnn: keras.Model,
    frames: int = FRAMES,
    num_classes: int | None = None,
    feature_source: str = "fc",
    units: int = RNN_UNITS,
    num_layers: int = RNN_LAYERS,
    relu: bool = True,
    head: str = "softmax",
    freeze: bool = True,
    rnn_kernel_stddev: float = KERNEL_STDDEV,
    name: str = "hybrid_cnn_rnn",
) -> keras.Model:
    """The hybrid CNN-RNN from a frame CNN (Sec. 3.3, Fig. 3).

    Args:
        cnn: a :func:`frame_cnn` model; with ``freeze=True`` (two-stage training) its
            weights are fixed and the dropout between its FC layers is left out, and
            otherwise it trains with the RNN (end-to-end).
        frames: P, the number of frames the RNN reads.
        num_classes: classes of the RNN's softmax (default: the CNN's own).

    Returns:
        A model from ``video`` (B, P, H, W, C) to (B, num_classes) or (B, 1).
    """
    if num_classes is None:
        num_classes = int(cnn.outputs[0].shape[-1])
    features = frame_features(cnn, feature_source, dropout=not freeze)
    features.trainable = not freeze
    video = keras.Input((frames, *cnn.inputs[0].shape[1:]), name="video")
    x = keras.layers.TimeDistributed(features, name="frames")(video)  # (B, P, D)
    rnn = temporal_rnn(
        frames, int(x.shape[-1]), num_classes, units, num_layers, relu, head,
        rnn_kernel_stddev=rnn_kernel_stddev,
    )
    return keras.Model(video, rnn(x), name=name)


def load_cnn_weights(cnn: keras.Model, path: str | Path) -> keras.Model:
    """Load stage-1 weights into ``cnn`` (a :func:`frame_cnn`) and return it.

    ``path`` is either a ``.keras`` file holding a frame CNN (alone, or nested as
    ``frame_cnn`` in a saved ``hybrid_cnn``), whose conv and FC layers are copied by
    name (so a classification CNN can seed a valence model), or a ``.weights.h5`` file
    saved from a frame CNN of exactly the same configuration.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"cnn_weights {str(path)!r} does not exist")
    hint = "build the model with the stage-1 settings (image_size, channels, filters, ...)"
    if path.suffix != ".keras":
        try:
            cnn.load_weights(path)
        except ValueError as error:
            raise ValueError(f"cnn_weights {str(path)!r} do not fit: {error}; {hint}") from None
        return cnn
    source = keras.saving.load_model(path, compile=False)
    names = [layer.name for layer in source.layers]
    if "frame_cnn" in names:
        source = source.get_layer("frame_cnn")
        names = [layer.name for layer in source.layers]
    convs, fcs = _layer_names(cnn)
    missing = [n for n in convs + fcs if n not in names]
    if missing:
        raise ValueError(f"{str(path)!r} holds no frame CNN layers {missing}; it has {names}")
    for name in convs + fcs:
        target, weights = cnn.get_layer(name), source.get_layer(name).get_weights()
        if [w.shape for w in weights] != [tuple(v.shape) for v in target.weights]:
            raise ValueError(
                f"layer {name!r} of {str(path)!r} has weights of shapes "
                f"{[w.shape for w in weights]}, this CNN "
                f"{[tuple(v.shape) for v in target.weights]}; {hint}"
            )
        target.set_weights(weights)
    return cnn


def _hybrid(
    num_classes, frames, image_size, channels, filters, kernel_size, fc_units, dropout,
    weight_decay, feature_source, units, num_layers, relu, rnn_kernel_stddev, head,
    cnn_weights, freeze_cnn, name,
) -> keras.Model:
    cnn = frame_cnn(
        num_classes, image_size, channels, filters=filters, kernel_size=kernel_size,
        fc_units=fc_units, dropout=dropout, weight_decay=weight_decay, head=head,
    )
    if cnn_weights:
        load_cnn_weights(cnn, cnn_weights)
    return rnn_on_cnn(
        cnn, frames, num_classes, feature_source, units, num_layers, relu, head,
        freeze=freeze_cnn, rnn_kernel_stddev=rnn_kernel_stddev, name=name,
    )


def _single_frame(
    num_classes, frames, image_size, channels, filters, kernel_size, fc_units, dropout,
    weight_decay, frame_index, head, name,
) -> keras.Model:
    if not -frames <= frame_index < frames:
        raise ValueError(f"frame_index {frame_index} is outside a clip of {frames} frames")
    cnn = frame_cnn(
        num_classes, image_size, channels, filters=filters, kernel_size=kernel_size,
        fc_units=fc_units, dropout=dropout, weight_decay=weight_decay, head=head,
    )
    video = keras.Input((frames, *_size(image_size), channels), name="video")
    frame = video[:, frame_index]  # (B, T, H, W, C) -> (B, H, W, C)
    return keras.Model(video, cnn(frame), name=name)


# --- registered variants: the rows of Table 1 and the valence regressors of Sec. 3.2 ---

_CNN_DEFAULTS = dict(
    num_classes=6, frames=1, image_size=IMAGE_SIZE, channels=CHANNELS, filters=FILTERS,
    kernel_size=KERNEL_SIZE, fc_units=FC_UNITS, dropout=DROPOUT, weight_decay=WEIGHT_DECAY,
    frame_index=-1, head="softmax",
)
_HYBRID_DEFAULTS = dict(
    num_classes=6, frames=FRAMES, image_size=IMAGE_SIZE, channels=CHANNELS, filters=FILTERS,
    kernel_size=KERNEL_SIZE, fc_units=FC_UNITS, dropout=DROPOUT, weight_decay=WEIGHT_DECAY,
    feature_source="fc", units=RNN_UNITS, num_layers=RNN_LAYERS, relu=True,
    rnn_kernel_stddev=KERNEL_STDDEV, head="softmax", cnn_weights=None, freeze_cnn=False,
)
_TINY_CNN = dict(frames=3, image_size=16, filters=(2, 2, 4, 4, 4, 4), fc_units=8)
# The tiny preset widens the IRNN's input-kernel initialisation: with N(0, 0.001^2)
# kernels the gradient reaching the tiny CNN at initialisation is ~1e-8 (each IRNN
# layer scales the signal by ~0.001 * sqrt(width)), below the float32 resolution of one
# SGD step of the test harness; the architecture is unchanged.
_TINY = dict(_TINY_CNN, units=6, num_layers=2, rnn_kernel_stddev=0.1)
# decision: 8 frames of 48x48 train a few epochs on a 2-core CPU in minutes.
_PRESETS = {"tiny": _TINY, "cpu": dict(frames=8, image_size=48)}
_PRESETS_CNN = {"tiny": _TINY_CNN, "cpu": dict(frames=1, image_size=48)}
# The cpu preset trains with the recipe measured to learn at its size (CPU runs on the
# synthetic data); the paper-size model with the paper's.
_COMMON = dict(paper=PAPER, sampling="to_apex", recipe="hybrid_paper",
               preset_recipes={"cpu": "hybrid_synthetic"})

register_model(
    "hybrid_cnn_rnn", functools.partial(_hybrid, name="hybrid_cnn_rnn"),
    defaults=_HYBRID_DEFAULTS, presets=_PRESETS,
    description='Hybrid CNN-RNN with the ReLU IRNN (Table 1 "CNN-RNN + ReLU", the best row).',
    **_COMMON,
)
register_model(
    "hybrid_cnn_rnn_tanh", functools.partial(_hybrid, name="hybrid_cnn_rnn_tanh"),
    defaults=dict(_HYBRID_DEFAULTS, relu=False), presets=_PRESETS,
    description='Hybrid CNN-RNN with a tanh RNN (Table 1 "CNN-RNN").',
    **_COMMON,
)
register_model(
    "hybrid_cnn_rnn_valence", functools.partial(_hybrid, name="hybrid_cnn_rnn_valence"),
    defaults=dict(_HYBRID_DEFAULTS, head="regression"), presets=_PRESETS, head="regression",
    description="Hybrid CNN-RNN valence regressor (Sec. 3.3): (B, 1) valence at the last "
    "frame.",
    **_COMMON,
)
register_model(
    "hybrid_cnn", functools.partial(_single_frame, name="hybrid_cnn"),
    defaults=_CNN_DEFAULTS, presets=_PRESETS_CNN,
    description='Single-frame CNN on the clip\'s apex frame (Table 1 "CNN").',
    **_COMMON,
)
register_model(
    "hybrid_cnn_valence", functools.partial(_single_frame, name="hybrid_cnn_valence"),
    defaults=dict(_CNN_DEFAULTS, head="regression"), presets=_PRESETS_CNN, head="regression",
    description="Single-frame regression CNN on the clip's apex frame (Sec. 3.2): (B, 1) "
    "valence.",
    **_COMMON,
)

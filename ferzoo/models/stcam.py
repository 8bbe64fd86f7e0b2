"""STCAM: 3D-Inception-ResNet with channel and spatial-temporal attention.

Chen, Zhang, Li and Lee, "STCAM: Spatial-temporal and channel attention module for
dynamic facial expression recognition" (IEEE TAC). Seven variants, one per row of the
paper's ablations (Tables 2-4 and 8):

    stcam_baseline            3D-Inception-ResNet, no attention        ("Baseline")
    stcam_cam                 + 3D-CAM                                 ("+ 3D-CAM")
    stcam_stam                + STAM                                   ("+ STAM")
    stcam_stam_cam            + STAM then 3D-CAM                       ("+ STAM + 3D-CAM")
    stcam                     + 3D-CAM then STAM = STCAM               ("+ 3D-CAM + STAM")
    stcam_nonlocal_gaussian   non-local block (Gaussian) instead       ("NL-Gaussian")
    stcam_nonlocal_embedded   non-local block (embedded Gaussian)      ("NL-Embedded Gaussian")

Input: 7 frames of 224x224x3 (Sec. 4.2: first frame neutral, last frame the peak, 5
evenly between: sampling mode ``stcam``). Output: softmax over ``num_classes``.

Network (Sec. 3.1, Fig. 2): stem, 3D-Inception-ResNet-A, 3D-Reduction-A,
3D-Inception-ResNet-B, 3D-Reduction-B, 3D-Inception-ResNet-C, global average pooling
(the 1072-d feature vector), two fully connected layers, softmax. The attention module
sits on the residual branch of each Inception-ResNet structure, before the shortcut
addition, and at the end of the path of each reduction structure (Sec. 3.3.2, Fig. 6):
five attention modules in all, none in the stem.

Filter plan (**inference, not a source fact**; docs/design.md#stcam). The paper gives only the
1072-d feature size. The structures are named after Inception-ResNet-v2 (Szegedy et al.
2017, Figs. 3, 16-19), and halving every filter count of v2 gives exactly 1072:

    stem    16 (3x7x7 s(1,2,2), Sec. 3.1) - 16 - 32 - [maxpool | 48 s2] = 80
            - [32 -> 48 | 32 -> 32 (3x7x1) -> 32 (1x1x7) -> 48] = 96
            - [96 s2 | maxpool] = 192
    IR-A    16 | 16 -> 16 | 16 -> 24 -> 32, 1x1x1 projection to 192, scale 0.17
    Red-A   maxpool (192) | n = 192 s2 | k = 128 -> l = 128 -> m = 192 s2     = 576
    IR-B    96 | 64 -> 80 (3x1x7) -> 96 (1x7x1), projection to 576, scale 0.1
    Red-B   maxpool (576) | 128 -> 192 s2 | 128 -> 144 s2 | 128 -> 144 -> 160 s2 = 1072
    IR-C    96 | 96 -> 112 (3x1x3) -> 128 (1x3x1), projection to 1072, scale 0.2

v2's own widths give 2144 after Reduction-B (1152 + 384 + 288 + 320); half of that is
the paper's 1072, which no other simple plan we tried reproduces, so we take the halved
v2 plan. ``width_multiplier`` scales every count of this plan (1.0 = the plan above).

3D choices (**decision**, the paper gives only the first stem conv): a v2 kxk conv
becomes 3xkxk (1x1 stays 1x1x1); of a factorised pair (1xn, nx1) the first also spans 3
frames so every structure mixes time. Padding is "same" everywhere (v2's "valid" convs
would make the sizes depend on the input more than needed), so 224 -> 112 -> 56 -> 28
(IR-A) -> 14 (IR-B) -> 7 (IR-C) spatially. Time keeps its 7 frames through the stem and
IR-A (the STAM maps of IR-A have one map per input frame, which is what Fig. 7 shows),
and the reductions stride 2 in time (7 -> 4 -> 2; ``reduction_time_stride``). Pooling
windows are 1x3x3 in the stem and 3x3x3 in the reductions, written with :class:`Pool3D`
(no MaxPool3D: TFLite builtins only). Conv - BatchNorm - ReLU throughout, as in v2;
the residual projections are linear with a bias.

Classifier (**decision**): 1072 -> ``fc_units`` (512, ReLU) -> ``num_classes`` -> softmax;
the paper names two fully connected layers but not their width.
"""

from __future__ import annotations

import functools

import keras

from ferzoo.layers.attention3d import (
    CAM_REDUCTION,
    STAM_KERNEL,
    STAM_KERNEL_A,
    STCAM,
    ChannelAttention3D,
    NonLocalBlock3D,
    SpatioTemporalAttention,
)
from ferzoo.layers.pooling3d import Pool3D
from ferzoo.registry import Paper, register_model

PAPER = Paper(
    "stcam",
    "Chen, Zhang, Li and Lee, STCAM: Spatial-temporal and channel attention module for "
    "dynamic facial expression recognition (IEEE TAC)",
)

FRAMES = 7  # STCAM Sec. 4.2: sequences down-sampled to 7 frames
IMAGE_SIZE = 224  # STCAM Sec. 4.2: 240x240 faces, 224x224 crops
STEM_KERNEL = (3, 7, 7)  # STCAM Sec. 3.1: first stem conv 3x7x7, stride (1, 2)
STEM_STRIDES = (1, 2, 2)
RESIDUAL_SCALES = {"a": 0.17, "b": 0.1, "c": 0.2}  # Inception-ResNet-v2 (Szegedy et al.)
FC_UNITS = 512  # decision: the paper does not give the first FC layer's width
BN_MOMENTUM = 0.9  # decision: PyTorch's default (momentum 0.1); the paper's code base
BN_EPSILON = 1e-5  # (3D-ResNets-PyTorch, Hara et al. [46]) is PyTorch (inference)

# attention= of inception_resnet_3d: the module at each of the five places.
ATTENTIONS = (None, "cam", "stam", "stam_cam", "cam_stam", "nonlocal_gaussian",
              "nonlocal_embedded")


class _Widths:
    """Filter counts of the halved Inception-ResNet-v2 plan times ``multiplier``."""

    def __init__(self, multiplier: float):
        if multiplier <= 0:
            raise ValueError(f"width_multiplier must be > 0; got {multiplier}")
        self.multiplier = multiplier

    def __call__(self, filters: int) -> int:
        return max(1, int(round(filters * self.multiplier)))


def _conv_bn(x, filters, kernel, strides=1, name=None):
    """Conv3D (no bias) - BatchNorm - ReLU, "same" padding."""
    x = keras.layers.Conv3D(filters, kernel, strides=strides, padding="same", use_bias=False,
                            name=f"{name}_conv")(x)
    x = keras.layers.BatchNormalization(momentum=BN_MOMENTUM, epsilon=BN_EPSILON,
                                        name=f"{name}_bn")(x)
    return keras.layers.Activation("relu", name=f"{name}_relu")(x)


def _attention(kind, kernel, reduction, name):
    """The attention layer ``kind`` (one of ATTENTIONS), or None for the baseline."""
    if kind is None:
        return None
    if kind == "cam":
        return ChannelAttention3D(reduction, name=name)
    if kind == "stam":
        return SpatioTemporalAttention(kernel, name=name)
    if kind in STCAM.ORDERS:
        return STCAM(reduction, kernel, order=kind, name=name)
    if kind == "nonlocal_gaussian":
        return NonLocalBlock3D("gaussian", name=name)
    if kind == "nonlocal_embedded":
        return NonLocalBlock3D("embedded_gaussian", name=name)
    raise ValueError(f"unknown attention {kind!r}; choose one of {ATTENTIONS}")


def _stem(x, w):
    """Inception-ResNet-v2's stem, halved, in 3D: (B, T, H, W, C) -> (B, T, H/8, W/8, 192)."""
    x = _conv_bn(x, w(16), STEM_KERNEL, STEM_STRIDES, name="stem_1")
    x = _conv_bn(x, w(16), 3, name="stem_2")
    x = _conv_bn(x, w(32), 3, name="stem_3")
    x = keras.layers.Concatenate(name="stem_mixed_3")([
        Pool3D((1, 3, 3), (1, 2, 2), padding="same", name="stem_mixed_3_pool")(x),
        _conv_bn(x, w(48), 3, (1, 2, 2), name="stem_mixed_3_conv"),
    ])
    left = _conv_bn(x, w(32), 1, name="stem_mixed_4_b0_1")
    left = _conv_bn(left, w(48), 3, name="stem_mixed_4_b0_2")
    right = _conv_bn(x, w(32), 1, name="stem_mixed_4_b1_1")
    right = _conv_bn(right, w(32), (3, 7, 1), name="stem_mixed_4_b1_2")
    right = _conv_bn(right, w(32), (1, 1, 7), name="stem_mixed_4_b1_3")
    right = _conv_bn(right, w(48), 3, name="stem_mixed_4_b1_4")
    x = keras.layers.Concatenate(name="stem_mixed_4")([left, right])
    return keras.layers.Concatenate(name="stem_mixed_5")([
        _conv_bn(x, w(96), 3, (1, 2, 2), name="stem_mixed_5_conv"),
        Pool3D((1, 3, 3), (1, 2, 2), padding="same", name="stem_mixed_5_pool")(x),
    ])


def _inception_resnet(x, branches, scale, attention, name):
    """Residual structure: x + scale * attention(project(concat(branches(x)))), ReLU."""
    residual = keras.layers.Concatenate(name=f"{name}_mixed")(branches)
    residual = keras.layers.Conv3D(x.shape[-1], 1, name=f"{name}_project")(residual)
    if attention is not None:
        residual = attention(residual)
    residual = keras.layers.Rescaling(scale, name=f"{name}_scale")(residual)
    x = keras.layers.Add(name=f"{name}_add")([x, residual])
    return keras.layers.Activation("relu", name=f"{name}_relu")(x)


def _block_a(x, w, attention):
    b0 = _conv_bn(x, w(16), 1, name="ir_a_b0")
    b1 = _conv_bn(_conv_bn(x, w(16), 1, name="ir_a_b1_1"), w(16), 3, name="ir_a_b1_2")
    b2 = _conv_bn(x, w(16), 1, name="ir_a_b2_1")
    b2 = _conv_bn(b2, w(24), 3, name="ir_a_b2_2")
    b2 = _conv_bn(b2, w(32), 3, name="ir_a_b2_3")
    return _inception_resnet(x, [b0, b1, b2], RESIDUAL_SCALES["a"], attention, "ir_a")


def _block_b(x, w, attention):
    b0 = _conv_bn(x, w(96), 1, name="ir_b_b0")
    b1 = _conv_bn(x, w(64), 1, name="ir_b_b1_1")
    b1 = _conv_bn(b1, w(80), (3, 1, 7), name="ir_b_b1_2")
    b1 = _conv_bn(b1, w(96), (1, 7, 1), name="ir_b_b1_3")
    return _inception_resnet(x, [b0, b1], RESIDUAL_SCALES["b"], attention, "ir_b")


def _block_c(x, w, attention):
    b0 = _conv_bn(x, w(96), 1, name="ir_c_b0")
    b1 = _conv_bn(x, w(96), 1, name="ir_c_b1_1")
    b1 = _conv_bn(b1, w(112), (3, 1, 3), name="ir_c_b1_2")
    b1 = _conv_bn(b1, w(128), (1, 3, 1), name="ir_c_b1_3")
    return _inception_resnet(x, [b0, b1], RESIDUAL_SCALES["c"], attention, "ir_c")


def _reduction(x, strides, branches, attention, name):
    """Reduction structure: concat(maxpool(x), conv branches); then the attention."""
    pooled = Pool3D((strides[0], 3, 3), strides, padding="same", name=f"{name}_pool")(x)
    x = keras.layers.Concatenate(name=f"{name}_mixed")([pooled, *branches])
    return attention(x) if attention is not None else x


def _reduction_a(x, w, strides, attention):
    b0 = _conv_bn(x, w(192), 3, strides, name="red_a_b0")  # n
    b1 = _conv_bn(x, w(128), 1, name="red_a_b1_1")  # k
    b1 = _conv_bn(b1, w(128), 3, name="red_a_b1_2")  # l
    b1 = _conv_bn(b1, w(192), 3, strides, name="red_a_b1_3")  # m
    return _reduction(x, strides, [b0, b1], attention, "red_a")


def _reduction_b(x, w, strides, attention):
    b0 = _conv_bn(_conv_bn(x, w(128), 1, name="red_b_b0_1"), w(192), 3, strides,
                  name="red_b_b0_2")
    b1 = _conv_bn(_conv_bn(x, w(128), 1, name="red_b_b1_1"), w(144), 3, strides,
                  name="red_b_b1_2")
    b2 = _conv_bn(x, w(128), 1, name="red_b_b2_1")
    b2 = _conv_bn(b2, w(144), 3, name="red_b_b2_2")
    b2 = _conv_bn(b2, w(160), 3, strides, name="red_b_b2_3")
    return _reduction(x, strides, [b0, b1, b2], attention, "red_b")


def inception_resnet_3d(
    num_classes: int = 6,
    frames: int = FRAMES,
    image_size: int | tuple[int, int] = IMAGE_SIZE,
    channels: int = 3,
    attention: str | None = "cam_stam",
    width_multiplier: float = 1.0,
    reduction: int = CAM_REDUCTION,
    fc_units: int = FC_UNITS,
    dropout: float = 0.0,
    reduction_time_stride: int = 2,
    name: str = "stcam",
) -> keras.Model:
    """The 3D-Inception-ResNet of STCAM with an attention module at five places.

    Args:
        num_classes: classes of the softmax.
        frames, image_size, channels: the clip's shape (T, H[, W], C).
        attention: one of ``ATTENTIONS``: None (baseline), ``"cam"``, ``"stam"``,
            ``"stam_cam"``, ``"cam_stam"`` (STCAM), ``"nonlocal_gaussian"``,
            ``"nonlocal_embedded"``.
        width_multiplier: scales every filter count (1.0: 1072-d features).
        reduction: 3D-CAM's reduction ratio r.
        fc_units: width of the first fully connected layer.
        dropout: dropout rate before each fully connected layer (0: none).
        reduction_time_stride: temporal stride of the two reduction structures.
        name: the model's name.

    Returns:
        A ``keras.Model`` from ``video`` (B, T, H, W, C) in [0, 1] to probabilities
        (B, num_classes); its layer ``"features"`` gives the (B, 1072) feature vector.
    """
    if attention not in ATTENTIONS:
        raise ValueError(f"unknown attention {attention!r}; choose one of {ATTENTIONS}")
    height, width = (image_size, image_size) if isinstance(image_size, int) else image_size
    w = _Widths(width_multiplier)
    time_strides = (reduction_time_stride, 2, 2)

    def attend(kernel, place):
        return _attention(attention, kernel, reduction, f"{place}_attention")

    inputs = keras.Input((frames, height, width, channels), name="video")
    x = _stem(inputs, w)  # (B, T, H/8, W/8, 192)
    x = _block_a(x, w, attend(STAM_KERNEL_A, "ir_a"))
    x = _reduction_a(x, w, time_strides, attend(STAM_KERNEL, "red_a"))  # 576 channels
    x = _block_b(x, w, attend(STAM_KERNEL, "ir_b"))
    x = _reduction_b(x, w, time_strides, attend(STAM_KERNEL, "red_b"))  # 1072 channels
    x = _block_c(x, w, attend(STAM_KERNEL, "ir_c"))
    x = keras.layers.GlobalAveragePooling3D(name="features")(x)  # (B, 1072)
    if dropout:
        x = keras.layers.Dropout(dropout, name="fc1_dropout")(x)
    x = keras.layers.Dense(fc_units, activation="relu", name="fc1")(x)
    if dropout:
        x = keras.layers.Dropout(dropout, name="fc2_dropout")(x)
    x = keras.layers.Dense(num_classes, name="fc2")(x)
    outputs = keras.layers.Activation("softmax", dtype="float32", name="probabilities")(x)
    return keras.Model(inputs, outputs, name=name)


# --- registered variants: the rows of Tables 2-4 and 8 ---

DEFAULTS = dict(
    num_classes=6, frames=FRAMES, image_size=IMAGE_SIZE, channels=3, width_multiplier=1.0,
    reduction=CAM_REDUCTION, fc_units=FC_UNITS, dropout=0.0, reduction_time_stride=2,
)
# Presets: ``tiny`` for the test-suite (builds and steps in well under 3 s on CPU);
# ``cpu`` (7x64x64, a quarter of the widths: 268-d features, 0.42-0.80 M parameters,
# 0.15-0.19 GFLOPs per clip) learns the synthetic 64x64 data on a 2-core CPU in minutes:
# ``ferzoo train --model stcam --preset cpu --recipe synthetic_cpu --epochs 15`` reached
# 92-100 % test accuracy on unseen subjects for every variant (README, STCAM section).
TINY = dict(frames=3, image_size=16, width_multiplier=0.125, fc_units=16)
PRESETS = {
    "tiny": TINY,
    "cpu": dict(frames=7, image_size=64, width_multiplier=0.25, fc_units=128),
}
_COMMON = dict(
    paper=PAPER, defaults=DEFAULTS, presets=PRESETS, sampling="stcam", recipe="stcam_paper",
    preset_recipes={"cpu": "stcam_cpu"},  # measured at the cpu size (docs/recipes.md)
)

register_model(
    "stcam_baseline",
    functools.partial(inception_resnet_3d, attention=None, name="stcam_baseline"),
    description="3D-Inception-ResNet baseline, no attention (Tables 2-4)", **_COMMON,
)
register_model(
    "stcam_cam", functools.partial(inception_resnet_3d, attention="cam", name="stcam_cam"),
    description="Baseline + 3D-CAM, channel attention only (Tables 2-4)", **_COMMON,
)
register_model(
    "stcam_stam", functools.partial(inception_resnet_3d, attention="stam", name="stcam_stam"),
    description="Baseline + STAM, spatial-temporal attention only (Tables 2-4)", **_COMMON,
)
register_model(
    "stcam_stam_cam",
    functools.partial(inception_resnet_3d, attention="stam_cam", name="stcam_stam_cam"),
    description="Baseline + STAM then 3D-CAM (Tables 2-4)", **_COMMON,
)
register_model(
    "stcam", functools.partial(inception_resnet_3d, attention="cam_stam", name="stcam"),
    description="STCAM: baseline + 3D-CAM then STAM (the paper's model)", **_COMMON,
)
register_model(
    "stcam_nonlocal_gaussian",
    functools.partial(
        inception_resnet_3d, attention="nonlocal_gaussian", name="stcam_nonlocal_gaussian"
    ),
    description="Baseline + non-local blocks (Gaussian) in place of STCAM (Table 8)",
    **_COMMON,
)
register_model(
    "stcam_nonlocal_embedded",
    functools.partial(
        inception_resnet_3d, attention="nonlocal_embedded", name="stcam_nonlocal_embedded"
    ),
    description="Baseline + non-local blocks (embedded Gaussian) in place of STCAM (Table 8)",
    **_COMMON,
)

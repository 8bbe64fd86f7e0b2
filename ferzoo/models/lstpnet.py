"""LSTPNet: long short-term perception network (Lu et al. 2023, PRCV).

A per-frame ResNet-18 (frames folded into the batch) whose blocks in layers 2-4 pass
their input through temporal channel excitation (TCE) first, one more TCE after layer4,
global average pooling to one 512-d token per frame, the LSTformer (depth 2) over the
T tokens, the mean over time and a linear classifier. The paper text is not available
to us beyond its abstract; the architecture follows the authors' public code
(LLFabiann/LSTPNet, docs/design.md#lstpnet), numerically: PyTorch's symmetric padding,
BatchNorm/LayerNorm epsilon 1e-5 and the exact (erf) GELU, so that
``ferzoo.weights.lstpnet.lstpnet_from_torch`` gives the authors' released models.

Layer names follow the official module names (``conv1``, ``layer2_0_conv1``,
``layer2_0_tce`` for ``layer2.0.eca``, ``tce`` for ``s_former.eca``, ``lstformer``,
``logits`` for ``fc``), which is what the converter relies on.
"""

from __future__ import annotations

import keras

from ferzoo.layers.frames import FoldFrames, UnfoldFrames
from ferzoo.layers.lstformer import LSTformer
from ferzoo.layers.tce import TemporalChannelExcitation
from ferzoo.registry import Paper, register_model

PAPER = Paper(
    "lstpnet",
    "Lu et al. 2023, Long short-term perception network for dynamic facial expression "
    "recognition (PRCV 2023)",
)

NUM_CLASSES = 7  # the released DFEW / FERV39k / AFEW checkpoints
FRAMES = 16  # LSTPNet code: 8 segments x 2 consecutive frames
IMAGE_SIZE = 224  # LSTPNet code, GroupResize(224)
WIDTH = 64  # ResNet-18 stem width; stages are width x (1, 2, 4, 8)
DEPTH = 2  # LSTformer depth, LSTPNet code temporal_transformer(depth=2)
HEADS = 8  # LSTPNet code
DIM_HEAD = 64  # LSTPNet code
MLP_DIM = 4096  # LSTPNet code
BATCH_NORM_EPSILON = 1e-5  # PyTorch nn.BatchNorm2d default (Keras: 1e-3)
BATCH_NORM_MOMENTUM = 0.9  # PyTorch momentum 0.1 in Keras' convention
STAGES = ((1, 1, False), (2, 2, True), (3, 4, True), (4, 8, True))  # (layer, width x, TCE)


def _batch_norm(name):
    return keras.layers.BatchNormalization(
        epsilon=BATCH_NORM_EPSILON, momentum=BATCH_NORM_MOMENTUM, name=name
    )


def _conv3x3(x, filters, stride, name):
    """PyTorch's Conv2d(3x3, stride, padding=1, bias=True)."""
    if stride == 1:  # 'same' pads 1 on every side for a 3x3 stride-1 kernel
        return keras.layers.Conv2D(filters, 3, padding="same", name=name)(x)
    # TF's 'same' with stride 2 pads (0, 1) on an even input; PyTorch pads (1, 1).
    x = keras.layers.ZeroPadding2D(1, name=f"{name}_pad")(x)
    return keras.layers.Conv2D(filters, 3, strides=stride, padding="valid", name=name)(x)


def _basic_block(x, filters, stride, frames, tce, name):
    """ResNet basic block; with ``tce`` its input first goes through TCE.

    The 1x1 downsample shortcut (when the shape changes) takes the TCE output, an
    identity shortcut adds the block's input before TCE (official ``BasicBlockShift``).
    """
    shortcut = x
    if tce:
        y = UnfoldFrames(frames, name=f"{name}_unfold")(x)  # (B*T, h, w, c) -> (B, T, h, w, c)
        y = TemporalChannelExcitation(name=f"{name}_tce")(y)
        x = FoldFrames(name=f"{name}_fold")(y)
    y = _conv3x3(x, filters, stride, f"{name}_conv1")
    y = keras.layers.ReLU(name=f"{name}_relu1")(_batch_norm(f"{name}_bn1")(y))
    y = _conv3x3(y, filters, 1, f"{name}_conv2")
    y = _batch_norm(f"{name}_bn2")(y)
    if stride != 1 or x.shape[-1] != filters:
        shortcut = keras.layers.Conv2D(
            filters, 1, strides=stride, name=f"{name}_downsample_conv"
        )(x)
        shortcut = _batch_norm(f"{name}_downsample_bn")(shortcut)
    y = keras.layers.Add(name=f"{name}_add")([y, shortcut])
    return keras.layers.ReLU(name=f"{name}_out")(y)


def lstpnet(
    num_classes: int = NUM_CLASSES,
    frames: int = FRAMES,
    image_size: int | tuple[int, int] = IMAGE_SIZE,
    channels: int = 3,
    width: int = WIDTH,
    depth: int = DEPTH,
    heads: int = HEADS,
    dim_head: int = DIM_HEAD,
    mlp_dim: int = MLP_DIM,
    activation: str = "softmax",
) -> keras.Model:
    """LSTPNet (Lu et al. 2023): per-frame ResNet-18 + TCE, LSTformer, mean over time.

    Args:
        num_classes: classes of the linear head.
        frames: T, frames per clip (any T >= 1; the paper uses 16).
        image_size: frame size, an int or (height, width); any size >= 32 works
            (the network is fully convolutional up to the pooling).
        channels: input channels (3: RGB in [0, 1], no mean/std normalisation).
        width: ResNet stem width (64 in the paper; the LSTformer width is 8 x width).
        depth, heads, dim_head, mlp_dim: the LSTformer's levels, attention heads, head
            width and feed-forward width.
        activation: ``"softmax"`` gives class probabilities; ``"linear"`` gives the
            logits (the output of the layer named ``logits`` in either case).

    Returns:
        A ``keras.Model`` from ``video`` (B, T, H, W, C) to (B, num_classes).
    """
    if activation not in ("softmax", "linear"):
        raise ValueError(
            f"lstpnet: activation must be 'softmax' or 'linear' (logits), got {activation!r}"
        )
    height, width_px = (image_size, image_size) if isinstance(image_size, int) else image_size
    inputs = keras.Input((frames, height, width_px, channels), name="video")

    x = FoldFrames(name="fold")(inputs)  # (B, T, H, W, C) -> (B*T, H, W, C)
    x = keras.layers.ZeroPadding2D(3, name="conv1_pad")(x)  # PyTorch 7x7 s2 padding=3
    x = keras.layers.Conv2D(width, 7, strides=2, use_bias=False, name="conv1")(x)
    x = keras.layers.ReLU(name="relu1")(_batch_norm("bn1")(x))
    # PyTorch pads the max-pool with -inf; after the ReLU every value is >= 0, so zero
    # padding gives exactly the same maxima (each window holds a real value).
    x = keras.layers.ZeroPadding2D(1, name="maxpool_pad")(x)
    x = keras.layers.MaxPooling2D(3, strides=2, name="maxpool")(x)

    for layer, multiplier, tce in STAGES:
        filters = width * multiplier
        for block in range(2):  # ResNet-18: two basic blocks per stage
            stride = 2 if layer > 1 and block == 0 else 1
            x = _basic_block(x, filters, stride, frames, tce, f"layer{layer}_{block}")

    x = UnfoldFrames(frames, name="unfold")(x)  # (B*T, h, w, 8w) -> (B, T, h, w, 8w)
    x = TemporalChannelExcitation(name="tce")(x)  # official s_former.eca, TCE(512)
    x = FoldFrames(name="fold_tokens")(x)
    x = keras.layers.GlobalAveragePooling2D(name="avgpool")(x)  # (B*T, 8w)
    x = UnfoldFrames(frames, name="tokens")(x)  # (B, T, 8w): one token per frame
    x = LSTformer(
        depth=depth, heads=heads, dim_head=dim_head, mlp_dim=mlp_dim, name="lstformer"
    )(x)
    x = keras.layers.GlobalAveragePooling1D(name="temporal_mean")(x)  # (B, 8w)
    outputs = keras.layers.Dense(num_classes, name="logits")(x)
    if activation == "softmax":
        outputs = keras.layers.Softmax(name="probabilities", dtype="float32")(outputs)
    return keras.Model(inputs, outputs, name="lstpnet")


register_model(
    "lstpnet", lstpnet, paper=PAPER, sampling="segments", recipe="lstpnet",
    preset_recipes={"cpu": "lstpnet_cpu"},  # measured at the cpu preset's size
    description="LSTPNet: ResNet-18 with temporal channel excitation + LSTformer",
    defaults=dict(
        num_classes=NUM_CLASSES, frames=FRAMES, image_size=IMAGE_SIZE, channels=3,
        width=WIDTH, depth=DEPTH, heads=HEADS, dim_head=DIM_HEAD, mlp_dim=MLP_DIM,
        activation="softmax",
    ),
    presets={
        "tiny": dict(frames=4, image_size=32, width=4, heads=2, dim_head=4, mlp_dim=16),
        # 1/4 width (transformer dim 128), 8 frames (4 segments x 2) at 64x64; trains
        # with lstpnet_cpu (measured results: docs/models/lstpnet.md, docs/recipes.md).
        "cpu": dict(frames=8, image_size=64, width=16, heads=4, dim_head=32, mlp_dim=512),
    },
)

"""RFSCNN: two-stream CNNs, each followed by a spatiotemporal RNN, with feature fusion.

Zhou, "Video expression recognition method based on spatiotemporal recurrent neural
network and feature fusion" (docs/design.md#rfscnn). A spatial stream reads the face frames of a
16-frame segment, a temporal stream reads its 15 optical-flow frames (dx, dy, magnitude);
each is a small CNN (Sec. 4.3: 8 then 16 filters) applied per frame, whose h x w feature
grid goes through the spatial recursive layer (4-direction traversal of each frame's
grid) and the temporal recursive layer (forward/backward RNN over the frames), giving a
64-d feature per stream (Sec. 4.3: "fully connected 64"). The two features are fused
(Sec. 3.4: concatenation, sum or element-wise product; the paper uses product) into the
layer named ``"features"``; a softmax head makes the model trainable end to end, and the
paper's SVM is fitted on the fused features (``ferzoo.training.svm``).

A video is a set of segments: the model sees one segment; averaging over a video's
segments (Sec. 3: "an average pooling is performed on the extracted temporal and spatial
features", before fusion) happens outside the network, in :func:`average_over_segments`
and :func:`fuse_features`.

Decisions where the paper is silent (docs/design.md#rfscnn): the CNN is AlexNet-shaped for the
227x227 input (conv 11x11 stride 4, 3x3/2 max-pools: a 13x13 grid for the traversal);
batch normalisation after each conv; o of the temporal layer is the 64-d stream feature;
the sparse projections carry an L1 penalty of 1e-4. The layer counts of Sec. 4.2 (20 conv,
4 activation, 12 pooling) do not agree with Sec. 4.3 and are not reproduced.
"""

from __future__ import annotations

import functools
from typing import Sequence

import keras
import numpy as np
from keras import ops

from ferzoo.layers import SpatialRecursiveLayer, TemporalRecursiveLayer
from ferzoo.registry import Paper, register_model

PAPER = Paper(
    "rfscnn",
    "Zhou, Video expression recognition method based on spatiotemporal recurrent neural "
    "network and feature fusion (RFSCNN)",
)

FLOW_CHANNELS = 3  # (dx, dy, magnitude): RFSCNN Sec. 3.1
FUSIONS = ("product", "concat", "sum")  # RFSCNN Sec. 3.4
POOL_SIZE, POOL_STRIDE = 3, 2  # decision: AlexNet-style overlapping max-pool
FRAMES = 16  # RFSCNN Sec. 3.1: L = 16
IMAGE_SIZE = 227  # RFSCNN Sec. 3.1: 227x227x3
CONV_FILTERS = (8, 16)  # RFSCNN Sec. 4.3
CONV_KERNELS = (11, 5)  # decision: AlexNet conv1/conv2 kernels
CONV_STRIDES = (4, 1)  # decision: AlexNet conv1/conv2 strides
SPATIAL_UNITS = 30  # STRNN sp_hidden
SPATIAL_PROJECTION = 10  # STRNN sp_projection (K_d)
TEMPORAL_UNITS = 30  # STRNN tp_hidden
TEMPORAL_PROJECTION = 5  # STRNN tp_projection (L_d)
FEATURE_UNITS = 64  # RFSCNN Sec. 4.3: fully connected layer of 64
SPARSITY = 1e-4  # decision: L1 factor of the "sparse projection"


def build_rfscnn(
    streams: Sequence[str] = ("video", "flow"),
    fusion: str = "product",  # RFSCNN Sec. 3.4 (multiplication fusion)
    num_classes: int = 6,
    frames: int = FRAMES,
    image_size: int | tuple[int, int] = IMAGE_SIZE,
    channels: int = 3,
    conv_filters: Sequence[int] = CONV_FILTERS,
    conv_kernels: Sequence[int] = CONV_KERNELS,
    conv_strides: Sequence[int] = CONV_STRIDES,
    batch_norm: bool = True,  # decision
    spatial_units: int = SPATIAL_UNITS,
    spatial_projection: int = SPATIAL_PROJECTION,
    temporal_units: int = TEMPORAL_UNITS,
    temporal_projection: int = TEMPORAL_PROJECTION,
    feature_units: int = FEATURE_UNITS,
    sparsity: float = SPARSITY,
    dropout: float = 0.0,
) -> keras.Model:
    """Build an RFSCNN variant.

    Args:
        streams: ``("video", "flow")`` (two streams, fused), ``("video",)`` (spatial
            stream only) or ``("flow",)`` (temporal stream only).
        fusion: ``"product"``, ``"concat"`` or ``"sum"`` (two streams only).
        num_classes: softmax classes.
        frames: L, frames per segment; the flow input has ``frames - 1`` frames.
        image_size: frame size (int or (H, W)) of both streams.
        channels: channels of the face frames (flow always has 3).
        conv_filters, conv_kernels, conv_strides: the per-frame CNN, one entry per conv
            layer; each conv (``same`` padding) is followed by batch norm (optional),
            ReLU and a 3x3 stride-2 max-pool.
        batch_norm: batch normalisation after each conv.
        spatial_units, spatial_projection: hidden size and K_d of the spatial layer.
        temporal_units, temporal_projection: hidden size and L_d of the temporal layer.
        feature_units: size of each stream's feature (the temporal layer's o).
        sparsity: L1 factor on the sparse projections (0: off).
        dropout: dropout before the softmax head.

    Returns:
        A ``keras.Model`` with inputs named after ``streams`` and softmax output; the
        fused feature is the layer ``"features"``, each stream's feature the layer
        ``"<stream>_features"``.
    """
    streams = tuple(streams)
    if streams not in (("video", "flow"), ("video",), ("flow",)):
        raise ValueError(
            f"streams must be ('video', 'flow'), ('video',) or ('flow',), got {streams}"
        )
    if fusion not in FUSIONS:
        raise ValueError(f"unknown fusion {fusion!r}; use one of {FUSIONS}")
    if not len(conv_filters) == len(conv_kernels) == len(conv_strides):
        raise ValueError(
            f"conv_filters {tuple(conv_filters)}, conv_kernels {tuple(conv_kernels)} and "
            f"conv_strides {tuple(conv_strides)} must have one entry per conv layer"
        )
    if frames < 2:
        raise ValueError(f"frames must be >= 2 (flow needs frame pairs), got {frames}")
    size = (image_size, image_size) if isinstance(image_size, int) else tuple(image_size)
    shapes = {
        "video": (frames, *size, channels),
        "flow": (frames - 1, *size, FLOW_CHANNELS),
    }
    inputs, features = [], []
    for stream in streams:
        x = keras.Input(shapes[stream], name=stream)
        inputs.append(x)
        features.append(_stream(
            x, stream, conv_filters, conv_kernels, conv_strides, batch_norm,
            spatial_units, spatial_projection, temporal_units, temporal_projection,
            feature_units, sparsity,
        ))
    if len(features) == 1:
        fused = keras.layers.Identity(name="features")(features[0])
    elif fusion == "product":
        fused = keras.layers.Multiply(name="features")(features)
    elif fusion == "sum":
        fused = keras.layers.Add(name="features")(features)
    else:
        fused = keras.layers.Concatenate(name="features")(features)
    y = keras.layers.Dropout(dropout, name="dropout")(fused) if dropout else fused
    outputs = keras.layers.Dense(
        num_classes, activation="softmax", dtype="float32", name="predictions"
    )(y)
    name = "rfscnn" if len(streams) == 2 else f"rfscnn_{streams[0]}"
    return keras.Model(inputs if len(inputs) > 1 else inputs[0], outputs, name=name)


def _stream(x, stream, conv_filters, conv_kernels, conv_strides, batch_norm,
            spatial_units, spatial_projection, temporal_units, temporal_projection,
            feature_units, sparsity):
    """Per-frame CNN -> spatial recursive layer -> temporal recursive layer."""
    steps, height, width, channels = x.shape[1:]
    y = ops.reshape(x, (-1, height, width, channels))  # (B, L, H, W, C) -> (B*L, H, W, C)
    convs = zip(conv_filters, conv_kernels, conv_strides)
    for i, (filters, kernel, stride) in enumerate(convs, start=1):
        y = keras.layers.Conv2D(
            filters, kernel, strides=stride, padding="same", use_bias=not batch_norm,
            name=f"{stream}_conv{i}",
        )(y)
        if batch_norm:
            y = keras.layers.BatchNormalization(name=f"{stream}_bn{i}")(y)
        y = keras.layers.ReLU(name=f"{stream}_relu{i}")(y)
        if min(y.shape[1:3]) < POOL_SIZE:
            raise ValueError(
                f"{stream} stream: the {y.shape[1]}x{y.shape[2]} map after conv{i} is "
                f"too small for the {POOL_SIZE}x{POOL_SIZE} pool; use a larger image_size "
                f"or smaller conv_strides"
            )
        y = keras.layers.MaxPooling2D(POOL_SIZE, POOL_STRIDE, name=f"{stream}_pool{i}")(y)
    grid = tuple(y.shape[1:])
    y = ops.reshape(y, (-1, steps, *grid))  # (B*L, h, w, C') -> (B, L, h, w, C')
    y = SpatialRecursiveLayer(
        spatial_units, spatial_projection, sparsity=sparsity, name=f"{stream}_spatial_rnn"
    )(y)  # (B, L, spatial_units)
    return TemporalRecursiveLayer(
        temporal_units, temporal_projection, feature_units, sparsity=sparsity,
        name=f"{stream}_features",
    )(y)  # (B, feature_units)


def average_over_segments(
    features: np.ndarray, video_ids: Sequence
) -> tuple[np.ndarray, np.ndarray]:
    """Average per-segment features over each video's segments (RFSCNN Sec. 3).

    Args:
        features: (N, F) features of N segments.
        video_ids: N ids; segments with the same id belong to one video.

    Returns:
        ``(pooled, ids)``: (V, F) mean feature of each of the V videos, in order of first
        appearance, and the V ids.
    """
    features = np.asarray(features)
    video_ids = np.asarray(video_ids)
    if len(features) != len(video_ids):
        raise ValueError(
            f"{len(features)} feature rows but {len(video_ids)} video ids; give one id "
            f"per segment"
        )
    ids, first, inverse = np.unique(video_ids, return_index=True, return_inverse=True)
    inverse = inverse.reshape(-1)
    sums = np.zeros((len(ids), *features.shape[1:]), np.float64)
    np.add.at(sums, inverse, features)
    pooled = sums / np.bincount(inverse, minlength=len(ids)).reshape(-1, *[1] * (features.ndim - 1))
    order = np.argsort(first)
    return pooled[order].astype(features.dtype), ids[order]


def fuse_features(a: np.ndarray, b: np.ndarray, fusion: str = "product") -> np.ndarray:
    """The fusion of RFSCNN Sec. 3.4 on numpy features (as the ``features`` layer does)."""
    if fusion == "product":
        return a * b
    if fusion == "sum":
        return a + b
    if fusion == "concat":
        return np.concatenate([a, b], axis=-1)
    raise ValueError(f"unknown fusion {fusion!r}; use one of {FUSIONS}")


# --- registered variants: the rows of Table 1 and the fusion alternatives of Sec. 3.4 ---

DEFAULTS = dict(
    num_classes=6, frames=FRAMES, image_size=IMAGE_SIZE, channels=3,
    conv_filters=CONV_FILTERS, conv_kernels=CONV_KERNELS, conv_strides=CONV_STRIDES,
    batch_norm=True, spatial_units=SPATIAL_UNITS, spatial_projection=SPATIAL_PROJECTION,
    temporal_units=TEMPORAL_UNITS, temporal_projection=TEMPORAL_PROJECTION,
    feature_units=FEATURE_UNITS, sparsity=SPARSITY, dropout=0.0,
)
PRESETS = {
    "tiny": dict(
        frames=4, image_size=16, conv_filters=(4, 4), conv_kernels=(3, 3),
        conv_strides=(1, 1), spatial_units=4, spatial_projection=2, temporal_units=4,
        temporal_projection=2, feature_units=8,
    ),
    # A 2-core CPU run on the synthetic data: 64x64 frames, a 6x6 traversal grid.
    "cpu": dict(image_size=64, conv_kernels=(5, 3), conv_strides=(2, 1)),
}
_COMMON = dict(
    paper=PAPER, defaults=DEFAULTS, presets=PRESETS, sampling="rfscnn_segment",
    recipe="rfscnn_paper",
)
_TWO_STREAMS = ("video", "flow")

register_model(
    "rfscnn", functools.partial(build_rfscnn, streams=_TWO_STREAMS, fusion="product"),
    streams=_TWO_STREAMS,
    description="RFSCNN: spatial + temporal streams with STRNN, product fusion (Zhou, "
    "Table 1 fused)",
    **_COMMON,
)
register_model(
    "rfscnn_spatial", functools.partial(build_rfscnn, streams=("video",), fusion="product"),
    streams=("video",),
    description="RFSCNN spatial stream only: face frames (Zhou, Table 1 spatial feature)",
    **_COMMON,
)
register_model(
    "rfscnn_temporal", functools.partial(build_rfscnn, streams=("flow",), fusion="product"),
    streams=("flow",),
    description="RFSCNN temporal stream only: optical flow (Zhou, Table 1 temporal feature)",
    **_COMMON,
)
register_model(
    "rfscnn_concat", functools.partial(build_rfscnn, streams=_TWO_STREAMS, fusion="concat"),
    streams=_TWO_STREAMS,
    description="RFSCNN with concatenation fusion (Zhou, Sec. 3.4)",
    **_COMMON,
)
register_model(
    "rfscnn_sum", functools.partial(build_rfscnn, streams=_TWO_STREAMS, fusion="sum"),
    streams=_TWO_STREAMS,
    description="RFSCNN with sum fusion (Zhou, Sec. 3.4)",
    **_COMMON,
)

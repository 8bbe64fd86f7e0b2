"""The TFRecord schema: one ``tf.train.SequenceExample`` per clip.

Documented for users in ``tfrecords/README.md``; keep the two in step.

Context (one value per clip):
    clip/label/index    int64   class index into the dataset's label list
    clip/label/name     bytes   class name ("happiness")
    clip/subject        bytes   subject id; splits are subject-independent
    clip/id             bytes   clip id, unique within the dataset
    clip/source         bytes   source dataset ("synthetic", "ck+", "dfew", ...)
    clip/num_frames     int64   frames in the original clip (before any sampling)
    clip/fps            float   frames per second of the original (0 if unknown)
    clip/apex_index     int64   index of the peak frame in the stored frames (-1 unknown)
    clip/valence        float   valence in [-1, 1] when known (NaN otherwise)
    image/height, image/width, image/channels   int64   stored frame size
    image/format        bytes   "jpeg" or "png"
    flow/scale          float   optical-flow quantisation scale (0: no flow stream)

Sequence (one value per frame):
    image/encoded       bytes   one JPEG/PNG per stored frame (RGB or grey)
    flow/encoded        bytes   optional: one PNG per adjacent frame pair (num frames-1),
                                channels (dx, dy, magnitude) quantised as in
                                :func:`quantize_flow`
"""

from __future__ import annotations

import dataclasses
import math

import cv2
import numpy as np
import tensorflow as tf

CONTEXT_FEATURES = {
    "clip/label/index": tf.io.FixedLenFeature([], tf.int64),
    "clip/label/name": tf.io.FixedLenFeature([], tf.string),
    "clip/subject": tf.io.FixedLenFeature([], tf.string),
    "clip/id": tf.io.FixedLenFeature([], tf.string),
    "clip/source": tf.io.FixedLenFeature([], tf.string, default_value=b""),
    "clip/num_frames": tf.io.FixedLenFeature([], tf.int64),
    "clip/fps": tf.io.FixedLenFeature([], tf.float32, default_value=0.0),
    "clip/apex_index": tf.io.FixedLenFeature([], tf.int64, default_value=-1),
    "clip/valence": tf.io.FixedLenFeature([], tf.float32, default_value=math.nan),
    "image/height": tf.io.FixedLenFeature([], tf.int64),
    "image/width": tf.io.FixedLenFeature([], tf.int64),
    "image/channels": tf.io.FixedLenFeature([], tf.int64, default_value=3),
    "image/format": tf.io.FixedLenFeature([], tf.string, default_value=b"jpeg"),
    "flow/scale": tf.io.FixedLenFeature([], tf.float32, default_value=0.0),
}
SEQUENCE_FEATURES = {
    "image/encoded": tf.io.FixedLenSequenceFeature([], tf.string),
    "flow/encoded": tf.io.FixedLenSequenceFeature([], tf.string, allow_missing=True),
}

# Flow is stored as 8-bit: dx, dy -> 128 + scale * v, magnitude -> scale * |v|, clipped
# to [0, 255]. The default scale of 16 keeps +-7.9 px of motion per frame pair (at the
# stored resolution) in 1/16 px steps: facial motion between adjacent frames is small.
DEFAULT_FLOW_SCALE = 16.0


@dataclasses.dataclass
class Clip:
    """One clip, ready to be written.

    ``frames`` are uint8 (T, H, W, C) in RGB (or C = 1 grey); ``flow`` is optional,
    float32 (T-1, H, W, 2) in pixels (dx, dy) or already quantised uint8 (T-1, H, W, 3).
    ``notes`` (JSON-able) go to the writer's per-clip report, not into the record.
    """

    frames: np.ndarray
    label: int
    label_name: str
    subject: str
    clip_id: str
    source: str = ""
    num_frames: int | None = None
    fps: float = 0.0
    apex_index: int = -1
    valence: float = math.nan
    flow: np.ndarray | None = None
    flow_scale: float = DEFAULT_FLOW_SCALE
    notes: dict = dataclasses.field(default_factory=dict)


class SchemaError(ValueError):
    """A clip that cannot be written as it is."""


def quantize_flow(flow: np.ndarray, scale: float = DEFAULT_FLOW_SCALE) -> np.ndarray:
    """(…, 2) float flow in pixels -> (…, 3) uint8 (dx, dy, magnitude)."""
    flow = np.asarray(flow, np.float32)
    mag = np.sqrt(np.sum(flow**2, axis=-1, keepdims=True))
    q = np.concatenate([128.0 + scale * flow, scale * mag], axis=-1)
    return np.clip(np.rint(q), 0, 255).astype(np.uint8)


def dequantize_flow(q, scale: float = DEFAULT_FLOW_SCALE):
    """Inverse of :func:`quantize_flow` (numpy or tensor): (…, 3) uint8 -> float pixels."""
    if isinstance(q, np.ndarray):
        q = q.astype(np.float32)
        return np.concatenate([(q[..., :2] - 128.0) / scale, q[..., 2:] / scale], axis=-1)
    q = tf.cast(q, tf.float32)
    return tf.concat([(q[..., :2] - 128.0) / scale, q[..., 2:] / scale], axis=-1)


def encode_image(image: np.ndarray, fmt: str = "jpeg", quality: int = 95) -> bytes:
    """Encode one RGB (or grey) uint8 frame; deterministic for the same pixels."""
    if image.dtype != np.uint8:
        raise SchemaError(f"frames must be uint8, got {image.dtype}")
    if image.ndim == 3 and image.shape[-1] == 3:
        image = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    elif image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    if fmt == "jpeg":
        ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    elif fmt == "png":
        ok, buf = cv2.imencode(".png", image, [cv2.IMWRITE_PNG_COMPRESSION, 3])
    else:
        raise SchemaError(f"unknown image format {fmt!r}; use 'jpeg' or 'png'")
    if not ok:
        raise SchemaError("OpenCV could not encode a frame")
    return buf.tobytes()


def _bytes(values):
    return tf.train.Feature(bytes_list=tf.train.BytesList(value=values))


def _int(value):
    return tf.train.Feature(int64_list=tf.train.Int64List(value=[int(value)]))


def _float(value):
    return tf.train.Feature(float_list=tf.train.FloatList(value=[float(value)]))


def clip_to_example(clip: Clip, image_format: str = "jpeg") -> tf.train.SequenceExample:
    """Serialise a :class:`Clip` (frames encoded here) as a ``SequenceExample``."""
    frames = np.asarray(clip.frames)
    if frames.ndim == 3:
        frames = frames[..., None]
    if frames.ndim != 4 or frames.shape[0] < 1:
        raise SchemaError(
            f"clip {clip.clip_id!r}: frames must be (T>=1, H, W, C), got {frames.shape}"
        )
    t, h, w, c = frames.shape
    if c not in (1, 3):
        raise SchemaError(f"clip {clip.clip_id!r}: {c} channels; frames must be RGB or grey")
    context = {
        "clip/label/index": _int(clip.label),
        "clip/label/name": _bytes([clip.label_name.encode()]),
        "clip/subject": _bytes([str(clip.subject).encode()]),
        "clip/id": _bytes([str(clip.clip_id).encode()]),
        "clip/source": _bytes([clip.source.encode()]),
        "clip/num_frames": _int(clip.num_frames if clip.num_frames is not None else t),
        "clip/fps": _float(clip.fps),
        "clip/apex_index": _int(clip.apex_index),
        "clip/valence": _float(clip.valence),
        "image/height": _int(h),
        "image/width": _int(w),
        "image/channels": _int(c),
        "image/format": _bytes([image_format.encode()]),
        "flow/scale": _float(0.0),
    }
    sequence = {
        "image/encoded": tf.train.FeatureList(
            feature=[_bytes([encode_image(f, image_format)]) for f in frames]
        )
    }
    if clip.flow is not None:
        flow = np.asarray(clip.flow)
        if flow.shape[0] != t - 1 or flow.shape[1:3] != (h, w):
            raise SchemaError(
                f"clip {clip.clip_id!r}: flow must be ({t - 1}, {h}, {w}, 2|3), got {flow.shape}"
            )
        if flow.dtype != np.uint8:
            flow = quantize_flow(flow, clip.flow_scale)
        context["flow/scale"] = _float(clip.flow_scale)
        sequence["flow/encoded"] = tf.train.FeatureList(
            feature=[_bytes([encode_image(f, "png")]) for f in flow]
        )
    return tf.train.SequenceExample(
        context=tf.train.Features(feature=context),
        feature_lists=tf.train.FeatureLists(feature_list=sequence),
    )


def parse_example(serialized: tf.Tensor) -> dict[str, tf.Tensor]:
    """Serialized ``SequenceExample`` -> dict of tensors (frames still encoded)."""
    context, sequence = tf.io.parse_single_sequence_example(
        serialized, context_features=CONTEXT_FEATURES, sequence_features=SEQUENCE_FEATURES
    )
    return {**context, **sequence}


def read_context(serialized: bytes) -> dict:
    """Python-side parse of one record's context (for manifests and checks)."""
    example = tf.train.SequenceExample.FromString(serialized)
    out = {}
    for key, feature in example.context.feature.items():
        kind = feature.WhichOneof("kind")
        values = list(getattr(feature, kind).value)
        value = values[0] if values else None
        out[key] = value.decode() if isinstance(value, bytes) else value
    out["num_stored_frames"] = len(example.feature_lists.feature_list["image/encoded"].feature)
    out["num_flow_frames"] = len(example.feature_lists.feature_list["flow/encoded"].feature)
    return out

"""The ``tf.data`` input pipeline: TFRecord shards -> batches of model inputs.

Reader (files -> shard per input pipeline -> interleave), decoder (bytes -> dict of
tensors, frames still encoded), parser (sample T frame indices, decode only those,
augment, resize) and batching, in the shape of tensorflow/models' video readers.

    spec = InputSpec(frames=18, image_size=(64, 64))
    ds = make_dataset("tfrecords/x/train-*.tfrecord", spec, training=True, batch_size=16)
    for inputs, labels in ds:   # inputs = {"video": (16, 18, 64, 64, 3) float32 in [0, 1]}
        ...
"""

from __future__ import annotations

import dataclasses
import glob
import os
from pathlib import Path
from typing import Any, Iterable, Sequence

import tensorflow as tf

from ferzoo.data import records
from ferzoo.data.augment import DEFAULT_AUGMENT, ZERO_FLOW, augment_clip, resize_frames
from ferzoo.data.photometric import photometric_settings, preprocess_clip
from ferzoo.data.records import check_tfrecord_files
from ferzoo.data.sampling import get_sampler, sample_indices, segment_flow_index
from ferzoo.data.schema import parse_example, read_context
from ferzoo.data.writer import read_manifest
from ferzoo.errors import DataError

AUTOTUNE = tf.data.AUTOTUNE


@dataclasses.dataclass(frozen=True)
class InputSpec:
    """What a model wants from a clip.

    Attributes:
        frames: T, frames per clip after temporal sampling.
        image_size: (H, W) the frames are resized to.
        channels: 3 (RGB) or 1 (grey).
        streams: model inputs, ``"video"`` and optionally ``"flow"``.
        sampling: temporal sampling mode (``ferzoo.data.sampling``).
        flow_frames: T of the flow stream (default ``frames - 1``).
        image_sizes: per-stream (H, W) when streams differ (default: all ``image_size``).
    """

    frames: int
    image_size: tuple[int, int]
    channels: int = 3
    streams: tuple[str, ...] = ("video",)
    sampling: str = "uniform"
    flow_frames: int | None = None

    def __post_init__(self):
        size = self.image_size
        object.__setattr__(
            self, "image_size", (int(size), int(size)) if isinstance(size, int) else tuple(size)
        )
        get_sampler(self.sampling)  # fail early on an unknown mode
        unknown = set(self.streams) - {"video", "flow"}
        if unknown:
            raise DataError(f"unknown input streams {sorted(unknown)}; known: video, flow")

    @classmethod
    def from_model(cls, model, sampling: str = "uniform") -> "InputSpec":
        """Read T, H, W, C and the stream names from a built model's inputs."""
        shapes = {t.name: tuple(t.shape[1:]) for t in model.inputs}
        unknown = set(shapes) - {"video", "flow"}
        if unknown:
            raise DataError(f"model inputs {sorted(unknown)} are not clip streams (video, flow)")
        main = shapes.get("video") or shapes["flow"]
        frames = shapes["video"][0] if "video" in shapes else main[0] + 1
        return cls(
            frames=frames, image_size=main[1:3],
            channels=shapes["video"][3] if "video" in shapes else 3,
            streams=tuple(t.name for t in model.inputs), sampling=sampling,
            flow_frames=shapes["flow"][0] if "flow" in shapes else None,
        )

    @classmethod
    def from_run(cls, info: dict) -> "InputSpec":
        """The spec a run was trained with (its ``run.json`` ``info``)."""
        spec = info["spec"]
        return cls(**{**spec, "image_size": tuple(spec["image_size"]),
                      "streams": tuple(spec["streams"])})

    def check_model(self, model) -> None:
        """Raise a clear error when a model cannot take this spec's input."""
        want = {t.name: tuple(t.shape[1:]) for t in model.inputs}
        have = self.element_shapes()
        if want != have:
            raise DataError(
                f"the model expects inputs {want} (T, H, W, C without batch) but the "
                f"pipeline gives {have}; build the model with matching frames/image_size/"
                "channels or change the input spec"
            )

    def element_shapes(self) -> dict[str, tuple]:
        out = {}
        if "video" in self.streams:
            out["video"] = (self.frames, *self.image_size, self.channels)
        if "flow" in self.streams:
            out["flow"] = (self.flow_frames or self.frames - 1, *self.image_size, 3)
        return out


def resolve_files(data: str | os.PathLike | Sequence[str], split: str | None = None) -> list[str]:
    """Shard paths from a glob pattern, a folder (with ``split``) or a list of paths."""
    if isinstance(data, (list, tuple)):
        files = sorted(str(f) for f in data)
        pattern = f"{len(files)} listed files"
    else:
        data = str(data)
        if os.path.isdir(data):
            pattern = os.path.join(data, f"{split}-*.tfrecord" if split else "*.tfrecord")
        else:
            pattern = data
        files = sorted(glob.glob(pattern))
    missing = [f for f in files if not os.path.isfile(f)]
    if not files or missing:
        raise DataError(
            f"no TFRecord files match {pattern!r}" if not files else f"missing files: {missing}"
        )
    check_tfrecord_files(files)
    return files


def dataset_dir(files: Sequence[str]) -> Path:
    return Path(files[0]).parent


def scan_records(files: Sequence[str], max_bad: int | None = None) -> list[tuple[str, int, str]]:
    """Check every record of ``files`` (framing, proto, frames); list the bad ones.

    Returns ``(file, record_index, reason)`` for each bad record. A truncated or
    corrupt shard ends at its first bad record (TFRecord framing cannot resync).
    """
    bad = []
    for path in files:
        iterator = iter(tf.data.TFRecordDataset(path))
        index = 0
        while True:
            try:
                raw = next(iterator)
            except StopIteration:
                break
            except tf.errors.OpError as error:
                bad.append((path, index, f"truncated or corrupt record ({error.message.strip()})"))
                break
            try:
                context = read_context(raw.numpy())
                reason = None
                if context["num_stored_frames"] < 1:
                    reason = f"clip {context.get('clip/id')!r} has no frames"
                elif "clip/label/index" not in context:
                    reason = f"clip {context.get('clip/id')!r} has no label"
            except Exception as error:  # unparsable proto
                reason = f"not a ferzoo SequenceExample ({type(error).__name__}: {error})"
            if reason:
                bad.append((path, index, reason))
            if max_bad is not None and len(bad) >= max_bad:
                return bad
            index += 1
    return bad


def describe_bad_records(bad: Sequence[tuple[str, int, str]]) -> str:
    lines = [f"shard {path} record {index}: {reason}" for path, index, reason in bad[:10]]
    more = f"\n... and {len(bad) - 10} more" if len(bad) > 10 else ""
    return "\n".join(lines) + more


def _subject_filter(subjects: Iterable[str] | None, exclude: bool):
    values = tf.constant(sorted({str(s) for s in subjects}), tf.string)

    def keep(example):
        hit = tf.reduce_any(tf.equal(example["clip/subject"], values))
        return tf.logical_not(hit) if exclude else hit

    return keep


def decode_uint8(encoded, channels: int):
    """A clip's encoded frames (JPEG or PNG strings, (T,)) -> uint8 frames (T, H, W, C)."""
    return tf.map_fn(
        lambda b: tf.io.decode_image(b, channels=channels, expand_animations=False),
        encoded, fn_output_signature=tf.TensorSpec([None, None, channels], tf.uint8),
    )


def _decode_frames(encoded, channels: int):
    return tf.image.convert_image_dtype(decode_uint8(encoded, channels), tf.float32)


def _pick_frames(stored, index):
    """Frames ``index`` of a clip as float32 in [0, 1]: decoded here from JPEG/PNG bytes,
    or taken from frames decoded earlier (uint8, ``cache="frames"``)."""
    picked = tf.gather(stored, index)
    if stored.dtype == tf.uint8:
        return tf.image.convert_image_dtype(picked, tf.float32)
    return _decode_frames(picked, 3)


def decode_all_frames(example: dict, spec: InputSpec, augment: dict | None) -> dict:
    """Decode every stored frame of a clip once, for a cache of decoded clips.

    ``image/encoded`` (and ``flow/encoded`` when the spec has a flow stream) become
    ``image/decoded`` / ``flow/decoded``: uint8 (N, h, w, C), shrunk (antialiased) to the
    size whose crop (the augmentation's) is ``spec.image_size``. :func:`parse_clip` takes
    such examples as they are.
    """
    config = DEFAULT_AUGMENT if augment is None else augment
    fraction = float(config.get("crop") or 1.0)
    # The side whose crop rounds to the model's side (224 / 0.9 -> 249, crop 224): the
    # crop then needs no resize at all.
    size = tuple(max(side, round(side / fraction)) for side in spec.image_size)
    out = {k: v for k, v in example.items() if not k.endswith("/encoded")}
    for prefix, stream in (("image", "video"), ("flow", "flow")):
        if stream not in spec.streams:
            continue
        frames = decode_uint8(example[f"{prefix}/encoded"], 3)
        shape = tf.shape(frames)
        frames = tf.cond(
            tf.logical_and(shape[1] > size[0], shape[2] > size[1]),
            lambda f=frames: tf.cast(tf.round(resize_frames(f, size)), tf.uint8),
            lambda f=frames: f)
        if stream == "video" and spec.channels == 1:  # a third of the memory and work
            frames = tf.image.rgb_to_grayscale(frames)
        out[f"{prefix}/decoded"] = frames
    return out


def parse_clip(example: dict, spec: InputSpec, training: bool, augment: dict | None,
               num_classes: int | None = None, target: str = "label",
               photometric: bool = True):
    """Decoded example -> (inputs dict, target): sample, decode, augment, resize.

    ``photometric=False`` leaves out the recipe's equalisation and standardisation
    (:func:`preprocess_clip`): :func:`make_dataset` applies them to whole batches.

    The example's frames are JPEG/PNG bytes (``image/encoded``) or, from a cache of
    decoded clips, uint8 frames (``image/decoded``, see :func:`decode_all_frames`).
    """
    stored = example["image/decoded" if "image/decoded" in example else "image/encoded"]
    clip_id = example["clip/id"]
    num = tf.shape(stored)[0]
    checks = [tf.debugging.Assert(num > 0, ["clip", clip_id, "has no frames"])]
    label = tf.cast(example["clip/label/index"], tf.int32)
    if num_classes is not None:
        checks.append(tf.debugging.Assert(
            tf.logical_and(label >= 0, label < num_classes),
            ["clip", clip_id, "has label", example["clip/label/name"], "index", label,
             f"outside the model's {num_classes} classes"],
        ))
    with tf.control_dependencies(checks):
        index = sample_indices(spec.sampling, num, spec.frames, training,
                               tf.cast(example["clip/apex_index"], tf.int32))
    streams = {}
    if "video" in spec.streams:
        video = _pick_frames(stored, index)
        if spec.channels == 1 and video.shape[-1] != 1:
            # Grey before the geometry: crop, resize, flip and rotation are linear in
            # the pixels, so this gives the same frames for a third of the work.
            video = tf.image.rgb_to_grayscale(video)
        streams["video"] = video
    if "flow" in spec.streams:
        flow_stored = example["flow/decoded" if "flow/decoded" in example else "flow/encoded"]
        n_flow = tf.shape(flow_stored)[0]
        checks = [tf.debugging.Assert(
            n_flow > 0, ["clip", clip_id, "has no optical-flow stream; convert with --flow"])]
        count = spec.flow_frames or spec.frames - 1
        with tf.control_dependencies(checks):
            flow_index, still = segment_flow_index(index)
            flow_index = tf.minimum(flow_index[:count], n_flow - 1)
        flow = _pick_frames(flow_stored, flow_index)
        # A frame and its padding copy do not move: zero flow, stored as (128, 128, 0).
        streams["flow"] = tf.where(still[:count, None, None, None], tf.constant(ZERO_FLOW), flow)
    # Resized right after the crop: flips and rotations work on the output's pixels.
    streams = augment_clip(streams, augment, training, size=spec.image_size)
    out = {key: tf.clip_by_value(value, 0.0, 1.0) for key, value in streams.items()}
    if photometric and "video" in out:
        out["video"] = preprocess_clip(out["video"], augment)
    if target == "valence":
        y = example["clip/valence"]
    else:
        y = label
    return out, y


def make_dataset(
    data: str | os.PathLike | Sequence[str],
    spec: InputSpec,
    *,
    training: bool,
    batch_size: int,
    split: str | None = None,
    subjects: Iterable[str] | None = None,
    exclude_subjects: Iterable[str] | None = None,
    augment: dict[str, Any] | None = None,
    num_classes: int | None = None,
    target: str = "label",
    shuffle_buffer: int = 256,
    seed: int | None = None,
    input_context: tf.distribute.InputContext | None = None,
    skip_corrupt: bool = False,
    drop_remainder: bool | None = None,
    with_info: bool = False,
    cache: bool | str = False,
    deterministic: bool | None = None,
) -> tf.data.Dataset:
    """Batches of ``(inputs, target)`` from TFRecord shards.

    Args:
        data: glob pattern, folder (with ``split``) or list of shard paths.
        spec: the model's :class:`InputSpec`.
        training: shuffle, random temporal jitter and augmentation when True.
        batch_size: batch size of this input pipeline (per replica under a strategy).
        subjects / exclude_subjects: keep only / drop these subject ids (folds, holdout).
        augment: augmentation settings (``ferzoo.data.augment``); None: defaults.
        num_classes: labels outside ``[0, num_classes)`` raise an error naming the clip.
        target: ``"label"`` (class index) or ``"valence"`` (float).
        input_context: from ``strategy.distribute_datasets_from_function``; files are
            sharded per input pipeline when there are enough of them.
        skip_corrupt: read every intact record and skip the bad ones instead of failing
            (counted exactly, with a warning naming shard and record of each:
            :mod:`ferzoo.data.records`; :func:`skipped_clips` gives the account).
        with_info: also yield a dict with ``clip_id`` and ``subject`` per clip
            (evaluation reports).
        cache: keep what the first pass read in memory: ``True`` or ``"records"``, the
            serialized records (saves file reads only); ``"frames"``, every clip's frames
            decoded and shrunk to the size the model needs (saves the JPEG decoding, the
            main cost, from the second epoch on; needs about clips x stored frames x
            (image size / crop)^2 x 3 bytes of memory). docs/performance.md has figures.
        deterministic: keep the element order of the parallel reads and maps (default:
            in evaluation only; in training a slow clip would hold up the faster ones).
    """
    ordered = (not training) if deterministic is None else bool(deterministic)
    if cache not in (False, True, "records", "frames"):
        raise ValueError(f"cache={cache!r}; use False, 'records' or 'frames'")
    cache_frames = cache == "frames"
    files = resolve_files(data, split)
    damaged: dict[str, records.ShardCheck] = {}
    if skip_corrupt:
        checks = records.check_shards(files)
        report = records.skip_report(checks)
        if report["skipped"]:
            tf.get_logger().warning(records.describe_skips(report))
        damaged = {c.path: c for c in checks if c.damaged}
    record_shard = False
    if input_context and input_context.num_input_pipelines > 1:
        if len(files) >= input_context.num_input_pipelines:
            # the files of this input pipeline (as Dataset.shard would pick them)
            files = files[input_context.input_pipeline_id::input_context.num_input_pipelines]
        else:
            record_shard = True
    whole = [f for f in files if f not in damaged]
    parts = []
    if whole:
        ds = tf.data.Dataset.from_tensor_slices(whole)
        if training:
            ds = ds.shuffle(len(whole), seed=seed, reshuffle_each_iteration=True)
        parts.append(ds.interleave(
            lambda f: tf.data.TFRecordDataset(f, buffer_size=1 << 20),
            cycle_length=min(len(whole), 8), block_length=1,
            num_parallel_calls=AUTOTUNE, deterministic=ordered,
        ))
    broken = [damaged[f] for f in files if f in damaged]
    if broken:  # the intact records of damaged shards, read by their offsets
        parts.append(tf.data.Dataset.from_generator(
            lambda: records.intact_records(broken),
            output_signature=tf.TensorSpec([], tf.string)))
    ds = parts[0]
    for part in parts[1:]:
        ds = ds.concatenate(part)
    if record_shard:
        ds = ds.shard(input_context.num_input_pipelines, input_context.input_pipeline_id)
    if cache and not cache_frames:
        ds = ds.cache()
    if training and not cache_frames:
        ds = ds.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
    ds = ds.map(parse_example, num_parallel_calls=AUTOTUNE, deterministic=ordered)
    if subjects is not None:
        ds = ds.filter(_subject_filter(subjects, exclude=False))
    if exclude_subjects:
        ds = ds.filter(_subject_filter(exclude_subjects, exclude=True))
    if cache_frames:
        ds = ds.map(lambda example: decode_all_frames(example, spec, augment),
                    num_parallel_calls=AUTOTUNE, deterministic=ordered).cache()
        if training:
            ds = ds.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)

    def parse(example):
        inputs, y = parse_clip(example, spec, training, augment, num_classes, target,
                               photometric=False)
        if with_info:
            return inputs, y, {"clip_id": example["clip/id"], "subject": example["clip/subject"]}
        return inputs, y

    ds = ds.map(parse, num_parallel_calls=AUTOTUNE, deterministic=ordered)
    if skip_corrupt:
        ds = ds.ignore_errors(log_warning=True)
    ds = ds.batch(batch_size, drop_remainder=training if drop_remainder is None else drop_remainder)
    if "video" in spec.streams and photometric_settings(augment):
        # The recipe's photometric steps (equalize, standardize) work per frame: one
        # vectorised call per batch costs less than one per clip.
        def photometric(inputs, *rest):
            return ({**inputs, "video": preprocess_clip(inputs["video"], augment)}, *rest)

        ds = ds.map(photometric, num_parallel_calls=AUTOTUNE, deterministic=ordered)
    if ordered:
        options = tf.data.Options()
        options.deterministic = True
        ds = ds.with_options(options)
    return ds.prefetch(AUTOTUNE)


def data_fingerprint(files: Sequence[str]) -> list[list]:
    """What a list of shards holds, independent of where it lies: each shard's name and
    the sha256 its writer recorded (its size where no report says)."""
    out = []
    for path in sorted(files, key=os.path.basename):
        report = records.shard_report(path)
        digest = report.get("sha256") if report else None
        out.append([os.path.basename(path), digest or os.path.getsize(path)])
    return out


def skipped_clips(data, split: str | None = None) -> dict[str, Any]:
    """What a reader with ``skip_corrupt`` gets from ``data``: clips planned, read and
    skipped, with shard and record of each skip (:func:`ferzoo.data.records.skip_report`)."""
    return records.skip_report(records.check_shards(resolve_files(data, split)))


def clip_counts(files: Sequence[str], split: str | None = None) -> dict[str, int]:
    """Clips per subject in ``files``: from the manifest when it covers them, else a scan."""
    directory = dataset_dir(files)
    manifest = read_manifest(directory)
    if manifest:
        names = {os.path.basename(f) for f in files}
        counts: dict[str, int] = {}
        covered = set()
        for entry in manifest["splits"].values():
            shard_names = {s["file"] for s in entry["shards"]}
            if shard_names <= names:
                covered |= shard_names
                for subject, n in entry["per_subject"].items():
                    counts[subject] = counts.get(subject, 0) + n
        if covered == names:
            return counts
    counts = {}
    for path in files:
        for raw in tf.data.TFRecordDataset(path):
            subject = read_context(raw.numpy()).get("clip/subject", "")
            counts[subject] = counts.get(subject, 0) + 1
    return counts


def dataset_labels(files: Sequence[str]) -> list[str] | None:
    """The label names of the dataset the files belong to (from its manifest)."""
    manifest = read_manifest(dataset_dir(files))
    return manifest.get("labels") if manifest else None

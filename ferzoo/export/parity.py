"""How an exported artefact is compared with Keras, and what the comparison reports.

A feed is ``{input name: float32 array (batch, T, H, W, C)}``, as every runtime of
:mod:`ferzoo.export.runtime` takes it: :func:`random_feed` makes the check clips,
:func:`calibration_feeds` the batch-1 clips of int8 calibration and
:func:`evaluation_set` the labelled clips on which :func:`classification_scores` gives
each format's WAR and UAR. :func:`compare` measures an artefact's outputs against Keras':
the largest absolute difference and the top-1 agreement, where two classes closer than
:data:`TIE` in Keras are both a correct top-1. A float format must match to
:data:`FLOAT_ATOL`, else :class:`ExportParityError`. An :class:`ExportReport` holds an
:class:`ArtefactReport` per file and prints as :func:`parity_table`. A model that a
format cannot hold raises :class:`ExportError`, whichever format it is.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import keras
import numpy as np

from ferzoo.export.runtime import PROBABILITIES, Runtime
from ferzoo.training.metrics import confusion_matrix, uar, war

FLOAT_ATOL = 1e-4  # a float format must match Keras to 1e-4 on the probabilities
# Two classes whose Keras probabilities are closer than this are a tie: either is a
# correct top-1, so picking the other one is not counted as a disagreement.
TIE = 1e-6


class ExportError(RuntimeError):
    """A model that cannot be exported to a format (e.g. it needs a Flex op in TFLite)."""


class ExportParityError(ExportError):
    """An exported artefact whose outputs differ from Keras beyond the tolerance."""


@dataclasses.dataclass
class ArtefactReport:
    """One exported file and how it compares with Keras.

    Attributes:
        format: ``"savedmodel"``, ``"tflite"`` or ``"onnx"``.
        variant: ``"float32"``, ``"dynamic"`` (dynamic-range) or ``"int8"``.
        path: where it was written.
        size_bytes: size on disk (a SavedModel: all its files).
        batch: ``"dynamic"`` or the fixed batch size.
        max_abs_diff: largest absolute difference from Keras over every output value.
        top1_agreement: fraction of check clips whose top-1 class matches Keras'
            (``None`` for a regression head).
        latency_ms: median time per clip at batch 1 in this runtime.
        notes: how it was made (rewrites, fallbacks).
        accuracy, uar: WAR and UAR on the evaluation data, when given.
    """

    format: str
    variant: str
    path: str
    size_bytes: int
    batch: str
    max_abs_diff: float | None = None
    top1_agreement: float | None = None
    latency_ms: float | None = None
    notes: list[str] = dataclasses.field(default_factory=list)
    accuracy: float | None = None
    uar: float | None = None

    @property
    def quantised(self) -> bool:
        return self.variant != "float32"

    @property
    def label(self) -> str:
        return self.format if self.format != "tflite" else f"tflite-{self.variant}"


@dataclasses.dataclass
class ExportReport:
    """What :func:`ferzoo.export.export` wrote and measured."""

    name: str
    path: str
    inputs: dict[str, list[int]]
    outputs: list[str]
    artefacts: list[ArtefactReport] = dataclasses.field(default_factory=list)
    keras_latency_ms: float | None = None
    check_clips: int = 0
    calibration: str = ""
    warnings: list[str] = dataclasses.field(default_factory=list)
    keras_accuracy: float | None = None
    keras_uar: float | None = None
    evaluation: str = ""

    def artefact(self, label: str) -> ArtefactReport:
        """The artefact named ``"savedmodel"``, ``"onnx"`` or ``"tflite-<variant>"``."""
        for a in self.artefacts:
            if a.label == label:
                return a
        raise KeyError(f"no artefact {label!r}; have {[a.label for a in self.artefacts]}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def table(self) -> str:
        """The parity table in Markdown."""
        return parity_table(self.artefacts, self.keras_latency_ms,
                            (self.keras_accuracy, self.keras_uar))


def parity_table(artefacts: Sequence[ArtefactReport], keras_latency: float | None,
                 keras_scores: tuple[float | None, float | None] = (None, None)) -> str:
    """Markdown table: format, file, size, batch, max abs diff, top-1, latency, notes;
    and WAR / UAR on the evaluation data when measured."""
    def fmt(value, spec):
        return "-" if value is None else format(value, spec)

    scored = keras_scores[0] is not None or any(a.accuracy is not None for a in artefacts)
    head = ["format", "file", "size", "batch", "max abs diff", "top-1 agreement", "ms/clip"]
    head += ["WAR", "UAR"] if scored else []
    lines = ["| " + " | ".join(head + ["notes"]) + " |", "|" + "---|" * (len(head) + 1)]
    if keras_latency is not None or scored:
        row = ["keras", "-", "-", "any", "0", "100%", fmt(keras_latency, ".2f")]
        row += [fmt(keras_scores[0], ".2%"), fmt(keras_scores[1], ".2%")] if scored else []
        lines.append("| " + " | ".join(row + ["reference"]) + " |")
    for a in artefacts:
        row = [a.label, Path(a.path).name, format_size(a.size_bytes), a.batch,
               fmt(a.max_abs_diff, ".2e"), fmt(a.top1_agreement, ".0%"),
               fmt(a.latency_ms, ".2f")]
        row += [fmt(a.accuracy, ".2%"), fmt(a.uar, ".2%")] if scored else []
        lines.append("| " + " | ".join(row + ["; ".join(a.notes)]) + " |")
    return "\n".join(lines)


def format_size(n: int) -> str:
    """``"512 B"``, ``"3.4 MB"``: a file size for tables."""
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def random_feed(
    clip_shapes: Mapping[str, Sequence[int]],
    batch: int,
    value_range: Sequence[float] = (0.0, 1.0),
    seed: int = 0,
) -> dict[str, np.ndarray]:
    """Random clips, uniform in ``value_range``: ``{name: (batch, *shape)}`` float32."""
    rng = np.random.default_rng(seed)
    low, high = value_range
    return {
        k: rng.uniform(low, high, size=(batch, *shape)).astype(np.float32)
        for k, shape in clip_shapes.items()
    }


def calibration_feeds(
    data: Iterable | None,
    clip_shapes: Mapping[str, Sequence[int]],
    limit: int = 32,
    value_range: Sequence[float] = (0.0, 1.0),
) -> tuple[list[dict[str, np.ndarray]], str]:
    """Batch-1 feeds for int8 calibration, and a line saying where they came from.

    ``data`` items may be feeds, arrays (single-input models) or ``(inputs, label)``
    pairs, batched or not; ``None`` gives random clips.
    """
    if data is None:
        feeds = split_feed(random_feed(clip_shapes, limit, value_range, seed=7))
        return feeds, f"calibrated on {limit} random clips in {list(value_range)}"
    names = list(clip_shapes)
    feeds: list[dict[str, np.ndarray]] = []
    for item in data:
        if isinstance(item, tuple) and len(item) == 2:
            item = item[0]  # (inputs, label), as a tf.data pipeline yields
        if not isinstance(item, Mapping):
            if len(names) != 1:
                raise ValueError(f"representative data for a model with inputs {names} "
                                 f"must be feeds {{name: array}}; got {type(item).__name__}")
            item = {names[0]: item}
        feed = {}
        for key in names:
            if key not in item:
                raise KeyError(f"representative data lacks input {key!r} (has {sorted(item)})")
            value = np.asarray(item[key], np.float32)
            expected = tuple(clip_shapes[key])
            if value.shape == expected:
                value = value[None]
            if value.shape[1:] != expected:
                raise ValueError(f"representative {key!r} has shape {value.shape}; the model "
                                 f"takes (batch, {', '.join(map(str, expected))})")
            feed[key] = value
        feeds.extend(split_feed(feed))
        if len(feeds) >= limit:
            break
    if not feeds:
        raise ValueError("representative_data is empty")
    feeds = feeds[:limit]
    return feeds, f"calibrated on {len(feeds)} clips of the representative data"


def evaluation_set(data: Iterable,
                   names: Sequence[str]) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Every clip of ``(inputs, labels)`` batches in memory: ``(feed, labels)``."""
    feeds: dict[str, list[np.ndarray]] = {n: [] for n in names}
    labels = []
    for item in data:
        inputs, y = item[0], item[1]
        if not isinstance(inputs, Mapping):
            inputs = {names[0]: inputs}
        for n in names:
            feeds[n].append(np.asarray(inputs[n], np.float32))
        labels.append(np.asarray(y).reshape(-1))
    if not labels:
        raise ValueError("evaluation_data is empty")
    return {n: np.concatenate(v) for n, v in feeds.items()}, np.concatenate(labels)


def classification_scores(runtime: Runtime, feed: Mapping[str, np.ndarray],
                          labels: np.ndarray, chunk: int = 32) -> tuple[float, float]:
    """``(WAR, UAR)`` of ``runtime`` on ``feed`` against integer ``labels``."""
    predictions = []
    for start in range(0, len(labels), chunk):
        out = runtime({k: v[start:start + chunk] for k, v in feed.items()})
        predictions.append(out.get(PROBABILITIES, next(iter(out.values()))).argmax(-1))
    predicted = np.concatenate(predictions)
    classes = int(max(labels.max(), predicted.max())) + 1
    matrix = confusion_matrix(labels, predicted, classes)
    return war(matrix), uar(matrix)


def split_feed(feed: Mapping[str, np.ndarray]) -> list[dict[str, np.ndarray]]:
    """One batch-1 feed per clip of ``feed``."""
    batch = next(iter(feed.values())).shape[0]
    return [{k: v[i:i + 1] for k, v in feed.items()} for i in range(batch)]


def compare(reference: Mapping[str, np.ndarray], got: Mapping[str, np.ndarray], head: str):
    """``(max abs diff, top-1 agreement or None, decisive disagreements)``."""
    missing = sorted(set(reference) - set(got))
    if missing:
        raise ExportError(f"exported model lacks outputs {missing} (has {sorted(got)})")
    diff = max(float(np.max(np.abs(reference[k] - got[k]))) for k in reference)
    if not np.isfinite(diff):
        diff = math.inf
    if head != "softmax" or PROBABILITIES not in reference:
        return diff, None, 0
    ref, out = reference[PROBABILITIES], got[PROBABILITIES]
    ref_top, out_top = ref.argmax(-1), out.argmax(-1)
    rows = np.arange(len(ref))
    agree = float(np.mean(ref_top == out_top))
    decisive = int(np.sum((ref_top != out_top) & (ref[rows, ref_top] - ref[rows, out_top] > TIE)))
    return diff, agree, decisive


def model_clip_shapes(model: keras.Model) -> dict[str, tuple[int, ...]]:
    """``{input name: (T, H, W, C)}`` of ``model``; every one must be fixed to export."""
    shapes = {}
    for tensor in model.inputs:
        shape = tuple(tensor.shape[1:])
        if any(d is None for d in shape):
            raise ExportError(
                f"{model.name}: input {tensor.name!r} has shape (batch, {shape}); export "
                f"needs a fixed T, H, W, C: build the model with frames/image_size set"
            )
        shapes[tensor.name] = tuple(int(d) for d in shape)
    return shapes

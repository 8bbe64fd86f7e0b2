"""Export a model to SavedModel, TFLite (float32, dynamic-range, int8) and ONNX, and check
that every exported file gives Keras' answers in its own runtime.

    >>> model = ferzoo.build("stcam", preset="cpu")                  # doctest: +SKIP
    >>> report = ferzoo.export.export(model, "exports/stcam", name="stcam")  # doctest: +SKIP
    >>> print(report.table())                                         # doctest: +SKIP

What is written into ``path``::

    saved_model/                 SavedModel, signature "serving_default":
                                 inputs named after the streams ("video"[, "flow"]),
                                 (batch, T, H, W, C) float32, any batch; output
                                 "probabilities" (batch, num_classes)
    <name>_float32.tflite        TFLite, batch 1 and the model's T, builtin ops only,
                                 internal tensor names stripped
    <name>_dynamic.tflite        ... weights int8, activations float (dynamic range)
    <name>_int8.tflite           ... weights and activations int8, float32 in and out
    <name>.onnx                  ONNX (opset 17), dynamic batch where the graph allows it
    model_card.json, model_card.md, export_report.json

How each format is made, and why (see docs/design.md#what-the-stack-does-and-does-not-do),
one module per format:

- :mod:`ferzoo.export.savedmodel`: the traced inference function and the model's
  variables; the same function is the Keras reference of the checks and the input of
  the ONNX converter, so the model is traced once for the three.
- :mod:`ferzoo.export.tflite`: a static batch-1 SavedModel through
  ``TFLiteConverter.from_saved_model``, builtin ops only; RNNs unrolled and Conv3D run as
  CONV_2D while tracing (:mod:`ferzoo.export.tflite_rewrites`) to keep it quantisable.
- :mod:`ferzoo.export.onnx`: tf2onnx on the dynamic-batch function; batch 1 when that
  graph fails, and the report says why.

Each artefact is checked right after it is written: it is loaded in its own runtime
(``tf.saved_model.load``, LiteRT's ``ai_edge_litert`` interpreter, ONNX Runtime), run on
a few clips and compared with Keras. Float formats must agree to ``atol`` (1e-4) on the
probabilities and on every top-1 class, or :class:`ExportParityError` is raised; the
quantised TFLite variants are reported, not held to that.

:mod:`ferzoo.export.parity` makes the feeds and compares, :mod:`ferzoo.export.card` writes
the model card, :mod:`ferzoo.export.runtime` runs every format.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import keras
import numpy as np

from ferzoo.export.card import model_card, model_card_markdown, registry_entry, write_model_card
from ferzoo.export.onnx import ONNX_OPSET, write_onnx
from ferzoo.export.parity import (
    FLOAT_ATOL,
    TIE,
    ArtefactReport,
    ExportError,
    ExportParityError,
    ExportReport,
    calibration_feeds,
    classification_scores,
    compare,
    evaluation_set,
    format_size,
    model_clip_shapes,
    parity_table,
    random_feed,
    split_feed,
)
from ferzoo.export.runtime import (
    KerasRuntime,
    OnnxRuntime,
    SavedModelRuntime,
    TFLiteRuntime,
    artefact_size,
    latency_ms,
    output_names,
)
from ferzoo.export.savedmodel import write_saved_model
from ferzoo.export.tflite import (
    CONSTANT_RANGE,
    TFLITE_VARIANTS,
    convert_tflite,
    strip_tensor_names,
    tflite_ops,
    widen_constant_ranges,
)

__all__ = [
    "CONSTANT_RANGE",
    "FLOAT_ATOL",
    "FORMATS",
    "ONNX_OPSET",
    "TFLITE_VARIANTS",
    "TIE",
    "ArtefactReport",
    "ExportError",
    "ExportParityError",
    "ExportReport",
    "calibration_feeds",
    "classification_scores",
    "convert_tflite",
    "evaluation_set",
    "export",
    "format_size",
    "model_card",
    "model_card_markdown",
    "parity_table",
    "random_feed",
    "strip_tensor_names",
    "tflite_ops",
    "widen_constant_ranges",
    "write_model_card",
    "write_onnx",
    "write_saved_model",
]

FORMATS = ("savedmodel", "tflite", "onnx")


def export(
    model: keras.Model,
    path: str | Path,
    formats: Sequence[str] = FORMATS,
    tflite_variants: Sequence[str] = TFLITE_VARIANTS,
    representative_data: Iterable | None = None,
    name: str | None = None,
    check: bool = True,
    check_inputs: Mapping[str, np.ndarray] | None = None,
    num_check: int = 3,
    num_calibration: int = 32,
    labels: Sequence[str] | None = None,
    metrics: Mapping[str, Any] | None = None,
    onnx_opset: int = ONNX_OPSET,
    atol: float = FLOAT_ATOL,
    num_threads: int | None = None,
    evaluation_data: Iterable | None = None,
    photometric: Mapping[str, Any] | None = None,
    verbose: bool = False,
) -> ExportReport:
    """Export ``model`` to ``path`` in every format asked for, check each, write a card.

    Args:
        model: a built ``keras.Model`` whose inputs have a fixed T, H, W and C.
        path: output folder (created; files of a previous export are replaced).
        formats: any of ``"savedmodel"``, ``"tflite"``, ``"onnx"``.
        tflite_variants: any of ``"float32"``, ``"dynamic"`` (dynamic-range: int8
            weights) and ``"int8"`` (full integer, calibrated on ``representative_data``).
        representative_data: clips for int8 calibration: an iterable of feeds
            (``{"video": array}``), of arrays (single-input models), or of
            ``(inputs, label)`` pairs such as a ``tf.data.Dataset`` from
            ``ferzoo.data.pipeline.make_dataset``; batched or not. Without it, random
            clips in the model's value range are used and the report warns.
        name: the registered model name (for the card: paper, sampling, ...); default
            ``model.name`` when that is registered.
        check: run every artefact and compare it with Keras.
        check_inputs: the clips to check on (feed of batched arrays); default
            ``num_check`` random clips in the model's value range.
        num_check: how many random check clips.
        num_calibration: at most this many clips of ``representative_data`` are used.
        labels: class names, in output order, for the card.
        metrics: figures of the weights (``{"WAR": 0.61, "UAR": 0.55, "data": ...}``).
        onnx_opset: ONNX opset (17 or newer).
        atol: float parity tolerance on every output value.
        num_threads: threads of the TFLite and ONNX runtimes in the check.
        evaluation_data: labelled clips, ``(inputs, labels)`` batches such as
            ``make_dataset(test shards, spec, training=False, ...)``: every artefact's
            WAR and UAR on them goes in the report and the card (int8 vs float).
        photometric: the photometric steps the weights were trained with
            (``ferzoo.data.photometric.photometric_settings`` of the recipe's augment
            settings: histogram equalisation, standardisation); recorded in the card,
            which ``ferzoo predict`` reads to prepare its input the same way.
        verbose: print a line per artefact.

    Returns:
        An :class:`ExportReport`; it is also written as ``export_report.json``.

    Raises:
        ExportError: a format cannot hold the model (a Flex op in TFLite, a failed
            conversion), with the op and the layer it comes from.
        ExportParityError: a float artefact differs from Keras by more than ``atol``
            or picks another top-1 class.
    """
    formats = _checked_choices(formats, FORMATS, "format")
    tflite_variants = _checked_choices(tflite_variants, TFLITE_VARIANTS, "TFLite variant")
    if onnx_opset < 17:
        raise ValueError(f"onnx_opset={onnx_opset}; ferzoo exports opset 17 or newer")
    out_dir = Path(path)
    out_dir.mkdir(parents=True, exist_ok=True)

    entry = registry_entry(name or model.name)
    name = name or (entry.name if entry else model.name)
    head = entry.head if entry else _guess_head(model)
    clip_shapes = model_clip_shapes(model)
    value_range = entry.value_range if entry else (0.0, 1.0)
    outputs = output_names(model, head)
    report = ExportReport(
        name=name,
        path=str(out_dir),
        inputs={k: list(v) for k, v in clip_shapes.items()},
        outputs=outputs,
    )
    keras_runtime = KerasRuntime(model, head=head)

    if check_inputs is None:
        check_inputs = random_feed(clip_shapes, num_check, value_range, seed=0)
    check_inputs = {k: np.asarray(v, np.float32) for k, v in check_inputs.items()}
    clips = split_feed(check_inputs)
    report.check_clips = len(clips)
    reference = keras_runtime(check_inputs) if check else None
    if check:
        report.keras_latency_ms = latency_ms(keras_runtime, clips)
    evaluation = None
    if evaluation_data is not None:
        evaluation = evaluation_set(evaluation_data, list(clip_shapes))
        report.evaluation = f"{len(evaluation[1])} labelled clips"
        report.keras_accuracy, report.keras_uar = classification_scores(
            keras_runtime, *evaluation)

    def checked(artefact: ArtefactReport, runtime_factory) -> None:
        if check:
            runtime = runtime_factory()
            got = runtime(check_inputs)
            artefact.max_abs_diff, artefact.top1_agreement, decisive = compare(
                reference, got, head
            )
            artefact.latency_ms = latency_ms(runtime, clips)
            if evaluation is not None:
                artefact.accuracy, artefact.uar = classification_scores(runtime, *evaluation)
            if not artefact.quantised and (artefact.max_abs_diff > atol or decisive):
                raise ExportParityError(
                    f"{name}: {artefact.label} ({artefact.path}) does not match Keras: "
                    f"max abs diff {artefact.max_abs_diff:.3g} (tolerance {atol:g}), "
                    f"top-1 agreement {artefact.top1_agreement:.0%} over {len(clips)} "
                    f"clips; notes: {'; '.join(artefact.notes) or 'none'}"
                )
        report.artefacts.append(artefact)
        if verbose:
            print(_artefact_line(name, artefact))

    if "savedmodel" in formats:
        target = out_dir / "saved_model"
        write_saved_model(model, target, head=head, function=keras_runtime.function)
        checked(
            ArtefactReport("savedmodel", "float32", str(target), artefact_size(target),
                           "dynamic"),
            lambda: SavedModelRuntime(target),
        )

    if "tflite" in formats and tflite_variants:
        calibration = None
        if "int8" in tflite_variants:
            calibration, source = calibration_feeds(
                representative_data, clip_shapes, num_calibration, value_range
            )
            report.calibration = source
            if representative_data is None:
                report.warnings.append(
                    f"int8 was calibrated on {len(calibration)} random clips in "
                    f"{list(value_range)}, not on real data: pass representative_data "
                    f"(or --data) for int8 figures that mean something"
                )
        for variant, content, notes in convert_tflite(
            model, tflite_variants, calibration, name=name, head=head
        ):
            target = out_dir / f"{name}_{variant}.tflite"
            target.write_bytes(content)
            checked(
                ArtefactReport("tflite", variant, str(target), len(content), "1",
                               notes=notes),
                lambda target=target: TFLiteRuntime(target, num_threads=num_threads),
            )

    if "onnx" in formats:
        target = out_dir / f"{name}.onnx"
        batch, notes = write_onnx(model, target, head=head, opset=onnx_opset, atol=atol,
                                  reference=keras_runtime)
        checked(
            ArtefactReport("onnx", "float32", str(target), artefact_size(target),
                           "dynamic" if batch is None else str(batch), notes=notes),
            lambda: OnnxRuntime(target, num_threads=num_threads),
        )

    card = model_card(model, name, report, labels=labels, metrics=metrics, head=head,
                      photometric=photometric)
    write_model_card(card, out_dir)
    (out_dir / "export_report.json").write_text(json.dumps(report.to_dict(), indent=2))
    return report


def _guess_head(model: keras.Model) -> str:
    last = model.layers[-1]
    activation = getattr(last, "activation", None)
    return "softmax" if getattr(activation, "__name__", "") == "softmax" or \
        isinstance(last, keras.layers.Softmax) else "regression"


def _checked_choices(values: Sequence[str] | str, choices: Sequence[str], what: str):
    values = (values,) if isinstance(values, str) else tuple(values)
    unknown = [v for v in values if v not in choices]
    if unknown:
        raise ValueError(f"unknown {what} {unknown}; choose from {list(choices)}")
    return values


def _artefact_line(name: str, a: ArtefactReport) -> str:
    diff = "-" if a.max_abs_diff is None else f"{a.max_abs_diff:.2e}"
    top1 = "-" if a.top1_agreement is None else f"{a.top1_agreement:.0%}"
    ms = "-" if a.latency_ms is None else f"{a.latency_ms:.2f} ms/clip"
    size = format_size(a.size_bytes)
    return f"{name}: {a.label:16s} {size:>9s}  max|diff| {diff}  top-1 {top1}  {ms}"

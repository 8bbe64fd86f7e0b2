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

How each format is made, and why (see docs/design.md#what-the-stack-does-and-does-not-do):

- SavedModel: the traced inference function (arguments named after the model's inputs,
  so ``signatures["serving_default"](video=...)`` works) and the model's variables in a
  ``tf.Module``; the same function is the Keras reference of the checks and the input
  of the ONNX converter, so the model is traced once for the three.
- TFLite: the same kind of SavedModel with a static batch-1 signature, then
  ``TFLiteConverter.from_saved_model`` (the route of ``model.export(format="litert")``;
  ``from_concrete_functions`` silently produced NaNs). While tracing, two rewrites keep
  the graph builtin-only and quantisable: Keras RNN layers are unrolled over the fixed T
  (a WHILE loop crashes int8 calibration), and Conv3D layers run as one CONV_2D over
  their stacked temporal taps (TFLite's CONV_3D has no int8 kernel, so a Conv3D network
  would otherwise stay float in "int8"; the rewrite is exact and also faster on CPU).
  Any Flex (select-TF) op left fails the export, naming the op and the Keras layer.
- ONNX: ``tf2onnx.convert.from_function`` on a ``tf.function`` with a dynamic-batch
  signature (what Keras' ``export(format="onnx")`` does inside); when that graph fails to
  convert, to load in ONNX Runtime or to match Keras, the batch is fixed to 1 instead and
  the report says why.

Each artefact is checked right after it is written: it is loaded in its own runtime
(``tf.saved_model.load``, LiteRT's ``ai_edge_litert`` interpreter, ONNX Runtime), run on
a few clips and compared with Keras. Float formats must agree to ``atol`` (1e-4) on the
probabilities and on every top-1 class, or :class:`ExportParityError` is raised; the
quantised TFLite variants are reported, not held to that.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import re
import shutil
import tempfile
import types
import warnings
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import keras
import numpy as np
import tensorflow as tf

from ferzoo import registry
from ferzoo.data.sampling import get_sampler
from ferzoo.export.runtime import (
    PROBABILITIES,
    SIGNATURE,
    KerasRuntime,
    OnnxRuntime,
    Runtime,
    SavedModelRuntime,
    TFLiteRuntime,
    artefact_size,
    latency_ms,
    output_names,
    serving_function,
)
from ferzoo.training.metrics import confusion_matrix, uar, war

FORMATS = ("savedmodel", "tflite", "onnx")
TFLITE_VARIANTS = ("float32", "dynamic", "int8")
FLOAT_ATOL = 1e-4  # a float format must match Keras to 1e-4 on the probabilities
ONNX_OPSET = 17  # the first ONNX opset with LayerNormalization
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
    """What :func:`export` wrote and measured."""

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

# ----------------------------------------------------------------------------- public


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

    entry = _registry_entry(name or model.name)
    name = name or (entry.name if entry else model.name)
    head = entry.head if entry else _guess_head(model)
    clip_shapes = _clip_shapes(model)
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
    clips = _split_feed(check_inputs)
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
            artefact.max_abs_diff, artefact.top1_agreement, decisive = _compare(
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


# ------------------------------------------------------------------------ SavedModel


def write_saved_model(
    model: keras.Model,
    path: str | Path,
    head: str = "softmax",
    batch: int | None = None,
    function=None,
) -> Path:
    """Write ``model`` as a SavedModel whose ``serving_default`` signature takes the
    model's input names and returns ``{"probabilities": ...}``. Replaces ``path``.

    The SavedModel holds the traced inference function and the model's variables
    only (a ``tf.Module``, not the Keras layer tree): it loads without ferzoo, and on a
    deep model it writes three times faster than ``keras.export.ExportArchive``.
    ``function`` is a :func:`ferzoo.export.runtime.serving_function` already traced, if any.
    """
    path = Path(path)
    if path.exists():
        shutil.rmtree(path)
    function = function or serving_function(model, output_names(model, head), batch)
    module = tf.Module()
    module.model_variables = [v.value for v in model.variables]  # the tf.Variables
    tf.saved_model.save(module, str(path),
                        signatures={SIGNATURE: function.get_concrete_function()})
    return path


def _clip_specs(model: keras.Model, batch: int | None) -> list[tf.TensorSpec]:
    return [
        tf.TensorSpec((batch, *shape), tf.float32, name=name)
        for name, shape in _clip_shapes(model).items()
    ]


# ---------------------------------------------------------------------------- TFLite


def convert_tflite(
    model: keras.Model,
    variants: Sequence[str] = TFLITE_VARIANTS,
    calibration: list[dict[str, np.ndarray]] | None = None,
    name: str | None = None,
    head: str = "softmax",
):
    """Convert ``model`` to each TFLite variant; yields ``(variant, bytes, notes)``.

    The graph is traced at batch 1 with the model's T, with RNNs unrolled and Conv3D as
    CONV_2D (see the module docstring). The float32 conversion may use Flex ops only
    to find them: any Flex or custom op raises :class:`ExportError` naming the op and
    the Keras layer. ``int8`` needs ``calibration`` (batch-1 feeds).
    """
    name = name or model.name
    with tempfile.TemporaryDirectory(prefix="ferzoo-tflite-") as tmp:
        with tflite_rewrites(model) as notes:
            write_saved_model(model, Path(tmp) / "sm", head=head, batch=1)
        # One converter for every variant: each from_saved_model reloads the SavedModel.
        converter = tf.lite.TFLiteConverter.from_saved_model(str(Path(tmp) / "sm"))

        float_model = _converter_run(converter, name, "float32", flex_allowed=True)
        ops = tflite_ops(float_model)
        _raise_on_non_builtin(ops, model, name)
        if "float32" in variants:
            yield "float32", strip_tensor_names(float_model), list(notes)
        if "dynamic" in variants:
            content = _converter_run(converter, name, "dynamic")
            _raise_on_non_builtin(tflite_ops(content), model, name)
            yield "dynamic", strip_tensor_names(content), notes + [
                "weights int8, activations float32"]
        if "int8" in variants:
            loops = [(code, out) for code, out in ops if code == "WHILE"]
            if loops:
                raise ExportError(
                    f"{name}: int8 TFLite refused: the graph has a WHILE loop "
                    f"({_describe_nodes(loops, model)}), and TFLite's int8 calibration "
                    f"crashes (segfault) on WHILE loops. Write the loop over the fixed T "
                    f"as a Python loop (or keras RNN layers, which export unrolls), or "
                    f"leave 'int8' out of tflite_variants."
                )
            if not calibration:
                raise ValueError("int8 TFLite needs calibration feeds")
            extra = ["weights and activations int8; float32 input and output",
                     f"calibrated on {len(calibration)} clips"]
            try:
                content = _converter_run(converter, name, "int8", calibration=calibration,
                                         notes=extra)
            except ExportError as error:
                # Some op has no int8 kernel: let it stay float rather than fail.
                content = _converter_run(
                    converter, name, "int8", calibration=calibration, float_fallback=True,
                    notes=extra,
                )
                extra.append(f"ops without int8 kernels stay float ({error.__cause__!s:.200})")
            _raise_on_non_builtin(tflite_ops(content), model, name)
            yield "int8", strip_tensor_names(content), notes + extra


@contextlib.contextmanager
def tflite_rewrites(model: keras.Model):
    """While tracing for TFLite: Keras LSTMs as a compact unrolled loop, other Keras RNN
    layers unrolled, and Conv3D as CONV_2D.

    Every rewrite computes the same function with the same variables; they are undone
    on exit. Yields the list of notes describing what was rewritten.
    """
    layers = _all_layers(model)
    lstms = [l for l in layers if type(l) is keras.layers.LSTM and not l.stateful]
    rnns = [l for l in layers
            if isinstance(l, keras.layers.RNN) and not l.unroll and l not in lstms]
    convs = [
        l for l in layers
        if type(l) is keras.layers.Conv3D
        and tuple(l.dilation_rate) == (1, 1, 1)
        and l.groups == 1
        and l.data_format == "channels_last"
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


def _converter_run(
    converter: tf.lite.TFLiteConverter,
    name: str,
    variant: str,
    flex_allowed: bool = False,
    calibration: list[dict[str, np.ndarray]] | None = None,
    float_fallback: bool = False,
    notes: list[str] | None = None,
) -> bytes:
    """Set ``converter`` up for ``variant`` (every setting, so it can be reused) and run it.

    int8 is calibrated, then every constant activation range is widened
    (:func:`widen_constant_ranges`), then quantised: what ``converter.convert()`` does in
    one go, with that fix in between. ``notes`` receives a line when it applied.
    """
    ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    converter.optimizations = [] if variant == "float32" else [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = None
    if variant == "int8":
        converter.representative_dataset = lambda: iter(calibration)
        ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        if float_fallback:
            ops.append(tf.lite.OpsSet.TFLITE_BUILTINS)
    if flex_allowed:
        ops.append(tf.lite.OpsSet.SELECT_TF_OPS)
    converter.target_spec.supported_ops = ops
    # Dense layers quantised per tensor (TFLite's classic FULLY_CONNECTED scheme):
    # per-channel scales cost ~10% of an int8 file with unrolled RNNs (a scale and an
    # int64 zero point per output unit of every weight), for no accuracy change measured
    # on stc_nlstm (93-94% WAR both ways). Conv layers stay per channel.
    per_tensor_dense = variant == "int8"
    if hasattr(converter, "_experimental_disable_per_channel_quantization_for_dense_layers"):
        converter._experimental_disable_per_channel_quantization_for_dense_layers = (
            per_tensor_dense)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tf.lite.Interpreter deprecation in calibration
            if variant != "int8" or not _CALIBRATE_THEN_QUANTIZE:
                return converter.convert()
            converter._experimental_calibrate_only = True
            try:
                calibrated = converter.convert()
            finally:
                converter._experimental_calibrate_only = False
            calibrated, widened = widen_constant_ranges(calibrated)
            if widened and notes is not None:
                notes.append(f"{widened} constant activation range(s) widened to "
                             f"{CONSTANT_RANGE:g} (XNNPACK rejects a zero range)")
            from tensorflow.lite.python.convert import mlir_quantize

            return mlir_quantize(
                calibrated, input_data_type=tf.float32, output_data_type=tf.float32,
                disable_per_channel_for_dense_layers=per_tensor_dense,
            )
    except Exception as error:  # the converter raises ConverterError and others
        message = str(error).strip().splitlines()
        raise ExportError(
            f"{name}: TFLite {variant} conversion failed: {' '.join(message[-4:])[:600]}"
        ) from error


def _has_calibrate_then_quantize() -> bool:
    """Whether this TensorFlow has the two steps (private API, as
    ``tf.lite.experimental.QuantizationDebugger`` uses them); else int8 is converted
    in one go, without widening."""
    try:
        from tensorflow.lite.python.convert import mlir_quantize  # noqa: F401
    except ImportError:
        return False
    return True


# A tensor that calibration saw at one value only (a ReLU unit that never fires, for
# example) gets a range of zero width and a scale of ~1e-9; XNNPACK refuses the ops
# around it ("failed to create XNNPACK runtime"), and inside a whole model that ended in
# heap corruption (STCAM's channel-attention MLP after training). Such ranges are
# widened to this width around their value: the value itself stays exact to ~2e-5.
CONSTANT_RANGE = 1e-2
_CALIBRATE_THEN_QUANTIZE = _has_calibrate_then_quantize()


def widen_constant_ranges(calibrated: bytes, width: float = CONSTANT_RANGE,
                          degenerate: float = 1e-6) -> tuple[bytes, int]:
    """Widen every calibrated (min, max) narrower than ``degenerate`` to ``width``.

    ``calibrated`` is a TFLite model with calibration statistics (``min``/``max`` in the
    tensors' quantization parameters), before quantisation. Returns the model and how
    many tensors were widened.
    """
    from tensorflow.lite.tools import flatbuffer_utils

    fb = flatbuffer_utils.convert_bytearray_to_object(bytearray(calibrated))
    count = 0
    for graph in fb.subgraphs:
        for tensor in graph.tensors:
            q = tensor.quantization
            if q is None or q.min is None or q.max is None or not len(q.min):
                continue
            low, high = np.asarray(q.min, np.float64), np.asarray(q.max, np.float64)
            narrow = (high - low) < degenerate
            if narrow.any():
                centre = (low + high) / 2
                q.min = list(np.where(narrow, np.minimum(low, centre - width / 2), low))
                q.max = list(np.where(narrow, np.maximum(high, centre + width / 2), high))
                count += 1
    if not count:
        return calibrated, 0
    return bytes(flatbuffer_utils.convert_object_to_bytearray(fb)), count


def strip_tensor_names(content: bytes) -> bytes:
    """The TFLite model without the names of its internal tensors (graph node paths that
    only help debugging): 5-20% smaller, most in int8 where the weights are small.
    The signature and its input and output names stay."""
    from tensorflow.lite.tools import flatbuffer_utils

    fb = flatbuffer_utils.convert_bytearray_to_object(bytearray(content))
    for graph in fb.subgraphs:
        keep = set(graph.inputs) | set(graph.outputs)
        for index, tensor in enumerate(graph.tensors):
            if index not in keep:
                tensor.name = None
    return bytes(flatbuffer_utils.convert_object_to_bytearray(fb))


def tflite_ops(content: bytes) -> list[tuple[str, str]]:
    """``(op code, first output tensor name)`` of every op in a TFLite flatbuffer.

    Builtin ops by their name (``"CONV_2D"``), custom ops by their custom code
    (``"FlexMaxPool3D"`` for a select-TF op), every subgraph.
    """
    from ai_edge_litert import schema_py_generated as schema

    builtin = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    fb = schema.Model.GetRootAs(content, 0)
    codes = []
    for i in range(fb.OperatorCodesLength()):
        code = fb.OperatorCodes(i)
        number = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
        if number == schema.BuiltinOperator.CUSTOM:
            codes.append("CUSTOM:" + (code.CustomCode() or b"?").decode())
        else:
            codes.append(builtin.get(number, f"BUILTIN_{number}"))
    out = []
    for s in range(fb.SubgraphsLength()):
        graph = fb.Subgraphs(s)
        for j in range(graph.OperatorsLength()):
            op = graph.Operators(j)
            name = graph.Tensors(op.Outputs(0)).Name() if op.OutputsLength() else None
            tensor = (name or b"").decode()  # stripped models have no tensor names
            out.append((codes[op.OpcodeIndex()], tensor))
    return out


def _raise_on_non_builtin(ops: list[tuple[str, str]], model: keras.Model, name: str) -> None:
    custom = [(code.split(":", 1)[1], node) for code, node in ops if code.startswith("CUSTOM:")]
    if not custom:
        return
    flex = [(code[4:] if code.startswith("Flex") else code, node) for code, node in custom]
    if all(op in ("MaxPool3D", "AvgPool3D") for op, _ in flex):
        hint = "write 3D pooling as reshapes + 2D pooling, or keras.ops reductions"
    else:
        hint = "write the layer with ops TFLite has builtin kernels for"
    raise ExportError(
        f"{name}: TFLite needs ops that are not builtin (Flex / select TF ops, which "
        f"LiteRT cannot run): {_describe_nodes(flex, model)}. To export it, {hint} "
        f"(docs/design.md#what-the-stack-does-and-does-not-do)."
    )


def _describe_nodes(ops: list[tuple[str, str]], model: keras.Model) -> str:
    """``op 'MaxPool3D' from layer 'pool3d' (MaxPooling3D; node ...)`` for each op."""
    layers = {l.name: l for l in _all_layers(model)}
    seen, parts = set(), []
    for op, node in ops:
        layer = _layer_for_node(node, layers)
        key = (op, layer.name if layer else node)
        if key in seen:
            continue
        seen.add(key)
        where = (f"layer '{layer.name}' ({type(layer).__name__})" if layer
                 else "no Keras layer found")
        parts.append(f"op {op} from {where}; graph node {node}")
    return ", ".join(parts)


def _layer_for_node(node: str, layers: dict[str, keras.layers.Layer]):
    """The innermost Keras layer named in a TF node name such as
    ``functional_1/block_1/pool3d_1/MaxPool3D`` (TF appends ``_1`` to name scopes)."""
    for piece in node.split(";"):
        for part in reversed(piece.split("/")):
            for candidate in (part, re.sub(r"_\d+$", "", part)):
                if candidate in layers:
                    return layers[candidate]
    return None


# ------------------------------------------------------------------------------ ONNX


def write_onnx(
    model: keras.Model,
    path: str | Path,
    head: str = "softmax",
    opset: int = ONNX_OPSET,
    atol: float = FLOAT_ATOL,
    reference: KerasRuntime | None = None,
) -> tuple[int | None, list[str]]:
    """Write ``model`` as ONNX; returns ``(batch, notes)`` with batch ``None`` if dynamic.

    The dynamic-batch graph is tried first and kept when it converts, passes the ONNX
    checker, loads in ONNX Runtime and matches Keras on two clips; otherwise the batch
    is fixed to 1 (tf2onnx makes invalid graphs of some dynamic-batch matmuls).
    ``reference``: the model's :class:`KerasRuntime`, whose traced function is converted.
    """
    path = Path(path)
    reference = reference or KerasRuntime(model, head)
    try:
        _convert_onnx(reference.function, path, opset)
        _validate_dynamic_onnx(reference, path, atol, head)
        return None, [f"opset {opset}, dynamic batch"]
    except Exception as error:  # conversion, checker, ORT load, or parity
        reason = f"{type(error).__name__}: {str(error).strip().splitlines()[0][:200]}" \
            if str(error).strip() else type(error).__name__
    try:
        _convert_onnx(serving_function(model, output_names(model, head), 1), path, opset)
    except Exception as error:
        raise ExportError(f"{model.name}: ONNX conversion failed: {error}") from error
    return 1, [f"opset {opset}, static batch 1 (dynamic batch failed: {reason})"]


def _convert_onnx(function, path: Path, opset: int) -> None:
    import onnx
    import tf2onnx

    _patch_tf2onnx()
    specs = function.input_signature
    proto, _ = tf2onnx.convert.from_function(function, input_signature=specs, opset=opset)
    for value in list(proto.graph.input) + list(proto.graph.output):
        dims = value.type.tensor_type.shape.dim
        if dims and not dims[0].HasField("dim_value"):
            dims[0].dim_param = "batch"  # name the dynamic dimension for users' tools
    onnx.checker.check_model(proto)
    onnx.save(proto, str(path))


def _validate_dynamic_onnx(reference: KerasRuntime, path: Path, atol: float,
                           head: str) -> None:
    feed = random_feed(reference.clip_shapes, 2, seed=1)
    diff, _, decisive = _compare(reference(feed), OnnxRuntime(path)(feed), head)
    if diff > atol or decisive:
        raise ExportError(f"dynamic-batch graph differs from Keras by {diff:.3g}")


def _patch_tf2onnx() -> None:
    """Keras' own numpy-2 compatibility patch for tf2onnx (what export(format="onnx")
    applies); harmless when tf2onnx needs no patch."""
    try:
        from keras.src.export.tf2onnx_lib import patch_tf2onnx
    except ImportError:
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # its hasattr(np, "object") probe
        patch_tf2onnx()


# ------------------------------------------------------------------------------ card


def model_card(
    model: keras.Model,
    name: str,
    report: ExportReport,
    labels: Sequence[str] | None = None,
    metrics: Mapping[str, Any] | None = None,
    head: str = "softmax",
    photometric: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The model card as a dict (what ``model_card.json`` holds)."""
    entry = _registry_entry(name)
    info = registry.model_info(name, count_params=False) if entry else {}
    clip_shapes = _clip_shapes(model)
    value_range = list(entry.value_range) if entry else [0.0, 1.0]
    sampling = entry.sampling if entry else "unknown"
    sampling_text = _describe_sampling(sampling)
    num_outputs = int(model.outputs[0].shape[-1])
    frames = next(iter(clip_shapes.values()))[0]
    if labels is not None and len(labels) != num_outputs:
        raise ValueError(f"{len(labels)} labels given for a model with {num_outputs} outputs")
    inputs = [
        {
            "name": stream,
            "shape": ["batch", *shape],
            "dims": "batch, T (frames), H, W, C; channels last",
            "dtype": "float32",
            "value_range": value_range,
            "frame_sampling": sampling_text if stream == "video"
            else f"{sampling_text} (flow between adjacent frames)",
            "preprocessing": _preprocessing(stream, shape, value_range, sampling,
                                            photometric if stream == "video" else None),
        }
        for stream, shape in clip_shapes.items()
    ]
    notes = [
        f"TFLite files take batch 1 and exactly T={frames} frames (static shapes); run "
        f"clips one at a time.",
        "SavedModel and (unless its row says otherwise) ONNX take any batch, same T.",
    ]
    if any(a.label == "tflite-int8" for a in report.artefacts):
        notes.append("int8 TFLite: float32 input and output (quantised inside); "
                     + (report.calibration or "calibration data not recorded") + ".")
    notes += report.warnings
    return {
        "name": name,
        "description": info.get("description", ""),
        "paper": info.get("paper", ""),
        "recipe": info.get("recipe", ""),
        "head": head,
        "parameters": int(model.count_params()),
        "inputs": inputs,
        "outputs": [
            {"name": out, "shape": ["batch", num_outputs],
             "meaning": "softmax class probabilities" if out == PROBABILITIES
             else "model output"}
            for out in report.outputs
        ],
        "labels": list(labels) if labels is not None else None,
        "photometric": dict(photometric) if photometric else None,
        "metrics": dict(metrics) if metrics else None,
        "exports": [
            {
                "format": a.format, "variant": a.variant, "file": Path(a.path).name,
                "size_bytes": a.size_bytes, "batch": a.batch,
                "max_abs_diff": a.max_abs_diff, "top1_agreement": a.top1_agreement,
                "latency_ms_per_clip": a.latency_ms, "notes": a.notes,
                "accuracy": a.accuracy, "uar": a.uar,
            }
            for a in report.artefacts
        ],
        "keras_latency_ms_per_clip": report.keras_latency_ms,
        "keras_scores": {"accuracy": report.keras_accuracy, "uar": report.keras_uar,
                         "data": report.evaluation or None},
        "parity_check": {
            "clips": report.check_clips,
            "float_tolerance": FLOAT_ATOL,
            "reference": f"Keras {keras.__version__} on TensorFlow {tf.__version__}",
        },
        "notes": notes,
    }


def _describe_sampling(name: str) -> str:
    """``"stcam: STCAM's frame selection (...): neutral, evenly between, peak."``"""
    try:

        doc = (get_sampler(name).__doc__ or "").strip().splitlines()
    except (ImportError, ValueError):
        return name
    return f"{name}: {doc[0].rstrip(':')}" if doc else name


def _preprocessing(stream: str, shape: Sequence[int], value_range: Sequence[float],
                   sampling: str, photometric: Mapping[str, Any] | None = None) -> str:
    t, h, w, c = shape
    colour = "RGB" if c == 3 else ("grey" if c == 1 else f"{c} channels")
    low, high = value_range
    scale = "divide uint8 by 255" if (low, high) == (0.0, 1.0) else f"map to [{low}, {high}]"
    if stream == "flow":
        return (f"optical flow between adjacent aligned face frames as (dx, dy, magnitude), "
                f"{h}x{w}, {t} steps, decoded as in ferzoo.data (flow/scale); {scale}")
    steps = []
    if photometric and photometric.get("equalize"):
        steps.append("histogram equalisation of every frame (8-bit levels)")
    stats = (photometric or {}).get("standardize")
    if isinstance(stats, Mapping):
        steps.append(f"(x - {stats['mean']}) / {stats['std']}")
    elif stats:
        steps.append("standardise every frame to zero mean and unit std")
    then = "; then " + ", then ".join(steps) if steps else ""
    return (f"detect the face (MTCNN, confidence >= 0.9), align on the eyes, crop and resize "
            f"to {h}x{w}, {colour}, {scale}; T={t} frames by '{sampling}' sampling{then}")


def write_model_card(card: Mapping[str, Any], path: str | Path) -> tuple[Path, Path]:
    """Write ``model_card.json`` and ``model_card.md`` into folder ``path``."""
    path = Path(path)
    json_path, md_path = path / "model_card.json", path / "model_card.md"
    json_path.write_text(json.dumps(card, indent=2))
    md_path.write_text(model_card_markdown(card))
    return json_path, md_path


def model_card_markdown(card: Mapping[str, Any]) -> str:
    lines = [f"# {card['name']}", ""]
    if card.get("description"):
        lines += [card["description"], ""]
    if card.get("paper"):
        lines += [f"Paper: {card['paper']}", ""]
    lines += [f"Parameters: {card['parameters']:,}. Head: {card['head']}.", "",
              "## Input", "",
              "| name | shape | dtype | value range | frame sampling | preprocessing |",
              "|---|---|---|---|---|---|"]
    for spec in card["inputs"]:
        shape = "(" + ", ".join(str(d) for d in spec["shape"]) + ")"
        lines.append(f"| {spec['name']} | {shape} | {spec['dtype']} | {spec['value_range']} "
                     f"| {spec['frame_sampling']} | {spec['preprocessing']} |")
    lines += ["", "## Output", ""]
    for out in card["outputs"]:
        shape = "(" + ", ".join(str(d) for d in out["shape"]) + ")"
        lines.append(f"- `{out['name']}`: {shape}, {out['meaning']}")
    labels = card.get("labels")
    lines += ["", "## Labels", "",
              (", ".join(f"{i}: {l}" for i, l in enumerate(labels)) if labels
               else "Not recorded with these weights (class indices only).")]
    lines += ["", "## Metrics", ""]
    if card.get("metrics"):
        lines += [f"- {k}: {v}" for k, v in card["metrics"].items()]
    else:
        lines.append("None recorded for these weights.")
    lines += ["", "## Exports and parity with Keras", ""]
    rows = [ArtefactReport(e["format"], e["variant"], e["file"], e["size_bytes"], e["batch"],
                           e["max_abs_diff"], e["top1_agreement"], e["latency_ms_per_clip"],
                           e["notes"], e.get("accuracy"), e.get("uar")) for e in card["exports"]]
    scores = card.get("keras_scores") or {}
    lines.append(parity_table(rows, card.get("keras_latency_ms_per_clip"),
                              (scores.get("accuracy"), scores.get("uar"))))
    if scores.get("data"):
        lines += ["", f"WAR / UAR measured on {scores['data']} in each runtime."]
    check = card["parity_check"]
    lines += ["", f"Checked on {check['clips']} clips against {check['reference']}; float "
              f"formats must match to {check['float_tolerance']:g}.", "", "## Notes", ""]
    lines += [f"- {n}" for n in card["notes"]]
    return "\n".join(lines) + "\n"


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


# --------------------------------------------------------------------------- helpers


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
        feeds = _split_feed(random_feed(clip_shapes, limit, value_range, seed=7))
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
        feeds.extend(_split_feed(feed))
        if len(feeds) >= limit:
            break
    if not feeds:
        raise ValueError("representative_data is empty")
    feeds = feeds[:limit]
    return feeds, f"calibrated on {len(feeds)} clips of the representative data"


def evaluation_set(data: Iterable, names: Sequence[str]) -> tuple[dict[str, np.ndarray],
                                                                   np.ndarray]:
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


def _split_feed(feed: Mapping[str, np.ndarray]) -> list[dict[str, np.ndarray]]:
    batch = next(iter(feed.values())).shape[0]
    return [{k: v[i:i + 1] for k, v in feed.items()} for i in range(batch)]


def _compare(reference: Mapping[str, np.ndarray], got: Mapping[str, np.ndarray], head: str):
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


def _clip_shapes(model: keras.Model) -> dict[str, tuple[int, ...]]:
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


def _all_layers(model: keras.Model) -> list[keras.layers.Layer]:
    return list(model._flatten_layers(include_self=False, recursive=True))


def _registry_entry(name: str | None):
    if not name:
        return None
    try:
        return registry.get_entry(name)
    except registry.RegistryError:
        return None


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


def format_size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def _artefact_line(name: str, a: ArtefactReport) -> str:
    diff = "-" if a.max_abs_diff is None else f"{a.max_abs_diff:.2e}"
    top1 = "-" if a.top1_agreement is None else f"{a.top1_agreement:.0%}"
    ms = "-" if a.latency_ms is None else f"{a.latency_ms:.2f} ms/clip"
    return f"{name}: {a.label:16s} {format_size(a.size_bytes):>9s}  max|diff| {diff}  top-1 {top1}  {ms}"

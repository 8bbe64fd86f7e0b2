"""TFLite: float32, dynamic-range and int8 files, builtin ops only.

Written into the export folder::

    <name>_float32.tflite        batch 1 and the model's T, builtin ops only,
                                 internal tensor names stripped
    <name>_dynamic.tflite        ... weights int8, activations float (dynamic range)
    <name>_int8.tflite           ... weights and activations int8, float32 in and out

The same kind of SavedModel as :mod:`ferzoo.export.savedmodel`, with a static batch-1
signature, then ``TFLiteConverter.from_saved_model`` (the route of
``model.export(format="litert")``; ``from_concrete_functions`` silently produced NaNs).
While tracing, two rewrites keep the graph builtin-only and quantisable
(:mod:`ferzoo.export.tflite_rewrites`): Keras RNN layers are unrolled over the fixed T,
and Conv3D layers run as one CONV_2D over their stacked temporal taps. Any Flex
(select-TF) op left fails the export, naming the op and the Keras layer. int8 is
calibrated on the representative clips, with every constant activation range widened
(:func:`widen_constant_ranges`) before quantisation.
"""

from __future__ import annotations

import re
import tempfile
import warnings
from pathlib import Path
from typing import Sequence

import keras
import numpy as np
import tensorflow as tf

from ferzoo.export.parity import ExportError
from ferzoo.export.savedmodel import write_saved_model
from ferzoo.export.tflite_rewrites import all_layers, tflite_rewrites

TFLITE_VARIANTS = ("float32", "dynamic", "int8")


def convert_tflite(
    model: keras.Model,
    variants: Sequence[str] = TFLITE_VARIANTS,
    calibration: list[dict[str, np.ndarray]] | None = None,
    name: str | None = None,
    head: str = "softmax",
):
    """Convert ``model`` to each TFLite variant; yields ``(variant, bytes, notes)``.

    The graph is traced at batch 1 with the model's T, with RNNs unrolled and Conv3D as
    CONV_2D (:mod:`ferzoo.export.tflite_rewrites`). The float32 conversion may use Flex ops only
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
    layers = {layer.name: layer for layer in all_layers(model)}
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

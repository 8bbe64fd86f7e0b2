"""ONNX: one graph for ONNX Runtime, dynamic batch where the graph allows it.

Written into the export folder::

    <name>.onnx                  ONNX (opset 17), dynamic batch where the graph allows it

``tf2onnx.convert.from_function`` on a ``tf.function`` with a dynamic-batch signature
(what Keras' ``export(format="onnx")`` does inside); when that graph fails to convert,
to load in ONNX Runtime or to match Keras, the batch is fixed to 1 instead and the
report says why.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import keras

from ferzoo.export.parity import FLOAT_ATOL, ExportError, compare, random_feed
from ferzoo.export.runtime import KerasRuntime, OnnxRuntime, output_names, serving_function

ONNX_OPSET = 17  # the first ONNX opset with LayerNormalization


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
    diff, _, decisive = compare(reference(feed), OnnxRuntime(path)(feed), head)
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

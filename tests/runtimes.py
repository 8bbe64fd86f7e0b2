"""Exported models run in their own runtimes, for the tests that check an export.

One harness for every such test: :func:`export_tflite` writes a Keras model as a TFLite
file with a static batch (LiteRT's converter through ``model.export``),
:func:`tflite_op_names` lists the ops of a TFLite file from its flatbuffer
(``ferzoo.export.tflite_ops``), :func:`assert_builtin_ops` fails on any op that needs
Flex or a custom kernel, and :func:`run_tflite` / :func:`run_onnx` run a file on a batch
of clips with LiteRT's ``Interpreter`` and ONNX Runtime's ``InferenceSession`` (public
APIs only).
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

import keras
import numpy as np

from ferzoo.export import tflite_ops

Inputs = np.ndarray | Mapping[str, np.ndarray]


def export_tflite(model: keras.Model, path: str | Path, batch: int = 1, **options) -> Path:
    """``model`` as a TFLite file whose inputs (named after the model's) have batch
    ``batch``; ``options`` go to ``model.export`` (e.g. ``target_spec``)."""
    specs = [keras.InputSpec(shape=(batch, *t.shape[1:]), dtype="float32", name=t.name)
             for t in model.inputs]
    model.export(str(path), format="litert", verbose=False,
                 input_signature=[specs] if len(specs) > 1 else specs, **options)
    return Path(path)


def tflite_op_names(path: str | Path) -> set[str]:
    """The op codes of a TFLite file: builtin names (``"CONV_2D"``), ``"CUSTOM:<code>"``
    for a custom or Flex op."""
    return {code for code, _ in tflite_ops(Path(path).read_bytes())}


def assert_builtin_ops(path: str | Path) -> set[str]:
    """The file's op codes, after checking that every one is a TFLite builtin."""
    ops = tflite_op_names(path)
    foreign = sorted(op for op in ops if op.startswith(("CUSTOM", "Flex")))
    assert not foreign, f"{path} needs ops that are not TFLite builtins: {foreign}"
    return ops


def _by_input(details: list[dict], inputs: Inputs) -> list[tuple[dict, np.ndarray]]:
    if not isinstance(inputs, Mapping):
        (detail,) = details
        return [(detail, inputs)]
    pairs = []
    for detail in details:  # LiteRT names inputs "serving_default_<name>:0"
        name = next(n for n in inputs if n in detail["name"])
        pairs.append((detail, inputs[name]))
    return pairs


def run_tflite(path: str | Path, inputs: Inputs) -> np.ndarray:
    """The first output of a TFLite file on a batch of clips (a batch-1 file runs them
    one at a time)."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path))
    interpreter.allocate_tensors()
    pairs = _by_input(interpreter.get_input_details(), inputs)
    file_batch = pairs[0][0]["shape"][0]
    count = len(pairs[0][1])
    out = interpreter.get_output_details()[0]["index"]
    results = []
    for start in range(0, count, file_batch):
        for detail, array in pairs:
            interpreter.set_tensor(detail["index"],
                                   np.ascontiguousarray(array[start:start + file_batch]))
        interpreter.invoke()
        results.append(interpreter.get_tensor(out))
    return np.concatenate(results)


def run_onnx(path: str | Path, inputs: Inputs) -> np.ndarray:
    """The first output of an ONNX file on a batch of clips."""
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path))
    names = [i.name for i in session.get_inputs()]
    feed = dict(zip(names, [inputs])) if not isinstance(inputs, Mapping) else {
        n: inputs[next(k for k in inputs if k in n)] for n in names}
    return session.run(None, feed)[0]

"""Run a model the same way whatever it is saved as: Keras, SavedModel, TFLite or ONNX.

Every runtime takes a feed ``{input name: float32 array (B, T, H, W, C)}`` (input names
are the clip streams, ``"video"`` and for RFSCNN ``"flow"``) and returns
``{output name: array (B, ...)}``; the output of a classifier is ``"probabilities"``.
A runtime whose file has a fixed batch of 1 (TFLite, a static-batch ONNX graph) runs a
larger batch one clip at a time, so callers never need to care.

    >>> runtime = open_runtime("exports/stcam/stcam_int8.tflite")   # doctest: +SKIP
    >>> runtime({"video": clips})["probabilities"].shape             # doctest: +SKIP
    (4, 6)

This is what ``ferzoo.export``'s checks, ``ferzoo.inference.benchmark`` and
``ferzoo.inference.predict.Predictor`` run.
"""

from __future__ import annotations

import os
import statistics
import time
from pathlib import Path
from typing import Any, Mapping

import numpy as np

Feed = Mapping[str, np.ndarray]

# Name of the serving signature (SavedModel, TFLite) and of the classifier's output.
SIGNATURE = "serving_default"
PROBABILITIES = "probabilities"
PREDICTIONS = "predictions"


def default_threads() -> int:
    """Threads for the TFLite and ONNX runtimes when none are asked for: the same as
    TensorFlow's (``TF_NUM_INTRAOP_THREADS``), else every core, so formats compare fairly."""
    return int(os.environ.get("TF_NUM_INTRAOP_THREADS") or os.cpu_count() or 1)


def output_names(model, head: str = "softmax") -> list[str]:
    """The names an exported model gives its outputs.

    One output: ``"probabilities"`` for a softmax head, ``"predictions"`` for a
    regression head; several outputs keep the model's own output names.
    """
    if len(model.outputs) == 1:
        return [PROBABILITIES if head == "softmax" else PREDICTIONS]
    return list(model.output_names)


def pack_inputs(model, feed: Feed):
    """Arrange ``feed`` (keyed by input name) the way ``model`` takes its inputs."""
    names = [t.name for t in model.inputs]
    missing = sorted(set(names) - set(feed))
    if missing:
        raise KeyError(f"inputs {missing} missing from the feed (it has {sorted(feed)})")
    structure = model.input
    if isinstance(structure, dict):
        return {k: feed[v.name] for k, v in structure.items()}
    if isinstance(structure, (list, tuple)):
        return [feed[t.name] for t in structure]
    return feed[names[0]]


def _batch_size(feed: Feed) -> int:
    return int(next(iter(feed.values())).shape[0])


def _one_at_a_time(run, feed: Feed) -> dict[str, np.ndarray]:
    """Run a batch-1 function over every clip of ``feed`` and stack the outputs."""
    outs = [run({k: v[i:i + 1] for k, v in feed.items()}) for i in range(_batch_size(feed))]
    return {k: np.concatenate([o[k] for o in outs]) for k in outs[0]}


class Runtime:
    """Base class: ``runtime(feed) -> {output name: array}``.

    Attributes:
        format: ``"keras"``, ``"savedmodel"``, ``"tflite"`` or ``"onnx"``.
        input_shapes: ``{input name: shape}`` with the batch first (``None`` if dynamic).
        output_names: output names, in order.
        path: the file or folder it was opened from (``None`` for an in-memory model).
    """

    format = "?"
    path: Path | None = None
    input_shapes: dict[str, tuple]
    output_names: list[str]

    @property
    def batch(self) -> int | None:
        """The fixed batch size of the artefact, or ``None`` when any batch works."""
        return next(iter(self.input_shapes.values()))[0]

    @property
    def clip_shapes(self) -> dict[str, tuple[int, ...]]:
        """``{input name: (T, H, W, C)}``: one clip of each stream."""
        return {k: tuple(int(d) for d in v[1:]) for k, v in self.input_shapes.items()}

    def __call__(self, feed: Feed) -> dict[str, np.ndarray]:
        feed = {k: np.asarray(v, dtype=np.float32) for k, v in feed.items()}
        if self.batch is not None and _batch_size(feed) != self.batch:
            if self.batch != 1:
                raise ValueError(
                    f"{self.format} artefact has a fixed batch of {self.batch}; "
                    f"got {_batch_size(feed)} clips"
                )
            return _one_at_a_time(self._run, feed)
        return self._run(feed)

    def _run(self, feed: Feed) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.path or ''} inputs={self.input_shapes}>"


class KerasRuntime(Runtime):
    """A ``keras.Model`` in memory (or loaded from a ``.keras`` file), called in inference
    mode through one ``tf.function`` with a dynamic batch (as ``model.predict`` runs it).

    ``function`` takes the inputs positionally in ``model.inputs`` order and returns
    ``{output name: tensor}``: it is the serving function ``ferzoo.export`` saves, so
    the Keras reference and the SavedModel / ONNX exports share one trace.
    """

    format = "keras"

    def __init__(self, model, head: str = "softmax", path: Path | None = None):
        self.model, self.path = model, path
        self.input_shapes = {t.name: (None, *t.shape[1:]) for t in model.inputs}
        self.output_names = output_names(model, head)
        self.function = serving_function(model, self.output_names)

    def _run(self, feed):
        outputs = self.function(*[feed[name] for name in self.input_shapes])
        return {k: v.numpy() for k, v in outputs.items()}


def serving_function(model, outputs: list[str], batch: int | None = None):
    """``tf.function(*inputs) -> {output name: tensor}`` of ``model`` in inference mode,
    with a signature of the model's input names and shapes (``batch`` None: any)."""
    import tensorflow as tf

    names = [t.name for t in model.inputs]

    def serve(*args):
        result = model(pack_inputs(model, dict(zip(names, args))), training=False)
        if not isinstance(result, (list, tuple)):
            result = [result]
        return dict(zip(outputs, result))

    specs = [tf.TensorSpec((batch, *t.shape[1:]), tf.float32, name=t.name)
             for t in model.inputs]
    return tf.function(serve, input_signature=specs)


class SavedModelRuntime(Runtime):
    """A SavedModel folder with a ``serving_default`` signature (as ``export`` writes)."""

    format = "savedmodel"

    def __init__(self, path: str | os.PathLike):
        import tensorflow as tf

        self.path = Path(path)
        self._tf = tf
        self._loaded = tf.saved_model.load(str(self.path))
        if SIGNATURE not in self._loaded.signatures:
            raise ValueError(
                f"{self.path} has no {SIGNATURE!r} signature (it has "
                f"{list(self._loaded.signatures)}); export it with ferzoo.export"
            )
        self._fn = self._loaded.signatures[SIGNATURE]
        specs = self._fn.structured_input_signature[1]
        self.input_shapes = {k: tuple(s.shape) for k, s in specs.items()}
        self.output_names = list(self._fn.structured_outputs)

    def _run(self, feed):
        out = self._fn(**{k: self._tf.constant(v) for k, v in feed.items()})
        return {k: out[k].numpy() for k in self.output_names}


class TFLiteRuntime(Runtime):
    """A ``.tflite`` file run by LiteRT (``ai_edge_litert``); batch 1, fixed T."""

    format = "tflite"

    def __init__(self, path: str | os.PathLike, num_threads: int | None = None):
        from ai_edge_litert.interpreter import Interpreter

        self.path = Path(path)
        self.num_threads = num_threads or default_threads()
        self._interpreter = Interpreter(model_path=str(self.path), num_threads=self.num_threads)
        signatures = self._interpreter.get_signature_list()
        key = SIGNATURE if SIGNATURE in signatures else next(iter(signatures), None)
        if key is None:
            raise ValueError(f"{self.path} has no signature; export it with ferzoo.export")
        self._runner = self._interpreter.get_signature_runner(key)
        self._inputs = self._runner.get_input_details()
        self._outputs = self._runner.get_output_details()
        self.input_shapes = {k: tuple(int(d) for d in v["shape"]) for k, v in self._inputs.items()}
        self.output_names = list(self._outputs)

    def _run(self, feed):
        args = {}
        for name, value in feed.items():
            detail = self._inputs[name]
            if detail["dtype"] != np.float32:  # integer input: quantise
                scale, zero = detail["quantization"]
                info = np.iinfo(detail["dtype"])
                value = np.clip(np.round(value / scale + zero), info.min, info.max)
            args[name] = value.astype(detail["dtype"])
        out = self._runner(**args)
        result = {}
        for name in self.output_names:
            value, detail = out[name], self._outputs[name]
            if detail["dtype"] != np.float32:
                scale, zero = detail["quantization"]
                value = (value.astype(np.float32) - zero) * scale
            result[name] = np.array(value, dtype=np.float32)
        return result


class OnnxRuntime(Runtime):
    """A ``.onnx`` file run by ONNX Runtime on the CPU."""

    format = "onnx"

    def __init__(self, path: str | os.PathLike, num_threads: int | None = None):
        import onnxruntime as ort

        self.path = Path(path)
        options = ort.SessionOptions()
        options.log_severity_level = 3
        self.num_threads = num_threads or default_threads()
        options.intra_op_num_threads = self.num_threads
        options.inter_op_num_threads = 1
        self._session = ort.InferenceSession(
            str(self.path), options, providers=["CPUExecutionProvider"]
        )
        self.input_shapes = {
            i.name: tuple(d if isinstance(d, int) else None for d in i.shape)
            for i in self._session.get_inputs()
        }
        self.output_names = [o.name for o in self._session.get_outputs()]

    def _run(self, feed):
        outs = self._session.run(self.output_names, dict(feed))
        return dict(zip(self.output_names, outs))


def open_runtime(artefact: Any, num_threads: int | None = None, head: str = "softmax") -> Runtime:
    """A :class:`Runtime` for a Keras model, a ``.keras`` file, a SavedModel folder, a
    ``.tflite`` file or a ``.onnx`` file."""
    if hasattr(artefact, "inputs") and hasattr(artefact, "outputs"):
        return KerasRuntime(artefact, head=head)
    path = Path(artefact)
    if path.is_dir():
        if not (path / "saved_model.pb").exists():
            raise ValueError(f"{path} is a folder without saved_model.pb: not a SavedModel")
        return SavedModelRuntime(path)
    if not path.exists():
        raise FileNotFoundError(f"no model file at {path}")
    if path.suffix == ".tflite":
        return TFLiteRuntime(path, num_threads=num_threads)
    if path.suffix == ".onnx":
        return OnnxRuntime(path, num_threads=num_threads)
    if path.suffix == ".keras":
        import keras  # ferzoo's custom layers are registered by `import ferzoo`

        return KerasRuntime(keras.saving.load_model(path), head=head, path=path)
    raise ValueError(
        f"cannot tell the format of {path}: expected a SavedModel folder, .tflite, .onnx "
        f"or .keras"
    )


def latency_ms(runtime: Runtime, feeds: list[Feed], repeats: int = 1, warmup: int = 1) -> float:
    """Median wall time in milliseconds of one call of ``runtime`` over ``feeds``.

    Each feed is run ``repeats`` times after ``warmup`` untimed calls on the first one.
    """
    for _ in range(warmup):
        runtime(feeds[0])
    times = []
    for feed in feeds:
        for _ in range(repeats):
            start = time.perf_counter()
            runtime(feed)
            times.append((time.perf_counter() - start) * 1000.0)
    return statistics.median(times)


def artefact_size(path: str | os.PathLike) -> int:
    """Bytes on disk of a file, or of every file under a folder."""
    path = Path(path)
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return path.stat().st_size

"""Open trained weights as a Keras model, with what is known about them.

``ferzoo export`` and ``ferzoo predict`` take a run folder of ``ferzoo train``, a
``.keras`` file or a ``.weights.h5`` file (with the model's name); this module turns any
of them into a :class:`TrainedModel`.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any, Mapping

import keras

import ferzoo
from ferzoo.errors import WeightsError
from ferzoo.training.run_folder import load_model_file, load_run, load_weights_file


@dataclasses.dataclass
class TrainedModel:
    """A Keras model with what is known about its weights.

    Attributes:
        model: the ``keras.Model``.
        name: registered model name, when known.
        labels: class names in output order, when known (a run records its dataset's).
        metrics: test figures of the weights, when known (``{"war": .., "uar": ..}``).
        data_files: the training shards of a run (int8 calibration data).
        test_files: the test shards of a run's dataset (evaluation of the exports).
        sampling: temporal sampling mode of the model's input.
        augment: the run's augmentation settings (the evaluation crop follows them).
        source: where the weights came from, in words.
    """

    model: Any
    name: str | None = None
    labels: list[str] | None = None
    metrics: dict[str, Any] | None = None
    data_files: list[str] | None = None
    test_files: list[str] | None = None
    sampling: str | None = None
    augment: dict[str, Any] | None = None
    source: str = ""


def load_trained(
    weights: str | os.PathLike | None = None,
    model: str | None = None,
    preset: str | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> TrainedModel:
    """A Keras model from ``ferzoo train``'s run folder, a ``.keras`` file or a
    ``.weights.h5`` file (with the registered ``model`` name and its ``preset``/
    ``overrides``); no ``weights`` builds ``model`` untrained."""
    path = Path(weights) if weights is not None else None
    entry = ferzoo.get_entry(model) if model else None
    sampling = entry.sampling if entry else None
    if path is None:
        if model is None:
            raise ValueError("give --model NAME, --weights FILE/RUN, or both")
        built = ferzoo.build(model, preset, **dict(overrides or {}))
        return TrainedModel(built, model, sampling=sampling,
                            source="untrained (random weights)")
    if not path.exists():
        raise FileNotFoundError(f"no weights at {path}")
    if path.is_dir():
        keras_model, info = load_run(path)
        name = info["config"]["model"]
        if model and model != name:
            raise ValueError(f"{path} is a run of {name!r}, not of {model!r}")
        result_file = path / "result.json"
        metrics = None
        if result_file.exists():
            test = json.loads(result_file.read_text()).get("test")
            if test:
                metrics = {k: test[k] for k in ("war", "uar", "num_clips") if k in test}
                metrics["data"] = "test split of the run's dataset (unseen subjects)"
        train_files = info.get("train_files") or []
        test_files = None
        if train_files:
            folder = Path(train_files[0]).parent
            test_files = sorted(str(p) for p in folder.glob("test-*.tfrecord")) or None
        return TrainedModel(keras_model, name, labels=info.get("labels"), metrics=metrics,
                            data_files=train_files or None, test_files=test_files,
                            sampling=info.get("spec", {}).get("sampling", sampling),
                            augment=info.get("recipe", {}).get("augment"),
                            source=f"run {path}")
    if path.suffix == ".keras":
        loaded = load_model_file(path)
        if model and loaded.name != model and loaded.name in ferzoo.list_models("*"):
            raise WeightsError(f"{path} holds a {loaded.name} model, not {model}; give "
                               f"--model {loaded.name} or leave --model out")
        return TrainedModel(loaded, model, sampling=sampling, source=str(path))
    if path.name.endswith(".h5"):
        if model is None:
            raise ValueError(f"{path} holds weights only: give --model NAME (and the "
                             f"--preset / --set it was trained with)")
        built = ferzoo.build(model, preset, **dict(overrides or {}))
        load_weights_file(built, path, f"{model!r} built with preset={preset!r} and "
                                       f"{dict(overrides or {})}")
        return TrainedModel(built, model, sampling=sampling, source=str(path))
    raise ValueError(f"cannot load weights from {path}: expected a run folder, a .keras "
                     f"or a .weights.h5 file")


# ------------------------------------------------------------------ ferzoo.load(path)
@dataclasses.dataclass(frozen=True)
class LoadedInfo:
    """What :func:`load` knows about a model, as its ``model.ferzoo`` attribute.

    Attributes:
        name: registered model name, when known.
        labels: class names in output order, when known.
        preprocessing: how a clip becomes the input, when known: ``frames``,
            ``image_size``, ``channels``, ``streams``, ``sampling`` (temporal sampling
            mode), ``value_range``, and ``photometric`` (per-frame steps of the run, e.g.
            histogram equalisation) or the export's per-input description.
        source: what was opened, in words.
    """

    name: str | None = None
    labels: list[str] | None = None
    preprocessing: dict[str, Any] | None = None
    source: str = ""


def _input_preprocessing(model, name: str | None) -> dict[str, Any]:
    entry = ferzoo.get_entry(name) if name and name in ferzoo.list_models("*") else None
    shape = tuple(model.inputs[0].shape[1:])
    return {"frames": shape[0], "image_size": list(shape[1:3]), "channels": shape[3],
            "streams": [t.name for t in model.inputs],
            "sampling": entry.sampling if entry else None,
            "value_range": list(entry.value_range) if entry else [0.0, 1.0]}


def _saved_model_as_keras(folder: Path, card: Mapping[str, Any]):
    """The export's SavedModel as a Keras model (inputs named after the streams)."""
    layer = keras.layers.TFSMLayer(str(folder), call_endpoint="serving_default")
    inputs = [keras.Input(tuple(spec["shape"][1:]), name=spec["name"])
              for spec in card["inputs"]]
    outputs = layer(inputs[0] if len(inputs) == 1 else inputs)
    if isinstance(outputs, dict):
        outputs = outputs.get("probabilities", next(iter(outputs.values())))
    return keras.Model(inputs[0] if len(inputs) == 1 else inputs, outputs,
                       name=str(card.get("name") or "exported"))


def load(path: str | os.PathLike):
    """Open a model: a ``.keras`` file, a run folder of ``ferzoo train`` or an export
    folder of ``ferzoo export`` (its SavedModel, wrapped as a Keras model).

    Returns the ``keras.Model``; ``model.ferzoo`` (a :class:`LoadedInfo`) holds its name,
    labels and input preprocessing where known.

        >>> model = ferzoo.load("runs/stc_nlstm")          # doctest: +SKIP
        >>> model.ferzoo.labels                            # doctest: +SKIP
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"nothing at {path}")
    if path.is_dir() and (path / "run.json").exists():
        model, info = load_run(path)
        name = info.get("config", {}).get("model")
        spec = dict(info.get("spec") or {})
        preprocessing = {**_input_preprocessing(model, name), **spec}
        augment = (info.get("recipe") or {}).get("augment") or {}
        photometric = {k: augment[k] for k in ("equalize", "standardize") if augment.get(k)}
        preprocessing["photometric"] = photometric or None
        loaded = LoadedInfo(name, info.get("labels"), preprocessing, f"run {path}")
    elif path.is_dir() and (path / "model_card.json").exists():
        card = json.loads((path / "model_card.json").read_text())
        if not (path / "saved_model" / "saved_model.pb").exists():
            raise FileNotFoundError(f"{path} is an export folder without a SavedModel "
                                    f"(saved_model/); open its .tflite or .onnx file with "
                                    f"ferzoo.export.runtime.open_runtime")
        model = _saved_model_as_keras(path / "saved_model", card)
        preprocessing = {"inputs": {s["name"]: s.get("preprocessing") for s in card["inputs"]},
                         "photometric": card.get("photometric")}
        loaded = LoadedInfo(card.get("name"), card.get("labels"), preprocessing,
                            f"export {path} (SavedModel)")
    elif path.is_file() and path.suffix == ".keras":
        model = keras.saving.load_model(path)
        name = model.name if model.name in ferzoo.list_models("*") else None
        loaded = LoadedInfo(name, None, _input_preprocessing(model, name), str(path))
    else:
        raise ValueError(f"cannot open {path}: ferzoo.load takes a .keras file, a run "
                         f"folder (with run.json) or an export folder (with model_card.json)")
    model.ferzoo = loaded
    return model

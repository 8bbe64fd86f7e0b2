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

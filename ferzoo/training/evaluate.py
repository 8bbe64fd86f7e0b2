"""Evaluation: predictions over a dataset, WAR/UAR, confusion matrix PNG, JSON report."""

from __future__ import annotations

import csv
import json
import weakref
from pathlib import Path
from typing import Any, Sequence

import keras
import numpy as np
import tensorflow as tf

from ferzoo.data.pipeline import (InputSpec, dataset_labels, make_dataset, resolve_files,
                                  skipped_clips)
from ferzoo.data.records import data_error
from ferzoo.training.labels import check_labels
from ferzoo.training.metrics import confusion_matrix, per_class_recall, plot_confusion, uar, war

# One traced inference function per model, reused across calls (validation each epoch).
_FORWARD: "weakref.WeakKeyDictionary[keras.Model, Any]" = weakref.WeakKeyDictionary()


def as_model_inputs(model: keras.Model, inputs: dict):
    """The pipeline's ``{stream: tensor}`` in the structure the model was built with."""
    if len(model.inputs) == 1:
        return inputs[model.inputs[0].name]
    return [inputs[t.name] for t in model.inputs]


def predict_dataset(model: keras.Model, dataset: tf.data.Dataset) -> tuple[np.ndarray, ...]:
    """Run ``model`` over a dataset of ``(inputs, y[, info])``.

    Returns ``(outputs, targets, clip_ids, subjects)`` as numpy arrays (ids empty when the
    dataset carries no info).
    """
    forward = _FORWARD.get(model)
    if forward is None:
        forward = tf.function(lambda x: model(as_model_inputs(model, x), training=False),
                              reduce_retracing=True)
        _FORWARD[model] = forward
    outputs, targets, ids, subjects = [], [], [], []
    for element in dataset:
        inputs, y = element[0], element[1]
        outputs.append(forward(inputs).numpy())
        targets.append(y.numpy())
        if len(element) > 2:
            ids.extend(v.decode() for v in element[2]["clip_id"].numpy())
            subjects.extend(v.decode() for v in element[2]["subject"].numpy())
    if not outputs:
        raise ValueError("the evaluation dataset is empty (no clip passed the filters)")
    return np.concatenate(outputs), np.concatenate(targets), np.array(ids), np.array(subjects)


def classification_report(probs: np.ndarray, labels_true: np.ndarray,
                          label_names: Sequence[str]) -> dict[str, Any]:
    """WAR, UAR, per-class recall and the confusion matrix of softmax outputs."""
    predicted = probs.argmax(axis=-1)
    matrix = confusion_matrix(labels_true, predicted, len(label_names))
    recall = per_class_recall(matrix)
    return {
        "num_clips": int(len(labels_true)),
        "war": war(matrix),
        "uar": uar(matrix),
        "per_class_recall": {
            name: (None if np.isnan(r) else float(r)) for name, r in zip(label_names, recall)
        },
        "labels": list(label_names),
        "confusion_matrix": matrix.tolist(),
    }


def _named(files: Sequence[str]) -> str:
    """The data as the user knows it: its folder."""
    return f"the data in {Path(files[0]).parent}"


def evaluate_model(
    model: keras.Model,
    data,
    spec: InputSpec,
    label_names: Sequence[str],
    *,
    batch_size: int = 16,
    out_dir: str | Path | None = None,
    name: str = "test",
    subjects=None,
    exclude_subjects=None,
    augment: dict | None = None,
    title: str = "",
    record: dict[str, Any] | None = None,
    labels_known: bool = True,
    skip_corrupt: bool = False,
) -> dict[str, Any]:
    """Evaluate a classifier on clips; with ``out_dir`` write the report files.

    ``label_names`` are the model's classes in output order; when ``labels_known`` the
    data's label list is checked against them (:func:`ferzoo.training.labels.check_labels`:
    a mismatch raises, a same-order subset is scored on the model's outputs and noted in
    the report's ``label_note``). ``record`` adds fields to the report (e.g. the protocol
    and fold of the test part).

    Files written: ``<name>_report.json``, ``<name>_confusion.png`` and
    ``<name>_predictions.csv`` (one row per clip: id, subject, true, predicted, confidence).
    A corrupt record is an error naming shard and record; with ``skip_corrupt`` every
    intact clip is read and the report's ``skipped_data`` counts the others exactly.
    """
    files = resolve_files(data, "test")
    spec.check_model(model)
    index_map, note = (check_labels(label_names, dataset_labels(files), data=_named(files))
                       if labels_known else (None, None))
    ds = make_dataset(
        files, spec, training=False, batch_size=batch_size, subjects=subjects,
        exclude_subjects=exclude_subjects, num_classes=len(label_names), with_info=True,
        augment=augment, skip_corrupt=skip_corrupt,
    )
    try:
        probs, targets, ids, subjects_seen = predict_dataset(model, ds)
    except tf.errors.OpError as error:
        raise data_error(files, error) from error
    if index_map is not None:
        targets = index_map[targets.astype(np.int64)]
    report = classification_report(probs, targets, label_names)
    report["data"] = [str(f) for f in files]
    if note:
        report["label_note"] = note
    report.update(record or {})
    if skip_corrupt:
        report["skipped_data"] = skipped_clips(files)
    if out_dir is not None:
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / f"{name}_report.json").write_text(json.dumps(report, indent=1))
        plot_confusion(
            np.array(report["confusion_matrix"]), label_names, out_dir / f"{name}_confusion.png",
            title=title or f"{name}: WAR {report['war']:.1%}, UAR {report['uar']:.1%}",
        )
        with open(out_dir / f"{name}_predictions.csv", "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["clip_id", "subject", "true", "predicted", "confidence"])
            for cid, subj, t, p in zip(ids, subjects_seen, targets, probs):
                writer.writerow([cid, subj, label_names[int(t)], label_names[int(p.argmax())],
                                 f"{p.max():.4f}"])
    return report

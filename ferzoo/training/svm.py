"""The SVM classifier of RFSCNN (Zhou, Sec. 3 and 4.5), saved without pickle.

The paper classifies the fused spatiotemporal features of a video with a support vector
machine and evaluates it leave-one-subject-out ("LOGO cross-validation"). Here:

* :class:`PortableSVM` fits scikit-learn's ``SVC`` on standardised features and keeps
  only numbers: support vectors, dual coefficients, intercepts, kernel parameters,
  classes and the standardisation, saved as ``svm.npz`` (loaded with
  ``allow_pickle=False``) plus a readable ``svm.json``. The reloaded predictor is plain
  numpy and makes the same decisions as scikit-learn (libsvm's one-vs-one vote).
* :func:`leave_one_subject_out` runs the paper's protocol on per-video features.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from pathlib import Path
from typing import Any, Sequence

import keras
import numpy as np
import tensorflow as tf

from ferzoo.data.pipeline import InputSpec, parse_clip, resolve_files
from ferzoo.data.sampling import rfscnn_segments
from ferzoo.data.schema import parse_example
from ferzoo.models.rfscnn import average_over_segments, fuse_features
from ferzoo.training.evaluate import as_model_inputs
from ferzoo.training.run_folder import load_run

KERNELS = ("rbf", "linear", "poly", "sigmoid")
NPZ_NAME, JSON_NAME = "svm.npz", "svm.json"
FORMAT_VERSION = 1


@dataclasses.dataclass
class PortableSVM:
    """A fitted multi-class SVM as plain arrays (scikit-learn ``SVC`` semantics).

    Attributes:
        classes: (C,) class labels, sorted as scikit-learn sorts them.
        support_vectors: (S, F) in standardised feature space, grouped by class.
        n_support: (C,) support vectors per class.
        dual_coef: (C-1, S) in libsvm's sign convention (for two classes this is the
            negation of scikit-learn's public ``dual_coef_``).
        intercept: (C*(C-1)/2,) one per class pair (i, j), i < j, libsvm's convention.
        kernel, gamma, coef0, degree: the kernel ``k(x, y)``.
        mean, scale: the standardisation ``(x - mean) / scale`` applied first.
        metadata: free JSON-able facts (model, feature layer, fusion, C, ...).
    """

    classes: np.ndarray
    support_vectors: np.ndarray
    n_support: np.ndarray
    dual_coef: np.ndarray
    intercept: np.ndarray
    kernel: str
    gamma: float
    coef0: float
    degree: int
    mean: np.ndarray
    scale: np.ndarray
    metadata: dict[str, Any] = dataclasses.field(default_factory=dict)

    # ----------------------------------------------------------------- fitting
    @classmethod
    def fit(
        cls,
        features: np.ndarray,
        labels: Sequence,
        kernel: str = "rbf",
        C: float = 1.0,
        gamma: str | float = "scale",
        degree: int = 3,
        coef0: float = 0.0,
        metadata: dict[str, Any] | None = None,
    ) -> "PortableSVM":
        """Standardise ``features`` (N, F), fit ``sklearn.svm.SVC`` and keep its numbers."""
        from sklearn.svm import SVC

        if kernel not in KERNELS:
            raise ValueError(f"unknown kernel {kernel!r}; use one of {KERNELS}")
        features = np.asarray(features, np.float64)
        labels = np.asarray(labels)
        if features.ndim != 2 or len(features) != len(labels):
            raise ValueError(
                f"features must be (N, F) with one label per row, got {features.shape} "
                f"and {labels.shape[0]} labels"
            )
        if len(np.unique(labels)) < 2:
            raise ValueError(f"an SVM needs at least 2 classes, got {np.unique(labels)}")
        mean = features.mean(axis=0)
        scale = features.std(axis=0)
        scale[scale < 1e-12] = 1.0
        svc = SVC(kernel=kernel, C=C, gamma=gamma, degree=degree, coef0=coef0,
                  decision_function_shape="ovo")
        svc.fit((features - mean) / scale, labels)
        return cls.from_sklearn(svc, mean, scale, {**(metadata or {}), "C": C})

    @classmethod
    def from_sklearn(cls, svc, mean=None, scale=None, metadata=None) -> "PortableSVM":
        """Copy the numbers out of a fitted ``sklearn.svm.SVC``."""
        dual_coef = np.asarray(svc.dual_coef_, np.float64)
        intercept = np.asarray(svc.intercept_, np.float64)
        if len(svc.classes_) == 2:  # scikit-learn flips libsvm's signs for two classes
            dual_coef, intercept = -dual_coef, -intercept
        features = svc.support_vectors_.shape[1]
        return cls(
            classes=np.asarray(svc.classes_),
            support_vectors=np.asarray(svc.support_vectors_, np.float64),
            n_support=np.asarray(svc.n_support_, np.int64),
            dual_coef=dual_coef,
            intercept=intercept,
            kernel=str(svc.kernel),
            gamma=float(svc._gamma),
            coef0=float(svc.coef0),
            degree=int(svc.degree),
            mean=np.zeros(features) if mean is None else np.asarray(mean, np.float64),
            scale=np.ones(features) if scale is None else np.asarray(scale, np.float64),
            metadata=dict(metadata or {}),
        )

    # -------------------------------------------------------------- prediction
    def _kernel(self, x: np.ndarray) -> np.ndarray:
        """(N, F) standardised -> (N, S) kernel values against the support vectors."""
        sv = self.support_vectors
        if self.kernel == "linear":
            return x @ sv.T
        if self.kernel == "rbf":
            sq = (x**2).sum(1)[:, None] + (sv**2).sum(1)[None, :] - 2.0 * x @ sv.T
            return np.exp(-self.gamma * np.maximum(sq, 0.0))
        if self.kernel == "poly":
            return (self.gamma * x @ sv.T + self.coef0) ** self.degree
        if self.kernel == "sigmoid":
            return np.tanh(self.gamma * x @ sv.T + self.coef0)
        raise ValueError(f"unknown kernel {self.kernel!r}")

    def _libsvm_decision(self, features: np.ndarray) -> np.ndarray:
        """(N, C*(C-1)/2) libsvm decision values, pairs (0,1), (0,2), ..., (1,2), ..."""
        x = np.asarray(features, np.float64)
        if x.ndim != 2 or x.shape[1] != self.support_vectors.shape[1]:
            raise ValueError(
                f"features must be (N, {self.support_vectors.shape[1]}), got {x.shape}"
            )
        x = (x - self.mean) / self.scale
        k = self._kernel(x)
        starts = np.concatenate([[0], np.cumsum(self.n_support)])
        out, p = [], 0
        num = len(self.classes)
        for i in range(num):
            for j in range(i + 1, num):
                si, sj = slice(starts[i], starts[i + 1]), slice(starts[j], starts[j + 1])
                dec = (k[:, si] @ self.dual_coef[j - 1, si] + k[:, sj] @ self.dual_coef[i, sj]
                       + self.intercept[p])
                out.append(dec)
                p += 1
        return np.stack(out, axis=1)

    def decision_function(self, features: np.ndarray) -> np.ndarray:
        """scikit-learn's ``decision_function`` with ``decision_function_shape="ovo"``."""
        dec = self._libsvm_decision(features)
        return -dec[:, 0] if len(self.classes) == 2 else dec

    def predict(self, features: np.ndarray) -> np.ndarray:
        """Class labels by libsvm's one-vs-one vote (ties: the lower class index)."""
        dec = self._libsvm_decision(features)
        num = len(self.classes)
        votes = np.zeros((len(dec), num), np.int64)
        p = 0
        for i in range(num):
            for j in range(i + 1, num):
                wins_i = dec[:, p] > 0
                votes[:, i] += wins_i
                votes[:, j] += ~wins_i
                p += 1
        return self.classes[np.argmax(votes, axis=1)]

    # ------------------------------------------------------------ persistence
    def save(self, directory) -> Path:
        """Write ``svm.npz`` (arrays) and ``svm.json`` (kernel and metadata)."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        classes = self.classes
        if classes.dtype.kind == "O":
            classes = classes.astype(str)
        np.savez(
            directory / NPZ_NAME, classes=classes, support_vectors=self.support_vectors,
            n_support=self.n_support, dual_coef=self.dual_coef, intercept=self.intercept,
            mean=self.mean, scale=self.scale,
        )
        info = {
            "format": "ferzoo-svm", "version": FORMAT_VERSION,
            "kernel": self.kernel, "gamma": self.gamma, "coef0": self.coef0,
            "degree": self.degree, "classes": classes.tolist(),
            "num_support_vectors": int(self.n_support.sum()),
            "num_features": int(self.support_vectors.shape[1]),
            "metadata": self.metadata,
        }
        (directory / JSON_NAME).write_text(json.dumps(info, indent=2) + "\n")
        return directory

    @classmethod
    def load(cls, directory) -> "PortableSVM":
        """Read what :meth:`save` wrote (no pickle involved)."""
        directory = Path(directory)
        missing = [n for n in (NPZ_NAME, JSON_NAME) if not (directory / n).is_file()]
        if missing:
            raise FileNotFoundError(
                f"{directory} lacks {', '.join(missing)}; point at the folder that "
                f"'ferzoo svm fit' wrote"
            )
        info = json.loads((directory / JSON_NAME).read_text())
        if info.get("format") != "ferzoo-svm" or info.get("version") != FORMAT_VERSION:
            raise ValueError(
                f"{directory / JSON_NAME} is not a ferzoo SVM of version {FORMAT_VERSION}"
            )
        with np.load(directory / NPZ_NAME, allow_pickle=False) as arrays:
            data = {k: arrays[k] for k in arrays.files}
        return cls(kernel=info["kernel"], gamma=float(info["gamma"]),
                   coef0=float(info["coef0"]), degree=int(info["degree"]),
                   metadata=info.get("metadata", {}), **data)


# ---------------------------------------------------------------------- protocol
def leave_one_subject_out(
    features: np.ndarray,
    labels: Sequence,
    subjects: Sequence,
    num_classes: int | None = None,
    **svm_args,
) -> dict[str, Any]:
    """Leave-one-subject-out evaluation of a :class:`PortableSVM` (RFSCNN Sec. 4.5).

    Each subject in turn is the test set; an SVM is fitted (standardisation included) on
    all other subjects' videos. Returns the pooled accuracy (WAR), UAR, the confusion
    matrix over all held-out predictions (rows: true class) and per-subject accuracy.
    """
    features = np.asarray(features)
    labels = np.asarray(labels)
    subjects = np.asarray(subjects)
    unique = np.unique(subjects)
    if len(unique) < 2:
        raise ValueError(f"leave-one-subject-out needs >= 2 subjects, got {unique.tolist()}")
    num_classes = int(num_classes or labels.max() + 1)
    predictions = np.empty_like(labels)
    per_subject = {}
    for subject in unique:
        test = subjects == subject
        svm = PortableSVM.fit(features[~test], labels[~test], **svm_args)
        predictions[test] = svm.predict(features[test])
        per_subject[str(subject)] = float(np.mean(predictions[test] == labels[test]))
    confusion = np.zeros((num_classes, num_classes), np.int64)
    np.add.at(confusion, (labels.astype(int), predictions.astype(int)), 1)
    recalls = [confusion[c, c] / confusion[c].sum() for c in range(num_classes)
               if confusion[c].sum()]
    return {
        "protocol": "leave-one-subject-out",
        "folds": len(unique),
        "videos": int(len(labels)),
        "war": float(np.mean(predictions == labels)),
        "uar": float(np.mean(recalls)),
        "confusion": confusion.tolist(),
        "per_subject": per_subject,
    }


# ------------------------------------------------------------ feature extraction
FUSION_OF_LAYER = {"Multiply": "product", "Add": "sum", "Concatenate": "concat"}
POOLINGS = ("average_then_fuse", "fuse_then_average")


def model_fusion(model) -> str | None:
    """The fusion of a model's ``features`` layer (None for a single stream)."""
    return FUSION_OF_LAYER.get(type(model.get_layer("features")).__name__)


def segment_dataset(files, spec, batch_size: int = 16, augment: dict | None = None):
    """Every segment of every clip (RFSCNN Sec. 3.1), for video-level features.

    Each clip is cut into the segments of :func:`ferzoo.data.sampling.rfscnn_segments`
    (a short clip gives its one padded segment); each segment is then parsed like a test
    clip by the pipeline. Yields ``(inputs, label, clip_id, subject)`` batches.
    """
    frames = spec.frames

    def split(example):
        segments = rfscnn_segments(tf.shape(example["image/encoded"])[0], frames)

        def window(start):
            out = dict(example)
            out["image/encoded"] = example["image/encoded"][start:start + frames]
            out["flow/encoded"] = example["flow/encoded"][start:start + frames - 1]
            return out

        return tf.data.Dataset.from_tensor_slices(segments[:, 0]).map(window)

    def parse(example):
        inputs, label = parse_clip(example, spec, False, augment)
        return inputs, label, example["clip/id"], example["clip/subject"]

    ds = tf.data.TFRecordDataset(resolve_files(files))
    ds = ds.map(parse_example).flat_map(split)
    ds = ds.map(parse, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def extract_video_features(model, files, spec, augment: dict | None = None,
                           batch_size: int = 16, pooling: str = "average_then_fuse",
                           log=print) -> dict[str, np.ndarray]:
    """Per-video features of a trained RFSCNN model, as the paper feeds its SVM.

    Each stream's feature (layer ``<stream>_features``) is computed for every segment.
    With ``pooling="average_then_fuse"`` (RFSCNN Sec. 3: average pooling of the temporal
    and spatial features, then fusion) each stream is averaged over the video's segments
    and the averages are fused as the model's ``features`` layer fuses them; with
    ``"fuse_then_average"`` the per-segment fused features (what the softmax head was
    trained on) are averaged. Single-stream models: both are the same.

    Returns:
        dict with ``features`` (V, F), ``labels`` (V,), ``clip_ids`` (V,), ``subjects``
        (V,) and ``segments`` (V,) segment counts.
    """
    if pooling not in POOLINGS:
        raise ValueError(f"unknown pooling {pooling!r}; use one of {POOLINGS}")

    streams = [t.name for t in model.inputs]
    extractor = keras.Model(model.inputs,
                            [model.get_layer(f"{s}_features").output for s in streams])
    forward = tf.function(lambda x: extractor(as_model_inputs(extractor, x), training=False),
                          reduce_retracing=True)
    per_stream = {s: [] for s in streams}
    labels, ids, subjects = [], [], []
    start = time.time()
    for inputs, y, clip_id, subject in segment_dataset(files, spec, batch_size, augment):
        outs = forward(inputs)
        outs = outs if isinstance(outs, (list, tuple)) else [outs]
        for s, out in zip(streams, outs):
            per_stream[s].append(np.asarray(out))
        labels.append(y.numpy())
        ids.extend(v.decode() for v in clip_id.numpy())
        subjects.extend(v.decode() for v in subject.numpy())
    if not ids:
        raise ValueError(f"no clips in {files}")
    ids = np.array(ids)
    labels = np.concatenate(labels)
    per_stream = [np.concatenate(per_stream[s]) for s in streams]
    if len(streams) == 2 and pooling == "fuse_then_average":
        per_stream = [fuse_features(*per_stream, model_fusion(model))]
    pooled = []
    for values in per_stream:
        mean, order = average_over_segments(values, ids)
        pooled.append(mean)
    features = fuse_features(*pooled, model_fusion(model)) if len(pooled) == 2 else pooled[0]
    first = {v: i for i, v in reversed(list(enumerate(ids)))}
    rows = np.array([first[v] for v in order])  # one segment row of each video
    log(f"features: {len(order)} videos ({len(ids)} segments) in {time.time() - start:.1f} s")
    return {
        "features": features, "labels": labels[rows], "clip_ids": order,
        "subjects": np.array(subjects)[rows],
        "segments": np.array([np.sum(ids == v) for v in order]),
    }


# ------------------------------------------------------------------ on a trained run
def _load_run(run_dir):
    model, info = load_run(run_dir)
    if "features" not in [layer.name for layer in model.layers]:
        raise ValueError(
            f"the model of {run_dir} has no 'features' layer; the SVM path is for RFSCNN "
            f"models (rfscnn, rfscnn_spatial, rfscnn_temporal, rfscnn_concat, rfscnn_sum)"
        )
    return model, info, InputSpec.from_run(info)


def _split_files(info, split: str) -> str:
    return os.path.join(os.path.dirname(info["train_files"][0]), f"{split}-*.tfrecord")


def _features(run_dir, data, split, batch_size, pooling, log):
    model, info, spec = _load_run(run_dir)
    data = data or _split_files(info, split)
    log(f"extracting {model.name} features of {data} ({pooling})")
    found = extract_video_features(model, data, spec, info["recipe"].get("augment"),
                                   batch_size, pooling, log)
    return found, info, data


def _report(features, labels, svm, names):
    predictions = svm.predict(features)
    num = len(names)
    confusion = np.zeros((num, num), np.int64)
    np.add.at(confusion, (labels.astype(int), predictions.astype(int)), 1)
    recalls = [confusion[c, c] / confusion[c].sum() for c in range(num) if confusion[c].sum()]
    return {"videos": int(len(labels)), "war": float(np.mean(predictions == labels)),
            "uar": float(np.mean(recalls)), "labels": list(names),
            "confusion": confusion.tolist()}


def parse_gamma(value):
    """``"scale"``, ``"auto"`` or a number given as text -> what ``SVC`` takes."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return value


def fit_run_svm(run: str | os.PathLike, *, data: str | None = None,
                out: str | os.PathLike | None = None, kernel: str = "rbf", C: float = 1.0,
                gamma: str = "scale", pooling: str = "average_then_fuse",
                batch_size: int = 16, log=print) -> Path:
    """Fit the SVM on the per-video features of a trained RFSCNN run (its training split
    unless ``data``) and save it (``RUN/svm`` unless ``out``); returns the folder."""
    found, info, data = _features(run, data, "train", batch_size, pooling, log)
    svm = PortableSVM.fit(
        found["features"], found["labels"], kernel=kernel, C=C, gamma=parse_gamma(gamma),
        metadata={"run": str(Path(run).resolve()), "model": info["config"]["model"],
                  "data": str(data), "labels": info["labels"], "gamma_setting": gamma,
                  "pooling": pooling, "videos": int(len(found["labels"]))},
    )
    saved = svm.save(out or Path(run) / "svm")
    train_acc = float(np.mean(svm.predict(found["features"]) == found["labels"]))
    log(f"SVM ({kernel}, C={C}) on {len(found['labels'])} videos: "
        f"{int(svm.n_support.sum())} support vectors, training accuracy {train_acc:.2%}; "
        f"saved to {saved}")
    return saved


def evaluate_run_svm(svm_dir: str | os.PathLike, *, run: str | None = None,
                     data: str | None = None, loso: bool = False,
                     out: str | os.PathLike | None = None, name: str | None = None,
                     batch_size: int = 16, log=print) -> dict[str, Any]:
    """WAR/UAR of a saved SVM on a run's test split (or ``data``), or leave-one-subject-out
    with its settings (``loso``); writes ``svm_<name>_report.json`` and returns it."""
    svm_dir = Path(svm_dir)
    svm = PortableSVM.load(svm_dir)
    run = run or svm.metadata.get("run")
    if not run:
        raise ValueError(f"{svm_dir} does not name its run; pass --run")
    pooling = svm.metadata.get("pooling", "average_then_fuse")
    found, info, data = _features(run, data, "test", batch_size, pooling, log)
    names = info["labels"] or [str(i) for i in range(int(found["labels"].max()) + 1)]
    if loso:
        report = leave_one_subject_out(
            found["features"], found["labels"], found["subjects"], num_classes=len(names),
            kernel=svm.kernel, C=float(svm.metadata.get("C", 1.0)),
            gamma=parse_gamma(svm.metadata.get("gamma_setting", svm.gamma)),
            degree=svm.degree, coef0=svm.coef0,
        )
        report["labels"] = list(names)
        name = name or "loso"
    else:
        report = _report(found["features"], found["labels"], svm, names)
        name = name or "test"
    report.update(data=str(data), svm=str(svm_dir))
    path = Path(out or svm_dir) / f"svm_{name}_report.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=1) + "\n")
    log(f"{report.get('protocol', 'held-out test')}: WAR {report['war']:.2%}  "
        f"UAR {report['uar']:.2%} on {report['videos']} videos; report: {path}")
    return report

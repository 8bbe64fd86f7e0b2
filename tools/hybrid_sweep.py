#!/usr/bin/env python
"""Hidden units x hidden layers of the hybrid CNN-RNN's IRNN (Jain et al. 2018, Tables 2, 3).

Trains the frame CNN once (or reuses a finished stage-1 run), caches its features and
trains the IRNN head for every pair, then writes sweep.md / sweep.csv / sweep.png:

    python tools/hybrid_sweep.py --out runs/hybrid_sweep --cnn-epochs 15 --epochs 40
    python tools/hybrid_sweep.py --cnn-run runs/hybrid_sweep/stage1_cnn --units 50 150

``--probe fc conv3 ...`` instead fits linear probes on a finished stage-1 CNN's features
(the apex frame alone, the first frame, both, their change) and writes probe.md /
probe.json: does the first frame add anything a temporal model could use?

    python tools/hybrid_sweep.py --cnn-run runs/h/stage1_cnn --probe fc conv3 conv4
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import keras
import numpy as np
import tensorflow as tf

from ferzoo import registry
from ferzoo.cli.common import parse_assignments
from ferzoo.data.pipeline import (
    InputSpec,
    clip_counts,
    dataset_labels,
    make_dataset,
    resolve_files,
)
from ferzoo.data.writer import atomic_write_text
from ferzoo.training.protocols import holdout_subjects
from ferzoo.training.recipes import Recipe, get_recipe
from ferzoo.training.two_stage import STAGE1_MODELS, check_hybrid, stage1_arguments


# --------------------------------------------------------------- cached features
def extract_features(
    features: keras.Model, dataset: tf.data.Dataset
) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame CNN features of every clip: ``(N, P, D)`` features and ``(N,)`` targets.

    Args:
        features: a frame -> feature model (``frame_features(cnn, dropout=False)``).
        dataset: batches of ``({"video": (B, P, H, W, C)}, y)``.
    """

    @tf.function(reduce_retracing=True)
    def run(video):
        shape = tf.shape(video)
        frames = tf.reshape(video, tf.concat([[-1], shape[2:]], 0))  # (B*P, H, W, C)
        out = features(frames, training=False)
        return tf.reshape(out, [shape[0], shape[1], -1])  # (B, P, D)

    xs, ys = [], []
    for inputs, y in dataset:
        xs.append(run(inputs["video"]).numpy())
        ys.append(y.numpy())
    if not xs:
        raise ValueError("no clip to extract features from (empty dataset)")
    return np.concatenate(xs), np.concatenate(ys)


def fit_temporal_rnn(
    train: tuple[np.ndarray, np.ndarray],
    val: tuple[np.ndarray, np.ndarray] | None,
    test: tuple[np.ndarray, np.ndarray] | None,
    *,
    num_classes: int,
    units: int,
    num_layers: int,
    relu: bool = True,
    recipe: Recipe | str = "hybrid_paper",
    epochs: int | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """Train the IRNN head (:func:`temporal_rnn`) on cached features.

    The epoch with the best validation accuracy (or the last one without validation
    data) is kept; returns its train/validation/test accuracy and loss.
    """
    from ferzoo.models.hybrid_cnn_rnn import temporal_rnn

    recipe = get_recipe(recipe) if isinstance(recipe, str) else recipe
    recipe = recipe.replace(epochs=epochs)
    keras.utils.set_random_seed(seed)
    x, y = train
    model = temporal_rnn(x.shape[1], x.shape[2], num_classes, units, num_layers, relu)
    steps = max(1, len(x) // recipe.batch_size)
    model.compile(optimizer=recipe.make_optimizer(steps),
                  loss=keras.losses.SparseCategoricalCrossentropy(),
                  metrics=["accuracy"])
    best, best_weights, history = None, None, []
    start = time.time()
    for epoch in range(recipe.epochs):
        fit = model.fit(x, y, batch_size=recipe.batch_size, epochs=1, shuffle=True, verbose=0)
        row = {"epoch": epoch + 1, "loss": fit.history["loss"][-1],
               "accuracy": fit.history["accuracy"][-1]}
        if val is not None:
            row["val_loss"], row["val_accuracy"] = model.evaluate(*val, verbose=0)
        history.append(row)
        key = (row.get("val_accuracy", 0.0), -row.get("val_loss", -epoch))
        if best is None or key >= best[0]:
            best, best_weights = (key, row), model.get_weights()
    model.set_weights(best_weights)
    result = {"units": units, "layers": num_layers, "relu": relu, "best_epoch": best[1]["epoch"],
              "train_accuracy": best[1]["accuracy"], "seconds": round(time.time() - start, 1),
              "history": history}
    if val is not None:
        result.update(val_accuracy=best[1]["val_accuracy"], val_loss=best[1]["val_loss"])
    if test is not None:
        result["test_loss"], result["test_accuracy"] = model.evaluate(*test, verbose=0)
    return result


def load_frame_cnn(path: str | os.PathLike) -> keras.Model:
    """The frame CNN inside a saved stage-1 model (``hybrid_cnn`` run) or a saved CNN."""
    model = keras.saving.load_model(path, compile=False)
    names = [layer.name for layer in model.layers]
    return model.get_layer("frame_cnn") if "frame_cnn" in names else model


def feature_splits(
    cnn: keras.Model,
    data: str,
    test_data: str | None,
    *,
    frames: int,
    sampling: str = "last",
    feature_source: str = "fc",
    val_fraction: float = 0.15,
    seed: int = 0,
    augment: dict | None = None,
    batch_size: int = 32,
) -> dict[str, Any]:
    """Cached features of the train / validation (held-out subjects) / test clips."""
    from ferzoo.models.hybrid_cnn_rnn import frame_features

    features = frame_features(cnn, feature_source, dropout=False)
    shape = tuple(cnn.inputs[0].shape[1:])
    spec = InputSpec(frames=frames, image_size=shape[:2], channels=shape[2], sampling=sampling)
    train_files = resolve_files(data, "train")
    test_files = resolve_files(test_data, "test") if test_data else None
    held = holdout_subjects(clip_counts(train_files), val_fraction, seed)

    def split(files, **kw):
        # training=False: no random geometry; the recipe's crop and photometric steps
        # (equalisation, standardisation) apply as at test time.
        ds = make_dataset(files, spec, training=False, batch_size=batch_size,
                          augment=augment, **kw)
        return extract_features(features, ds)

    out = {"labels": dataset_labels(train_files), "train": split(train_files,
                                                                 exclude_subjects=held)}
    out["val"] = split(train_files, subjects=held) if held else None
    out["test"] = split(test_files) if test_files else None
    return out


# Views of a clip's cached features (N, P, D) for the linear probe: the apex step
# alone (what the frame CNN sees), the first (neutral) step alone, both, their change.
PROBE_VIEWS = {
    "apex": lambda x: x[:, -1],
    "first": lambda x: x[:, 0],
    "apex+first": lambda x: np.concatenate([x[:, -1], x[:, 0]], axis=1),
    "apex-first": lambda x: x[:, -1] - x[:, 0],
}


def linear_probe(
    splits: dict[str, Any], views: Sequence[str] = tuple(PROBE_VIEWS), c: float = 0.1,
) -> dict[str, dict[str, float]]:
    """How much the features of the first frame add to those of the apex, for a linear
    classifier: standardised features, L2 logistic regression (inverse strength ``c``)
    fitted on ``splits["train"]``, scored on its own clips and on ``splits["test"]``.

    If ``apex+first`` scores well above ``apex`` on the test clips, the features carry
    the change from the neutral face that a temporal model could use.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    unknown = [v for v in views if v not in PROBE_VIEWS]
    if unknown:
        raise ValueError(f"unknown probe views {unknown}; known: {list(PROBE_VIEWS)}")
    (x, y), (x_test, y_test) = splits["train"], splits["test"]
    out = {}
    for view in views:
        pick = PROBE_VIEWS[view]
        probe = make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=2000))
        probe.fit(pick(x), y)
        out[view] = {"train_accuracy": float(probe.score(pick(x), y)),
                     "test_accuracy": float(probe.score(pick(x_test), y_test))}
    return out


def rnn_sweep(
    splits: dict[str, Any],
    units: Sequence[int] = (50, 100, 150, 200),
    layers: Sequence[int] = (4, 5, 6),
    *,
    relu: bool = True,
    recipe: Recipe | str = "hybrid_paper",
    epochs: int | None = None,
    seed: int = 0,
    log: Callable[[str], None] = print,
) -> list[dict[str, Any]]:
    """Train the IRNN head for every (units, layers) pair on cached features."""
    num_classes = len(splits["labels"]) if splits.get("labels") else \
        int(splits["train"][1].max()) + 1
    rows = []
    for n_layers in layers:
        for n_units in units:
            row = fit_temporal_rnn(
                splits["train"], splits.get("val"), splits.get("test"),
                num_classes=num_classes, units=n_units, num_layers=n_layers, relu=relu,
                recipe=recipe, epochs=epochs, seed=seed,
            )
            log(f"units {n_units:4d}  layers {n_layers}  "
                f"val acc {row.get('val_accuracy', float('nan')):.3f}  "
                f"test acc {row.get('test_accuracy', float('nan')):.3f}  "
                f"({row['seconds']} s)")
            rows.append(row)
    return rows


def write_sweep_report(rows: list[dict[str, Any]], out_dir: str | os.PathLike,
                       title: str = "Hybrid CNN-RNN: hidden units x hidden layers",
                       baseline: float | None = None) -> dict:
    """``sweep.csv``, ``sweep.md`` (grid and the two paper-style tables), ``sweep.png``.

    ``baseline``: the frame CNN's own test accuracy (stage 1, the paper's "CNN" row),
    drawn as a line and written under the grid (left out when the rows have no test
    accuracy: it would not compare).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    keys = ["units", "layers", "relu", "best_epoch", "train_accuracy", "val_accuracy",
            "val_loss", "test_accuracy", "test_loss", "seconds"]
    with open(out / "sweep.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=keys, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    metric = "test_accuracy" if all("test_accuracy" in r for r in rows) else "val_accuracy"
    if metric != "test_accuracy":
        baseline = None
    loss = metric.replace("accuracy", "loss")
    units = sorted({r["units"] for r in rows})
    layers = sorted({r["layers"] for r in rows})
    cell = {(r["units"], r["layers"]): r for r in rows}
    lines = [f"# {title}", "", f"{metric.replace('_', ' ')} (loss) per setting", "",
             "| hidden units | " + " | ".join(f"{n} layers" for n in layers) + " |",
             "|---|" + "---|" * len(layers)]
    for u in units:
        lines.append(f"| {u} | " + " | ".join(
            f"{cell[(u, n)][metric]:.2%} ({cell[(u, n)][loss]:.3f})" if (u, n) in cell else "-"
            for n in layers) + " |")
    # The paper's two tables: units at the deepest setting (Table 2), layers at the
    # best units (Table 3).
    deepest = layers[-1]
    best_units = max(units, key=lambda u: cell.get((u, deepest), {}).get(metric, -1))
    lines += ["", f"Table 2 shape: hidden units ({deepest} layers)", "",
              "| method | accuracy | loss |", "|---|---|---|"]
    lines += [f"| Hybrid CNN-RNN, hidden units = {u} | {cell[(u, deepest)][metric]:.2%} | "
              f"{cell[(u, deepest)][loss]:.3f} |" for u in units if (u, deepest) in cell]
    lines += ["", f"Table 3 shape: hidden layers ({best_units} units)", "",
              "| method | accuracy | loss |", "|---|---|---|"]
    lines += [f"| Hybrid CNN-RNN, hidden layers = {n} | {cell[(best_units, n)][metric]:.2%} | "
              f"{cell[(best_units, n)][loss]:.3f} |" for n in layers if (best_units, n) in cell]
    if baseline is not None:
        lines += ["", f"The frame CNN alone (stage 1, its last frame): {baseline:.2%} test "
                  "accuracy on the same clips."]
    (out / "sweep.md").write_text("\n".join(lines) + "\n")

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for n in layers:
        xs = [u for u in units if (u, n) in cell]
        axes[0].plot(xs, [100 * cell[(u, n)][metric] for u in xs], marker="o",
                     label=f"{n} layers")
        axes[1].plot(xs, [cell[(u, n)][loss] for u in xs], marker="o", label=f"{n} layers")
    if baseline is not None:
        axes[0].axhline(100 * baseline, color="grey", linestyle="--",
                        label="frame CNN alone")
    for ax, name in zip(axes, (f"{metric.replace('_', ' ')} (%)", loss.replace("_", " "))):
        ax.set_xlabel("hidden units")
        ax.set_ylabel(name)
        ax.set_xticks(units)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(out / "sweep.png", dpi=120)
    plt.close(fig)
    return {"csv": str(out / "sweep.csv"), "markdown": str(out / "sweep.md"),
            "plot": str(out / "sweep.png"), "metric": metric}


def _data_or_synthetic(data, test_data, data_root, synthetic) -> tuple[str, str | None]:
    if data is not None:
        return data, test_data
    from ferzoo.data.synthetic import SyntheticConfig, ensure_synthetic

    folder = ensure_synthetic(data_root, SyntheticConfig(**(synthetic or {})))
    return str(folder), test_data or str(folder)


def run_sweep(
    out_dir: str | os.PathLike = "runs/hybrid_sweep",
    *,
    model: str = "hybrid_cnn_rnn",
    preset: str | None = "cpu",
    overrides: dict[str, Any] | None = None,
    data: str | None = None,
    test_data: str | None = None,
    data_root: str = "tfrecords",
    synthetic: dict[str, Any] | None = None,
    cnn_run: str | None = None,
    cnn_epochs: int | None = None,
    epochs: int | None = None,
    recipe: str | None = None,
    batch_size: int | None = None,
    units: Sequence[int] = (50, 100, 150, 200),
    layers: Sequence[int] = (4, 5, 6),
    seed: int = 0,
    progress: bool = False,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Stage 1 (or a finished stage-1 run), cached features, the grid, the report.

    Returns the paths of the report files and the rows.
    """
    from ferzoo.training.trainer import train

    entry = check_hybrid(model)
    overrides = dict(overrides or {})
    out = Path(out_dir)
    recipe_obj = get_recipe(recipe or entry.recipe).replace(batch_size=batch_size)
    data, test_data = _data_or_synthetic(data, test_data, data_root, synthetic)
    if cnn_run is None:
        cnn_run = str(out / "stage1_cnn")
        log(f"stage 1: frame CNN in {cnn_run}")
        train(STAGE1_MODELS[entry.head], cnn_run, overrides=stage1_arguments(
            model, preset, overrides), data=data, test_data=test_data, epochs=cnn_epochs,
            recipe=recipe, batch_size=batch_size, seed=seed, progress=progress, log=log)
    cnn = load_frame_cnn(Path(cnn_run) / "model.keras")
    kwargs = registry.resolve_kwargs(model, preset, **overrides)
    log(f"extracting {kwargs['feature_source']!r} features of {kwargs['frames']} frames "
        f"per clip")
    splits = feature_splits(
        cnn, data, test_data, frames=kwargs["frames"], sampling=entry.sampling,
        feature_source=kwargs["feature_source"], seed=seed, augment=recipe_obj.augment,
        batch_size=recipe_obj.batch_size,
    )
    rows = rnn_sweep(splits, units, layers, relu=kwargs["relu"], recipe=recipe_obj,
                     epochs=epochs, seed=seed, log=log)
    cnn_result = Path(cnn_run) / "result.json"
    stage1 = json.loads(cnn_result.read_text()) if cnn_result.exists() else None
    report = write_sweep_report(rows, out, baseline=((stage1 or {}).get("test") or {}).get("war"))
    summary = {"rows": [{k: v for k, v in r.items() if k != "history"} for r in rows],
               "stage1": stage1,
               **report}
    atomic_write_text(out / "sweep.json", json.dumps(summary, indent=1, default=str))
    return summary


def run_probe(
    out_dir: str | os.PathLike,
    cnn_run: str | os.PathLike,
    sources: Sequence[str] = ("fc", "conv3", "conv4", "conv5", "conv6"),
    *,
    model: str = "hybrid_cnn_rnn",
    preset: str | None = "cpu",
    data: str | None = None,
    test_data: str | None = None,
    data_root: str = "tfrecords",
    synthetic: dict[str, Any] | None = None,
    recipe: str | None = None,
    seed: int = 0,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """:func:`linear_probe` of a finished stage-1 CNN's features, for each feature source:
    writes ``probe.json`` and ``probe.md`` in ``out_dir`` and returns the table."""
    entry = check_hybrid(model)
    data, test_data = _data_or_synthetic(data, test_data, data_root, synthetic)
    if not test_data:
        raise ValueError("the probe scores on test clips: give test_data")
    cnn = load_frame_cnn(Path(cnn_run) / "model.keras")
    frames = registry.resolve_kwargs(model, preset)["frames"]
    recipe_obj = get_recipe(recipe or entry.recipe)
    table = {}
    for source in sources:
        splits = feature_splits(cnn, data, test_data, frames=frames, sampling=entry.sampling,
                                feature_source=source, seed=seed,
                                augment=recipe_obj.augment, batch_size=recipe_obj.batch_size)
        table[source] = linear_probe(splits)
        log(f"{source}: " + "  ".join(f"{view} {r['test_accuracy']:.3f}"
                                       for view, r in table[source].items()))
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    views = list(PROBE_VIEWS)
    lines = ["# Linear probe of the frame CNN's features", "",
             f"stage-1 CNN: `{cnn_run}`; {frames} frames per clip ({entry.sampling}); "
             "test accuracy of an L2 logistic regression fitted on the training clips", "",
             "| feature source | " + " | ".join(views) + " |",
             "|---|" + "---:|" * len(views)]
    lines += [f"| {source} | " + " | ".join(f"{row[v]['test_accuracy']:.2%}" for v in views)
              + " |" for source, row in table.items()]
    atomic_write_text(out / "probe.md", "\n".join(lines) + "\n")
    summary = {"cnn_run": str(cnn_run), "frames": frames, "data": data, "probe": table}
    atomic_write_text(out / "probe.json", json.dumps(summary, indent=1))
    return summary


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="runs/hybrid_sweep")
    p.add_argument("--model", default="hybrid_cnn_rnn")
    p.add_argument("--preset", default="cpu", help="model preset (\"none\": the paper defaults)")
    p.add_argument("--set", nargs="*", metavar="KEY=VALUE", help="model builder arguments")
    p.add_argument("--data", help="training shards (default: the built-in synthetic data)")
    p.add_argument("--test-data")
    p.add_argument("--data-root", default="tfrecords")
    p.add_argument("--synthetic", nargs="*", metavar="KEY=VALUE")
    p.add_argument("--cnn-run", help="a finished stage-1 run folder to reuse")
    p.add_argument("--cnn-epochs", type=int)
    p.add_argument("--epochs", type=int, help="epochs of each RNN")
    p.add_argument("--recipe")
    p.add_argument("--batch-size", type=int)
    p.add_argument("--units", type=int, nargs="+", default=[50, 100, 150, 200])
    p.add_argument("--layers", type=int, nargs="+", default=[4, 5, 6])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--probe", nargs="+", metavar="SOURCE",
                   help="linear probes of these feature sources (fc, conv1..conv6) of "
                        "--cnn-run instead of the sweep")
    args = p.parse_args(argv)
    if args.probe:
        if not args.cnn_run:
            p.error("--probe needs --cnn-run (a finished stage-1 run folder)")
        run_probe(
            args.out, args.cnn_run, args.probe, model=args.model,
            preset=None if args.preset in ("", "none") else args.preset,
            data=args.data, test_data=args.test_data, data_root=args.data_root,
            synthetic=parse_assignments(args.synthetic), recipe=args.recipe, seed=args.seed,
        )
        print(open(os.path.join(args.out, "probe.md")).read())
        return 0
    summary = run_sweep(
        args.out, model=args.model, preset=None if args.preset in ("", "none") else args.preset,
        overrides=parse_assignments(args.set),
        data=args.data, test_data=args.test_data, data_root=args.data_root,
        synthetic=parse_assignments(args.synthetic), cnn_run=args.cnn_run,
        cnn_epochs=args.cnn_epochs, epochs=args.epochs, recipe=args.recipe,
        batch_size=args.batch_size,
        units=args.units, layers=args.layers, seed=args.seed,
    )
    print(open(summary["markdown"]).read())
    print(json.dumps({k: summary[k] for k in ("csv", "markdown", "plot")}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())

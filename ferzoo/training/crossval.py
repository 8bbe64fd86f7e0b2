"""``ferzoo crossval``: train and test a model on every fold of a dataset's protocol.

Each fold is one ordinary run of :func:`ferzoo.training.trainer.train` in
``OUT/fold01``, ``OUT/fold02`` ... (training subjects, validation subjects held out of
them, test subjects: :mod:`ferzoo.training.protocols`), so a fold resumes like any run
and a finished fold is not trained again. The summary, ``OUT/crossval.json`` and
``OUT/crossval.md``, gives WAR and UAR per fold and their mean and standard deviation
(sample standard deviation over folds).

    >>> summary = crossval("stc_nlstm", "tfrecords/ckplus", folds=10)   # doctest: +SKIP
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Callable, Sequence

from ferzoo.training.labels import check_labels
from ferzoo.training.protocols import DEFAULT_VAL_FRACTION, Fold, make_folds, read_protocol
from ferzoo.training.trainer import train


def _fold_options(fold: Fold, data: str) -> dict[str, Any]:
    options: dict[str, Any] = {
        "data": fold.train.files(data),
        "train_subjects": None if fold.train.subjects is None else list(fold.train.subjects),
        "test_data": fold.test.files(data),
        "test_subjects": None if fold.test.subjects is None else list(fold.test.subjects),
    }
    if fold.train.exclude_subjects:
        raise ValueError("training selections with exclude lists are not supported by the "
                         "trainer; use include lists")
    if fold.val is None:
        options["val_subjects"] = []
    elif fold.val.splits == fold.train.splits and fold.val.subjects is not None:
        options["val_subjects"] = list(fold.val.subjects)
    else:  # a separate validation split (fixed protocols that ship one)
        options["val_data"] = fold.val.files(data)
    return options


def _mean_std(values: Sequence[float]) -> tuple[float, float]:
    n = len(values)
    mean = sum(values) / n
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1)) if n > 1 else 0.0
    return mean, std


def summary_table(summary: dict[str, Any]) -> str:
    """Markdown table: one row per fold, then mean and standard deviation."""
    lines = [f"# {summary['model']} on {summary['data']} ({len(summary['folds'])} folds, "
             f"{summary['protocol']})", "",
             "| fold | train clips | test clips | WAR | UAR | best epoch |",
             "| --- | --- | --- | --- | --- | --- |"]
    for row in summary["folds"]:
        lines.append(f"| {row['fold']} | {row['train_clips']} | {row['test_clips']} | "
                     f"{row['war']:.2%} | {row['uar']:.2%} | {row.get('best_epoch', '')} |")
    lines.append(f"| **mean** | | | **{summary['war_mean']:.2%}** | "
                 f"**{summary['uar_mean']:.2%}** | |")
    lines.append(f"| std | | | {summary['war_std']:.2%} | {summary['uar_std']:.2%} | |")
    return "\n".join(lines) + "\n"


def crossval(model: str, data: str | Path, *, folds: int | None = None,
             out_dir: str | Path | None = None, val_fraction: float = DEFAULT_VAL_FRACTION,
             seed: int = 0, order: str | None = None, only: Sequence[int] | None = None,
             log: Callable[[str], None] = print, **train_options: Any) -> dict[str, Any]:
    """Train ``model`` on every fold of ``data`` and summarise WAR/UAR.

    Args:
        model: registered model name.
        data: a converted dataset folder (with ``manifest.json``; ``protocol.json`` says
            how to split it, else it is inferred).
        folds: fold count of a k-fold protocol (default: the protocol's).
        out_dir: where the fold runs and the summary go (default
            ``runs/crossval-<model>-<dataset>``).
        val_fraction, seed, order: see :func:`ferzoo.training.protocols.make_folds`.
        only: run only these fold indices (1-based); the summary covers the finished ones.
        train_options: passed to :func:`ferzoo.training.trainer.train` (preset, overrides,
            recipe, epochs, batch_size, learning_rate, strategy, progress, ...).

    Returns:
        The summary (also in ``crossval.json``, and as a table in ``crossval.md``).
    """
    data = str(data)
    out = Path(out_dir or Path("runs") / f"crossval-{model}-{Path(data).name}")
    out.mkdir(parents=True, exist_ok=True)
    fold_list = make_folds(data, folds, val_fraction, seed, order)
    protocol = read_protocol(data)
    manifest = json.loads((Path(data) / "manifest.json").read_text())
    (out / "folds.json").write_text(json.dumps([f.as_dict() for f in fold_list], indent=1))
    rows = []
    for fold in fold_list:
        run = out / f"fold{fold.index:02d}"
        if only and fold.index not in only and not (run / "result.json").exists():
            continue
        if (run / "result.json").exists():
            run_info = json.loads((run / "run.json").read_text()) \
                if (run / "run.json").exists() else {}
            if run_info.get("labels") is not None:
                check_labels(run_info["labels"], manifest.get("labels"), data=f"the data in {data}",
                             model=f"the finished fold run {run}")
            result = json.loads((run / "result.json").read_text())
            log(f"fold {fold.index}/{len(fold_list)}: already done ({run})")
        else:
            log(f"fold {fold.index}/{len(fold_list)}: training {fold.train.count(manifest)} "
                f"clips, testing {fold.test.count(manifest)} clips")
            result = train(model, out_dir=run, seed=seed, **_fold_options(fold, data),
                           **train_options)
        test = result.get("test")
        if not test:
            raise ValueError(f"fold {fold.index}: the run reported no test result ({run})")
        rows.append({"fold": fold.index, "run": str(run), "war": test["war"], "uar": test["uar"],
                     "test_clips": test["num_clips"], "train_clips": fold.train.count(manifest),
                     "best_epoch": (result.get("best") or {}).get("epoch", "")})
        log(f"fold {fold.index}: WAR {test['war']:.2%}  UAR {test['uar']:.2%}")
    if not rows:
        raise ValueError("no fold was run (check --fold)")
    war_mean, war_std = _mean_std([r["war"] for r in rows])
    uar_mean, uar_std = _mean_std([r["uar"] for r in rows])
    summary = {"model": model, "data": data, "protocol": protocol.get("kind", "?"),
               "folds": rows, "folds_total": len(fold_list),
               "war_mean": war_mean, "war_std": war_std, "uar_mean": uar_mean,
               "uar_std": uar_std, "val_fraction": val_fraction, "seed": seed}
    (out / "crossval.json").write_text(json.dumps(summary, indent=1))
    (out / "crossval.md").write_text(summary_table(summary))
    log(f"{model}: WAR {war_mean:.2%} +- {war_std:.2%}, UAR {uar_mean:.2%} +- {uar_std:.2%} "
        f"over {len(rows)} folds ({out / 'crossval.md'})")
    return summary

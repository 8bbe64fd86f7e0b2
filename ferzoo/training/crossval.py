"""``ferzoo crossval``: train and test a model on every fold of a dataset's protocol.

Each fold is one ordinary run of :func:`ferzoo.training.trainer.train` in
``OUT/fold01``, ``OUT/fold02`` ... (training subjects, validation subjects held out of
them, test subjects: :mod:`ferzoo.training.protocols`), so a fold resumes like any run
and a finished fold is not trained again. The summary, ``OUT/crossval.json`` and
``OUT/crossval.md``, gives WAR and UAR per fold and their mean and standard deviation
(sample standard deviation over folds). :func:`compare` pairs two such folders fold by
fold, e.g. a paper's model against the ``reference_c3d`` floor on the same test subjects.

    >>> summary = crossval("stc_nlstm", "tfrecords/ckplus", folds=10)   # doctest: +SKIP
    >>> print(comparison_table(compare("runs/cv-stc", "runs/cv-c3d")))  # doctest: +SKIP
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Callable, Sequence

from ferzoo.errors import RunFolderError
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


def _finished(folder: Path) -> tuple[dict[str, Any], dict[int, list[str]]]:
    summary_file = folder / "crossval.json"
    if not summary_file.exists():
        raise RunFolderError(f"{summary_file} not found: {folder} is not a folder written "
                             "by ferzoo crossval")
    summary = json.loads(summary_file.read_text())
    folds_file = folder / "folds.json"
    tests = {f["index"]: sorted(f["test"]["subjects"] or []) for f in
             json.loads(folds_file.read_text())} if folds_file.exists() else {}
    return summary, tests


def _converted_from(data: str) -> str | None:
    """The source a dataset folder was converted from (its conversion report), if known."""
    from ferzoo.data.converters.base import REPORT_FILE

    report = Path(data) / REPORT_FILE
    if not report.exists():
        return None
    return json.loads(report.read_text()).get("source_dir")


def compare(folder_a: str | Path, folder_b: str | Path) -> dict[str, Any]:
    """Pair two ``crossval`` folders fold by fold: WAR of each and A - B per fold.

    Both must test the same data folder, or two converted from the same source (e.g. with
    and without ``--flow``); only folds finished in both count, and a fold must test the
    same subjects in both (else ``ValueError`` naming the fold). Pooled WAR counts every
    test clip of those folds once; the differences' mean and sample standard deviation
    are over folds.
    """
    (a, tests_a), (b, tests_b) = _finished(Path(folder_a)), _finished(Path(folder_b))
    source_a, source_b = _converted_from(a["data"]), _converted_from(b["data"])
    if Path(a["data"]).resolve() != Path(b["data"]).resolve() and (
            source_a is None or source_a != source_b):
        raise ValueError(f"{folder_a} tested on {a['data']} (converted from {source_a}), "
                         f"{folder_b} on {b['data']} (from {source_b}): folds of different "
                         "data cannot be paired")
    rows_b = {row["fold"]: row for row in b["folds"]}
    rows = []
    for row_a in a["folds"]:
        row_b = rows_b.get(row_a["fold"])
        if row_b is None:
            continue
        fold = row_a["fold"]
        if tests_a.get(fold) != tests_b.get(fold) or row_a["test_clips"] != row_b["test_clips"]:
            raise ValueError(f"fold {fold} tests subjects {tests_a.get(fold)} in {folder_a} "
                             f"but {tests_b.get(fold)} in {folder_b}: not the same fold")
        rows.append({"fold": fold, "test_subjects": tests_a.get(fold),
                     "test_clips": row_a["test_clips"], "war_a": row_a["war"],
                     "war_b": row_b["war"], "diff": row_a["war"] - row_b["war"]})
    if not rows:
        raise ValueError(f"no fold is finished in both {folder_a} and {folder_b}")
    clips = sum(r["test_clips"] for r in rows)
    diff_mean, diff_std = _mean_std([r["diff"] for r in rows])
    return {
        "a": {"folder": str(folder_a), "model": a["model"]},
        "b": {"folder": str(folder_b), "model": b["model"]},
        "data": a["data"] if a["data"] == b["data"] else f"{a['data']} / {b['data']}",
        "folds": rows, "test_clips": clips,
        "war_a": sum(r["war_a"] * r["test_clips"] for r in rows) / clips,
        "war_b": sum(r["war_b"] * r["test_clips"] for r in rows) / clips,
        "diff_mean": diff_mean, "diff_std": diff_std,
        "a_higher": sum(r["diff"] > 0 for r in rows), "b_higher": sum(r["diff"] < 0 for r in rows),
    }


def _folds(count: int) -> str:
    return f"{count} fold" + ("" if count == 1 else "s")


def comparison_table(result: dict[str, Any]) -> str:
    """Markdown table of :func:`compare`: one row per fold, then pooled WAR and the mean."""
    a, b = result["a"]["model"], result["b"]["model"]
    lines = [f"# {a} (A) against {b} (B) on {result['data']} ({_folds(len(result['folds']))})",
             "", "| fold | test subjects | test clips | WAR A | WAR B | A - B (points) |",
             "| --- | --- | ---: | ---: | ---: | ---: |"]
    for r in result["folds"]:
        lines.append(f"| {r['fold']} | {', '.join(r['test_subjects'] or [])} | "
                     f"{r['test_clips']} | {r['war_a']:.1%} | {r['war_b']:.1%} | "
                     f"{100 * r['diff']:+.1f} |")
    lines.append(f"| **all** | | {result['test_clips']} | **{result['war_a']:.1%}** | "
                 f"**{result['war_b']:.1%}** | **{100 * result['diff_mean']:+.1f}** "
                 f"(std {100 * result['diff_std']:.1f}) |")
    equal = len(result["folds"]) - result["a_higher"] - result["b_higher"]
    lines += ["", f"A above B in {_folds(result['a_higher'])}, below in "
              f"{_folds(result['b_higher'])}, equal in {_folds(equal)}. WAR A and B in the "
              "last row pool every test clip; A - B is the mean over folds."]
    return "\n".join(lines) + "\n"

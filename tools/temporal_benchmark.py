#!/usr/bin/env python
"""The temporal benchmark: does each network use time? (docs/temporal.md)

Trains each model's preset (default ``cpu``) with the recipe the trainer picks for it by
default, on the default synthetic data and on a temporal variant where one frame cannot
tell the class (``temporal=resting_bias`` unless ``--variant`` says otherwise), for
every seed, and appends one entry per run to ``docs/results/temporal.json``::

    {"model", "data" ("default" | "temporal"), "seed", "war", "uar", "minutes",
     "preset", "epochs", "variant", "synthetic"}

A run already in the file (same model, data, seed, preset, epochs, variant and data
settings) is skipped, and an interrupted run resumes from its run folder, so the same
command continues the benchmark. Then it writes the table and the plot into
``docs/temporal.md`` (between its markers) and ``docs/images/temporal_benchmark.png``.

    python tools/temporal_benchmark.py                                  # the whole grid
    python tools/temporal_benchmark.py --models hybrid_cnn hybrid_cnn_rnn --data temporal \\
        --seeds 0 1 2
    python tools/temporal_benchmark.py --report-only                    # page and plot
    python tools/temporal_benchmark.py --probes --probe-clips 12        # the pixel probes

The hybrid CNN-RNNs train the paper's way (:func:`ferzoo.training.two_stage.train_two_stage`:
the frame CNN, then the RNN on its frozen features); ``hybrid_cnn`` is that frame CNN
alone, on the apex frame (the frame baseline): when a hybrid's stage-1 CNN is the same
model (same preset settings, recipe, data and seed), its run is recorded as the
``hybrid_cnn`` entry (with a ``note``) instead of training it again. Models that need optical flow get data
with ``flow=True``. A model that is not registered is skipped with a note.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path
from typing import Any, Callable, Sequence

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(REPO))

from ferzoo import registry  # noqa: E402
from ferzoo.cli.common import parse_assignments  # noqa: E402
from ferzoo.data.writer import atomic_write_text  # noqa: E402

RESULTS = REPO / "docs" / "results" / "temporal.json"
PAGE = REPO / "docs" / "temporal.md"
PLOT = REPO / "docs" / "images" / "temporal_benchmark.png"
BEGIN, END = "<!-- temporal-benchmark:begin -->", "<!-- temporal-benchmark:end -->"
# The frame baseline, the hybrid CNN-RNNs, each paper's clip model and the reference.
MODELS = ("hybrid_cnn", "hybrid_cnn_rnn", "hybrid_cnn_rnn_tanh", "stc_nlstm", "stcam",
          "lstpnet", "rfscnn", "reference_c3d")
DATA = ("default", "temporal")
GRID_SEEDS = (0, 1, 2)
VARIANT = "resting_bias"
ABOUT = ("Test WAR/UAR of training runs on the built-in synthetic data (test subjects "
         "unseen in training): data 'default' and 'temporal' (a variant where one frame "
         "cannot tell the class; docs/temporal.md). One entry per run, written by "
         "tools/temporal_benchmark.py; minutes are wall-clock on the machine that ran it.")
# The settings of the grid's runs: each model's cpu preset with its own recipe and epochs.
GRID = {"preset": "cpu", "recipe": None, "epochs": None, "synthetic": {}}
RUN_KEYS = ("model", "data", "seed", "preset", "recipe", "epochs", "variant", "synthetic")


# ------------------------------------------------------------------ results file
def load_results(path: str | os.PathLike = RESULTS) -> dict[str, Any]:
    path = Path(path)
    if path.exists():
        return json.loads(path.read_text())
    return {"about": ABOUT, "runs": []}


def run_key(entry: dict[str, Any]) -> str:
    return json.dumps({k: entry.get(k) for k in RUN_KEYS}, sort_keys=True)


def data_settings(data: str, variant: str, base: dict[str, Any],
                  streams: Sequence[str] = ("video",)) -> dict[str, Any]:
    """The ``SyntheticConfig`` fields of a benchmark data set."""
    if data not in DATA:
        raise ValueError(f"unknown data {data!r}; the benchmark's data are {DATA}")
    settings = dict(base)
    if data == "temporal":
        settings["temporal"] = variant
    if "flow" in streams:
        settings["flow"] = True
    return settings


# ------------------------------------------------------------------------ one run
def is_hybrid_rnn(model: str) -> bool:
    entry = registry.get_entry(model)
    return entry.head == "softmax" and {"cnn_weights", "freeze_cnn"} <= set(entry.defaults)


def train_one(model: str, data: str, seed: int, *, out_dir: str | os.PathLike,
              preset: str | None = "cpu", recipe: str | None = None, epochs: int | None = None,
              variant: str = VARIANT, synthetic: dict[str, Any] | None = None, data_root: str = "tfrecords",
              max_steps_per_epoch: int | None = None, batch_size: int | None = None,
              progress: bool = False, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Train one model on one benchmark data set; the results-file entry of the run."""
    from ferzoo.training.trainer import train
    from ferzoo.training.two_stage import train_two_stage

    entry = registry.get_entry(model)
    base = dict(synthetic or {})
    settings = data_settings(data, variant, base, entry.streams)
    start = time.time()
    options = dict(preset=preset, recipe=recipe, seed=seed, epochs=epochs,
                   data_root=str(data_root),
                   synthetic=settings, max_steps_per_epoch=max_steps_per_epoch,
                   batch_size=batch_size, progress=progress, log=log)
    if is_hybrid_rnn(model):
        result = train_two_stage(model, str(out_dir), **options)
    else:
        result = train(model, str(out_dir), **options)
    minutes = (time.time() - start) / 60

    def entry_of(name: str, res: dict[str, Any], run: str, took: float) -> dict[str, Any]:
        test = res.get("test") or {}
        return {
            "model": name, "data": data, "seed": seed,
            "war": round(float(test.get("war", math.nan)), 4),
            "uar": round(float(test.get("uar", math.nan)), 4),
            "minutes": round(took, 2), "preset": preset, "recipe": recipe, "epochs": epochs,
            "variant": variant if data == "temporal" else None, "synthetic": base, "run": run,
        }

    entry = entry_of(model, result, str(out_dir), minutes)
    if "stage1" in result:
        # The stage-1 CNN is the frame baseline hybrid_cnn with this preset's CNN settings
        # (ferzoo.training.two_stage.stage1_arguments): the runner may record it as such.
        stage1 = Path(out_dir) / "stage1_cnn"
        entry["_stage1"] = entry_of(STAGE1_BASELINE, result["stage1"], str(stage1),
                                    _training_minutes(stage1))
    return entry


STAGE1_BASELINE = "hybrid_cnn"


def _training_minutes(run_dir: Path) -> float:
    """Minutes of a finished run's epochs, from its history.csv (the test is not counted)."""
    import csv

    with open(run_dir / "history.csv") as f:
        return sum(float(row["seconds"]) for row in csv.DictReader(f)) / 60


def stage1_is_baseline(model: str, preset: str | None) -> bool:
    """Whether the stage-1 CNN of ``model``'s two-stage training is ``hybrid_cnn`` at
    ``preset`` (then the benchmark need not train the frame baseline again)."""
    from ferzoo.training.two_stage import stage1_arguments

    if STAGE1_BASELINE not in registry.list_models("*"):
        return False
    return (registry.resolve_kwargs(STAGE1_BASELINE, None, **stage1_arguments(model, preset, {}))
            == registry.resolve_kwargs(STAGE1_BASELINE, preset))


def run_benchmark(models: Sequence[str] = MODELS, data: Sequence[str] = DATA,
                  seeds: Sequence[int] = (0, 1, 2), *, preset: str | None = "cpu",
                  recipe: str | None = None, epochs: int | None = None, variant: str = VARIANT,
                  synthetic: dict[str, Any] | None = None,
                  results: str | os.PathLike = RESULTS, runs: str | os.PathLike = "runs/temporal",
                  data_root: str = "tfrecords", max_steps_per_epoch: int | None = None,
                  batch_size: int | None = None, progress: bool = False,
                  log: Callable[[str], None] = print) -> dict[str, Any]:
    """Every (model, data, seed) not yet in ``results``, one at a time; returns the file's
    content. Models that are not registered are skipped with a note."""
    known = set(registry.list_models("*"))
    table = load_results(results)
    done = {run_key(e) for e in table["runs"]}
    base = dict(synthetic or {})
    # The frame baseline last: a two-stage hybrid's stage 1 may already be it.
    models = [m for m in models if m != STAGE1_BASELINE] + (
        [STAGE1_BASELINE] if STAGE1_BASELINE in models else [])
    for model in models:
        if model not in known:
            log(f"note: {model} is not registered; skipped")
            continue
        if registry.get_entry(model).head != "softmax":
            log(f"note: {model} is not a classification model; skipped")
            continue
        for name in data:
            for seed in seeds:
                key = {"model": model, "data": name, "seed": seed, "preset": preset,
                       "recipe": recipe, "epochs": epochs, "variant": variant if name == "temporal" else None,
                       "synthetic": base}
                if run_key(key) in done:
                    log(f"{model} on {name}, seed {seed}: in {results}, skipped")
                    continue
                suffix = f"{preset or 'paper'}_{recipe or 'default'}_e{epochs or 'recipe'}"
                folder = Path(runs) / f"{name}-{variant if name == 'temporal' else 'default'}" / (
                    f"{model}_{suffix}_s{seed}")
                log(f"{model} on {name}, seed {seed}: training in {folder}")
                entry = train_one(model, name, seed, out_dir=folder, preset=preset,
                                  recipe=recipe, epochs=epochs, variant=variant, synthetic=base,
                                  data_root=data_root, max_steps_per_epoch=max_steps_per_epoch,
                                  batch_size=batch_size, progress=progress, log=log)
                log(f"{model} on {name}, seed {seed}: WAR {entry['war']:.2%} "
                    f"UAR {entry['uar']:.2%} in {entry['minutes']:.1f} min")
                new = [entry]
                stage1 = entry.pop("_stage1", None)
                if (stage1 and STAGE1_BASELINE in models and run_key(stage1) not in done
                        and stage1_is_baseline(model, preset)):
                    stage1["note"] = f"stage 1 of the {model} run"
                    log(f"{STAGE1_BASELINE} on {name}, seed {seed}: the stage-1 CNN of this "
                        f"run, WAR {stage1['war']:.2%}")
                    new.append(stage1)
                table = load_results(results)  # re-read: keep what others wrote meanwhile
                table["runs"] += new
                Path(results).parent.mkdir(parents=True, exist_ok=True)
                atomic_write_text(results, json.dumps(table, indent=1) + "\n")
                done.update(run_key(e) for e in new)
    return table


def all_models(preset: str | None = "cpu") -> list[str]:
    """Every registered classification model that has ``preset`` (all of them for None),
    in the benchmark's order (:data:`MODELS` first)."""
    names = [n for n in registry.list_models("*")
             if registry.get_entry(n).head == "softmax"
             and (preset in (None, "", "none") or preset in registry.get_entry(n).presets)]
    return [m for m in MODELS if m in names] + sorted(set(names) - set(MODELS))


# ------------------------------------------------------------------------- report
def summarise(runs: list[dict[str, Any]]) -> dict[tuple, dict[str, Any]]:
    """(model, data, preset, recipe, epochs, variant, synthetic) -> mean/std WAR and UAR
    over seeds."""
    import numpy as np

    groups: dict[tuple, list[dict[str, Any]]] = {}
    for r in runs:
        key = (r["model"], r["data"], r.get("preset"), r.get("recipe"), r.get("epochs"),
               r.get("variant"),
               json.dumps(r.get("synthetic") or {}, sort_keys=True))
        groups.setdefault(key, []).append(r)
    out = {}
    for key, rows in groups.items():
        war = np.array([r["war"] for r in rows], float)
        uar = np.array([r["uar"] for r in rows], float)
        out[key] = {"seeds": sorted(r["seed"] for r in rows), "war": war.mean(),
                    "war_std": war.std(ddof=1) if len(rows) > 1 else math.nan,
                    "uar": uar.mean(), "minutes": float(np.mean([r["minutes"] for r in rows])),
                    "wars": war.tolist()}
    return out


def _pct(mean: float, std: float, values: Sequence[float] = ()) -> str:
    """``mean ± std (min-max)`` in percent; the mean alone for one seed."""
    if math.isnan(std):
        return f"{mean:.1%}"
    return f"{mean:.1%} ± {100 * std:.1f} ({100 * min(values):.1f}-{100 * max(values):.1f})"


def _setting(key: tuple) -> tuple:
    """What a table groups by: (preset, recipe, epochs, data settings) of a summary key."""
    return key[2], key[3], key[4], key[6]


def results_table(runs: list[dict[str, Any]], models: Sequence[str] = MODELS) -> str:
    """Markdown: one row per model and setting, WAR mean ± std (range) over seeds on each
    data set."""
    if not runs:
        return "No runs recorded yet."
    summary = summarise(runs)
    order = {m: i for i, m in enumerate(models)}
    lines = []
    for setting in sorted({_setting(k) for k in summary}, key=str):
        preset, recipe, epochs, synthetic = setting
        keys = [k for k in summary if _setting(k) == setting]
        variants = sorted({k[5] for k in keys if k[5]})
        lines.append(f"Preset `{preset}`, recipe {f'`{recipe}`' if recipe else 'of the model'}, "
                     f"epochs {epochs or 'of the recipe'}, data settings `{synthetic}`"
                     + (f", temporal variant `{'`, `'.join(variants)}`" if variants else "")
                     + ":\n")
        lines.append("| model | default WAR | temporal WAR | temporal UAR | temporal - default "
                     "| seeds (default / temporal) | minutes per run |")
        lines.append("|---|---:|---:|---:|---:|---|---:|")
        names = sorted({k[0] for k in keys}, key=lambda m: (order.get(m, len(order)), m))
        for model in names:
            cells = {k[1]: summary[k] for k in keys if k[0] == model}
            d, t = cells.get("default"), cells.get("temporal")
            gap = f"{100 * (t['war'] - d['war']):+.1f} points" if d and t else "-"
            minutes = ", ".join(f"{v['minutes']:.1f}" for v in (d, t) if v)
            default_war = _pct(d["war"], d["war_std"], d["wars"]) if d else "not measured"
            temporal_war = _pct(t["war"], t["war_std"], t["wars"]) if t else "not measured"
            temporal_uar = f"{t['uar']:.1%}" if t else "-"
            seeds = f"{len(d['seeds']) if d else 0} / {len(t['seeds']) if t else 0}"
            lines.append(f"| `{model}` | {default_war} | {temporal_war} | {temporal_uar} "
                         f"| {gap} | {seeds} | {minutes} |")
        lines.append("")
    return "\n".join(lines).rstrip()


def grid_runs(runs: list[dict[str, Any]], grid: dict[str, Any] | None = None) -> list[dict]:
    """The runs made with the settings of ``grid`` (default :data:`GRID`)."""
    grid = dict(GRID, **(grid or {}))
    return [r for r in runs if all((r.get(k) or None) == (v or None) for k, v in grid.items())]


def grid_words(grid: dict[str, Any] | None = None) -> str:
    """The grid's settings in words, e.g. "preset `cpu`, its own recipe, the recipe's
    epochs"."""
    grid = dict(GRID, **(grid or {}))
    recipe = f"recipe `{grid['recipe']}`" if grid["recipe"] else "its own recipe"
    epochs = (f"{grid['epochs']} epoch{'s' * (grid['epochs'] != 1)}" if grid["epochs"]
              else "the recipe's epochs")
    extra = f", data settings `{grid['synthetic']}`" if grid["synthetic"] else ""
    return f"preset `{grid['preset']}`, {recipe}, {epochs}{extra}"


def missing_cells(runs: list[dict[str, Any]], models: Sequence[str] = MODELS,
                  seeds: Sequence[int] = (0, 1, 2),
                  grid: dict[str, Any] | None = None) -> list[str]:
    """The (model, data) cells of the grid with fewer than ``len(seeds)`` seeds; ``grid``
    (default :data:`GRID`): the settings a run must have to count (preset, recipe,
    epochs, synthetic)."""
    have: dict[tuple, set] = {}
    for r in grid_runs(runs, grid):
        have.setdefault((r["model"], r["data"]), set()).add(r["seed"])
    known = set(registry.list_models("*"))
    out = []
    for model in models:
        for data in DATA:
            n = len(have.get((model, data), ()))
            if n < len(seeds):
                why = "" if model in known else " (model not registered)"
                out.append(f"`{model}` on `{data}`: {n} of {len(seeds)} seeds{why}")
    return out


def plot_results(runs: list[dict[str, Any]], path: str | os.PathLike = PLOT,
                 models: Sequence[str] = MODELS,
                 grid: dict[str, Any] | None = None) -> Path | None:
    """Bar chart of WAR (mean over seeds, each seed a dot) per model on each data set, of
    the runs with the grid's settings (the tables have the others)."""
    runs = grid_runs(runs, grid)
    if not runs:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    summary = summarise(runs)
    order = {m: i for i, m in enumerate(models)}
    # one group of bars per model and setting (preset, recipe, epochs, data settings)
    groups = sorted({(k[0], _setting(k)) for k in summary},
                    key=lambda g: (order.get(g[0], len(order)), g[0], str(g[1])))
    settings = {g[1] for g in groups}
    fig, ax = plt.subplots(figsize=(max(5.5, 1.2 * len(groups) + 1.5), 3.6), dpi=100)
    width = 0.38
    for j, (data, colour) in enumerate((("default", "#9aa7b8"), ("temporal", "#d0683a"))):
        for i, (model, setting) in enumerate(groups):
            cell = next((v for k, v in summary.items()
                         if k[0] == model and k[1] == data and _setting(k) == setting), None)
            if cell is None:
                continue
            x = i + (j - 0.5) * width
            ax.bar(x, cell["war"] * 100, width, color=colour, label=data)
            ax.scatter(np.full(len(cell["wars"]), x), np.array(cell["wars"]) * 100, s=9,
                       color="black", zorder=3)
    handles, labels = ax.get_legend_handles_labels()
    unique = dict(zip(labels, handles))
    ax.legend(unique.values(), unique.keys(), fontsize=8, loc="upper center", ncol=2)
    ax.axhline(100 / 6, color="grey", lw=0.8, ls=":")

    def label(model, setting):
        if len(settings) == 1:
            return model
        preset, recipe, epochs, synthetic = setting
        extra = "" if synthetic == "{}" else f"\n{synthetic}"
        return f"{model}\n{recipe or 'default recipe'}, {epochs or 'recipe'} ep{extra}"

    ax.set_xticks(range(len(groups)), [label(*g) for g in groups], fontsize=7)
    ax.set_ylabel("test WAR (%)")
    ax.set_ylim(0, 115)
    ax.set_yticks(range(0, 101, 20))
    ax.set_title(f"WAR on unseen subjects, {grid_words(grid).replace('`', '')}\n(bars: mean "
                 "over seeds; dots: seeds; dotted: chance)", fontsize=8)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def render_page(results: str | os.PathLike = RESULTS, page: str | os.PathLike = PAGE,
                plot: str | os.PathLike = PLOT, models: Sequence[str] = MODELS,
                seeds: Sequence[int] = (0, 1, 2), grid: dict[str, Any] | None = None) -> Path:
    """Write the table, the list of unmeasured cells of ``grid`` (:func:`missing_cells`)
    and the plot into ``page``."""
    from tools.docgen import replace_between

    runs = load_results(results)["runs"]
    grid = dict(GRID, **(grid or {}))
    page, plot_path = Path(page), plot_results(runs, plot, models, grid)
    body = [results_table(runs, models)]
    if plot_path is not None:
        body.append(f"\n![WAR per model on the default and the temporal data]"
                    f"({os.path.relpath(plot_path, page.parent)})")
    gaps = missing_cells(runs, models, seeds, grid)
    if gaps:
        body.append(f"\nNot measured (cells of the grid, {grid_words(grid)}, with fewer "
                    "seeds than asked):\n")
        body += [f"- {g}" for g in gaps]
    text = page.read_text() if page.exists() else f"# Temporal benchmark\n\n{BEGIN}\n{END}\n"
    page.write_text(replace_between(text, BEGIN, END, "\n".join(body), str(page)))
    return page


# ------------------------------------------------------------------------- probes
PROBE_RESULTS = REPO / "docs" / "results" / "temporal_probes.json"
PROBE_BEGIN, PROBE_END = "<!-- temporal-probes:begin -->", "<!-- temporal-probes:end -->"


def run_probe_check(synthetic: dict[str, Any] | None = None,
                    clips_per_subject: int | None = None,
                    results: str | os.PathLike = PROBE_RESULTS,
                    page: str | os.PathLike | None = PAGE) -> dict[str, Any]:
    """The pixel probes (:mod:`ferzoo.data.synthetic.probes`) on the default data and
    every temporal variant; written to ``results`` and, as a table, into ``page``."""
    from ferzoo.data.synthetic import TEMPORAL_VARIANTS, SyntheticConfig
    from ferzoo.data.synthetic.probes import probe_table, run_probes
    from tools.docgen import replace_between

    base = dict(synthetic or {})
    out: dict[str, Any] = {}
    for variant in ("",) + TEMPORAL_VARIANTS:
        config = SyntheticConfig(**dict(base, temporal=variant))
        out[variant or "default"] = run_probes(config, clips_per_subject=clips_per_subject)
    record = {"synthetic": base, "clips_per_subject": clips_per_subject, "probes": out}
    Path(results).parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(results, json.dumps(record, indent=1) + "\n")
    if page is not None and Path(page).exists():
        path = Path(page)
        body = (f"Data settings `{json.dumps(base, sort_keys=True)}`, "
                f"{clips_per_subject or 'all'} clips per subject "
                f"(`{os.path.relpath(results, path.parent)}`):\n\n{probe_table(out)}")
        path.write_text(replace_between(path.read_text(), PROBE_BEGIN, PROBE_END, body,
                                        str(path)))
    return record


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", nargs="+", default=list(MODELS),
                   help="models to run (default: the frame baseline, the hybrids, each "
                        "paper's model and the reference); 'all': every registered "
                        "classification model with the preset")
    p.add_argument("--data", nargs="+", default=list(DATA), choices=DATA)
    p.add_argument("--seeds", nargs="+", type=int, default=list(GRID_SEEDS))
    p.add_argument("--preset", default="cpu", help='model preset ("none": the paper defaults)')
    p.add_argument("--recipe", help="recipe of every run (default: the one the trainer "
                                    "picks for each model)")
    p.add_argument("--epochs", type=int, help="epochs of every run (default: the recipe's)")
    p.add_argument("--batch-size", type=int)
    p.add_argument("--max-steps-per-epoch", type=int)
    p.add_argument("--variant", default=VARIANT, help="the temporal variant of 'temporal'")
    p.add_argument("--synthetic", nargs="*", metavar="KEY=VALUE",
                   help="SyntheticConfig fields of both data sets (e.g. num_subjects=20)")
    p.add_argument("--results", default=str(RESULTS))
    p.add_argument("--page", default=str(PAGE))
    p.add_argument("--plot", default=str(PLOT))
    p.add_argument("--runs", default="runs/temporal", help="where the run folders go")
    p.add_argument("--data-root", default="tfrecords")
    p.add_argument("--report-only", action="store_true", help="only write the page and plot")
    p.add_argument("--probes", action="store_true",
                   help="instead of training: the pixel probes of every data variant "
                        "(docs/results/temporal_probes.json and the page's probe table)")
    p.add_argument("--probe-clips", type=int, help="clips per subject for --probes")
    p.add_argument("--progress", action="store_true")
    args = p.parse_args(argv)
    if args.models == ["all"]:
        args.models = all_models(args.preset)
    if args.probes:
        record = run_probe_check(parse_assignments(args.synthetic), args.probe_clips,
                                 page=args.page)
        print(json.dumps(record["probes"], indent=1))
        return 0
    if not args.report_only:
        run_benchmark(args.models, args.data, args.seeds,
                      preset=None if args.preset in ("", "none") else args.preset,
                      recipe=args.recipe, epochs=args.epochs, variant=args.variant,
                      synthetic=parse_assignments(args.synthetic), results=args.results,
                      runs=args.runs, data_root=args.data_root,
                      max_steps_per_epoch=args.max_steps_per_epoch,
                      batch_size=args.batch_size, progress=args.progress)
    # the page lists what is missing from the whole grid, whatever subset ran now
    page = render_page(args.results, args.page, args.plot, seeds=GRID_SEEDS)
    print(f"wrote {page}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The documentation is what the code generates, and it covers what is registered.

README's model table and the results sections of docs/models/*.md are generated from the
registry and ferzoo/catalog/results/*.json (never typed by hand); every paper family has a page
naming all its registered variants; every dataset converter has a "Preparing" page.
"""

import json
import re
import tomllib

import pytest

import ferzoo
from ferzoo import registry
from ferzoo.catalog import (
    EXPORT_RESULTS, SYNTHETIC_RESULTS, TABLE_BEGIN, TABLE_END, ResultsError, accuracy_cell,
    check_results, exports_cell, load_results, model_table,
)
from tools.docgen import (
    RESULTS_BEGIN, RESULTS_END, family_models, generated_between, record_run, results_section,
)
from tests.conftest import REPO

MODELS_DIR = REPO / "docs" / "models"


@pytest.mark.slow
def test_readme_model_table_is_generated():
    readme = (REPO / "README.md").read_text()
    assert TABLE_BEGIN in readme and TABLE_END in readme
    current = readme.split(TABLE_BEGIN)[1].split(TABLE_END)[0].strip()
    assert current == model_table(ferzoo.list_models()).strip(), (
        "README.md's model table is stale: run `python tools/update_readme.py`"
    )


# ------------------------------------------------------------------------ results files
def test_results_files_name_registered_models_only():
    for path in (SYNTHETIC_RESULTS, EXPORT_RESULTS):
        assert path.exists(), f"{path} is missing"
        check_results(load_results(path), str(path))


def test_every_model_has_a_measured_export_record():
    results = load_results(EXPORT_RESULTS)["results"]
    missing = sorted(set(ferzoo.list_models()) - set(results))
    assert not missing, f"no export record for {missing}: run python tools/record_exports.py"


def test_table_refuses_a_result_of_an_unregistered_model(tmp_path):
    bogus = tmp_path / "synthetic.json"
    bogus.write_text(json.dumps({"about": "", "results": {"no_such_model": {
        "model": "no_such_model", "war": 0.5, "uar": 0.5}}}))
    with pytest.raises(ResultsError, match="no_such_model"):
        model_table(["stc"], synthetic=bogus, exports=EXPORT_RESULTS)
    with pytest.raises(ResultsError, match="no_such_model"):
        model_table(["stc"], synthetic=SYNTHETIC_RESULTS, exports=bogus)
    with pytest.raises(ResultsError, match="no_such_model"):
        results_section("stc_nlstm", synthetic=bogus)


def test_table_cells_come_from_the_results_files(tmp_path):
    synthetic, exports = tmp_path / "synthetic.json", tmp_path / "export.json"
    synthetic.write_text(json.dumps({"about": "", "results": {"stc": {
        "model": "stc", "preset": "cpu", "war": 0.9312, "uar": 0.9251,
        "render_version": 1}}}))
    exports.write_text(json.dumps({"about": "", "results": {"stc": {
        "model": "stc", "passed": {"savedmodel": {}, "tflite-float32": {}, "onnx": {}},
        "failed": {"tflite-int8": "ExportError: WHILE"}}}}))
    table = model_table(["stc", "stc_lstm"], synthetic=synthetic, exports=exports)
    rows = {line.split("|")[1].strip(): line for line in table.splitlines()[2:]}
    assert "| 93.1% / 92.5% (render v1) |" in rows["`stc`"]
    assert rows["`stc`"].endswith("| SavedModel, TFLite float32, ONNX; fails: TFLite int8 |")
    assert "| — (not trained) | not measured |" in rows["`stc_lstm`"]


def test_cells():
    assert accuracy_cell(None) == "— (not trained)"
    assert accuracy_cell(None, head="regression").startswith("n/a")
    assert accuracy_cell({"war": 1.0, "uar": 0.98, "preset": None, "two_stage": True,
                          "overrides": {"frames": 1}}) == \
        "100.0% / 98.0% (preset paper; frames=1; two-stage)"
    every = {label: {} for label in
             ("savedmodel", "tflite-float32", "tflite-dynamic", "tflite-int8", "onnx")}
    assert exports_cell({"passed": every, "failed": {}}) == \
        "SavedModel, TFLite float32/dynamic-range/int8, ONNX"
    assert exports_cell(None) == "not measured"


# ---------------------------------------------------------------- recording a finished run
def _fake_run(root, model="stc_nlstm", overrides=None, seed=1, render_version=2,
              finished=True):
    """A run folder as ``ferzoo train`` leaves it (only the files the recorder reads)."""
    data = root / "tfrecords" / "synthetic-64px-s0-abcdef12"
    data.mkdir(parents=True)
    (data / "synthetic.json").write_text(json.dumps(
        {"size": 64, "seed": 0, "flow": True, "render_version": render_version}))
    run = root / "runs" / "mine"
    run.mkdir(parents=True)
    (run / "run.json").write_text(json.dumps({
        "config": {"model": model, "out_dir": "runs/mine", "preset": "cpu",
                   "overrides": overrides or {}, "recipe": "synthetic_cpu", "seed": seed,
                   "val_fraction": 0.15, "synthetic": {"flow": True}},
        "recipe": {"name": "synthetic_cpu", "epochs": 10},
        "train_files": [str(data.relative_to(root) / "train-00000-of-00001.tfrecord")],
    }))
    (run / "result.json").write_text(json.dumps({"epochs": 10, "best": {"epoch": 7}}))
    if finished:
        (run / "test_report.json").write_text(json.dumps(
            {"num_clips": 300, "war": 0.8766666, "uar": 0.8712345}))
    return run


def test_record_run_reads_a_finished_run_folder(tmp_path):
    run = _fake_run(tmp_path, overrides={"width": 8, "lstm_units": 64})
    results = tmp_path / "results.json"
    entry = record_run(run, results)
    assert entry["model"] == "stc_nlstm" and entry["preset"] == "cpu"
    assert entry["recipe"] == "synthetic_cpu" and entry["seed"] == 1
    assert (entry["war"], entry["uar"], entry["test_clips"]) == (0.8767, 0.8712, 300)
    assert (entry["epochs"], entry["best_epoch"]) == (10, 7)
    # width=8 differs from the cpu preset; lstm_units=64 is the preset's value anyway
    assert entry["overrides"] == {"width": 8}
    assert entry["data"] == "synthetic-64px-s0-abcdef12"
    assert entry["render_version"] == 2 and entry["synthetic"] == {"flow": True}
    assert entry["command"] == (
        "ferzoo train --model stc_nlstm --preset cpu --recipe synthetic_cpu --set width=8 "
        "lstm_units=64 --synthetic flow=True --epochs 10 --seed 1 --out runs/mine")
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC", entry["date"])
    stored = load_results(results)["results"]
    assert stored == {"stc_nlstm": entry}
    assert accuracy_cell(entry) == "87.7% / 87.1% (width=8; render v2)"


def test_seeds_of_one_set_up_make_one_entry_with_their_spread(tmp_path):
    runs = []
    for seed, war in [(0, 0.91), (1, 0.95), (2, 0.96)]:
        run = _fake_run(tmp_path / f"s{seed}", seed=seed)
        report = json.loads((run / "test_report.json").read_text())
        (run / "test_report.json").write_text(json.dumps({**report, "war": war}))
        runs.append(run)
    entry = record_run(runs, tmp_path / "results.json")
    assert entry["war"] == 0.94 and entry["war_range"] == [0.91, 0.96]
    assert [s["seed"] for s in entry["seeds"]] == [0, 1, 2]
    assert "seed" not in entry and entry["command"].endswith("  # --seed 0, 1, 2")
    assert " --seed 0 " not in entry["command"]
    # a command given by hand that already names the seeds is not named twice
    again = record_run(runs, tmp_path / "results.json", command=entry["command"])
    assert again["command"] == entry["command"]
    assert accuracy_cell(entry) == "94.0% / 87.1% (mean WAR, 91.0%-96.0%, 3 seeds; render v2)"
    row = next(line for line in results_section("stc_nlstm", tmp_path / "results.json")
               .splitlines() if line.startswith("| `stc_nlstm`"))
    assert "| 94.0% (91.0%-96.0%, 3 seeds) | 87.1% | 300 |" in row and "| 10 (7, 7, 7) |" in row
    other = _fake_run(tmp_path / "w", seed=3, overrides={"width": 8})
    with pytest.raises(ResultsError, match=r"differ in \['overrides'\]"):
        record_run([runs[0], other], tmp_path / "results.json")
    with pytest.raises(ResultsError, match="same seed"):
        record_run([runs[0], runs[0]], tmp_path / "results.json")


def test_record_run_refuses_unfinished_runs_and_unregistered_models(tmp_path):
    with pytest.raises(ResultsError, match="test_report.json"):
        record_run(_fake_run(tmp_path / "a", finished=False), tmp_path / "r.json")
    with pytest.raises(registry.RegistryError, match="no_such_model"):
        record_run(_fake_run(tmp_path / "b", model="no_such_model"), tmp_path / "r.json")
    assert not (tmp_path / "r.json").exists()


def test_record_run_command_override_and_note(tmp_path):
    entry = record_run(_fake_run(tmp_path), tmp_path / "r.json", command="make it",
                       note="older render")
    assert entry["command"] == "make it" and entry["note"] == "older render"


# --------------------------------------------------------------------- docs/models pages
def test_every_paper_family_has_a_page_naming_all_its_variants():
    papers = sorted({registry.get_entry(n).paper for n in ferzoo.list_models()})
    index = (MODELS_DIR / "README.md").read_text()
    for paper in papers:
        page = MODELS_DIR / f"{paper}.md"
        assert page.exists(), f"no page {page} for the paper family {paper!r}"
        text = page.read_text()
        missing = [n for n in family_models(paper) if f"`{n}`" not in text]
        assert not missing, f"{page.name} does not name the registered variants {missing}"
        assert f"({paper}.md)" in index, f"docs/models/README.md does not link {page.name}"
        unlisted = [n for n in family_models(paper) if f"`{n}`" not in index]
        assert not unlisted, f"docs/models/README.md does not list {unlisted}"
        assert "not reproduced" in text, f"{page.name} must say the benchmarks were not rerun"


def test_model_pages_results_sections_are_generated():
    for paper in registry.papers():
        page = MODELS_DIR / f"{paper}.md"
        if not page.exists():
            continue
        current = generated_between(page.read_text(), RESULTS_BEGIN, RESULTS_END)
        assert current == results_section(paper).strip(), (
            f"{page} results section is stale: run `python tools/update_readme.py`")


def test_model_pages_commands_exist():
    """Every ``ferzoo SUBCOMMAND`` the pages show is a real subcommand."""
    from ferzoo.cli import build_parser

    parser = build_parser()
    choices = next(a for a in parser._actions if a.dest == "command").choices
    for page in MODELS_DIR.glob("*.md"):
        for sub in re.findall(r"\bferzoo ([a-z]+)\b", page.read_text()):
            if sub in ("models", "train", "evaluate", "export", "predict", "crossval", "svm",
                       "attention", "convert", "benchmark", "info", "synth"):
                assert sub in choices, f"{page.name}: ferzoo {sub} is not a subcommand"


# ------------------------------------------------------------------ changelog, datasets
def test_changelog_is_at_the_package_version():
    version = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    changelog = (REPO / "CHANGELOG.md").read_text()
    assert re.search(rf"^## \[{re.escape(version)}\]", changelog, re.M), (
        f"CHANGELOG.md has no section for version {version} (pyproject.toml)")


def test_every_converter_has_a_preparing_page_linked_from_the_docs_index():
    from ferzoo.data.converters import list_converters

    datasets = REPO / "docs" / "datasets"
    index = (datasets / "README.md").read_text()
    for name in list_converters():
        page = datasets / f"{name}.md"
        assert page.exists(), f"converter {name!r} has no page {page}"
        assert page.read_text().startswith("# Preparing "), page
        assert f"({name}.md)" in index, f"docs/datasets/README.md does not link {name}.md"
    docs_index = (REPO / "docs" / "README.md").read_text()
    for link in ("datasets/README.md", "models/README.md", "../CHANGELOG.md"):
        assert f"({link})" in docs_index, f"docs/README.md does not link {link}"


@pytest.mark.slow
def test_the_wheel_carries_the_results_and_no_repository_tooling(tmp_path):
    """``ferzoo models --markdown`` reads the results from package data, so a wheel must
    hold them; docs generation, sweeps and benchmarks scripts stay in tools/."""
    import subprocess
    import sys
    import zipfile

    from ferzoo import catalog

    assert catalog.RESULTS_DIR == REPO / "ferzoo" / "catalog" / "results"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w",
                    str(tmp_path), str(REPO)], check=True, capture_output=True)
    (wheel,) = tmp_path.glob("ferzoo-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "ferzoo/catalog/results/synthetic.json" in names
    assert "ferzoo/catalog/results/export.json" in names
    assert not [n for n in names if n.startswith(("tools/", "tests/", "docs/"))]

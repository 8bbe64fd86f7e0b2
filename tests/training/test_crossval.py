"""``ferzoo crossval`` end to end on a converted generic-layout folder."""

import json

import pytest

from ferzoo.cli import main
from ferzoo.data import converters
from ferzoo.training import crossval as cv
from ferzoo.training.protocols import make_folds
from tests.data import dataset_trees
from tests.tiny_model import NAME


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    root = tmp_path_factory.mktemp("cv")
    dataset_trees.make_generic(root / "src", subjects=6, per_subject=3, frames=4, size=32)
    converters.convert("generic", root / "src", root / "data", detect=False, size=16,
                       subject_pattern=r"^(S\d+)_", progress=False)
    return root / "data"


def test_fold_options_are_trainer_arguments(converted):
    fold = make_folds(converted, folds=3)[0]
    options = cv._fold_options(fold, str(converted))
    assert options["test_subjects"] == ["S00", "S03"]
    trained = set(options["train_subjects"]) | set(options["val_subjects"])
    assert trained == {"S01", "S02", "S04", "S05"}
    assert options["data"] == options["test_data"]  # one split, filtered by subject
    assert cv._mean_std([0.5, 0.7]) == pytest.approx((0.6, 0.1414213), rel=1e-5)


@pytest.mark.slow
def test_crossval_runs_every_fold_and_summarises(converted, tmp_path):
    out = tmp_path / "cv"
    code = main(["crossval", "--model", NAME, "--data", str(converted), "--folds", "3",
                 "--out", str(out), "--epochs", "3", "--batch-size", "4", "--lr", "3e-3",
                 "--recipe", "default", "--quiet"])
    assert code == 0
    summary = json.loads((out / "crossval.json").read_text())
    assert [r["fold"] for r in summary["folds"]] == [1, 2, 3]
    assert sum(r["test_clips"] for r in summary["folds"]) == 18  # every clip tested once
    for row in summary["folds"]:
        predictions = (out / f"fold{row['fold']:02d}" / "test_predictions.csv").read_text()
        tested = {line.split(",")[1] for line in predictions.split()[1:]}
        fold = make_folds(converted, folds=3)[row["fold"] - 1]
        assert tested == set(fold.test.subjects)  # only that fold's unseen subjects
        run = json.loads((out / f"fold{row['fold']:02d}" / "run.json").read_text())
        assert set(run["val_subjects"]) == set(fold.val.subjects)
    wars = [r["war"] for r in summary["folds"]]
    assert summary["war_mean"] == pytest.approx(sum(wars) / 3)
    table = (out / "crossval.md").read_text()
    assert "| **mean** |" in table and table.count("\n| ") >= 6
    # A rerun finds the finished folds and does not train again.
    logs = []
    again = cv.crossval(NAME, converted, folds=3, out_dir=out, log=logs.append)
    assert again["war_mean"] == summary["war_mean"]
    assert sum("already done" in line for line in logs) == 3


def _crossval_folder(folder, model, wars, tests, data="tfr/mine"):
    """A finished crossval folder as ``crossval`` writes it (summary and folds)."""
    folder.mkdir()
    rows = [{"fold": i, "war": war, "uar": war, "test_clips": 10, "train_clips": 50}
            for i, war in wars.items()]
    (folder / "crossval.json").write_text(json.dumps(
        {"model": model, "data": data, "protocol": "kfold", "folds": rows}))
    (folder / "folds.json").write_text(json.dumps(
        [{"index": i, "test": {"subjects": subjects}} for i, subjects in tests.items()]))
    return folder


def test_compare_pairs_folds_on_the_same_test_subjects(tmp_path, capsys):
    tests = {1: ["S1"], 2: ["S2"], 3: ["S3"]}
    a = _crossval_folder(tmp_path / "a", "stc_nlstm", {1: 0.9, 2: 0.5, 3: 0.7}, tests)
    b = _crossval_folder(tmp_path / "b", "reference_c3d", {1: 0.8, 2: 0.6}, tests)
    result = cv.compare(a, b)
    assert [r["fold"] for r in result["folds"]] == [1, 2]  # fold 3 is finished only in A
    assert [round(r["diff"], 6) for r in result["folds"]] == [0.1, -0.1]
    assert result["diff_mean"] == pytest.approx(0.0)
    assert result["diff_std"] == pytest.approx(0.1414213, rel=1e-5)
    assert result["war_a"] == pytest.approx(0.7) and result["war_b"] == pytest.approx(0.7)
    assert (result["a_higher"], result["b_higher"]) == (1, 1)
    table = cv.comparison_table(result)
    assert "| 1 | S1 | 10 | 90.0% | 80.0% | +10.0 |" in table
    assert "| 2 | S2 | 10 | 50.0% | 60.0% | -10.0 |" in table

    assert main(["compare", str(a), str(b), "--json", str(tmp_path / "c.json")]) == 0
    assert "| **all** | | 20 | **70.0%** | **70.0%** | **+0.0** (std 14.1) |" in \
        capsys.readouterr().out
    assert json.loads((tmp_path / "c.json").read_text())["folds"][0]["war_b"] == 0.8


def test_compare_refuses_folds_that_differ(tmp_path, capsys):
    a = _crossval_folder(tmp_path / "a", "stc_nlstm", {1: 0.9}, {1: ["S1"]})
    b = _crossval_folder(tmp_path / "b", "reference_c3d", {1: 0.8}, {1: ["S2"]})
    with pytest.raises(ValueError, match=r"fold 1 tests subjects \['S1'\] in .* but \['S2'\]"):
        cv.compare(a, b)
    other = _crossval_folder(tmp_path / "c", "reference_c3d", {1: 0.8}, {1: ["S1"]},
                             data="tfr/other")
    with pytest.raises(ValueError, match="folds of different data cannot be paired"):
        cv.compare(a, other)
    # Two conversions of one source (e.g. with and without optical flow) pair.
    for data, source in (("mine", "clips/manifest.csv"), ("other", "clips/manifest.csv")):
        (tmp_path / "tfr" / data).mkdir(parents=True)
        (tmp_path / "tfr" / data / "conversion_report.json").write_text(
            json.dumps({"source_dir": source}))
    flow = _crossval_folder(tmp_path / "d", "rfscnn", {1: 0.7}, {1: ["S1"]},
                            data=str(tmp_path / "tfr/other"))
    same = _crossval_folder(tmp_path / "e", "stc_nlstm", {1: 0.9}, {1: ["S1"]},
                            data=str(tmp_path / "tfr/mine"))
    assert cv.compare(same, flow)["war_b"] == 0.7
    assert main(["compare", str(a), str(tmp_path)]) == 2
    assert "is not a folder written by ferzoo crossval" in capsys.readouterr().err

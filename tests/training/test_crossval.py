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

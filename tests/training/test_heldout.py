"""``ferzoo train --data DIR`` on a converted folder of one ``all`` split: subjects held out
by the dataset's protocol (the folds ``crossval`` uses), never shared between parts."""

import json

import pytest

from ferzoo.cli import main
from ferzoo.data import converters
from ferzoo.training import protocols as P
from ferzoo.training.trainer import train
from tests.data import dataset_trees
from tests.tiny_model import NAME

RECIPE = dict(recipe="default", batch_size=4, learning_rate=3e-3)


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    root = tmp_path_factory.mktemp("heldout")
    dataset_trees.make_generic(root / "src", subjects=10, per_subject=3, frames=4, size=32)
    converters.convert("generic", root / "src", root / "subjects", detect=False, size=16,
                       subject_pattern=r"^(S\d+)_", progress=False)
    converters.convert("generic", root / "src", root / "clips", detect=False, size=16,
                       progress=False)
    return root


def test_protocol_fold_is_crossvals_fold_and_parts_are_disjoint(converted):
    data = converted / "subjects"
    for k in (1, 3):
        fold, record, lines = P.protocol_fold(data, k, val_fraction=0.15, seed=0)
        same = P.make_folds(data, None, 0.15, 0)[k - 1]
        assert fold == same
        train, val, test = (set(record[f"{p}_subjects"]) for p in ("train", "val", "test"))
        assert test and val and train
        assert not (train & val) and not (train & test) and not (val & test)
        assert train | val | test == {f"S{i:02d}" for i in range(10)}
        assert (record["kind"], record["fold"], record["folds"]) == ("kfold", k, 10)
        assert not record["clip_level"]
        assert not any("WARNING" in line for line in lines)
        assert any(line.strip().startswith("test") and ", ".join(sorted(test)) in line
                   for line in lines)
    with pytest.raises(ValueError, match="fold 11 does not exist"):
        P.protocol_fold(data, 11)


def test_clip_level_dataset_is_warned_about(converted):
    _, record, lines = P.protocol_fold(converted / "clips")
    assert record["clip_level"]
    assert "no subject ids" in lines[0] and "subject_pattern" in lines[0] \
        and "subject column" in lines[0].replace("'subject' column", "subject column")


def test_train_holds_out_subjects_and_reports_protocol(converted, tmp_path):
    data = converted / "subjects"
    logs = []
    out = tmp_path / "run"
    result = train(NAME, out, data=str(data), fold=2, epochs=1, progress=False,
                   log=logs.append, **RECIPE)
    record = result["protocol"]
    assert (record["kind"], record["fold"]) == ("kfold", 2)
    test_subjects = set(record["test_subjects"])
    assert test_subjects == set(P.make_folds(data)[1].test.subjects)
    # The clips tested are exactly the fold's, and none of them trained or validated.
    predictions = (out / "test_predictions.csv").read_text().split()[1:]
    assert {line.split(",")[1] for line in predictions} == test_subjects
    run = json.loads((out / "run.json").read_text())
    assert set(run["val_subjects"]) == set(record["val_subjects"])
    assert not test_subjects & set(run["val_subjects"])
    assert not test_subjects & set(record["train_subjects"])
    report = json.loads((out / "test_report.json").read_text())
    assert report["protocol"]["fold"] == 2 and report["protocol"]["kind"] == "kfold"
    assert any("fold 2 of its 10-fold" in line for line in logs)


def test_cli_train_fold_on_fixed_split_is_refused(tmp_path, capsys):
    from tests import fake_datasets

    data = fake_datasets.make_dataset_dir(tmp_path / "fixed", subjects=2, clips=2,
                                          test_subjects=1)
    code = main(["train", "--model", NAME, "--data", str(data), "--fold", "2",
                 "--out", str(tmp_path / "run"), "--epochs", "1", "--quiet"])
    assert code != 0
    assert "fixed train/test split" in capsys.readouterr().err

"""The data's label list against the run's: one check for evaluate, train and crossval."""

import json

import numpy as np
import pytest

from ferzoo.cli import main
from ferzoo.training.labels import LabelMismatchError, check_labels
from ferzoo.training.trainer import train
from tests import fake_datasets
from tests.tiny_model import NAME

RECIPE = dict(recipe="default", batch_size=4, learning_rate=3e-3)
SIX = ["anger", "disgust", "fear", "happiness", "sadness", "surprise"]


def test_check_labels_equal_subset_and_mismatch():
    assert check_labels(SIX, list(SIX)) == (None, None)
    index, note = check_labels(SIX, ["fear", "sadness"], data="mine")
    assert index.tolist() == [2, 4] and "subset" in note and "same order" in note
    with pytest.raises(LabelMismatchError) as error:
        check_labels(SIX, ["happy", "sad"], data="clips", model="run")
    message = str(error.value)
    assert "['happy', 'sad']" in message and str(SIX) in message
    assert isinstance(error.value, ValueError)
    with pytest.raises(LabelMismatchError, match="another order"):
        check_labels(SIX, ["sadness", "fear"])
    index, note = check_labels(None, ["a"])
    assert index is None and "not checked" in note


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("labels")
    data = fake_datasets.make_dataset_dir(root / "data", subjects=3, clips=3, test_subjects=1)
    run = root / "run"
    train(NAME, run, data=str(data), epochs=1, progress=False, log=lambda s: None, **RECIPE)
    return root, run


def test_cli_evaluate_refuses_data_with_other_labels(trained, capsys):
    root, run = trained
    other = fake_datasets.make_dataset_dir(root / "other", subjects=1, clips=2,
                                           test_subjects=1, labels=("happy", "sad"))
    code = main(["evaluate", "--run", str(run), "--data", str(other / "test-*.tfrecord"),
                 "--out", str(root / "eval")])
    err = capsys.readouterr().err
    assert code == 2
    assert "ferzoo evaluate: error:" in err
    assert "['happy', 'sad']" in err and str(fake_datasets.LABELS) in err
    assert not (root / "eval" / "test_report.json").exists()


def test_evaluate_scores_a_same_order_subset_on_the_runs_outputs(trained, capsys):
    root, run = trained
    subset = fake_datasets.make_dataset_dir(root / "subset", subjects=1, clips=2,
                                            test_subjects=1, labels=("anger", "fear"))
    out = root / "subset_eval"
    assert main(["evaluate", "--run", str(run), "--data", str(subset / "test-*.tfrecord"),
                 "--out", str(out)]) == 0
    assert "subset" in capsys.readouterr().err
    report = json.loads((out / "test_report.json").read_text())
    # fear clips (index 1 in their data) are counted as the run's class 2, fear.
    matrix = np.array(report["confusion_matrix"])
    assert matrix.shape == (3, 3) and matrix[1].sum() == 0 and matrix[2].sum() == 1
    assert report["per_class_recall"]["disgust"] is None


def test_train_refuses_test_data_with_other_labels(trained, tmp_path):
    root, _ = trained
    data = root / "data"
    other = fake_datasets.make_dataset_dir(tmp_path / "other", subjects=1, clips=2,
                                           test_subjects=1, labels=("happy", "sad"))
    with pytest.raises(LabelMismatchError, match="--test-data"):
        train(NAME, tmp_path / "run", data=str(data), test_data=str(other), epochs=1,
              progress=False, log=lambda s: None, **RECIPE)
    with pytest.raises(LabelMismatchError, match="--val-data"):
        train(NAME, tmp_path / "run2", data=str(data), val_data=str(other / "test-*"),
              epochs=1, progress=False, log=lambda s: None, **RECIPE)

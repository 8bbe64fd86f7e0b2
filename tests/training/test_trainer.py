import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest

from ferzoo.training import metrics
from ferzoo.training.protocols import holdout_subjects
from ferzoo.training.run_folder import load_run
from ferzoo.training.trainer import train
from tests import fake_datasets
from tests.conftest import REPO
from tests.tiny_model import NAME

RECIPE = dict(recipe="default", batch_size=4, learning_rate=3e-3)


@pytest.fixture(scope="module")
def fake_dir(tmp_path_factory):
    return fake_datasets.make_dataset_dir(tmp_path_factory.mktemp("fake"), subjects=6, clips=6,
                                    test_subjects=2)


def test_train_selects_on_validation_and_reports_on_test(fake_dir, tmp_path):
    out = tmp_path / "run"
    result = train(NAME, out, data=str(fake_dir), test_data=str(fake_dir), epochs=4,
                   progress=False, log=lambda s: None, **RECIPE)
    files = {p.name for p in out.iterdir()}
    assert {"run.json", "state.json", "history.csv", "best.weights.h5", "model.keras",
            "test_report.json", "test_confusion.png", "test_predictions.csv",
            "tensorboard", "result.json"} <= files
    info = json.loads((out / "run.json").read_text())
    assert len(info["val_subjects"]) == 1  # 15 % of 6 subjects, at least one
    test_subjects = {l.split(",")[1] for l in (out / "test_predictions.csv").read_text().split()[1:]}
    assert test_subjects == {"S006", "S007"}  # unseen subjects only
    report = json.loads((out / "test_report.json").read_text())
    assert report["num_clips"] == 12 and report["war"] == result["test"]["war"]
    assert result["test"]["war"] >= 0.9, "the fake pattern is easy: the model must learn it"
    assert result["best"]["epoch"] in range(1, 5)
    model, info = load_run(out)
    assert model.outputs[0].shape[-1] == 3 and info["labels"] == fake_datasets.LABELS


def test_changed_settings_in_same_folder_are_refused(fake_dir, tmp_path):
    out = tmp_path / "run"
    train(NAME, out, data=str(fake_dir), epochs=1, progress=False, log=lambda s: None, **RECIPE)
    with pytest.raises(ValueError, match=r"differs in \['batch_size'\]"):
        train(NAME, out, data=str(fake_dir), epochs=1, progress=False, log=lambda s: None,
              recipe="default", batch_size=2, learning_rate=3e-3)


def test_holdout_is_deterministic_and_subject_level():
    subjects = [f"S{i}" for i in range(20)]
    a, b = holdout_subjects(subjects, 0.15, 0), holdout_subjects(subjects, 0.15, 0)
    assert a == b and len(a) == 3 and set(a) <= set(subjects)
    assert holdout_subjects(["S1"], 0.5, 0) == []


def test_metrics_war_uar():
    matrix = metrics.confusion_matrix([0, 0, 0, 0, 1, 2], [0, 0, 0, 1, 1, 0], 3)
    assert matrix.tolist() == [[3, 1, 0], [0, 1, 0], [1, 0, 0]]
    assert metrics.war(matrix) == pytest.approx(4 / 6)
    assert metrics.uar(matrix) == pytest.approx((0.75 + 1 + 0) / 3)
    np.testing.assert_allclose(metrics.per_class_recall(matrix), [0.75, 1.0, 0.0])


SCRIPT = """
import sys
import tests.tiny_model
from ferzoo.cli import main
sys.exit(main(sys.argv[1:]))
"""


def _run_cli(args, **kw):
    env = dict(os.environ, PYTHONPATH=str(REPO), TF_CPP_MIN_LOG_LEVEL="2")
    return subprocess.Popen([sys.executable, "-c", SCRIPT, *args], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kw)


@pytest.mark.slow
def test_killed_run_resumes_from_last_epoch_and_finishes(fake_dir, tmp_path):
    out = tmp_path / "run"
    args = ["train", "--model", NAME, "--data", str(fake_dir), "--out", str(out),
            "--recipe", "default", "--batch-size", "2", "--epochs", "12", "--quiet"]
    proc = _run_cli(args)
    state = out / "state.json"
    deadline = time.time() + 240
    while time.time() < deadline and proc.poll() is None:
        if state.exists() and json.loads(state.read_text())["epoch"] >= 1:
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the run ended before it could be killed:\n" + proc.stdout.read()
    proc.kill()  # SIGKILL, mid-epoch: no clean-up code runs
    proc.wait()
    done = json.loads(state.read_text())["epoch"]
    assert 1 <= done < 12 and not (out / "result.json").exists()
    resumed = _run_cli(args)
    output, _ = resumed.communicate(timeout=600)
    assert resumed.returncode == 0, output
    assert f"resuming {NAME} from epoch {done}" in output
    history = (out / "history.csv").read_text().strip().splitlines()[1:]
    assert [int(row.split(",")[0]) for row in history] == list(range(1, 13))
    assert json.loads((out / "result.json").read_text())["epochs"] == 12


def test_cli_errors_are_clear(tmp_path):
    proc = _run_cli(["train", "--model", NAME, "--data", str(tmp_path / "none-*.tfrecord"),
                     "--out", str(tmp_path / "r")])
    output, _ = proc.communicate(timeout=300)
    assert proc.returncode == 2
    assert "ferzoo train: error: no TFRecord files match" in output
    assert "Traceback" not in output
    proc = _run_cli(["train", "--model", "stc_nlstmm", "--out", str(tmp_path / "r")])
    output, _ = proc.communicate(timeout=300)
    assert proc.returncode == 2 and "did you mean 'stc_nlstm'" in output

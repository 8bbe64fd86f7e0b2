"""One writer per run folder: a second one is refused at once, naming the holder's
process; the lock of a killed process is taken over (docs/reliability.md)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

import tests.tiny_model  # noqa: F401  (registers the tiny model)
from ferzoo.cli import main
from ferzoo.errors import RunFolderError
from ferzoo.training.run_folder import lock_run_folder
from tests import fake_datasets
from tests.conftest import REPO
from tests.tiny_model import NAME

HOLD = """
import sys, time
from ferzoo.training.run_folder import lock_run_folder
with lock_run_folder(sys.argv[1]):
    print("held", flush=True)
    time.sleep(120)
"""


@pytest.fixture
def holder(tmp_path):
    """A process holding ``tmp_path/run``'s lock: (folder, process)."""
    folder = tmp_path / "run"
    env = dict(os.environ, PYTHONPATH=str(REPO), TF_CPP_MIN_LOG_LEVEL="3")
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(folder)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert proc.stdout.readline().strip() == "held"
    yield folder, proc
    proc.kill()
    proc.wait()


def test_faults_second_writer_is_refused_at_once(holder, tmp_path, capsys):
    folder, proc = holder
    data = fake_datasets.make_dataset_dir(tmp_path / "data", subjects=4, clips=3)
    busy = f"run folder {folder} is in use by process {proc.pid}"
    for argv in (
        ["train", "--model", NAME, "--data", str(data), "--epochs", "1", "--quiet"],
        ["train", "--model", "hybrid_cnn_rnn", "--two-stage", "--data", str(data)],
        ["crossval", "--model", NAME, "--data", str(data)],
        ["export", "--model", NAME, "--formats", "savedmodel"],
    ):
        assert main([*argv, "--out", str(folder)]) == 2, argv
        err = capsys.readouterr().err
        assert f"ferzoo {argv[0]}: error: {busy}" in err, err
    assert main(["svm", "fit", "--run", str(tmp_path / "any"), "--out", str(folder)]) == 2
    assert busy in capsys.readouterr().err
    assert sorted(p.name for p in folder.iterdir()) == [".lock", ".lock.pid"], \
        "nothing is written by a refused command"


def test_faults_stale_lock_of_a_dead_process_is_taken_over(holder):
    folder, proc = holder
    with pytest.raises(RunFolderError, match=f"in use by process {proc.pid}"):
        with lock_run_folder(folder):
            pass
    proc.send_signal(signal.SIGKILL)  # no clean-up runs: the pid file stays behind
    proc.wait()
    assert (folder / ".lock.pid").read_text() == str(proc.pid)
    with lock_run_folder(folder):
        assert (folder / ".lock.pid").read_text() == str(os.getpid())
    with lock_run_folder(folder):  # released on exit
        pass

"""The ``ferzoo`` command starts quietly: no TensorFlow, absl or oneDNN lines on stderr
unless ``--verbose``."""

import os
import subprocess
import sys

from tests.conftest import REPO

NOISE = ("absl", "cuda", "oneDNN", "cpu_feature_guard", "TF_ENABLE_ONEDNN_OPTS",
         "I0000", "E0000", "W0000")


def _run(*args):
    env = {k: v for k, v in os.environ.items()
           if k not in ("TF_CPP_MIN_LOG_LEVEL", "FERZOO_VERBOSE")}
    env["PYTHONPATH"] = str(REPO)
    return subprocess.run([sys.executable, "-m", "ferzoo", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300)


def test_models_prints_nothing_on_stderr():
    proc = _run("models", "stc*")
    assert proc.returncode == 0, proc.stderr
    assert "stc_nlstm" in proc.stdout
    assert proc.stderr == "", proc.stderr
    assert not any(word in proc.stdout for word in NOISE)


def test_verbose_shows_tensorflow_start_up():
    proc = _run("--verbose", "models", "stc*")
    assert proc.returncode == 0
    assert "stc_nlstm" in proc.stdout
    # What TensorFlow says at start-up depends on the machine; it says something.
    assert proc.stderr.strip() != ""

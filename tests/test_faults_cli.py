"""Bad arguments and expected failures on the command line: one message naming the
argument, exit status 2, no traceback (docs/reliability.md)."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ferzoo.cli import main
from ferzoo.cli.common import describe_os_error, expected_error_message, run_command
from ferzoo.errors import DataError, FerzooError, RunFolderError, UsageError, WeightsError

REPO = Path(__file__).resolve().parents[1]


def ferzoo(*argv: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """``python -m ferzoo.cli ARGV`` in a subprocess (the exit status and stderr are the
    point), with this checkout first on the path."""
    env = dict(os.environ, PYTHONPATH=str(REPO), TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.run([sys.executable, "-m", "ferzoo.cli", *argv], capture_output=True,
                          text=True, env=env, cwd=cwd, timeout=300)


def run_main(argv: list[str], capsys) -> tuple[int, str]:
    """``ferzoo ARGV`` in this process: (exit status, stderr)."""
    try:
        code = main(argv)
    except SystemExit as stop:  # argparse's own errors
        code = stop.code
    return code, capsys.readouterr().err


def test_faults_negative_epochs_is_refused_before_anything_is_written(tmp_path):
    out = tmp_path / "run"
    done = ferzoo("train", "--model", "stcam", "--preset", "tiny", "--epochs", "-3",
                  "--out", str(out))
    assert done.returncode == 2
    assert "ferzoo train: error: argument --epochs: '-3' is not a positive integer" in done.stderr
    assert "Traceback" not in done.stderr
    assert not out.exists()


@pytest.mark.parametrize("argv, words", [
    (["train", "--model", "stcam", "--batch-size", "0"],
     "argument --batch-size: '0' is not a positive integer"),
    (["train", "--model", "stcam", "--lr", "-1"], "argument --lr: '-1' is not a positive number"),
    (["train", "--model", "stcam", "--val-fraction", "1.5"],
     "argument --val-fraction: '1.5' is not a fraction in [0, 1)"),
    (["evaluate", "--run", "x", "--batch-size", "0"], "argument --batch-size"),
    (["crossval", "--model", "stcam", "--data", "x", "--epochs", "0"], "argument --epochs"),
    (["convert", "generic", "a", "b", "--workers", "0"], "argument --workers"),
    (["export", "--out", "x", "--calibration-clips", "-1"], "argument --calibration-clips"),
])
def test_faults_typed_arguments(argv, words, capsys):
    code, err = run_main(argv, capsys)
    assert code == 2
    assert words in err


@pytest.mark.parametrize("setting, words", [
    ("width=abc", "--set: model stcam has no setting width; accepted: channels, dropout"),
    ("fc_units=abc", "--set fc_units='abc': fc_units of model stcam takes a positive integer"),
    ("frames=0", "--set frames=0: frames of model stcam takes a positive integer (default 7)"),
    ("dropout=-1", "--set dropout=-1: dropout of model stcam takes a number >= 0"),
    ("frames", "--set takes KEY=VALUE pairs, got 'frames'"),
])
def test_faults_model_settings_name_the_argument(setting, words, tmp_path, capsys):
    code, err = run_main(["train", "--model", "stcam", "--set", setting,
                          "--out", str(tmp_path / "run")], capsys)
    assert code == 2
    assert err.startswith("ferzoo train: error: ")
    assert words in err
    assert not (tmp_path / "run").exists()


def test_faults_model_settings_of_export_and_stc_nlstm(capsys):
    code, err = run_main(["export", "--model", "stc_nlstm", "--set", "levels=abc",
                          "--out", "x"], capsys)
    assert code == 2
    assert "--set levels='abc': levels of model stc_nlstm takes a tuple of positive integers" in err


@pytest.mark.parametrize("argv, words", [
    (["synth", "--set", "sizee=32"],
     "ferzoo synth: error: --set: the synthetic dataset has no setting sizee; accepted: "
     "size (default 64), min_frames (default 10)"),
    (["synth", "--set", "size=abc"], "ferzoo synth: error: --set size='abc': size takes an "
                                     "integer (default 64)"),
    (["synth", "--set", "size=8"], "--set: size=8 is too small to draw a face"),
    (["synth", "--set", "neutral=3"], "--set neutral=3: neutral takes True or False"),
    (["train", "--model", "stcam", "--synthetic", "sizee=32"],
     "ferzoo train: error: --synthetic: the synthetic dataset has no setting sizee; accepted:"),
])
def test_faults_synthetic_settings_list_the_accepted_fields(argv, words, tmp_path, capsys):
    code, err = run_main([*argv[:1], *(["--root", str(tmp_path)] if argv[0] == "synth" else
                                      ["--data-root", str(tmp_path), "--out",
                                       str(tmp_path / "run")]), *argv[1:]], capsys)
    assert code == 2
    assert words in err
    assert "Traceback" not in err
    assert list(tmp_path.iterdir()) == []


def test_faults_debug_shows_the_traceback_and_bugs_keep_theirs(tmp_path):
    with pytest.raises(UsageError):
        main(["--debug", "synth", "--root", str(tmp_path), "--set", "sizee=32"])

    def bug(args):
        raise RuntimeError("a bug")

    with pytest.raises(RuntimeError):
        run_command("x", bug, None)


def test_faults_error_family():
    for kind in (UsageError, DataError, RunFolderError, WeightsError):
        assert issubclass(kind, FerzooError) and issubclass(kind, ValueError)
    from ferzoo.data.pipeline import DataError as PipelineDataError

    assert PipelineDataError is DataError


def test_faults_write_errors_read_as_one_line():
    """Read-only and full disks, including h5py's errors (errno only in the message)."""
    assert describe_os_error(OSError(errno.EROFS, "Read-only file system", "/r/ckpt")) == \
        "cannot write /r/ckpt: read-only file system"
    h5 = OSError("Unable to synchronously create file (unable to open file: name = "
                 "'/r/best.weights.h5', errno = 28, error message = 'No space left on "
                 "device', flags = 13, o_flags = 242)")
    assert expected_error_message(h5) == "cannot write /r/best.weights.h5: no space left on device"
    assert expected_error_message(OSError("something else")) is None
    assert expected_error_message(FileNotFoundError(2, "No such file", "/x")) == \
        "no such file: /x"


def test_faults_tensorflow_write_errors_name_the_file():
    import tensorflow as tf

    full = tf.errors.ResourceExhaustedError(None, None, "out/.all-00000.tmp-7; No space left "
                                                        "on device")
    assert expected_error_message(full) == "cannot write out/.all-00000.tmp-7: no space left " \
                                           "on device"
    lost = tf.errors.DataLossError(None, None, "corrupted record at 12")
    assert expected_error_message(lost) == "corrupt data: corrupted record at 12"
    assert expected_error_message(tf.errors.InternalError(None, None, "bug")) is None


def test_faults_reliability_doc_cites_tests_that_exist():
    import re

    doc = (REPO / "docs" / "reliability.md").read_text()
    cited = re.findall(r"`(tests/[\w/]+\.py)::(\w+)`", doc)
    short = re.findall(r"`(tests/[\w/]+\.py)::\w+`, `::(\w+)`", doc)
    assert len(cited) >= 20
    for path, name in cited + short:
        source = REPO / path
        if not source.exists() and "test_faults" not in path:
            continue  # a test of a part built elsewhere (the label check)
        assert f"def {name}(" in source.read_text(), f"{path}::{name} is cited but missing"

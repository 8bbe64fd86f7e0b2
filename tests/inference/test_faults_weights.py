"""Files that are not weights, and another model's weights: one paragraph naming the
file and the model (docs/reliability.md)."""

from __future__ import annotations

import pytest

import ferzoo
from ferzoo.cli import main
from ferzoo.errors import WeightsError
from ferzoo.inference.loading import load_trained

VIDEO = str(ferzoo.__path__[0]) + "/sample_media/smiling_man.mp4"


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("weights")
    ferzoo.build("stcam", "tiny").save_weights(root / "stcam.weights.h5")
    ferzoo.build("stc_nlstm", "tiny").save(root / "stc_nlstm.keras")
    noise = bytes(range(256)) * 16
    (root / "noise.keras").write_bytes(noise)
    (root / "noise.weights.h5").write_bytes(noise)
    return root


def error_of(argv, capsys) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return err


def test_faults_random_bytes_are_not_weights(files, capsys):
    err = error_of(["export", "--weights", str(files / "noise.keras"), "--out",
                    str(files / "x")], capsys)
    assert f"ferzoo export: error: {files / 'noise.keras'} is not a Keras model file" in err
    err = error_of(["export", "--model", "stcam", "--preset", "tiny", "--weights",
                    str(files / "noise.weights.h5"), "--out", str(files / "x")], capsys)
    assert f"{files / 'noise.weights.h5'} is not a Keras weights file" in err


def test_faults_another_models_weights_in_one_paragraph(files):
    with pytest.raises(WeightsError) as caught:
        load_trained(files / "stcam.weights.h5", "stc_nlstm", "tiny")
    message = str(caught.value)
    assert message.startswith(f"{files / 'stcam.weights.h5'} does not fit 'stc_nlstm' built "
                              "with preset='tiny'")
    assert "of its layers do not match" in message and "value=" not in message
    assert len(message) < 600 and message.count("\n") == 0


def test_faults_predict_with_another_models_keras_file(files, capsys):
    err = error_of(["predict", VIDEO, "--model", "stcam", "--weights",
                    str(files / "stc_nlstm.keras"), "--out", str(files / "p")], capsys)
    assert f"{files / 'stc_nlstm.keras'} holds a stc_nlstm model, not stcam" in err
    assert load_trained(files / "stc_nlstm.keras", "stc_nlstm").model.name == "stc_nlstm"


def test_faults_keras_files_load_in_safe_mode(tmp_path):
    """A .keras file whose Lambda layer would run code from the file is refused."""
    import keras

    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Lambda(lambda x: x * 2)(inputs))
    model.save(tmp_path / "lambda.keras")
    with pytest.raises(WeightsError, match=r"lambda.keras is not a Keras model file ferzoo "
                                           r"can open: .*(safe_mode|unsafe)"):
        load_trained(tmp_path / "lambda.keras")

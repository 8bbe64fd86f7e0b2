"""Two-stage training of the hybrid CNN-RNN through the trainer, and the RNN sweep."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest

from ferzoo.training.two_stage import stage1_arguments, stage1_training, train_two_stage
from tests import fake_datasets
from tools.hybrid_sweep import linear_probe, run_probe, run_sweep, write_sweep_report

OPTIONS = dict(recipe="hybrid_paper", batch_size=4, learning_rate=5e-3, progress=False,
               log=lambda s: None)


@pytest.fixture(scope="module")
def fake_dir(tmp_path_factory):
    return fake_datasets.make_dataset_dir(tmp_path_factory.mktemp("fake"), subjects=4, clips=6,
                                    test_subjects=2)


def test_stage1_takes_the_hybrid_cnn_settings():
    args = stage1_arguments("hybrid_cnn_rnn", "cpu", {"units": 50, "fc_units": 64})
    assert args["frames"] == 1 and args["image_size"] == 48 and args["fc_units"] == 64
    assert "units" not in args and "num_classes" not in args  # from the data


def test_stage1_trains_with_the_recipe_of_the_hybrids_preset():
    from ferzoo import registry

    # cpu: both stages with the preset's recipe, not the paper's SGD for the frame CNN
    assert stage1_training("hybrid_cnn", "cpu", {"seed": 1}) == {
        "seed": 1, "recipe": registry.get_entry("hybrid_cnn_rnn").recipe_for("cpu")}
    assert registry.get_entry("hybrid_cnn").recipe_for("cpu") != \
        registry.get_entry("hybrid_cnn").recipe_for(None)
    assert stage1_training("hybrid_cnn", None, {})["recipe"] == "hybrid_paper"
    assert stage1_training("hybrid_cnn", "cpu", {"recipe": "synthetic_cpu"})["recipe"] == \
        "synthetic_cpu"  # a recipe asked for trains both stages


def test_two_stage_trains_cnn_then_frozen_rnn(fake_dir, tmp_path):
    out = tmp_path / "run"
    result = train_two_stage("hybrid_cnn_rnn", out, preset="tiny", data=str(fake_dir),
                             test_data=str(fake_dir), epochs=2, **OPTIONS)
    assert (out / "stage1_cnn" / "model.keras").exists()
    assert (out / "stage2_rnn" / "test_report.json").exists()
    assert json.loads((out / "result.json").read_text())["two_stage"] is True
    assert result["test"]["num_clips"] == 12
    stage1 = keras.saving.load_model(out / "stage1_cnn" / "model.keras")
    assert tuple(stage1.inputs[0].shape[1:]) == (1, 16, 16, 1)  # one grey frame per clip
    stage2 = keras.saving.load_model(out / "stage2_rnn" / "model.keras")
    frozen = stage2.get_layer("frames").layer
    assert not frozen.trainable
    # The CNN of stage 2 is stage 1's, unchanged by stage 2.
    np.testing.assert_array_equal(
        frozen.get_layer("conv3").get_weights()[0],
        stage1.get_layer("frame_cnn").get_layer("conv3").get_weights()[0],
    )
    info = json.loads((out / "stage2_rnn" / "run.json").read_text())
    assert info["model_kwargs"]["freeze_cnn"] is True


def test_fine_tuning_starts_from_stage_two_with_the_cnn_unfrozen(fake_dir, tmp_path):
    out = tmp_path / "run"
    result = train_two_stage("hybrid_cnn_rnn", out, preset="tiny", data=str(fake_dir),
                             test_data=str(fake_dir), epochs=1, fine_tune_epochs=1,
                             fine_tune_learning_rate=1e-9, **OPTIONS)
    assert set(result) >= {"stage1", "stage2", "stage3"}
    assert result["test"] == result["stage3"]["test"]  # the final model is stage 3's
    stage2 = keras.saving.load_model(out / "stage2_rnn" / "model.keras")
    stage3 = keras.saving.load_model(out / "stage3_finetune" / "model.keras")
    assert stage3.get_layer("frames").layer.trainable
    info = json.loads((out / "stage3_finetune" / "run.json").read_text())
    assert info["model_kwargs"]["freeze_cnn"] is False
    assert info["config"]["init_weights"].endswith("stage2_rnn/model.keras")
    assert info["recipe"]["learning_rate"] == 1e-9
    # At a learning rate of 1e-9 the epoch leaves stage 2's weights as they were: every
    # weight (the CNN's, the IRNN's, the head's) starts from stage 2, none from scratch.
    for before, after in zip(stage2.get_weights(), stage3.get_weights()):
        np.testing.assert_allclose(after, before, atol=1e-6)


def test_init_weights_that_do_not_fit_name_the_file(tmp_path):
    from ferzoo import registry
    from ferzoo.errors import UsageError
    from ferzoo.training.trainer import load_initial_weights

    other = tmp_path / "other.weights.h5"
    registry.build("stcam", "tiny").save_weights(other)
    model = registry.build("hybrid_cnn_rnn", "tiny")
    with pytest.raises(UsageError, match="other.weights.h5"):
        load_initial_weights(model, other)
    with pytest.raises(UsageError, match="does not exist"):
        load_initial_weights(model, tmp_path / "missing.keras")


def test_init_weights_that_keras_only_skips_are_an_error(tmp_path, monkeypatch):
    import warnings

    from ferzoo import registry
    from ferzoo.errors import UsageError
    from ferzoo.training.trainer import load_initial_weights

    path = tmp_path / "same.weights.h5"
    model = registry.build("hybrid_cnn_rnn", "tiny")
    model.save_weights(path)
    load_initial_weights(model, path)  # a file that fits loads without a word

    def load_with(message):
        def load(_path):
            warnings.warn(message, UserWarning)
        monkeypatch.setattr(model, "load_weights", load)

    load_with("some unrelated deprecation")
    load_initial_weights(model, path)  # other warnings are not a mismatch
    load_with("Skipping nested container at 'layers/irnn': no matching group found")
    with pytest.raises(UsageError, match="same.weights.h5.*Skipping nested container"):
        load_initial_weights(model, path)


def test_fine_tuning_is_a_stage_of_two_stage_training(capsys):
    from ferzoo.cli import main

    assert main(["train", "--model", "hybrid_cnn_rnn", "--fine-tune-epochs", "3"]) != 0
    assert "add --two-stage" in capsys.readouterr().err


def test_train_command_points_hybrids_to_two_stage():
    from ferzoo.cli.train import end_to_end_note

    note = end_to_end_note("hybrid_cnn_rnn", False, {})
    assert "--two-stage" in note and "hybrid_cnn_rnn" in note
    assert end_to_end_note("hybrid_cnn_rnn_tanh", False, {}) is not None
    assert end_to_end_note("hybrid_cnn_rnn", True, {}) is None  # two-stage asked for
    assert end_to_end_note("hybrid_cnn_rnn", False, {"cnn_weights": "cnn.keras"}) is None
    assert end_to_end_note("hybrid_cnn", False, {}) is None  # the frame CNN learns alone
    assert end_to_end_note("stcam", False, {}) is None
    assert end_to_end_note("no_such_model", False, {}) is None  # the trainer says so


def test_crossval_command_points_hybrids_to_two_stage_folds(tmp_path, capsys):
    from ferzoo.cli import main

    # the note comes before any data is read: a missing folder then stops the command
    args = ["crossval", "--model", "hybrid_cnn_rnn", "--preset", "tiny",
            "--data", str(tmp_path / "missing"), "--out", str(tmp_path / "cv")]
    assert main(args) != 0
    err = capsys.readouterr().err
    assert "crossval has no two-stage mode" in err
    assert f"--two-stage --data {tmp_path / 'missing'} --fold K" in err
    assert main(["crossval", "--model", "hybrid_cnn", "--preset", "tiny",
                 "--data", str(tmp_path / "missing"), "--out", str(tmp_path / "cv2")]) != 0
    assert "two-stage" not in capsys.readouterr().err


def test_two_stage_refuses_other_models(tmp_path):
    with pytest.raises(ValueError, match="hybrid_cnn_rnn"):
        train_two_stage("hybrid_cnn", tmp_path)


def test_sweep_writes_table_and_plot(fake_dir, tmp_path):
    summary = run_sweep(tmp_path / "sweep", preset="tiny", data=str(fake_dir),
                        test_data=str(fake_dir), cnn_epochs=1, epochs=2, units=(2, 3),
                        layers=(1, 2), recipe="hybrid_paper", batch_size=4,
                        log=lambda s: None)
    assert len(summary["rows"]) == 4
    assert {(r["units"], r["layers"]) for r in summary["rows"]} == {(2, 1), (3, 1), (2, 2),
                                                                   (3, 2)}
    table = (tmp_path / "sweep" / "sweep.md").read_text()
    assert "| 3 |" in table and "Table 2 shape" in table and "Table 3 shape" in table
    assert (tmp_path / "sweep" / "sweep.png").stat().st_size > 1000
    assert (tmp_path / "sweep" / "sweep.csv").read_text().count("\n") == 5
    # the linear probe of the same stage-1 CNN's features
    probe = run_probe(tmp_path / "probe", tmp_path / "sweep" / "stage1_cnn", ("fc", "conv2"),
                      preset="tiny", data=str(fake_dir), test_data=str(fake_dir),
                      recipe="hybrid_paper", log=lambda s: None)
    assert set(probe["probe"]) == {"fc", "conv2"} and probe["frames"] == 3
    for row in probe["probe"].values():
        assert set(row) == {"apex", "first", "apex+first", "apex-first"}
        assert all(0.0 <= r["test_accuracy"] <= 1.0 for r in row.values())
    table = (tmp_path / "probe" / "probe.md").read_text()
    assert "| conv2 |" in table and "apex+first" in table
    assert json.loads((tmp_path / "probe" / "probe.json").read_text())["probe"] == probe["probe"]


def test_linear_probe_finds_the_change_from_the_first_frame():
    """Subjects rest with one expression's features and add the clip's on top: the apex
    alone is ambiguous between the two, its change from the first frame is not."""
    rng = np.random.default_rng(0)
    prototypes = rng.normal(0, 1, (6, 16))

    def clips(n):
        y, rest = rng.integers(0, 6, n), rng.integers(0, 6, n)
        first = prototypes[rest] + rng.normal(0, 0.3, (n, 16))
        apex = prototypes[rest] + prototypes[y] + rng.normal(0, 0.3, (n, 16))
        return np.stack([first, (first + apex) / 2, apex], axis=1), y

    probe = linear_probe({"train": clips(1200), "test": clips(600)})
    assert probe["apex-first"]["test_accuracy"] > 0.95
    assert probe["apex+first"]["test_accuracy"] > probe["apex"]["test_accuracy"] + 0.2
    assert probe["first"]["test_accuracy"] < 0.3  # the resting face says nothing
    with pytest.raises(ValueError, match="unknown probe views"):
        linear_probe({"train": clips(10), "test": clips(10)}, views=("middle",))


def test_sweep_report_from_rows(tmp_path):
    rows = [dict(units=u, layers=n, relu=True, best_epoch=1, train_accuracy=0.5,
                 val_accuracy=0.5, val_loss=1.0, test_accuracy=0.5 + u / 1000 + n / 100,
                 test_loss=1.0 - n / 10, seconds=1.0)
            for u in (50, 150) for n in (4, 6)]
    report = write_sweep_report(rows, tmp_path)
    text = (tmp_path / "sweep.md").read_text()
    assert report["metric"] == "test_accuracy"
    assert "| Hybrid CNN-RNN, hidden units = 150 | 71.00% | 0.400 |" in text
    assert "| Hybrid CNN-RNN, hidden layers = 4 | 69.00% | 0.600 |" in text

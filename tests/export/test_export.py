"""Export to SavedModel, TFLite and ONNX: every registered model, and the checks' behaviour.

``test_every_model_exports_with_parity`` runs over ``ferzoo.list_models()`` with the
``tiny`` preset. A model that genuinely cannot be exported goes in
``KNOWN_EXPORT_LIMITS`` with the reason (the README shows this dict); its test then
must fail with ExportError (strict xfail), so a limit that goes away is noticed.
"""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest

import ferzoo
import ferzoo.export as export_module
from ferzoo import registry
from ferzoo.export import (
    ExportError,
    ExportParityError,
    calibration_feeds,
    export,
)
from ferzoo.export import onnx as onnx_export
from ferzoo.export import tflite_ops
from ferzoo.export.runtime import TFLiteRuntime, open_runtime
from ferzoo.export.tflite_rewrites import _conv3d_as_conv2d, tflite_rewrites
from ferzoo.models.stcam import PAPER as STCAM_PAPER

# name -> why it cannot be exported to every format. Shown in the README; never skipped.
KNOWN_EXPORT_LIMITS: dict[str, str] = {}

MODELS = ferzoo.list_models()
ALL_ARTEFACTS = {"savedmodel", "tflite-float32", "tflite-dynamic", "tflite-int8", "onnx"}


def _model_params():
    for name in MODELS:
        if name in KNOWN_EXPORT_LIMITS:
            mark = pytest.mark.xfail(strict=True, raises=ExportError,
                                     reason=KNOWN_EXPORT_LIMITS[name])
            yield pytest.param(name, marks=mark)
        else:
            yield name


@pytest.mark.slow
@pytest.mark.parametrize("name", list(_model_params()))
def test_every_model_exports_with_parity(name, tmp_path):
    keras.utils.set_random_seed(0)
    model = ferzoo.build(name, preset="tiny")
    report = export(model, tmp_path, name=name, num_check=2, num_calibration=4)
    assert {a.label for a in report.artefacts} == ALL_ARTEFACTS
    for artefact in report.artefacts:
        assert np.isfinite(artefact.max_abs_diff), f"{name}: {artefact.label} gives non-finite"
        if not artefact.quantised:  # export raises otherwise; this guards the guard
            assert artefact.max_abs_diff <= 1e-4
            assert artefact.top1_agreement in (None, 1.0)
    card = json.loads((tmp_path / "model_card.json").read_text())
    assert card["name"] == name and len(card["exports"]) == len(ALL_ARTEFACTS)


# ----------------------------------------------------------------- small local models


def _conv_lstm_model(frames=4, size=16, classes=6, name="toy"):
    """Conv3D + BN + 2D pooling per frame + LSTM: the shapes of the zoo's models."""
    video = keras.Input((frames, size, size, 3), name="video")
    x = keras.layers.Conv3D(8, 3, padding="same", name="conv1")(video)
    x = keras.layers.BatchNormalization(name="bn1")(x)
    x = keras.layers.ReLU()(x)
    x = keras.layers.Conv3D(8, 3, strides=2, padding="same", name="conv2")(x)
    x = keras.layers.TimeDistributed(keras.layers.MaxPooling2D(2), name="pool")(x)
    x = keras.layers.Reshape((x.shape[1], -1))(x)
    x = keras.layers.LSTM(8, name="lstm")(x)
    out = keras.layers.Dense(classes, activation="softmax", name="classifier")(x)
    return keras.Model(video, out, name=name)


@pytest.fixture
def toy_model():
    keras.utils.set_random_seed(0)
    return _conv_lstm_model()


@pytest.fixture
def registered_toy():
    def _export_toy(num_classes, frames, image_size, channels):
        return _conv_lstm_model(frames, image_size, num_classes, name="export_toy")

    registry.register_model(
        "_export_toy", _export_toy, paper=STCAM_PAPER,
        defaults=dict(num_classes=6, frames=4, image_size=16, channels=3),
        presets={"tiny": dict(frames=4)}, sampling="uniform",
        description="A toy for export tests.",
    )

    yield "_export_toy"
    registry.unregister_model("_export_toy")


def test_toy_exports_to_every_format_with_parity(toy_model, tmp_path):
    report = export(toy_model, tmp_path, num_check=2, num_calibration=4)
    assert {a.label for a in report.artefacts} == ALL_ARTEFACTS
    for artefact in report.artefacts:
        runtime = open_runtime(artefact.path)  # each file opens in its own runtime
        assert runtime.format == artefact.format
        assert runtime.clip_shapes == {"video": (4, 16, 16, 3)}
        assert artefact.latency_ms > 0 and artefact.size_bytes > 0
    float_rows = [a for a in report.artefacts if not a.quantised]
    assert all(a.max_abs_diff <= 1e-4 and a.top1_agreement == 1.0 for a in float_rows)
    assert report.artefact("onnx").batch == "dynamic"
    assert report.artefact("tflite-float32").batch == "1"
    assert any("random clips" in w for w in report.warnings)  # no representative data


def test_tflite_is_builtin_only_with_rnn_unrolled_and_conv3d_as_conv2d(toy_model, tmp_path):
    report = export(toy_model, tmp_path, formats=("tflite",),
                    tflite_variants=("float32", "int8"), num_check=1, num_calibration=2)
    for variant in ("float32", "int8"):
        ops = {code for code, _ in tflite_ops(open(report.artefact(f"tflite-{variant}").path,
                                                   "rb").read())}
        assert not any(code.startswith("CUSTOM") for code in ops), ops
        assert "WHILE" not in ops and "CONV_3D" not in ops and "CONV_2D" in ops, ops
    # the rewrites are undone on the Keras model afterwards
    assert toy_model.get_layer("lstm").unroll is False
    assert "convolution_op" not in vars(toy_model.get_layer("conv1"))


def test_max_pool_3d_fails_naming_the_op_and_the_layer(tmp_path):
    video = keras.Input((4, 8, 8, 3), name="video")
    x = keras.layers.Conv3D(4, 3, padding="same")(video)
    x = keras.layers.MaxPooling3D((1, 2, 2), name="temporal_pool")(x)
    out = keras.layers.Dense(6, activation="softmax")(keras.layers.Flatten()(x))
    model = keras.Model(video, out, name="pooled")
    with pytest.raises(ExportError) as error:
        export(model, tmp_path, formats=("tflite",), tflite_variants=("float32",))
    message = str(error.value)
    assert "MaxPool3D" in message and "'temporal_pool'" in message
    assert "MaxPooling3D" in message and "2D pooling" in message
    assert not list(tmp_path.glob("*.tflite")), "nothing is written for a failed export"


def test_while_loop_refuses_int8_instead_of_crashing(tmp_path):
    class RunningSum(keras.layers.Layer):
        def call(self, x):
            return keras.ops.fori_loop(
                0, x.shape[1], lambda i, acc: acc + x[:, i], keras.ops.zeros_like(x[:, 0])
            )

    video = keras.Input((4, 6), name="video")
    out = keras.layers.Dense(6, activation="softmax")(RunningSum(name="running_sum")(video))
    model = keras.Model(video, out, name="looped")
    with pytest.raises(ExportError, match=r"WHILE loop .*'running_sum' \(RunningSum\)"):
        export(model, tmp_path, formats=("tflite",), tflite_variants=("int8",))


def test_parity_failure_is_loud_and_names_model_format_and_figures(toy_model, tmp_path,
                                                                   monkeypatch):
    class Drifting(TFLiteRuntime):
        def _run(self, feed):
            out = super()._run(feed)
            return {k: v + 1e-3 for k, v in out.items()}

    monkeypatch.setattr(export_module, "TFLiteRuntime", Drifting)
    with pytest.raises(ExportParityError,
                       match=r"toy: tflite-float32 .* max abs diff 0\.001 \(tolerance 0\.0001\)"):
        export(toy_model, tmp_path, formats=("tflite",), tflite_variants=("float32",))


def test_quantised_variants_are_reported_not_held_to_float_tolerance(toy_model, tmp_path):
    report = export(toy_model, tmp_path, formats=("tflite",),
                    tflite_variants=("dynamic",), num_check=2, atol=1e-12)
    assert report.artefact("tflite-dynamic").max_abs_diff > 1e-12


def test_onnx_falls_back_to_static_batch_when_dynamic_graph_fails(toy_model, tmp_path,
                                                                  monkeypatch):
    def broken(*args, **kwargs):
        raise ExportError("invalid graph")

    monkeypatch.setattr(onnx_export, "_validate_dynamic_onnx", broken)
    report = export(toy_model, tmp_path, formats=("onnx",), num_check=3)
    onnx = report.artefact("onnx")
    assert onnx.batch == "1" and "dynamic batch failed: ExportError: invalid graph" in \
        onnx.notes[0]
    assert onnx.max_abs_diff <= 1e-4  # batch 3 of check clips ran one at a time


def test_model_card_from_registry(registered_toy, tmp_path):
    model = ferzoo.build(registered_toy, preset="tiny")
    labels = ["anger", "disgust", "fear", "happiness", "sadness", "surprise"]
    export(model, tmp_path, name=registered_toy, formats=("savedmodel", "tflite"),
           tflite_variants=("float32",), labels=labels, metrics={"WAR": 0.5}, num_check=1)
    card = json.loads((tmp_path / "model_card.json").read_text())
    assert card["name"] == registered_toy
    assert card["paper"] == registry.papers()["stcam"]
    assert card["description"] == "A toy for export tests."
    (spec,) = card["inputs"]
    assert spec["name"] == "video" and spec["shape"] == ["batch", 4, 16, 16, 3]
    assert spec["value_range"] == [0.0, 1.0]
    assert spec["frame_sampling"].startswith("uniform: STC-NLSTM's length normalisation")
    assert "align" in spec["preprocessing"] and "16x16" in spec["preprocessing"]
    assert card["labels"] == labels and card["metrics"] == {"WAR": 0.5}
    assert card["outputs"][0]["name"] == "probabilities"
    assert [e["format"] for e in card["exports"]] == ["savedmodel", "tflite"]
    assert any("batch 1 and exactly T=4" in note for note in card["notes"])
    markdown = (tmp_path / "model_card.md").read_text()
    for text in ("# _export_toy", registry.papers()["stcam"], "| video | (batch, 4, 16, 16, 3)",
                 "0: anger", "WAR: 0.5", "| tflite-float32 |", "batch 1 and exactly T=4"):
        assert text in markdown, text


def test_int8_is_at_least_3x_smaller_for_a_conv3d_network(tmp_path):
    keras.utils.set_random_seed(0)
    video = keras.Input((4, 16, 16, 3), name="video")
    x = keras.layers.Conv3D(32, 3, padding="same", activation="relu")(video)
    x = keras.layers.Conv3D(64, 3, strides=2, padding="same", activation="relu")(x)
    x = keras.layers.Conv3D(64, 3, padding="same", activation="relu")(x)
    x = keras.layers.GlobalAveragePooling3D()(x)
    model = keras.Model(video, keras.layers.Dense(6, activation="softmax")(x), name="c3d")
    report = export(model, tmp_path, formats=("tflite",), tflite_variants=("float32", "int8"),
                    num_check=2, num_calibration=4)
    ratio = report.artefact("tflite-float32").size_bytes / report.artefact("tflite-int8").size_bytes
    assert ratio >= 3.0, f"int8 only {ratio:.2f}x smaller"
    assert report.artefact("tflite-int8").top1_agreement is not None


@pytest.mark.parametrize("kernel,strides,padding,frames", [
    ((3, 3, 3), (1, 1, 1), "same", 4),
    ((3, 7, 7), (1, 2, 2), "same", 7),   # STCAM's stem
    ((3, 3, 3), (2, 2, 2), "same", 5),
    ((2, 3, 3), (2, 1, 1), "valid", 6),
    ((1, 3, 3), (1, 1, 1), "same", 3),
    ((4, 1, 1), (3, 1, 1), "same", 8),
])
def test_conv3d_as_conv2d_is_exact(kernel, strides, padding, frames):
    layer = keras.layers.Conv3D(5, kernel, strides=strides, padding=padding)
    x = np.random.default_rng(0).normal(size=(2, frames, 9, 10, 3)).astype("float32")
    expected = keras.ops.convert_to_numpy(layer(x))
    got = keras.ops.convert_to_numpy(_conv3d_as_conv2d(layer, keras.ops.convert_to_tensor(x),
                                                       layer.kernel)) + layer.bias.numpy()
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, atol=1e-5)


def test_calibration_accepts_feeds_arrays_and_labelled_pairs():
    shapes = {"video": (2, 4, 4, 3)}
    batch = np.zeros((3, 2, 4, 4, 3), np.float32)
    one = np.ones((2, 4, 4, 3), np.float32)
    for data in ([{"video": batch}], [batch], [(batch, np.zeros(3))], [one, one, one]):
        feeds, source = calibration_feeds(data, shapes, limit=10)
        assert len(feeds) == 3 and feeds[0]["video"].shape == (1, 2, 4, 4, 3), data
        assert "representative" in source
    feeds, _ = calibration_feeds([batch] * 5, shapes, limit=4)
    assert len(feeds) == 4
    with pytest.raises(ValueError, match=r"representative 'video' has shape \(3, 2, 8, 8, 3\)"):
        calibration_feeds([np.zeros((3, 2, 8, 8, 3))], shapes)


def test_two_stream_model_keeps_both_input_names(tmp_path):
    keras.utils.set_random_seed(0)
    video = keras.Input((4, 8, 8, 3), name="video")
    flow = keras.Input((3, 8, 8, 3), name="flow")
    merged = keras.layers.Concatenate()([
        keras.layers.GlobalAveragePooling3D()(keras.layers.Conv3D(4, 3, padding="same")(video)),
        keras.layers.GlobalAveragePooling3D()(flow),
    ])
    out = keras.layers.Dense(6, activation="softmax")(merged)
    model = keras.Model({"video": video, "flow": flow}, out, name="two_stream")
    report = export(model, tmp_path, tflite_variants=("float32",), num_check=2)
    for artefact in report.artefacts:
        assert open_runtime(artefact.path).clip_shapes == {"video": (4, 8, 8, 3),
                                                           "flow": (3, 8, 8, 3)}


def test_unknown_format_is_named():
    with pytest.raises(ValueError, match=r"unknown format \['tfjs'\]; choose from"):
        export(_conv_lstm_model(), "/nonexistent", formats=("tfjs",))


def test_evaluation_scores_every_artefact_like_numpy(toy_model, tmp_path):
    rng = np.random.default_rng(3)
    clips = rng.uniform(size=(10, 4, 16, 16, 3)).astype("float32")
    labels = rng.integers(0, 6, size=10)
    batches = [({"video": clips[:6]}, labels[:6]), ({"video": clips[6:]}, labels[6:])]
    report = export(toy_model, tmp_path, formats=("onnx", "tflite"),
                    tflite_variants=("float32",), num_check=1, evaluation_data=batches)
    predicted = keras.ops.convert_to_numpy(toy_model(clips)).argmax(-1)
    expected_war = np.mean(predicted == labels)
    recalls = [np.mean(predicted[labels == c] == c) for c in np.unique(labels)]
    assert report.keras_accuracy == pytest.approx(expected_war)
    assert report.keras_uar == pytest.approx(np.mean(recalls))
    for artefact in report.artefacts:  # float formats agree clip by clip
        assert artefact.accuracy == pytest.approx(expected_war)
    assert "| WAR | UAR |" in (tmp_path / "model_card.md").read_text()


@pytest.mark.parametrize("options", [
    dict(), dict(return_sequences=True), dict(go_backwards=True, return_sequences=True),
    dict(return_state=True),
])
def test_lstm_rewrite_is_exact_and_undone(options):
    keras.utils.set_random_seed(0)
    sequences = keras.Input((5, 7))
    lstm = keras.layers.LSTM(6, **options)
    model = keras.Model(sequences, lstm(sequences))
    x = np.random.default_rng(0).uniform(size=(2, 5, 7)).astype("float32")
    expected = keras.tree.flatten(model(x))
    with tflite_rewrites(model) as notes:
        got = keras.tree.flatten(model(x))
    assert notes == ["1 LSTM layer(s) unrolled over T, gates fused"]
    for a, b in zip(got, expected):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=1e-6)
    assert "call" not in vars(lstm)


def test_int8_with_a_dead_relu_unit_runs_in_xnnpack(tmp_path):
    # A unit that never fires calibrates to a zero-width range; XNNPACK rejected the
    # resulting int8 ops (and a whole STCAM crashed) until such ranges were widened.
    video = keras.Input((4, 8, 8, 3), name="video")
    pooled = keras.layers.GlobalAveragePooling3D()(video)
    dead = keras.layers.Dense(3, activation="relu", kernel_initializer="zeros",
                              bias_initializer=keras.initializers.Constant(-1.0))(pooled)
    out = keras.layers.Dense(6, activation="softmax", name="head")(
        keras.layers.Concatenate()([pooled, dead]))
    model = keras.Model(video, out, name="dead_unit")
    report = export(model, tmp_path, formats=("tflite",), tflite_variants=("int8",),
                    num_check=2, num_calibration=8)
    int8 = report.artefact("tflite-int8")
    assert any("constant activation range(s) widened" in note for note in int8.notes)
    assert int8.max_abs_diff < 0.05 and int8.top1_agreement == 1.0

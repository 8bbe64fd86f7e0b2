"""ferzoo.inference.predict: video -> faces -> windows -> timeline CSV / PNG / annotated video."""

from __future__ import annotations

import csv
import json

import cv2
import keras
import numpy as np
import pytest

import ferzoo
import ferzoo.export as export_module
from ferzoo import registry
from ferzoo.cli import main as cli_main
from ferzoo.inference.predict import NoFaceFound, Predictor, Timeline, flow_input
from ferzoo.models.stc_nlstm import PAPER as STC_PAPER

LABELS = ["anger", "disgust", "fear", "happiness", "sadness", "surprise"]


def _toy(num_classes=6, frames=4, image_size=16, channels=3, flow=False):
    video = keras.Input((frames, image_size, image_size, channels), name="video")
    x = keras.layers.Conv3D(4, 3, padding="same", activation="relu")(video)
    x = keras.layers.GlobalAveragePooling3D()(x)
    inputs = [video]
    if flow:
        flow_in = keras.Input((frames - 1, image_size, image_size, 3), name="flow")
        inputs.append(flow_in)
        x = keras.layers.Concatenate()([x, keras.layers.GlobalAveragePooling3D()(flow_in)])
    out = keras.layers.Dense(num_classes, activation="softmax")(x)
    return keras.Model(inputs if flow else video, out, name="predict_toy")


@pytest.fixture
def toy_name():
    def _predict_toy(num_classes, frames, image_size, channels):
        keras.utils.set_random_seed(0)
        return _toy(num_classes, frames, image_size, channels)

    registry.register_model(
        "_predict_toy", _predict_toy, paper=STC_PAPER,
        defaults=dict(num_classes=6, frames=4, image_size=16, channels=3), presets={"tiny": {}},
    )
    yield "_predict_toy"
    registry.unregister_model("_predict_toy")


def _write_video(path, frames, fps=10.0):
    h, w = frames.shape[1:3]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
    for frame in frames:
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()
    return path


@pytest.fixture
def crops_video(tmp_path):
    """11 frames of a 40x30 'face crop' that brightens over time."""
    ramp = np.linspace(40, 200, 11).astype(np.uint8)
    frames = np.broadcast_to(ramp[:, None, None, None], (11, 30, 40, 3)).copy()
    return _write_video(tmp_path / "crops.mp4", frames)


def test_windows_cover_the_clip_and_short_clips_repeat_the_last_frame(toy_name):
    predictor = Predictor(model=toy_name, stride=2)
    assert predictor.window_starts(10) == [0, 2, 4, 6]
    assert predictor.window_starts(11) == [0, 2, 4, 6, 7]  # the end is covered too
    assert predictor.window_starts(3) == [0]
    faces = np.stack([np.full((16, 16, 3), v, np.uint8) for v in (10, 20, 30)])
    window = predictor.inputs(faces, 0)["video"]
    assert window.shape == (4, 16, 16, 3)
    np.testing.assert_allclose(window[:, 0, 0, 0], np.array([10, 20, 30, 30]) / 255.0)


def test_face_crops_timeline_csv_png_and_json(toy_name, crops_video, tmp_path):
    predictor = Predictor(model=toy_name, labels=LABELS, stride=2, face_crops=True)
    timeline = predictor.predict(crops_video, out_dir=tmp_path / "out")
    assert len(timeline) == 5 and timeline.probabilities.shape == (5, 6)
    np.testing.assert_allclose(timeline.probabilities.sum(-1), 1.0, atol=1e-5)
    assert list(timeline.start_frames) == [0, 2, 4, 6, 7]
    assert list(timeline.end_frames) == [3, 5, 7, 9, 10]
    with open(timeline.files["csv"]) as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 5 and list(rows[0])[:5] == ["window", "start_frame", "end_frame",
                                                     "start_s", "end_s"]
    assert set(LABELS) <= set(rows[0]) and rows[0]["top_label"] in LABELS
    assert float(rows[1]["start_s"]) == pytest.approx(0.2)  # 10 fps
    png = cv2.imread(timeline.files["plot"])
    assert png is not None and png.shape[0] > 100
    record = json.loads((tmp_path / "out" / "timeline.json").read_text())
    assert record["labels"] == LABELS and len(record["windows"]) == 5
    # the same windows through the model directly
    frames = np.stack([f for f in predictor.faces(crops_video)[0]])
    expected = predictor.runtime.model(
        np.stack([predictor.inputs(frames, s)["video"] for s in (0, 2, 4, 6, 7)])
    )
    np.testing.assert_allclose(timeline.probabilities, np.asarray(expected), atol=1e-6)


def test_exported_tflite_and_onnx_give_the_keras_timeline(toy_name, crops_video, tmp_path):
    model = ferzoo.build(toy_name)
    export_module.export(model, tmp_path / "exp", name=toy_name, formats=("tflite", "onnx"),
                         tflite_variants=("float32",), labels=LABELS, num_check=1)
    keras_timeline = Predictor(model=toy_name, face_crops=True).predict(crops_video)
    for artefact in ("exp/_predict_toy_float32.tflite", "exp/_predict_toy.onnx"):
        predictor = Predictor(tmp_path / artefact, face_crops=True)
        assert predictor.labels == LABELS  # read from the model card beside the file
        timeline = predictor.predict(crops_video)
        np.testing.assert_allclose(timeline.probabilities, keras_timeline.probabilities,
                                   atol=1e-4)
    exported = Predictor(tmp_path / "exp", face_crops=True)  # the export folder
    assert exported.runtime.format == "onnx" and exported.name == toy_name


def test_annotated_video_has_every_frame(toy_name, crops_video, tmp_path):
    predictor = Predictor(model=toy_name, face_crops=True)
    timeline = predictor.predict(crops_video, out_dir=tmp_path, annotate=True)
    capture = cv2.VideoCapture(timeline.files["video"])
    count = 0
    while capture.read()[0]:
        count += 1
    assert count == 11


def test_two_stream_windows_get_a_flow_stream():
    moving = np.zeros((5, 16, 16, 3), np.uint8)
    for t in range(5):
        moving[t, 4:10, 2 + t:8 + t] = 255  # a square moving right
    flow = flow_input(moving, 4)
    assert flow.shape == (4, 16, 16, 3) and flow.dtype == np.float32
    assert flow.min() >= 0 and flow.max() <= 1
    assert flow[..., 0].max() > 128 / 255  # dx > 0 somewhere: motion to the right


def test_timeline_plot_without_frame_rate(tmp_path):
    timeline = Timeline("x.mp4", ["a", "b"], np.array([[0.3, 0.7], [0.6, 0.4]]),
                        np.array([0, 2]), np.array([3, 5]), fps=0.0)
    assert timeline.rows()[0]["start_s"] == "" and timeline.top_labels() == ["b", "a"]
    assert timeline.plot(tmp_path / "t.png").exists()


@pytest.mark.slow
def test_real_video_with_a_face_gives_a_timeline(real_dir, tmp_path):
    keras.utils.set_random_seed(0)
    predictor = Predictor(model="stc_nlstm", preset="tiny")
    timeline = predictor.predict(real_dir / "head-pose-face-detection-male.gif",
                                 out_dir=tmp_path)
    assert timeline.notes["face_frames"] >= 55  # 62 frames, one face throughout
    assert len(timeline) >= 20 and (tmp_path / "timeline.png").exists()


@pytest.mark.slow
def test_video_without_a_face_says_so(real_dir, tmp_path, capsys):
    with pytest.raises(NoFaceFound, match="no face"):
        Predictor(model="stc_nlstm", preset="tiny").predict(real_dir / "no_face.mp4")
    status = cli_main(["predict", str(real_dir / "no-faces.jpg"), "--model", "stc_nlstm",
                       "--preset", "tiny", "--out", str(tmp_path)])
    assert status == 1 and "no face" in capsys.readouterr().err


def test_the_recipes_photometric_steps_reach_prediction_through_the_model_card(
        toy_name, tmp_path):
    """A model trained on equalised, standardised frames (the hybrid recipes) gets them
    at prediction too: from a run's recipe, or from the card ``ferzoo export`` wrote."""
    from ferzoo.data.photometric import equalize_histogram, photometric_settings, standardize
    from ferzoo.inference.predict import artefact_metadata

    settings = photometric_settings({"flip": True, "equalize": True, "standardize": True})
    assert settings == {"equalize": True, "standardize": True}
    assert photometric_settings({"flip": True, "rotate": 5.0}) is None
    model = ferzoo.build(toy_name)
    export_module.export(model, tmp_path, formats=["onnx"], name=toy_name, check=False,
                         photometric=settings)
    card = json.loads((tmp_path / "model_card.json").read_text())
    assert card["photometric"] == settings
    assert "histogram equalisation" in card["inputs"][0]["preprocessing"]
    assert artefact_metadata(tmp_path / f"{toy_name}.onnx")["photometric"] == settings

    predictor = Predictor(tmp_path, stride=2)
    assert predictor.photometric == settings
    faces = np.random.default_rng(0).integers(0, 256, (6, 16, 16, 3), dtype=np.uint8)
    batch = predictor.batch_inputs(faces, [0, 2])["video"]
    raw = np.stack([predictor.inputs(faces, s)["video"] for s in (0, 2)])
    np.testing.assert_allclose(batch, standardize(equalize_histogram(raw)).numpy(), atol=1e-5)
    assert abs(batch[0, 0].mean()) < 1e-4 and abs(batch[0, 0].std() - 1) < 1e-3
    # without recorded steps the frames stay in [0, 1]
    plain = Predictor(model=toy_name).batch_inputs(faces, [0])["video"]
    np.testing.assert_array_equal(plain[0], predictor.inputs(faces, 0)["video"])

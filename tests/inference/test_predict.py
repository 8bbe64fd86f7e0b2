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


def test_face_windows_slide_cover_the_end_and_pad_short_faces():
    from ferzoo.inference.stream import FaceWindows, window_indices

    buffer = FaceWindows(face=0, span=4, frames=4, stride=2)
    frames = [np.full((16, 16, 3), 10 * i, np.uint8) for i in range(11)]
    windows = [w for i, f in enumerate(frames) if (w := buffer.add(i, f, np.zeros(4)))]
    windows.append(buffer.finish())
    assert [(w.start_frame, w.end_frame) for w in windows] == [
        (0, 3), (2, 5), (4, 7), (6, 9), (7, 10)]  # the end is covered too
    assert buffer.finish() is None
    short = FaceWindows(face=1, span=4, frames=4, stride=2)
    for i in range(3):
        assert short.add(i, frames[i], np.zeros(4)) is None
    window = short.finish()
    assert window.padded and [int(f[0, 0, 0]) for f in window.frames] == [0, 10, 20, 20]
    # LSTPNet: 8 segments x 2 consecutive frames at the segments' centres
    picks = window_indices(32, 16, "segments")
    assert len(picks) == 16 and list(picks[:4]) == [1, 2, 5, 6]
    assert np.all(np.diff(picks[::2]) > 0) and np.all(picks[1::2] - picks[::2] == 1)


def test_face_crops_timeline_csv_summary_png(toy_name, crops_video, tmp_path):
    predictor = Predictor(model=toy_name, labels=LABELS, stride=2, face_crops=True)
    timeline = predictor.predict(crops_video, out_dir=tmp_path / "out")
    assert len(timeline) == 5 and timeline.probabilities.shape == (5, 6)
    np.testing.assert_allclose(timeline.probabilities.sum(-1), 1.0, atol=1e-5)
    assert list(timeline.start_frames) == [0, 2, 4, 6, 7]
    assert list(timeline.end_frames) == [3, 5, 7, 9, 10]
    with open(timeline.files["csv"]) as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 5 and list(rows[0])[:10] == [
        "face", "window", "start_frame", "end_frame", "start_s", "end_s",
        "box_x1", "box_y1", "box_x2", "box_y2"]
    assert set(LABELS) <= set(rows[0]) and rows[0]["top_label"] in LABELS
    assert rows[0]["smoothing"] == "none" and rows[0]["face"] == "0"
    assert float(rows[1]["start_s"]) == pytest.approx(0.2)  # 10 fps
    assert float(rows[0]["box_x2"]) == 40 and float(rows[0]["box_y2"]) == 30
    png = cv2.imread(timeline.files["plot"])
    assert png is not None and png.shape[0] > 100
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    face = summary["faces"][0]
    assert summary["video"]["faces"] == 1 and face["frames_present"] == 11
    assert face["first_frame"] == 0 and face["last_frame"] == 10
    assert face["first_seen_s"] == 0.0 and face["last_seen_s"] == pytest.approx(1.0)
    assert face["dominant_expression"] in LABELS
    assert sum(face["share_of_windows"].values()) == pytest.approx(1.0)
    np.testing.assert_allclose(list(face["mean_probabilities"].values()),
                               timeline.probabilities.mean(0), atol=1e-4)
    # the same windows through the model directly
    from ferzoo.video.faces import square_resize
    from ferzoo.video.io import read_clip

    frames = np.stack([square_resize(f, 16) for f in read_clip(crops_video)[0]])
    expected = predictor.runtime.model(
        np.stack([predictor.inputs(frames[s:s + 4])["video"] for s in (0, 2, 4, 6, 7)]))
    np.testing.assert_allclose(timeline.probabilities, np.asarray(expected), atol=1e-6)


def test_smoothing_is_an_exponential_average_per_face_and_the_csv_says_so(
        toy_name, crops_video, tmp_path):
    raw = Predictor(model=toy_name, stride=2, face_crops=True).predict(crops_video)
    smooth = Predictor(model=toy_name, stride=2, face_crops=True, smooth=0.5).predict(
        crops_video, out_dir=tmp_path)
    assert smooth.smoothing == "ema 0.5 s"
    np.testing.assert_allclose(smooth.probabilities[0], raw.probabilities[0])
    weight = 1 - np.exp(-0.2 / 0.5)  # window centres 2 frames = 0.2 s apart
    np.testing.assert_allclose(
        smooth.probabilities[1],
        (1 - weight) * raw.probabilities[0] + weight * raw.probabilities[1], atol=1e-6)
    with open(tmp_path / "timeline.csv") as f:
        assert {row["smoothing"] for row in csv.DictReader(f)} == {"ema 0.5 s"}


def test_stream_yields_windows_as_frames_arrive(toy_name):
    """Predictor.stream consumes frames lazily: a window comes out once its last frame
    is in, not at the end of the video."""
    predictor = Predictor(model=toy_name, stride=2, face_crops=True)
    pulled = []

    def frames():
        for i in range(40):
            pulled.append(i)
            yield i, np.full((30, 40, 3), 5 * i, np.uint8)

    stream = predictor.stream(frames())
    first = next(stream)
    assert (first.start_frame, first.end_frame) == (0, 3) and len(pulled) == 4
    rest = list(stream)
    assert len(rest) == 18 and rest[-1].end_frame == 39


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
    assert count == 11 and timeline.files["video"].endswith("annotated.mp4")


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
    assert timeline.rows()[0]["face"] == 0 and timeline.rows()[0]["box_x1"] == ""
    assert timeline.plot(tmp_path / "t.png").exists()


def _fast_available():
    from ferzoo.video.faces.blazeface import FastDetectorUnavailable, model_path

    try:
        model_path()
        import ai_edge_litert  # noqa: F401
    except (FastDetectorUnavailable, ImportError):
        return False
    return True


DETECTOR_PARAMS = [
    pytest.param("fast", marks=pytest.mark.skipif(not _fast_available(),
                                                  reason="ferzoo[fast] not installed")),
    pytest.param("mtcnn", marks=pytest.mark.slow),
]


@pytest.mark.parametrize("detector", DETECTOR_PARAMS)
def test_two_people_two_faces_with_ids_that_never_swap(toy_name, real_dir, tmp_path,
                                                        detector):
    """The two-person GIF: two faces, each in most windows, each id always on its side
    of the picture (the woman on the left, the man on the right)."""
    predictor = Predictor(model=toy_name, detector=detector)
    timeline = predictor.predict(real_dir / "head-pose-face-detection-female-and-male.gif",
                                 out_dir=tmp_path)
    assert timeline.face_ids == [0, 1]
    per_face = {f: timeline.of_face(f) for f in (0, 1)}
    most = 0.9 if detector == "fast" else 0.4  # MTCNN misses the woman's tilted head often
    windows_in_video = (56 - 4) // 2 + 1
    for rows in per_face.values():
        assert len(rows) >= most * windows_in_video
    centres = {f: (timeline.boxes[rows, 0] + timeline.boxes[rows, 2]) / 2
               for f, rows in per_face.items()}
    left, right = sorted(centres, key=lambda f: centres[f].mean())
    assert centres[left].max() < 240 < centres[right].min()  # 480 px wide: no swap
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert [f["face"] for f in summary["faces"]] == [0, 1]
    assert all(f["frames_present"] >= most * 56 for f in summary["faces"])
    image = cv2.imread(str(tmp_path / "timeline.png"))
    assert image.shape[0] > 300  # one panel per face


@pytest.mark.parametrize("name", ["head-pose-face-detection-male.gif",
                                  "head-pose-face-detection-female.gif"])
@pytest.mark.parametrize("detector", DETECTOR_PARAMS)
def test_one_person_gifs_give_one_face(toy_name, real_dir, name, detector):
    timeline = Predictor(model=toy_name, detector=detector).predict(real_dir / name)
    assert timeline.face_ids == [0]
    assert timeline.face_frames[0]["frames"] >= 0.85 * timeline.notes["frames_read"]


def test_video_without_a_face_exits_1_with_its_message(real_dir, tmp_path, capsys):
    status = cli_main(["predict", str(real_dir / "no_face.mp4"), "--model", "stc_nlstm",
                       "--preset", "tiny", "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert status == 1 and "no face found in any of 95 frames" in err
    with pytest.raises(NoFaceFound, match="no face"):
        Predictor(model="stc_nlstm", preset="tiny").predict(real_dir / "no-faces.jpg")


def test_camera_is_read_through_opencv(toy_name, real_dir, tmp_path, monkeypatch, capsys):
    """``--camera N`` opens cv2.VideoCapture(N); a fake capture plays a GIF's frames."""
    from ferzoo.video import io as video_io

    frames = [cv2.cvtColor(f, cv2.COLOR_RGB2BGR) for f in video_io.read_clip(
        real_dir / "head-pose-face-detection-male.gif")[0][:20]]
    opened = []

    class FakeCapture:
        def __init__(self, device):
            opened.append(device)
            self.position = 0

        def isOpened(self):
            return True

        def get(self, prop):
            return 0.0  # webcams often report no frame rate

        def read(self):
            if self.position >= len(frames):
                return False, None
            self.position += 1
            return True, frames[self.position - 1]

        def release(self):
            pass

    monkeypatch.setattr(video_io.cv2, "VideoCapture", FakeCapture)
    # Ctrl-C on a camera ends the prediction and still writes the files
    camera = video_io.CameraSource(0)
    frames_read = []

    def interrupted(index, frame, faces):
        frames_read.append(index)
        if index == 15:
            raise KeyboardInterrupt

    predictor = Predictor(model=toy_name)
    stream = predictor.stream
    monkeypatch.setattr(predictor, "stream", lambda frames, fps, observer: stream(
        frames, fps, lambda *a: (observer(*a), interrupted(*a))))
    timeline = predictor.predict(camera, out_dir=tmp_path / "ctrl_c")
    assert "interrupted" in timeline.notes["stopped"] and len(timeline) >= 4
    assert (tmp_path / "ctrl_c" / "summary.json").exists()

    status = cli_main(["predict", "--camera", "2", "--model", toy_name, "--max-frames", "12",
                       "--out", str(tmp_path), "--annotate"])
    out = capsys.readouterr().out
    assert status == 0 and opened == [0, 2] and "camera 2: 1 face(s)" in out
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["video"]["fps"] == 30.0 and summary["notes"]["frames_read"] == 12
    assert (tmp_path / "annotated.mp4").exists()


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
    batch = predictor.batch_inputs([faces[0:4], faces[2:6]])["video"]
    raw = np.stack([predictor.inputs(faces[s:s + 4])["video"] for s in (0, 2)])
    np.testing.assert_allclose(batch, standardize(equalize_histogram(raw)).numpy(), atol=1e-5)
    assert abs(batch[0, 0].mean()) < 1e-4 and abs(batch[0, 0].std() - 1) < 1e-3
    # without recorded steps the frames stay in [0, 1]
    plain = Predictor(model=toy_name).batch_inputs([faces[:4]])["video"]
    np.testing.assert_array_equal(plain[0], predictor.inputs(faces[:4])["video"])

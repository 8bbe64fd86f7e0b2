"""``ferzoo predict VIDEO --weights lstpnet_dfew.pth --labels dfew``: the authors'
checkpoint layout converted on the fly, with LSTPNet's preprocessing (skipped without
torch)."""

from __future__ import annotations

import csv
import json

import cv2
import numpy as np
import pytest

from ferzoo.cli import main as cli_main
from ferzoo.inference.predict import Predictor
from ferzoo.inference.stream import window_indices
from ferzoo.video.faces import square_resize
from ferzoo.weights.lstpnet import LABEL_SETS
from tests.models import lstpnet_reference as ref

torch = pytest.importorskip("torch")


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """Random weights saved exactly as the released checkpoints are laid out."""
    sd = ref.random_state_dict(seed=3)
    tensors = {f"module.{k}": torch.from_numpy(np.array(v)) for k, v in sd.items()}
    path = tmp_path_factory.mktemp("lstpnet") / "lstpnet_dfew.pth"
    torch.save({"epoch": 40, "model_state_dict": tensors, "best_war": 0.0}, path)
    return path, sd


def _clip(path, count=20):
    """A 'face crop' clip whose frames differ (a moving bright square)."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10.0, (48, 48))
    frames = []
    for t in range(count):
        frame = np.full((48, 48, 3), 60, np.uint8)
        frame[10:30, 2 + t:22 + t] = (230, 180, 120)
        frames.append(frame)
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()
    return path


def test_label_orders_are_the_datasets_own():
    assert LABEL_SETS["dfew"] == ("happiness", "sadness", "neutral", "anger", "surprise",
                                  "disgust", "fear")
    assert LABEL_SETS["afew"] == LABEL_SETS["ferv39k"] == tuple(sorted(LABEL_SETS["afew"]))
    assert all(len(v) == 7 for v in LABEL_SETS.values())


def test_pth_predicts_with_lstpnet_preprocessing(checkpoint, tmp_path):
    path, sd = checkpoint
    video = _clip(tmp_path / "clip.mp4")
    predictor = Predictor(path, labels="dfew", face_crops=True, overrides={"image_size": 64})
    assert (predictor.frames, predictor.span, predictor.sampling) == (16, 32, "segments")
    predictor.predict(video, out_dir=tmp_path / "o")
    with open(tmp_path / "o" / "timeline.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 1 and set(LABEL_SETS["dfew"]) <= set(rows[0])
    got = np.array([float(rows[0][k]) for k in LABEL_SETS["dfew"]])

    # the same window by hand: 8 segments x 2 frames of the 20, 64 x 64, [0, 1], no mean/std
    capture = cv2.VideoCapture(str(video))
    frames = []
    while (read := capture.read())[0]:
        frames.append(square_resize(cv2.cvtColor(read[1], cv2.COLOR_BGR2RGB), 64))
    window = np.stack(frames)[window_indices(len(frames), 16, "segments")]
    x = torch.from_numpy(window[None].astype(np.float32) / 255.0)
    with torch.no_grad():
        logits = ref_forward(x, sd)
    expected = torch.softmax(logits, -1).numpy()[0]
    np.testing.assert_allclose(got, expected, atol=2e-4)


def ref_forward(video, sd):
    from tests.models.test_lstpnet_torch import torch_forward

    return torch_forward(video, {k: torch.from_numpy(np.array(v))
                                 for k, v in sd.items()})


def test_one_command_at_the_default_16_frames_of_224(checkpoint, tmp_path, capsys):
    video = _clip(tmp_path / "short.mp4", count=3)
    status = cli_main(["predict", str(video), "--weights", str(checkpoint[0]), "--labels",
                       "ferv39k", "--face-crops", "--out", str(tmp_path / "o")])
    assert status == 0, capsys.readouterr().err
    summary = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert summary["notes"]["model"] == "lstpnet" and summary["notes"]["window"] == 16
    with open(tmp_path / "o" / "timeline.csv") as f:
        header = next(csv.reader(f))
    assert header[10:17] == list(LABEL_SETS["ferv39k"])

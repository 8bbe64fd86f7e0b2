"""Face detection: MTCNN on RGB frames, with a confidence threshold, optional
downscaling and batching.

MTCNN comes from the ``mtcnn`` package (weights in the wheel) and runs on TensorFlow; a
:class:`Face` holds its box, confidence and five keypoints (:data:`KEYPOINT_NAMES`).
Coordinates are OpenCV's: x right, y down, pixel centres at integers. MTCNN's
``left_eye`` is the eye on the image's left (the subject's right eye).
"""

from __future__ import annotations

import dataclasses
import functools
import math
import os
from typing import Sequence

import cv2
import numpy as np

KEYPOINT_NAMES = ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right")
LEFT_EYE, RIGHT_EYE = 0, 1

# docs/design.md#what-the-stack-does-and-does-not-do: MTCNN gave a false positive at
# 0.80 on a face-less photo, so faces need at least 0.9.
DEFAULT_MIN_CONFIDENCE = 0.9


class NoFaceError(Exception):
    """A clip (or image) without a usable face; ``str(error)`` is the reason."""


@dataclasses.dataclass(frozen=True)
class Face:
    """One detected face: box (x1, y1, x2, y2), confidence, keypoints (5, 2) as x, y.

    Keypoints are in :data:`KEYPOINT_NAMES` order.
    """

    box: np.ndarray
    confidence: float
    keypoints: np.ndarray

    @property
    def width(self) -> float:
        return float(self.box[2] - self.box[0])

    @property
    def height(self) -> float:
        return float(self.box[3] - self.box[1])

    @property
    def area(self) -> float:
        return self.width * self.height

    @property
    def center(self) -> np.ndarray:
        return np.array([(self.box[0] + self.box[2]) / 2, (self.box[1] + self.box[3]) / 2])

    @property
    def left_eye(self) -> np.ndarray:
        return self.keypoints[LEFT_EYE]

    @property
    def right_eye(self) -> np.ndarray:
        return self.keypoints[RIGHT_EYE]

    def xywh(self) -> list[float]:
        return [float(self.box[0]), float(self.box[1]), self.width, self.height]


def quiet_tensorflow() -> None:
    """Silence TensorFlow's Python-side logging (retracing warnings and the like)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import logging

    import tensorflow as tf

    tf.get_logger().setLevel(logging.ERROR)
    try:
        from absl import logging as absl_logging

        absl_logging.set_verbosity(absl_logging.ERROR)
    except ImportError:  # absl ships with TensorFlow; be safe anyway
        pass


@functools.lru_cache(maxsize=4)
def mtcnn_model(device: str = "CPU:0"):
    """The MTCNN network (built once per process and device, then reused)."""
    quiet_tensorflow()
    from mtcnn import MTCNN

    return MTCNN(device=device)


def _pyramid_safe(min_face: int, dim: int, factor: float = 0.709) -> int:
    """Cap MTCNN's ``min_face_size`` so its image pyramid stays >= 12 pixels.

    mtcnn 1.0 sizes the pyramid from the image alone; with a ``min_face_size`` large for
    the image its last level drops below PNet's 12-pixel input and the whole detection
    silently returns no face (seen on 128-pixel images with min_face_size >= 32).
    """
    levels = round(-(math.log(dim / 12) / math.log(factor) + 1))
    if levels < 1:
        return 12
    return max(12, min(min_face, int(dim * factor ** (levels - 1))))


def _rows_to_faces(rows: np.ndarray, scale: float) -> list[Face]:
    # mtcnn's numpy rows: [image, x1, y1, x2, y2, confidence, x of the 5 keypoints,
    # y of the 5 keypoints] (the package's docstring says interleaved; its code is not).
    faces = []
    for row in rows:
        keypoints = np.stack([row[6:11], row[11:16]], axis=1) / scale
        faces.append(Face(box=np.asarray(row[1:5], np.float64) / scale,
                          confidence=float(row[5]), keypoints=keypoints.astype(np.float64)))
    faces.sort(key=lambda f: -f.confidence)
    return faces


class FaceDetector:
    """MTCNN with a confidence threshold, optional downscaling and batching.

    Args:
        min_confidence: faces below this are dropped (default 0.9; see
            docs/design.md#what-the-stack-does-and-does-not-do).
        max_side: detect on a copy of the frame resized so that its longer side is at
            most this (``None``: full resolution). Coordinates are mapped back.
        min_face_size: smallest face searched for, in pixels of the full frame
            (MTCNN's pyramid starts there). It is capped at about 21-24 pixels, the most
            mtcnn 1.0 handles correctly (see :func:`_pyramid_safe`): for speed, use
            ``max_side``.
        batch_size: frames detected together (MTCNN batches equal-sized images; on
            one CPU core a batch of 8 halves the time per frame).
        device: TensorFlow device for MTCNN.

    Example:
        >>> detector = FaceDetector()                                  # doctest: +SKIP
        >>> faces = detector.detect(rgb_image)   # list of Face, best first
    """

    def __init__(self, min_confidence: float = DEFAULT_MIN_CONFIDENCE,
                 max_side: int | None = None, min_face_size: int = 20,
                 batch_size: int = 8, device: str = "CPU:0"):
        if not 0.0 < min_confidence <= 1.0:
            raise ValueError(f"min_confidence must be in (0, 1], got {min_confidence}")
        if max_side is not None and max_side < 24:
            raise ValueError(f"max_side must be at least 24 pixels (or None), got {max_side}")
        self.min_confidence, self.max_side = float(min_confidence), max_side
        self.min_face_size, self.batch_size = int(min_face_size), int(batch_size)
        self.device = device
        self.calls = 0  # frames passed to MTCNN

    def _prepare(self, image: np.ndarray) -> tuple[np.ndarray, float]:
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(f"detect needs an RGB uint8 (H, W, 3) image, got "
                             f"{image.dtype} {image.shape}")
        longer = max(image.shape[:2])
        if self.max_side is None or longer <= self.max_side:
            return image, 1.0
        scale = self.max_side / longer
        size = (max(1, round(image.shape[1] * scale)), max(1, round(image.shape[0] * scale)))
        return cv2.resize(image, size, interpolation=cv2.INTER_AREA), scale

    def detect_batch(self, images: Sequence[np.ndarray]) -> list[list[Face]]:
        """Faces in each image (images of one batch must share their size)."""
        if not len(images):
            return []
        prepared = [self._prepare(np.asarray(image)) for image in images]
        scale = prepared[0][1]
        small = [p[0] for p in prepared]
        if len({s.shape for s in small}) > 1:
            return [faces for image in images for faces in self.detect_batch([image])]
        min_face = _pyramid_safe(max(12, round(self.min_face_size * scale)),
                                 min(small[0].shape[:2]))
        model = mtcnn_model(self.device)
        self.calls += len(small)
        rows = model.detect_faces(
            small if len(small) > 1 else small[0], output_type="numpy", box_format="xyxy",
            min_face_size=min_face, threshold_onet=min(self.min_confidence, 0.99),
        )
        rows = np.asarray(rows, np.float64).reshape(-1, 16)
        rows = rows[rows[:, 5] >= self.min_confidence]
        return [_rows_to_faces(rows[rows[:, 0] == i], scale) for i in range(len(small))]

    def detect(self, image: np.ndarray) -> list[Face]:
        """Faces in one RGB uint8 image, most confident first (empty: none)."""
        return self.detect_batch([image])[0]

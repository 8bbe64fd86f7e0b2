"""Reading clips: video files and folders of frame images, as RGB uint8 frames.

A clip is a video file (``.mp4 .avi .mkv .mov .gif`` and whatever else OpenCV's FFmpeg
backend decodes), a folder of frame images (read in natural order: ``2.png`` before
``10.png``) or a single image (a one-frame clip). :class:`FrameSource` streams the
frames one at a time, so memory does not grow with the clip's length, and can be
iterated more than once (face tracking reads a clip in several passes). What was read
is reported in a :class:`ClipInfo`: frame rate, declared and decoded frame counts,
frame size and every decode error.

    >>> source = FrameSource("clip.mp4", target_fps=10)          # doctest: +SKIP
    >>> for index, frame in source:                               # doctest: +SKIP
    ...     ...                                                   # (H, W, 3) uint8 RGB
    >>> source.info.decoded_frames, source.info.errors            # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import os
import re
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np

VIDEO_EXTENSIONS = (".mp4", ".avi", ".mkv", ".mov", ".gif", ".webm", ".mpg", ".mpeg",
                    ".m4v", ".wmv", ".flv", ".3gp")
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".ppm",
                    ".pgm")


class VideoReadError(RuntimeError):
    """A clip that cannot be opened at all (the message names it and says why)."""


def natural_key(name: str) -> list:
    """Sort key that orders embedded numbers by value: ``f2.png`` < ``f10.png``."""
    return [int(part) if part.isdigit() else part.lower()
            for part in re.split(r"(\d+)", str(name))]


def is_video_file(path: str | os.PathLike) -> bool:
    return Path(path).suffix.lower() in VIDEO_EXTENSIONS


def is_image_file(path: str | os.PathLike) -> bool:
    return Path(path).suffix.lower() in IMAGE_EXTENSIONS


def list_frame_files(folder: str | os.PathLike) -> list[Path]:
    """The image files of a frame folder, in natural order (hidden files ignored)."""
    folder = Path(folder)
    files = [p for p in folder.iterdir()
             if p.is_file() and is_image_file(p) and not p.name.startswith(".")]
    return sorted(files, key=lambda p: natural_key(p.name))


def is_clip(path: str | os.PathLike) -> bool:
    """True for a video file or a folder that holds frame images."""
    path = Path(path)
    if path.is_file():
        return is_video_file(path) or is_image_file(path)
    return path.is_dir() and any(is_image_file(p) for p in path.iterdir())


@dataclasses.dataclass
class ClipInfo:
    """What reading one clip found.

    Attributes:
        path: the clip (file or folder).
        kind: ``"video"``, ``"frames"`` (a folder of images) or ``"image"``.
        fps: frames per second of the source (0.0 when unknown, e.g. a frame folder).
        declared_frames: frame count the container (or the folder listing) announces;
            for videos it is an estimate and may differ from what decodes.
        decoded_frames: frames actually decoded in the last full pass.
        selected_frames: frames yielded after ``target_fps``/``start``/``stop``.
        width, height: frame size (of the first decoded frame).
        errors: one line per decode problem (unreadable frame file, size change).
        warnings: one line per oddity that loses nothing (a container announcing a
            frame count other than what decodes, which is common).
    """

    path: str
    kind: str
    fps: float = 0.0
    declared_frames: int = 0
    decoded_frames: int = 0
    selected_frames: int = 0
    width: int = 0
    height: int = 0
    errors: list[str] = dataclasses.field(default_factory=list)
    warnings: list[str] = dataclasses.field(default_factory=list)

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


def to_rgb(image: np.ndarray) -> np.ndarray:
    """An OpenCV image (BGR, BGRA, grey, 16-bit) -> contiguous RGB uint8 (H, W, 3)."""
    if image.dtype == np.uint16:
        image = (image >> 8).astype(np.uint8)
    elif image.dtype != np.uint8:
        image = np.clip(image, 0, 255).astype(np.uint8)
    if image.ndim == 2 or (image.ndim == 3 and image.shape[2] == 1):
        return cv2.cvtColor(image.reshape(image.shape[:2]), cv2.COLOR_GRAY2RGB)
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2RGB)
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def read_image(path: str | os.PathLike) -> np.ndarray:
    """One image file -> RGB uint8; raises :class:`VideoReadError` if unreadable."""
    data = np.fromfile(str(path), dtype=np.uint8)  # works with any file name
    image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
    if image is None:
        raise VideoReadError(f"{path}: not a readable image")
    return to_rgb(image)


class FrameSource:
    """The frames of one clip, streamed; iterate as often as needed.

    Args:
        path: a video file, a folder of frame images, or one image file.
        target_fps: keep about this many frames per second (uniform selection of the
            frames nearest to ``k / target_fps`` seconds), e.g. 10 for MMI as in
            STC-NLSTM Sec. 4.1. ``None`` keeps every frame; ignored when the source's
            frame rate is unknown.
        start, stop: keep only decoded frames ``start <= i < stop`` (indices into the
            decoded frames, before ``target_fps``).

    Iterating yields ``(index, frame)``: ``index`` counts the decoded frames of the
    source, ``frame`` is (H, W, 3) uint8 RGB. After a full pass ``info`` holds the
    counts and the errors of that pass. Frames whose size differs from the first one
    are reported and left out (a model needs one frame size per clip).
    """

    def __init__(self, path: str | os.PathLike, target_fps: float | None = None,
                 start: int = 0, stop: int | None = None):
        self.path = Path(path)
        self.target_fps, self.start, self.stop = target_fps, int(start), stop
        if not self.path.exists():
            raise VideoReadError(f"{self.path}: no such file or folder")
        if self.path.is_dir():
            self._files = list_frame_files(self.path)
            if not self._files:
                raise VideoReadError(f"{self.path}: folder holds no frame images "
                                     f"({', '.join(IMAGE_EXTENSIONS)})")
            self.info = ClipInfo(str(self.path), "frames", 0.0, len(self._files))
        elif is_image_file(self.path):
            self._files = [self.path]
            self.info = ClipInfo(str(self.path), "image", 0.0, 1)
        else:
            self._files = None
            cap = cv2.VideoCapture(str(self.path))
            try:
                if not cap.isOpened():
                    raise VideoReadError(
                        f"{self.path}: OpenCV cannot open this video (unknown format or "
                        f"damaged file)")
                fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
                count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
            finally:
                cap.release()
            self.info = ClipInfo(str(self.path), "video", fps if np.isfinite(fps) else 0.0,
                                 max(count, 0))

    @property
    def fps(self) -> float:
        """Frame rate of the frames yielded (after ``target_fps``)."""
        if self.target_fps and self.info.fps > self.target_fps:
            return float(self.target_fps)
        return self.info.fps

    def _keep(self, index: int, next_time: list[float]) -> bool:
        if index < self.start or (self.stop is not None and index >= self.stop):
            return False
        if not self.target_fps or not self.info.fps or self.info.fps <= self.target_fps:
            return True
        # Keep the first frame at or after each multiple of 1/target_fps seconds.
        t = (index - self.start) / self.info.fps
        if t + 1e-6 >= next_time[0]:
            next_time[0] += 1.0 / self.target_fps
            return True
        return False

    def _decoded(self) -> Iterator[tuple[int, np.ndarray | None, str | None]]:
        """(index, frame or None, error or None) for every frame of the source."""
        if self._files is not None:
            for i, file in enumerate(self._files):
                try:
                    yield i, read_image(file), None
                except VideoReadError as error:
                    yield i, None, str(error)
            return
        cap = cv2.VideoCapture(str(self.path))
        if not cap.isOpened():
            raise VideoReadError(f"{self.path}: OpenCV cannot open this video")
        try:
            i = 0
            while True:
                ok, frame = cap.read()
                if not ok:
                    break
                yield i, to_rgb(frame), None
                i += 1
        finally:
            cap.release()

    def __iter__(self) -> Iterator[tuple[int, np.ndarray]]:
        errors: list[str] = []
        warnings: list[str] = []
        decoded = selected = 0
        shape = None
        next_time = [0.0]
        for i, frame, error in self._decoded():
            if error is not None:
                errors.append(f"frame {i}: {error}")
                continue
            decoded += 1
            if shape is None:
                shape = frame.shape
            elif frame.shape != shape:
                errors.append(f"frame {i}: size {frame.shape[1]}x{frame.shape[0]} differs "
                              f"from the first frame's {shape[1]}x{shape[0]}; left out")
                continue
            if self.stop is not None and i >= self.stop:
                break
            if self._keep(i, next_time):
                selected += 1
                yield i, frame
        info = self.info
        if (info.kind == "video" and self.stop is None and info.declared_frames
                and decoded != info.declared_frames):
            # Containers often announce a frame count that is off by a few frames;
            # report it, it is not an error.
            warnings.append(f"decoded {decoded} frames, the container announced "
                            f"{info.declared_frames}")
        info.decoded_frames, info.selected_frames = decoded, selected
        info.errors, info.warnings = errors, warnings
        if shape is not None:
            info.height, info.width = int(shape[0]), int(shape[1])

    def frames(self) -> Iterator[np.ndarray]:
        """The frames only (no indices)."""
        for _, frame in self:
            yield frame


class CameraSource:
    """Frames of a camera (an OpenCV capture device), as :class:`FrameSource` yields them.

    Args:
        device: OpenCV device number (0: the first camera).
        max_frames: stop after this many frames (``None``: until the camera stops or the
            reader stops iterating, e.g. on Ctrl-C).
        fps: the rate to report when the device does not say (OpenCV gives 0 for many
            webcams).
    """

    def __init__(self, device: int = 0, max_frames: int | None = None, fps: float = 30.0):
        self.device, self.max_frames = int(device), max_frames
        self.path = f"camera {self.device}"
        self._capture = cv2.VideoCapture(self.device)
        if not self._capture.isOpened():
            self._capture.release()
            raise VideoReadError(f"camera {self.device}: OpenCV cannot open this device")
        reported = float(self._capture.get(cv2.CAP_PROP_FPS) or 0.0)
        self.fps = reported if np.isfinite(reported) and reported > 0 else float(fps)
        self.info = ClipInfo(self.path, "camera", self.fps)

    def __iter__(self) -> Iterator[tuple[int, np.ndarray]]:
        index = 0
        try:
            while self.max_frames is None or index < self.max_frames:
                ok, frame = self._capture.read()
                if not ok:
                    break
                frame = to_rgb(frame)
                if index == 0:
                    self.info.height, self.info.width = frame.shape[:2]
                yield index, frame
                index += 1
        finally:
            self.info.decoded_frames = self.info.selected_frames = index

    def close(self) -> None:
        self._capture.release()


def read_clip(path: str | os.PathLike, max_frames: int | None = None,
              **source_args) -> tuple[np.ndarray, ClipInfo]:
    """All (or the first ``max_frames``) frames of a clip as (T, H, W, 3) uint8 RGB.

    Holds the whole clip in memory: for tests and short clips. Long clips should be
    streamed with :class:`FrameSource`.
    """
    source = FrameSource(path, **source_args)
    frames = []
    for _, frame in source:
        frames.append(frame)
        if max_frames is not None and len(frames) >= max_frames:
            break
    if not frames:
        raise VideoReadError(f"{path}: no frame could be decoded "
                             f"({'; '.join(source.info.errors) or 'empty'})")
    return np.stack(frames), source.info

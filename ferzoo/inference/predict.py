"""Expressions over time in a user's video, for every face: frames -> faces -> windows
-> a timeline, streamed.

    >>> predictor = Predictor("exports/stcam/stcam_int8.tflite")        # doctest: +SKIP
    >>> timeline = predictor.predict("talk.mp4", out_dir="talk_stcam")  # doctest: +SKIP
    >>> timeline.summary()["faces"][0]["dominant_expression"]          # doctest: +SKIP
    'happiness'
    >>> for result in predictor.stream(FrameSource("talk.mp4")):      # doctest: +SKIP
    ...     print(result.face, result.end_frame, result.top_label)

The model can be a Keras run folder, ``.keras`` or ``.weights.h5`` file (with its
registered name), an export folder or SavedModel, a ``.tflite`` or a ``.onnx`` file
(:class:`ferzoo.export.runtime.Runtime` runs them all alike), or the authors' released
LSTPNet checkpoint (``.pth``, converted on the fly; ``.npz`` of the same names).

What happens to a video (:meth:`Predictor.stream`, one frame at a time):

1. its frames are read (``ferzoo.video.io.FrameSource`` or ``CameraSource``);
2. every face is detected and followed with a stable id
   (``ferzoo.video.faces.multi.MultiFaceTracker``; the fast BlazeFace detector when
   installed, else MTCNN) and aligned on the eyes at the model's H x W; clips that are
   already face crops can skip this (``face_crops=True``: one face, id 0);
3. each face has its own window of ``span`` aligned frames sliding ``stride`` frames at
   a time (``ferzoo.inference.stream``); the model's T frames are taken from it
   (consecutive, or LSTPNet's 8 segments x 2); the flow stream of two-stream models is
   computed from the aligned frames as the converters store it;
4. each window's class probabilities (optionally smoothed over time per face) make one
   row of the :class:`~ferzoo.inference.timeline.Timeline`: ``timeline.csv``,
   ``summary.json``, ``timeline.png`` (one panel per face) and, if asked, an annotated
   mp4 (each face's box, id and current label).

Memory holds one window per face, not the video. A video without any face raises
:class:`NoFaceFound`; ``ferzoo predict`` prints the reason and exits with status 1.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

import numpy as np

from ferzoo.data.photometric import photometric_settings, preprocess_clip
from ferzoo.data.schema import quantize_flow
from ferzoo.export.runtime import KerasRuntime, Runtime, open_runtime
from ferzoo.inference.loading import load_trained
from ferzoo.inference.stream import SAMPLINGS, FaceWindows, Smoother, Window
from ferzoo.inference.timeline import Timeline
from ferzoo.video.faces import FaceDetector, square_resize
from ferzoo.video.faces.multi import FaceOnFrame, MultiFaceOptions, MultiFaceTracker
from ferzoo.video.flow import compute_flow
from ferzoo.video.io import FrameSource, VideoReadError

# MTCNN runs on frames scaled down to this longer side (about 2x faster on HD video;
# faces of 40 px at 640 px wide stay above MTCNN's 20 px minimum).
DETECT_SIDE = 640
DETECTORS = ("auto", "fast", "mtcnn")

__all__ = ["Predictor", "PredictError", "NoFaceFound", "Timeline", "WindowResult",
           "make_detector", "flow_input", "artefact_metadata", "DETECTORS"]


class PredictError(RuntimeError):
    """A video the predictor cannot give a timeline for; the message says why."""


class NoFaceFound(PredictError):
    """No face in the video."""


@dataclasses.dataclass
class WindowResult:
    """The model's answer for one face's window.

    Attributes:
        face: face id.
        start_frame, end_frame: first and last source frame of the window.
        box: the face's mean box over the window (x1, y1, x2, y2).
        probabilities: (classes,) after smoothing (the raw ones when it is off).
        raw: (classes,) the model's own output.
        labels: class names.
    """

    face: int
    start_frame: int
    end_frame: int
    box: np.ndarray
    probabilities: np.ndarray
    raw: np.ndarray
    labels: Sequence[str]

    @property
    def top_label(self) -> str:
        return self.labels[int(np.argmax(self.probabilities))]


def make_detector(kind: str = "auto", max_side: int | None = DETECT_SIDE):
    """``(detector, name)``: ``"fast"`` (BlazeFace, needs ``ferzoo[fast]``), ``"mtcnn"``,
    or ``"auto"`` (the fast one when installed, else MTCNN)."""
    if kind not in DETECTORS:
        raise ValueError(f"unknown detector {kind!r}; use one of {DETECTORS}")
    if kind in ("auto", "fast"):
        from ferzoo.video.faces.blazeface import BlazeFaceDetector, FastDetectorUnavailable

        try:
            return BlazeFaceDetector(), "fast (BlazeFace full-range, LiteRT)"
        except FastDetectorUnavailable:
            if kind == "fast":
                raise
    return FaceDetector(max_side=max_side), "mtcnn"


class Predictor:
    """A model (any format) plus the steps from a video to a per-face timeline.

    Args:
        weights: a run folder, ``.keras``, ``.weights.h5`` (needs ``model``), export
            folder, SavedModel folder, ``.tflite``, ``.onnx``, or LSTPNet's released
            ``.pth`` (or ``.npz``) checkpoint; ``None`` builds ``model`` untrained.
        model: registered model name (needed for ``.weights.h5``; otherwise it only
            adds metadata).
        preset, overrides: how ``model`` was built for ``.weights.h5`` files.
        labels: class names, or the name of a dataset's label order (``dfew``,
            ``ferv39k``, ``afew``: ``ferzoo.weights.lstpnet.LABEL_SETS``); default: those
            recorded with the weights or the export, else ``class_0`` ...
        stride: frames between a face's windows (default T // 2, at least 1).
        fps: thin the video to about this many frames per second first (``None``: all).
        face_crops: the frames are already face crops (one face): pad to a square and
            resize instead of detecting faces.
        detector: ``"auto"`` (fast BlazeFace when installed, else MTCNN), ``"fast"`` or
            ``"mtcnn"``; or a detector object.
        face_options: :class:`~ferzoo.video.faces.multi.MultiFaceOptions` (how many
            faces, smallest face, re-identification); ``max_faces`` and
            ``min_face_size`` override its two most used settings.
        span: frames of a face per window (default T; 2 T for LSTPNet checkpoints).
        sampling: how the T model frames are taken from the span: ``"consecutive"`` or
            ``"segments"`` (LSTPNet; default for its checkpoints).
        smooth: time constant in seconds of an exponential average of each face's
            probabilities over its windows (``None``: off).
        num_threads: CPU threads of the TFLite / ONNX runtime.
        batch_size: windows per model call.
    """

    def __init__(
        self,
        weights: str | os.PathLike | None = None,
        model: str | None = None,
        preset: str | None = None,
        overrides: Mapping[str, Any] | None = None,
        labels: Sequence[str] | str | None = None,
        stride: int | None = None,
        fps: float | None = None,
        face_crops: bool = False,
        detector: Any = "auto",
        face_options: MultiFaceOptions | None = None,
        max_faces: int | None = None,
        min_face_size: int | None = None,
        span: int | None = None,
        sampling: str | None = None,
        smooth: float | None = None,
        num_threads: int | None = None,
        batch_size: int = 8,
    ):
        self.runtime, meta = _open_model(weights, model, preset, overrides, num_threads)
        self.name = meta.get("name") or model or "model"
        shapes = self.runtime.clip_shapes
        unknown = set(shapes) - {"video", "flow"}
        if unknown or "video" not in shapes:
            raise PredictError(f"the model's inputs {sorted(shapes)} are not the clip streams "
                               f"video[, flow]; export it with ferzoo.export")
        self.frames, height, width, self.channels = shapes["video"]
        if height != width:
            raise PredictError(f"aligned faces are square; the model takes {height}x{width}")
        self.image_size = height
        self.flow_frames = shapes["flow"][0] if "flow" in shapes else None
        classes = self.runtime({k: np.zeros((1, *s), np.float32) for k, s in shapes.items()})
        self.num_classes = int(next(iter(classes.values())).shape[-1])
        labels = resolve_labels(labels) or list(meta.get("labels") or [])
        if labels and len(labels) != self.num_classes:
            raise PredictError(f"{len(labels)} labels for a model with {self.num_classes} "
                               f"classes: {labels}")
        self.labels = labels or [f"class_{i}" for i in range(self.num_classes)]
        # the photometric steps of the weights' recipe (equalisation, standardisation)
        self.photometric = meta.get("photometric")
        self.sampling = sampling or meta.get("sampling") or "consecutive"
        if self.sampling not in SAMPLINGS:
            raise ValueError(f"unknown sampling {self.sampling!r}; use one of {SAMPLINGS}")
        self.span = int(span or meta.get("span") or self.frames)
        if self.span < 1 or (self.sampling == "consecutive" and self.span != self.frames):
            raise ValueError(f"span {self.span}: consecutive sampling takes span = T = "
                             f"{self.frames} frames")
        self.stride = stride or max(1, self.span // 2)
        if self.stride < 1:
            raise ValueError(f"stride must be >= 1, got {stride}")
        if smooth is not None and smooth <= 0:
            raise ValueError(f"--smooth takes seconds > 0, got {smooth}")
        self.fps, self.face_crops, self.batch_size = fps, face_crops, batch_size
        self.smooth = smooth
        options = face_options or MultiFaceOptions()
        changes = {k: v for k, v in (("max_faces", max_faces), ("min_face_size", min_face_size))
                   if v is not None}
        self.face_options = dataclasses.replace(options, align_size=self.image_size, **changes)
        self.detector_kind = detector
        self._detector = None
        self.detector_name = None

    # ------------------------------------------------------------------------ steps

    def detector(self):
        """The face detector (made on first use)."""
        if self._detector is None:
            if isinstance(self.detector_kind, str):
                self._detector, self.detector_name = make_detector(self.detector_kind)
            else:
                self._detector = self.detector_kind
                self.detector_name = type(self.detector_kind).__name__
        return self._detector

    def inputs(self, window: np.ndarray) -> dict[str, np.ndarray]:
        """Model inputs of one window of T aligned frames: {stream: (T, S, S, C)}."""
        feed = {"video": _video_input(window, self.channels)}
        if self.flow_frames is not None:
            feed["flow"] = flow_input(window, self.flow_frames)
        return feed

    def batch_inputs(self, windows: Sequence[np.ndarray]) -> dict[str, np.ndarray]:
        """A batch of windows, prepared as in training: the recipe's photometric steps
        (recorded with the weights) applied to the video."""
        feeds = [self.inputs(w) for w in windows]
        batch = {k: np.stack([f[k] for f in feeds]) for k in feeds[0]}
        if self.photometric:
            batch["video"] = np.asarray(preprocess_clip(batch["video"], self.photometric))
        return batch

    def run(self, windows: Sequence[np.ndarray]) -> np.ndarray:
        """Probabilities (N, classes) of N windows of aligned frames."""
        out = []
        for i in range(0, len(windows), self.batch_size):
            result = self.runtime(self.batch_inputs(windows[i:i + self.batch_size]))
            out.append(result.get("probabilities", next(iter(result.values()))))
        return np.concatenate(out)

    def _faces_of(self, frames: Iterable, tracker: MultiFaceTracker | None
                  ) -> Iterator[tuple[int, np.ndarray, list[FaceOnFrame]]]:
        if tracker is not None:
            yield from tracker.follow(frames)
            return
        for position, item in enumerate(frames):  # face crops: the frame is the face
            index, frame = item if isinstance(item, tuple) else (position, item)
            h, w = frame.shape[:2]
            yield index, frame, [FaceOnFrame(0, np.array([0.0, 0.0, w, h]), np.zeros((5, 2)),
                                             True, 1.0, square_resize(frame, self.image_size))]

    def stream(self, frames: Iterable, fps: float = 0.0,
               observer: Callable[[int, np.ndarray, list[FaceOnFrame]], None] | None = None,
               ) -> Iterator[WindowResult]:
        """Each window's result as soon as its last frame has arrived.

        Args:
            frames: ``(index, frame)`` pairs (a ``FrameSource``, a ``CameraSource``) or
                bare RGB uint8 frames.
            fps: the frames' rate (for ``smooth``; 0: unknown, time in frames).
            observer: called with ``(index, frame, faces)`` after each frame's results
                have been yielded (annotation, statistics).

        Memory: one window (``span`` aligned frames) per face followed, and a batch of
        keyframes for the detector.
        """
        tracker = None if self.face_crops else MultiFaceTracker(self.detector(),
                                                                self.face_options)
        self.tracker = tracker
        smoother = Smoother(self.smooth, fps) if self.smooth else None
        windows: dict[int, FaceWindows] = {}
        for index, frame, faces in self._faces_of(frames, tracker):
            ready: list[Window] = []
            for face in faces:
                buffer = windows.get(face.id)
                if buffer is None:
                    buffer = windows[face.id] = FaceWindows(face.id, self.span, self.frames,
                                                            self.stride, self.sampling)
                window = buffer.add(index, face.aligned, face.box)
                if window is not None:
                    ready.append(window)
            if tracker is not None:  # faces lost: their last windows
                active = tracker.active_ids()
                for face_id in [f for f in windows if f not in active]:
                    window = windows.pop(face_id).finish()
                    if window is not None:
                        ready.append(window)
            yield from self._results(ready, smoother)
            if observer is not None:
                observer(index, frame, faces)
        yield from self._results([w for w in (b.finish() for b in windows.values())
                                  if w is not None], smoother)

    def _results(self, windows: list[Window], smoother: Smoother | None
                 ) -> Iterator[WindowResult]:
        if not windows:
            return
        probabilities = self.run([w.frames for w in windows])
        for window, raw in zip(windows, probabilities):
            raw = np.asarray(raw, np.float64)
            smoothed = raw if smoother is None else smoother(
                window.face, (window.start_frame + window.end_frame) / 2, raw)
            yield WindowResult(window.face, window.start_frame, window.end_frame, window.box,
                               smoothed, raw, self.labels)

    def open(self, video: Any) -> Any:
        """A frame source: a path (file, frame folder, image) or a source already open."""
        if isinstance(video, (str, os.PathLike)):
            try:
                return FrameSource(video, target_fps=self.fps)
            except VideoReadError as error:
                raise PredictError(str(error)) from error
        return video

    def predict(self, video: Any, out_dir: str | os.PathLike | None = None,
                annotate: bool = False, max_frames: int | None = None) -> Timeline:
        """The timeline of ``video`` (a path, or a source such as ``CameraSource``); with
        ``out_dir``, also ``timeline.csv``, ``summary.json``, ``timeline.png`` and
        (``annotate``) ``annotated.mp4`` there.

        Raises:
            NoFaceFound: no face in the video.
            PredictError: the video cannot be read.
        """
        source = self.open(video)
        name = str(getattr(source, "path", video))
        fps = float(getattr(source, "fps", 0.0) or 0.0)
        if annotate and out_dir is None:
            raise ValueError("annotate needs an output folder")
        out = Path(out_dir) if out_dir is not None else None
        if out is not None:
            out.mkdir(parents=True, exist_ok=True)
        stats: dict[int, dict[str, int]] = {}
        thumbnails: dict[int, np.ndarray] = {}
        current: dict[int, WindowResult] = {}
        counter = {"frames": 0, "detected": 0}
        annotator = Annotator(out / "annotated.mp4", fps or 10.0, self.labels) \
            if annotate else None

        def observe(index, frame, faces):
            counter["frames"] += 1
            for face in faces:
                seen = stats.setdefault(face.id, {"frames": 0, "first": index, "last": index})
                seen["frames"] += 1
                seen["last"] = index
                counter["detected"] += int(face.detected)
                if face.id not in thumbnails or (seen["frames"] == 8 and face.detected):
                    thumbnails[face.id] = face.aligned
            if annotator is not None:
                annotator.write(frame, faces, current)

        results = []
        frames = _limited(source, max_frames) if max_frames else source
        live = hasattr(source, "device")  # a camera: Ctrl-C ends it, the files are written
        stopped = None
        try:
            for result in self.stream(frames, fps, observe):
                results.append(result)
                current[result.face] = result
        except VideoReadError as error:
            raise PredictError(str(error)) from error
        except KeyboardInterrupt:
            if not live:
                raise
            stopped = "interrupted (Ctrl-C); the windows not finished then are left out"
        finally:
            if annotator is not None:
                annotator.close()
        if counter["frames"] == 0:
            raise PredictError(f"{name}: no frame could be decoded")
        if not results:
            detector = self.detector_name or "the detector"
            raise NoFaceFound(f"{name}: no face found in any of {counter['frames']} frames "
                              f"({detector}, faces of at least "
                              f"{self.face_options.min_face_size} px)")
        notes = {"model": self.name, "runtime": self.runtime.format,
                 "faces": "given (face crops)" if self.face_crops else self.detector_name,
                 "frames_read": counter["frames"], "frames_detected": counter["detected"],
                 "window": self.frames, "span": self.span,
                 "sampling": self.sampling, "stride": self.stride, "windows": len(results)}
        if getattr(self, "tracker", None) is not None:
            notes["faces_reidentified"] = self.tracker.reidentified
        if stopped:
            notes["stopped"] = stopped
        timeline = Timeline(
            name, self.labels, np.stack([r.probabilities for r in results]),
            np.array([r.start_frame for r in results]), np.array([r.end_frame for r in results]),
            fps, notes=notes, faces=np.array([r.face for r in results]),
            boxes=np.stack([r.box for r in results]),
            smoothing=f"ema {self.smooth:g} s" if self.smooth else "none",
            face_frames=stats, thumbnails=thumbnails)
        order = np.lexsort((timeline.start_frames, timeline.faces))
        timeline = _reorder(timeline, order)
        if out is not None:
            timeline.files["csv"] = str(timeline.write_csv(out / "timeline.csv"))
            timeline.files["summary"] = str(out / "summary.json")
            timeline.files["plot"] = str(timeline.plot(
                out / "timeline.png", title=f"{Path(name).name}: {self.name} "
                                            f"({self.runtime.format})"))
            if annotator is not None:
                timeline.files["video"] = str(annotator.path)
            summary = timeline.summary()
            summary["files"] = timeline.files
            (out / "summary.json").write_text(json.dumps(summary, indent=1, default=str))
        return timeline


def resolve_labels(labels: Sequence[str] | str | None) -> list[str] | None:
    """Class names: a list as given, or a named dataset order (``dfew`` ...)."""
    if labels is None:
        return None
    if isinstance(labels, str):
        labels = [labels]
    labels = list(labels)
    if len(labels) == 1:
        from ferzoo.weights.lstpnet import LABEL_SETS

        key = labels[0].lower()
        if key in LABEL_SETS:
            return list(LABEL_SETS[key])
    return labels


def _limited(source: Iterable, count: int) -> Iterator:
    for position, item in enumerate(source):
        if position >= count:
            return
        yield item


def _reorder(timeline: Timeline, order: np.ndarray) -> Timeline:
    """Rows sorted by face, then start frame."""
    return dataclasses.replace(
        timeline, probabilities=timeline.probabilities[order],
        start_frames=timeline.start_frames[order], end_frames=timeline.end_frames[order],
        faces=timeline.faces[order], boxes=timeline.boxes[order])


# ------------------------------------------------------------------------ helpers


CHECKPOINT_SUFFIXES = (".pth", ".pt", ".npz")


def _open_model(weights, model, preset, overrides, num_threads) -> tuple[Runtime, dict]:
    """A runtime for any model file, and what is known about it (name, labels)."""
    path = Path(weights) if weights is not None else None
    if path is not None and path.suffix in CHECKPOINT_SUFFIXES:
        return _open_lstpnet_checkpoint(path, model, overrides)
    if path is not None and path.is_dir() and (path / "model_card.json").exists() \
            and not (path / "saved_model.pb").exists():
        path = _export_folder_artefact(path)
    exported = path is not None and (
        path.suffix in (".tflite", ".onnx") or (path / "saved_model.pb").exists())
    if exported:
        meta = artefact_metadata(path)
        if model:
            meta.setdefault("name", model)
        return open_runtime(path, num_threads=num_threads), meta
    trained = load_trained(weights, model, preset, overrides)
    runtime = KerasRuntime(trained.model, head="softmax")
    meta = {"name": trained.name, "labels": trained.labels,
            "photometric": photometric_settings(trained.augment)}
    if trained.name == "lstpnet":
        meta["sampling"] = "segments"
    return runtime, meta


def _open_lstpnet_checkpoint(path: Path, model, overrides) -> tuple[Runtime, dict]:
    """The authors' LSTPNet checkpoint, converted in memory (16 frames of 224 x 224, in
    [0, 1], no mean/std; windows of 32 frames as 8 segments x 2)."""
    from ferzoo.weights.lstpnet import load_state_dict, lstpnet_from_torch

    if model not in (None, "lstpnet"):
        raise ValueError(f"{path.name}: a {path.suffix} checkpoint is read as LSTPNet's, "
                         f"not {model!r}")
    build = {"frames": 16, "image_size": 224, **dict(overrides or {})}
    keras_model = lstpnet_from_torch(load_state_dict(path), **build)
    frames = int(keras_model.inputs[0].shape[1])
    return KerasRuntime(keras_model, head="softmax"), {
        "name": "lstpnet", "sampling": "segments", "span": 2 * frames,
        "source": f"{path} (converted from PyTorch)"}


def _export_folder_artefact(folder: Path) -> Path:
    """The artefact of an export folder to run: SavedModel, else ONNX, else TFLite
    (float32 first)."""
    candidates = [folder / "saved_model", *sorted(folder.glob("*.onnx")),
                  *sorted(folder.glob("*_float32.tflite")), *sorted(folder.glob("*.tflite"))]
    for candidate in candidates:
        if candidate.exists():
            return candidate
    raise FileNotFoundError(f"{folder} has a model card but no SavedModel, .onnx or .tflite")


def artefact_metadata(path: str | os.PathLike) -> dict[str, Any]:
    """Name and labels from the ``model_card.json`` that ``ferzoo.export`` wrote beside
    an artefact (empty if there is none)."""
    path = Path(path)
    for folder in (path.parent, path.parent.parent):
        card = folder / "model_card.json"
        if card.exists():
            data = json.loads(card.read_text())
            meta = {"name": data.get("name"), "labels": data.get("labels"),
                    "photometric": data.get("photometric")}
            if data.get("name") == "lstpnet":
                meta["sampling"] = "segments"
            return meta
    return {}


def _video_input(frames: np.ndarray, channels: int) -> np.ndarray:
    """uint8 RGB (T, S, S, 3) -> float32 (T, S, S, C) in [0, 1], as the pipeline gives."""
    x = frames.astype(np.float32) / 255.0
    if channels == 1:  # ITU-R 601 luma, as tf.image.rgb_to_grayscale
        x = (x @ np.array([0.2989, 0.5870, 0.1140], np.float32))[..., None]
    return x


def flow_input(frames: np.ndarray, steps: int) -> np.ndarray:
    """The flow stream of a window of aligned frames, encoded as the TFRecords store it
    (``ferzoo.data.schema.quantize_flow``) and scaled to [0, 1] as the pipeline reads it:
    (steps, S, S, 3) float32."""
    flow = compute_flow(frames)  # (T-1, S, S, 2) pixels
    if len(flow) < steps:
        flow = np.concatenate([flow, np.repeat(flow[-1:], steps - len(flow), axis=0)])
    return quantize_flow(flow[:steps]).astype(np.float32) / 255.0


FACE_COLOURS = [(0, 220, 0), (255, 160, 0), (0, 160, 255), (220, 0, 220), (0, 220, 220),
                (220, 220, 0), (128, 0, 255), (255, 64, 64)]  # BGR


class Annotator:
    """The video with each face's box, id and current label drawn, frame by frame (mp4v).

    The label of a face is that of its latest finished window: live, as a camera
    would show it (it trails the face by up to one window)."""

    def __init__(self, path: str | os.PathLike, fps: float, labels: Sequence[str]):
        self.path, self.fps, self.labels = Path(path), float(fps), list(labels)
        self.writer = None
        self.frames = 0

    def write(self, frame: np.ndarray, faces: Sequence[FaceOnFrame],
              current: Mapping[int, WindowResult]) -> None:
        import cv2

        if self.writer is None:
            h, w = frame.shape[:2]
            self.writer = cv2.VideoWriter(str(self.path), cv2.VideoWriter_fourcc(*"mp4v"),
                                          self.fps, (w, h))
            if not self.writer.isOpened():
                raise PredictError(f"OpenCV cannot write {self.path} (mp4v)")
        image = cv2.cvtColor(frame, cv2.COLOR_RGB2BGR)
        for face in faces:
            colour = FACE_COLOURS[face.id % len(FACE_COLOURS)]
            x1, y1, x2, y2 = (int(round(v)) for v in face.box)
            cv2.rectangle(image, (x1, y1), (x2, y2), colour, 2)
            text = f"face {face.id}"
            result = current.get(face.id)
            if result is not None:
                k = int(np.argmax(result.probabilities))
                text += f": {self.labels[k]} {result.probabilities[k]:.2f}"
            (tw, th), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, 0.5, 1)
            y = max(th + 4, y1 - 4)
            cv2.rectangle(image, (x1, y - th - 4), (x1 + tw + 4, y + 3), colour, -1)
            cv2.putText(image, text, (x1 + 2, y), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1,
                        cv2.LINE_AA)
        self.writer.write(image)
        self.frames += 1

    def close(self) -> None:
        if self.writer is not None:
            self.writer.release()

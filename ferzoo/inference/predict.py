"""Expressions over time in a user's video: faces -> sliding windows -> a timeline.

    >>> predictor = Predictor("exports/stcam/stcam_int8.tflite")        # doctest: +SKIP
    >>> timeline = predictor.predict("talk.mp4", out_dir="talk_stcam")  # doctest: +SKIP
    >>> timeline.top_labels()[:3]                                       # doctest: +SKIP
    ['happiness', 'happiness', 'surprise']

The model can be a Keras run folder, ``.keras`` or ``.weights.h5`` file (with its
registered name), an export folder or SavedModel, a ``.tflite`` or a ``.onnx`` file:
:class:`ferzoo.export.runtime.Runtime` runs them all alike.

What happens to a video:

1. its frames are read (``ferzoo.video.io.FrameSource``, optionally thinned to
   ``fps`` frames per second);
2. one face is found, followed and aligned on the eyes at the model's H x W
   (``ferzoo.video.faces.align_clip``; frames in long runs without a face are
   dropped); clips that are already face crops can skip this (``face_crops=True``);
3. a window of the model's T consecutive face frames slides over the clip, ``stride``
   frames at a time (a clip shorter than T repeats its last frame, as STC-NLSTM's
   length normalisation does); the flow stream of two-stream models is computed from
   the aligned frames as the converters store it;
4. each window's class probabilities make one row of the timeline: written as CSV, as a
   PNG plot of every class over time and, if asked, as an annotated mp4 (mp4v).

A video without any face raises :class:`NoFaceFound` with the reason; ``ferzoo predict``
prints it and exits with status 1.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import os
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from ferzoo.data.photometric import photometric_settings, preprocess_clip
from ferzoo.data.schema import quantize_flow
from ferzoo.export.runtime import KerasRuntime, Runtime, open_runtime
from ferzoo.inference.loading import load_trained
from ferzoo.video.faces import FaceOptions, NoFaceError, align_clip, square_resize
from ferzoo.video.flow import compute_flow
from ferzoo.video.io import FrameSource, VideoReadError

# Faces are detected on frames scaled down to this longer side (about 2x faster on HD
# video; faces of 40 px at 640 px wide stay above MTCNN's 20 px minimum).
DETECT_SIDE = 640


class PredictError(RuntimeError):
    """A video the predictor cannot give a timeline for; the message says why."""


class NoFaceFound(PredictError):
    """No face in the video (or none left after dropping long gaps)."""


@dataclasses.dataclass
class Timeline:
    """Per-window class probabilities of one video.

    Attributes:
        video: the video's path.
        labels: class names, in output order.
        probabilities: (windows, classes).
        start_frames, end_frames: first and last source frame index of each window.
        fps: frame rate of the source (0 if unknown: times are then frame indices).
        files: paths written (``csv``, ``plot``, ``video``).
        notes: how the faces were found, windows padded, etc.
    """

    video: str
    labels: list[str]
    probabilities: np.ndarray
    start_frames: np.ndarray
    end_frames: np.ndarray
    fps: float
    files: dict[str, str] = dataclasses.field(default_factory=dict)
    notes: dict[str, Any] = dataclasses.field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.probabilities)

    def times(self, frames: np.ndarray) -> np.ndarray:
        return frames / self.fps if self.fps else frames.astype(float)

    def top_labels(self) -> list[str]:
        return [self.labels[i] for i in self.probabilities.argmax(-1)]

    def rows(self) -> list[dict[str, Any]]:
        """One dict per window: frames, times, every class's probability, the top class."""
        out = []
        starts, ends = self.times(self.start_frames), self.times(self.end_frames)
        for i, probs in enumerate(self.probabilities):
            row = {"window": i, "start_frame": int(self.start_frames[i]),
                   "end_frame": int(self.end_frames[i]),
                   "start_s": round(float(starts[i]), 3) if self.fps else "",
                   "end_s": round(float(ends[i]), 3) if self.fps else ""}
            row.update({label: round(float(p), 5) for label, p in zip(self.labels, probs)})
            row["top_label"] = self.labels[int(probs.argmax())]
            row["top_probability"] = round(float(probs.max()), 5)
            out.append(row)
        return out

    def write_csv(self, path: str | os.PathLike) -> Path:
        path = Path(path)
        rows = self.rows()
        with open(path, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
        return path

    def plot(self, path: str | os.PathLike, title: str = "") -> Path:
        """A PNG of every class's probability over time (window centres)."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        centres = self.times((self.start_frames + self.end_frames) / 2)
        fig, ax = plt.subplots(figsize=(9, 3.6), dpi=100)
        for k, label in enumerate(self.labels):
            ax.plot(centres, self.probabilities[:, k], marker="o" if len(self) < 30 else None,
                    markersize=3, linewidth=1.6, label=label)
        ax.set_ylim(-0.02, 1.02)
        ax.set_xlabel("time (s)" if self.fps else "frame")
        ax.set_ylabel("probability")
        ax.set_title(title or Path(self.video).name)
        ax.grid(alpha=0.3)
        ax.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8, frameon=False)
        fig.tight_layout()
        fig.savefig(path)
        plt.close(fig)
        return Path(path)


class Predictor:
    """A model (any format) plus the steps from a video to a timeline of expressions.

    Args:
        weights: a run folder, ``.keras``, ``.weights.h5`` (needs ``model``), export
            folder, SavedModel folder, ``.tflite`` or ``.onnx``; ``None`` builds
            ``model`` untrained (for trying the pipeline).
        model: registered model name (needed for ``.weights.h5``; otherwise it only
            adds metadata).
        preset, overrides: how ``model`` was built for ``.weights.h5`` files.
        labels: class names (default: those recorded with the weights or the export,
            else ``class_0`` ...).
        stride: frames between window starts (default T // 2, at least 1).
        fps: thin the video to about this many frames per second first (``None``: all).
        face_crops: the frames are already face crops: pad to a square and resize
            instead of detecting faces.
        face_options: ``ferzoo.video.faces.FaceOptions`` (default: detect on every
            frame scaled to at most 640 px, confidence >= 0.9, drop frames in long runs
            without a face).
        num_threads: CPU threads of the TFLite / ONNX runtime.
        batch_size: windows per call.
    """

    def __init__(
        self,
        weights: str | os.PathLike | None = None,
        model: str | None = None,
        preset: str | None = None,
        overrides: Mapping[str, Any] | None = None,
        labels: Sequence[str] | None = None,
        stride: int | None = None,
        fps: float | None = None,
        face_crops: bool = False,
        face_options: Any = None,
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
        labels = list(labels or meta.get("labels") or [])
        if labels and len(labels) != self.num_classes:
            raise PredictError(f"{len(labels)} labels for a model with {self.num_classes} "
                               f"classes: {labels}")
        self.labels = labels or [f"class_{i}" for i in range(self.num_classes)]
        # the photometric steps of the weights' recipe (equalisation, standardisation)
        self.photometric = meta.get("photometric")
        self.stride = stride or max(1, self.frames // 2)
        if self.stride < 1:
            raise ValueError(f"stride must be >= 1, got {stride}")
        self.fps, self.face_crops, self.batch_size = fps, face_crops, batch_size
        self.face_options = face_options

    # ------------------------------------------------------------------------ steps

    def faces(self, video: str | os.PathLike):
        """Aligned face frames of ``video``: ``(frames (N, S, S, 3) uint8, source frame
        indices (N,), boxes (N, 4) or None, fps, notes)``.

        Raises:
            NoFaceFound: no face in the video.
        """
        try:
            source = FrameSource(video, target_fps=self.fps)
        except VideoReadError as error:
            raise PredictError(str(error)) from error
        if self.face_crops:
            indices, frames = [], []
            for index, frame in source:
                indices.append(index)
                frames.append(square_resize(frame, self.image_size))
            if not frames:
                raise PredictError(f"{video}: no frame could be decoded")
            return np.stack(frames), np.asarray(indices), None, source.fps, {
                "faces": "given (face crops)"}
        options = self.face_options or FaceOptions(on_long_gap="drop", max_side=DETECT_SIDE)
        try:
            aligned = align_clip(source, size=self.image_size, options=options)
        except NoFaceError as error:
            raise NoFaceFound(f"{video}: {error}") from error
        track = aligned.track
        keep = track.known
        boxes = track.boxes[keep] if track is not None else None
        return aligned.frames, aligned.frame_indices, boxes, aligned.fps, dict(aligned.notes)

    def window_starts(self, count: int) -> list[int]:
        """Start positions of the windows over ``count`` face frames."""
        if count <= self.frames:
            return [0]
        starts = list(range(0, count - self.frames + 1, self.stride))
        if starts[-1] != count - self.frames:  # cover the end of the clip too
            starts.append(count - self.frames)
        return starts

    def inputs(self, faces: np.ndarray, start: int) -> dict[str, np.ndarray]:
        """The model inputs of the window starting at ``start``: {stream: (T, S, S, C)}."""
        window = faces[start:start + self.frames]
        if len(window) < self.frames:  # repeat the last frame (STC-NLSTM Sec. 4.1)
            pad = np.repeat(window[-1:], self.frames - len(window), axis=0)
            window = np.concatenate([window, pad])
        feed = {"video": _video_input(window, self.channels)}
        if self.flow_frames is not None:
            feed["flow"] = flow_input(window, self.flow_frames)
        return feed

    def batch_inputs(self, faces: np.ndarray, starts: Sequence[int]) -> dict[str, np.ndarray]:
        """The batch of windows starting at ``starts``, prepared as in training: the
        recipe's photometric steps (recorded with the weights) applied to the video."""
        feeds = [self.inputs(faces, s) for s in starts]
        batch = {k: np.stack([f[k] for f in feeds]) for k in feeds[0]}
        if self.photometric:

            batch["video"] = np.asarray(preprocess_clip(batch["video"], self.photometric))
        return batch

    def predict_faces(self, faces: np.ndarray) -> tuple[np.ndarray, list[int]]:
        """Probabilities (windows, classes) of aligned face frames, and window starts."""
        starts = self.window_starts(len(faces))
        out = []
        for i in range(0, len(starts), self.batch_size):
            result = self.runtime(self.batch_inputs(faces, starts[i:i + self.batch_size]))
            out.append(result.get("probabilities", next(iter(result.values()))))
        return np.concatenate(out), starts

    def predict(
        self,
        video: str | os.PathLike,
        out_dir: str | os.PathLike | None = None,
        annotate: bool = False,
    ) -> Timeline:
        """The timeline of ``video``; with ``out_dir``, also ``timeline.csv``,
        ``timeline.png`` and (``annotate``) ``annotated.mp4`` there.

        Raises:
            NoFaceFound: no face in the video.
            PredictError: the video cannot be read.
        """
        faces, indices, boxes, fps, notes = self.faces(video)
        probabilities, starts = self.predict_faces(faces)
        ends = [min(s + self.frames, len(faces)) - 1 for s in starts]
        notes.update({"model": self.name, "runtime": self.runtime.format,
                      "face_frames": int(len(faces)), "window": self.frames,
                      "stride": self.stride, "windows": len(starts)})
        if len(faces) < self.frames:
            notes["padded"] = (f"only {len(faces)} face frames for a window of "
                               f"{self.frames}: the last frame is repeated")
        timeline = Timeline(str(video), self.labels, probabilities,
                            indices[starts], indices[ends], float(fps or 0.0), notes=notes)
        if out_dir is not None:
            out = Path(out_dir)
            out.mkdir(parents=True, exist_ok=True)
            timeline.files["csv"] = str(timeline.write_csv(out / "timeline.csv"))
            timeline.files["plot"] = str(timeline.plot(
                out / "timeline.png", title=f"{Path(video).name}: {self.name} "
                                            f"({self.runtime.format})"))
            if annotate:
                timeline.files["video"] = str(annotate_video(
                    video, timeline, out / "annotated.mp4", indices, boxes, self.fps))
            (out / "timeline.json").write_text(json.dumps(
                {"video": str(video), "labels": self.labels, "fps": timeline.fps,
                 "notes": notes, "files": timeline.files, "windows": timeline.rows()},
                indent=1, default=str))
        return timeline


# ------------------------------------------------------------------------ helpers


def _open_model(weights, model, preset, overrides, num_threads) -> tuple[Runtime, dict]:
    """A runtime for any model file, and what is known about it (name, labels)."""
    path = Path(weights) if weights is not None else None
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

    return runtime, {"name": trained.name, "labels": trained.labels,
                     "photometric": photometric_settings(trained.augment)}


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
            return {"name": data.get("name"), "labels": data.get("labels"),
                    "photometric": data.get("photometric")}
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


def annotate_video(
    video: str | os.PathLike,
    timeline: Timeline,
    path: str | os.PathLike,
    face_indices: np.ndarray,
    boxes: np.ndarray | None,
    fps: float | None = None,
) -> Path:
    """Write the video with the face box, the current window's top class and a bar per
    class on every frame (mp4v)."""
    import cv2

    source = FrameSource(video, target_fps=fps)
    out_fps = source.fps or 10.0
    writer = None
    box_at = {int(i): b for i, b in zip(face_indices, boxes)} if boxes is not None else {}
    starts = timeline.start_frames
    try:
        for index, frame in source:
            if writer is None:
                h, w = frame.shape[:2]
                writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"),
                                         out_fps, (w, h))
                if not writer.isOpened():
                    raise PredictError(f"OpenCV cannot write {path} (mp4v)")
            image = cv2.cvtColor(frame, cv2.COLOR_RGB2BGR)
            window = int(np.searchsorted(starts, index, side="right")) - 1
            if index in box_at and np.all(np.isfinite(box_at[index])):
                x1, y1, x2, y2 = (int(round(v)) for v in box_at[index])
                cv2.rectangle(image, (x1, y1), (x2, y2), (0, 220, 0), 2)
            if window >= 0:
                _draw_probabilities(image, timeline.labels, timeline.probabilities[window])
            writer.write(image)
    finally:
        if writer is not None:
            writer.release()
    return Path(path)


def _draw_probabilities(image: np.ndarray, labels: Sequence[str], probs: np.ndarray) -> None:
    import cv2

    top = int(probs.argmax())
    panel = image[:40 + 14 * len(labels), :180]
    panel[:] = (panel * 0.45).astype(image.dtype)  # darken behind the text
    cv2.putText(image, f"{labels[top]} {probs[top]:.2f}", (8, 22), cv2.FONT_HERSHEY_SIMPLEX,
                0.6, (255, 255, 255), 2, cv2.LINE_AA)
    for k, (label, p) in enumerate(zip(labels, probs)):
        y = 36 + 14 * k
        cv2.rectangle(image, (8, y), (8 + int(80 * p), y + 10),
                      (0, 200, 255) if k == top else (200, 200, 200), -1)
        cv2.putText(image, label[:12], (94, y + 9), cv2.FONT_HERSHEY_SIMPLEX, 0.35,
                    (255, 255, 255), 1, cv2.LINE_AA)

"""A video's expressions over time, per face: ``timeline.csv``, ``summary.json`` and
``timeline.png``.

:class:`Timeline` holds one row per face per window: the face's id, the window's first
and last source frame, the face's box, every class's probability (smoothed if asked:
the ``smoothing`` column says how) and the top class. :meth:`Timeline.summary` condenses
it per face (frames present, first and last seen, dominant expression, share of windows
per top class, mean probabilities) and for the whole video.
"""

from __future__ import annotations

import csv
import dataclasses
import os
from pathlib import Path
from typing import Any

import numpy as np

BOX_COLUMNS = ("box_x1", "box_y1", "box_x2", "box_y2")


@dataclasses.dataclass
class Timeline:
    """Per-face, per-window class probabilities of one video.

    Attributes:
        video: the video's path (or ``camera N``).
        labels: class names, in output order.
        probabilities: (windows, classes), smoothed when ``smoothing`` is not "none".
        start_frames, end_frames: first and last source frame index of each window.
        fps: frame rate of the source (0 if unknown: times are then frame indices).
        files: paths written (``csv``, ``summary``, ``plot``, ``video``).
        notes: how the faces were found, windows padded, etc.
        faces: (windows,) face id of each window (all 0 when not given).
        boxes: (windows, 4) mean face box over each window (NaN when not given).
        smoothing: ``"none"`` or how the probabilities were smoothed (``"ema 1 s"``).
        face_frames: per face id, ``{"frames": n, "first": index, "last": index}``.
        thumbnails: per face id, one aligned face (uint8 RGB) for the plot.
    """

    video: str
    labels: list[str]
    probabilities: np.ndarray
    start_frames: np.ndarray
    end_frames: np.ndarray
    fps: float
    files: dict[str, str] = dataclasses.field(default_factory=dict)
    notes: dict[str, Any] = dataclasses.field(default_factory=dict)
    faces: np.ndarray | None = None
    boxes: np.ndarray | None = None
    smoothing: str = "none"
    face_frames: dict[int, dict[str, int]] = dataclasses.field(default_factory=dict)
    thumbnails: dict[int, np.ndarray] = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        n = len(self.probabilities)
        self.probabilities = np.asarray(self.probabilities, np.float64).reshape(
            n, len(self.labels))
        self.start_frames = np.asarray(self.start_frames, np.int64)
        self.end_frames = np.asarray(self.end_frames, np.int64)
        self.faces = (np.zeros(n, np.int64) if self.faces is None
                      else np.asarray(self.faces, np.int64))
        self.boxes = (np.full((n, 4), np.nan) if self.boxes is None
                      else np.asarray(self.boxes, np.float64).reshape(n, 4))

    def __len__(self) -> int:
        return len(self.probabilities)

    @property
    def face_ids(self) -> list[int]:
        return sorted(set(self.faces.tolist()))

    def of_face(self, face: int) -> np.ndarray:
        """Row positions of one face's windows."""
        return np.flatnonzero(self.faces == face)

    def times(self, frames: np.ndarray) -> np.ndarray:
        frames = np.asarray(frames)
        return frames / self.fps if self.fps else frames.astype(float)

    def top_labels(self) -> list[str]:
        return [self.labels[i] for i in self.probabilities.argmax(-1)]

    def rows(self) -> list[dict[str, Any]]:
        """One dict per face per window: face, the face's window number, frames, times,
        box, every class's probability, the top class and the smoothing."""
        out = []
        starts, ends = self.times(self.start_frames), self.times(self.end_frames)
        counts: dict[int, int] = {}
        for i, probs in enumerate(self.probabilities):
            face = int(self.faces[i])
            counts[face] = counts.get(face, -1) + 1
            row: dict[str, Any] = {
                "face": face, "window": counts[face],
                "start_frame": int(self.start_frames[i]), "end_frame": int(self.end_frames[i]),
                "start_s": round(float(starts[i]), 3) if self.fps else "",
                "end_s": round(float(ends[i]), 3) if self.fps else ""}
            for name, value in zip(BOX_COLUMNS, self.boxes[i]):
                row[name] = round(float(value), 1) if np.isfinite(value) else ""
            row.update({label: round(float(p), 5) for label, p in zip(self.labels, probs)})
            row["top_label"] = self.labels[int(probs.argmax())]
            row["top_probability"] = round(float(probs.max()), 5)
            row["smoothing"] = self.smoothing
            out.append(row)
        return out

    def columns(self) -> list[str]:
        return ["face", "window", "start_frame", "end_frame", "start_s", "end_s",
                *BOX_COLUMNS, *self.labels, "top_label", "top_probability", "smoothing"]

    def write_csv(self, path: str | os.PathLike) -> Path:
        path = Path(path)
        with open(path, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=self.columns())
            writer.writeheader()
            writer.writerows(self.rows())
        return path

    # ------------------------------------------------------------------- summary

    def _condense(self, rows: np.ndarray) -> dict[str, Any]:
        probs = self.probabilities[rows]
        top = probs.argmax(-1)
        share = np.bincount(top, minlength=len(self.labels)) / max(len(rows), 1)
        mean = probs.mean(0) if len(rows) else np.zeros(len(self.labels))
        dominant = int(np.lexsort((mean, share))[-1])  # most windows; ties: higher mean
        return {
            "windows": int(len(rows)),
            "dominant_expression": self.labels[dominant] if len(rows) else None,
            "share_of_windows": {k: round(float(v), 4) for k, v in zip(self.labels, share)},
            "mean_probabilities": {k: round(float(v), 5) for k, v in zip(self.labels, mean)},
        }

    def _seconds(self, frame: int | None) -> float | None:
        if frame is None or not self.fps:
            return None
        return round(frame / self.fps, 3)

    def summary(self) -> dict[str, Any]:
        """Per face and for the whole video (see the module notes)."""
        faces = []
        for face in self.face_ids:
            rows = self.of_face(face)
            seen = self.face_frames.get(face, {})
            first = seen.get("first", int(self.start_frames[rows].min()))
            last = seen.get("last", int(self.end_frames[rows].max()))
            entry = {"face": face, "frames_present": seen.get("frames"),
                     "first_frame": first, "last_frame": last,
                     "first_seen_s": self._seconds(first), "last_seen_s": self._seconds(last)}
            entry.update(self._condense(rows))
            faces.append(entry)
        video = {"path": self.video, "fps": self.fps, "faces": len(faces),
                 "labels": self.labels, "smoothing": self.smoothing}
        video.update(self._condense(np.arange(len(self))))
        return {"video": video, "faces": faces, "notes": self.notes}

    # ---------------------------------------------------------------------- plot

    def plot(self, path: str | os.PathLike, title: str = "") -> Path:
        """A PNG with one panel per face: its thumbnail and every class's probability
        over time (window centres)."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        faces = self.face_ids or [0]
        fig = plt.figure(figsize=(9.5, 0.6 + 2.4 * len(faces)), dpi=90)
        grid = fig.add_gridspec(len(faces), 2, width_ratios=(1, 7.5), wspace=0.3)
        centres = self.times((self.start_frames + self.end_frames) / 2)
        colours = plt.get_cmap("tab10")
        x_max = float(centres.max()) if len(centres) else 1.0
        for row, face in enumerate(faces):
            thumb_ax = fig.add_subplot(grid[row, 0])
            thumb_ax.axis("off")
            if face in self.thumbnails:
                thumb_ax.imshow(self.thumbnails[face])
            thumb_ax.set_title(f"face {face}", fontsize=9)
            ax = fig.add_subplot(grid[row, 1])
            rows = self.of_face(face)
            for k, label in enumerate(self.labels):
                ax.plot(centres[rows], self.probabilities[rows, k], color=colours(k % 10),
                        marker="o" if len(rows) < 30 else None, markersize=3, linewidth=1.5,
                        label=label)
            ax.set_xlim(0, max(x_max, 1e-3) * 1.02)
            ax.set_ylim(-0.02, 1.02)
            ax.set_ylabel("probability", fontsize=8)
            ax.grid(alpha=0.3)
            if row == 0:
                ax.set_title(title or Path(self.video).name, fontsize=10)
                ax.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8,
                          frameon=False)
            if row == len(faces) - 1:
                ax.set_xlabel("time (s)" if self.fps else "frame")
            else:
                ax.tick_params(labelbottom=False)
        fig.subplots_adjust(left=0.03, right=0.83, top=0.9 if len(faces) == 1 else 0.94,
                            bottom=0.2 if len(faces) == 1 else 0.08, hspace=0.25)
        fig.savefig(path)
        plt.close(fig)
        return Path(path)

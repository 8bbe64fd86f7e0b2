"""Windows of each face's aligned frames, as frames arrive: what ``Predictor.stream``
feeds the model, with memory bounded by one window per face.

A :class:`FaceWindows` keeps the last ``span`` aligned frames of one face. Once it holds
``span`` frames it gives a window, then one every ``stride`` new frames; when the face
is lost (or the video ends) it gives a last window over its newest frames if some of
them were not in a window yet (a face seen for fewer than ``span`` frames gets one
window, its last frame repeated, as STC-NLSTM's length normalisation does).

Which ``frames`` of the ``span`` go into the model: all of them in order
(``"consecutive"``, span = the model's T), or LSTPNet's test-time sampling
(``"segments"``: T / 2 segments of two consecutive frames, each at its segment's
centre, as ``ferzoo.data.sampling.segments`` at test).
"""

from __future__ import annotations

import collections
import dataclasses
import math

import numpy as np

SAMPLINGS = ("consecutive", "segments")


def window_indices(count: int, frames: int, sampling: str = "consecutive") -> np.ndarray:
    """Positions (``frames``,) to take from ``count`` buffered frames; positions past the
    end repeat the last frame."""
    if sampling not in SAMPLINGS:
        raise ValueError(f"unknown sampling {sampling!r}; use one of {SAMPLINGS}")
    if sampling == "consecutive" or count <= frames:
        return np.minimum(np.arange(frames), count - 1)
    segments = -(-frames // 2)
    starts = max(count - 1, 1)  # possible pair starts (a pair runs 2 frames)
    tick = starts / segments
    offsets = np.array([int(tick / 2 + tick * i) for i in range(segments)])
    pairs = (offsets[:, None] + np.arange(2)[None, :]).ravel()[:frames]
    return np.minimum(pairs, count - 1)


@dataclasses.dataclass
class Window:
    """One face's frames ready for the model."""

    face: int
    frames: np.ndarray  # (T, S, S, 3) uint8
    start_frame: int
    end_frame: int
    box: np.ndarray  # mean box (x1, y1, x2, y2) over the window's frames
    padded: bool = False


class FaceWindows:
    """The sliding window of one face (see the module notes)."""

    def __init__(self, face: int, span: int, frames: int, stride: int,
                 sampling: str = "consecutive"):
        if span < frames and sampling == "segments":
            raise ValueError(f"a span of {span} frames cannot give {frames} frames")
        self.face, self.span, self.frames, self.stride = face, span, frames, stride
        self.sampling = sampling
        self.buffer: collections.deque = collections.deque(maxlen=span)
        self.since = 0  # frames added since the last window
        self.windows = 0

    def add(self, index: int, aligned: np.ndarray, box: np.ndarray) -> Window | None:
        self.buffer.append((index, aligned, np.asarray(box, np.float64)))
        self.since += 1
        if len(self.buffer) < self.span:
            return None
        if self.windows == 0 or self.since >= self.stride:
            return self._window()
        return None

    def finish(self) -> Window | None:
        """The last window, if frames were left out of every window so far."""
        if not self.buffer or (self.windows and self.since == 0):
            return None
        return self._window()

    def _window(self) -> Window:
        items = list(self.buffer)
        picks = window_indices(len(items), self.frames, self.sampling)
        frames = np.stack([items[i][1] for i in picks])
        box = np.mean([item[2] for item in items], axis=0)
        self.since = 0
        self.windows += 1
        return Window(self.face, frames, int(items[0][0]), int(items[-1][0]), box,
                      padded=len(items) < self.frames)


class Smoother:
    """Exponential average of each face's probabilities over its windows, with a time
    constant of ``seconds``: weight ``1 - exp(-dt / seconds)`` on the new window, dt
    the time between window centres (frames / fps; frames when fps is unknown)."""

    def __init__(self, seconds: float, fps: float):
        if seconds <= 0:
            raise ValueError(f"smoothing needs a time constant > 0 s, got {seconds}")
        self.seconds, self.fps = float(seconds), float(fps or 1.0)
        self.state: dict[int, tuple[float, np.ndarray]] = {}

    @property
    def description(self) -> str:
        return f"ema {self.seconds:g} s"

    def __call__(self, face: int, centre_frame: float, probabilities: np.ndarray
                 ) -> np.ndarray:
        previous = self.state.get(face)
        if previous is None:
            smoothed = probabilities
        else:
            dt = max(centre_frame - previous[0], 0.0) / self.fps
            weight = 1.0 - math.exp(-dt / self.seconds)
            smoothed = (1 - weight) * previous[1] + weight * probabilities
        self.state[face] = (centre_frame, smoothed)
        return smoothed

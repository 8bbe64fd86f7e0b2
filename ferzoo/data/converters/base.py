"""What every converter shares: clip descriptors, options, the clip loader, the run.

A converter only *discovers* a dataset: it walks the source tree, reads the label
files and returns a :class:`Discovery` (clips per split, the label list, the inputs it
left out with the reason, the evaluation protocol). :func:`run_conversion` does the
rest for all of them: each clip is read, its face tracked and aligned (or, for clips
that are already face crops, padded to a square and resized), optionally cut to a
fixed length, optionally given an optical-flow stream, and written with
:func:`ferzoo.data.writer.write_split` (sharded, atomic, resumable, same bytes for the
same input whatever the number of workers).

Output folder::

    manifest.json            labels, clips per class/subject, shard checksums (writer)
    protocol.json            how to split it for evaluation (ferzoo.training.protocols)
    conversion_report.json   every input clip: written, skipped (why) or left out (why)
    <split>-NNNNN-of-NNNNN.tfrecord ...
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import time
from collections import Counter
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ferzoo.data.sampling import sample_indices
from ferzoo.data.schema import Clip
from ferzoo.data.writer import SkipClip, atomic_write_text, write_split
from ferzoo.video.faces import (
    CROP_ABOVE,
    CROP_BELOW,
    CROP_WIDTH,
    FaceOptions,
    NoFaceError,
    align_clip,
    square_resize,
)
from ferzoo.video.flow import compute_flow
from ferzoo.video.io import FrameSource, VideoReadError

# Label names used by every converter; a dataset's list is the six basic emotions in
# this order (An, Di, Fe, Ha, Sa, Su: docs/design.md#conventions), then neutral or
# contempt when it has them,
# so that class i means the same thing across datasets.
BASIC6 = ("anger", "disgust", "fear", "happiness", "sadness", "surprise")
WITH_NEUTRAL = BASIC6 + ("neutral",)
WITH_CONTEMPT = BASIC6 + ("contempt",)
CANONICAL = BASIC6 + ("neutral", "contempt")

SYNONYMS = {
    "anger": "anger", "angry": "anger", "an": "anger",
    "disgust": "disgust", "disgusted": "disgust", "di": "disgust",
    "fear": "fear", "fearful": "fear", "afraid": "fear", "fe": "fear",
    "happiness": "happiness", "happy": "happiness", "joy": "happiness", "ha": "happiness",
    "sadness": "sadness", "sad": "sadness", "sa": "sadness",
    "surprise": "surprise", "surprised": "surprise", "su": "surprise",
    "neutral": "neutral", "ne": "neutral",
    "contempt": "contempt", "co": "contempt",
}

# ClipItem.apex_index for sequences that end on the peak (CK+, Oulu-CASIA).
APEX_LAST = 1 << 30

PROTOCOL_FILE = "protocol.json"
REPORT_FILE = "conversion_report.json"


def canonical_label(name: str) -> str | None:
    """An emotion name in any usual spelling -> ferzoo's name (None if not an emotion)."""
    return SYNONYMS.get(str(name).strip().lower())


@dataclasses.dataclass(frozen=True)
class ClipItem:
    """A light, picklable description of one input clip.

    Attributes:
        path: video file, frame folder, or image file.
        label: label name (one of the dataset's labels).
        subject: subject id (for datasets without subjects: the clip id).
        clip_id: unique within the dataset.
        start, stop: decoded-frame range to use (``stop`` None: to the end).
        apex_index: the peak frame, as a decoded-frame index of the source (-1: unknown).
        fps: frame rate when the source cannot tell (frame folders), 0 if unknown.
    """

    path: str
    label: str
    subject: str
    clip_id: str
    start: int = 0
    stop: int | None = None
    apex_index: int = -1
    fps: float = 0.0

    def __str__(self) -> str:
        if self.start or self.stop is not None:
            return f"{self.path}[{self.start}:{'' if self.stop is None else self.stop}]"
        return self.path


@dataclasses.dataclass
class Discovery:
    """What a converter found in a source tree.

    Attributes:
        splits: split name -> clips, in a stable order.
        labels: the dataset's label names (class index = position).
        excluded: inputs left out before loading, each ``{"item", "reason"}``.
        protocol: how to evaluate on it (written to ``protocol.json``; see
            :mod:`ferzoo.training.protocols`).
        notes: anything worth telling (e.g. a split file that disagrees).
    """

    splits: dict[str, list[ClipItem]]
    labels: tuple[str, ...]
    excluded: list[dict[str, str]] = dataclasses.field(default_factory=list)
    protocol: dict[str, Any] = dataclasses.field(default_factory=dict)
    notes: list[str] = dataclasses.field(default_factory=list)

    def exclude(self, item: Any, reason: str) -> None:
        self.excluded.append({"item": str(item), "reason": reason})


@dataclasses.dataclass(frozen=True)
class ConvertOptions:
    """How clips are turned into stored frames (picklable; the same for every clip).

    Attributes:
        size: side of the stored square frames (64 STC-NLSTM; 112; 224/240 STCAM, LSTPNet).
        detect: track and align the face with MTCNN; ``False`` for clips that are already
            face crops (they are zero-padded to a square and resized).
        face: detection and tracking settings (:class:`~ferzoo.video.faces.FaceOptions`).
        pad, eye_floor, crop: alignment (see :func:`~ferzoo.video.faces.align_face`);
            ``crop`` is (width, above, below) in eye distances.
        length: store exactly this many frames per clip (``None``: all of them), chosen by
            the sampling mode ``length_mode`` of :mod:`ferzoo.data.sampling` (its
            evaluation-time indices: ``"uniform"`` samples longer clips uniformly and
            repeats the last frame of shorter ones, as STC-NLSTM does).
        target_fps: keep about this many frames per second of a video (MMI: 10).
        min_frames: clips with fewer frames are skipped.
        flow: also store optical flow between adjacent stored frames (``flow_method``
            ``"dis"`` or ``"farneback"``).
        image_format: ``"jpeg"`` or ``"png"`` for stored frames.
    """

    size: int = 64
    detect: bool = True
    face: FaceOptions = FaceOptions()
    pad: str = "zero"
    eye_floor: float | None = None
    crop: tuple[float, float, float] = (CROP_WIDTH, CROP_ABOVE, CROP_BELOW)
    length: int | None = None
    length_mode: str = "uniform"
    target_fps: float | None = None
    min_frames: int = 1
    flow: bool = False
    flow_method: str = "dis"
    image_format: str = "jpeg"

    def __post_init__(self):
        if self.size < 8:
            raise ValueError(f"size must be at least 8 pixels, got {self.size}")
        if self.length is not None and self.length < 1:
            raise ValueError(f"length must be >= 1 (or None), got {self.length}")
        if self.flow_method not in ("dis", "farneback"):
            raise ValueError(f"unknown flow method {self.flow_method!r}; use 'dis' or 'farneback'")

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def fixed_length_indices(num_frames: int, length: int, mode: str = "uniform") -> np.ndarray:
    """Which of ``num_frames`` frames make a clip of ``length`` (evaluation-time indices
    of the pipeline's sampling mode ``mode``, so conversion and pipeline agree)."""

    return np.asarray(sample_indices(mode, num_frames, length, training=False)).astype(int)


def _nearest_position(indices: np.ndarray, index: int) -> int:
    if index < 0 or not len(indices):
        return -1
    return int(np.argmin(np.abs(np.asarray(indices) - index)))


def load_clip(item: ClipItem, *, options: ConvertOptions, labels: Sequence[str],
              source: str) -> Clip:
    """Read, align and normalise one clip (module-level, so worker processes can run it).

    Raises:
        SkipClip: no face, a long gap without a face, an unreadable or too short clip.
    """
    label = item.label
    if label not in labels:
        raise SkipClip(f"label {label!r} is not one of {list(labels)}")
    try:
        frames_source = FrameSource(item.path, target_fps=options.target_fps,
                                    start=item.start, stop=item.stop)
    except VideoReadError as error:
        raise SkipClip(f"unreadable: {error}") from None
    notes: dict[str, Any] = {}
    if options.detect:
        try:
            aligned = align_clip(frames_source, options.size, options.face, pad=options.pad,
                                 width=options.crop[0], above=options.crop[1],
                                 below=options.crop[2], eye_floor=options.eye_floor)
        except NoFaceError as error:
            raise SkipClip(str(error)) from None
        frames, indices = aligned.frames, aligned.frame_indices
        notes.update(aligned.notes)
    else:
        stored, kept = [], []
        for index, frame in frames_source:
            stored.append(square_resize(frame, options.size))
            kept.append(index)
        if not stored:
            raise SkipClip(f"no frame could be decoded "
                           f"({'; '.join(frames_source.info.errors) or 'empty'})")
        frames, indices = np.stack(stored), np.asarray(kept)
    info = frames_source.info
    if info.errors:
        notes["decode_errors"] = info.errors[:5] + (
            [f"... {len(info.errors) - 5} more"] if len(info.errors) > 5 else [])
    if len(frames) < options.min_frames:
        raise SkipClip(f"{len(frames)} frames, fewer than min_frames={options.min_frames}")
    if options.length is not None:
        picks = fixed_length_indices(len(frames), options.length, options.length_mode)
        frames, indices = frames[picks], indices[picks]
    flow = None
    if options.flow:

        if len(frames) < 2:
            raise SkipClip(f"{len(frames)} frame: optical flow needs at least 2")

        flow = compute_flow(frames, method=options.flow_method)
    fps = frames_source.fps or item.fps
    return Clip(
        frames=frames, label=list(labels).index(label), label_name=label,
        subject=item.subject, clip_id=item.clip_id, source=source,
        num_frames=info.decoded_frames or len(frames), fps=float(fps),
        apex_index=_nearest_position(indices, item.apex_index), flow=flow, notes=notes,
    )


def run_conversion(discovery: Discovery, out_dir: str | os.PathLike, *, source: str,
                   options: ConvertOptions, workers: int = 1, clips_per_shard: int = 32,
                   progress: bool = True, src: str = "") -> dict[str, Any]:
    """Write every split of ``discovery`` and the protocol and report files.

    Rerunning after an interruption keeps the finished shards and redoes the rest.

    Returns:
        The conversion report (also written to ``conversion_report.json``).
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if not any(discovery.splits.values()):
        reasons = Counter(e["reason"] for e in discovery.excluded).most_common(3)
        raise ValueError(
            f"{source}: no clip found to convert under {src or 'the source'}"
            + (f"; left out: {reasons}" if reasons else "; check the layout in "
               f"docs/datasets/{source}.md"))
    start = time.monotonic()
    load = functools.partial(load_clip, options=options, labels=tuple(discovery.labels),
                             source=source)
    atomic_write_text(out_dir / PROTOCOL_FILE, json.dumps(discovery.protocol, indent=1,
                                                          sort_keys=True))
    splits: dict[str, Any] = {}
    for split, items in discovery.splits.items():
        if not items:
            continue
        entry = write_split(
            out_dir, split, items, load, labels=discovery.labels, workers=workers,
            clips_per_shard=clips_per_shard, image_format=options.image_format,
            progress=progress, source=source, progress_notes=("faces_missed",),
        )
        splits[split] = _split_report(out_dir, split, entry)
    written = sum(s["written"] for s in splits.values())
    skipped = sum(len(s["skipped"]) for s in splits.values())
    frames = sum(s["frames"] for s in splits.values())
    elapsed = time.monotonic() - start
    report = {
        "dataset": source,
        "source_dir": str(src),
        "options": options.as_dict(),
        "labels": list(discovery.labels),
        "inputs": written + skipped + len(discovery.excluded),
        "written": written,
        "skipped": skipped,
        "excluded": len(discovery.excluded),
        "frames_written": frames,
        "splits": splits,
        "excluded_items": discovery.excluded,
        "notes": discovery.notes,
        "last_run_seconds": round(elapsed, 2),
    }
    atomic_write_text(out_dir / REPORT_FILE, json.dumps(report, indent=1, sort_keys=True))
    return report


def _split_report(out_dir: Path, split: str, entry: dict[str, Any]) -> dict[str, Any]:
    """Per-split totals from the shard reports of the writer."""
    clips = []
    for shard in entry["shards"]:
        report = json.loads((out_dir / ".shards" / f"{shard['file']}.json").read_text())
        clips.extend(report["clips"])
    written = [c for c in clips if c["status"] == "written"]
    totals = Counter()
    for c in written:
        for key, value in c.get("notes", {}).items():
            if isinstance(value, int):
                totals[key] += value
    return {
        "written": len(written),
        "frames": sum(c["frames"] for c in written),
        "skipped": [{"item": c["item"], "reason": c["reason"]}
                    for c in clips if c["status"] == "skipped"],
        "face_totals": dict(sorted(totals.items())),
        "per_class": entry["per_class"],
    }


def read_json(path: str | os.PathLike) -> Any:
    return json.loads(Path(path).read_text())

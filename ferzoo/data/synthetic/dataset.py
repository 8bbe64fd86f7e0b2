"""Writing the synthetic dataset: the ``train`` and ``test`` splits (subject-independent)
as TFRecord shards with a manifest, the settings file, and a contact sheet of a few
clips per class; :func:`ensure_synthetic` generates it once per cache key."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ferzoo.data.schema import Clip
from ferzoo.data.synthetic.clips import SOURCE, plan_clip, render_clip, render_frames, subject_name
from ferzoo.data.synthetic.config import SyntheticConfig
from ferzoo.data.synthetic.render import RENDER_VERSION
from ferzoo.data.synthetic.temporal import PARTNER, check_variant, resting_bias
from ferzoo.data.writer import atomic_write_text, read_manifest, write_split


@dataclasses.dataclass(frozen=True)
class _Item:
    """A light, picklable descriptor of one clip for the writer (rendered in the worker)."""

    config: SyntheticConfig
    subject_id: int
    clip_index: int

    def __str__(self) -> str:
        return f"{subject_name(self.subject_id)}_{self.clip_index:03d}"


def _load_item(item: _Item) -> Clip:
    return render_clip(item.config, item.subject_id, item.clip_index)


def split_items(config: SyntheticConfig) -> dict[str, list[_Item]]:
    """The clips of each split, in writing order: ``{"train": [...], "test": [...]}``."""
    def items(subjects):
        return [_Item(config, s, i) for s in subjects for i in range(config.clips_per_subject)]

    return {"train": items(config.train_subjects), "test": items(config.test_subject_ids)}


CONFIG_FILE = "synthetic.json"
CONTACT_SHEET = "contact_sheet.png"


def generate(out_dir, config: SyntheticConfig | None = None, workers: int = 1,
             progress: bool = True) -> dict[str, Any]:
    """Write the ``train`` and ``test`` splits and ``contact_sheet.png`` into ``out_dir``.

    Resumable: finished shards are kept (see ferzoo.data.writer). Returns the manifest.
    """
    config = config or SyntheticConfig()
    check_variant(config)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    settings = dict(dataclasses.asdict(config), render_version=RENDER_VERSION)
    if not config.temporal:  # added later: the default data keeps its settings file
        del settings["temporal"]
    old = out_dir / CONFIG_FILE
    if old.exists() and json.loads(old.read_text()) != settings:
        raise ValueError(
            f"{out_dir} holds a synthetic dataset made with other settings "
            f"({old.read_text().strip()}); use another folder or delete this one"
        )
    atomic_write_text(old, json.dumps(settings, indent=1, sort_keys=True))
    for split, items in split_items(config).items():
        write_split(out_dir, split, items, _load_item, labels=config.labels, workers=workers,
                    progress=progress, source=SOURCE)
    contact_sheet(out_dir / CONTACT_SHEET, config)
    return read_manifest(out_dir)


def is_complete(out_dir, config: SyntheticConfig) -> bool:
    """Whether ``out_dir`` holds the whole dataset of ``config`` (manifest, shards, sheet)."""
    out_dir = Path(out_dir)
    manifest = read_manifest(out_dir)
    if manifest is None or manifest.get("labels") != config.labels:
        return False
    for split, items in split_items(config).items():
        entry = manifest["splits"].get(split)
        if entry is None or entry["num_clips"] != len(items):
            return False
        if not all((out_dir / shard["file"]).exists() for shard in entry["shards"]):
            return False
    return (out_dir / CONTACT_SHEET).exists()


def ensure_synthetic(root="tfrecords", config: SyntheticConfig | None = None, *,
                     workers: int = 1, progress: bool = True, **overrides) -> Path:
    """The folder ``<root>/synthetic-<key>`` of the dataset, generated if not complete.

    ``overrides`` replace fields of ``config`` (default :class:`SyntheticConfig`), e.g.
    ``ensure_synthetic(num_subjects=12, size=48)``. An interrupted generation resumes.
    """
    config = config or SyntheticConfig()
    if overrides:
        fields = {f.name for f in dataclasses.fields(SyntheticConfig)}
        unknown = sorted(set(overrides) - fields)
        if unknown:
            raise TypeError(f"unknown synthetic-data setting(s) {unknown}; "
                            f"the settings are {sorted(fields)}")
        config = dataclasses.replace(config, **overrides)
    out_dir = Path(root) / f"synthetic-{config.key()}"
    if not is_complete(out_dir, config):
        generate(out_dir, config, workers=workers, progress=progress)
    return out_dir


# ----------------------------------------------------------------------------------
# Contact sheet


def contact_sheet(path, config: SyntheticConfig | None = None, clips_per_class: int = 3,
                  frames_per_clip: int = 6) -> Path:
    """A PNG grid of a few training clips per class, so a person can see the data.

    One row per clip, ``frames_per_clip`` frames over time as columns (the apex frame is
    always one of them, framed in red), rows grouped by class with the class name.
    """
    config = config or SyntheticConfig()
    names = config.labels
    scale = max(1, round(96 / config.size))
    cell = config.size * scale
    gap, label_w, header = 4, 190, 24
    n_rows = len(names) * clips_per_class
    sheet = np.full((header + n_rows * (cell + gap) + (len(names) - 1) * gap,
                     label_w + frames_per_clip * (cell + gap), 3), 255, np.uint8)
    font = cv2.FONT_HERSHEY_SIMPLEX
    cv2.putText(sheet, "time ->", (label_w, 17), font, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
    train = list(config.train_subjects)
    y = header
    for label, name in enumerate(names):
        for j in range(clips_per_class):
            subject = train[(label * clips_per_class + j) % len(train)]
            clip_index = (label - subject) % len(names)  # the subject's first clip of label
            plan = plan_clip(config, subject, clip_index)
            frames = render_frames(config, subject, plan)
            picks = np.linspace(0, len(frames) - 1, frames_per_clip).round().astype(int)
            picks[np.argmin(np.abs(picks - plan.apex_index))] = plan.apex_index
            if j == 0:
                cv2.putText(sheet, name, (6, y + 22), font, 0.7, (0, 0, 0), 2, cv2.LINE_AA)
            info = (f"{subject_name(subject)} {'CK+' if plan.profile == 'onset_apex' else 'MMI'}"
                    f" i={plan.intensity:.2f} T={len(frames)}")
            note = ""  # what a temporal variant adds to the clip (docs/temporal.md)
            if config.temporal == "resting_bias":
                note = f"resting: {resting_bias(config.seed, subject)[0]}"
            elif config.temporal == "onset_order" and name in PARTNER:
                note = f"then: {PARTNER[name]}"
            cv2.putText(sheet, note, (6, y + cell - 24), font, 0.4, (60, 60, 60), 1,
                        cv2.LINE_AA)
            cv2.putText(sheet, info, (6, y + cell - 8), font, 0.4, (60, 60, 60), 1, cv2.LINE_AA)
            for k, index in enumerate(picks):
                x = label_w + k * (cell + gap)
                big = cv2.resize(frames[index], (cell, cell), interpolation=cv2.INTER_NEAREST)
                sheet[y:y + cell, x:x + cell] = big
                if index == plan.apex_index:
                    cv2.rectangle(sheet, (x, y), (x + cell - 1, y + cell - 1), (220, 0, 0), 2)
                cv2.putText(sheet, f"t={index}", (x + 2, y + 12), font, 0.35, (255, 255, 255),
                            1, cv2.LINE_AA)
            y += cell + gap
        y += gap
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp-{os.getpid()}{path.suffix}")  # then renamed
    if not cv2.imwrite(str(tmp), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR)):
        raise OSError(f"could not write the contact sheet {path}")
    os.replace(tmp, path)
    return path

"""Small TFRecord datasets for tests, written with the real writer.

Each clip is a few frames of a class-dependent pattern (a bright square whose position
depends on the label, moving over time) on noise, so tiny models can learn it.
"""

from __future__ import annotations

import functools
import zlib

import numpy as np

from ferzoo.data.schema import Clip
from ferzoo.data.writer import write_split

LABELS = ["anger", "disgust", "fear"]


def load_fake(item, size=16, frames=6, labels=tuple(LABELS), flow=False):
    subject, index = item
    label = index % len(labels)
    rng = np.random.default_rng(zlib.crc32(f"{subject}:{index}".encode()))
    video = rng.integers(0, 60, size=(frames, size, size, 3)).astype(np.uint8)
    cell = size // len(labels)
    for t in range(frames):
        top = label * cell
        left = min(t, size - cell)
        video[t, top:top + cell, left:left + cell] = 230
    clip_flow = None
    if flow:
        clip_flow = np.zeros((frames - 1, size, size, 2), np.float32)
        clip_flow[..., 0] = 1.0
    return Clip(frames=video, label=label, label_name=labels[label], subject=subject,
                clip_id=f"{subject}_{index:03d}", source="fake", fps=10.0,
                valence=0.5 - label * 0.5, flow=clip_flow)


def items(subjects=6, clips=6):
    return [(f"S{s:03d}", i) for s in range(subjects) for i in range(clips)]


def make_dataset_dir(root, subjects=6, clips=6, test_subjects=2, num_shards=2, **load_kw):
    """Write train/test splits (disjoint subjects) to ``root``; returns root."""
    all_items = items(subjects + test_subjects, clips)
    test_ids = {f"S{s:03d}" for s in range(subjects, subjects + test_subjects)}
    load = functools.partial(load_fake, **load_kw)
    labels = list(load_kw.get("labels", LABELS))
    write_split(root, "train", [i for i in all_items if i[0] not in test_ids], load,
                labels=labels, num_shards=num_shards, progress=False, source="fake")
    write_split(root, "test", [i for i in all_items if i[0] in test_ids], load,
                labels=labels, num_shards=1, progress=False, source="fake")
    return root

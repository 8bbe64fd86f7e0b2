"""Your own clips: ``root/<label>/<clip>``, ``root/<split>/<label>/<clip>`` or a CSV.

A clip is a video file, a folder of frame images, or a single image. Labels are the
folder names (or the CSV's ``label`` column); emotion names in any usual spelling
(``Happy``, ``happiness``, ``HA``) become ferzoo's names in its usual order, other
names are kept as they are, sorted. The CSV has columns ``path,label[,subject[,split]]``
(header optional; paths relative to the CSV's folder).

See docs/datasets/generic.md.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

from ferzoo.data.converters import register_converter
from ferzoo.data.converters.base import CANONICAL, ClipItem, Discovery, canonical_label
from ferzoo.video.io import is_clip, is_image_file, is_video_file, natural_key

SPLIT_NAMES = ("train", "val", "valid", "validation", "test")


def _label_order(names: set[str], fixed: str | None) -> tuple[tuple[str, ...], dict[str, str]]:
    """(label list, raw name -> label name)."""
    if fixed:
        labels = tuple(x.strip() for x in fixed.split(",") if x.strip())
        mapping = {}
        for name in names:
            target = name if name in labels else canonical_label(name)
            if target in labels:
                mapping[name] = target
        return labels, mapping
    canon = {name: canonical_label(name) for name in names}
    if names and all(canon.values()):
        used = set(canon.values())
        return tuple(c for c in CANONICAL if c in used), canon
    return tuple(sorted(names, key=natural_key)), {name: name for name in names}


def _subject(name: str, pattern: str | None) -> str | None:
    if not pattern:
        return None
    match = re.search(pattern, name)
    if not match:
        return None
    return match.group(1) if match.groups() else match.group(0)


def _clips_in(label_dir: Path) -> list[Path]:
    clips = [p for p in label_dir.iterdir() if not p.name.startswith(".")
             and ((p.is_file() and (is_video_file(p) or is_image_file(p)))
                  or (p.is_dir() and is_clip(p)))]
    return sorted(clips, key=lambda p: natural_key(p.name))


def _from_folders(root: Path, labels_opt: str | None, subject_pattern: str | None) -> Discovery:
    children = [p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")]
    if children and all(p.name.lower() in SPLIT_NAMES for p in children):
        split_dirs = {_split_name(p.name): p for p in children}
    else:
        split_dirs = {"all": root}
    raw: dict[str, list[tuple[str, Path]]] = {}
    names: set[str] = set()
    discovery = Discovery(splits={}, labels=())
    for split, folder in split_dirs.items():
        entries = []
        label_dirs = [p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")]
        for label_dir in sorted(label_dirs, key=lambda p: natural_key(p.name)):
            clips = _clips_in(label_dir)
            if not clips:
                discovery.exclude(label_dir, "label folder holds no clip (video, frame "
                                             "folder or image)")
            for clip in clips:
                entries.append((label_dir.name, clip))
                names.add(label_dir.name)
        for stray in sorted(p for p in folder.iterdir() if p.is_file() and is_clip(p)):
            discovery.exclude(stray, "clip outside a label folder (expected root/<label>/<clip>)")
        raw[split] = entries
    labels, mapping = _label_order(names, labels_opt)
    discovery.labels = labels
    for split, entries in raw.items():
        items = []
        for name, clip in entries:
            if name not in mapping:
                discovery.exclude(clip, f"label {name!r} is not one of {list(labels)}")
                continue
            clip_id = clip.relative_to(root).with_suffix("").as_posix() if clip.is_file() \
                else clip.relative_to(root).as_posix()
            subject = _subject(clip.name, subject_pattern) or clip_id
            items.append(ClipItem(str(clip), mapping[name], subject, clip_id))
        discovery.splits[split] = items
    if not subject_pattern:
        discovery.notes.append("no subject ids (each clip is its own subject); pass "
                               "subject_pattern or use a CSV with a subject column for "
                               "subject-independent splits")
    return discovery


def _split_name(name: str) -> str:
    name = name.lower()
    return "val" if name in ("valid", "validation") else name


def _from_csv(path: Path, labels_opt: str | None, subject_pattern: str | None) -> Discovery:
    with open(path, newline="") as f:
        rows = [r for r in csv.reader(f) if r and any(c.strip() for c in r)]
    if rows and rows[0] and rows[0][0].strip().lower() == "path":
        header = [c.strip().lower() for c in rows[0]]
        rows = [dict(zip(header, r)) for r in rows[1:]]
    else:
        header = ["path", "label", "subject", "split"]
        rows = [dict(zip(header, r)) for r in rows]
    if rows and ("label" not in rows[0] or "path" not in rows[0]):
        raise ValueError(f"{path}: a manifest needs columns path,label[,subject[,split]]")
    discovery = Discovery(splits={}, labels=())
    names = {r["label"].strip() for r in rows}
    labels, mapping = _label_order(names, labels_opt)
    discovery.labels = labels
    seen: set[str] = set()
    for row in rows:
        clip = Path(row["path"].strip())
        clip = clip if clip.is_absolute() else path.parent / clip
        name = row["label"].strip()
        if not clip.exists():
            discovery.exclude(clip, "listed in the manifest but not found")
            continue
        if not is_clip(clip):
            discovery.exclude(clip, "not a video file, frame folder or image")
            continue
        if name not in mapping:
            discovery.exclude(clip, f"label {name!r} is not one of {list(labels)}")
            continue
        rel = clip.relative_to(path.parent) if clip.is_relative_to(path.parent) else clip
        clip_id = (row.get("clip_id") or "").strip() or (
            rel.with_suffix("") if clip.is_file() else rel).as_posix()
        if clip_id in seen:
            discovery.exclude(clip, f"listed twice (clip id {clip_id!r})")
            continue
        seen.add(clip_id)
        subject = (row.get("subject") or "").strip() or _subject(clip.name, subject_pattern) \
            or clip_id
        split = _split_name((row.get("split") or "").strip() or "all")
        discovery.splits.setdefault(split, []).append(
            ClipItem(str(clip), mapping[name], subject, clip_id))
    return discovery


def _protocol(splits) -> dict:
    if "train" in splits and "test" in splits:
        protocol = {"kind": "fixed", "train": "train", "test": "test"}
        if "val" in splits:
            protocol["val"] = "val"
        return protocol
    return {"kind": "kfold", "split": "all", "folds": 10, "order": "interleaved"}


@register_converter(
    "generic", title="your own clips", detect=True, size=112,
    options={
        "labels": (None, "comma-separated label list (fixes the class order)"),
        "subject_pattern": (None, r"regex on the clip name whose first group is the "
                                  r"subject, e.g. '^(S\d+)_'"),
    },
    aliases=("folder", "csv"),
)
def discover(src: Path, labels: str | None = None,
             subject_pattern: str | None = None) -> Discovery:
    src = Path(src)
    if src.is_file() and src.suffix.lower() in (".csv", ".tsv", ".txt"):
        discovery = _from_csv(src, labels, subject_pattern)
    elif src.is_dir():
        discovery = _from_folders(src, labels, subject_pattern)
    else:
        raise ValueError(f"generic: {src} is neither a folder nor a .csv manifest")
    discovery.protocol = _protocol(discovery.splits)
    return discovery

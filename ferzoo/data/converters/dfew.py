"""DFEW (Dynamic Facial Expressions in the Wild; Jiang et al. 2020).

Layout as distributed (``SRC`` holds ``Clip`` and ``EmoLabel_DataSplit``)::

    Clip/clip_224x224/00001/00001_00001.jpg ...     one folder of face crops per clip
    EmoLabel_DataSplit/train(single-labeled)/set_1.csv ... set_5.csv
    EmoLabel_DataSplit/test(single-labeled)/set_1.csv ... set_5.csv

Each CSV has a header ``video_name,label`` and codes 1 Happy, 2 Sad, 3 Neutral,
4 Angry, 5 Surprise, 6 Disgust, 7 Fear. The five official folds' test sets partition
the 12,059 single-labelled clips; each clip is stored once, in split ``fold<i>`` (the
test set of fold i), and fold i trains on the other four (less any clip that fold's
train CSV leaves out: recorded in ``protocol.json``). No subject ids: each clip is its
own subject. Frames are already face crops: no detection by default. See
docs/datasets/dfew.md.
"""

from __future__ import annotations

import csv
from pathlib import Path

from ferzoo.data.converters import register_converter
from ferzoo.data.converters.base import WITH_NEUTRAL, ClipItem, Discovery
from ferzoo.video.io import is_clip, natural_key

CODES = {1: "happiness", 2: "sadness", 3: "neutral", 4: "anger", 5: "surprise",
         6: "disgust", 7: "fear"}
FOLDS = 5


def read_split_csv(path: Path) -> list[tuple[str, int]]:
    """(video_name, code) rows of a DFEW split file (header optional)."""
    rows = []
    with open(path, newline="") as f:
        for row in csv.reader(f):
            if len(row) < 2 or not row[1].strip().lstrip("-").isdigit():
                continue  # header or blank
            rows.append((row[0].strip(), int(row[1])))
    return rows


def _split_file(labels_dir: Path, kind: str, fold: int) -> Path | None:
    for name in (f"{kind}(single-labeled)", f"{kind}_single-labeled", kind):
        path = labels_dir / name / f"set_{fold}.csv"
        if path.exists():
            return path
    return None


def _clip_dir(clips_dir: Path, name: str) -> Path:
    direct = clips_dir / name
    if direct.exists() or not name.isdigit():
        return direct
    return clips_dir / name.zfill(5)


@register_converter(
    "dfew", title="DFEW", detect=False, size=224,
    options={"clips": ("clip_224x224", "folder under Clip/ with the clips (clip_224x224, "
                                       "or another crop size you have)")},
)
def discover(src: Path, clips: str = "clip_224x224") -> Discovery:
    src = Path(src)
    labels_dir, clips_dir = src / "EmoLabel_DataSplit", src / "Clip" / clips
    if not labels_dir.is_dir() or not clips_dir.is_dir():
        raise FileNotFoundError(f"dfew: expected {labels_dir} and {clips_dir}")
    discovery = Discovery(splits={}, labels=WITH_NEUTRAL)
    test_sets, train_sets = {}, {}
    for fold in range(1, FOLDS + 1):
        test_file = _split_file(labels_dir, "test", fold)
        if test_file is None:
            raise FileNotFoundError(f"dfew: no test(single-labeled)/set_{fold}.csv in {labels_dir}")
        test_sets[fold] = read_split_csv(test_file)
        train_file = _split_file(labels_dir, "train", fold)
        train_sets[fold] = {n for n, _ in read_split_csv(train_file)} if train_file else None
    owner: dict[str, int] = {}
    for fold, rows in test_sets.items():
        items = []
        for name, code in rows:
            clip = _clip_dir(clips_dir, name)
            clip_id = clip.name
            if clip_id in owner:
                discovery.exclude(clip, f"in the test sets of folds {owner[clip_id]} and {fold}")
                continue
            if code not in CODES:
                discovery.exclude(clip, f"label code {code} is not 1-7")
                continue
            if not clip.is_dir() or not is_clip(clip):
                discovery.exclude(clip, "listed in the split file but no frame folder found")
                continue
            owner[clip_id] = fold
            items.append(ClipItem(str(clip), CODES[code], clip_id, clip_id))
        discovery.splits[f"fold{fold}"] = items
    mentioned = {_clip_dir(clips_dir, n).name for rows in test_sets.values() for n, _ in rows}
    for folder in sorted((p for p in clips_dir.iterdir() if p.is_dir()),
                         key=lambda p: natural_key(p.name)):
        if folder.name not in mentioned:
            discovery.exclude(folder, "not in any single-labeled test split (multi-labelled "
                                      "or unused clip)")
    folds = []
    for fold in range(1, FOLDS + 1):
        train_splits = [f"fold{j}" for j in range(1, FOLDS + 1) if j != fold]
        entry = {"test": [f"fold{fold}"], "train": train_splits, "exclude_train": []}
        if train_sets[fold] is not None:
            expected = {c for j in range(1, FOLDS + 1) if j != fold
                        for c, f in owner.items() if f == j}
            names = {_clip_dir(clips_dir, n).name for n in train_sets[fold]}
            entry["exclude_train"] = sorted(expected - names, key=natural_key)
            extra = names - expected
            if extra:
                discovery.notes.append(
                    f"fold {fold}: {len(extra)} clips of train(single-labeled)/set_{fold}.csv "
                    f"are in no other fold's test set; not used for training")
        folds.append(entry)
    discovery.protocol = {"kind": "predefined", "folds": folds,
                          "source": "DFEW's 5 official folds"}
    return discovery

"""CK+ (Extended Cohn-Kanade; Lucey et al. 2010).

Layout as distributed (``SRC`` is the folder holding both)::

    cohn-kanade-images/S005/001/S005_001_00000001.png ...   one folder per sequence
    Emotion/S005/001/S005_001_00000011_emotion.txt          "   3.0000000e+00"

Emotion codes: 0 neutral, 1 anger, 2 contempt, 3 disgust, 4 fear, 5 happy, 6 sadness,
7 surprise; 327 of the 593 sequences have one. Sequences go from neutral to the peak
(the last frame). Protocol: subject-independent 10-fold cross-validation, subjects
in ascending id order dealt to folds in steps of 10 (ranks i, i+10, i+20 ... in fold
i). See docs/datasets/ckplus.md.
"""

from __future__ import annotations

from pathlib import Path

from ferzoo.data.converters import register_converter
from ferzoo.data.converters.base import (
    APEX_LAST, BASIC6, WITH_CONTEMPT, ClipItem, Discovery,
)
from ferzoo.video.io import is_image_file, natural_key

CODES = {0: "neutral", 1: "anger", 2: "contempt", 3: "disgust", 4: "fear",
         5: "happiness", 6: "sadness", 7: "surprise"}


def find_root(src: Path, marker: str) -> Path:
    """The folder under ``src`` (itself or up to two levels down) holding ``marker``."""
    src = Path(src)
    for candidate in [src, *sorted(src.glob("*")), *sorted(src.glob("*/*"))]:
        if (candidate / marker).is_dir():
            return candidate
    raise FileNotFoundError(f"{src}: no '{marker}' folder here or two levels below; see "
                            f"the layout on this dataset's docs page")


def read_emotion(path: Path) -> int:
    text = path.read_text().strip()
    try:
        return int(round(float(text.split()[0])))
    except (ValueError, IndexError):
        raise ValueError(f"{path}: expected one emotion code, found {text[:40]!r}") from None


@register_converter(
    "ckplus", title="CK+", detect=True, size=64, aliases=("ck+", "ck"),
    options={"classes": (6, "6 (the basic emotions; contempt left out, as STC-NLSTM) or 7 "
                            "(with contempt)")},
)
def discover(src: Path, classes: int = 6) -> Discovery:
    if int(classes) not in (6, 7):
        raise ValueError(f"ckplus: classes must be 6 or 7, got {classes}")
    labels = BASIC6 if int(classes) == 6 else WITH_CONTEMPT
    root = find_root(src, "cohn-kanade-images")
    images, emotions = root / "cohn-kanade-images", root / "Emotion"
    discovery = Discovery(splits={"all": []}, labels=labels,
                          protocol={"kind": "kfold", "split": "all", "folds": 10,
                                    "order": "interleaved",
                                    "source": "subjects by ascending id, in steps of 10"})
    if not emotions.is_dir():
        discovery.notes.append(f"{emotions} not found: no sequence has a label")
    for subject_dir in sorted((p for p in images.iterdir() if p.is_dir()),
                              key=lambda p: natural_key(p.name)):
        for seq_dir in sorted((p for p in subject_dir.iterdir() if p.is_dir()),
                              key=lambda p: natural_key(p.name)):
            if not any(is_image_file(p) for p in seq_dir.iterdir()):
                discovery.exclude(seq_dir, "sequence folder holds no image")
                continue
            label_files = sorted((emotions / subject_dir.name / seq_dir.name).glob("*_emotion.txt"))
            if not label_files:
                discovery.exclude(seq_dir, "no emotion label (CK+ labels 327 of 593 sequences)")
                continue
            code = read_emotion(label_files[-1])
            name = CODES.get(code)
            if name not in labels:
                discovery.exclude(seq_dir, f"emotion code {code} ({name}) is not in the "
                                           f"{len(labels)}-class set"
                                  + (" (use classes=7 for contempt)" if name == "contempt" else ""))
                continue
            discovery.splits["all"].append(ClipItem(
                str(seq_dir), name, subject_dir.name, f"{subject_dir.name}_{seq_dir.name}",
                apex_index=APEX_LAST))
    return discovery

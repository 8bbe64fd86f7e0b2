"""Oulu-CASIA NIR&VIS facial expression database (Zhao et al. 2011).

Layout as distributed (``SRC`` is the folder holding ``OriginalImg``, or ``OriginalImg``
itself)::

    OriginalImg/VL/Strong/P012/Anger/000.jpeg ...   one folder per sequence
    OriginalImg/NI/Dark/...                          other modality / lighting

Labels are the folder names: Anger, Disgust, Fear, Happiness, Sadness, Surprise (one
sequence of each per subject, 80 subjects P001..P080). Sequences go from neutral to
the peak (the last frame). The usual setting is visible light under strong
illumination (VL/Strong, 480 sequences). Protocol: subject-independent 10-fold
cross-validation. See docs/datasets/oulu.md.
"""

from __future__ import annotations

from pathlib import Path

from ferzoo.data.converters import register_converter
from ferzoo.data.converters.base import APEX_LAST, BASIC6, ClipItem, Discovery, canonical_label
from ferzoo.video.io import is_image_file, natural_key

MODALITIES = ("VL", "NI")
LIGHTINGS = ("Strong", "Weak", "Dark")


def find_setting(src: Path, modality: str, lighting: str) -> Path:
    src = Path(src)
    for candidate in [src, src / "OriginalImg", *sorted(src.glob("*/OriginalImg")),
                      *sorted(src.glob("*"))]:
        folder = candidate / modality / lighting
        if folder.is_dir():
            return folder
    if src.name == lighting and src.parent.name == modality:
        return src
    raise FileNotFoundError(f"oulu: no {modality}/{lighting} folder under {src} (expected "
                            f"OriginalImg/{modality}/{lighting}/P001/Anger/000.jpeg)")


@register_converter(
    "oulu", title="Oulu-CASIA", detect=True, size=64, aliases=("oulu-casia", "oulucasia"),
    options={"modality": ("VL", "VL (visible light) or NI (near infrared)"),
             "lighting": ("Strong", "Strong, Weak or Dark")},
)
def discover(src: Path, modality: str = "VL", lighting: str = "Strong") -> Discovery:
    if modality not in MODALITIES or lighting not in LIGHTINGS:
        raise ValueError(f"oulu: modality must be one of {MODALITIES} and lighting one of "
                         f"{LIGHTINGS}; got {modality!r}, {lighting!r}")
    folder = find_setting(src, modality, lighting)
    discovery = Discovery(splits={"all": []}, labels=BASIC6,
                          protocol={"kind": "kfold", "split": "all", "folds": 10,
                                    "order": "interleaved"})
    for subject_dir in sorted((p for p in folder.iterdir() if p.is_dir()),
                              key=lambda p: natural_key(p.name)):
        for seq_dir in sorted((p for p in subject_dir.iterdir() if p.is_dir()),
                              key=lambda p: natural_key(p.name)):
            name = canonical_label(seq_dir.name)
            if name not in BASIC6:
                discovery.exclude(seq_dir, f"folder {seq_dir.name!r} is not one of the six "
                                           f"expressions")
                continue
            if not any(is_image_file(p) for p in seq_dir.iterdir()):
                discovery.exclude(seq_dir, "sequence folder holds no image")
                continue
            discovery.splits["all"].append(ClipItem(
                str(seq_dir), name, subject_dir.name, f"{subject_dir.name}_{seq_dir.name}",
                apex_index=APEX_LAST))
    return discovery

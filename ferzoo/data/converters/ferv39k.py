"""FERV39k (Wang et al. 2022): 38,935 clips in 22 scenes.

Layout as distributed (``SRC`` holds both)::

    2_ClipsforFaceCrop/<Scene>/<Emotion>/<clip>/*.jpg     face crops, one folder per clip
    4_setups/All_scenes/train_All.csv, test_All.csv         lines "Action/Sad/0010 Sad"

Labels: Angry, Disgust, Fear, Happy, Neutral, Sad, Surprise. Protocol: the fixed
train/test split of ``All_scenes``. No subject ids: each clip is its own subject.
Frames are already face crops: no detection by default. See docs/datasets/ferv39k.md.
"""

from __future__ import annotations

from pathlib import Path

from ferzoo.data.converters import register_converter
from ferzoo.data.converters.base import WITH_NEUTRAL, ClipItem, Discovery, canonical_label
from ferzoo.video.io import is_clip, natural_key


def read_setup(path: Path) -> list[tuple[str, str]]:
    """(clip path, label) rows: whitespace- or comma-separated, header skipped."""
    rows = []
    for line in path.read_text().splitlines():
        parts = line.replace(",", " ").split()
        if len(parts) >= 2 and canonical_label(parts[-1]):
            rows.append((parts[0].strip().strip("/"), parts[-1]))
    return rows


@register_converter(
    "ferv39k", title="FERV39k", detect=False, size=224, aliases=("ferv39",),
    options={"setup": ("All_scenes", "folder of 4_setups with the split files")},
)
def discover(src: Path, setup: str = "All_scenes") -> Discovery:
    src = Path(src)
    clips_dir, setup_dir = src / "2_ClipsforFaceCrop", src / "4_setups" / setup
    if not clips_dir.is_dir() or not setup_dir.is_dir():
        raise FileNotFoundError(f"ferv39k: expected {clips_dir} and {setup_dir}")
    discovery = Discovery(splits={}, labels=WITH_NEUTRAL,
                          protocol={"kind": "fixed", "train": "train", "test": "test",
                                    "source": f"4_setups/{setup}"})
    listed: set[str] = set()
    for split in ("train", "test"):
        files = sorted(setup_dir.glob(f"{split}*.csv")) + sorted(setup_dir.glob(f"{split}*.txt"))
        if not files:
            raise FileNotFoundError(f"ferv39k: no {split}_*.csv in {setup_dir}")
        items = []
        for rel, label in read_setup(files[0]):
            clip = clips_dir / rel
            name = canonical_label(label)
            if rel in listed:
                discovery.exclude(clip, "listed twice in the split files")
            elif name not in WITH_NEUTRAL:
                discovery.exclude(clip, f"label {label!r} is not a FERV39k emotion")
            elif not clip.is_dir() or not is_clip(clip):
                discovery.exclude(clip, "listed in the split file but no frame folder found")
            else:
                clip_id = rel
                items.append(ClipItem(str(clip), name, clip_id, clip_id))
            listed.add(rel)
        discovery.splits[split] = items
    for clip in sorted(clips_dir.glob("*/*/*"), key=lambda p: natural_key(str(p))):
        rel = clip.relative_to(clips_dir).as_posix()
        if clip.is_dir() and rel not in listed:
            discovery.exclude(clip, f"not in the {setup} split files")
    return discovery

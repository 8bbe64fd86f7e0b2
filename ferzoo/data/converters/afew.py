"""AFEW (Acted Facial Expressions in the Wild; Dhall et al., EmotiW challenges).

Layout as distributed (``SRC`` holds ``Train`` and ``Val``)::

    Train/Angry/000046280.avi ...
    Val/Happy/000150120.avi ...

Labels are the folder names: Angry, Disgust, Fear, Happy, Neutral, Sad, Surprise. The
test set's labels were never released, so the literature trains on Train and reports
on Val: they become the splits ``train`` and ``test``. Clips are movie excerpts with no
subject ids: each clip is its own subject (the validation part is held out by clip).
Faces are detected by default. See docs/datasets/afew.md.
"""

from __future__ import annotations

from pathlib import Path

from ferzoo.data.converters import register_converter
from ferzoo.data.converters.base import WITH_NEUTRAL, ClipItem, Discovery, canonical_label
from ferzoo.video.io import is_clip, natural_key

SPLITS = {"train": "train", "val": "test", "validation": "test", "test": "test"}


@register_converter("afew", title="AFEW", detect=True, size=224)
def discover(src: Path) -> Discovery:
    src = Path(src)
    split_dirs = {}
    for folder in sorted(p for p in src.iterdir() if p.is_dir()):
        split = SPLITS.get(folder.name.lower().removesuffix("_afew"))
        if split and split not in split_dirs:
            split_dirs[split] = folder
    if "train" not in split_dirs:
        raise FileNotFoundError(f"afew: {src} has no Train folder (expected Train/<Emotion>/*.avi "
                                f"and Val/<Emotion>/*.avi)")
    discovery = Discovery(splits={}, labels=WITH_NEUTRAL,
                          protocol={"kind": "fixed", "train": "train", "test": "test",
                                    "source": "train on Train, report on Val"})
    for split, folder in split_dirs.items():
        items = []
        for emotion_dir in sorted((p for p in folder.iterdir() if p.is_dir()),
                                  key=lambda p: natural_key(p.name)):
            name = canonical_label(emotion_dir.name)
            clips = sorted((p for p in emotion_dir.iterdir() if not p.name.startswith(".")),
                           key=lambda p: natural_key(p.name))
            for clip in clips:
                if name not in WITH_NEUTRAL:
                    discovery.exclude(clip, f"folder {emotion_dir.name!r} is not an AFEW emotion")
                elif not is_clip(clip):
                    discovery.exclude(clip, "not a video or frame folder")
                else:
                    clip_id = f"{folder.name}/{emotion_dir.name}/{clip.stem}"
                    items.append(ClipItem(str(clip), name, clip_id, clip_id))
        discovery.splits[split] = items
    return discovery

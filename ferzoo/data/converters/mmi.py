"""MMI Facial Expression Database (Pantic et al. 2005; Valstar and Pantic 2010).

Layout of the download (``SRC`` holds ``Sessions``, or is it)::

    Sessions/<n>/S001-001.avi              the session video
    Sessions/<n>/S001-001.xml              metadata: <Metatag Name="Emotion" Value="4"/>
    Sessions/<n>/S001-001-oao_aucs.xml     action units with onset/apex/offset markers
    Sessions/<n>/session.xml

Emotion codes (``Metatag Name="Emotion"``): 1 anger, 2 disgust, 3 fear, 4 happiness,
5 sadness, 6 surprise; sessions without one (action-unit-only recordings) are left out.
**Check the codes against your copy's documentation**: pass ``codes`` to change them
(``"1:anger,2:disgust,..."``). Subject ids come from the file name (``S001``), or the
session's ``<subject id=...>``. Sequences go neutral -> peak -> neutral; the apex is the
median of the ``Marker`` frames of type 2 (apex) in the ``oao_aucs`` file, when there is
one. As STC-NLSTM (Sec. 4.1), videos are read at 10 frames per second by default.
Protocol: subject-independent 10-fold cross-validation. See docs/datasets/mmi.md.
"""

from __future__ import annotations

import re
import statistics
import xml.etree.ElementTree as ET
from pathlib import Path

from ferzoo.data.converters import register_converter
from ferzoo.data.converters.base import BASIC6, ClipItem, Discovery
from ferzoo.video.io import is_video_file, natural_key

CODES = {1: "anger", 2: "disgust", 3: "fear", 4: "happiness", 5: "sadness", 6: "surprise"}
APEX_MARKER = "2"  # Marker Type: 1 onset, 2 apex, 3 offset


def parse_codes(text: str | None) -> dict[int, str]:
    if not text:
        return dict(CODES)
    codes = {}
    for part in text.split(","):
        key, _, name = part.partition(":")
        codes[int(key)] = name.strip()
    return codes


def _attr(element: ET.Element, name: str) -> str | None:
    for key, value in element.attrib.items():
        if key.lower() == name:
            return value
    return None


def read_emotion(path: Path) -> int | None:
    """The ``Emotion`` metatag of an MMI metadata file (None when absent)."""
    root = ET.parse(path).getroot()
    for element in root.iter():
        if element.tag.lower() == "metatag" and (_attr(element, "name") or "").lower() == "emotion":
            value = _attr(element, "value")
            if value is not None and value.strip().lstrip("-").isdigit():
                return int(value)
    return None


def read_apex(path: Path) -> int:
    """Median apex frame (0-based) over the action units of an oao_aucs file, or -1."""
    if not path.exists():
        return -1
    frames = []
    for element in ET.parse(path).getroot().iter():
        if element.tag.lower() == "marker" and _attr(element, "type") == APEX_MARKER:
            frame = _attr(element, "frame")
            if frame and frame.isdigit():
                frames.append(int(frame) - 1)
    return int(statistics.median_low(frames)) if frames else -1


def read_session_subject(path: Path) -> str | None:
    if not path.exists():
        return None
    for element in ET.parse(path).getroot().iter():
        if element.tag.lower() == "subject":
            value = _attr(element, "id")
            if value:
                return f"S{int(value):03d}" if value.isdigit() else value
    return None


@register_converter(
    "mmi", title="MMI", detect=True, size=64, target_fps=10.0,
    options={"codes": (None, "emotion code map, e.g. '1:anger,2:disgust,3:fear,4:happiness,"
                             "5:sadness,6:surprise' (the default)")},
)
def discover(src: Path, codes: str | None = None) -> Discovery:
    src = Path(src)
    sessions = src / "Sessions" if (src / "Sessions").is_dir() else src
    code_map = parse_codes(codes)
    discovery = Discovery(splits={"all": []}, labels=BASIC6,
                          protocol={"kind": "kfold", "split": "all", "folds": 10,
                                    "order": "interleaved"})
    folders = sorted((p for p in sessions.iterdir() if p.is_dir()),
                     key=lambda p: natural_key(p.name))
    if not folders:
        raise FileNotFoundError(f"mmi: no session folders in {sessions} "
                                f"(expected Sessions/<n>/<name>.avi)")
    for folder in folders:
        videos = sorted((p for p in folder.iterdir() if p.is_file() and is_video_file(p)),
                        key=lambda p: natural_key(p.name))
        if not videos:
            discovery.exclude(folder, "session without a video")
            continue
        for video in videos:
            meta = video.with_suffix(".xml")
            code = read_emotion(meta) if meta.exists() else None
            if code is None:
                discovery.exclude(video, "no Emotion metatag (an action-unit-only session)")
                continue
            name = code_map.get(code)
            if name not in BASIC6:
                discovery.exclude(video, f"emotion code {code} maps to {name!r}, not one of "
                                         f"the six expressions")
                continue
            match = re.match(r"(S\d+)", video.stem)
            subject = (match.group(1) if match else None) \
                or read_session_subject(folder / "session.xml") or folder.name
            apex = read_apex(folder / f"{video.stem}-oao_aucs.xml")
            discovery.splits["all"].append(ClipItem(
                str(video), name, subject, f"{folder.name}/{video.stem}", apex_index=apex))
    return discovery

"""Miniature dataset trees in each benchmark's real layout, for converter tests.

Frames come from the shared real media (faces from the head-pose GIFs, the face-less
photo and video) and from synthetic patterns (for the datasets of face crops, converted
without detection). Every builder returns what a test needs to check the result.
"""

from __future__ import annotations

import functools
from pathlib import Path

import cv2
import numpy as np

from ferzoo.video.io import FrameSource, read_image


@functools.lru_cache(maxsize=8)
def gif_frames(path: str) -> tuple[np.ndarray, ...]:
    return tuple(frame for _, frame in FrameSource(path))


def pattern_frames(n: int, size: int = 40, seed: int = 0) -> np.ndarray:
    """Synthetic frames: noise plus a bright square that moves (distinct per seed)."""
    rng = np.random.default_rng(seed)
    frames = rng.integers(0, 80, (n, size, size, 3), dtype=np.uint8)
    for t in range(n):
        x = (seed * 7 + 3 * t) % (size - 8)
        frames[t, 8:16, x:x + 8] = 220
    return frames


def write_image(path: Path, rgb: np.ndarray, grey: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    image = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY) if grey else cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
    assert cv2.imwrite(str(path), image), path


def write_video(path: Path, frames, fps: float = 25.0, codec: str = "MJPG") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*codec), fps, (w, h))
    for frame in frames:
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()


def make_ckplus(root: Path, real: Path) -> dict:
    """CK+: grey PNG sequences, emotion files for some; faces from the GIFs."""
    male = gif_frames(str(real / "head-pose-face-detection-male.gif"))
    female = gif_frames(str(real / "head-pose-face-detection-female.gif"))
    noface = read_image(real / "no-faces.jpg")
    images, emotion = root / "cohn-kanade-images", root / "Emotion"
    sequences = {
        ("S005", "001"): (male[0:4], 5.0),        # happy
        ("S010", "002"): (female[12:16], 7.0),    # surprise
        ("S011", "001"): (male[30:33], 2.0),      # contempt: left out of 6 classes
        ("S011", "002"): (male[40:43], None),     # no emotion file
        ("S012", "001"): ([noface] * 3, 1.0),     # anger, but no face: skipped
    }
    for (subject, seq), (frames, code) in sequences.items():
        for i, frame in enumerate(frames, start=1):
            write_image(images / subject / seq / f"{subject}_{seq}_{i:08d}.png", frame, grey=True)
        if code is not None:
            path = emotion / subject / seq / f"{subject}_{seq}_{len(frames):08d}_emotion.txt"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(f"   {code:.7e}\n")
    return {"written": {"S005_001": "happiness", "S010_002": "surprise"},
            "skipped": ["S012/001"], "excluded": ["S011/001", "S011/002"]}


def make_oulu(root: Path) -> dict:
    """Oulu-CASIA: OriginalImg/VL/Strong/P###/<Emotion>/###.jpeg (and an NI setting)."""
    emotions = ["Anger", "Disgust", "Fear", "Happiness", "Sadness", "Surprise"]
    seed = 0
    for modality in ("VL", "NI"):
        for subject in ("P001", "P002", "P010"):
            for emotion in emotions[:3] if modality == "VL" else emotions[:1]:
                seed += 1
                for i, frame in enumerate(pattern_frames(5, 40, seed)):
                    write_image(root / "OriginalImg" / modality / "Strong" / subject / emotion
                                / f"{i:03d}.jpeg", frame)
    (root / "OriginalImg" / "VL" / "Strong" / "P001" / "Thumbs").mkdir()
    return {"clips": 9, "subjects": ["P001", "P002", "P010"]}


def make_mmi(root: Path) -> dict:
    """MMI: Sessions/<n>/S###-###.avi with metadata and oao_aucs XML files."""
    sessions = root / "Sessions"
    specs = [(1, "S001-001", 4, 15), (2, "S001-002", 6, None), (3, "S002-001", 1, 10),
             (4, "S003-005", None, None)]
    for n, stem, emotion, apex in specs:
        folder = sessions / str(n)
        write_video(folder / f"{stem}.avi", list(pattern_frames(30, 48, n)), fps=25.0)
        tags = '<Metatag Name="Gender" Value="Male"/>'
        if emotion is not None:
            tags += f'<Metatag Name="Emotion" Value="{emotion}"/>'
        (folder / f"{stem}.xml").write_text(f'<?xml version="1.0"?><Metadata>{tags}</Metadata>')
        (folder / "session.xml").write_text(
            f'<?xml version="1.0"?><session sessionId="{n}"><subject id="{stem[1:4]}"/></session>')
        if apex is not None:
            (folder / f"{stem}-oao_aucs.xml").write_text(
                '<?xml version="1.0"?><ActionUnits><ActionUnit Number="12">'
                f'<Marker Frame="{apex - 8}" Type="1"/><Marker Frame="{apex + 1}" Type="2"/>'
                f'<Marker Frame="{apex + 10}" Type="3"/></ActionUnit></ActionUnits>')
    return {"written": {"1/S001-001": ("happiness", 15), "2/S001-002": ("surprise", -1),
                        "3/S002-001": ("anger", 10)}, "excluded": ["S003-005"]}


def make_afew(root: Path, real: Path) -> dict:
    """AFEW: Train|Val/<Emotion>/*.avi from the real GIFs and the face-less video."""
    male = gif_frames(str(real / "head-pose-face-detection-male.gif"))
    both = gif_frames(str(real / "head-pose-face-detection-female-and-male.gif"))
    write_video(root / "Train" / "Happy" / "000046280.avi", male[:5], fps=12.5)
    write_video(root / "Train" / "Neutral" / "000123400.avi", both[:5], fps=12.5)
    (root / "Val" / "Surprise").mkdir(parents=True)
    (root / "Val" / "Surprise" / "004.mp4").write_bytes((real / "no_face.mp4").read_bytes())
    write_video(root / "Val" / "Sad" / "002.avi", male[20:25], fps=12.5)
    (root / "Val" / "Sad" / "notes.txt").write_text("not a clip")
    return {}


DFEW_CODES = {1: "happiness", 2: "sadness", 3: "neutral", 4: "anger", 5: "surprise",
              6: "disgust", 7: "fear"}


def make_dfew(root: Path) -> dict:
    """DFEW: Clip/clip_224x224/<5 digits>/*.jpg and the 5-fold split CSVs."""
    clips = root / "Clip" / "clip_224x224"
    splits = root / "EmoLabel_DataSplit"
    folds = {f: [(2 * f - 1, (2 * f - 1) % 7 + 1), (2 * f, (2 * f) % 7 + 1)] for f in range(1, 6)}
    for f, rows in folds.items():
        for number, _ in rows:
            if number == 10:
                continue  # listed but missing on disk
            for i, frame in enumerate(pattern_frames(4, 32, number), start=1):
                write_image(clips / f"{number:05d}" / f"{number:05d}_{i:05d}.jpg", frame)
    for i, frame in enumerate(pattern_frames(3, 32, 99), start=1):  # on disk, in no split
        write_image(clips / "00099" / f"00099_{i:05d}.jpg", frame)
    for f in range(1, 6):
        test = folds[f]
        train = [r for g in range(1, 6) if g != f for r in folds[g]]
        if f == 1:
            train = [r for r in train if r[0] != 3]  # fold 1's train CSV leaves clip 3 out
        for kind, rows in (("test", test), ("train", train)):
            path = splits / f"{kind}(single-labeled)" / f"set_{f}.csv"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("video_name,label\n" + "".join(f"{n},{c}\n" for n, c in rows))
    return {"folds": folds, "missing": "00010", "unlisted": "00099"}


def make_ferv39k(root: Path) -> dict:
    """FERV39k: 2_ClipsforFaceCrop/<Scene>/<Emotion>/<clip>/*.jpg and the setup CSVs."""
    rows = {"train": [("Action/Sad/0010", "Sad"), ("Action/Happy/0003", "Happy"),
                      ("Talkshow/Angry/0042", "Angry")],
            "test": [("Talkshow/Neutral/0007", "Neutral"), ("Action/Fear/0001", "Fear")]}
    seed = 0
    for split_rows in rows.values():
        for rel, _ in split_rows:
            seed += 1
            for i, frame in enumerate(pattern_frames(3, 32, seed), start=1):
                write_image(root / "2_ClipsforFaceCrop" / rel / f"{i:04d}.jpg", frame)
    for i, frame in enumerate(pattern_frames(2, 32, 50), start=1):
        write_image(root / "2_ClipsforFaceCrop" / "War" / "Sad" / "0100" / f"{i:04d}.jpg", frame)
    setup = root / "4_setups" / "All_scenes"
    setup.mkdir(parents=True)
    for split, split_rows in rows.items():
        (setup / f"{split}_All.csv").write_text("".join(f"{r} {l}\n" for r, l in split_rows))
    return {"rows": rows, "unlisted": "War/Sad/0100"}


def make_generic(root: Path, subjects: int = 4, per_subject: int = 3,
                 labels=("Happy", "Sad", "Surprise"), frames: int = 6, size: int = 32) -> dict:
    """root/<label>/<subject>_<n>/ frame folders (and one video file) of patterns."""
    count = 0
    for s in range(subjects):
        for k in range(per_subject):
            label = labels[(s + k) % len(labels)]
            clip = pattern_frames(frames, size, seed=100 * s + k)
            clip[:, -8:, :8] = 60 + 60 * labels.index(label)  # a label cue, for training tests
            if s == 0 and k == 0:
                write_video(root / label / f"S{s:02d}_{k}.avi", list(clip), fps=10.0)
            else:
                for i, frame in enumerate(clip):
                    write_image(root / label / f"S{s:02d}_{k}" / f"{i}.png", frame)
            count += 1
    return {"clips": count}

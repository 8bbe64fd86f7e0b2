"""Make a dataset of face clips that ferzoo's recipes were never tuned on, as a user's own
clips would arrive: mp4 files in label folders and a manifest CSV with a subject column.

    python tools/make_holdout_clips.py data/holdout            # 24 subjects x 24 clips
    ferzoo convert generic data/holdout/manifest.csv tfr/holdout --no-detect --size 64
    ferzoo train --model stc_nlstm --preset cpu --data tfr/holdout
    ferzoo train --model reference_c3d --data tfr/holdout

The faces come from the synthetic renderer (``ferzoo.data.synthetic``) with another seed
than the built-in dataset (other people: face geometry, skin, hair, background), and are
then filmed in another style: each subject has a camera of its own (colour balance,
contrast, a slight blur, a zoom and offset of the face), and the clips are stored as mp4
(lossy), so the frames differ from anything the built-in set shows. Every random choice
is seeded: the same arguments give the same files.
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import cv2
import numpy as np

from ferzoo.data.synthetic import SyntheticConfig
from ferzoo.data.synthetic.clips import render_clip


def camera(subject: int, seed: int) -> dict:
    """A subject's camera: colour gains, contrast, gamma, blur, zoom and offset."""
    rng = np.random.default_rng([seed, 991, subject])
    return {"gains": rng.uniform(0.8, 1.15, 3).astype(np.float32),
            "contrast": float(rng.uniform(0.75, 1.2)), "gamma": float(rng.uniform(0.8, 1.25)),
            "blur": float(rng.uniform(0.0, 1.0)), "zoom": float(rng.uniform(0.85, 1.1)),
            "shift": rng.uniform(-0.06, 0.06, 2)}


def film(frames: np.ndarray, cam: dict, size: int) -> np.ndarray:
    """Frames as the subject's camera sees them: uint8 (T, size, size, 3)."""
    t, h, w, _ = frames.shape
    matrix = cv2.getRotationMatrix2D((w / 2, h / 2), 0.0, cam["zoom"])
    matrix[:, 2] += cam["shift"] * np.array([w, h])
    out = np.empty((t, size, size, 3), np.uint8)
    for i, frame in enumerate(frames):
        x = cv2.warpAffine(frame, matrix, (w, h), borderMode=cv2.BORDER_REFLECT)
        if cam["blur"] > 0.3:
            x = cv2.GaussianBlur(x, (0, 0), cam["blur"])
        x = x.astype(np.float32) / 255.0
        x = np.clip((x - 0.5) * cam["contrast"] + 0.5, 0, 1) ** cam["gamma"]
        x = np.clip(x * cam["gains"], 0, 1)
        out[i] = cv2.resize((x * 255).round().astype(np.uint8), (size, size),
                            interpolation=cv2.INTER_AREA)
    return out


def write_mp4(path: Path, frames: np.ndarray, fps: float) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    h, w = frames.shape[1:3]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
    for frame in frames:
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", help="folder for <label>/<clip>.mp4 and manifest.csv")
    parser.add_argument("--subjects", type=int, default=24)
    parser.add_argument("--clips", type=int, default=24, help="clips per subject")
    parser.add_argument("--size", type=int, default=64, help="stored frame side")
    parser.add_argument("--seed", type=int, default=20260, help="another seed than the "
                        "built-in dataset's 0: other faces")
    args = parser.parse_args()
    out = Path(args.out)
    # Rendered larger than stored, then zoomed and shifted by the camera.
    config = SyntheticConfig(size=int(args.size * 1.25), seed=args.seed,
                             num_subjects=args.subjects + 1, test_subjects=1,
                             clips_per_subject=args.clips, min_frames=12, max_frames=28,
                             mmi_fraction=0.3)
    rows = []
    for subject in range(args.subjects):
        cam = camera(subject, args.seed)
        for index in range(args.clips):
            clip = render_clip(config, subject, index)
            name = f"person{subject + 1:02d}_take{index + 1:02d}.mp4"
            path = out / clip.label_name / name
            if not path.exists():
                write_mp4(path, film(clip.frames, cam, args.size), clip.fps or 25.0)
            rows.append((path.relative_to(out).as_posix(), clip.label_name,
                         f"person{subject + 1:02d}"))
        print(f"subject {subject + 1}/{args.subjects}", flush=True)
    with open(out / "manifest.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["path", "label", "subject"])
        writer.writerows(rows)
    print(f"{len(rows)} clips of {args.subjects} subjects in {out} (manifest.csv)")


if __name__ == "__main__":
    main()

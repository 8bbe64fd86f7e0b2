# %% [markdown]
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/ferzoo/ferzoo/blob/main/notebooks/02_your_dataset.ipynb)
#
# # Your own dataset: videos to TFRecords, then subject-independent cross-validation
#
# ferzoo trains on sharded TFRecords. The `generic` converter (`ferzoo convert generic`)
# turns a folder of labelled videos into them: it reads every clip, detects, tracks and
# aligns the face on the eyes, and writes the aligned face frames with the label and the
# subject. This notebook
#
# 1. builds a small folder in the generic layout from the real sample video and converts it
#    with face detection, showing the aligned faces;
# 2. builds a second folder of synthetic clips written as mp4 files, converts it (already face
#    crops: no detection) and runs a 3-fold subject-independent cross-validation of a tiny
#    model.
#
# Everything is written under `notebook_runs/`. It takes about two minutes on a CPU.

# %%
# Colab: install ferzoo from its repository (skipped where it is already installed).
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # TensorFlow: errors only
try:
    import ferzoo
except ImportError:
    # %pip install -q "git+https://github.com/ferzoo/ferzoo"
    import ferzoo
print("ferzoo", ferzoo.__version__)

# %% [markdown]
# ## The layout
#
# One folder per label, one clip per file (a video, a folder of frame images, or an image);
# optionally a `train/`, `val/`, `test/` level above. Label names in any usual spelling
# (`Happy`, `happiness`, `HA`) become ferzoo's names in its fixed order. Subject ids come from
# the file names through a regular expression (`subject_pattern`), or from a CSV manifest
# (`path,label,subject,split`). See `docs/datasets/generic.md`.
#
# ```
# my_clips/
#   happiness/S01_part1.mp4
#   happiness/S01_part2.mp4
#   surprise/S02_take3.mp4
# ```
#
# Our real clips: the sample video cut in two halves, labelled `happiness` (the man smiles).

# %%
import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
from ferzoo import sample_media
from ferzoo.video.io import read_clip

import matplotlib.pyplot as plt
from IPython.display import Markdown, display

from ferzoo.inference.display import show

WORK = Path("notebook_runs/02_your_dataset")
real_dir = WORK / "real_clips"
(real_dir / "happiness").mkdir(parents=True, exist_ok=True)


def write_video(path, frames, fps):
    """RGB frames (N, H, W, 3) uint8 -> an mp4 file."""
    height, width = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
    for frame in frames:
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()


frames, info = read_clip(sample_media.path("smiling_man.mp4"))  # RGB
fps = info.fps
half = len(frames) // 2
write_video(real_dir / "happiness" / "S01_part1.mp4", frames[:half], fps)
write_video(real_dir / "happiness" / "S01_part2.mp4", frames[half:], fps)
print(sorted(str(p.relative_to(real_dir)) for p in real_dir.rglob("*.mp4")))

# %% [markdown]
# ## Convert, with face detection and alignment
#
# The same as `ferzoo convert generic notebook_runs/02_your_dataset/real_clips OUT --size 64
# --option subject_pattern='^(S\d+)_'`. The report says how many clips were written and how
# the faces were found; `manifest.json` in the output folder lists the clips, labels and
# subjects.
#
# The sample video ships inside the package (`ferzoo.sample_media`): `smiling_man.mp4`, from Intel's *head-pose-face-detection-male* sample (CC BY 4.0, Intel Corporation, [intel-iot-devkit/sample-videos](https://github.com/intel-iot-devkit/sample-videos)).

# %%
from ferzoo.data.converters import convert

real_records = WORK / "tfrecords" / "real"
report = convert("generic", real_dir, real_records, size=64, progress=False,
                 subject_pattern=r"^(S\d+)_")
print(f"{report['written']} clips written, {report['skipped']} skipped")
manifest = json.loads((real_records / "manifest.json").read_text())
print("labels:", manifest.get("labels"))
print(sorted(p.name for p in real_records.iterdir()))

# %% [markdown]
# The aligned face clips, read back from the TFRecords as the training pipeline reads them
# (`make_dataset`, 10 frames sampled uniformly over each clip). The red crosses mark where
# the alignment puts the eyes.

# %%
from ferzoo.data.pipeline import InputSpec, make_dataset
from ferzoo.video.faces import aligned_eye_positions, contact_sheet

spec = InputSpec(frames=10, image_size=64)
rows = []
for inputs, label, info in make_dataset(str(real_records), spec, training=False,
                                        batch_size=1, with_info=True):
    clip = (inputs["video"].numpy()[0] * 255).round().astype(np.uint8)
    rows.append(clip)
    print(info["clip_id"].numpy()[0].decode(), "label", int(label[0]), clip.shape)
sheet = contact_sheet(rows, columns=10, marks=aligned_eye_positions(64))
fig, ax = plt.subplots(figsize=(12, 2.8))
ax.imshow(sheet)
ax.set_title("aligned faces, one clip per row (time ->)")
ax.axis("off")
show(fig, jpeg=True)

# %% [markdown]
# ## Public datasets
#
# The same command converts the public benchmarks from their distributed layout, with the
# protocol each paper uses recorded beside the shards (`protocol.json`): for example
#
# ```
# ferzoo convert ckplus ~/data/CK+ tfrecords/ckplus          # CK+: 10-fold, subject-independent
# ferzoo convert dfew ~/data/DFEW tfrecords/dfew             # DFEW: its 5 official folds
# ```
#
# Each has a "Preparing" page in `docs/datasets/` (`ckplus.md`, `dfew.md`, `oulu.md`,
# `mmi.md`, `afew.md`, `ferv39k.md`) with the layout it expects; none of them can be
# downloaded automatically (their licences require a request).

# %%
from ferzoo.data.converters import list_converters

print(list_converters())

# %% [markdown]
# ## A folder of synthetic clips as videos
#
# Cross-validation needs several subjects and classes. We render synthetic clips (6
# expressions, 6 subjects, 6 clips each) and write them as mp4 files in the same layout,
# with the subject in the file name. They are face crops already, so the conversion skips
# face detection (`--no-detect`); here it is run as the command.

# %%
from ferzoo.data.synthetic import SyntheticConfig, render_clip

synthetic_dir = WORK / "synthetic_clips"
config = SyntheticConfig(size=32, num_subjects=6, test_subjects=1, clips_per_subject=6,
                         min_frames=8, max_frames=12)
for subject in range(config.num_subjects):
    for index in range(config.clips_per_subject):
        clip = render_clip(config, subject, index)
        folder = synthetic_dir / config.labels[clip.label]
        folder.mkdir(parents=True, exist_ok=True)
        write_video(folder / f"S{subject:02d}_clip{index}.mp4", clip.frames, 10)
print(len(list(synthetic_dir.rglob("*.mp4"))), "videos in",
      sorted(p.name for p in synthetic_dir.iterdir()))

# %%
synthetic_records = WORK / "tfrecords" / "synthetic"
command = [sys.executable, "-m", "ferzoo.cli", "convert", "generic", str(synthetic_dir),
           str(synthetic_records), "--size", "32", "--no-detect", "--quiet",
           "--option", r"subject_pattern=^(S\d+)_"]
print("$ ferzoo " + " ".join(command[3:]))
print(subprocess.run(command, capture_output=True, text=True, check=True).stdout)

# %% [markdown]
# ## Subject-independent cross-validation
#
# `ferzoo.training.crossval.crossval` (the `ferzoo crossval` command) deals the subjects to
# k folds; each fold trains on the other folds' subjects (holding some out for model
# selection) and tests on its own, so no subject is ever seen in training and testing. The
# summary gives WAR and UAR per fold and their mean and standard deviation. A tiny model for
# one epoch per fold keeps this quick: the numbers are near chance and only show the
# mechanics.

# %%
from ferzoo.training.crossval import crossval, summary_table

summary = crossval("stc_nlstm", synthetic_records, folds=3,
                   out_dir=WORK / "runs" / "crossval", preset="tiny", epochs=1,
                   batch_size=8, progress=False)
display(Markdown(summary_table(summary)))

# %%
folds = summary["folds"]
x = np.arange(len(folds))
fig, ax = plt.subplots(figsize=(6, 3))
ax.bar(x - 0.2, [f["war"] for f in folds], 0.4, label="WAR")
ax.bar(x + 0.2, [f["uar"] for f in folds], 0.4, label="UAR")
ax.axhline(1 / 6, color="grey", linestyle="--", linewidth=1, label="chance")
ax.set_xticks(x, [f"fold {f['fold']}" for f in folds])
ax.set_ylim(0, 1)
ax.set_ylabel("test score")
ax.legend(fontsize=8)
ax.set_title("stc_nlstm (tiny, 1 epoch) per fold")
show(fig)

# %% [markdown]
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/ferzoo/ferzoo/blob/main/notebooks/01_quickstart.ipynb)
#
# # ferzoo quickstart: build, train, evaluate, predict
#
# This notebook walks through ferzoo's whole path on a CPU in about three minutes:
#
# 1. list the model zoo and build a model,
# 2. generate a synthetic dataset of face clips (six expressions, disjoint subjects),
# 3. train the single-frame CNN of Jain et al. for about two minutes and evaluate it on unseen
#    subjects (about 90% accuracy),
# 4. predict the expression timeline of a real video.
#
# Everything is written under `notebook_runs/` in the working folder. On Colab, a GPU
# runtime is not needed.

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
# ## The model zoo
#
# Every model is a registered Keras 3 functional model. `ferzoo.list_models()` names them,
# `ferzoo.model_info()` gives the paper, the input a model expects, its defaults and presets,
# and `ferzoo.build()` returns a `keras.Model`. The `tiny` preset is a very small version for
# tests and demos; `cpu` trains in minutes on a laptop.

# %%
import json
from pathlib import Path

import matplotlib.pyplot as plt

from ferzoo.inference.display import show, show_file

WORK = Path("notebook_runs/01_quickstart")  # everything this notebook writes

for name in ferzoo.list_models():
    print(f"{name:26s} {ferzoo.get_entry(name).description[:70]}")

# %%
info = ferzoo.model_info("hybrid_cnn")
print(info["paper"])
print("input:", info["input"])
print("presets:", json.dumps(info["presets"]))
print(f"parameters of the paper's model: {info['parameters']:,}")

model = ferzoo.build("hybrid_cnn", preset="cpu")
print(f"cpu preset: input {model.input.shape}, output {model.output.shape}, "
      f"{model.count_params():,} parameters")

# %% [markdown]
# ## Synthetic data
#
# `ferzoo.data.synthetic` renders face clips of the six basic expressions for a set of
# subjects with their own face geometry, skin, hair and background; the test subjects never
# appear in training. `ensure_synthetic` writes them as TFRecords once (cached) together with
# a contact sheet. Here 48x48 frames and short clips (6 to 12 frames), 40 subjects (10 for
# testing), 30 clips each: 1,200 clips, rendered in a few seconds.

# %%
from ferzoo.data.synthetic import SyntheticConfig, ensure_synthetic

SYNTHETIC = dict(size=48, num_subjects=40, test_subjects=10, clips_per_subject=30,
                 min_frames=6, max_frames=12)
data_dir = ensure_synthetic(WORK / "data", SyntheticConfig(**SYNTHETIC))
print(sorted(p.name for p in data_dir.iterdir()))
show_file(data_dir / "contact_sheet.png", scale=0.45)

# %% [markdown]
# ## Train
#
# `ferzoo.training.trainer.train` (the `ferzoo train` command) trains a registered model:
# it holds out some training subjects for model selection, checkpoints every epoch (rerun the
# same call to resume), keeps the best epoch and evaluates it on the test subjects.
#
# The model is `hybrid_cnn`, the frame CNN of Jain et al.'s hybrid CNN-RNN, in its `cpu`
# preset: one 48x48 grey frame per clip (the apex, by the `to_apex` sampling), 1.2 M
# parameters. The recipe `hybrid_synthetic` (Adam, cosine schedule, histogram equalisation
# and per-frame standardisation) runs here with a learning rate of 1e-3 instead of its
# 3e-4 and for 20 epochs, with the training step compiled by XLA (`jit=True`): about two
# minutes on a 2-core CPU (XLA made this run 1.65x faster there; on other models and
# machines it can be slower, so measure). The same as `ferzoo train --model hybrid_cnn
# --preset cpu --recipe hybrid_synthetic --lr 1e-3 --epochs 20 --jit`. Every fifth epoch of
# the log is printed: validation accuracy climbs from chance (1/6) to about 90% (two
# seeds gave 93% and 86% on the test subjects).

# %%
from ferzoo.training.trainer import train

run_dir = WORK / "runs" / "hybrid_cnn_cpu"


def log(line):  # the trainer's log, with every fifth epoch only
    words = line.split()
    if words[:1] == ["epoch"] and (len(words) < 3 or int(words[1]) % 5):
        return
    print(line)


result = train("hybrid_cnn", out_dir=run_dir, preset="cpu", recipe="hybrid_synthetic",
               data_root=str(WORK / "data"), synthetic=SYNTHETIC, learning_rate=1e-3,
               epochs=20, jit=True, progress=False, log=log)
print(json.dumps(result["test"], indent=1))

# %% [markdown]
# ## Evaluate
#
# The run folder holds the model (`model.keras`), the logs and the test report. `ferzoo
# evaluate` recomputes WAR (accuracy), UAR (mean per-class recall), the per-class recall and
# the confusion matrix on any shards; here it is run as a command, as you would in a shell.

# %%
import subprocess
import sys

command = [sys.executable, "-m", "ferzoo.cli", "evaluate", "--run", str(run_dir),
           "--out", str(run_dir / "evaluation")]
print("$ ferzoo " + " ".join(command[3:]))
print(subprocess.run(command, capture_output=True, text=True, check=True).stdout)
show_file(str(run_dir / "evaluation" / "test_confusion.png"), width=420, jpeg=False)

# %% [markdown]
# ## Predict on a real video
#
# `ferzoo.inference.predict.Predictor` (the `ferzoo predict` command) takes any model format (a run
# folder, `.keras`, `.tflite`, `.onnx`), finds, follows and aligns every face (BlazeFace
# when `ferzoo[fast]` is installed, else MTCNN), slides a window of the model's T frames
# over each face's frames as they stream in, and writes per face the timeline of class
# probabilities (`timeline.csv`, `timeline.png`) and a summary (`summary.json`). The frames are prepared as in training: the recipe's
# histogram equalisation and standardisation, read from the run (or from an export's model
# card), are applied before the model sees them.
#
# The sample video ships inside the package (`ferzoo.sample_media`): `smiling_man.mp4`, from Intel's *head-pose-face-detection-male* sample (CC BY 4.0, Intel Corporation, [intel-iot-devkit/sample-videos](https://github.com/intel-iot-devkit/sample-videos)).
#
# **A model trained on synthetic faces does not transfer to real faces.** The model above
# has only ever seen drawn faces, so its timeline on a real man's face is not a measure of
# anything: it shows the mechanics (one window of one frame here, since the model takes one
# frame). Train on real data (notebook 02, the public datasets) for real predictions.

# %%
from ferzoo import sample_media
from ferzoo.inference.predict import Predictor
from ferzoo.video.io import read_clip

video = sample_media.path("smiling_man.mp4")
frames, info = read_clip(video)  # (T, H, W, 3) uint8 RGB
print(f"{video.name}: {len(frames)} frames of {frames.shape[2]}x{frames.shape[1]}, "
      f"{info.fps:.1f} fps")
fig, axes = plt.subplots(1, 4, figsize=(12, 2))
for ax, i in zip(axes, range(0, len(frames), len(frames) // 4)):
    ax.imshow(frames[i])
    ax.set_title(f"frame {i}", fontsize=9)
    ax.axis("off")
show(fig, jpeg=True)

# %%
predictor = Predictor(run_dir)
timeline = predictor.predict(video, out_dir=WORK / "prediction")
print(f"{len(timeline)} windows of {predictor.frames} face frames; "
      f"faces: {timeline.notes['frames_detected']} frames detected")
for row in timeline.rows()[:3]:
    print({k: row[k] for k in ("start_s", "end_s", "top_label", "top_probability")})
show_file(timeline.files["plot"], width=700, jpeg=False)

# %% [markdown]
# ## Next
#
# * `02_your_dataset.ipynb`: your own labelled videos to TFRecords, subject-independent
#   cross-validation.
# * `03_export_to_edge.ipynb`: TFLite (float and int8) and ONNX, parity, latency, LiteRT.
# * `04_look_inside.ipynb`: attention maps of STCAM and LSTPNet, MSPP features of STC-NLSTM.

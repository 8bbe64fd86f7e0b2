"""Write the notebooks under notebooks/ from the cell sources below (without outputs).

    python tools/make_notebooks.py          # rewrite every notebooks/*.ipynb from here
    python tools/run_notebooks.py           # then execute them and store the outputs

The notebooks are generated so that the repository address lives in one place
(``REPO_URL``) and every notebook starts the same way: a Colab badge, then an install
cell that only installs when ferzoo is not importable (CI has no network and never
installs). This script is the source of the notebooks: ``tests/test_notebooks.py`` checks
that the committed cells equal what it generates, so change a notebook here, not in Jupyter.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import nbformat

# The project's public repository (placeholder until the project is published).
REPO_URL = "https://github.com/ferzoo/ferzoo"
NOTEBOOK_DIR = Path(__file__).resolve().parents[1] / "notebooks"


def colab_badge(filename: str) -> str:
    """Markdown of the "Open in Colab" badge of ``notebooks/<filename>``."""
    path = REPO_URL.replace("https://github.com/", "")
    return (f"[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]"
            f"(https://colab.research.google.com/github/{path}/blob/main/notebooks/{filename})")


def install_cell(extras: str = "", also: tuple[str, ...] = ()) -> str:
    """The first code cell: install ferzoo from the repository only when it is missing."""
    requirement = f"ferzoo[{extras}] @ git+{REPO_URL}" if extras else f"git+{REPO_URL}"
    imports = "\n".join(f"    import {name}" for name in ("ferzoo",) + also)
    return f'''# Colab: install ferzoo from its repository (skipped where it is already installed).
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # TensorFlow: errors only
try:
{imports}
except ImportError:
    %pip install -q "{requirement}"
    import ferzoo
print("ferzoo", ferzoo.__version__)'''


# A matplotlib figure as a PNG output, whatever backend ferzoo's plotting selected.
SHOW = '''import io

import matplotlib.pyplot as plt
from IPython.display import Image, Markdown, display


def show(fig, dpi=80, jpeg=False):
    """Display a matplotlib figure (under any backend) and close it; JPEG for photos."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="jpeg" if jpeg else "png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    display(Image(buffer.getvalue(), format="jpeg" if jpeg else "png"))


def show_file(path, scale=1.0, width=None):
    """Display an image file as a JPEG, scaled (keeps the notebook small)."""
    import cv2

    image = cv2.imread(str(path))
    if scale != 1.0:
        image = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    _, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 85])
    display(Image(data.tobytes(), format="jpeg", width=width))'''

# The synthetic data of the model that 01 and 03 train (03 says "the model of 01").
HYBRID_SYNTHETIC = """SYNTHETIC = dict(size=48, num_subjects=40, test_subjects=10, clips_per_subject=30,
                 min_frames=6, max_frames=12)"""
ATTRIBUTION = ("The sample video ships inside the package (`ferzoo.sample_media`): "
               "`smiling_man.mp4`, from Intel's *head-pose-face-detection-male* sample "
               "(CC BY 4.0, Intel Corporation, "
               "[intel-iot-devkit/sample-videos]"
               "(https://github.com/intel-iot-devkit/sample-videos)).")


def md(text: str):
    return nbformat.v4.new_markdown_cell(text.strip("\n"))


def code(text: str):
    return nbformat.v4.new_code_cell(text.strip("\n"))


# --------------------------------------------------------------------------- 01
def quickstart(filename: str) -> list:
    return [
        md(f"""
{colab_badge(filename)}

# ferzoo quickstart: build, train, evaluate, predict

This notebook walks through ferzoo's whole path on a CPU in about two minutes:

1. list the model zoo and build a model,
2. generate a synthetic dataset of face clips (six expressions, disjoint subjects),
3. train the single-frame CNN of Jain et al. for about a minute and evaluate it on unseen
   subjects (about 90% accuracy),
4. predict the expression timeline of a real video.

Everything is written under `notebook_runs/` in the working folder. On Colab, a GPU
runtime is not needed.
"""),
        code(install_cell()),
        md("""
## The model zoo

Every model is a registered Keras 3 functional model. `ferzoo.list_models()` names them,
`ferzoo.model_info()` gives the paper, the input a model expects, its defaults and presets,
and `ferzoo.build()` returns a `keras.Model`. The `tiny` preset is a very small version for
tests and demos; `cpu` trains in minutes on a laptop.
"""),
        code(f"""
import json
from pathlib import Path

{SHOW}

WORK = Path("notebook_runs/01_quickstart")  # everything this notebook writes

for name in ferzoo.list_models():
    print(f"{{name:26s}} {{ferzoo.get_entry(name).description[:70]}}")
"""),
        code("""
info = ferzoo.model_info("hybrid_cnn")
print(info["paper"])
print("input:", info["input"])
print("presets:", json.dumps(info["presets"]))
print(f"parameters of the paper's model: {info['parameters']:,}")

model = ferzoo.build("hybrid_cnn", preset="cpu")
print(f"cpu preset: input {model.input.shape}, output {model.output.shape}, "
      f"{model.count_params():,} parameters")
"""),
        md("""
## Synthetic data

`ferzoo.data.synthetic` renders face clips of the six basic expressions for a set of
subjects with their own face geometry, skin, hair and background; the test subjects never
appear in training. `ensure_synthetic` writes them as TFRecords once (cached) together with
a contact sheet. Here 48x48 frames and short clips (6 to 12 frames), 40 subjects (10 for
testing), 30 clips each: 1,200 clips, rendered in a few seconds.
"""),
        code(f"""
from ferzoo.data.synthetic import SyntheticConfig, ensure_synthetic

{HYBRID_SYNTHETIC}
data_dir = ensure_synthetic(WORK / "data", SyntheticConfig(**SYNTHETIC))
print(sorted(p.name for p in data_dir.iterdir()))
show_file(data_dir / "contact_sheet.png", scale=0.45)
"""),
        md("""
## Train

`ferzoo.training.trainer.train` (the `ferzoo train` command) trains a registered model:
it holds out some training subjects for model selection, checkpoints every epoch (rerun the
same call to resume), keeps the best epoch and evaluates it on the test subjects.

The model is `hybrid_cnn`, the frame CNN of Jain et al.'s hybrid CNN-RNN, in its `cpu`
preset: one 48x48 grey frame per clip (the apex, by the `to_apex` sampling), 1.2 M
parameters. With the recipe `hybrid_synthetic` (Adam, learning rate 3e-4, histogram
equalisation and per-frame standardisation) 30 epochs take about a minute on a CPU: the
same as `ferzoo train --model hybrid_cnn --preset cpu --recipe hybrid_synthetic --epochs
30`. Every fifth epoch of the log is printed: validation accuracy climbs from chance (1/6)
to about 90%.
"""),
        code("""
from ferzoo.training.trainer import train

run_dir = WORK / "runs" / "hybrid_cnn_cpu"


def log(line):  # the trainer's log, with every fifth epoch only
    words = line.split()
    if words[:1] == ["epoch"] and (len(words) < 3 or int(words[1]) % 5):
        return
    print(line)


result = train("hybrid_cnn", out_dir=run_dir, preset="cpu", recipe="hybrid_synthetic",
               data_root=str(WORK / "data"), synthetic=SYNTHETIC, epochs=30,
               progress=False, log=log)
print(json.dumps(result["test"], indent=1))
"""),
        md("""
## Evaluate

The run folder holds the model (`model.keras`), the logs and the test report. `ferzoo
evaluate` recomputes WAR (accuracy), UAR (mean per-class recall), the per-class recall and
the confusion matrix on any shards; here it is run as a command, as you would in a shell.
"""),
        code("""
import subprocess
import sys

command = [sys.executable, "-m", "ferzoo.cli", "evaluate", "--run", str(run_dir),
           "--out", str(run_dir / "evaluation")]
print("$ ferzoo " + " ".join(command[3:]))
print(subprocess.run(command, capture_output=True, text=True, check=True).stdout)
display(Image(filename=str(run_dir / "evaluation" / "test_confusion.png"), width=420))
"""),
        md(f"""
## Predict on a real video

`ferzoo.inference.predict.Predictor` (the `ferzoo predict` command) takes any model format (a run
folder, `.keras`, `.tflite`, `.onnx`), finds and aligns the face in every frame with
MTCNN, slides a window of the model's T frames over the clip and writes the timeline of
class probabilities as CSV and PNG. The frames are prepared as in training: the recipe's
histogram equalisation and standardisation, read from the run (or from an export's model
card), are applied before the model sees them.

{ATTRIBUTION}

**A model trained on synthetic faces does not transfer to real faces.** The model above
has only ever seen drawn faces, so its timeline on a real man's face is not a measure of
anything: it shows the mechanics (one window of one frame here, since the model takes one
frame). Train on real data (notebook 02, the public datasets) for real predictions.
"""),
        code("""
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
"""),
        code("""
predictor = Predictor(run_dir)
timeline = predictor.predict(video, out_dir=WORK / "prediction")
print(f"{len(timeline)} windows of {predictor.frames} face frames; "
      f"faces: {timeline.notes['frames_detected']} frames detected")
for row in timeline.rows()[:3]:
    print({k: row[k] for k in ("start_s", "end_s", "top_label", "top_probability")})
display(Image(filename=timeline.files["plot"], width=700))
"""),
        md("""
## Next

* `02_your_dataset.ipynb`: your own labelled videos to TFRecords, subject-independent
  cross-validation.
* `03_export_to_edge.ipynb`: TFLite (float and int8) and ONNX, parity, latency, LiteRT.
* `04_look_inside.ipynb`: attention maps of STCAM and LSTPNet, MSPP features of STC-NLSTM.
"""),
    ]


# --------------------------------------------------------------------------- 02
def your_dataset(filename: str) -> list:
    return [
        md(f"""
{colab_badge(filename)}

# Your own dataset: videos to TFRecords, then subject-independent cross-validation

ferzoo trains on sharded TFRecords. The `generic` converter (`ferzoo convert generic`)
turns a folder of labelled videos into them: it reads every clip, detects, tracks and
aligns the face on the eyes, and writes the aligned face frames with the label and the
subject. This notebook

1. builds a small folder in the generic layout from the real sample video and converts it
   with face detection, showing the aligned faces;
2. builds a second folder of synthetic clips written as mp4 files, converts it (already face
   crops: no detection) and runs a 3-fold subject-independent cross-validation of a tiny
   model.

Everything is written under `notebook_runs/`. It takes about two minutes on a CPU.
"""),
        code(install_cell()),
        md("""
## The layout

One folder per label, one clip per file (a video, a folder of frame images, or an image);
optionally a `train/`, `val/`, `test/` level above. Label names in any usual spelling
(`Happy`, `happiness`, `HA`) become ferzoo's names in its fixed order. Subject ids come from
the file names through a regular expression (`subject_pattern`), or from a CSV manifest
(`path,label,subject,split`). See `docs/datasets/generic.md`.

```
my_clips/
  happiness/S01_part1.mp4
  happiness/S01_part2.mp4
  surprise/S02_take3.mp4
```

Our real clips: the sample video cut in two halves, labelled `happiness` (the man smiles).
"""),
        code(f"""
import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
from ferzoo import sample_media
from ferzoo.video.io import read_clip

{SHOW}

WORK = Path("notebook_runs/02_your_dataset")
real_dir = WORK / "real_clips"
(real_dir / "happiness").mkdir(parents=True, exist_ok=True)


def write_video(path, frames, fps):
    \"\"\"RGB frames (N, H, W, 3) uint8 -> an mp4 file.\"\"\"
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
"""),
        md(f"""
## Convert, with face detection and alignment

The same as `ferzoo convert generic notebook_runs/02_your_dataset/real_clips OUT --size 64
--option subject_pattern='^(S\\d+)_'`. The report says how many clips were written and how
the faces were found; `manifest.json` in the output folder lists the clips, labels and
subjects.

{ATTRIBUTION}
"""),
        code("""
from ferzoo.data.converters import convert

real_records = WORK / "tfrecords" / "real"
report = convert("generic", real_dir, real_records, size=64, progress=False,
                 subject_pattern=r"^(S\\d+)_")
print(f"{report['written']} clips written, {report['skipped']} skipped")
manifest = json.loads((real_records / "manifest.json").read_text())
print("labels:", manifest.get("labels"))
print(sorted(p.name for p in real_records.iterdir()))
"""),
        md("""
The aligned face clips, read back from the TFRecords as the training pipeline reads them
(`make_dataset`, 10 frames sampled uniformly over each clip). The red crosses mark where
the alignment puts the eyes.
"""),
        code("""
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
"""),
        md("""
## Public datasets

The same command converts the public benchmarks from their distributed layout, with the
protocol each paper uses recorded beside the shards (`protocol.json`): for example

```
ferzoo convert ckplus ~/data/CK+ tfrecords/ckplus          # CK+: 10-fold, subject-independent
ferzoo convert dfew ~/data/DFEW tfrecords/dfew             # DFEW: its 5 official folds
```

Each has a "Preparing" page in `docs/datasets/` (`ckplus.md`, `dfew.md`, `oulu.md`,
`mmi.md`, `afew.md`, `ferv39k.md`) with the layout it expects; none of them can be
downloaded automatically (their licences require a request).
"""),
        code("""
from ferzoo.data.converters import list_converters

print(list_converters())
"""),
        md("""
## A folder of synthetic clips as videos

Cross-validation needs several subjects and classes. We render synthetic clips (6
expressions, 6 subjects, 6 clips each) and write them as mp4 files in the same layout,
with the subject in the file name. They are face crops already, so the conversion skips
face detection (`--no-detect`); here it is run as the command.
"""),
        code("""
from ferzoo.data.synthetic import SyntheticConfig, render_clip, subject_name

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
"""),
        code("""
synthetic_records = WORK / "tfrecords" / "synthetic"
command = [sys.executable, "-m", "ferzoo.cli", "convert", "generic", str(synthetic_dir),
           str(synthetic_records), "--size", "32", "--no-detect", "--quiet",
           "--option", r"subject_pattern=^(S\\d+)_"]
print("$ ferzoo " + " ".join(command[3:]))
print(subprocess.run(command, capture_output=True, text=True, check=True).stdout)
"""),
        md("""
## Subject-independent cross-validation

`ferzoo.training.crossval.crossval` (the `ferzoo crossval` command) deals the subjects to
k folds; each fold trains on the other folds' subjects (holding some out for model
selection) and tests on its own, so no subject is ever seen in training and testing. The
summary gives WAR and UAR per fold and their mean and standard deviation. A tiny model for
one epoch per fold keeps this quick: the numbers are near chance and only show the
mechanics.
"""),
        code("""
from ferzoo.training.crossval import crossval, summary_table

summary = crossval("stc_nlstm", synthetic_records, folds=3,
                   out_dir=WORK / "runs" / "crossval", preset="tiny", epochs=1,
                   batch_size=8, progress=False)
display(Markdown(summary_table(summary)))
"""),
        code("""
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
"""),
    ]


# --------------------------------------------------------------------------- 03
def export_to_edge(filename: str) -> list:
    return [
        md(f"""
{colab_badge(filename)}

# Export to the edge: TFLite (float32 and int8) and ONNX

`ferzoo.export` (the `ferzoo export` command) converts a trained model to TFLite
(builtins only: no Flex ops, so it runs with the small LiteRT runtime) in float32 and
full-integer int8, and to ONNX; it runs every artefact on check clips and compares it
with Keras (a float artefact must match within 1e-4 and agree on every top-1 class), and
writes a model card. This notebook trains a small model that really learns (about 90% on
unseen synthetic subjects), exports it, compares accuracy, size and latency, and runs the
int8 model with LiteRT on a clip and on a real video.

Needs the export extras (`pip install "ferzoo[export]"`: tf2onnx, onnxruntime,
ai-edge-litert). About two minutes on a CPU.
"""),
        code(install_cell("export", also=("tf2onnx", "onnxruntime", "ai_edge_litert"))),
        md("""
## A small trained model

The model of `01_quickstart.ipynb`: `hybrid_cnn` (the frame CNN of Jain et al.; `cpu`
preset: one 48x48 grey frame per clip) trained for 30 epochs with the `hybrid_synthetic`
recipe on synthetic clips, about a minute on a CPU. A trained model makes the comparison
of the exports meaningful: its top class stands out, so a top-1 disagreement is a real
change of decision.
"""),
        code(f"""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

{SHOW}

from ferzoo.training.trainer import train

WORK = Path("notebook_runs/03_export_to_edge")
{HYBRID_SYNTHETIC}
run_dir = WORK / "runs" / "hybrid_cnn_cpu"
result = train("hybrid_cnn", out_dir=run_dir, preset="cpu", recipe="hybrid_synthetic",
               data_root=str(WORK / "data"), synthetic=SYNTHETIC, epochs=30,
               progress=False, log=lambda line: None)
print("test:", {{k: round(v, 3) for k, v in result["test"].items() if k in ("war", "uar")}})
"""),
        md("""
## Export

The command below is what you would type in a shell. With a run folder it calibrates int8
on the run's training clips (prepared as in training: equalised and standardised) and
measures every artefact's WAR/UAR on the test split of unseen subjects, next to the Keras
model's. The SavedModel format is left out to save time.
"""),
        code("""
export_dir = WORK / "export"
command = [sys.executable, "-m", "ferzoo.cli", "export", "--weights", str(run_dir),
           "--out", str(export_dir), "--formats", "tflite", "onnx",
           "--tflite-variants", "float32", "int8", "--calibration-clips", "32"]
print("$ ferzoo " + " ".join(command[3:]))
completed = subprocess.run(command, capture_output=True, text=True)
print(completed.stdout[-3000:])
completed.check_returncode()
print(sorted(p.name for p in export_dir.iterdir()))
"""),
        md("""
## Parity, size and latency

`export_report.json` holds the figures of every artefact: the largest absolute difference
from Keras over the check clips, the share of clips whose top-1 class matches, the median
latency per clip at batch 1 and the size on disk. Latencies of a small model on a shared
CPU are noisy: read the ratios.
"""),
        code("""
from ferzoo.export import parity_table

report = json.loads((export_dir / "export_report.json").read_text())
artefacts = report["artefacts"]
for a in artefacts:
    label = a["format"] if a["format"] != "tflite" else f"tflite-{a['variant']}"
    print(f"{label:16s} max |diff| {a['max_abs_diff']:.2e}  top-1 agreement "
          f"{a['top1_agreement']:.0%}  {a['size_bytes'] / 1024:7.1f} KiB  "
          f"{a['latency_ms']:.2f} ms/clip")
print(f"{'keras':16s} {report['keras_latency_ms']:.2f} ms/clip")
"""),
        code("""
labels = ["keras"] + [a["format"] if a["format"] != "tflite" else f"tflite-{a['variant']}"
                      for a in artefacts]
latency = [report["keras_latency_ms"]] + [a["latency_ms"] for a in artefacts]
sizes = [a["size_bytes"] / 1024 for a in artefacts]
fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.2))
left.bar(labels, latency, color=["grey"] + ["tab:blue"] * len(artefacts))
left.set_ylabel("ms per clip (batch 1)")
left.set_title("latency")
right.bar(labels[1:], sizes, color="tab:orange")
right.set_ylabel("KiB on disk")
right.set_title("size")
for ax in (left, right):
    ax.tick_params(axis="x", rotation=20)
fig.suptitle("hybrid_cnn (cpu preset): exported artefacts")
show(fig)
"""),
        md("""
The int8 row: int8 stores weights and activations in 8 bits (about a quarter of the float
file) and rounds the probabilities in steps of about 1/256. The trained model's top class
stands out, so int8 keeps the float model's decision on almost every check clip and its
WAR on the unseen subjects stays close to float's (the figures above).

## Run the int8 model with LiteRT

`ferzoo.export.runtime.open_runtime` opens any artefact (`.tflite` with LiteRT, `.onnx` with
ONNX Runtime, a SavedModel, a Keras model) behind the same call: a dict of named clip
batches in, a dict of outputs out. Here one test clip, prepared as the training pipeline
prepares it, through Keras, TFLite float32 and TFLite int8.
"""),
        code("""
import keras
from ferzoo.data.pipeline import InputSpec, make_dataset
from ferzoo.export.runtime import KerasRuntime, open_runtime

model = keras.saving.load_model(run_dir / "model.keras")
run_info = json.loads((run_dir / "run.json").read_text())
labels = run_info["labels"]
spec = InputSpec.from_model(model, run_info["spec"]["sampling"])  # to_apex: the apex frame
test_files = sorted(str(p) for p in (WORK / "data").glob("*/test-*.tfrecord"))
# As in training: the recipe's equalisation and standardisation (run_info["recipe"]).
clips = make_dataset(test_files, spec, training=False, batch_size=1,
                     augment=run_info["recipe"]["augment"])
inputs, label = next(iter(clips))
feed = {"video": inputs["video"].numpy()}
print("clip:", feed["video"].shape, "true label:", labels[int(label[0])])
runtimes = {"keras": KerasRuntime(model),
            "tflite-float32": open_runtime(export_dir / "hybrid_cnn_float32.tflite"),
            "tflite-int8": open_runtime(export_dir / "hybrid_cnn_int8.tflite")}
for name, runtime in runtimes.items():
    probabilities = next(iter(runtime(feed).values()))[0]
    print(f"{name:15s} {np.round(probabilities, 3)}  -> {labels[int(probabilities.argmax())]}")
"""),
        md(f"""
The same int8 file drives the video-to-timeline path (`ferzoo predict VIDEO --weights
hybrid_cnn_int8.tflite`): face detection and alignment in Python, the model in LiteRT, one
window per face frame (the model takes one frame), the frames equalised and standardised
as the model card records. As in the quickstart: a model trained
on synthetic faces does not transfer to real faces, so this timeline shows the mechanics,
not the man's expressions.

{ATTRIBUTION}
"""),
        code("""
from ferzoo import sample_media
from ferzoo.inference.predict import Predictor

predictor = Predictor(export_dir / "hybrid_cnn_int8.tflite", labels=labels)
timeline = predictor.predict(sample_media.path("smiling_man.mp4"),
                             out_dir=WORK / "prediction")
print(f"runtime: {predictor.runtime.format}, {len(timeline)} windows")
display(Image(filename=timeline.files["plot"], width=700))
"""),
    ]


# --------------------------------------------------------------------------- 04
def look_inside(filename: str) -> list:
    return [
        md(f"""
{colab_badge(filename)}

# Look inside: attention maps and pyramid features

Three views into the models:

1. **STCAM**: the spatial-temporal attention maps (STAM) over the frames of a clip, as in
   the paper's Fig. 7 (`ferzoo attention`, `ferzoo.inference.visualize`);
2. **LSTPNet**: the LSTformer's self-attention between frames (which time steps each frame
   attends to);
3. **STC-NLSTM**: the MSPP-norm feature sequence of every 3D conv layer (the inputs of the
   T-LSTMs).

The models are small: the STCAM is trained for two epochs on a small synthetic set, the
LSTPNet and the STC-NLSTM are **untrained** (random weights), so their maps show the
mechanics, not learned behaviour. Train with the README's commands for meaningful maps.
About a minute on a CPU.
"""),
        code(install_cell()),
        md("""
## STCAM: spatial-temporal attention over frames

A tiny STCAM (7 frames of 64x64) trained for two epochs on synthetic clips. `ferzoo
attention --run RUN` draws, for one test clip, the frames and each attention layer's map
overlaid on them (blue: low weight, red: high); with `--layer ir_a_attention` it draws the
paper's three rows (frames, maps, overlays) for one layer.
"""),
        code(f"""
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np

{SHOW}

from ferzoo.training.trainer import train

WORK = Path("notebook_runs/04_look_inside")
SYNTHETIC = dict(size=64, num_subjects=8, test_subjects=2, clips_per_subject=12,
                 min_frames=8, max_frames=12)
stcam_run = WORK / "runs" / "stcam_tiny"
result = train("stcam", out_dir=stcam_run, preset="tiny",
               overrides=dict(frames=7, image_size=64), data_root=str(WORK / "data"),
               synthetic=SYNTHETIC, epochs=2, batch_size=8, progress=False,
               log=lambda line: None)
print("test:", {{k: round(v, 3) for k, v in result["test"].items() if k in ("war", "uar")}})
"""),
        code("""
figure = WORK / "stcam_attention.png"
command = [sys.executable, "-m", "ferzoo.cli", "attention", "--run", str(stcam_run),
           "--index", "3", "--layer", "ir_a_attention", "--out", str(figure)]
print("$ ferzoo " + " ".join(command[3:]))
print(subprocess.run(command, capture_output=True, text=True, check=True).stdout)
show_file(figure, scale=0.8)
"""),
        md("""
The same from Python: `spatiotemporal_attention(model, clip, layer)` returns one layer's
map, shape (T', H', W'); `save_attention_figure(model, clip, path)` draws all layers.
Deeper layers have coarser maps (fewer time steps and pixels after the reductions).
"""),
        code("""
from ferzoo.data.pipeline import InputSpec, make_dataset
from ferzoo.training.trainer import load_run
from ferzoo.inference.visualize import save_attention_figure, spatiotemporal_attention

stcam, info = load_run(stcam_run)
test_files = str(Path(info["train_files"][0]).parent / "test-*.tfrecord")
spec = InputSpec.from_model(stcam, "stcam")
clip = next(iter(make_dataset(test_files, spec, training=False, batch_size=1)))[0]["video"]
for layer in ("ir_a_attention", "red_b_attention", "ir_c_attention"):
    name, attention = spatiotemporal_attention(stcam, clip.numpy(), layer)
    print(f"{name:16s} map {attention.shape}  range {attention.min():.3f}-{attention.max():.3f}")
path = save_attention_figure(stcam, clip.numpy(), WORK / "stcam_all_layers.png")
show_file(path, scale=0.6)
"""),
        md("""
## LSTPNet: attention over time (untrained)

LSTPNet turns every frame into one token (a ResNet-18 with temporal channel excitation,
then global pooling) and lets the LSTformer's blocks attend between the T tokens. The
layer does not return its attention, so we recompute it from the block's own sublayers:
each level first mixes neighbouring frames (`temporal_conv` + the shared `temporal_norm`),
then the block's pre-norm and `to_qkv` projection give the queries and keys, and
`softmax(q k^T / sqrt(d))` is the (T x T) attention, shown averaged over the heads.
Random weights: the pattern shows the computation, not what a trained model looks at.
"""),
        code("""
import ferzoo
from keras import ops

lstpnet = ferzoo.build("lstpnet", preset="tiny", frames=8, image_size=32)
former = lstpnet.get_layer("lstformer")
tokens_of = keras.Model(lstpnet.input, lstpnet.get_layer("tokens").output)
video = np.random.default_rng(0).uniform(size=(1, 8, 32, 32, 3)).astype("float32")

x = tokens_of(video)  # (1, T, dim): one token per frame
maps = []
for block in former.blocks:  # the same steps as LSTformer.call, keeping the attention
    x = former.temporal_norm(x + former.temporal_conv(x))
    q, k, _ = ops.split(block.to_qkv(block.attention_norm(x)), 3, axis=-1)
    frames, heads, width = x.shape[1], block.heads, block.dim_head
    q = ops.transpose(ops.reshape(q, (1, frames, heads, width)), (0, 2, 1, 3))
    k = ops.transpose(ops.reshape(k, (1, frames, heads, width)), (0, 2, 1, 3))
    weights = ops.softmax(ops.matmul(q, ops.transpose(k, (0, 1, 3, 2))) * width**-0.5)
    maps.append(ops.convert_to_numpy(ops.mean(weights, axis=1))[0])  # (T, T)
    x = block(x)
print("tokens:", tuple(tokens_of(video).shape), "blocks:", len(maps))
print("same output as the layer:", np.allclose(x, former(tokens_of(video)), atol=1e-5))

fig, axes = plt.subplots(1, len(maps), figsize=(4 * len(maps), 3.4))
for i, (ax, attention) in enumerate(zip(np.atleast_1d(axes), maps)):
    image = ax.imshow(attention, cmap="viridis", vmin=0)
    ax.set_title(f"block {i}: attention (mean over heads)", fontsize=9)
    ax.set_xlabel("key frame")
    ax.set_ylabel("query frame")
    fig.colorbar(image, ax=ax, fraction=0.046)
fig.suptitle("LSTPNet (tiny, untrained) on a random clip")
show(fig)
"""),
        md("""
## STC-NLSTM: MSPP features per conv layer (untrained)

STC-NLSTM pools every 3D conv layer's output with MSPP-norm (multi-scale spatial pyramid
max-pooling per time step) into one fixed-length vector per time step; each layer's
sequence feeds its own T-LSTM. Below, for a synthetic clip: the layer's feature maps at one
time step (mean over channels) and its MSPP sequence (time x features). Random weights.
"""),
        code("""
from ferzoo.data.synthetic import SyntheticConfig, render_clip

stc = ferzoo.build("stc_nlstm", preset="tiny", frames=8)
clip = render_clip(SyntheticConfig(size=32), subject_id=0, clip_index=3)
picks = np.linspace(0, len(clip.frames) - 1, 8).round().astype(int)
video = (clip.frames[picks] / 255.0).astype("float32")[None]  # (1, 8, 32, 32, 3)
layers = [layer.name for layer in stc.layers if layer.name.startswith("mspp")]
features = keras.Model(stc.input, [stc.get_layer(n).output for n in layers]
                       + [stc.get_layer(n).input for n in layers])(video)
mspp, conv = features[:len(layers)], features[len(layers):]

fig, axes = plt.subplots(2, len(layers) + 1, figsize=(2.6 * (len(layers) + 1), 5))
axes[0, 0].imshow(clip.frames[picks[-1]])
axes[0, 0].set_title("input (last frame)", fontsize=8)
axes[1, 0].axis("off")
axes[1, 0].text(0, 0.5, f"label: {SyntheticConfig().labels[clip.label]}", fontsize=9)
for j, name in enumerate(layers, start=1):
    maps = np.asarray(conv[j - 1])[0]  # (T', H', W', C)
    sequence = np.asarray(mspp[j - 1])[0]  # (T', D)
    axes[0, j].imshow(maps[-1].mean(-1), cmap="magma")
    axes[0, j].set_title(f"conv{j} {maps.shape[1]}x{maps.shape[2]}x{maps.shape[3]}",
                         fontsize=8)
    axes[1, j].imshow(sequence, aspect="auto", cmap="magma", interpolation="nearest")
    axes[1, j].set_title(f"{name}: {sequence.shape[0]} x {sequence.shape[1]}", fontsize=8)
    axes[1, j].set_xlabel("feature")
    axes[1, j].set_ylabel("time step")
for ax in axes[0]:
    ax.set_xticks([])
    ax.set_yticks([])
fig.suptitle("STC-NLSTM (tiny, untrained): conv maps (top) and MSPP sequences (bottom)")
fig.tight_layout()
show(fig)
"""),
    ]


NOTEBOOKS = {
    "01_quickstart.ipynb": quickstart,
    "02_your_dataset.ipynb": your_dataset,
    "03_export_to_edge.ipynb": export_to_edge,
    "04_look_inside.ipynb": look_inside,
}


def make_notebook(filename: str) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.cells = NOTEBOOKS[filename](filename)
    nb.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python",
                                 "name": "python3"}
    nb.metadata["language_info"] = {"name": "python"}
    nb.metadata["colab"] = {"provenance": []}
    for i, cell in enumerate(nb.cells):  # stable ids: no diff noise on regeneration
        cell["id"] = f"{Path(filename).stem[:2]}-{i:02d}"
    return nb


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="notebooks to write (default: all)")
    args = parser.parse_args(argv)
    NOTEBOOK_DIR.mkdir(exist_ok=True)
    for filename in args.names or NOTEBOOKS:
        filename = Path(filename).name
        path = NOTEBOOK_DIR / filename
        nbformat.write(make_notebook(filename), path)
        print(f"wrote {path.relative_to(NOTEBOOK_DIR.parent)}")


if __name__ == "__main__":
    main()

# %% [markdown]
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/ferzoo/ferzoo/blob/main/notebooks/03_export_to_edge.ipynb)
#
# # Export to the edge: TFLite (float32 and int8) and ONNX
#
# `ferzoo.export` (the `ferzoo export` command) converts a trained model to TFLite
# (builtins only: no Flex ops, so it runs with the small LiteRT runtime) in float32 and
# full-integer int8, and to ONNX; it runs every artefact on check clips and compares it
# with Keras (a float artefact must match within 1e-4 and agree on every top-1 class), and
# writes a model card. This notebook trains a small model that really learns (about 90% on
# unseen synthetic subjects), exports it, compares accuracy, size and latency, and runs the
# int8 model with LiteRT on a clip and on a real video.
#
# Needs the export extras (`pip install "ferzoo[export]"`: tf2onnx, onnxruntime,
# ai-edge-litert). About two minutes on a CPU.

# %%
# Colab: install ferzoo from its repository (skipped where it is already installed).
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # TensorFlow: errors only
try:
    import ferzoo
    import tf2onnx  # noqa: F401
    import onnxruntime  # noqa: F401
    import ai_edge_litert  # noqa: F401
except ImportError:
    # %pip install -q "ferzoo[export] @ git+https://github.com/ferzoo/ferzoo"
    import ferzoo
print("ferzoo", ferzoo.__version__)

# %% [markdown]
# ## A small trained model
#
# The model of `01_quickstart.ipynb`: `hybrid_cnn` (the frame CNN of Jain et al.; `cpu`
# preset: one 48x48 grey frame per clip) trained as there (the `hybrid_synthetic` recipe at
# a learning rate of 1e-3, 20 epochs, XLA) on synthetic clips, about two minutes on a CPU.
# A trained model makes the comparison of the exports meaningful: its top class stands out,
# so a top-1 disagreement is a real change of decision.

# %%
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

import matplotlib.pyplot as plt

from ferzoo.inference.display import show, show_file

from ferzoo.training.trainer import train

WORK = Path("notebook_runs/03_export_to_edge")
SYNTHETIC = dict(size=48, num_subjects=40, test_subjects=10, clips_per_subject=30,
                 min_frames=6, max_frames=12)
run_dir = WORK / "runs" / "hybrid_cnn_cpu"
result = train("hybrid_cnn", out_dir=run_dir, preset="cpu", recipe="hybrid_synthetic",
               data_root=str(WORK / "data"), synthetic=SYNTHETIC, learning_rate=1e-3,
               epochs=20, jit=True, progress=False, log=lambda line: None)
print("test:", {k: round(v, 3) for k, v in result["test"].items() if k in ("war", "uar")})

# %% [markdown]
# ## Export
#
# The command below is what you would type in a shell. With a run folder it calibrates int8
# on the run's training clips (prepared as in training: equalised and standardised) and
# measures every artefact's WAR/UAR on the test split of unseen subjects, next to the Keras
# model's. The SavedModel format is left out to save time.

# %%
export_dir = WORK / "export"
command = [sys.executable, "-m", "ferzoo.cli", "export", "--weights", str(run_dir),
           "--out", str(export_dir), "--formats", "tflite", "onnx",
           "--tflite-variants", "float32", "int8", "--calibration-clips", "32"]
print("$ ferzoo " + " ".join(command[3:]))
completed = subprocess.run(command, capture_output=True, text=True)
print(completed.stdout[-3000:])
completed.check_returncode()
print(sorted(p.name for p in export_dir.iterdir()))

# %% [markdown]
# ## Parity, size and latency
#
# `export_report.json` holds the figures of every artefact: the largest absolute difference
# from Keras over the check clips, the share of clips whose top-1 class matches, the median
# latency per clip at batch 1 and the size on disk. Latencies of a small model on a shared
# CPU are noisy: read the ratios.

# %%
report = json.loads((export_dir / "export_report.json").read_text())
artefacts = report["artefacts"]
for a in artefacts:
    label = a["format"] if a["format"] != "tflite" else f"tflite-{a['variant']}"
    print(f"{label:16s} max |diff| {a['max_abs_diff']:.2e}  top-1 agreement "
          f"{a['top1_agreement']:.0%}  {a['size_bytes'] / 1024:7.1f} KiB  "
          f"{a['latency_ms']:.2f} ms/clip")
print(f"{'keras':16s} {report['keras_latency_ms']:.2f} ms/clip")

# %%
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

# %% [markdown]
# The int8 row: int8 stores weights and activations in 8 bits (about a quarter of the float
# file) and rounds the probabilities in steps of about 1/256. The trained model's top class
# stands out, so int8 keeps the float model's decision on almost every check clip and its
# WAR on the unseen subjects stays close to float's (the figures above).
#
# ## Run the int8 model with LiteRT
#
# `ferzoo.export.runtime.open_runtime` opens any artefact (`.tflite` with LiteRT, `.onnx` with
# ONNX Runtime, a SavedModel, a Keras model) behind the same call: a dict of named clip
# batches in, a dict of outputs out. Here one test clip, prepared as the training pipeline
# prepares it, through Keras, TFLite float32 and TFLite int8.

# %%
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

# %% [markdown]
# The same int8 file drives the video-to-timeline path (`ferzoo predict VIDEO --weights
# hybrid_cnn_int8.tflite`): face detection and alignment in Python, the model in LiteRT, one
# window per face frame (the model takes one frame), the frames equalised and standardised
# as the model card records. As in the quickstart: a model trained
# on synthetic faces does not transfer to real faces, so this timeline shows the mechanics,
# not the man's expressions.
#
# The sample video ships inside the package (`ferzoo.sample_media`): `smiling_man.mp4`, from Intel's *head-pose-face-detection-male* sample (CC BY 4.0, Intel Corporation, [intel-iot-devkit/sample-videos](https://github.com/intel-iot-devkit/sample-videos)).

# %%
from ferzoo import sample_media
from ferzoo.inference.predict import Predictor

predictor = Predictor(export_dir / "hybrid_cnn_int8.tflite", labels=labels)
timeline = predictor.predict(sample_media.path("smiling_man.mp4"),
                             out_dir=WORK / "prediction")
print(f"runtime: {predictor.runtime.format}, {len(timeline)} windows")
show_file(timeline.files["plot"], width=700, jpeg=False)

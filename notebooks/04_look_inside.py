# %% [markdown]
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/ferzoo/ferzoo/blob/main/notebooks/04_look_inside.ipynb)
#
# # Look inside: attention maps and pyramid features
#
# Three views into the models:
#
# 1. **STCAM**: the spatial-temporal attention maps (STAM) over the frames of a clip, as in
#    the paper's Fig. 7 (`ferzoo attention`, `ferzoo.inference.visualize`);
# 2. **LSTPNet**: the LSTformer's self-attention between frames (which time steps each frame
#    attends to);
# 3. **STC-NLSTM**: the MSPP-norm feature sequence of every 3D conv layer (the inputs of the
#    T-LSTMs).
#
# The models are small: the STCAM is trained for two epochs on a small synthetic set, the
# LSTPNet and the STC-NLSTM are **untrained** (random weights), so their maps show the
# mechanics, not learned behaviour. Train with the README's commands for meaningful maps.
# About a minute on a CPU.

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
# ## STCAM: spatial-temporal attention over frames
#
# A tiny STCAM (7 frames of 64x64) trained for two epochs on synthetic clips. `ferzoo
# attention --run RUN` draws, for one test clip, the frames and each attention layer's map
# overlaid on them (blue: low weight, red: high); with `--layer ir_a_attention` it draws the
# paper's three rows (frames, maps, overlays) for one layer.

# %%
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np

import matplotlib.pyplot as plt

from ferzoo.inference.display import show, show_file

from ferzoo.training.trainer import train

WORK = Path("notebook_runs/04_look_inside")
SYNTHETIC = dict(size=64, num_subjects=8, test_subjects=2, clips_per_subject=12,
                 min_frames=8, max_frames=12)
stcam_run = WORK / "runs" / "stcam_tiny"
result = train("stcam", out_dir=stcam_run, preset="tiny",
               overrides=dict(frames=7, image_size=64), data_root=str(WORK / "data"),
               synthetic=SYNTHETIC, epochs=2, batch_size=8, progress=False,
               log=lambda line: None)
print("test:", {k: round(v, 3) for k, v in result["test"].items() if k in ("war", "uar")})

# %%
figure = WORK / "stcam_attention.png"
command = [sys.executable, "-m", "ferzoo.cli", "attention", "--run", str(stcam_run),
           "--index", "3", "--layer", "ir_a_attention", "--out", str(figure)]
print("$ ferzoo " + " ".join(command[3:]))
print(subprocess.run(command, capture_output=True, text=True, check=True).stdout)
show_file(figure, scale=0.8)

# %% [markdown]
# The same from Python: `spatiotemporal_attention(model, clip, layer)` returns one layer's
# map, shape (T', H', W'); `save_attention_figure(model, clip, path)` draws all layers.
# Deeper layers have coarser maps (fewer time steps and pixels after the reductions).

# %%
from ferzoo.data.pipeline import InputSpec, make_dataset
from ferzoo.training.run_folder import load_run
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

# %% [markdown]
# ## LSTPNet: attention over time (untrained)
#
# LSTPNet turns every frame into one token (a ResNet-18 with temporal channel excitation,
# then global pooling) and lets the LSTformer's blocks attend between the T tokens. The
# layer does not return its attention, so we recompute it from the block's own sublayers:
# each level first mixes neighbouring frames (`temporal_conv` + the shared `temporal_norm`),
# then the block's pre-norm and `to_qkv` projection give the queries and keys, and
# `softmax(q k^T / sqrt(d))` is the (T x T) attention, shown averaged over the heads.
# Random weights: the pattern shows the computation, not what a trained model looks at.

# %%
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

# %% [markdown]
# ## STC-NLSTM: MSPP features per conv layer (untrained)
#
# STC-NLSTM pools every 3D conv layer's output with MSPP-norm (multi-scale spatial pyramid
# max-pooling per time step) into one fixed-length vector per time step; each layer's
# sequence feeds its own T-LSTM. Below, for a synthetic clip: the layer's feature maps at one
# time step (mean over channels) and its MSPP sequence (time x features). Random weights.

# %%
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

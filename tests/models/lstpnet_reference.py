"""An independent numpy re-implementation of LSTPNet's forward pass (tests only).

Written from docs/design.md#lstpnet in PyTorch's layout (NCHW, weights (out, in, *kernel)),
reading the official state_dict names directly, in float64. It shares no code with
ferzoo: the parity tests compare the converted Keras model against it.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
from scipy.special import erf

KEYS_FILE = Path(__file__).resolve().parents[1] / "fixtures" / "lstpnet_state_dict_keys.txt"


# ---------------------------------------------------------------- a random state_dict

def official_keys(path: Path = KEYS_FILE) -> list[tuple[str, tuple[int, ...]]]:
    """(name, shape) of every entry of the authors' checkpoint, from the key list."""
    entries = []
    for line in path.read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        match = re.fullmatch(r"(\S+) \(([\d, ]*)\)", line.strip())
        assert match, f"unreadable line in {path.name}: {line!r}"
        shape = tuple(int(d) for d in match.group(2).replace(" ", "").split(",") if d)
        entries.append((match.group(1), shape))
    return entries


def random_state_dict(seed: int = 0, keys=None) -> dict[str, np.ndarray]:
    """Random values with the names and shapes of the official checkpoint.

    Scales keep activations O(1) through 18 conv layers; BatchNorm statistics are
    non-trivial; the LSTformer's shared TC and norm hold the same values under all
    three of their names, as a real checkpoint does.
    """
    rng = np.random.default_rng(seed)
    out = {}
    for name, shape in keys or official_keys():
        if name.endswith("num_batches_tracked"):
            value = np.array(1000, np.int64)
        elif name.endswith("running_var"):
            value = rng.uniform(0.5, 1.5, shape)
        elif name.endswith("running_mean"):
            value = rng.normal(0.0, 0.1, shape)
        elif name.endswith("bias"):
            value = rng.normal(0.0, 0.1, shape)
        elif len(shape) == 1:  # BatchNorm / LayerNorm scale
            value = rng.uniform(0.7, 1.3, shape)
        else:
            fan_in = int(np.prod(shape[1:]))
            value = rng.normal(0.0, np.sqrt(1.0 / fan_in), shape)
        out[name] = np.asarray(value, np.int64 if value.dtype == np.int64 else np.float32)
    prefix = "t_former.spatial_transformer"
    for level in (0, 1):
        for slot, shared in ((0, "TC"), (1, "norm")):
            for part in ("weight", "bias"):
                out[f"{prefix}.layers.{level}.{slot}.{part}"] = out[f"{prefix}.{shared}.{part}"]
    return out


# ---------------------------------------------------------------- primitives (NCHW)

def conv2d(x, w, b=None, stride=1, pad=0):
    """x (N, I, H, W), w (O, I, kh, kw): PyTorch Conv2d with zero padding."""
    kh, kw = w.shape[2:]
    x = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    win = np.lib.stride_tricks.sliding_window_view(x, (kh, kw), axis=(2, 3))
    win = win[:, :, ::stride, ::stride]  # (N, I, Ho, Wo, kh, kw)
    y = np.einsum("nihwab,oiab->nohw", win, w, optimize=True)
    return y if b is None else y + b[None, :, None, None]


def conv1d(x, w, b=None, pad=0, groups=1):
    """x (N, I, L), w (O, I/groups, k): PyTorch Conv1d with zero padding."""
    k = w.shape[-1]
    x = np.pad(x, ((0, 0), (0, 0), (pad, pad)))
    win = np.lib.stride_tricks.sliding_window_view(x, k, axis=2)  # (N, I, L, k)
    if groups == 1:
        y = np.einsum("nilk,oik->nol", win, w, optimize=True)
    else:  # depthwise: groups == I == O
        y = np.einsum("nclk,ck->ncl", win, w[:, 0, :], optimize=True)
    return y if b is None else y + b[None, :, None]


def batch_norm(x, sd, name, eps=1e-5):
    g, b = sd[f"{name}.weight"], sd[f"{name}.bias"]
    m, v = sd[f"{name}.running_mean"], sd[f"{name}.running_var"]
    shape = (1, -1, 1, 1)
    return (x - m.reshape(shape)) / np.sqrt(v.reshape(shape) + eps) * g.reshape(shape) + \
        b.reshape(shape)


def layer_norm(x, sd, name, eps=1e-5):
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * sd[f"{name}.weight"] + sd[f"{name}.bias"]


def max_pool_3x3_s2_p1(x):
    x = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)), constant_values=-np.inf)
    win = np.lib.stride_tricks.sliding_window_view(x, (3, 3), axis=(2, 3))[:, :, ::2, ::2]
    return win.max(axis=(-1, -2))


def relu(x):
    return np.maximum(x, 0.0)


def gelu(x):
    return 0.5 * x * (1.0 + erf(x / np.sqrt(2.0)))


def linear(x, sd, name):
    y = x @ sd[f"{name}.weight"].T
    return y + sd[f"{name}.bias"] if f"{name}.bias" in sd else y


# ---------------------------------------------------------------- LSTPNet parts

def tce(x, frames, sd, name):
    """design.md, LSTPNet: TCE: x (B*T, C, H, W)."""
    n, c = x.shape[:2]
    w1, b1 = sd[f"{name}.eca_conv_1.0.weight"], sd[f"{name}.eca_conv_1.0.bias"]
    wt = sd[f"{name}.action_p2_conv1.weight"]
    w2, b2 = sd[f"{name}.eca_conv_2.0.weight"], sd[f"{name}.eca_conv_2.0.bias"]
    r, k = w1.shape[0], w1.shape[-1]
    total = 0.0
    for descriptor in (x.max(axis=(2, 3)), x.mean(axis=(2, 3))):  # (B*T, C) each
        a = conv1d(descriptor[:, None, :], w1, b1, pad=k // 2)  # (B*T, r, C)
        a = a.reshape(-1, frames, r, c).transpose(0, 2, 3, 1).reshape(-1, c, frames)
        a = conv1d(a, wt, None, pad=1)  # over time, per (clip, r): (B*r, C, T)
        a = a.reshape(-1, r, c, frames).transpose(0, 3, 1, 2).reshape(n, r, c)
        total = total + conv1d(relu(a), w2, b2, pad=k // 2)[:, 0, :]  # (B*T, C)
    gate = 2.0 / (1.0 + np.exp(-total))
    return x * gate[:, :, None, None]


def basic_block(x, sd, name, frames, with_tce, stride):
    out_in = tce(x, frames, sd, f"{name}.eca") if with_tce else x
    y = relu(batch_norm(conv2d(out_in, sd[f"{name}.conv1.weight"], sd[f"{name}.conv1.bias"],
                               stride=stride, pad=1), sd, f"{name}.bn1"))
    y = batch_norm(conv2d(y, sd[f"{name}.conv2.weight"], sd[f"{name}.conv2.bias"], pad=1),
                   sd, f"{name}.bn2")
    if f"{name}.downsample.0.weight" in sd:
        shortcut = conv2d(out_in, sd[f"{name}.downsample.0.weight"],
                          sd[f"{name}.downsample.0.bias"], stride=stride)
        shortcut = batch_norm(shortcut, sd, f"{name}.downsample.1")
    else:
        shortcut = x  # identity adds the input before TCE
    return relu(y + shortcut)


def lstformer(x, sd, prefix="t_former.spatial_transformer", heads=8, depth=2):
    """design.md, LSTPNet: LSTformer: x (B, T, D) -> (B, T, D)."""
    b, t, _ = x.shape
    for i in range(depth):
        x = x + conv1d(x.transpose(0, 2, 1), sd[f"{prefix}.TC.weight"], sd[f"{prefix}.TC.bias"],
                       pad=1).transpose(0, 2, 1)
        x = layer_norm(x, sd, f"{prefix}.norm")
        attn, ff = f"{prefix}.layers.{i}.2.fn", f"{prefix}.layers.{i}.3.fn"
        h = layer_norm(x, sd, f"{attn}.norm")
        q, k, v = np.split(h @ sd[f"{attn}.fn.to_qkv.weight"].T, 3, axis=-1)
        d = q.shape[-1] // heads
        q, k, v = (z.reshape(b, t, heads, d).transpose(0, 2, 1, 3) for z in (q, k, v))
        dots = q @ k.transpose(0, 1, 3, 2) * d ** -0.5
        p = np.exp(dots - dots.max(-1, keepdims=True))
        p = p / p.sum(-1, keepdims=True)
        o = (p @ v).transpose(0, 2, 1, 3).reshape(b, t, heads * d)
        x = x + linear(o, sd, f"{attn}.fn.to_out.0")
        h = layer_norm(x, sd, f"{ff}.norm")
        h = layer_norm(gelu(linear(h, sd, f"{ff}.fn.linear1.0")), sd, f"{ff}.fn.linear1.2")
        hc = h.transpose(0, 2, 1)
        h = (conv1d(hc, sd[f"{ff}.fn.TC.weight"], sd[f"{ff}.fn.TC.bias"], pad=1,
                    groups=hc.shape[1]) + hc).transpose(0, 2, 1)
        h = layer_norm(gelu(h), sd, f"{ff}.fn.norm")
        h = layer_norm(linear(h, sd, f"{ff}.fn.linear2.0"), sd, f"{ff}.fn.linear2.1")
        x = x + h
    return x


def lstpnet_logits(video, sd, heads=8, depth=2):
    """design.md, LSTPNet: the whole model: video (B, T, H, W, 3) channels-last ->
    logits (B, classes)."""
    sd = {k[len("module."):] if k.startswith("module.") else k: np.asarray(v, np.float64)
          for k, v in sd.items() if not k.endswith("num_batches_tracked")}
    b, t = video.shape[:2]
    x = np.asarray(video, np.float64).reshape((b * t,) + video.shape[2:]).transpose(0, 3, 1, 2)
    backbone = "s_former.ir_back"
    x = conv2d(x, sd[f"{backbone}.conv1.weight"], stride=2, pad=3)
    x = max_pool_3x3_s2_p1(relu(batch_norm(x, sd, f"{backbone}.bn1")))
    for stage in range(1, 5):
        for block in range(2):
            stride = 2 if stage > 1 and block == 0 else 1
            x = basic_block(x, sd, f"{backbone}.layer{stage}.{block}", t, stage > 1, stride)
    x = tce(x, t, sd, "s_former.eca")
    tokens = x.mean(axis=(2, 3)).reshape(b, t, -1)
    tokens = lstformer(tokens, sd, heads=heads, depth=depth)
    return linear(tokens.mean(axis=1), sd, "fc")

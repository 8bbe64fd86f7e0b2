"""Weights from other frameworks: the authors' released PyTorch checkpoints -> ferzoo.

LSTPNet (Lu et al. 2023): the authors released PyTorch checkpoints of their
``GenerateModel(num_classes=7)`` for DFEW, FERV39k and AFEW. ``lstpnet_from_torch``
maps such a state_dict (names -> arrays) onto ``registry.build("lstpnet")``::

    state_dict = load_state_dict("dfew_set1.pth")      # or a .npz of the same names
    model = lstpnet_from_torch(state_dict)              # keras.Model, softmax output
    convert_lstpnet_checkpoint("dfew_set1.pth", "lstpnet_dfew1.keras")

Reading a ``.pth`` needs PyTorch (``pip install ferzoo[torch]``); a ``.npz`` of the
same names does not (``save_state_dict_npz`` writes one where torch is installed).
Layouts: PyTorch convolutions are (out, in, *kernel) and linear weights (out, in);
Keras kernels are (*kernel, in, out) and (in, out).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

import numpy as np

from ferzoo import registry

# (torch name, keras variable, permutation taking the torch array to the keras layout)
_Entry = tuple[str, Any, tuple[int, ...]]

CONV2D = (2, 3, 1, 0)  # (out, in, kh, kw) -> (kh, kw, in, out)
CONV1D = (2, 1, 0)  # (out, in, k) -> (k, in, out)
DEPTHWISE1D = (2, 0, 1)  # (channels, 1, k) -> (k, channels, 1)
LINEAR = (1, 0)  # (out, in) -> (in, out)
SAME = None  # vectors: no change


# The class order of each dataset's label files, which a checkpoint trained on it keeps
# (its output k is label code k + 1, or the k-th name). Names are ferzoo's canonical ones.
LABEL_SETS = {
    # DFEW, EmoLabel_DataSplit/*.csv (Jiang et al. 2020): 1 Happy, 2 Sad, 3 Neutral,
    # 4 Angry, 5 Surprise, 6 Disgust, 7 Fear; the official LSTPNet/Former-DFER loaders
    # use label - 1.
    "dfew": ("happiness", "sadness", "neutral", "anger", "surprise", "disgust", "fear"),
    # FERV39k (Wang et al. 2022): its seven classes as the paper and the dataset's
    # folders list them (Angry, Disgust, Fear, Happy, Neutral, Sad, Surprise).
    "ferv39k": ("anger", "disgust", "fear", "happiness", "neutral", "sadness", "surprise"),
    # AFEW (Dhall et al., EmotiW): the class folders Angry, Disgust, Fear, Happy,
    # Neutral, Sad, Surprise, in that (alphabetical) order.
    "afew": ("anger", "disgust", "fear", "happiness", "neutral", "sadness", "surprise"),
}


class ConversionError(ValueError):
    """A state_dict that does not fit the model (lists every offending name)."""


def _strip(state_dict: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """Drop a DataParallel ``module.`` prefix and BatchNorm's ``num_batches_tracked``."""
    out = {}
    for name, value in state_dict.items():
        if name.startswith("module."):
            name = name[len("module."):]
        if name.endswith("num_batches_tracked"):
            continue
        out[name] = np.asarray(value)
    return out


def _torch_shape(keras_shape: tuple[int, ...], perm: tuple[int, ...] | None) -> tuple[int, ...]:
    if perm is None:
        return tuple(keras_shape)
    shape = [0] * len(perm)
    for keras_axis, torch_axis in enumerate(perm):
        shape[torch_axis] = keras_shape[keras_axis]
    return tuple(shape)


def _kernel_and_bias(prefix: str, layer, layout) -> list[_Entry]:
    """A Conv2D (``layout=CONV2D``) or Dense (``LINEAR``) layer: weight, and bias if any."""
    entries = [(f"{prefix}.weight", layer.kernel, layout)]
    if layer.use_bias:
        entries.append((f"{prefix}.bias", layer.bias, SAME))
    return entries


def _conv2d(prefix: str, layer) -> list[_Entry]:
    return _kernel_and_bias(prefix, layer, CONV2D)


def _batch_norm(prefix: str, layer) -> list[_Entry]:
    return [
        (f"{prefix}.weight", layer.gamma, SAME),
        (f"{prefix}.bias", layer.beta, SAME),
        (f"{prefix}.running_mean", layer.moving_mean, SAME),
        (f"{prefix}.running_var", layer.moving_variance, SAME),
    ]


def _vector_pair(prefix: str, weight, bias) -> list[_Entry]:
    return [(f"{prefix}.weight", weight, SAME), (f"{prefix}.bias", bias, SAME)]


def _linear(prefix: str, layer) -> list[_Entry]:
    return _kernel_and_bias(prefix, layer, LINEAR)


def tce_torch_entries(prefix: str, layer) -> list[_Entry]:
    """TCE: official ``TceModule`` (eca_conv_1.0, action_p2_conv1, eca_conv_2.0)."""
    return [
        (f"{prefix}.eca_conv_1.0.weight", layer.channel_conv_in.kernel, CONV1D),
        (f"{prefix}.eca_conv_1.0.bias", layer.channel_conv_in.bias, SAME),
        (f"{prefix}.action_p2_conv1.weight", layer.temporal_conv.kernel, CONV1D),
        (f"{prefix}.eca_conv_2.0.weight", layer.channel_conv_out.kernel, CONV1D),
        (f"{prefix}.eca_conv_2.0.bias", layer.channel_conv_out.bias, SAME),
    ]


def lstformer_torch_entries(prefix: str, layer) -> list[_Entry]:
    """LSTformer: official ``Transformer``; TC and norm appear under every level's name."""
    shared = [
        (layer.temporal_conv.kernel, CONV1D, layer.temporal_conv.bias),
        (layer.temporal_norm.gamma, SAME, layer.temporal_norm.beta),
    ]
    entries: list[_Entry] = []
    for tag, (weight, perm, bias) in zip(("TC", "norm"), shared):
        entries += [(f"{prefix}.{tag}.weight", weight, perm),
                    (f"{prefix}.{tag}.bias", bias, SAME)]
    for i, block in enumerate(layer.blocks):
        level = f"{prefix}.layers.{i}"
        for slot, (weight, perm, bias) in enumerate(shared):
            entries += [(f"{level}.{slot}.weight", weight, perm),
                        (f"{level}.{slot}.bias", bias, SAME)]
        attn, ff = f"{level}.2.fn", f"{level}.3.fn"
        entries += _vector_pair(
            f"{attn}.norm", block.attention_norm.gamma, block.attention_norm.beta
        )
        entries.append((f"{attn}.fn.to_qkv.weight", block.to_qkv.kernel, LINEAR))
        entries += _linear(f"{attn}.fn.to_out.0", block.to_out)
        entries += _vector_pair(f"{ff}.norm", block.ff_norm.gamma, block.ff_norm.beta)
        entries += _linear(f"{ff}.fn.linear1.0", block.linear1)
        entries += _vector_pair(
            f"{ff}.fn.linear1.2", block.linear1_norm.gamma, block.linear1_norm.beta
        )
        entries += [
            (f"{ff}.fn.TC.weight", block.temporal_conv.kernel, DEPTHWISE1D),
            (f"{ff}.fn.TC.bias", block.temporal_conv.bias, SAME),
        ]
        entries += _vector_pair(f"{ff}.fn.norm", block.hidden_norm.gamma, block.hidden_norm.beta)
        entries += _linear(f"{ff}.fn.linear2.0", block.linear2)
        entries += _vector_pair(
            f"{ff}.fn.linear2.1", block.linear2_norm.gamma, block.linear2_norm.beta
        )
    return entries


def lstpnet_torch_entries(model) -> list[_Entry]:
    """Every name of the official LSTPNet state_dict, with the ferzoo variable it fills.

    Names are without ``module.`` and without ``num_batches_tracked``. A shared PyTorch
    module (the LSTformer's TC and norm) gives several names for one variable.
    """
    backbone = "s_former.ir_back"
    entries = _conv2d(f"{backbone}.conv1", model.get_layer("conv1"))
    entries += _batch_norm(f"{backbone}.bn1", model.get_layer("bn1"))
    names = {layer.name for layer in model.layers}
    for stage in range(1, 5):
        for block in range(2):
            ours, theirs = f"layer{stage}_{block}", f"{backbone}.layer{stage}.{block}"
            for part in ("conv1", "bn1", "conv2", "bn2"):
                fill = _conv2d if part.startswith("conv") else _batch_norm
                entries += fill(f"{theirs}.{part}", model.get_layer(f"{ours}_{part}"))
            if f"{ours}_downsample_conv" in names:
                entries += _conv2d(
                    f"{theirs}.downsample.0", model.get_layer(f"{ours}_downsample_conv")
                )
                entries += _batch_norm(
                    f"{theirs}.downsample.1", model.get_layer(f"{ours}_downsample_bn")
                )
            if f"{ours}_tce" in names:
                entries += tce_torch_entries(f"{theirs}.eca", model.get_layer(f"{ours}_tce"))
    entries += tce_torch_entries("s_former.eca", model.get_layer("tce"))
    entries += lstformer_torch_entries("t_former.spatial_transformer", model.get_layer("lstformer"))
    entries += _linear("fc", model.get_layer("logits"))
    return entries


def _list(title: str, items: Iterable[str], limit: int = 40) -> str:
    items = list(items)
    shown = "\n  ".join(items[:limit])
    more = f"\n  ... and {len(items) - limit} more" if len(items) > limit else ""
    return f"{title} ({len(items)}):\n  {shown}{more}"


def assign_torch_state_dict(
    entries: list[_Entry], state_dict: Mapping[str, Any], what: str = "model"
) -> None:
    """Check ``state_dict`` against ``entries`` and copy it into their variables.

    ``entries`` come from ``lstpnet_torch_entries(model)`` (or, for one layer,
    ``tce_torch_entries`` / ``lstformer_torch_entries``).

    Raises:
        ConversionError: names missing, left over, of the wrong shape, or tied names
            (one shared PyTorch module) with different values; all are listed at once.
    """
    weights = _strip(state_dict)
    expected = {name: (variable, perm) for name, variable, perm in entries}
    missing = sorted(set(expected) - set(weights))
    unexpected = sorted(set(weights) - set(expected))
    wrong = []
    for name in sorted(set(expected) & set(weights)):
        variable, perm = expected[name]
        want = _torch_shape(tuple(variable.shape), perm)
        if tuple(weights[name].shape) != want:
            wrong.append(f"{name}: got {tuple(weights[name].shape)}, expected {want}")
    problems = []
    if missing:
        problems.append(_list("missing", missing))
    if unexpected:
        problems.append(_list("unexpected", unexpected))
    if wrong:
        problems.append(_list("wrong shape", wrong))
    if problems:
        raise ConversionError(
            f"the state_dict does not fit the {what}:\n" + "\n".join(problems)
            + "\nIs it a checkpoint of the same architecture (and build overrides)?"
        )
    first_name: dict[int, str] = {}
    tied_differ = []
    for name, variable, perm in entries:
        value = weights[name] if perm is None else np.transpose(weights[name], perm)
        key = id(variable)
        if key in first_name:  # a shared module saved under another name
            if not np.array_equal(weights[name], weights[first_name[key]]):
                tied_differ.append(f"{name} != {first_name[key]}")
            continue
        first_name[key] = name
        variable.assign(value.astype(variable.dtype))
    if tied_differ:
        raise ConversionError(
            _list("tied weights (one shared PyTorch module) with different values", tied_differ)
        )


def infer_num_classes(state_dict: Mapping[str, Any], name: str = "fc.weight") -> int:
    """Classes of a checkpoint, from its classifier weight (out, in)."""
    weights = _strip(state_dict)
    if name not in weights:
        raise ConversionError(
            f"no {name!r} in the state_dict, so the number of classes is unknown; "
            f"pass num_classes=... (names start with: {sorted(weights)[:3]})"
        )
    return int(weights[name].shape[0])


def lstpnet_from_torch(state_dict: Mapping[str, Any], num_classes: int | None = None,
                       **build_overrides: Any):
    """A ferzoo ``lstpnet`` carrying the weights of an official LSTPNet state_dict.

    Args:
        state_dict: names -> arrays (numpy or torch tensors) of the authors'
            ``GenerateModel``, with or without the ``module.`` prefix.
        num_classes: classes of the head; ``None`` reads it from ``fc.weight``.
        **build_overrides: other ``registry.build("lstpnet", ...)`` arguments, e.g.
            ``frames=16, image_size=112`` or ``activation="linear"`` for logits. The
            weights do not depend on frames or image size.

    Returns:
        A ``keras.Model`` (softmax output unless ``activation="linear"``).

    Raises:
        ConversionError: listing every missing, unexpected and wrong-shape name.
    """
    state_dict = {k: _to_numpy(v) for k, v in state_dict.items()}
    if num_classes is None:
        num_classes = infer_num_classes(state_dict)
    model = registry.build("lstpnet", num_classes=num_classes, **build_overrides)
    assign_torch_state_dict(lstpnet_torch_entries(model), state_dict, "lstpnet model")
    return model


def _to_numpy(value: Any) -> np.ndarray:
    if hasattr(value, "detach"):  # a torch tensor
        return value.detach().cpu().numpy()
    return np.asarray(value)


def _unwrap_checkpoint(obj: Any) -> Mapping[str, Any]:
    """The state_dict inside a training checkpoint (``model_state_dict``, ``state_dict``)."""
    for key in ("model_state_dict", "state_dict", "model"):
        if isinstance(obj, Mapping) and key in obj and isinstance(obj[key], Mapping):
            return obj[key]
    return obj


def load_state_dict(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Read a state_dict from a ``.npz`` (no torch needed) or a PyTorch ``.pth``/``.pt``.

    A training checkpoint holding the weights under ``model_state_dict`` (as the
    LSTPNet releases do) or ``state_dict`` is unwrapped. PyTorch files are loaded with
    ``weights_only=True`` (no code from the file is run).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    if path.suffix == ".npz":
        with np.load(path, allow_pickle=False) as data:
            return {name: data[name] for name in data.files}
    try:
        import torch
    except ImportError:
        raise ImportError(
            f"reading {path.name} needs PyTorch: pip install ferzoo[torch] (or convert it "
            "to .npz where torch is installed: ferzoo.weights.lstpnet.save_state_dict_npz)"
        ) from None
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    state_dict = _unwrap_checkpoint(checkpoint)
    if not isinstance(state_dict, Mapping):
        raise ConversionError(
            f"{path}: expected a state_dict (a mapping), got {type(state_dict).__name__}"
        )
    return {name: _to_numpy(v) for name, v in state_dict.items() if hasattr(v, "shape")}


def save_state_dict_npz(state_dict: Mapping[str, Any], path: str | os.PathLike) -> Path:
    """Write a state_dict (names -> arrays or tensors) as an ``.npz`` that needs no torch."""
    path = Path(path)
    np.savez(path, **{name: _to_numpy(v) for name, v in state_dict.items()})
    return path if path.suffix == ".npz" else path.with_name(path.name + ".npz")


def convert_lstpnet_checkpoint(
    src: str | os.PathLike, out: str | os.PathLike, log: Callable[[str], None] | None = print,
    **build_overrides: Any,
) -> Path:
    """``ferzoo convert lstpnet_weights SRC OUT.keras``: an official checkpoint -> .keras.

    Args:
        src: the authors' ``.pth`` (needs torch) or a ``.npz`` of the same names.
        out: where to write the Keras model (``.keras``).
        log: where progress lines go (``None``: silent).
        **build_overrides: as in :func:`lstpnet_from_torch` (``frames``, ``image_size``).

    Returns:
        The path written.
    """
    out = Path(out)
    if out.suffix != ".keras":
        raise ValueError(f"the output must end in .keras, got {out}")
    log = log or (lambda message: None)
    state_dict = load_state_dict(src)
    log(f"read {len(state_dict)} tensors from {src}")
    model = lstpnet_from_torch(state_dict, **build_overrides)
    trainable = sum(int(np.prod(v.shape)) for v in model.trainable_variables)
    out.parent.mkdir(parents=True, exist_ok=True)
    model.save(out)
    classes = model.get_layer("logits").units
    log(f"wrote {out}: lstpnet, {classes} classes, {trainable:,} trainable parameters, "
        f"input {tuple(model.inputs[0].shape[1:])}")
    return out


__all__ = [
    "LABEL_SETS",
    "ConversionError",
    "assign_torch_state_dict",
    "convert_lstpnet_checkpoint",
    "infer_num_classes",
    "load_state_dict",
    "lstpnet_from_torch",
    "lstformer_torch_entries",
    "lstpnet_torch_entries",
    "save_state_dict_npz",
    "tce_torch_entries",
]

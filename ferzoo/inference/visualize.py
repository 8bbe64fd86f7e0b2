"""Pictures of what a model attends to: STCAM's spatial-temporal attention (Fig. 7).

:func:`spatiotemporal_attention` runs a clip through a trained model and returns the
maps of its STAM modules (in ``stcam``, ``stcam_stam`` and ``stcam_stam_cam``);
:func:`save_attention_figure` draws the paper's Fig. 7 for one layer: (a) the input
frames, (b) the attention maps split along time and resized to the frames, (c) the
overlay; or, for all layers, the frames and one overlay row per layer. Warm colours are
high weights; all frames of a layer share one colour scale, so the temporal emphasis
shows.
"""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np

from ferzoo.data.pipeline import InputSpec, make_dataset
from ferzoo.layers.attention3d import STCAM, SpatioTemporalAttention
from ferzoo.training.run_folder import load_run


def _attention_layers(model: keras.Model) -> list[keras.layers.Layer]:
    return [
        layer for layer in model.layers
        if isinstance(layer, (STCAM, SpatioTemporalAttention))
    ]


def _as_batch(model: keras.Model, clip) -> np.ndarray:
    clip = np.asarray(clip, dtype="float32")
    if clip.ndim == 4:
        clip = clip[None]
    expected = tuple(model.inputs[0].shape[1:])
    if clip.ndim != 5 or tuple(clip.shape[1:]) != expected:
        raise ValueError(
            f"clip of shape {clip.shape} does not fit the model's input {expected} "
            "(T, H, W, C); sample and resize it as the pipeline does"
        )
    return clip


def spatiotemporal_attention(model: keras.Model, clip, layer: str | None = None
                             ) -> tuple[str, np.ndarray]:
    """The STAM map of one clip.

    Args:
        model: a model with :class:`~ferzoo.layers.STCAM` or
            :class:`~ferzoo.layers.SpatioTemporalAttention` layers.
        clip: (T, H, W, C) or (1, T, H, W, C) float32 in the model's input range.
        layer: name of the attention layer; default the first one (in STCAM's
            3D-Inception-ResNet: ``"ir_a_attention"``, one map per input frame).

    Returns:
        (layer name, map of shape (T', H', W')) with values in (0, 1).
    """
    layers = _attention_layers(model)
    if not layers:
        raise ValueError(
            f"model {model.name!r} has no spatial-temporal attention (STAM) layer; "
            "use stcam, stcam_stam or stcam_stam_cam"
        )
    if layer is None:
        chosen = layers[0]
    else:
        names = [candidate.name for candidate in layers]
        if layer not in names:
            raise ValueError(f"no attention layer {layer!r} in {model.name!r}; it has {names}")
        chosen = layers[names.index(layer)]
    features = keras.Model(model.input, chosen.input)(_as_batch(model, clip), training=False)
    st_map = chosen(features, return_attention=True)[-1]  # (1, T', H', W', 1)
    return chosen.name, keras.ops.convert_to_numpy(st_map)[0, ..., 0]


def _frame_step(frame: int, frames: int, steps: int) -> int:
    """The time step of an attention map whose window is centred nearest ``frame``.

    A reduction with temporal stride 2 and "same" padding centres step k on frame 2k.
    """
    if steps == frames or frames == 1:
        return min(frame, steps - 1)
    return min(int(frame * (steps - 1) / (frames - 1) + 0.5), steps - 1)


def save_attention_figure(model: keras.Model, clip, path: str | Path,
                          layer: str | None = "all", title: str | None = None) -> Path:
    """Write a PNG of the clip and its spatial-temporal attention maps.

    With one ``layer`` the rows are STCAM's Fig. 7: (a) frames, (b) the maps (split
    along time, bilinearly resized to the frame size), (c) frames overlaid with the
    maps. With ``layer="all"`` (default) the frames come first and then one overlay row
    per attention layer, each with its own colour scale. When a layer has fewer time
    steps than the clip, a frame shows the step centred nearest to it.

    Returns:
        The path written.
    """
    import cv2
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    batch = _as_batch(model, clip)
    names = (
        [candidate.name for candidate in _attention_layers(model)] if layer == "all"
        else [layer]
    )
    maps = [spatiotemporal_attention(model, batch, name) for name in names]
    frames = np.clip(batch[0], 0.0, 1.0)
    frames = np.repeat(frames, 3, axis=-1) if frames.shape[-1] == 1 else frames
    t, h, w = frames.shape[:3]
    colormap = plt.get_cmap("jet")
    rows = [("(a) frames", [frames[i] for i in range(t)])]
    for name, st_map in maps:
        low, high = float(st_map.min()), float(st_map.max())
        heats = []
        for i in range(t):
            step = st_map[_frame_step(i, t, st_map.shape[0])]
            resized = cv2.resize(step, (w, h), interpolation=cv2.INTER_LINEAR)
            heats.append(colormap((resized - low) / max(high - low, 1e-8))[..., :3])
        overlays = [0.5 * frame + 0.5 * heat for frame, heat in zip(frames, heats)]
        scale = f"{low:.2f}-{high:.2f}"
        if len(maps) == 1:
            rows += [(f"(b) attention\n{scale}", heats), ("(c) overlay", overlays)]
        else:
            rows.append((f"{name}\n{scale}", overlays))
    fig, axes = plt.subplots(len(rows), t, figsize=(1.6 * t + 0.6, 1.7 * len(rows) + 0.5),
                             squeeze=False)
    for r, (label, images) in enumerate(rows):
        for i, image in enumerate(images):
            axes[r, i].imshow(image)
            axes[r, i].set_xticks([])
            axes[r, i].set_yticks([])
        axes[r, 0].set_ylabel(label, fontsize=7)
    for i in range(t):
        axes[0, i].set_title(f"frame {i}", fontsize=8)
    heading = (f"{model.name}: {names[0] if len(names) == 1 else 'STAM maps'}, "
               "weights low (blue) to high (red)")
    fig.suptitle(f"{title}\n{heading}" if title else heading, fontsize=9)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def attention_figure_for_run(run_dir: str | Path, data: str | None = None, index: int = 0,
                             out: str | Path | None = None, layer: str | None = "all") -> Path:
    """Fig. 7 for clip ``index`` of a trained run's data (the ``ferzoo attention`` command).

    Args:
        run_dir: a run folder written by ``ferzoo train`` (a STAM-bearing model).
        data: shards to take the clip from; default the test split beside the training
            data. The clip is sampled and resized as in evaluation (no augmentation).
        index: which clip of ``data`` (in file order).
        out: PNG path; default ``<run_dir>/attention_<clip id>.png``.
        layer: an attention layer's name for the paper's three-row figure, or ``"all"``
            (default): one overlay row per attention layer.

    Returns:
        The path written.
    """
    import os

    model, info = load_run(run_dir)
    spec = InputSpec.from_run(info)
    if data is None:
        data = os.path.join(os.path.dirname(info["train_files"][0]), "test-*.tfrecord")
    dataset = make_dataset(data, spec, training=False, batch_size=1, with_info=True,
                           augment=info["recipe"]["augment"])
    for inputs, label, clip_info in dataset.skip(index).take(1):
        break
    else:
        raise ValueError(f"{data} has no clip number {index}; use a smaller --index")
    clip = inputs["video"].numpy()
    clip_id = clip_info["clip_id"].numpy()[0].decode()
    labels = info.get("labels") or [str(i) for i in range(model.outputs[0].shape[-1])]
    probabilities = model(clip, training=False).numpy()[0]
    predicted = int(np.argmax(probabilities))
    title = (f"{info['config']['model']} - clip {clip_id}: true {labels[int(label[0])]}, "
             f"predicted {labels[predicted]} ({probabilities[predicted]:.2f})")
    out = Path(out) if out else Path(run_dir) / f"attention_{clip_id}.png"
    return save_attention_figure(model, clip, out, layer=layer, title=title)

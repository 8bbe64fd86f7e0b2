"""Pictures of what a model attends to: STCAM's spatial-temporal attention (Fig. 7).

:func:`spatiotemporal_attention` runs a clip through a trained model and returns the
maps of its STAM modules (in ``stcam``, ``stcam_stam`` and ``stcam_stam_cam``);
:func:`save_attention_figure` draws the paper's Fig. 7: (a) the input frames, (b) the
attention maps split along time and resized to the frames, (c) the overlay. Warm colours
are high weights; all frames share one colour scale, so the temporal emphasis shows.
"""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np

from ferzoo.layers.attention3d import STCAM, SpatioTemporalAttention


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


def save_attention_figure(model: keras.Model, clip, path: str | Path,
                          layer: str | None = None, title: str | None = None) -> Path:
    """Write a PNG of the clip, its spatial-temporal attention maps and their overlay.

    Rows as in STCAM's Fig. 7: (a) frames, (b) maps (split along time, bilinearly
    resized to the frame size), (c) frames overlaid with the maps. When the attention
    layer has fewer time steps than the clip, each frame shows the step covering it.

    Returns:
        The path written.
    """
    import cv2
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    batch = _as_batch(model, clip)
    name, maps = spatiotemporal_attention(model, batch, layer)
    frames = batch[0]
    t, h, w = frames.shape[:3]
    steps = maps.shape[0]
    low, high = float(maps.min()), float(maps.max())
    colormap = plt.get_cmap("jet")
    fig, axes = plt.subplots(3, t, figsize=(1.6 * t, 5.2), squeeze=False)
    for i in range(t):
        frame = np.clip(frames[i], 0.0, 1.0)
        frame = np.repeat(frame, 3, axis=-1) if frame.shape[-1] == 1 else frame
        step = min(i * steps // t, steps - 1)
        resized = cv2.resize(maps[step], (w, h), interpolation=cv2.INTER_LINEAR)
        scaled = (resized - low) / max(high - low, 1e-8)
        heat = colormap(scaled)[..., :3]
        for row, image in enumerate([frame, heat, 0.5 * frame + 0.5 * heat]):
            axes[row, i].imshow(image)
            axes[row, i].set_xticks([])
            axes[row, i].set_yticks([])
        axes[0, i].set_title(f"frame {i}", fontsize=8)
    for row, label in enumerate(["(a) frames", "(b) attention", "(c) overlay"]):
        axes[row, 0].set_ylabel(label, fontsize=8)
    heading = f"{model.name}: {name}, weights {low:.2f} (blue) - {high:.2f} (red)"
    fig.suptitle(f"{title}\n{heading}" if title else heading, fontsize=9)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def attention_figure_for_run(run_dir: str | Path, data: str | None = None, index: int = 0,
                             out: str | Path | None = None, layer: str | None = None) -> Path:
    """Fig. 7 for clip ``index`` of a trained run's data (the ``ferzoo attention`` command).

    Args:
        run_dir: a run folder written by ``ferzoo train`` (a STAM-bearing model).
        data: shards to take the clip from; default the test split beside the training
            data. The clip is sampled and resized as in evaluation (no augmentation).
        index: which clip of ``data`` (in file order).
        out: PNG path; default ``<run_dir>/attention_<clip id>.png``.
        layer: attention layer name (default: the first, one map per frame).

    Returns:
        The path written.
    """
    import os

    from ferzoo.data.pipeline import InputSpec, make_dataset
    from ferzoo.training.trainer import load_run

    model, info = load_run(run_dir)
    spec = InputSpec(**{**info["spec"], "image_size": tuple(info["spec"]["image_size"]),
                        "streams": tuple(info["spec"]["streams"])})
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

"""Photometric preprocessing of decoded frames: histogram equalisation, standardisation.

Jain et al. 2018 (Sec. 3) equalise the histogram of every face "to account for varying
lighting conditions" and normalise with the mean and standard deviation of the training
images (Sec. 4: "mean subtraction and contrast normalization"). Both run inside a
``tf.data`` map on float frames in [0, 1], any leading axes ``(..., H, W, C)``:

    video = equalize_histogram(video)            # (T, H, W, C) in [0, 1] -> same
    video = standardize(video)                   # per frame: zero mean, unit std
    video = standardize(video, mean=0.45, std=0.22)   # or dataset statistics

Steps are named so that a pipeline option can list them (``preprocess=("equalize",
"standardize")``): see :data:`STEPS` and :func:`apply_preprocessing`. A recipe switches
them on through its ``augment`` settings, which the pipeline passes to
:func:`preprocess_clip` for training, validation and test alike::

    augment = {"flip": True, "rotate": 5.0, "crop": None,
               "equalize": True,            # histogram equalisation
               "standardize": True}         # per frame; or {"mean": m, "std": s}
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import tensorflow as tf

LEVELS = 256


def equalize_histogram(images: tf.Tensor) -> tf.Tensor:
    """Histogram-equalise every (H, W) plane of ``images`` independently.

    Works on the 8-bit levels of each frame and channel, as OpenCV's ``equalizeHist``
    does (same result on uint8 input: ``round((cdf(v) - cdf_min) * 255 / (N - cdf_min))``);
    a constant plane is left unchanged. Colour frames are equalised per channel.

    Args:
        images: ``(..., H, W, C)`` float in [0, 1] or uint8.

    Returns:
        float32 ``(..., H, W, C)`` in [0, 1].
    """
    images = tf.convert_to_tensor(images)
    if images.dtype == tf.uint8:
        levels = tf.cast(images, tf.int32)
    else:
        levels = tf.cast(tf.round(tf.clip_by_value(images, 0.0, 1.0) * (LEVELS - 1)), tf.int32)
    shape = tf.shape(levels)
    height, width, channels = shape[-3], shape[-2], shape[-1]
    # (..., H, W, C) -> (P, H*W): one row per (frame, channel) plane.
    planes = tf.reshape(tf.experimental.numpy.moveaxis(levels, -1, -3), (-1, height * width))
    count = tf.shape(planes)[0]
    offsets = tf.range(count)[:, None] * LEVELS
    hist = tf.reshape(
        tf.math.bincount(tf.reshape(planes + offsets, [-1]), minlength=count * LEVELS,
                         maxlength=count * LEVELS),
        (count, LEVELS),
    )
    cdf = tf.cumsum(hist, axis=1)  # (P, 256)
    # cdf_min: the cdf at the plane's smallest level (its first non-zero bin).
    cdf_min = tf.reduce_min(tf.where(hist > 0, cdf, tf.reduce_max(cdf, 1, keepdims=True)),
                            axis=1, keepdims=True)
    total = tf.cast(height * width, tf.float32)
    span = total - tf.cast(cdf_min, tf.float32)
    scale = (LEVELS - 1) / tf.maximum(span, 1.0)  # float32 scale first, as OpenCV does
    lut = tf.where(
        span > 0,
        tf.round(tf.cast(cdf - cdf_min, tf.float32) * scale),
        tf.cast(tf.range(LEVELS)[None, :], tf.float32),  # constant plane: identity
    )
    lut = tf.clip_by_value(lut, 0.0, LEVELS - 1)
    equalised = tf.gather(lut, planes, batch_dims=1) / (LEVELS - 1)  # (P, H*W)
    moved = tf.concat([shape[:-3], [channels, height, width]], axis=0)
    return tf.experimental.numpy.moveaxis(tf.reshape(equalised, moved), -3, -1)


def standardize(
    images: tf.Tensor,
    mean: float | np.ndarray | None = None,
    std: float | np.ndarray | None = None,
    epsilon: float = 1e-6,
) -> tf.Tensor:
    """Mean/std normalisation of frames.

    Without ``mean``/``std``, each frame (each (H, W, C) block) gets zero mean and unit
    standard deviation ("mean subtraction and contrast normalization", Jain et al.
    Sec. 4). With them (scalars or arrays broadcastable to (H, W, C), e.g. the mean
    and std image of the training set, Sec. 3), ``(images - mean) / std``.
    """
    images = tf.cast(tf.convert_to_tensor(images), tf.float32)
    if (mean is None) != (std is None):
        raise ValueError("give both mean and std (dataset statistics) or neither (per frame)")
    if mean is None:
        mean = tf.reduce_mean(images, axis=(-3, -2, -1), keepdims=True)
        std = tf.math.reduce_std(images, axis=(-3, -2, -1), keepdims=True)
    else:
        mean, std = tf.constant(mean, tf.float32), tf.constant(std, tf.float32)
    return (images - mean) / tf.maximum(std, epsilon)


Step = Callable[[tf.Tensor], tf.Tensor]
STEPS: dict[str, Step] = {
    "equalize": equalize_histogram,
    "standardize": standardize,
}


def apply_preprocessing(video: tf.Tensor, steps: Sequence[str] | str | None) -> tf.Tensor:
    """Apply the named ``steps`` in order (``"equalize,standardize"`` works too)."""
    if not steps:
        return video
    if isinstance(steps, str):
        steps = [s.strip() for s in steps.split(",") if s.strip()]
    for name in steps:
        if name not in STEPS:
            raise ValueError(f"unknown preprocessing step {name!r}; known: {sorted(STEPS)}")
        video = STEPS[name](video)
    return video


def photometric_settings(config: dict | None) -> dict | None:
    """The photometric part of a recipe's ``augment`` settings (what a trained model
    expects of its input at inference too), or None when there is none."""
    settings = {key: config[key] for key in ("equalize", "standardize")
                if config and config.get(key)}
    return settings or None


def preprocess_clip(video: tf.Tensor, config: dict | None) -> tf.Tensor:
    """The photometric steps a recipe's ``augment`` settings ask for, in a fixed order.

    ``config["equalize"]`` (bool) equalises histograms first; ``config["standardize"]``
    then normalises: ``True`` per frame, or ``{"mean": m, "std": s}`` with dataset
    statistics. Other keys (flip, rotate, crop) are geometry, handled elsewhere. The
    same steps run at training and at test time (they are not random).
    """
    if not photometric_settings(config):
        return video
    if config.get("equalize"):
        video = equalize_histogram(video)
    stats = config.get("standardize")
    if isinstance(stats, dict):
        video = standardize(video, stats["mean"], stats["std"])
    elif stats:
        video = standardize(video)
    return video

"""Temporal sampling: which of a clip's frames make the model's T input frames.

Each mode is a function of the clip's frame count (a scalar ``tf.Tensor``) that returns
``frames`` int32 indices, and runs inside a ``tf.data`` map. Modes are looked up by name
(a model's registry entry names its mode) and new ones are added with
:func:`register_sampler`.

Signature of a mode::

    fn(num_frames: tf.Tensor, frames: int, training: bool, apex_index: tf.Tensor)
        -> tf.Tensor  # int32, shape (frames,), values in [0, num_frames)

``apex_index`` is the clip's peak frame when the source knows it (-1 otherwise).
"""

from __future__ import annotations

from typing import Callable

import tensorflow as tf

Sampler = Callable[[tf.Tensor, int, bool, tf.Tensor], tf.Tensor]
SAMPLERS: dict[str, Sampler] = {}


def register_sampler(name: str) -> Callable[[Sampler], Sampler]:
    """Register a sampling mode under ``name``; a duplicate name raises."""

    def decorator(fn: Sampler) -> Sampler:
        if name in SAMPLERS:
            raise ValueError(f"sampling mode {name!r} is already registered")
        SAMPLERS[name] = fn
        return fn

    return decorator


def get_sampler(name: str) -> Sampler:
    try:
        return SAMPLERS[name]
    except KeyError:
        raise ValueError(
            f"unknown sampling mode {name!r}; known: {', '.join(sorted(SAMPLERS))}"
        ) from None


def sample_indices(
    name: str, num_frames, frames: int, training: bool = False, apex_index=-1
) -> tf.Tensor:
    """Indices of the ``frames`` frames that mode ``name`` takes from a clip."""
    num_frames = tf.convert_to_tensor(num_frames, tf.int32)
    tf.debugging.assert_positive(num_frames, message="a clip has no frames")
    apex_index = tf.convert_to_tensor(apex_index, tf.int32)
    return tf.cast(get_sampler(name)(num_frames, frames, training, apex_index), tf.int32)


@register_sampler("uniform")
def uniform(num_frames, frames, training, apex_index):
    """STC-NLSTM's length normalisation (Yu et al. 2018, Sec. 4.1).

    A clip longer than ``frames`` is sampled uniformly (in training, one random frame
    from each of ``frames`` equal segments: segment jitter); a shorter one keeps every
    frame and repeats the last.
    """
    del apex_index
    n = tf.cast(num_frames, tf.float32)
    step = n / frames
    starts = tf.range(frames, dtype=tf.float32) * step
    if training:
        offsets = tf.random.uniform((frames,), 0.0, 1.0) * step
    else:
        offsets = tf.fill((frames,), 0.5 * step - 0.5)
        offsets = tf.maximum(offsets, 0.0)
    long_idx = tf.cast(tf.floor(starts + offsets), tf.int32)
    long_idx = tf.minimum(long_idx, num_frames - 1)
    short_idx = tf.minimum(tf.range(frames, dtype=tf.int32), num_frames - 1)
    return tf.where(num_frames >= frames, long_idx, short_idx)


@register_sampler("last")
def last(num_frames, frames, training, apex_index):
    """The last ``frames`` frames (the first repeated when the clip is shorter)."""
    del training, apex_index
    idx = tf.range(frames, dtype=tf.int32) + num_frames - frames
    return tf.maximum(idx, 0)


@register_sampler("to_apex")
def to_apex(num_frames, frames, training, apex_index):
    """``frames`` frames evenly spaced from the first frame to the apex, both included.

    The hybrid CNN-RNN (Jain et al. 2018, Sec. 3.3) reads the P frames before time t,
    [t-P, t]; for a clip-level label t is the peak of the expression: the stored apex
    frame, or the last frame when the apex is unknown (CK+ clips end at the peak). The P
    frames are spread over the whole onset, so that the RNN always sees the neutral start
    as well as the peak (a window of P consecutive frames would hold only the top of the
    rise of a long clip); an MMI-style clip (neutral -> apex -> neutral) is read up to
    its apex. With ``frames=1`` this is the apex alone; a span shorter than ``frames``
    repeats frames. Deterministic (no jitter in training).
    """
    del training
    end = tf.where((apex_index >= 0) & (apex_index < num_frames), apex_index, num_frames - 1)
    if frames == 1:
        return tf.reshape(end, [1])
    steps = tf.linspace(0.0, tf.cast(end, tf.float32), frames)
    return tf.cast(tf.round(steps), tf.int32)

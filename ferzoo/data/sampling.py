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


@register_sampler("stcam")
def stcam(num_frames, frames, training, apex_index):
    """STCAM's frame selection (Chen et al., Sec. 4.2): neutral, evenly between, peak.

    The first frame (neutral) and the peak are kept and the other ``frames - 2`` are
    spread evenly between them (7 frames in the paper). The peak is the clip's
    ``apex_index`` when the source knows it (MMI-style onset-apex-offset clips: the
    middle), else the last frame (CK+ / Oulu-CASIA clips end at the peak). In training
    the in-between frames are jittered ("sample jittering"): each moves by up to half
    the spacing, so the order is kept.
    """
    last = num_frames - 1
    peak = tf.where(apex_index >= 0, tf.minimum(apex_index, last), last)
    if frames == 1:
        return tf.reshape(peak, (1,))
    step = tf.cast(peak, tf.float32) / (frames - 1)
    positions = tf.range(frames, dtype=tf.float32) * step
    if training:
        inner = tf.concat([[0.0], tf.ones((frames - 2,)), [0.0]], axis=0)
        positions += tf.random.uniform((frames,), -0.5, 0.5) * step * inner
    indices = tf.cast(tf.floor(positions + 0.5), tf.int32)
    return tf.clip_by_value(indices, 0, peak)


@register_sampler("segments")
def segments(num_frames, frames, training, apex_index, duration=2):
    """LSTPNet's sampling (official code, ``dataloader/dataset_DFEW.py``): segments of
    ``duration`` = 2 consecutive frames.

    ``frames`` = 16 gives the paper's 8 segments x 2 frames; in general
    ceil(frames / 2) segments, the first ``frames`` indices kept. The clip's
    ``n - 1`` possible pair starts are cut into equal segments; in training each pair
    starts at a random offset inside its segment, at test at the segment's centre
    (``int(tick / 2 + tick * i)``, tick = (n - 1) / segments). A pair that would run
    past the last frame repeats it.

    Training on a clip with fewer than 2 x segments frames: random sorted starts when
    n > segments, as the official code; else (the official code gives every segment
    start 0 there, on clips it filters out of its lists) the test-time centres.
    """
    del apex_index
    n = tf.cast(num_frames, tf.int32)
    count = -(-frames // duration)  # segments
    span = tf.maximum(n - duration + 1, 1)  # possible segment starts
    tick = tf.cast(span, tf.float64) / count
    centres = tf.cast(
        tf.floor(tick / 2.0 + tick * tf.range(count, dtype=tf.float64)), tf.int32
    )
    offsets = centres
    if training:
        step = span // count
        jittered = tf.range(count) * step + tf.random.uniform(
            (count,), 0, tf.maximum(step, 1), dtype=tf.int32
        )
        scattered = tf.sort(tf.random.uniform((count,), 0, span, dtype=tf.int32))
        offsets = tf.where(step > 0, jittered, tf.where(n > count, scattered, centres))
    pairs = offsets[:, None] + tf.range(duration, dtype=tf.int32)[None, :]  # (segments, 2)
    return tf.reshape(tf.minimum(pairs, n - 1), (-1,))[:frames]


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


@register_sampler("rfscnn_segment")
def rfscnn_segment(num_frames, frames, training, apex_index):
    """One RFSCNN segment of ``frames`` consecutive frames (Zhou, Sec. 3.1, L = 16).

    A longer clip loses (n - frames) / 2 frames at each end (the centred segment); in
    training the segment starts at a random frame instead (the paper cuts a video into
    many segments, which "expands the dataset"). A shorter clip is padded by copying its
    first and last frames, (frames - n) / 2 at each end. The segment's optical flow comes
    from :func:`segment_flow_index`; all of a clip's segments from :func:`rfscnn_segments`.
    """
    del apex_index
    extra = num_frames - frames
    start = tf.where(extra >= 0, extra // 2, -((-extra) // 2))
    if training:
        random_start = tf.random.uniform((), 0, tf.maximum(extra, 0) + 1, dtype=tf.int32)
        start = tf.where(extra > 0, random_start, start)
    return tf.clip_by_value(start + tf.range(frames, dtype=tf.int32), 0, num_frames - 1)


def rfscnn_segments(num_frames, frames: int = 16) -> tf.Tensor:
    """Every segment of a clip, for averaging features over a video (RFSCNN Sec. 3).

    ``S = ceil(n / frames)`` segments whose starts are spread evenly from the first to
    the last possible one, so together they cover every frame (they overlap when
    ``frames`` does not divide n); a clip shorter than ``frames`` gives its one padded
    segment (as :func:`rfscnn_segment` at test time).

    Returns:
        int32 (S, frames) frame indices.
    """
    num_frames = tf.convert_to_tensor(num_frames, tf.int32)
    count = tf.maximum(1, (num_frames + frames - 1) // frames)
    last_start = tf.maximum(num_frames - frames, 0)
    starts = tf.cast(tf.round(tf.linspace(0.0, tf.cast(last_start, tf.float32), count)),
                     tf.int32)
    short = rfscnn_segment(num_frames, frames, False, -1)[None]
    long = starts[:, None] + tf.range(frames, dtype=tf.int32)[None, :]
    return tf.cond(num_frames >= frames, lambda: long, lambda: short)


def segment_flow_index(indices) -> tuple[tf.Tensor, tf.Tensor]:
    """The stored flow frame of each adjacent pair of sampled frames.

    A clip stores one flow frame per adjacent pair (flow[k]: frame k -> k+1). For the
    ``frames - 1`` pairs of ``indices``: ``flow_index[t] = indices[t]``, and ``still[t]``
    is True where ``indices[t+1] == indices[t]`` (a frame and its copy, from padding):
    there the flow is zero, not the stored flow[indices[t]].

    Returns:
        ``(flow_index, still)``: int32 and bool, shape (frames - 1,).
    """
    indices = tf.convert_to_tensor(indices, tf.int32)
    return indices[:-1], tf.equal(indices[1:], indices[:-1])


@register_sampler("before_apex")
def before_apex(num_frames, frames, training, apex_index):
    """The ``frames`` consecutive frames that end at the apex: [t - P + 1, t].

    Jain et al. 2018 (Sec. 3.3) feed the RNN the CNN features of the P frames before
    time t; for a clip-level label t is the peak of the expression (the stored apex, or
    the last frame when the apex is unknown: CK+ clips end at the peak). A clip whose
    onset is shorter than P repeats its first frame in front. Deterministic.
    """
    del training
    end = tf.where((apex_index >= 0) & (apex_index < num_frames), apex_index, num_frames - 1)
    return tf.maximum(end - frames + 1 + tf.range(frames, dtype=tf.int32), 0)

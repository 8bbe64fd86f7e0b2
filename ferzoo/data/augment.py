"""Clip-level augmentation: one random draw per clip, applied to every frame alike.

All functions take float32 frames (T, H, W, C) in [0, 1] and run inside ``tf.data``.
Settings come from a recipe's ``augment`` dict:

    flip:    True to mirror half of the clips horizontally
    rotate:  maximum absolute in-plane rotation in degrees (0/None: off)
    crop:    area-side fraction of a random crop in training and of the centre crop at
             test (0.9 keeps 90 % of each side; None: no crop)
    crop_positions: where the training crop may lie: "any" (default) or "five" (one of
             the 4 corners or the centre, STCAM Sec. 4.2)

The optical-flow stream (when present) gets the same geometry; a mirrored flow image
also has its dx channel negated (dx is stored as 128 + s*dx, so it becomes 255 - value).
"""

from __future__ import annotations

import math

import tensorflow as tf

DEFAULT_AUGMENT = {"flip": True, "rotate": 5.0, "crop": 0.9}
# Zero motion in a decoded flow image: dx, dy stored as 128 + s*v, magnitude as s*|v|.
ZERO_FLOW = (128.0 / 255.0, 128.0 / 255.0, 0.0)


def rotation_transform(angle, height, width):
    """Projective transform (8 numbers) that rotates an image about its centre."""
    cos, sin = tf.cos(angle), tf.sin(angle)
    cx, cy = (tf.cast(width, tf.float32) - 1) / 2, (tf.cast(height, tf.float32) - 1) / 2
    # Output pixel (x, y) samples input (a0 x + a1 y + a2, b0 x + b1 y + b2).
    a2 = cx - cos * cx + sin * cy
    b2 = cy - sin * cx - cos * cy
    return tf.stack([cos, -sin, a2, sin, cos, b2, 0.0, 0.0])


def rotate(frames, angle):
    """Rotate every frame of a (T, H, W, C) clip by ``angle`` radians (zero fill).

    Bilinear, the same pixels as TensorFlow's ``ImageProjectiveTransformV3`` (BILINEAR,
    CONSTANT 0), written as 4 row gathers over a (H*W, T*C) layout: every frame and channel
    of a pixel move together, ~2.5x faster than the projective-transform op on CPU.
    """
    shape = tf.shape(frames)
    t, h, w, c = shape[0], shape[1], shape[2], shape[3]
    a = rotation_transform(angle, h, w)
    hf, wf = tf.cast(h, tf.float32), tf.cast(w, tf.float32)
    ys, xs = tf.meshgrid(tf.range(hf), tf.range(wf), indexing="ij")
    sx, sy = a[0] * xs + a[1] * ys + a[2], a[3] * xs + a[4] * ys + a[5]  # source of (x, y)
    x0, y0 = tf.floor(sx), tf.floor(sy)
    fx, fy = sx - x0, sy - y0
    # (T, H, W, C) -> (H*W + 1, T*C): a row per pixel, then a zero row for "outside".
    rows = tf.reshape(tf.transpose(frames, [1, 2, 0, 3]), [h * w, t * c])
    rows = tf.concat([rows, tf.zeros([1, t * c], frames.dtype)], 0)
    out = 0.0
    for dx, dy, weight in ((0, 0, (1 - fx) * (1 - fy)), (1, 0, fx * (1 - fy)),
                           (0, 1, (1 - fx) * fy), (1, 1, fx * fy)):
        xi, yi = x0 + dx, y0 + dy
        inside = (xi >= 0) & (xi <= wf - 1) & (yi >= 0) & (yi <= hf - 1)
        index = tf.where(inside, tf.cast(yi, tf.int32) * w + tf.cast(xi, tf.int32), h * w)
        out += tf.gather(rows, tf.reshape(index, [-1])) * tf.cast(
            tf.reshape(weight, [-1, 1]), frames.dtype)
    return tf.transpose(tf.reshape(out, [h, w, t, c]), [2, 0, 1, 3])


def resize_frames(frames, size):
    """Resize a (T, H, W, C) clip to ``size`` (H, W): antialiased when it shrinks, plain
    bilinear when it grows (antialiasing gives the same pixels at ~6x the cost), not at
    all when it has the size already."""
    shape = tf.shape(frames)
    shrinks = tf.logical_or(shape[1] > size[0], shape[2] > size[1])
    same = tf.logical_and(tf.equal(shape[1], size[0]), tf.equal(shape[2], size[1]))
    branch = tf.where(same, 0, tf.where(shrinks, 1, 2))
    static = [frames.shape[0], *size, frames.shape[-1]]
    return tf.switch_case(branch, [
        lambda: tf.ensure_shape(tf.cast(frames, tf.float32), static),  # as resize: float
        lambda: tf.image.resize(frames, size, antialias=True),
        lambda: tf.image.resize(frames, size)])


def crop_window(height, width, fraction, training, positions="any"):
    """(top, left, crop_h, crop_w) of a random (training) or centre crop.

    ``positions="five"`` draws the training crop from the 4 corners and the centre.
    """
    if positions not in ("any", "five"):
        raise ValueError(f"crop_positions must be 'any' or 'five'; got {positions!r}")
    ch = tf.cast(tf.round(tf.cast(height, tf.float32) * fraction), tf.int32)
    cw = tf.cast(tf.round(tf.cast(width, tf.float32) * fraction), tf.int32)
    if training and positions == "five":
        choice = tf.random.uniform((), 0, 5, dtype=tf.int32)
        top = tf.gather(tf.stack([0, 0, height - ch, height - ch, (height - ch) // 2]), choice)
        left = tf.gather(tf.stack([0, width - cw, 0, width - cw, (width - cw) // 2]), choice)
    elif training:
        top = tf.random.uniform((), 0, height - ch + 1, dtype=tf.int32)
        left = tf.random.uniform((), 0, width - cw + 1, dtype=tf.int32)
    else:
        top, left = (height - ch) // 2, (width - cw) // 2
    return top, left, ch, cw


def augment_clip(streams: dict, config: dict | None, training: bool,
                 size: tuple[int, int] | None = None) -> dict:
    """Apply one random geometry to every stream of a clip.

    Args:
        streams: {"video": (T, H, W, C) float32 in [0, 1], optionally "flow": (T', H, W, 3)}
            at the stored resolution (all streams the same H, W).
        config: augmentation settings (see module docstring); None: no augmentation.
        training: random draws when True; the deterministic test-time version otherwise
            (centre crop only).
        size: (H, W) of the output: every stream is resized to it right after the crop,
            so that flips and rotations work on the output's pixels (4x fewer from 224
            to 112). None: no resize.
    """
    config = dict(DEFAULT_AUGMENT if config is None else config)
    out = dict(streams)
    shape = tf.shape(next(iter(out.values())))  # all streams share H, W
    height, width = shape[1], shape[2]
    fraction = config.get("crop")
    if fraction:
        top, left, ch, cw = crop_window(height, width, float(fraction), training,
                                        config.get("crop_positions", "any"))
        out = {k: v[:, top:top + ch, left:left + cw, :] for k, v in out.items()}
    if size is not None:
        out = {k: resize_frames(v, size) for k, v in out.items()}
    if not training:
        return out
    if config.get("flip"):
        flip = tf.random.uniform(()) < 0.5
        for key in list(out):
            # tf.cond mirrors only the clips drawn (tf.where computed both, ~4x the cost).
            out[key] = tf.cond(flip, lambda v=out[key], k=key: _mirror(v, k),
                               lambda v=out[key]: v)
    max_degrees = config.get("rotate") or 0.0
    if max_degrees:
        angle = tf.random.uniform((), -max_degrees, max_degrees) * (math.pi / 180.0)
        if "video" in out:
            out["video"] = rotate(out["video"], angle)
        if "flow" in out:  # geometry only; the small angle's effect on vectors is ignored
            zero = tf.constant(ZERO_FLOW)  # the corners rotated in are still (no motion)
            out["flow"] = rotate(out["flow"] - zero, angle) + zero
    return out


def _mirror(frames, key):
    mirrored = tf.reverse(frames, axis=[2])
    if key == "flow":  # dx changes sign: 128 + s*dx -> 128 - s*dx
        mirrored = tf.concat([1.0 - mirrored[..., :1], mirrored[..., 1:]], axis=-1)
    return mirrored

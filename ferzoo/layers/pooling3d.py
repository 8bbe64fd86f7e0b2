"""3D pooling that exports to TFLite builtins (no MaxPool3D / AveragePooling3D).

Keras' ``MaxPool3D`` and ``AveragePooling3D`` become TF ``MaxPool3D``/``AvgPool3D`` ops,
which TFLite only runs through Flex (select TF ops:
docs/design.md#what-the-stack-does-and-does-not-do). A 3D box
pooling is separable, so :class:`Pool3D` pools each frame with a 2D pooling (time folded
into the batch) and then pools along time with slices and ``keras.ops.max``/``mean``
(a reshape when the windows tile the clip). Both lower to builtin ops.
"""

from __future__ import annotations

import math

import keras
from keras import ops


def _triple(value, name: str) -> tuple[int, int, int]:
    if isinstance(value, int):
        return (value, value, value)
    value = tuple(int(v) for v in value)
    if len(value) != 3:
        raise ValueError(f"{name} must be an int or 3 ints (time, height, width); got {value}")
    return value


def _pooled_length(size: int | None, pool: int, stride: int, padding: str) -> int | None:
    if size is None:
        return None
    if padding == "same":
        return math.ceil(size / stride)
    return (size - pool) // stride + 1


def _windows(size: int, pool: int, stride: int, padding: str) -> list[tuple[int, int]]:
    """The [start, stop) frame range of every output step, padding excluded (as TF does)."""
    out = _pooled_length(size, pool, stride, padding)
    pad_before = max((out - 1) * stride + pool - size, 0) // 2 if padding == "same" else 0
    spans = []
    for t in range(out):
        start = t * stride - pad_before
        spans.append((max(start, 0), min(start + pool, size)))
    return spans


@keras.saving.register_keras_serializable(package="ferzoo")
class Pool3D(keras.layers.Layer):
    """Max or average pooling over (time, height, width), written with 2D pooling.

    Gives the same values as ``keras.layers.MaxPool3D`` / ``AveragePooling3D`` (with
    ``"same"`` padding the padded positions are ignored, as in TF) but converts to TFLite
    builtins only: each frame is pooled with a 2D pooling (time folded into the batch),
    then each output step takes the max or mean of its frames.

    Args:
        pool_size: int or (time, height, width) window.
        strides: int or (time, height, width); defaults to ``pool_size``.
        padding: ``"valid"`` or ``"same"``.
        mode: ``"max"`` or ``"average"``.
        **kwargs: base ``Layer`` arguments (``name``, ``dtype``, ...).

    Call arguments:
        inputs: (batch, T, H, W, C) tensor with a static T, H and W.

    Example:

    >>> x = keras.random.uniform((2, 7, 16, 16, 8))
    >>> Pool3D((2, 3, 3), strides=(2, 2, 2), padding="same")(x).shape
    (2, 4, 8, 8, 8)

    References:
        docs/design.md#what-the-stack-does-and-does-not-do: MaxPool3D needs Flex.
    """

    def __init__(self, pool_size=(1, 2, 2), strides=None, padding="valid", mode="max",
                 **kwargs):
        super().__init__(**kwargs)
        if padding not in ("valid", "same"):
            raise ValueError(f"padding must be 'valid' or 'same'; got {padding!r}")
        if mode not in ("max", "average"):
            raise ValueError(f"mode must be 'max' or 'average'; got {mode!r}")
        self.pool_size = _triple(pool_size, "pool_size")
        self.strides = _triple(strides if strides is not None else pool_size, "strides")
        self.padding = padding
        self.mode = mode

    def compute_output_shape(self, input_shape):
        batch, t, h, w, c = input_shape
        sizes = [
            _pooled_length(s, p, st, self.padding)
            for s, p, st in zip((t, h, w), self.pool_size, self.strides)
        ]
        return (batch, *sizes, c)

    def call(self, inputs):
        _, t, h, w, c = inputs.shape
        if None in (t, h, w):
            raise ValueError(f"{self.name}: T, H and W must be static; got {inputs.shape}")
        x = inputs
        kt, kh, kw = self.pool_size
        st, sh, sw = self.strides
        if (kh, kw, sh, sw) != (1, 1, 1, 1):
            pool = ops.max_pool if self.mode == "max" else ops.average_pool
            x = ops.reshape(x, (-1, h, w, c))  # (B, T, H, W, C) -> (B*T, H, W, C)
            x = pool(x, (kh, kw), (sh, sw), padding=self.padding)
            h, w = x.shape[1], x.shape[2]
            x = ops.reshape(x, (-1, t, h, w, c))
        if (kt, st) == (1, 1):
            return x
        reduce = ops.max if self.mode == "max" else ops.mean
        if kt == st and t % kt == 0:
            # The windows tile the clip: (B, T, ...) -> (B, T/k, k, ...) -> reduce over k.
            return reduce(ops.reshape(x, (-1, t // kt, kt, h, w, c)), axis=2)
        steps = [
            reduce(x[:, start:stop], axis=1)
            for start, stop in _windows(t, kt, st, self.padding)
        ]
        return ops.stack(steps, axis=1)

    def get_config(self):
        config = super().get_config()
        config.update(
            pool_size=self.pool_size, strides=self.strides, padding=self.padding,
            mode=self.mode,
        )
        return config

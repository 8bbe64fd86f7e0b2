"""Multi-dimensional spatial pyramid pooling normalisation (MSPP-norm).

STC-NLSTM (Yu et al. 2018, Sec. 3.2.1) turns every conv layer's feature map, whatever its
spatial size, into one fixed-length vector per time step, so that all layers can feed
LSTMs of the same input size.
"""

from __future__ import annotations

import math
from typing import Sequence

import keras
from keras import ops


def pyramid_bins(size: int, n: int) -> list[tuple[int, int]]:
    """The ``n`` adaptive bins ``[start, end)`` that cover ``size`` positions.

    Bin ``i`` spans ``floor(i * size / n) .. ceil((i + 1) * size / n)``, so the bins cover
    every position, neighbouring bins overlap by at most one position, and when ``n``
    divides ``size`` they are the ``size / n`` wide tiles of a plain max-pool.
    """
    return [(math.floor(i * size / n), math.ceil((i + 1) * size / n)) for i in range(n)]


@keras.saving.register_keras_serializable(package="ferzoo")
class MSPPNorm(keras.layers.Layer):
    """MSPP-norm: per-time-step spatial pyramid max-pooling to a fixed-length vector.

    For each time step and each pyramid level ``n``, the ``H x W`` map of every channel is
    split into ``n x n`` adaptive bins (bin ``i`` along an axis of size ``a`` spans
    ``floor(i*a/n) .. ceil((i+1)*a/n)``) and each bin is max-pooled. The pooled
    ``(n, n, C)`` grids are flattened (row, column, channel order) and concatenated over
    the levels, giving ``C * sum(n * n)`` values per step: 64 * (64 + 16 + 4) = 5376 for
    STC-NLSTM's 64 channels and levels (8, 4, 2), at any ``H, W >= 8``.

    Written with static slices, reshapes and ``max`` reductions only (a reshape when ``n``
    divides the axis, slices otherwise), so it exports to TFLite builtins and ONNX.
    Max-pooling is separable, so each level pools the rows first, then the columns.

    Args:
        levels: the pyramid's grid sizes ``n``, each a positive integer; every one must be
            at most the input's height and width.
        **kwargs: standard ``keras.layers.Layer`` arguments (``name``, ``dtype``, ...).

    Call arguments:
        inputs: ``(batch, T, H, W, C)`` feature maps with static ``H``, ``W`` and ``C``.

    Returns:
        ``(batch, T, C * sum(n * n for n in levels))``.

    Example:

    >>> x = keras.random.uniform((2, 18, 13, 13, 64))       # (B, T, H, W, C)
    >>> tuple(MSPPNorm(levels=(8, 4, 2))(x).shape)           # 64 * (64 + 16 + 4)
    (2, 18, 5376)

    References:
        Yu, Liu, Liu, Wang and Chen, "Spatio-temporal convolutional features with nested
        LSTM for facial expression recognition", Neurocomputing 2018, Sec. 3.2.1 and
        Table 2 (levels [8, 4, 2]). He et al., "Spatial pyramid pooling in deep
        convolutional networks for visual recognition", TPAMI 2015.
    """

    def __init__(self, levels: Sequence[int] = (8, 4, 2), **kwargs):
        super().__init__(**kwargs)
        if isinstance(levels, int) or not len(levels):
            raise ValueError(
                f"MSPPNorm levels must be a non-empty sequence of grid sizes, got {levels!r}; "
                "pass e.g. levels=(8, 4, 2)"
            )
        if any(int(n) != n or n < 1 for n in levels):
            raise ValueError(f"MSPPNorm levels must be positive integers, got {levels!r}")
        self.levels = tuple(int(n) for n in levels)

    def _check_input_shape(self, input_shape) -> None:
        if len(input_shape) != 5:
            raise ValueError(
                f"MSPPNorm expects (batch, T, H, W, C) feature maps, got shape "
                f"{tuple(input_shape)}"
            )
        height, width, channels = input_shape[2:]
        if height is None or width is None or channels is None:
            raise ValueError(
                f"MSPPNorm needs static H, W and C, got shape {tuple(input_shape)}; "
                "build the model with a fixed image size"
            )
        largest = max(self.levels)
        if min(height, width) < largest:
            raise ValueError(
                f"MSPPNorm levels {self.levels} need H and W >= {largest}, got a "
                f"{height}x{width} map; use a larger input, fewer pooling layers or "
                "smaller levels"
            )

    def build(self, input_shape):
        self._check_input_shape(input_shape)
        self.built = True

    def compute_output_shape(self, input_shape):
        self._check_input_shape(input_shape)
        channels = input_shape[-1]
        return (input_shape[0], input_shape[1], channels * sum(n * n for n in self.levels))

    @staticmethod
    def _pool_axis(x, axis: int, n: int):
        """Max over the ``n`` adaptive bins of ``axis``; that axis becomes size ``n``."""
        size = x.shape[axis]
        if size % n == 0:
            # Equal tiles: (..., n * k, ...) -> (..., n, k, ...) -> max over the k.
            shape = list(x.shape)
            shape[0] = -1
            shape[axis:axis + 1] = [n, size // n]
            return ops.max(ops.reshape(x, shape), axis=axis + 1)
        pooled = []
        for start, end in pyramid_bins(size, n):
            index = [slice(None)] * len(x.shape)
            index[axis] = slice(start, end)
            pooled.append(ops.max(x[tuple(index)], axis=axis, keepdims=True))
        return ops.concatenate(pooled, axis=axis)

    def call(self, inputs):
        _, steps, height, width, channels = inputs.shape
        # (B, T, H, W, C) -> (B*T, H, W, C): every time step is pooled on its own.
        x = ops.reshape(inputs, (-1, height, width, channels))
        features = []
        for n in self.levels:
            pooled = self._pool_axis(self._pool_axis(x, 1, n), 2, n)  # (B*T, n, n, C)
            features.append(ops.reshape(pooled, (-1, n * n * channels)))
        features = ops.concatenate(features, axis=-1) if len(features) > 1 else features[0]
        if steps is None:
            steps = ops.shape(inputs)[1]
        return ops.reshape(features, (-1, steps, features.shape[-1]))

    def get_config(self):
        config = super().get_config()
        config.update({"levels": list(self.levels)})
        return config

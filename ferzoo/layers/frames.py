"""Folding a clip's frames into the batch axis and back.

A per-frame 2D network (LSTPNet's ResNet-18) runs on ``(B*T, H, W, C)``; a temporal
module between its layers needs ``(B, T, H, W, C)``. ``keras.layers.Reshape`` keeps the
batch axis, so these two layers do the fold and the unfold (plain reshapes with a
dynamic batch: exportable to TFLite builtins and ONNX).
"""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="ferzoo")
class FoldFrames(keras.layers.Layer):
    """Folds the time axis into the batch axis: ``(B, T, ...) -> (B*T, ...)``.

    Args:
        **kwargs: standard layer arguments.

    Call arguments:
        inputs: a tensor of rank >= 3 whose axis 1 is time, with static trailing axes.

    Example:

    ```python
    x = np.zeros((2, 4, 8, 8, 3), "float32")
    y = FoldFrames()(x)                         # (2, 4, 8, 8, 3) -> (8, 8, 8, 3)
    ```

    References:
        Lu et al. 2023 (LSTPNet), official code: frames are folded into the batch of the
        per-frame ResNet-18.
    """

    def call(self, inputs):
        return ops.reshape(inputs, (-1,) + tuple(inputs.shape[2:]))

    def compute_output_shape(self, input_shape):
        batch, frames = input_shape[0], input_shape[1]
        folded = None if batch is None or frames is None else batch * frames
        return (folded,) + tuple(input_shape[2:])


@keras.saving.register_keras_serializable(package="ferzoo")
class UnfoldFrames(keras.layers.Layer):
    """Unfolds the batch axis into batch and time: ``(B*T, ...) -> (B, T, ...)``.

    Args:
        frames: T, the number of frames per clip.
        **kwargs: standard layer arguments.

    Call arguments:
        inputs: a tensor whose batch axis is a multiple of ``frames`` (clip-major:
            frame t of clip b at index ``b * frames + t``), with static trailing axes.

    Example:

    ```python
    x = np.zeros((8, 8, 8, 3), "float32")
    y = UnfoldFrames(frames=4)(x)               # (8, 8, 8, 3) -> (2, 4, 8, 8, 3)
    ```

    References:
        Lu et al. 2023 (LSTPNet), official code (``view(-1, 16, ...)`` in TCE).
    """

    def __init__(self, frames: int, **kwargs):
        super().__init__(**kwargs)
        if int(frames) < 1:
            raise ValueError(f"UnfoldFrames: frames must be >= 1, got {frames}")
        self.frames = int(frames)

    def call(self, inputs):
        return ops.reshape(inputs, (-1, self.frames) + tuple(inputs.shape[1:]))

    def compute_output_shape(self, input_shape):
        batch = input_shape[0]
        return (None if batch is None else batch // self.frames, self.frames) + tuple(
            input_shape[1:]
        )

    def get_config(self):
        config = super().get_config()
        config.update(frames=self.frames)
        return config

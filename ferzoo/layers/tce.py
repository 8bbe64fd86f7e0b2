"""Temporal channel excitation (TCE), the temporal attention inside LSTPNet's ResNet-18.

TCE extends ECA (Wang et al. 2020): a channel gate computed from the max- and the
average-pooled channel descriptors of each frame, with a convolution over time between
the two ECA convolutions so that the gate of a frame sees its neighbours.
"""

from __future__ import annotations

import math

import keras
from keras import ops


def eca_kernel_size(channels: int, gamma: int = 2, beta: int = 1) -> int:
    """ECA's adaptive kernel size: ``t = int(|log2 C + beta| / gamma)``, made odd, >= 3.

    Gives 3, 5, 5, 5 for C = 64, 128, 256, 512 (LSTPNet official code, ``TceModule``).
    """
    t = int(abs(math.log2(channels) + beta) / gamma)
    return max(t if t % 2 else t + 1, 3)


def make_divisible(value: float, divisor: int = 8, round_limit: float = 0.9) -> int:
    """Round ``value`` to a multiple of ``divisor`` (>= divisor), not more than 10% down.

    timm's ``make_divisible``, which TCE uses for its reduced width ``r = C / 8``.
    """
    new_value = max(divisor, int(value + divisor / 2) // divisor * divisor)
    if new_value < round_limit * value:
        new_value += divisor
    return new_value


@keras.saving.register_keras_serializable(package="ferzoo")
class TemporalChannelExcitation(keras.layers.Layer):
    """Temporal channel excitation (TCE) of LSTPNet.

    For every frame the feature map is max- and average-pooled over space, giving two
    C-long channel descriptors. Each descriptor goes through the same three steps:
    a Conv1d(1 -> r, k) sliding along the channel axis (ECA's local channel
    interaction, widened to r feature maps), a full Conv1d(C -> C, kernel 3) over time
    (no bias) applied to each of the r maps, a ReLU, and a Conv1d(r -> 1, k) along the
    channel axis. The two results are summed and the frame is scaled by
    ``2 * sigmoid(sum)`` (the factor 2 keeps a neutral gate of 0.5 at identity).
    The number of frames T is read from the input (the official code fixes T = 16).

    Args:
        kernel_size: k, the kernel of the two channel-axis convolutions. ``None``: ECA's
            rule from C (``eca_kernel_size``).
        reduction_channels: r, the width between the channel-axis convolutions.
            ``None``: C / 8 made divisible by 8 (``make_divisible``).
        temporal_kernel_size: kernel of the convolution over time (3 in the paper code).
        gamma: ECA's gamma in the kernel rule.
        beta: ECA's beta (b) in the kernel rule.
        **kwargs: standard layer arguments.

    Call arguments:
        inputs: ``(B, T, H, W, C)`` features of T frames, H, W, C static.

    Returns:
        ``(B, T, H, W, C)``: the input scaled per frame and channel by a gate in (0, 2).

    Example:

    ```python
    x = np.random.rand(2, 16, 7, 7, 512).astype("float32")
    y = TemporalChannelExcitation()(x)          # (2, 16, 7, 7, 512); k = 5, r = 64
    ```

    References:
        Lu et al. 2023, Long short-term perception network for dynamic facial
        expression recognition (PRCV), TCE module; official code ``models/tce.py``.
        Wang et al. 2020, ECA-Net (CVPR), the kernel-size rule.
    """

    def __init__(
        self,
        kernel_size: int | None = None,
        reduction_channels: int | None = None,
        temporal_kernel_size: int = 3,  # LSTPNet code, TceModule.action_p2_conv1
        gamma: int = 2,  # ECA-Net Sec. 3.3
        beta: int = 1,  # ECA-Net Sec. 3.3
        **kwargs,
    ):
        super().__init__(**kwargs)
        for name, value in (("kernel_size", kernel_size),
                            ("temporal_kernel_size", temporal_kernel_size)):
            if value is not None and (int(value) < 1 or int(value) % 2 == 0):
                raise ValueError(
                    f"TemporalChannelExcitation: {name} must be a positive odd number "
                    f"(symmetric padding), got {value}"
                )
        self.kernel_size = None if kernel_size is None else int(kernel_size)
        self.reduction_channels = None if reduction_channels is None else int(reduction_channels)
        self.temporal_kernel_size = int(temporal_kernel_size)
        self.gamma = gamma
        self.beta = beta

    def build(self, input_shape):
        if len(input_shape) != 5 or any(d is None for d in input_shape[2:]):
            raise ValueError(
                "TemporalChannelExcitation expects (B, T, H, W, C) with static H, W, C; "
                f"got {tuple(input_shape)}. Unfold the frames out of the batch first "
                "(ferzoo.layers.UnfoldFrames)."
            )
        channels = int(input_shape[-1])
        self.channels = channels
        self.k = self.kernel_size or eca_kernel_size(channels, self.gamma, self.beta)
        self.r = self.reduction_channels or make_divisible(channels / 8)
        # Conv1d(1 -> r, k) along the channel axis: (N, C, 1) -> (N, C, r).
        self.channel_conv_in = keras.layers.Conv1D(
            self.r, self.k, padding="same", use_bias=True, name="channel_conv_in",
            dtype=self.dtype_policy,
        )
        self.channel_conv_in.build((None, channels, 1))
        # Conv1d(C -> C, 3) over time, shared by the r maps: (N, T, C) -> (N, T, C).
        self.temporal_conv = keras.layers.Conv1D(
            channels, self.temporal_kernel_size, padding="same", use_bias=False,
            name="temporal_conv", dtype=self.dtype_policy,
        )
        self.temporal_conv.build((None, input_shape[1], channels))
        # Conv1d(r -> 1, k) along the channel axis: (N, C, r) -> (N, C, 1).
        self.channel_conv_out = keras.layers.Conv1D(
            1, self.k, padding="same", use_bias=True, name="channel_conv_out",
            dtype=self.dtype_policy,
        )
        self.channel_conv_out.build((None, channels, self.r))
        super().build(input_shape)

    def call(self, inputs):
        _, frames, height, width, channels = inputs.shape
        if frames is None:
            frames = ops.shape(inputs)[1]
        r = self.r
        flat = ops.reshape(inputs, (-1, height * width, channels))  # (B*T, HW, C)
        pooled = ops.stack([ops.max(flat, axis=1), ops.mean(flat, axis=1)], axis=1)
        # (B*T, 2, C) -> (B, 2, T, C): the two descriptors become extra batch entries.
        pooled = ops.transpose(ops.reshape(pooled, (-1, frames, 2, channels)), (0, 2, 1, 3))
        e = self.channel_conv_in(ops.reshape(pooled, (-1, channels, 1)))  # (B*2*T, C, r)
        e = ops.transpose(ops.reshape(e, (-1, frames, channels, r)), (0, 3, 1, 2))
        e = self.temporal_conv(ops.reshape(e, (-1, frames, channels)))  # (B*2*r, T, C)
        e = ops.transpose(ops.reshape(e, (-1, r, frames, channels)), (0, 2, 3, 1))
        e = ops.relu(ops.reshape(e, (-1, channels, r)))  # (B*2*T, C, r)
        e = self.channel_conv_out(e)  # (B*2*T, C, 1)
        e = ops.sum(ops.reshape(e, (-1, 2, frames, channels)), axis=1)  # (B, T, C)
        gate = 2.0 * ops.sigmoid(ops.reshape(e, (-1, 1, channels)))  # (B*T, 1, C)
        return ops.reshape(flat * gate, (-1, frames, height, width, channels))

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update(
            kernel_size=self.kernel_size,
            reduction_channels=self.reduction_channels,
            temporal_kernel_size=self.temporal_kernel_size,
            gamma=self.gamma,
            beta=self.beta,
        )
        return config

"""Attention over (time, height, width, channel) feature maps of 3D CNNs.

STCAM's two modules (Chen et al., Sec. 3.2) and the non-local blocks it is compared
with (Wang et al. 2018; STCAM Sec. 4.5, Table 8). Every layer keeps the shape of its
input, so it can sit anywhere in a C3D network, and every layer can hand back its
attention map for visualisation: call it with ``return_attention=True`` to get
``(outputs, attention)`` (``STCAM`` returns ``(outputs, channel_map, spatiotemporal_map)``).

Shapes are channels_last: features are (B, T, H, W, C).
"""

from __future__ import annotations

import keras
from keras import ops

# STCAM Sec. 4.2: "The reduction ratio in 3D-CAM was set to 16 according to [18] and
# [19], and the kernel size of the 3D convolution in STAM was set to 3x7x7 for
# 3D-Inception-ResNet-A module and 3x5x5 for other C3D modules."
CAM_REDUCTION = 16
STAM_KERNEL_A = (3, 7, 7)
STAM_KERNEL = (3, 5, 5)


def _spec(shape, dtype):
    return keras.KerasTensor(tuple(shape), dtype=dtype)


class _Reweighting(keras.layers.Layer):
    """A layer that multiplies its input by an attention map: ``inputs * attention(inputs)``,
    the map broadcast over the axes it lacks; ``return_attention=True`` also returns it.
    Subclasses define ``attention(inputs)`` and ``attention_shape(input_shape)``."""

    def call(self, inputs, return_attention=False):
        weights = self.attention(inputs)
        outputs = inputs * weights
        return (outputs, weights) if return_attention else outputs

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def compute_output_spec(self, inputs, return_attention=False):
        outputs = _spec(inputs.shape, self.compute_dtype)
        if not return_attention:
            return outputs
        return outputs, _spec(self.attention_shape(inputs.shape), self.compute_dtype)


@keras.saving.register_keras_serializable(package="ferzoo")
class ChannelAttention3D(_Reweighting):
    """3D Channel Attention Module (3D-CAM): one weight per channel.

    ``M_c = sigmoid(MLP(avgpool_THW(F)) + MLP(maxpool_THW(F)))`` with one MLP
    ``C -> C/r -> C`` (ReLU after the hidden layer) shared by both descriptors, and
    ``F' = M_c * F`` (Eqs. 1-3).

    Args:
        reduction: reduction ratio r of the MLP's hidden layer (``max(1, C // r)`` units).
        use_bias: whether the MLP's two layers have biases (CBAM's code has them; the
            paper's Eq. 2 writes none).
        **kwargs: base ``Layer`` arguments.

    Call arguments:
        inputs: (B, T, H, W, C) features.
        return_attention: also return the channel map ``M_c``, shape (B, 1, 1, 1, C).

    Example:

    >>> x = keras.random.uniform((2, 7, 14, 14, 64))
    >>> y, m = ChannelAttention3D(reduction=16)(x, return_attention=True)
    >>> y.shape, m.shape
    ((2, 7, 14, 14, 64), (2, 1, 1, 1, 64))

    References:
        Chen et al., STCAM (IEEE TAC), Sec. 3.2.1, Fig. 3, Eqs. 1-3; the 2D original is
        CBAM's channel attention (Woo et al. 2018).
    """

    def __init__(self, reduction=CAM_REDUCTION, use_bias=True, **kwargs):
        super().__init__(**kwargs)
        if reduction < 1:
            raise ValueError(f"reduction must be >= 1; got {reduction}")
        self.reduction = reduction
        self.use_bias = use_bias

    def build(self, input_shape):
        channels = input_shape[-1]
        hidden = max(1, channels // self.reduction)
        self.hidden_dense = keras.layers.Dense(
            hidden, activation="relu", use_bias=self.use_bias, dtype=self.dtype_policy,
            name="mlp_hidden",
        )
        self.output_dense = keras.layers.Dense(
            channels, use_bias=self.use_bias, dtype=self.dtype_policy, name="mlp_output"
        )
        self.hidden_dense.build((None, channels))
        self.output_dense.build((None, hidden))

    def _mlp(self, x):
        return self.output_dense(self.hidden_dense(x))

    def attention(self, inputs):
        """The channel map ``M_c`` (B, 1, 1, 1, C) of ``inputs``."""
        average = ops.mean(inputs, axis=(1, 2, 3))  # (B, T, H, W, C) -> (B, C)
        maximum = ops.max(inputs, axis=(1, 2, 3))
        weights = ops.sigmoid(self._mlp(average) + self._mlp(maximum))
        return ops.reshape(weights, (-1, 1, 1, 1, inputs.shape[-1]))

    def attention_shape(self, input_shape):
        return (input_shape[0], 1, 1, 1, input_shape[-1])

    def get_config(self):
        config = super().get_config()
        config.update(reduction=self.reduction, use_bias=self.use_bias)
        return config


@keras.saving.register_keras_serializable(package="ferzoo")
class SpatioTemporalAttention(_Reweighting):
    """Spatial-Temporal Attention Module (STAM): one weight per (t, h, w) position.

    ``M_st = sigmoid(conv3d([mean_C(F), max_C(F)]))`` with one 3D convolution from the
    two channel-pooled maps to one channel, and ``F' = M_st * F`` (Eqs. 4-6).

    Args:
        kernel_size: the 3D convolution's (time, height, width) kernel; the paper uses
            3x7x7 in the Inception-ResNet-A structure and 3x5x5 elsewhere.
        **kwargs: base ``Layer`` arguments.

    Call arguments:
        inputs: (B, T, H, W, C) features.
        return_attention: also return the map ``M_st``, shape (B, T, H, W, 1).

    Example:

    >>> x = keras.random.uniform((2, 7, 14, 14, 64))
    >>> y, m = SpatioTemporalAttention((3, 5, 5))(x, return_attention=True)
    >>> y.shape, m.shape
    ((2, 7, 14, 14, 64), (2, 7, 14, 14, 1))

    References:
        Chen et al., STCAM (IEEE TAC), Sec. 3.2.2, Fig. 4, Eqs. 4-6, kernel sizes
        Sec. 4.2; the 2D original is CBAM's spatial attention (Woo et al. 2018).
    """

    def __init__(self, kernel_size=STAM_KERNEL, **kwargs):
        super().__init__(**kwargs)
        self.kernel_size = tuple(int(k) for k in kernel_size)
        if len(self.kernel_size) != 3:
            raise ValueError(f"kernel_size must be (time, height, width); got {kernel_size}")
        self.conv = keras.layers.Conv3D(
            1, self.kernel_size, padding="same", dtype=self.dtype_policy, name="conv"
        )

    def build(self, input_shape):
        self.conv.build((*input_shape[:-1], 2))

    def attention(self, inputs):
        """The spatial-temporal map ``M_st`` (B, T, H, W, 1) of ``inputs``."""
        descriptors = ops.concatenate(
            [ops.mean(inputs, axis=-1, keepdims=True), ops.max(inputs, axis=-1, keepdims=True)],
            axis=-1,
        )  # (B, T, H, W, C) -> (B, T, H, W, 2): [average, max]
        return ops.sigmoid(self.conv(descriptors))

    def attention_shape(self, input_shape):
        return (*input_shape[:-1], 1)

    def get_config(self):
        config = super().get_config()
        config.update(kernel_size=self.kernel_size)
        return config


@keras.saving.register_keras_serializable(package="ferzoo")
class STCAM(keras.layers.Layer):
    """Spatial-Temporal and Channel Attention Module: 3D-CAM and STAM in sequence.

    Args:
        reduction: 3D-CAM's reduction ratio r.
        kernel_size: STAM's 3D convolution kernel (time, height, width).
        order: ``"cam_stam"`` (the paper's STCAM: channel attention first) or
            ``"stam_cam"`` (the "Baseline + STAM + 3D-CAM" ablation of Tables 2-4).
        use_bias: whether 3D-CAM's MLP has biases.
        **kwargs: base ``Layer`` arguments.

    Call arguments:
        inputs: (B, T, H, W, C) features.
        return_attention: also return both maps: ``(outputs, channel_map,
            spatiotemporal_map)`` with shapes (B, 1, 1, 1, C) and (B, T, H, W, 1).

    Example:

    >>> x = keras.random.uniform((2, 7, 28, 28, 48))
    >>> y, mc, mst = STCAM(kernel_size=(3, 7, 7))(x, return_attention=True)
    >>> y.shape, mc.shape, mst.shape
    ((2, 7, 28, 28, 48), (2, 1, 1, 1, 48), (2, 7, 28, 28, 1))

    References:
        Chen et al., STCAM (IEEE TAC), Sec. 3.3.1 and Fig. 5; order ablation in Sec. 4.3.
    """

    ORDERS = ("cam_stam", "stam_cam")

    def __init__(self, reduction=CAM_REDUCTION, kernel_size=STAM_KERNEL, order="cam_stam",
                 use_bias=True, **kwargs):
        super().__init__(**kwargs)
        if order not in self.ORDERS:
            raise ValueError(f"order must be one of {self.ORDERS}; got {order!r}")
        self.reduction = reduction
        self.kernel_size = tuple(int(k) for k in kernel_size)
        self.order = order
        self.use_bias = use_bias
        self.channel_attention = ChannelAttention3D(
            reduction, use_bias=use_bias, dtype=self.dtype_policy, name="channel_attention"
        )
        self.spatiotemporal_attention = SpatioTemporalAttention(
            self.kernel_size, dtype=self.dtype_policy, name="spatiotemporal_attention"
        )

    def build(self, input_shape):
        self.channel_attention.build(input_shape)
        self.spatiotemporal_attention.build(input_shape)

    def call(self, inputs, return_attention=False):
        if self.order == "cam_stam":
            x, channel_map = self.channel_attention(inputs, return_attention=True)
            x, st_map = self.spatiotemporal_attention(x, return_attention=True)
        else:
            x, st_map = self.spatiotemporal_attention(inputs, return_attention=True)
            x, channel_map = self.channel_attention(x, return_attention=True)
        return (x, channel_map, st_map) if return_attention else x

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def compute_output_spec(self, inputs, return_attention=False):
        outputs = _spec(inputs.shape, self.compute_dtype)
        if not return_attention:
            return outputs
        return (outputs,
                _spec(self.channel_attention.attention_shape(inputs.shape), self.compute_dtype),
                _spec(self.spatiotemporal_attention.attention_shape(inputs.shape),
                      self.compute_dtype))

    def get_config(self):
        config = super().get_config()
        config.update(
            reduction=self.reduction, kernel_size=self.kernel_size, order=self.order,
            use_bias=self.use_bias,
        )
        return config


@keras.saving.register_keras_serializable(package="ferzoo")
class NonLocalBlock3D(keras.layers.Layer):
    """Non-local block over all T*H*W positions (Gaussian or embedded Gaussian).

    ``y_i = sum_j softmax_j(f_ij) g(x_j)`` with ``g`` a 1x1x1 convolution to
    ``inter_channels``; ``f_ij = x_i . x_j`` (``"gaussian"``) or
    ``theta(x_i) . phi(x_j)`` with 1x1x1 convolutions theta, phi (``"embedded_gaussian"``).
    The output ``z = BN(W_z y) + x`` projects back to C channels and keeps the residual.

    Args:
        mode: ``"gaussian"`` or ``"embedded_gaussian"``.
        inter_channels: width of g, theta, phi; ``None`` gives ``max(1, C // 2)`` (Wang
            et al. Sec. 3.3).
        use_batchnorm: batch normalisation after W_z (Wang et al. Sec. 4.1).
        zero_init: start BN's scale (or W_z without BN) at zero so the block begins as
            the identity (Wang et al.); off by default since STCAM trains from scratch.
        **kwargs: base ``Layer`` arguments.

    Call arguments:
        inputs: (B, T, H, W, C) features with static T, H, W.
        training: for the batch normalisation.
        return_attention: also return the softmax map, shape (B, N, N) with N = T*H*W
            (row i: how position i attends to every position j).

    Example:

    >>> x = keras.random.uniform((2, 4, 7, 7, 32))
    >>> y, a = NonLocalBlock3D("embedded_gaussian")(x, return_attention=True)
    >>> y.shape, a.shape
    ((2, 4, 7, 7, 32), (2, 196, 196))

    References:
        Wang, Girshick, Gupta, He, Non-local neural networks (CVPR 2018), Sec. 3.2-3.3;
        used in place of STCAM in Chen et al., STCAM (IEEE TAC), Sec. 4.5, Table 8.
    """

    MODES = ("gaussian", "embedded_gaussian")

    def __init__(self, mode="embedded_gaussian", inter_channels=None, use_batchnorm=True,
                 zero_init=False, **kwargs):
        super().__init__(**kwargs)
        if mode not in self.MODES:
            raise ValueError(f"mode must be one of {self.MODES}; got {mode!r}")
        self.mode = mode
        self.inter_channels = inter_channels
        self.use_batchnorm = use_batchnorm
        self.zero_init = zero_init

    def build(self, input_shape):
        channels = input_shape[-1]
        inter = self.inter_channels or max(1, channels // 2)
        inner_shape = (*input_shape[:-1], inter)

        def conv(filters, name, **kw):
            return keras.layers.Conv3D(filters, 1, dtype=self.dtype_policy, name=name, **kw)

        self.g = conv(inter, "g")
        self.g.build(input_shape)
        if self.mode == "embedded_gaussian":
            self.theta = conv(inter, "theta")
            self.phi = conv(inter, "phi")
            self.theta.build(input_shape)
            self.phi.build(input_shape)
        zero_w = self.zero_init and not self.use_batchnorm
        self.w_z = conv(channels, "w_z", kernel_initializer="zeros" if zero_w else "glorot_uniform")
        self.w_z.build(inner_shape)
        if self.use_batchnorm:
            self.batchnorm = keras.layers.BatchNormalization(
                gamma_initializer="zeros" if self.zero_init else "ones",
                dtype=self.dtype_policy, name="w_z_bn",
            )
            self.batchnorm.build(input_shape)

    def _flatten(self, x):
        _, t, h, w, c = x.shape
        return ops.reshape(x, (-1, t * h * w, c))  # (B, T, H, W, C) -> (B, N, C)

    def attention(self, inputs):
        """The softmax map (B, N, N) of ``inputs``."""
        if self.mode == "embedded_gaussian":
            query, key = self._flatten(self.theta(inputs)), self._flatten(self.phi(inputs))
        else:
            query = key = self._flatten(inputs)
        return ops.softmax(ops.matmul(query, ops.transpose(key, (0, 2, 1))), axis=-1)

    def call(self, inputs, training=None, return_attention=False):
        _, t, h, w, _ = inputs.shape
        if None in (t, h, w):
            raise ValueError(f"{self.name}: T, H and W must be static; got {inputs.shape}")
        weights = self.attention(inputs)
        values = self._flatten(self.g(inputs))
        y = ops.matmul(weights, values)  # (B, N, N) @ (B, N, C') -> (B, N, C')
        y = ops.reshape(y, (-1, t, h, w, values.shape[-1]))
        z = self.w_z(y)
        if self.use_batchnorm:
            z = self.batchnorm(z, training=training)
        outputs = z + inputs
        return (outputs, weights) if return_attention else outputs

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def compute_output_spec(self, inputs, training=None, return_attention=False):
        outputs = _spec(inputs.shape, self.compute_dtype)
        if not return_attention:
            return outputs
        _, t, h, w, _ = inputs.shape
        return outputs, _spec((inputs.shape[0], t * h * w, t * h * w), self.compute_dtype)

    def get_config(self):
        config = super().get_config()
        config.update(
            mode=self.mode, inter_channels=self.inter_channels,
            use_batchnorm=self.use_batchnorm, zero_init=self.zero_init,
        )
        return config

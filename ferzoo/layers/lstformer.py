"""The LSTformer (long short-term temporal Transformer) of LSTPNet.

Each depth level first adds a short-term temporal convolution to its input and
normalises it (one convolution and one LayerNorm, SHARED by all depth levels, as in the
official code), then runs a pre-norm Transformer block whose feed-forward part has a
depthwise temporal convolution: long-term context from self-attention, short-term from
the convolutions.
"""

from __future__ import annotations

import math

import keras
from keras import ops

LAYER_NORM_EPSILON = 1e-5  # PyTorch nn.LayerNorm default, used by the official code


def gelu_exact(x):
    """PyTorch's ``nn.GELU()``: ``0.5 x (1 + erf(x / sqrt 2))``.

    Written with ``erf`` on purpose: TF's own ``gelu(approximate=False)`` lowers to
    ``erfc``, which tf2onnx cannot export; this form exports to ONNX (Erf) and fuses to
    TFLite's builtin GELU.
    """
    return 0.5 * x * (1.0 + ops.erf(x * (1.0 / math.sqrt(2.0))))


def _layer_norm(name, epsilon, dtype):
    return keras.layers.LayerNormalization(epsilon=epsilon, name=name, dtype=dtype)


@keras.saving.register_keras_serializable(package="ferzoo")
class LSTformerBlock(keras.layers.Layer):
    """One pre-norm Transformer block of the LSTformer (attention + temporal FFN).

    ``x = x + MHSA(LN(x))`` with a bias-free qkv projection and an output projection
    with bias; then ``x = x + FF(LN(x))`` where FF is Linear(mlp_dim) - GELU (exact) -
    LN - (h + depthwise Conv1d over time) - GELU - LN - Linear(dim) - LN. No dropout,
    no positional embedding (the temporal convolutions carry order).

    Args:
        heads: number of attention heads.
        dim_head: width of each head (``heads * dim_head`` is the attention width).
        mlp_dim: hidden width of the feed-forward part.
        temporal_kernel_size: kernel of the depthwise convolution over time.
        epsilon: LayerNorm epsilon (PyTorch's 1e-5).
        **kwargs: standard layer arguments.

    Call arguments:
        inputs: ``(B, T, dim)`` token sequence (one token per frame).

    Returns:
        ``(B, T, dim)``.

    Example:

    ```python
    x = np.random.rand(2, 16, 512).astype("float32")
    y = LSTformerBlock(heads=8, dim_head=64, mlp_dim=4096)(x)    # (2, 16, 512)
    ```

    References:
        Lu et al. 2023 (LSTPNet, PRCV), LSTformer; official code ``models/LSTformer.py``
        (``Attention``, ``FeedForward``).
    """

    def __init__(
        self,
        heads: int = 8,  # LSTPNet code, temporal_transformer(heads=8)
        dim_head: int = 64,  # LSTPNet code, dim_head=64
        mlp_dim: int = 4096,  # LSTPNet code, mlp_dim=4096
        temporal_kernel_size: int = 3,  # LSTPNet code, FeedForward.TC
        epsilon: float = LAYER_NORM_EPSILON,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.heads = int(heads)
        self.dim_head = int(dim_head)
        self.mlp_dim = int(mlp_dim)
        self.temporal_kernel_size = int(temporal_kernel_size)
        self.epsilon = float(epsilon)
        inner, dtype = self.heads * self.dim_head, self.dtype_policy
        self.attention_norm = _layer_norm("attention_norm", self.epsilon, dtype)
        self.to_qkv = keras.layers.Dense(3 * inner, use_bias=False, name="to_qkv", dtype=dtype)
        self.ff_norm = _layer_norm("ff_norm", self.epsilon, dtype)
        self.linear1 = keras.layers.Dense(self.mlp_dim, name="linear1", dtype=dtype)
        self.linear1_norm = _layer_norm("linear1_norm", self.epsilon, dtype)
        self.temporal_conv = keras.layers.DepthwiseConv1D(
            self.temporal_kernel_size, padding="same", use_bias=True, name="temporal_conv",
            dtype=dtype,
        )
        self.hidden_norm = _layer_norm("hidden_norm", self.epsilon, dtype)
        self.linear2_norm = _layer_norm("linear2_norm", self.epsilon, dtype)

    def build(self, input_shape):
        if len(input_shape) != 3 or input_shape[-1] is None:
            raise ValueError(
                f"LSTformerBlock expects (B, T, dim) with a static dim; got {tuple(input_shape)}"
            )
        dim, inner = int(input_shape[-1]), self.heads * self.dim_head
        seq = (None, input_shape[1])
        # The two projections back to dim are made here: dim comes from the input.
        self.to_out = keras.layers.Dense(dim, name="to_out", dtype=self.dtype_policy)
        self.linear2 = keras.layers.Dense(dim, name="linear2", dtype=self.dtype_policy)
        self.attention_norm.build(seq + (dim,))
        self.to_qkv.build(seq + (dim,))
        self.to_out.build(seq + (inner,))
        self.ff_norm.build(seq + (dim,))
        self.linear1.build(seq + (dim,))
        self.linear1_norm.build(seq + (self.mlp_dim,))
        self.temporal_conv.build(seq + (self.mlp_dim,))
        self.hidden_norm.build(seq + (self.mlp_dim,))
        self.linear2.build(seq + (self.mlp_dim,))
        self.linear2_norm.build(seq + (dim,))
        super().build(input_shape)

    def _attention(self, x):
        frames = x.shape[1] if x.shape[1] is not None else ops.shape(x)[1]
        heads, dim_head = self.heads, self.dim_head
        q, k, v = ops.split(self.to_qkv(x), 3, axis=-1)  # 3 x (B, T, h*d)

        def split_heads(t):  # (B, T, h*d) -> (B, h, T, d)
            return ops.transpose(ops.reshape(t, (-1, frames, heads, dim_head)), (0, 2, 1, 3))

        q, k, v = split_heads(q), split_heads(k), split_heads(v)
        dots = ops.matmul(q, ops.transpose(k, (0, 1, 3, 2))) * (dim_head**-0.5)  # (B, h, T, T)
        out = ops.matmul(ops.softmax(dots, axis=-1), v)  # (B, h, T, d)
        out = ops.reshape(ops.transpose(out, (0, 2, 1, 3)), (-1, frames, heads * dim_head))
        return self.to_out(out)

    def _feed_forward(self, x):
        h = self.linear1_norm(gelu_exact(self.linear1(x)))
        h = h + self.temporal_conv(h)
        h = self.hidden_norm(gelu_exact(h))
        return self.linear2_norm(self.linear2(h))

    def call(self, inputs):
        x = inputs + self._attention(self.attention_norm(inputs))
        return x + self._feed_forward(self.ff_norm(x))

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update(
            heads=self.heads,
            dim_head=self.dim_head,
            mlp_dim=self.mlp_dim,
            temporal_kernel_size=self.temporal_kernel_size,
            epsilon=self.epsilon,
        )
        return config


@keras.saving.register_keras_serializable(package="ferzoo")
class LSTformer(keras.layers.Layer):
    """LSTformer: ``depth`` levels of (shared temporal conv + LN) then an LSTformerBlock.

    At every level: ``x = LN(x + Conv1d_t(x))`` with ONE Conv1d(dim -> dim, kernel 3 over
    time, bias) and ONE LayerNorm shared by all levels (tied weights, counted once), then
    ``x = LSTformerBlock(x)``. The official ``TFormer`` then averages over time; here
    that mean is left to the model, so the layer returns the whole sequence.

    Args:
        depth: number of levels (Transformer blocks).
        heads: attention heads per block.
        dim_head: width of each head.
        mlp_dim: hidden width of each block's feed-forward part.
        temporal_kernel_size: kernel of the shared and of the depthwise temporal convs.
        epsilon: LayerNorm epsilon (PyTorch's 1e-5).
        **kwargs: standard layer arguments.

    Call arguments:
        inputs: ``(B, T, dim)``, one token per frame (no class token).

    Returns:
        ``(B, T, dim)``.

    Example:

    ```python
    x = np.random.rand(2, 16, 512).astype("float32")
    y = LSTformer(depth=2, heads=8, dim_head=64, mlp_dim=4096)(x)  # (2, 16, 512)
    ```

    References:
        Lu et al. 2023 (LSTPNet, PRCV), LSTformer; official code ``models/LSTformer.py``
        (``Transformer``: ``self.TC`` and ``self.norm`` appended to every level).
    """

    def __init__(
        self,
        depth: int = 2,  # LSTPNet code, temporal_transformer(depth=2)
        heads: int = 8,
        dim_head: int = 64,
        mlp_dim: int = 4096,
        temporal_kernel_size: int = 3,  # LSTPNet code, Transformer.TC
        epsilon: float = LAYER_NORM_EPSILON,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if int(depth) < 1:
            raise ValueError(f"LSTformer: depth must be >= 1, got {depth}")
        self.depth = int(depth)
        self.heads = int(heads)
        self.dim_head = int(dim_head)
        self.mlp_dim = int(mlp_dim)
        self.temporal_kernel_size = int(temporal_kernel_size)
        self.epsilon = float(epsilon)
        dtype = self.dtype_policy
        self.temporal_norm = _layer_norm("temporal_norm", self.epsilon, dtype)
        self.blocks = [
            LSTformerBlock(
                heads=self.heads, dim_head=self.dim_head, mlp_dim=self.mlp_dim,
                temporal_kernel_size=self.temporal_kernel_size, epsilon=self.epsilon,
                name=f"block_{i}", dtype=dtype,
            )
            for i in range(self.depth)
        ]

    def build(self, input_shape):
        if len(input_shape) != 3 or input_shape[-1] is None:
            raise ValueError(
                f"LSTformer expects (B, T, dim) with a static dim; got {tuple(input_shape)}"
            )
        # Conv1d(dim -> dim) over time; dim comes from the input.
        self.temporal_conv = keras.layers.Conv1D(
            int(input_shape[-1]), self.temporal_kernel_size, padding="same", use_bias=True,
            name="temporal_conv", dtype=self.dtype_policy,
        )
        self.temporal_conv.build(input_shape)
        self.temporal_norm.build(input_shape)
        for block in self.blocks:
            block.build(input_shape)
        super().build(input_shape)

    def call(self, inputs):
        x = inputs
        for block in self.blocks:
            x = self.temporal_norm(x + self.temporal_conv(x))  # shared by every level
            x = block(x)
        return x

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update(
            depth=self.depth,
            heads=self.heads,
            dim_head=self.dim_head,
            mlp_dim=self.mlp_dim,
            temporal_kernel_size=self.temporal_kernel_size,
            epsilon=self.epsilon,
        )
        return config

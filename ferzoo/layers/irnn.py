"""IRNN: a stack of ReLU recurrent layers whose recurrent matrix starts as the identity.

Le, Jaitly and Hinton (2015) train plain recurrent networks of rectified linear units by
initialising the recurrent matrix to the identity (so that, at the start, the hidden
state is carried over unchanged and gradients neither vanish nor explode), the input
kernel to small Gaussian values and the bias to zero. Jain et al. (2018, Sec. 3.1, 3.3)
put such an RNN on top of per-frame CNN features.

Each recurrent layer of the stack is a ``keras.layers.SimpleRNN``, unrolled over the
(static) number of time steps: see :class:`IRNN` for why.
"""

from __future__ import annotations

import math

import keras

# Le et al. 2015, Sec. 4: non-recurrent weights ~ N(0, 0.001). The 0.001 is a standard
# deviation, as in the Keras reference implementation of Le et al.'s experiment
# (examples/mnist_irnn.py: ``RandomNormal(stddev=0.001)``); Jain et al. do not restate it.
KERNEL_STDDEV = 0.001


@keras.saving.register_keras_serializable(package="ferzoo")
class IRNN(keras.layers.Layer):
    """Stacked identity-initialised recurrent layers (IRNN), unrolled over time.

    Each layer ``l`` computes, for t = 1..T and h_0 = 0::

        h_t = act(x_t @ W_in + h_{t-1} @ W_rec + b)

    with ``act`` = ReLU (the IRNN) or tanh (``relu=False``: the plain "CNN-RNN" of
    Jain et al., Table 1), ``W_rec`` initialised to ``recurrent_gain * I``, ``W_in`` of
    the first layer to N(0, ``kernel_stddev``^2) and ``b`` to zero. Layer ``l + 1``
    reads the hidden-state sequence of layer ``l``.

    The kernels between stacked layers start from N(0, ``hidden_kernel_stddev``^2),
    by default sqrt(2 / (units * T)): He-normal divided by sqrt(T), because a ReLU layer
    with an identity recurrence sums its inputs over the T steps. Le et al. give
    N(0, 0.001^2) for the input weights of their (single-layer) IRNNs; used between the
    layers of a stack, each layer scales the signal by ~0.001 * sqrt(units) (0.012 for
    150 units), so the sixth layer of Jain et al.'s best stack sees ~1e-10 of its input;
    with plain He-normal each layer grows it ~sqrt(T) times (x2.8 per layer for T = 8).
    Measured on the synthetic data (frozen CNN features, T = 8, 6 x 150 units): with
    0.001 everywhere the loss stayed at ln 6 for 30 epochs with SGD and with Adam.
    ``hidden_kernel_stddev=0.001`` gives that all-0.001 stack.

    The recurrences are Keras' own ``SimpleRNN`` layers (ReLU or tanh, identity
    recurrent initialiser), one per layer of the stack, in ``self.rnns``. Unrolled over
    the static T (``unroll=True``) they leave no WHILE loop in the graph, so a model
    using the IRNN exports to TFLite in float32, dynamic-range and int8 with builtin ops
    only (int8 calibration of a WHILE-loop RNN crashed, see
    docs/design.md#what-the-stack-does-and-does-not-do) and to ONNX. They compute the
    recurrence above as the earlier hand-written loop did (with the same weights the
    outputs agree to float32 rounding), and Keras' layer also carries masking and
    (recurrent) dropout should a model need them.

    Args:
        units: hidden units per layer (Jain et al. Table 2: best 150).
        num_layers: stacked recurrent layers (Jain et al. Table 3: best 6).
        relu: ReLU activation (IRNN) when True, tanh when False.
        return_sequences: return every step of the last layer, ``(B, T, units)``,
            instead of its last step, ``(B, units)``.
        kernel_stddev: standard deviation of the first layer's input-kernel initialiser.
        hidden_kernel_stddev: the same for the kernels between stacked layers (None:
            sqrt(2 / (units * T)), see above).
        recurrent_gain: scale of the identity the recurrent matrix starts from.
        kernel_regularizer: optional regulariser of the input kernels.
        recurrent_regularizer: optional regulariser of the recurrent matrices.
        **kwargs: base ``keras.layers.Layer`` arguments (``name``, ``dtype``, ...).

    Call arguments:
        inputs: ``(B, T, D)`` sequence; T must be static (the loop is unrolled).

    Example:

    >>> x = keras.random.normal((2, 5, 200))  # (B, T, D)
    >>> tuple(IRNN(150, num_layers=6)(x).shape)
    (2, 150)
    >>> tuple(IRNN(8, return_sequences=True)(x).shape)
    (2, 5, 8)

    References:
        Le, Jaitly, Hinton 2015, A Simple Way to Initialize Recurrent Networks of
        Rectified Linear Units, Sec. 3. Jain et al. 2018, Hybrid deep neural networks
        for face emotion recognition, Sec. 3.1 and 3.3.
    """

    def __init__(
        self,
        units: int,
        num_layers: int = 1,
        relu: bool = True,
        return_sequences: bool = False,
        kernel_stddev: float = KERNEL_STDDEV,
        hidden_kernel_stddev: float | None = None,
        recurrent_gain: float = 1.0,
        kernel_regularizer=None,
        recurrent_regularizer=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if int(units) < 1 or int(num_layers) < 1:
            raise ValueError(
                f"IRNN needs units >= 1 and num_layers >= 1, got units={units}, "
                f"num_layers={num_layers}"
            )
        self.units = int(units)
        self.num_layers = int(num_layers)
        self.relu = bool(relu)
        self.return_sequences = bool(return_sequences)
        self.kernel_stddev = float(kernel_stddev)
        self.hidden_kernel_stddev = (
            None if hidden_kernel_stddev is None else float(hidden_kernel_stddev)
        )
        self.recurrent_gain = float(recurrent_gain)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.recurrent_regularizer = keras.regularizers.get(recurrent_regularizer)
        # The kernel initialisers are set in build, where T (and so the stddev between
        # stacked layers) is known.
        self.rnns = [
            keras.layers.SimpleRNN(
                self.units,
                activation="relu" if self.relu else "tanh",
                recurrent_initializer=keras.initializers.Identity(gain=self.recurrent_gain),
                bias_initializer="zeros",
                kernel_regularizer=self.kernel_regularizer,
                recurrent_regularizer=self.recurrent_regularizer,
                return_sequences=self.return_sequences or i < self.num_layers - 1,
                unroll=True,
                dtype=self.dtype_policy,
                name=f"simple_rnn_{i}",
            )
            for i in range(self.num_layers)
        ]

    def build(self, input_shape):
        if len(input_shape) != 3 or input_shape[1] is None or input_shape[-1] is None:
            raise ValueError(
                f"IRNN expects (batch, time, features) with a static time axis and "
                f"feature size, got {tuple(input_shape)}; give the model's Input a fixed "
                f"number of frames"
            )
        hidden_stddev = self.hidden_kernel_stddev
        if hidden_stddev is None:  # He-normal / sqrt(T): each stacked layer keeps the scale
            hidden_stddev = math.sqrt(2.0 / (self.units * int(input_shape[1])))
        shape = tuple(input_shape)
        for i, rnn in enumerate(self.rnns):
            rnn.cell.kernel_initializer = keras.initializers.RandomNormal(
                stddev=self.kernel_stddev if i == 0 else hidden_stddev
            )
            rnn.build(shape)
            shape = (shape[0], shape[1], self.units)

    def call(self, inputs):
        for rnn in self.rnns:
            inputs = rnn(inputs)
        return inputs

    def compute_output_shape(self, input_shape):
        if self.return_sequences:
            return (input_shape[0], input_shape[1], self.units)
        return (input_shape[0], self.units)

    def get_config(self):
        config = super().get_config()
        config.update(
            units=self.units,
            num_layers=self.num_layers,
            relu=self.relu,
            return_sequences=self.return_sequences,
            kernel_stddev=self.kernel_stddev,
            hidden_kernel_stddev=self.hidden_kernel_stddev,
            recurrent_gain=self.recurrent_gain,
            kernel_regularizer=keras.regularizers.serialize(self.kernel_regularizer),
            recurrent_regularizer=keras.regularizers.serialize(self.recurrent_regularizer),
        )
        return config

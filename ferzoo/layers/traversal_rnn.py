"""The spatiotemporal recurrent network (STRNN) of RFSCNN: spatial and temporal recursion.

Zhou, RFSCNN, Sec. 3.3, after Zhang et al. 2018 (STRNN). A clip's feature maps
(B, L, h, w, C) go through a :class:`SpatialRecursiveLayer`, which traverses each time
slice's h x w grid as a graph in four directions and projects the hidden states of the
K = h*w cells to one vector m_t per slice, and a :class:`TemporalRecursiveLayer`, which
runs a forward and a backward ReLU RNN over m_1 .. m_L and projects them to the output o.

How the traversal is computed. For the top-left direction, cell (i, j) depends on
(i, j-1), (i-1, j-1) and (i-1, j): all cells on one anti-diagonal i + j = d depend only on
the anti-diagonals d-1 and d-2, so the h*w sequential steps of a cell-by-cell loop become
h + w - 1 steps, each one batched matmul over every cell of the diagonal. The other three
directions are the top-left traversal of the grid flipped vertically and/or horizontally
(their neighbour sets map onto the top-left one), so all directions run together, with
per-direction weights as the batch axis of the matmul. A static gather puts the grid in
"skewed" order (diagonal, row) once; cells of the skewed array that lie outside the grid
are masked to zero. Everything is unrolled at trace time from the static h, w and L, so
the graph holds only MatMul, Gather, Pad, Concat, Reshape, Transpose and element-wise
ops: TFLite builtins and plain ONNX. The temporal layer's two RNNs are Keras
``SimpleRNN`` layers, unrolled over the static L in the same way.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

# The four traversal directions and, for each, the already-visited neighbours N_ij^r of
# cell (i, j) as (di, dj) offsets (docs/design.md#rfscnn, from the STRNN code; that code's
# bottom-right set repeats the top-left one, a bug we do not copy).
NEIGHBOURS: dict[str, tuple[tuple[int, int], ...]] = {
    "top_left": ((0, -1), (-1, -1), (-1, 0)),
    "top_right": ((0, 1), (-1, 0), (-1, 1)),
    "bottom_left": ((0, -1), (1, -1), (1, 0)),
    "bottom_right": ((0, 1), (1, 0), (1, 1)),
}
DIRECTIONS: tuple[str, ...] = tuple(NEIGHBOURS)
# (flip rows, flip columns) that turn each direction into a top-left traversal.
_FLIPS = {
    "top_left": (False, False),
    "top_right": (False, True),
    "bottom_left": (True, False),
    "bottom_right": (True, True),
}


def traversal_index(
    height: int, width: int, directions: tuple[str, ...] = DIRECTIONS
) -> tuple[np.ndarray, np.ndarray]:
    """Where each cell of the skewed (anti-diagonal, row) layout comes from.

    Args:
        height, width: the grid (h, w).
        directions: names from :data:`DIRECTIONS`.

    Returns:
        ``index``: int32 (D, R, h) with D = h + w - 1 anti-diagonals and R directions;
        ``index[d, r, p]`` is the flat grid cell ``i * w + j`` visited at diagonal d, row
        p of direction r's (flipped) grid, or ``h * w`` (a padding cell) where the skewed
        position lies outside the grid. ``mask``: float32 (D, h), 1 inside the grid.
    """
    num_diagonals = height + width - 1
    index = np.full((num_diagonals, len(directions), height), height * width, np.int32)
    mask = np.zeros((num_diagonals, height), np.float32)
    for d in range(num_diagonals):
        for p in range(height):
            j = d - p
            if not 0 <= j < width:
                continue
            mask[d, p] = 1.0
            for r, name in enumerate(directions):
                flip_rows, flip_cols = _FLIPS[name]
                i0 = height - 1 - p if flip_rows else p
                j0 = width - 1 - j if flip_cols else j
                index[d, r, p] = i0 * width + j0
    return index, mask


def _check_directions(directions) -> tuple[str, ...]:
    directions = tuple(directions)
    unknown = [d for d in directions if d not in NEIGHBOURS]
    if unknown or not directions or len(set(directions)) != len(directions):
        raise ValueError(
            f"directions must be distinct names from {DIRECTIONS}, got {directions}"
        )
    return directions


def _l1(sparsity: float):
    return keras.regularizers.L1(sparsity) if sparsity else None


@keras.saving.register_keras_serializable(package="ferzoo")
class SpatialRecursiveLayer(keras.layers.Layer):
    """Spatial recursive layer: 4-direction graph traversal of each time slice.

    For every time slice t and traversal direction r, the hidden state of grid cell
    (i, j) is ``h_ij^r = ReLU(U^r x_ij + W^r sum_{(k,l) in N_ij^r} h_kl^r + b^r)``, with
    N_ij^r the already-visited neighbours of :data:`NEIGHBOURS` (cells outside the grid
    count as zero). The K = h*w hidden states of direction r are projected to K_d states
    ``s_l^r = sum_k G_kl^r h_k^r`` ("sparse projection", optionally L1-regularised), and
    the directions are combined as ``m_t = sum_r P^r s^r``; as in the STRNN reference
    code, P^r weighs the K_d projected states (a (K_d,) vector per direction), so m_t has
    ``units`` features.

    Args:
        units: hidden size of each direction's recurrence (STRNN default 30).
        projection_size: K_d, the number of states after the sparse projection
            (STRNN default 10).
        directions: traversal directions, a subset of :data:`DIRECTIONS` (all four in
            the paper).
        sparsity: L1 factor on the projections G^r (0 disables the penalty).
        **kwargs: base layer arguments (``name``, ``dtype``, ...).

    Call arguments:
        inputs: (batch, L, h, w, C) feature maps; h, w and C must be static.

    Returns:
        (batch, L, units): m_t for every time slice.

    Example:

    >>> layer = SpatialRecursiveLayer(units=30, projection_size=10)
    >>> x = np.random.rand(2, 16, 6, 6, 16).astype("float32")  # (B, L, h, w, C)
    >>> tuple(layer(x).shape)  # (B, L, units)
    (2, 16, 30)

    References:
        Zhou, RFSCNN, Sec. 3.3 (spatial recursive layer, sparse projection, m_t).
        Zhang, Zheng, Cui, Zong, Li, Spatial-temporal recurrent neural network for
        emotion recognition, IEEE Trans. Cybernetics 2018 (STRNN).
    """

    def __init__(
        self,
        units: int = 30,  # STRNN sp_hidden
        projection_size: int = 10,  # STRNN sp_projection (K_d)
        directions: tuple[str, ...] = DIRECTIONS,  # RFSCNN Sec. 3.3: four directions
        sparsity: float = 0.0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.units = int(units)
        self.projection_size = int(projection_size)
        self.directions = _check_directions(directions)
        self.sparsity = float(sparsity)

    def build(self, input_shape):
        if len(input_shape) != 5 or any(s is None for s in input_shape[2:]):
            raise ValueError(
                f"{self.name}: expected (batch, L, h, w, C) with static h, w, C, got "
                f"{tuple(input_shape)}"
            )
        _, _, height, width, channels = input_shape
        r, u, k = len(self.directions), self.units, height * width
        self.input_kernel = self.add_weight(
            name="input_kernel", shape=(r, channels, u), initializer="glorot_uniform"
        )
        # Small recurrent weights: a cell sums up to three neighbours, and the number of
        # paths into a cell grows ~2.4x per diagonal, so a unit-gain W would explode.
        self.recurrent_kernel = self.add_weight(
            name="recurrent_kernel", shape=(r, u, u),
            initializer=keras.initializers.Orthogonal(gain=1.0 / 3.0),
        )
        self.bias = self.add_weight(name="bias", shape=(r, u), initializer="zeros")
        self.projection = self.add_weight(
            name="projection", shape=(r, k, self.projection_size),
            initializer=keras.initializers.RandomNormal(stddev=(1.0 / k) ** 0.5),
            regularizer=_l1(self.sparsity),
        )
        self.direction_weights = self.add_weight(
            name="direction_weights", shape=(r, self.projection_size),
            initializer="glorot_uniform",
        )
        index, mask = traversal_index(height, width, self.directions)
        self._index = index  # (D, R, h) into the K+1 cells (last: outside the grid)
        # Same index with a per-direction offset into R*(K+1) rows (for per-direction
        # weights): row r*(K+1) + k.
        self._index_by_direction = index + (np.arange(r, dtype=np.int32) * (k + 1))[
            None, :, None
        ]
        self._mask = mask  # (D, h)
        self._grid = (height, width, channels)

    def call(self, inputs):
        height, width, channels = self._grid
        r, u, k = len(self.directions), self.units, height * width
        steps = inputs.shape[1]
        x = ops.reshape(inputs, (-1, k, channels))  # (B*L, K, C)
        x = ops.pad(x, [[0, 0], [0, 1], [0, 0]])  # (N, K+1, C): the padding cell is 0
        x = ops.take(x, self._index, axis=1)  # (N, D, R, h, C) in skewed order
        x = ops.transpose(x, (1, 2, 0, 3, 4))  # (D, R, N, h, C)

        # Per-position weight of each hidden state in m_t: sum_l P^r_l G^r_kl, zero for
        # the padding cell, in skewed order.
        weights = ops.sum(self.projection * self.direction_weights[:, None, :], axis=-1)
        weights = ops.pad(weights, [[0, 0], [0, 1]])  # (R, K+1)
        weights = ops.take(ops.reshape(weights, (-1,)), self._index_by_direction, axis=0)
        weights = ops.expand_dims(weights, -1)  # (D, R, h, 1)

        kernel = ops.concatenate([self.input_kernel, self.recurrent_kernel], axis=1)
        bias = self.bias[:, None, None, :]  # (R, 1, 1, u)
        prev1 = prev2 = None  # hidden states of diagonals d-1 and d-2: (R, N, h, u)
        out = None
        for d in range(height + width - 1):
            x_d = x[d]  # (R, N, h, C)
            if prev1 is None:
                z = ops.matmul(ops.reshape(x_d, (r, -1, channels)), self.input_kernel)
            else:
                # Neighbours (i, j-1), (i-1, j) lie on diagonal d-1 (rows p, p-1),
                # (i-1, j-1) on diagonal d-2 (row p-1).
                neighbours = prev1 + _shift_rows(prev1)
                if prev2 is not None:
                    neighbours = neighbours + _shift_rows(prev2)
                z = ops.concatenate([x_d, neighbours], axis=-1)
                z = ops.matmul(ops.reshape(z, (r, -1, channels + u)), kernel)
            h_d = ops.relu(ops.reshape(z, (r, -1, height, u)) + bias)
            mask = self._mask[d]
            if not mask.all():
                h_d = h_d * ops.convert_to_tensor(mask[:, None], dtype=h_d.dtype)
            contribution = h_d * weights[d][:, None]  # (R, N, h, u)
            out = contribution if out is None else out + contribution
            prev1, prev2 = h_d, prev1
        m = ops.sum(out, axis=(0, 2))  # (N, u)
        return ops.reshape(m, (-1, steps, u))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[1], self.units)

    def get_config(self):
        config = super().get_config()
        config.update(
            units=self.units,
            projection_size=self.projection_size,
            directions=list(self.directions),
            sparsity=self.sparsity,
        )
        return config


def _shift_rows(hidden):
    """(R, N, h, u) -> the same with row p holding row p-1 (row 0 gets zeros)."""
    return ops.pad(hidden[:, :, :-1], [[0, 0], [0, 0], [1, 0], [0, 0]])


@keras.saving.register_keras_serializable(package="ferzoo")
class TemporalRecursiveLayer(keras.layers.Layer):
    """Temporal recursive layer: forward and backward ReLU RNNs with temporal projections.

    Over the slice features m_1 .. m_L: ``h_t^f = ReLU(R^f m_t + V^f h_{t-1}^f + b^f)``
    and, running from t = L down to 1, ``h_t^b = ReLU(R^b m_t + V^b h_{t+1}^b + b^b)``.
    The temporal projections ``q_l^f = sum_t G_tl^f h_t^f`` (L -> L_d, optionally
    L1-regularised, "sparse") and likewise q^b are combined as
    ``o = P^f vec(q^f) + P^b vec(q^b)``.

    The two recurrences are Keras' own ``SimpleRNN`` layers (``forward_rnn`` and
    ``backward_rnn``, the latter with ``go_backwards=True`` and its states put back in
    time order before the projection); G and P are this layer's own weights. Unrolled
    over the static L (``unroll=True``) they leave no WHILE loop in the graph, so RFSCNN
    exports to TFLite in float32, dynamic-range and int8 with builtin ops only (int8
    calibration of a WHILE-loop RNN crashed, see
    docs/design.md#what-the-stack-does-and-does-not-do) and to ONNX. They compute the
    recurrences above as the earlier hand-written loops did (with the same weights the
    outputs agree to float32 rounding), and Keras' layer also carries masking and
    (recurrent) dropout should a model need them.

    Args:
        units: hidden size of each RNN (STRNN default 30).
        projection_size: L_d, the length after the temporal projection (STRNN default 5).
        output_units: size of o.
        sparsity: L1 factor on G^f and G^b (0 disables the penalty).
        **kwargs: base layer arguments.

    Call arguments:
        inputs: (batch, L, features) with static L.

    Returns:
        (batch, output_units): o.

    Example:

    >>> layer = TemporalRecursiveLayer(units=30, projection_size=5, output_units=64)
    >>> m = np.random.rand(2, 16, 30).astype("float32")  # (B, L, features)
    >>> tuple(layer(m).shape)  # (B, output_units)
    (2, 64)

    References:
        Zhou, RFSCNN, Sec. 3.3 (temporal recursive layer, q^f, q^b, o).
        Zhang et al. 2018, STRNN (IEEE Trans. Cybernetics).
    """

    def __init__(
        self,
        units: int = 30,  # STRNN tp_hidden
        projection_size: int = 5,  # STRNN tp_projection (L_d)
        output_units: int = 64,  # RFSCNN Sec. 4.3: fully connected layer of 64
        sparsity: float = 0.0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.units = int(units)
        self.projection_size = int(projection_size)
        self.output_units = int(output_units)
        self.sparsity = float(sparsity)
        rnn = dict(
            activation="relu",
            kernel_initializer="glorot_uniform",
            recurrent_initializer=keras.initializers.Orthogonal(gain=0.5),
            bias_initializer="zeros",
            return_sequences=True,
            unroll=True,
            dtype=self.dtype_policy,
        )
        self.forward_rnn = keras.layers.SimpleRNN(self.units, name="forward_rnn", **rnn)
        self.backward_rnn = keras.layers.SimpleRNN(
            self.units, go_backwards=True, name="backward_rnn", **rnn
        )

    def build(self, input_shape):
        if len(input_shape) != 3 or input_shape[1] is None or input_shape[2] is None:
            raise ValueError(
                f"{self.name}: expected (batch, L, features) with static L, got "
                f"{tuple(input_shape)}"
            )
        _, steps, _ = input_shape
        u, ld = self.units, self.projection_size
        self.forward_rnn.build(tuple(input_shape))
        self.backward_rnn.build(tuple(input_shape))
        for side in ("forward", "backward"):
            setattr(self, f"{side}_projection", self.add_weight(
                name=f"{side}_projection", shape=(steps, ld),
                initializer=keras.initializers.RandomNormal(stddev=(1.0 / steps) ** 0.5),
                regularizer=_l1(self.sparsity)))
            setattr(self, f"{side}_output_kernel", self.add_weight(
                name=f"{side}_output_kernel", shape=(ld, u, self.output_units),
                initializer="glorot_uniform"))

    def call(self, inputs):
        u, ld = self.units, self.projection_size
        forward = self.forward_rnn(inputs)  # (B, L, u): h_1^f .. h_L^f
        # go_backwards returns the states in the order computed (h_L^b first): flip them
        # back so that step t meets G_t.
        backward = ops.flip(self.backward_rnn(inputs), axis=1)
        out = 0.0
        for hidden, projection, output_kernel in (
            (forward, self.forward_projection, self.forward_output_kernel),
            (backward, self.backward_projection, self.backward_output_kernel),
        ):
            q = ops.matmul(ops.transpose(hidden, (0, 2, 1)), projection)  # (B, u, L_d)
            q = ops.reshape(q, (-1, u * ld))
            # output_kernel is (L_d, u, out): reorder to match q's (u, L_d) layout
            w = ops.reshape(ops.transpose(output_kernel, (1, 0, 2)), (u * ld, -1))
            out = out + ops.matmul(q, w)
        return out

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.output_units)

    def get_config(self):
        config = super().get_config()
        config.update(
            units=self.units,
            projection_size=self.projection_size,
            output_units=self.output_units,
            sparsity=self.sparsity,
        )
        return config

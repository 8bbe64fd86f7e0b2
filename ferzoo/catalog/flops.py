"""FLOPs of a model per clip, counted by TensorFlow's profiler.

:func:`count_flops` traces the model at batch 1 into a concrete function, freezes its
variables into constants and runs ``tf.compat.v1.profiler`` (``float_operation``) over
the graph. What is counted is TF's per-op FLOPs statistics:

- convolutions and matrix products: 2 FLOPs per multiply-add
  (``2 * kernel volume * C_in * C_out`` per output position; ``2 * m * k * n``);
- element-wise arithmetic (bias add, add, mul, sub, the batch-normalisation
  arithmetic ``x * a + b``, rescaling): 1 FLOP per output element and operation;
- 2D pooling: one FLOP per window element per output; ``Mean`` one per input element;
  softmax by TF's own rule (a few FLOPs per element).

Ops without FLOPs statistics in TF count 0: ReLU, sigmoid, max over an axis (``Max``:
so the temporal half of a max :class:`~ferzoo.layers.Pool3D` and the max descriptors of
the attention modules), reshapes, concatenation, slicing. The figure is what the README
calls FLOPs (1 multiply-add = 2 FLOPs), comparable across ferzoo models; a "MACs" figure
from other tools is about half of it.
"""

from __future__ import annotations

import keras
import tensorflow as tf


def _input_specs(model: keras.Model) -> list[tf.TensorSpec]:
    specs = []
    for tensor in model.inputs:
        shape = (1, *tensor.shape[1:])
        if None in shape:
            raise ValueError(
                f"count_flops needs a static input shape; input {tensor.name!r} is "
                f"{tuple(tensor.shape)}: build the model with fixed frames and image size"
            )
        specs.append(tf.TensorSpec(shape, tensor.dtype or "float32", name=tensor.name))
    return specs


def count_flops(model: keras.Model) -> int:
    """FLOPs of one forward pass of ``model`` on one clip (batch 1, inference mode).

    Args:
        model: a Keras model with static input shapes (apart from the batch).

    Returns:
        Total float operations as counted by TF's profiler (see the module docstring:
        one multiply-add is 2 FLOPs; activations count 0).
    """
    from tensorflow.python.framework.convert_to_constants import (
        convert_variables_to_constants_v2_as_graph,
    )
    from tensorflow.python.util import deprecation

    specs = _input_specs(model)
    names = [t.name for t in model.inputs]

    @tf.function
    def forward(*tensors):
        inputs = dict(zip(names, tensors)) if len(tensors) > 1 else tensors[0]
        return model(inputs, training=False)

    concrete = forward.get_concrete_function(*specs)
    _, graph_def = convert_variables_to_constants_v2_as_graph(concrete)
    with tf.Graph().as_default() as graph, deprecation.silence():
        tf.graph_util.import_graph_def(graph_def, name="")
        options = (
            tf.compat.v1.profiler.ProfileOptionBuilder(
                tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
            ).with_empty_output().build()
        )
        profile = tf.compat.v1.profiler.profile(
            graph=graph, run_meta=tf.compat.v1.RunMetadata(), cmd="op", options=options
        )
    return int(profile.total_float_ops)

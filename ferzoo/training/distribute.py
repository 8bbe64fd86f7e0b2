"""What training under ``tf.distribute`` is made of: the strategy, the global batch and
learning rate, the dtype policy, the losses and the distributed training step.

:class:`ferzoo.training.trainer.Trainer` puts them together; they are also what the
pipeline benchmark times (``ferzoo.training.pipeline_benchmark``). docs/distributed.md
explains the choices.
"""

from __future__ import annotations

import contextlib
import math
import os

import keras
import tensorflow as tf

from ferzoo.training.evaluate import as_model_inputs
from ferzoo.training.recipes import Recipe


class ClusterError(RuntimeError):
    """A peer of a multi-worker run failed; the run resumes when every worker restarts."""


# What a collective op raises when a peer worker died or cannot be reached.
PEER_ERRORS = (tf.errors.UnavailableError, tf.errors.AbortedError,
               tf.errors.DeadlineExceededError, tf.errors.CancelledError)


def make_strategy(kind: str = "auto") -> tf.distribute.Strategy:
    """``auto``: MultiWorkerMirrored when TF_CONFIG names a cluster, else Mirrored over the
    visible GPUs (or the CPU); ``mirrored``, ``multiworker``, ``default`` force one.

    Without GPUs, ``mirrored`` takes every logical CPU device: normally one, several when
    they were configured with ``tf.config.set_logical_device_configuration`` (tests).
    Create the strategy before anything else runs TensorFlow ops: MultiWorkerMirrored
    configures collective ops, which TensorFlow allows only at start-up.
    """
    if kind == "auto":
        kind = "multiworker" if os.environ.get("TF_CONFIG") else "mirrored"
    if kind == "multiworker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    if kind == "mirrored":
        gpus = tf.config.list_logical_devices("GPU")
        devices = [d.name for d in gpus] or [d.name for d in tf.config.list_logical_devices("CPU")]
        return tf.distribute.MirroredStrategy(devices)
    if kind == "default":
        return tf.distribute.get_strategy()
    raise ValueError(f"unknown strategy {kind!r}; use auto, mirrored, multiworker or default")


LR_SCALING = ("none", "linear", "sqrt")


def resolve_batch_and_lr(recipe: Recipe, replicas: int, *, batch_size: int | None = None,
                         per_replica_batch: int | None = None,
                         learning_rate: float | None = None,
                         scale_lr: str = "none") -> tuple[int, float]:
    """The global batch and the learning rate a run uses.

    The recipe's ``learning_rate`` is the rate for its ``batch_size`` (a global batch).
    The global batch is ``batch_size`` (default: the recipe's) or ``per_replica_batch x
    replicas``; ``learning_rate`` replaces the recipe's rate. ``scale_lr`` then adapts
    the rate to a global batch B other than the recipe's B0: ``"none"`` keeps it,
    ``"linear"`` multiplies it by B / B0 (Goyal et al. 2017, with the recipe's warm-up),
    ``"sqrt"`` by sqrt(B / B0) (often better for Adam-type optimisers).
    """
    if batch_size is not None and per_replica_batch is not None:
        raise ValueError(
            f"batch_size={batch_size} and per_replica_batch={per_replica_batch} both given; "
            "set the global batch or the per-replica batch, not both")
    if scale_lr not in LR_SCALING:
        raise ValueError(f"unknown learning-rate scaling {scale_lr!r}; use one of {LR_SCALING}")
    if per_replica_batch is not None:
        global_batch = int(per_replica_batch) * replicas
    else:
        global_batch = int(batch_size or recipe.batch_size)
    if global_batch < replicas or global_batch % replicas:
        raise ValueError(
            f"the global batch {global_batch} does not split evenly over {replicas} replicas; "
            f"use a multiple of {replicas} or --per-replica-batch")
    lr = float(learning_rate if learning_rate is not None else recipe.learning_rate)
    ratio = global_batch / recipe.batch_size
    if scale_lr == "linear":
        lr *= ratio
    elif scale_lr == "sqrt":
        lr *= math.sqrt(ratio)
    return global_batch, lr


MIXED_POLICIES = ("mixed_bfloat16", "mixed_float16")


@contextlib.contextmanager
def dtype_policy(name: str | None):
    """Build layers under the Keras dtype policy ``name`` (None: leave it), then restore.

    A layer keeps the policy it was built with, so the rest of the process is unaffected.
    """
    if name is None:
        yield
        return
    if name not in MIXED_POLICIES + ("float32",):
        raise ValueError(f"unknown mixed-precision policy {name!r}; use one of {MIXED_POLICIES}")
    previous = keras.mixed_precision.dtype_policy()
    keras.mixed_precision.set_global_policy(name)
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(previous)


def float32_output_problems(model: keras.Model) -> list[str]:
    """Outputs of ``model`` that are not computed in float32 (a softmax in float16 or
    bfloat16 loses precision); each entry names the layer and the fix. Nested models and
    wrappers (``TimeDistributed``) are looked into: their inner layer computes."""
    problems = []
    for tensor in model.outputs:
        layer = tensor._keras_history.operation
        if isinstance(layer, keras.Model) and layer is not model:
            problems += float32_output_problems(layer)
            continue
        inner = getattr(layer, "layer", layer) if isinstance(layer, keras.layers.Wrapper) else layer
        compute = getattr(getattr(inner, "dtype_policy", None), "compute_dtype", "float32")
        if keras.backend.standardize_dtype(tensor.dtype) != "float32" or compute != "float32":
            problems.append(
                f"output layer {inner.name!r} computes in {compute}; give it "
                "dtype=\"float32\" (e.g. Dense(..., activation=\"softmax\", dtype=\"float32\"))")
    return problems


def classification_loss(label_smoothing: float = 0.0):
    """Per-example cross-entropy of integer labels and softmax probabilities."""
    cce = keras.losses.CategoricalCrossentropy(label_smoothing=label_smoothing, reduction=None)

    def loss(y, probs):
        return cce(tf.one_hot(tf.cast(y, tf.int32), tf.shape(probs)[-1]), probs)

    return loss


def regression_loss(y, out):
    """Per-example squared error of a one-unit regression head."""
    return tf.reduce_mean(tf.square(tf.cast(y, out.dtype)[:, None] - out), axis=-1)


def make_train_step(strategy: tf.distribute.Strategy, model: keras.Model,
                    optimizer: keras.optimizers.Optimizer, loss_fn, global_batch: int, *,
                    count_correct: bool = True, jit: bool = False):
    """One synchronous training step over every replica of ``strategy``.

    Returns a ``tf.function`` ``(inputs, y) -> (loss, correct)`` taking a distributed
    batch (from ``distribute_datasets_from_function``); ``loss`` is the mean over the
    global batch, ``correct`` the count of right argmax predictions. Each replica
    averages its per-example losses over ``global_batch`` and the optimiser sums the
    replicas' gradients, so the step equals one on a single device with the whole global
    batch. A ``LossScaleOptimizer`` (mixed_float16) scales the loss here and unscales the
    gradients in ``apply_gradients``. ``jit`` compiles the forward and backward pass with
    XLA; the gradient all-reduce and the update stay outside the compiled function
    (collectives cannot run inside it).
    """
    scaled = isinstance(optimizer, keras.optimizers.LossScaleOptimizer)

    def gradients(inputs, y):
        with tf.GradientTape() as tape:
            out = model(as_model_inputs(model, inputs), training=True)
            per_example = loss_fn(y, tf.cast(out, tf.float32))
            loss = tf.nn.compute_average_loss(per_example, global_batch_size=global_batch)
            if model.losses:
                loss += tf.nn.scale_regularization_loss(
                    tf.add_n([tf.cast(l, tf.float32) for l in model.losses]))
            target = optimizer.scale_loss(loss) if scaled else loss
        grads = tape.gradient(target, model.trainable_variables)
        if count_correct:
            hits = tf.equal(tf.argmax(out, -1, output_type=tf.int32), tf.cast(y, tf.int32))
            correct = tf.reduce_sum(tf.cast(hits, tf.float32))
        else:
            correct = tf.constant(0.0)
        return loss, correct, grads

    if jit:
        gradients = tf.function(gradients, jit_compile=True)

    def step(inputs, y):
        loss, correct, grads = gradients(inputs, y)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return loss, correct

    @tf.function
    def train_step(inputs, y):
        loss, correct = strategy.run(step, args=(inputs, y))
        return (strategy.reduce(tf.distribute.ReduceOp.SUM, loss, axis=None),
                strategy.reduce(tf.distribute.ReduceOp.SUM, correct, axis=None))

    return train_step


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return True
    if resolver.task_type == "chief":
        return True
    has_chief = "chief" in resolver.cluster_spec().as_dict()
    return resolver.task_type == "worker" and resolver.task_id == 0 and not has_chief

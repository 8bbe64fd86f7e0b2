"""A worker process of the distributed tests (tests/training/test_distributed.py).

Devices and TF_CONFIG must be set before TensorFlow starts, hence a process per run:

    python -m tests.training.distributed_worker steps --strategy mirrored --cpus 2 \
        --data DIR --init INIT.weights.h5 --out OUT.npz
    TF_CONFIG=... python -m tests.training.distributed_worker steps --strategy multiworker ...

``steps`` trains the tiny test model for a few steps with the trainer's own step function
(:func:`ferzoo.training.distribute.make_train_step`) on un-shuffled, un-augmented batches of
the fake data, from the given initial weights, and saves the global loss of each step
and every replica's final weights. :func:`reference_steps` does the same on one device
with the global batches the replicas saw together. ``train`` runs the whole trainer.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

LEARNING_RATE = 0.05
MOMENTUM = 0.9


def configure_cpus(count: int) -> None:
    """Split the CPU into ``count`` logical devices (before TensorFlow initialises)."""
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(count)])


def build_tiny(init: str | None):
    from ferzoo import registry
    from tests.tiny_model import NAME

    model = registry.build(NAME, frames=4, image_size=16)
    if init:
        model.load_weights(init)
    return model


def pipeline(data: str, spec, per_replica_batch: int, context):
    """The fake training split in a fixed order: no shuffle, no augmentation."""
    from ferzoo.data.pipeline import make_dataset

    return make_dataset(data, spec, split="train", training=False, batch_size=per_replica_batch,
                        augment={}, input_context=context, drop_remainder=True)


def make_optimizer():
    import keras

    return keras.optimizers.SGD(learning_rate=LEARNING_RATE, momentum=MOMENTUM)


def train_steps(strategy, data: str, init: str, global_batch: int, steps: int) -> dict:
    """Train ``steps`` steps under ``strategy``; losses and each replica's weights."""
    import numpy as np

    from ferzoo.data.pipeline import InputSpec
    from ferzoo.training.distribute import classification_loss, make_train_step

    with strategy.scope():
        model = build_tiny(init)
        optimizer = make_optimizer()
        optimizer.build(model.trainable_variables)
    spec = InputSpec.from_model(model)
    per_replica = global_batch // strategy.num_replicas_in_sync
    dist = strategy.distribute_datasets_from_function(
        lambda context: pipeline(data, spec, per_replica, context))
    step = make_train_step(strategy, model, optimizer, classification_loss(), global_batch)
    batches = iter(dist)
    losses = [float(step(*next(batches))[0]) for _ in range(steps)]
    out = {"losses": np.array(losses)}
    for i, weight in enumerate(model.weights):
        for r, value in enumerate(getattr(weight.value, "values", (weight.value,))):
            out[f"w{i}_r{r}"] = value.numpy()
    return out


def reference_steps(data: str, init: str, global_batch: int, steps: int, pipelines: int,
                    replicas_per_pipeline: int) -> dict:
    """One device, one optimiser step per global batch: the union of what the replicas
    of ``pipelines`` input pipelines x ``replicas_per_pipeline`` got at each step."""
    import numpy as np
    import tensorflow as tf

    from ferzoo.data.pipeline import InputSpec
    from ferzoo.training.distribute import classification_loss, make_train_step

    strategy = tf.distribute.get_strategy()
    model = build_tiny(init)
    optimizer = make_optimizer()
    spec = InputSpec.from_model(model)
    replicas = pipelines * replicas_per_pipeline
    per_replica = global_batch // replicas
    per_pipeline = [
        list(pipeline(data, spec, per_replica, tf.distribute.InputContext(
            num_input_pipelines=pipelines, input_pipeline_id=p, num_replicas_in_sync=replicas)))
        for p in range(pipelines)
    ]
    step = make_train_step(strategy, model, optimizer, classification_loss(), global_batch)
    losses = []
    for k in range(steps):
        parts = [batches[k * replicas_per_pipeline + j]
                 for batches in per_pipeline for j in range(replicas_per_pipeline)]
        inputs = {key: tf.concat([p[0][key] for p in parts], 0) for key in parts[0][0]}
        y = tf.concat([p[1] for p in parts], 0)
        losses.append(float(step(inputs, y)[0]))
    out = {"losses": np.array(losses)}
    for i, weight in enumerate(model.weights):
        out[f"w{i}_r0"] = weight.numpy()
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["steps", "train"])
    parser.add_argument("--strategy", default="default")
    parser.add_argument("--cpus", type=int, default=1)
    parser.add_argument("--data", required=True)
    parser.add_argument("--init")
    parser.add_argument("--out", required=True)
    parser.add_argument("--global-batch", type=int, default=4)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--train-out", help="steps mode: then run the trainer into this folder")
    parser.add_argument("--train-args", default="{}", help="JSON of extra train() options")
    args = parser.parse_args(argv)
    if args.cpus > 1:
        configure_cpus(args.cpus)
    if args.mode == "train":
        run_trainer(args.out, args.data, args.strategy, args.train_args)
        return 0
    import numpy as np

    from ferzoo.training.distribute import make_strategy

    strategy = make_strategy(args.strategy)  # first: multi-worker configures TF at start-up
    out = train_steps(strategy, args.data, args.init, args.global_batch, args.steps)
    out["replicas"] = np.array(strategy.num_replicas_in_sync)
    np.savez(args.out, **out)
    if args.train_out:
        run_trainer(args.train_out, args.data, args.strategy, args.train_args)
    return 0


def run_trainer(out: str, data: str, strategy: str, options: str) -> None:
    """The whole trainer (``ferzoo train``) under ``strategy``; prints its result."""
    from ferzoo.training.trainer import train
    from tests.tiny_model import NAME

    result = train(NAME, out, data=data, strategy=strategy, progress=False,
                   **json.loads(options))
    print("RESULT " + json.dumps(result), flush=True)


if __name__ == "__main__":
    sys.exit(main())

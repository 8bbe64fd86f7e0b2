"""Checks every registered model with its ``tiny`` preset (timm-style).

A model is covered here the moment it is registered: nothing to add.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

import ferzoo
from tests.keras_checks import (
    check_config_round_trip,
    ferzoo_layers,
    random_inputs,
    run_model_saving_test,
)

MODELS = ferzoo.list_models()


def _build(name):
    keras.utils.set_random_seed(0)
    return ferzoo.build(name, preset="tiny")


def _loss(entry, outputs, batch):
    if entry.head == "regression":
        target = tf.zeros_like(outputs)
        return tf.reduce_mean(tf.square(outputs - target))
    labels = tf.range(batch) % outputs.shape[-1]
    return tf.reduce_mean(keras.losses.sparse_categorical_crossentropy(labels, outputs))


def test_registry_is_not_empty():
    assert "stc_nlstm" in MODELS


@pytest.mark.parametrize("name", MODELS)
def test_forward_shape_and_finite(name):
    entry = ferzoo.get_entry(name)
    model = _build(name)
    assert [t.name for t in model.inputs] == list(entry.streams), (
        f"{name}: inputs must be named after the clip streams {entry.streams}"
    )
    kwargs = ferzoo.registry.resolve_kwargs(name, "tiny")
    size = kwargs["image_size"]
    size = (size, size) if isinstance(size, int) else tuple(size)
    expected = {  # optical flow: one frame per adjacent pair, (dx, dy, magnitude)
        "video": (kwargs["frames"], *size, kwargs["channels"]),
        "flow": (kwargs["frames"] - 1, *size, 3),
    }
    for stream, tensor in zip(entry.streams, model.inputs):
        assert tuple(tensor.shape[1:]) == expected.get(stream, expected["video"]), (
            f"{name}: input {stream!r} {tuple(tensor.shape[1:])} does not follow "
            f"frames/image_size/channels"
        )
    x = random_inputs(model, batch=3)
    y = keras.ops.convert_to_numpy(model(x, training=False))
    assert np.all(np.isfinite(y)), f"{name}: non-finite outputs"
    if entry.head == "softmax":
        assert y.shape == (3, kwargs["num_classes"])
        np.testing.assert_allclose(y.sum(-1), 1.0, atol=1e-5)
    else:
        assert y.shape[0] == 3


@pytest.mark.parametrize("name", MODELS)
def test_gradient_step_changes_weights(name):
    entry = ferzoo.get_entry(name)
    model = _build(name)
    x = random_inputs(model, batch=4, seed=1)
    before = [v.numpy().copy() for v in model.trainable_variables]
    optimizer = keras.optimizers.SGD(learning_rate=0.1)
    with tf.GradientTape() as tape:
        loss = _loss(entry, model(x, training=True), 4)
    grads = tape.gradient(loss, model.trainable_variables)
    unconnected = [v.path for v, g in zip(model.trainable_variables, grads) if g is None]
    assert not unconnected, f"{name}: no gradient reaches {unconnected}"
    assert all(np.all(np.isfinite(g.numpy())) for g in grads), f"{name}: non-finite gradient"
    optimizer.apply_gradients(zip(grads, model.trainable_variables))
    changed = [
        not np.array_equal(b, v.numpy()) for b, v in zip(before, model.trainable_variables)
    ]
    assert np.mean(changed) >= 0.9, (
        f"{name}: only {sum(changed)}/{len(changed)} weight tensors changed"
    )


@pytest.mark.parametrize("name", MODELS)
def test_keras_save_load_identical(name, tmp_path):
    model = _build(name)
    run_model_saving_test(model, random_inputs(model, batch=2, seed=2), tmp_path)


@pytest.mark.parametrize("name", MODELS)
def test_config_round_trip(name):
    model = _build(name)
    for layer in ferzoo_layers(model):
        check_config_round_trip(layer)
    clone = keras.Model.from_config(model.get_config())
    clone.set_weights(model.get_weights())
    x = random_inputs(model, batch=2, seed=3)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(clone(x, training=False)),
        keras.ops.convert_to_numpy(model(x, training=False)),
        atol=1e-6,
    )

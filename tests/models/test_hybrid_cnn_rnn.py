"""Hybrid CNN-RNN (Jain et al. 2018): the frame CNN's layout, feature sources, the
single-frame and recurrent models, two-stage assembly, the recipe and TFLite export."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

import ferzoo
from ferzoo.layers import IRNN
from ferzoo.models.hybrid_cnn_rnn import (
    frame_cnn,
    frame_features,
    load_cnn_weights,
    rnn_on_cnn,
    temporal_rnn,
)
from ferzoo.training.recipes import get_recipe
from tests import runtimes

TINY_CNN = dict(image_size=16, filters=(2, 2, 4, 4, 4, 4), fc_units=8)


def _np(x):
    return keras.ops.convert_to_numpy(x)


def test_frame_cnn_follows_the_paper():
    cnn = frame_cnn()  # 64x64x1, Sec. 3.1 / Fig. 2
    convs = [layer for layer in cnn.layers if isinstance(layer, keras.layers.Conv2D)]
    assert [c.filters for c in convs] == [8, 16, 32, 64, 128, 256]
    assert all(c.kernel_size == (5, 5) for c in convs)
    assert all(c.activation.__name__ == "relu" for c in convs)
    pools = [cnn.get_layer(f"pool{i}") for i in range(1, 7)]
    assert all(isinstance(p, keras.layers.MaxPooling2D) and p.pool_size == (3, 3)
               for p in pools[:5])
    assert isinstance(pools[5], keras.layers.GlobalAveragePooling2D)
    fcs = [cnn.get_layer("fc1"), cnn.get_layer("fc2")]
    assert [fc.units for fc in fcs] == [200, 200]
    assert all(fc.activation.__name__ == "relu" for fc in fcs)
    assert [cnn.get_layer(f"dropout{j}").rate for j in (1, 2)] == [0.5, 0.5]
    # Reg(w) = wd/2 * w^2 (Eq. 1) on every kernel, i.e. an SGD weight decay of 1e-4.
    for layer in convs + fcs:
        assert layer.kernel_regularizer.get_config()["l2"] == pytest.approx(5e-5)
    assert tuple(cnn.get_layer("pool5").output.shape[1:3]) == (2, 2)  # 64 / 2^5
    assert tuple(cnn.output.shape) == (None, 6)
    assert tuple(frame_cnn(head="regression").output.shape) == (None, 1)


def test_weight_decay_is_in_the_loss():
    cnn = frame_cnn(**TINY_CNN, weight_decay=1e-4)
    cnn(np.zeros((1, 16, 16, 1), "float32"))
    kernels = [v for v in cnn.trainable_weights if v.path.endswith("kernel")
               and not v.path.startswith("predictions")]
    expected = sum(5e-5 * float(np.sum(_np(k) ** 2)) for k in kernels)
    assert float(sum(_np(x) for x in cnn.losses)) == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("source, dim", [
    ("fc", 200), ("conv3", 8 * 8 * 32), ("conv6", 256), ("conv3+conv6", 8 * 8 * 32 + 256),
])
def test_feature_sources(source, dim):
    cnn = frame_cnn()
    features = frame_features(cnn, source)
    assert tuple(features.output.shape) == (None, dim)
    # The feature model shares the CNN's weights.
    assert {id(v) for v in features.weights} <= {id(v) for v in cnn.weights}


def test_unknown_feature_source_is_an_error():
    with pytest.raises(ValueError, match="conv7"):
        frame_features(frame_cnn(**TINY_CNN), "conv7")


def test_registered_models_paper_defaults():
    for name in ("hybrid_cnn_rnn", "hybrid_cnn_rnn_tanh", "hybrid_cnn_rnn_valence"):
        model = ferzoo.build(name)
        assert tuple(model.input.shape) == (None, 16, 64, 64, 1)
        irnn = model.get_layer("temporal_rnn").get_layer("irnn")
        assert (irnn.units, irnn.num_layers) == (150, 6)
        assert irnn.relu == (name != "hybrid_cnn_rnn_tanh")
        features = model.get_layer("frames").layer
        assert tuple(features.output.shape) == (None, 200)
        out = 1 if name.endswith("valence") else 6
        assert tuple(model.output.shape) == (None, out)
        assert ferzoo.get_entry(name).head == ("regression" if out == 1 else "softmax")
    assert tuple(ferzoo.build("hybrid_cnn").output.shape) == (None, 6)
    assert tuple(ferzoo.build("hybrid_cnn_valence").output.shape) == (None, 1)
    model = ferzoo.build("hybrid_cnn_rnn", preset="cpu", feature_source="conv3",
                         units=50, num_layers=4)
    assert tuple(model.get_layer("frames").output.shape) == (None, 8, 6 * 6 * 32)


def test_hybrid_cnn_classifies_the_last_frame():
    keras.utils.set_random_seed(0)
    model = ferzoo.build("hybrid_cnn", preset="tiny")
    cnn = model.get_layer("frame_cnn")
    video = np.random.default_rng(0).uniform(size=(2, 3, 16, 16, 1)).astype("float32")
    expected = _np(cnn(video[:, -1]))
    np.testing.assert_allclose(_np(model(video)), expected, atol=1e-6)
    video[:, :-1] = 0.0  # the other frames do not matter
    np.testing.assert_allclose(_np(model(video)), expected, atol=1e-6)


def test_rnn_on_frozen_cnn_is_cnn_features_then_irnn():
    keras.utils.set_random_seed(0)
    cnn = frame_cnn(num_classes=5, **TINY_CNN)
    model = rnn_on_cnn(cnn, frames=4, units=6, num_layers=2, freeze=True)
    cnn_ids = {id(v) for v in cnn.weights}
    assert not any(id(v) in cnn_ids for v in model.trainable_weights)
    assert {id(v) for v in model.non_trainable_weights} <= cnn_ids
    assert len(model.trainable_weights) == 3 * 2 + 2  # IRNN (2 layers) + softmax head
    assert tuple(model.output.shape) == (None, 5)
    video = np.random.default_rng(1).uniform(size=(2, 4, 16, 16, 1)).astype("float32")
    # Stage 2 on cached features gives the same output as the assembled model.
    per_frame = frame_features(cnn, dropout=False)
    cached = np.stack([_np(per_frame(video[:, t])) for t in range(4)], axis=1)
    rnn = model.get_layer("temporal_rnn")
    np.testing.assert_allclose(_np(model(video, training=True)), _np(rnn(cached)),
                               rtol=1e-5, atol=1e-6)
    # Training only the RNN leaves the CNN unchanged.
    before = [_np(v).copy() for v in cnn.weights]
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(keras.losses.sparse_categorical_crossentropy(
            tf.constant([0, 1]), model(video, training=True)))
    grads = tape.gradient(loss, model.trainable_weights)
    keras.optimizers.SGD(0.5).apply_gradients(zip(grads, model.trainable_weights))
    assert all(np.array_equal(b, _np(v)) for b, v in zip(before, cnn.weights))


def test_temporal_rnn_alone():
    rnn = temporal_rnn(frames=5, feature_dim=7, num_classes=3, units=4, num_layers=2)
    assert tuple(rnn.input.shape) == (None, 5, 7) and rnn.input.name == "features"
    assert tuple(rnn.output.shape) == (None, 3)
    assert isinstance(rnn.get_layer("irnn"), IRNN)


@pytest.mark.parametrize("suffix", [".keras", ".weights.h5"])
def test_cnn_weights_seed_the_hybrid(tmp_path, suffix):
    keras.utils.set_random_seed(0)
    stage1 = frame_cnn(**TINY_CNN)
    path = tmp_path / f"cnn{suffix}"
    stage1.save(path) if suffix == ".keras" else stage1.save_weights(path)
    model = ferzoo.build("hybrid_cnn_rnn", preset="tiny", cnn_weights=str(path),
                         freeze_cnn=True)
    inner = model.get_layer("frames").layer
    for name in ("conv1", "conv6", "fc2"):
        for got, want in zip(inner.get_layer(name).weights, stage1.get_layer(name).weights):
            np.testing.assert_array_equal(_np(got), _np(want))
    assert not inner.trainable


def test_cnn_weights_from_a_saved_hybrid_cnn_and_bad_files(tmp_path):
    keras.utils.set_random_seed(0)
    single = ferzoo.build("hybrid_cnn", preset="tiny")
    single.save(tmp_path / "single.keras")
    target = frame_cnn(**TINY_CNN, head="regression")  # a classification CNN seeds valence
    load_cnn_weights(target, tmp_path / "single.keras")
    np.testing.assert_array_equal(
        _np(target.get_layer("conv2").kernel),
        _np(single.get_layer("frame_cnn").get_layer("conv2").kernel),
    )
    with pytest.raises(ValueError, match="conv1"):
        load_cnn_weights(frame_cnn(**dict(TINY_CNN, filters=(3, 2, 4, 4, 4, 4))),
                         tmp_path / "single.keras")
    with pytest.raises(FileNotFoundError):
        load_cnn_weights(target, tmp_path / "missing.keras")


def test_paper_recipe_clips_gradients_at_1():
    recipe = get_recipe("hybrid_paper")
    assert (recipe.optimizer, recipe.batch_size, recipe.learning_rate) == ("sgd", 32, 5e-3)
    # weight decay 1e-4 lives in the models (L2, Eq. 1), so the optimiser adds none
    assert (recipe.weight_decay, recipe.clipnorm, recipe.decay_every) == (None, 1.0, 20)
    assert recipe.augment["equalize"] and recipe.augment["standardize"]
    assert ferzoo.get_entry("hybrid_cnn_rnn").recipe == "hybrid_paper"
    schedule = recipe.learning_rate_schedule(steps_per_epoch=10)
    assert float(schedule(199)) == pytest.approx(5e-3)
    assert float(schedule(201)) == pytest.approx(5e-4)  # PiecewiseConstantDecay: step > 200
    # A huge gradient moves the weights by lr * 1.0 (first SGD step: no momentum yet).
    optimizer = recipe.make_optimizer(steps_per_epoch=10)
    assert optimizer.clipnorm == 1.0
    variable = keras.Variable(np.zeros(4, "float32"))
    optimizer.apply_gradients([(tf.constant([300.0, 400.0, 0.0, 0.0]), variable)])
    np.testing.assert_allclose(_np(variable), [-5e-3 * 0.6, -5e-3 * 0.8, 0, 0], rtol=1e-5)


def _tflite(model, shape, path, int8_data=None):
    spec = [keras.InputSpec(shape=shape, dtype="float32")]
    if int8_data is None:
        model.export(str(path), format="litert", input_signature=spec)
        return path
    model.export(str(path.with_suffix("")), format="tf_saved_model", input_signature=spec)
    converter = tf.lite.TFLiteConverter.from_saved_model(str(path.with_suffix("")))
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: ([x[None]] for x in int8_data)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    path.write_bytes(converter.convert())
    return path


def _run_tflite(path, video):
    return runtimes.tflite_op_names(path), runtimes.run_tflite(path, video)


def test_tflite_builtins_export(tmp_path):
    keras.utils.set_random_seed(0)
    model = ferzoo.build("hybrid_cnn_rnn", preset="tiny")
    video = np.random.default_rng(0).uniform(size=(2, 3, 16, 16, 1)).astype("float32")
    ops, got = _run_tflite(_tflite(model, (1, 3, 16, 16, 1), tmp_path / "m.tflite"), video)
    assert not any(op.startswith("Flex") or op == "WHILE" for op in ops), ops
    np.testing.assert_allclose(got, _np(model(video)), atol=1e-5)


@pytest.mark.slow
def test_tflite_int8_export(tmp_path):
    keras.utils.set_random_seed(0)
    model = ferzoo.build("hybrid_cnn_rnn", preset="tiny")
    video = np.random.default_rng(0).uniform(size=(8, 3, 16, 16, 1)).astype("float32")
    path = _tflite(model, (1, 3, 16, 16, 1), tmp_path / "m8.tflite", int8_data=video)
    ops, got = _run_tflite(path, video)
    assert not any(op.startswith("Flex") or op == "WHILE" for op in ops), ops
    np.testing.assert_allclose(got, _np(model(video)), atol=0.02)

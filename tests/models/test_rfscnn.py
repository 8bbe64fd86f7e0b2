"""RFSCNN models: paper shapes, fusion, segment pooling, TFLite builtins export."""

from __future__ import annotations

import keras
import numpy as np
import pytest

import ferzoo
from ferzoo.models.rfscnn import average_over_segments, build_rfscnn, fuse_features
from tests import runtimes
from tests.keras_checks import random_inputs


def test_paper_shapes():
    """Sec. 3.1: 16-frame segments, 15 flow frames, 227x227x3; Sec. 4.3: 64-d features."""
    model = ferzoo.build("rfscnn")
    assert [tuple(t.shape[1:]) for t in model.inputs] == [(16, 227, 227, 3), (15, 227, 227, 3)]
    assert tuple(model.get_layer("features").output.shape) == (None, 64)
    assert tuple(model.get_layer("video_spatial_rnn").input.shape) == (None, 16, 13, 13, 16)
    assert tuple(model.get_layer("flow_spatial_rnn").input.shape) == (None, 15, 13, 13, 16)
    assert model.get_layer("video_conv1").filters == 8  # Sec. 4.3
    assert model.get_layer("video_conv2").filters == 16
    assert tuple(model.output.shape) == (None, 6)
    keras.backend.clear_session()


@pytest.mark.parametrize(
    "name, streams, features",
    [("rfscnn", ("video", "flow"), 8), ("rfscnn_concat", ("video", "flow"), 16),
     ("rfscnn_sum", ("video", "flow"), 8), ("rfscnn_spatial", ("video",), 8),
     ("rfscnn_temporal", ("flow",), 8)],
)
def test_variants_inputs_and_feature_layer(name, streams, features):
    model = ferzoo.build(name, preset="tiny", num_classes=7)
    assert tuple(t.name for t in model.inputs) == streams == ferzoo.get_entry(name).streams
    assert model.get_layer("features").output.shape[-1] == features
    y = keras.ops.convert_to_numpy(model(random_inputs(model, batch=2)))
    assert y.shape == (2, 7)


@pytest.mark.parametrize("fusion", ["product", "concat", "sum"])
def test_fuse_features_matches_the_features_layer(fusion):
    keras.utils.set_random_seed(0)
    model = build_rfscnn(fusion=fusion, **ferzoo.get_entry("rfscnn").presets["tiny"])
    extractor = keras.Model(model.inputs, [model.get_layer(n).output for n in
                                           ("video_features", "flow_features", "features")])
    video, flow, fused = (keras.ops.convert_to_numpy(t) for t in
                          extractor(random_inputs(model, batch=3)))
    np.testing.assert_allclose(fuse_features(video, flow, fusion), fused, rtol=1e-6)


def test_average_over_segments():
    rng = np.random.default_rng(0)
    features = rng.normal(size=(7, 4)).astype("float32")
    ids = ["b", "a", "b", "c", "a", "b", "c"]
    pooled, order = average_over_segments(features, ids)
    assert list(order) == ["b", "a", "c"]  # order of first appearance
    for row, vid in zip(pooled, order):
        members = [f for f, i in zip(features, ids) if i == vid]
        np.testing.assert_allclose(row, np.mean(members, axis=0), rtol=1e-6)
    assert pooled.dtype == np.float32
    with pytest.raises(ValueError, match="one id per segment"):
        average_over_segments(features, ids[:-1])


def test_bad_arguments_say_what_is_wrong():
    with pytest.raises(ValueError, match="fusion"):
        build_rfscnn(fusion="max")
    with pytest.raises(ValueError, match="streams"):
        build_rfscnn(streams=("flow", "video"))
    with pytest.raises(ValueError, match="too small"):
        build_rfscnn(image_size=8, conv_strides=(2, 2), conv_kernels=(3, 3))


def test_tiny_rfscnn_converts_to_tflite_builtins(tmp_path):
    """Builtins only: the interpreter has no Flex delegate, so any TF op would fail."""
    keras.utils.set_random_seed(0)
    model = ferzoo.build("rfscnn", preset="tiny")
    x = random_inputs(model, batch=1)
    expected = keras.ops.convert_to_numpy(model(x, training=False))
    x = dict(zip((t.name for t in model.inputs), x))
    path = runtimes.export_tflite(model, tmp_path / "rfscnn_tiny.tflite")
    runtimes.assert_builtin_ops(path)
    np.testing.assert_allclose(runtimes.run_tflite(path, x), expected, atol=1e-5)

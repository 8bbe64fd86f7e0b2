"""STCAM's 3D-Inception-ResNet and its seven variants (Chen et al., Sec. 3-4)."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

import ferzoo
from ferzoo.layers import STCAM, ChannelAttention3D, NonLocalBlock3D, SpatioTemporalAttention
from ferzoo.layers.attention3d import STAM_KERNEL, STAM_KERNEL_A
from tests import runtimes

VARIANTS = {  # name -> (attention layer class, STCAM order)
    "stcam_baseline": (None, None),
    "stcam_cam": (ChannelAttention3D, None),
    "stcam_stam": (SpatioTemporalAttention, None),
    "stcam_stam_cam": (STCAM, "stam_cam"),
    "stcam": (STCAM, "cam_stam"),
    "stcam_nonlocal_gaussian": (NonLocalBlock3D, "gaussian"),
    "stcam_nonlocal_embedded": (NonLocalBlock3D, "embedded_gaussian"),
}
PLACES = ["ir_a", "red_a", "ir_b", "red_b", "ir_c"]


def test_all_seven_variants_are_registered():
    assert set(ferzoo.list_models("stcam*")) == set(VARIANTS)


def test_feature_vector_is_1072_d_at_the_paper_width():
    # Channel counts do not depend on the resolution: a small clip keeps this fast.
    model = ferzoo.build("stcam_baseline", frames=3, image_size=32)
    features = keras.Model(model.input, model.get_layer("features").output)
    assert tuple(features.output.shape) == (None, 1072)
    x = np.random.default_rng(0).uniform(size=(1, 3, 32, 32, 3)).astype("float32")
    assert features(x).shape == (1, 1072)


def test_paper_input_and_stem():
    entry = ferzoo.get_entry("stcam")
    assert (entry.defaults["frames"], entry.defaults["image_size"]) == (7, 224)
    assert entry.sampling == "stcam" and entry.recipe == "stcam_paper"
    model = ferzoo.build("stcam", preset="tiny", frames=7, image_size=32)
    first = model.get_layer("stem_1_conv")
    assert first.kernel_size == (3, 7, 7) and first.strides == (1, 2, 2)
    # Time is kept through the stem and IR-A (one STAM map per frame) and halved by
    # each reduction: 7 -> 4 -> 2.
    assert model.get_layer("ir_a_add").output.shape[1:4] == (7, 4, 4)
    assert model.get_layer("red_a_mixed").output.shape[1] == 4
    assert model.get_layer("red_b_mixed").output.shape[1] == 2


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_variant_places_its_attention_at_the_five_places(name):
    cls, option = VARIANTS[name]
    model = ferzoo.build(name, preset="tiny")
    found = [layer for layer in model.layers if isinstance(
        layer, (STCAM, ChannelAttention3D, SpatioTemporalAttention, NonLocalBlock3D))]
    if cls is None:
        assert not found
        return
    assert [layer.name for layer in found] == [f"{p}_attention" for p in PLACES]
    assert all(type(layer) is cls for layer in found)
    if cls is STCAM:
        assert {layer.order for layer in found} == {option}
    if cls is NonLocalBlock3D:
        assert {layer.mode for layer in found} == {option}
    if cls in (STCAM, SpatioTemporalAttention):
        kernels = [layer.kernel_size for layer in found]
        assert kernels == [STAM_KERNEL_A] + [STAM_KERNEL] * 4  # Sec. 4.2
    # In an Inception-ResNet structure the attention is on the residual branch: it reads
    # the projection, and the shortcut addition reads (the scaled) attention output.
    assert model.get_layer("ir_a_attention").input is model.get_layer("ir_a_project").output
    assert model.get_layer("red_a_attention").input is model.get_layer("red_a_mixed").output


def test_width_multiplier_scales_the_filter_plan():
    model = ferzoo.build("stcam_baseline", frames=3, image_size=16, width_multiplier=0.25)
    assert model.get_layer("features").output.shape[-1] == 268  # 1072 / 4
    with pytest.raises(ValueError, match="width_multiplier must be > 0; got 0"):
        ferzoo.build("stcam_baseline", frames=3, image_size=16, width_multiplier=0)


def test_tflite_export_has_builtin_ops_only(tmp_path):
    """The paper's model converts with TFLITE_BUILTINS alone and matches Keras."""
    keras.utils.set_random_seed(0)
    model = ferzoo.build("stcam", preset="tiny", frames=5, image_size=32)
    # Compare logits: a fresh model's probabilities are all close to 1/6 (and its
    # logits small: untrained BatchNorm statistics), so the tolerance is relative.
    logits = keras.Model(model.input, model.get_layer("fc2").output)
    path = runtimes.export_tflite(
        logits, tmp_path / "stcam.tflite",
        target_spec={"supported_ops": [tf.lite.OpsSet.TFLITE_BUILTINS]})
    ops = runtimes.assert_builtin_ops(path)
    assert {"CONV_3D", "MAX_POOL_2D", "LOGISTIC"} <= ops
    x = np.random.default_rng(0).uniform(size=(1, 5, 32, 32, 3)).astype("float32")
    got = runtimes.run_tflite(path, x)
    expected = logits(x, training=False).numpy()
    scale = np.abs(expected).max()
    assert scale > 0
    np.testing.assert_allclose(got, expected, rtol=1e-3, atol=1e-3 * scale)

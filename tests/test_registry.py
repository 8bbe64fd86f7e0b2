import keras
import pytest

import ferzoo
from ferzoo import registry


@pytest.fixture
def temporary_model():
    @registry.register_model("_tmp_model", paper="stc_nlstm", tiny=dict(frames=2))
    def _tmp(num_classes=6, frames=4, image_size=8, channels=3, width=2):
        inputs = keras.Input((frames, image_size, image_size, channels), name="video")
        x = keras.layers.GlobalAveragePooling3D()(inputs)
        return keras.Model(inputs, keras.layers.Dense(num_classes, activation="softmax")(x))

    yield "_tmp_model"
    registry.unregister_model("_tmp_model")


def test_unknown_name_lists_close_matches():
    with pytest.raises(ferzoo.RegistryError, match="did you mean 'stc_nlstm'"):
        ferzoo.build("stc_nlstmm")


def test_duplicate_registration_raises(temporary_model):
    with pytest.raises(ferzoo.RegistryError, match="already registered"):
        registry.register_model(temporary_model, paper="stc_nlstm", tiny={})(lambda **k: None)


def test_unknown_override_names_accepted_ones(temporary_model):
    with pytest.raises(ferzoo.RegistryError, match=r"does not take depth; it accepts: .*width"):
        ferzoo.build(temporary_model, depth=3)


def test_none_overrides_are_dropped_and_presets_apply(temporary_model):
    model = ferzoo.build(temporary_model, preset="tiny", num_classes=None, width=None)
    assert tuple(model.inputs[0].shape[1:]) == (2, 8, 8, 3)
    assert model.outputs[0].shape[-1] == 6


def test_list_models_pattern_and_info(temporary_model):
    assert ferzoo.list_models("_tmp*") == ["_tmp_model"]
    info = ferzoo.model_info(temporary_model)
    assert info["parameters"] == 3 * 6 + 6
    assert info["input"]["frames"] == 4 and info["input"]["streams"] == ["video"]


def test_builder_without_common_arguments_is_refused():
    with pytest.raises(ferzoo.RegistryError, match="lacks the common arguments"):
        registry.register_model("_bad", paper="stc_nlstm", tiny={})(lambda width=1: None)

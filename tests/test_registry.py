import importlib.util
import textwrap

import keras
import pytest

import ferzoo
from ferzoo import registry
from ferzoo.models.stc_nlstm import PAPER as STC_PAPER

COMMON = dict(num_classes=6, frames=4, image_size=8, channels=3)


def _tmp(num_classes, frames, image_size, channels, width):
    inputs = keras.Input((frames, image_size, image_size, channels), name="video")
    x = keras.layers.GlobalAveragePooling3D()(inputs)
    return keras.Model(inputs, keras.layers.Dense(num_classes, activation="softmax")(x))


@pytest.fixture
def temporary_model():
    registry.register_model(
        "_tmp_model", _tmp, paper=STC_PAPER, defaults=dict(COMMON, width=2),
        presets={"tiny": dict(frames=2)},
    )
    yield "_tmp_model"
    registry.unregister_model("_tmp_model")


@pytest.fixture
def cleanup():
    names = []
    yield names
    for name in names:
        registry.unregister_model(name)


def test_unknown_name_lists_close_matches():
    with pytest.raises(ferzoo.RegistryError, match="did you mean 'stc_nlstm'"):
        ferzoo.build("stc_nlstmm")


def test_duplicate_registration_raises(temporary_model):
    with pytest.raises(ferzoo.RegistryError, match="already registered"):
        registry.register_model(temporary_model, lambda **k: None, paper=STC_PAPER,
                                defaults=COMMON, presets={"tiny": {}})


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
        registry.register_model("_bad", lambda width=1: None, paper=STC_PAPER,
                                defaults=dict(width=1), presets={"tiny": {}})
    assert "_bad" not in registry._REGISTRY


def test_defaults_come_from_the_declared_dict_not_the_signature(cleanup):
    calls = []

    def builder(**kwargs):
        calls.append(kwargs)
        return _tmp(**kwargs)

    def signed(num_classes=9, frames=9, image_size=9, channels=9, width=9, depth=9):
        return _tmp(num_classes, frames, image_size, channels, width)

    declared = dict(num_classes=5, frames=3, image_size=8, channels=1, width=2)
    cleanup += ["_tmp_kwargs", "_tmp_signed"]
    registry.register_model("_tmp_kwargs", builder, paper=STC_PAPER, defaults=declared,
                            presets={"tiny": dict(frames=2)})
    registry.register_model("_tmp_signed", signed, paper=STC_PAPER, defaults=declared,
                            presets={"tiny": {}})
    assert ferzoo.get_entry("_tmp_kwargs").defaults == declared
    assert ferzoo.get_entry("_tmp_signed").defaults == declared
    model = ferzoo.build("_tmp_kwargs", preset="tiny", num_classes=4)
    assert calls == [dict(declared, frames=2, num_classes=4)]
    assert tuple(model.inputs[0].shape[1:]) == (2, 8, 8, 1)
    assert tuple(ferzoo.build("_tmp_signed").inputs[0].shape[1:]) == (3, 8, 8, 1)
    with pytest.raises(ferzoo.RegistryError, match="does not take depth"):
        ferzoo.build("_tmp_signed", depth=2)


def test_paper_declared_in_a_new_module_appears_in_papers(tmp_path, cleanup):
    path = tmp_path / "newnet.py"
    path.write_text(textwrap.dedent('''
        import keras

        from ferzoo.registry import Paper, register_model

        PAPER = Paper("_newnet", "Doe et al. 2025, NewNet (Venue)")


        def newnet(num_classes, frames, image_size, channels):
            video = keras.Input((frames, image_size, image_size, channels), name="video")
            x = keras.layers.GlobalAveragePooling3D()(video)
            return keras.Model(video, keras.layers.Dense(num_classes, activation="softmax")(x))


        register_model(
            "_newnet", newnet, paper=PAPER,
            defaults=dict(num_classes=6, frames=4, image_size=8, channels=3),
            presets={"tiny": dict(frames=2)}, description="NewNet (Table 1)",
        )
    '''))
    assert "_newnet" not in registry.papers()
    cleanup.append("_newnet")
    spec = importlib.util.spec_from_file_location("_ferzoo_test_newnet", path)
    spec.loader.exec_module(importlib.util.module_from_spec(spec))
    assert registry.papers()["_newnet"] == "Doe et al. 2025, NewNet (Venue)"
    info = ferzoo.model_info("_newnet", count_params=False)
    assert (info["paper"], info["paper_key"]) == ("Doe et al. 2025, NewNet (Venue)", "_newnet")
    assert ferzoo.get_entry("_newnet").paper == "_newnet"
    assert ferzoo.build("_newnet", preset="tiny").outputs[0].shape[-1] == 6
    registry.unregister_model("_newnet")
    assert "_newnet" not in registry.papers()


def test_papers_are_those_of_the_registered_models():
    keys = {ferzoo.get_entry(n).paper for n in ferzoo.list_models()}
    assert set(registry.papers()) == keys
    assert {"stc_nlstm", "hybrid_cnn_rnn", "rfscnn", "stcam", "lstpnet"} <= keys
    for name in ferzoo.list_models():
        info = ferzoo.model_info(name, count_params=False)
        assert info["paper"] == registry.papers()[info["paper_key"]]
    assert not hasattr(registry, "PAPERS")


def test_preset_key_not_in_defaults_raises():
    with pytest.raises(ferzoo.RegistryError, match=r"preset 'cpu' of '_bad' sets \['depth'\]"):
        registry.register_model("_bad", _tmp, paper=STC_PAPER, defaults=dict(COMMON, width=2),
                                presets={"tiny": dict(width=1), "cpu": dict(depth=3)})
    assert "_bad" not in registry._REGISTRY


def test_tiny_preset_is_required():
    with pytest.raises(ferzoo.RegistryError, match="no 'tiny' preset"):
        registry.register_model("_bad", _tmp, paper=STC_PAPER, defaults=dict(COMMON, width=2),
                                presets={"cpu": dict(width=1)})


def test_paper_is_declared_not_named():
    with pytest.raises(ferzoo.RegistryError, match="must be a ferzoo.registry.Paper"):
        registry.register_model("_bad", _tmp, paper="stc_nlstm",
                                defaults=dict(COMMON, width=2), presets={"tiny": {}})


def test_one_key_one_citation(temporary_model):
    other = registry.Paper("stc_nlstm", "Someone else, another paper")
    with pytest.raises(ferzoo.RegistryError, match="already declared"):
        registry.register_model("_bad", _tmp, paper=other, defaults=dict(COMMON, width=2),
                                presets={"tiny": {}})


# ------------------------------------------------------------------ presets carry a recipe
def test_cpu_presets_train_with_a_recipe_measured_at_their_size():
    from ferzoo.training.recipes import get_recipe

    for name in ferzoo.list_models():
        entry = ferzoo.get_entry(name)
        get_recipe(entry.recipe)  # every named recipe exists
        for preset in entry.presets:
            get_recipe(entry.recipe_for(preset))
    stc = ferzoo.get_entry("stc_nlstm")
    assert stc.recipe_for(None) == "stc_nlstm_paper"  # the paper-size model: the paper's
    assert stc.recipe_for("cpu") == "stc_nlstm_cpu"
    assert stc.recipe_for("tiny") == "stc_nlstm_paper"
    assert ferzoo.get_entry("lstpnet").recipe_for("cpu") == "lstpnet_cpu"
    assert ferzoo.get_entry("stcam").recipe_for("cpu") == "stcam_cpu"
    assert ferzoo.get_entry("hybrid_cnn_rnn").recipe_for("cpu") == "hybrid_synthetic"
    info = ferzoo.model_info("stc_nlstm", count_params=False)
    assert info["recipe"] == "stc_nlstm_paper"
    assert info["preset_recipes"] == {"tiny": "stc_nlstm_paper", "cpu": "stc_nlstm_cpu"}


def test_preset_recipes_must_name_presets_of_the_model():
    with pytest.raises(ferzoo.RegistryError, match=r"preset_recipes names presets \['cpu'\]"):
        registry.register_model("_bad", _tmp, paper=STC_PAPER, defaults=dict(COMMON, width=2),
                                presets={"tiny": {}}, preset_recipes={"cpu": "default"})
    assert "_bad" not in registry._REGISTRY


def test_trainer_takes_the_presets_recipe_unless_one_is_asked(tmp_path):
    from ferzoo.training.trainer import TrainConfig, Trainer

    def recipe(**options):
        config = TrainConfig(model="stc_nlstm", out_dir=str(tmp_path), **options)
        return Trainer(config, log=lambda s: None).base_recipe.name

    assert recipe(preset="cpu") == "stc_nlstm_cpu"
    assert recipe() == "stc_nlstm_paper"
    assert recipe(preset="cpu", recipe="stc_nlstm_paper") == "stc_nlstm_paper"


def test_info_command_shows_each_presets_recipe(capsys):
    import json

    from ferzoo.cli import main

    assert main(["info", "reference_c3d"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["preset_recipes"]["cpu"] == "reference_c3d"
    assert "not from a paper" in info["paper"]

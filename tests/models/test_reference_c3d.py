"""The reference model: a plain small 3D CNN that is no paper's, the floor of results."""

import numpy as np

import ferzoo
from ferzoo.training.recipes import get_recipe


def test_reference_c3d_is_small_plain_and_says_it_is_not_a_paper():
    entry = ferzoo.get_entry("reference_c3d")
    assert "not from a paper" in entry.citation and entry.paper == "reference"
    model = ferzoo.build("reference_c3d")
    assert 60_000 < model.count_params() < 90_000
    convs = [layer for layer in model.layers if layer.__class__.__name__ == "Conv3D"]
    assert len(convs) == 3
    # the size of the papers' cpu presets, so it compares with them on one split
    stc = ferzoo.build("stc_nlstm", "cpu")
    assert model.inputs[0].shape[1:] == stc.inputs[0].shape[1:]
    recipe = get_recipe(entry.recipe_for(None))
    assert (recipe.optimizer, recipe.learning_rate, recipe.epochs) == ("adam", 2e-3, 20)
    assert entry.recipe_for("cpu") == "reference_c3d"


def test_reference_c3d_outputs_probabilities():
    model = ferzoo.build("reference_c3d", "tiny", num_classes=4)
    clip = np.random.default_rng(0).random((2, *model.inputs[0].shape[1:]), dtype=np.float32)
    out = model.predict(clip, verbose=0)
    assert out.shape == (2, 4)
    np.testing.assert_allclose(out.sum(axis=1), 1.0, rtol=1e-5)

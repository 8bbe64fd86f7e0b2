"""STCAM's attention picture (Fig. 7) from a model and a clip."""

from __future__ import annotations

import keras
import numpy as np
import pytest

import ferzoo
from ferzoo.inference.visualize import save_attention_figure, spatiotemporal_attention


@pytest.fixture(scope="module")
def model():
    keras.utils.set_random_seed(0)
    return ferzoo.build("stcam", preset="tiny", frames=5, image_size=32)


def test_maps_of_the_first_attention_layer_have_one_map_per_frame(model):
    clip = np.random.default_rng(0).uniform(size=(5, 32, 32, 3)).astype("float32")
    name, maps = spatiotemporal_attention(model, clip)
    assert name == "ir_a_attention" and maps.shape == (5, 4, 4)
    assert ((maps > 0) & (maps < 1)).all()
    # The map is the one the layer multiplies its input with.
    layer = model.get_layer(name)
    features = keras.Model(model.input, layer.input)(clip[None])
    np.testing.assert_allclose(
        layer(features).numpy(),
        layer.channel_attention(features).numpy() * maps[None, ..., None], rtol=1e-5,
        atol=1e-6,
    )
    _, deeper = spatiotemporal_attention(model, clip, layer="red_b_attention")
    assert deeper.shape[0] < 5


def test_figure_is_written(model, tmp_path):
    clip = np.random.default_rng(1).uniform(size=(1, 5, 32, 32, 3)).astype("float32")
    path = save_attention_figure(model, clip, tmp_path / "attention.png")
    assert path.stat().st_size > 1000 and path.read_bytes()[:4] == b"\x89PNG"
    path = save_attention_figure(model, clip, tmp_path / "one.png", layer="ir_b_attention")
    assert path.stat().st_size > 1000 and path.read_bytes()[:4] == b"\x89PNG"


def test_errors_say_what_to_do(model):
    with pytest.raises(ValueError, match="does not fit the model's input"):
        spatiotemporal_attention(model, np.zeros((3, 32, 32, 3), "float32"))
    baseline = ferzoo.build("stcam_baseline", preset="tiny")
    with pytest.raises(ValueError, match="no spatial-temporal attention"):
        spatiotemporal_attention(baseline, np.zeros((3, 16, 16, 3), "float32"))


@pytest.mark.slow
def test_attention_figure_for_a_trained_run(tmp_path):
    from ferzoo.training.trainer import train
    from ferzoo.inference.visualize import attention_figure_for_run
    from tests import fake_datasets

    data = fake_datasets.make_dataset_dir(tmp_path / "fake", subjects=3, clips=3, test_subjects=1)
    run = tmp_path / "run"
    train("stcam", run, preset="tiny", data=str(data), test_data=str(data), epochs=1,
          recipe="default", batch_size=4, progress=False, log=lambda s: None)
    path = attention_figure_for_run(run, index=1)
    assert path.parent == run and path.name.startswith("attention_S003_")
    assert path.read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(ValueError, match="has no clip number 99"):
        attention_figure_for_run(run, index=99)

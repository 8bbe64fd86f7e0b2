"""STCAM's crop augmentation: one of the 4 corners or the centre (Sec. 4.2)."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from ferzoo.data.augment import augment_clip, crop_window

FRACTION = 224 / 240  # STCAM Sec. 4.2: 240x240 faces, 224x224 crops


def test_training_crops_are_the_four_corners_and_the_centre():
    tf.random.set_seed(0)
    windows = {
        tuple(int(v) for v in crop_window(240, 240, FRACTION, True, positions="five"))
        for _ in range(200)
    }
    assert windows == {(0, 0, 224, 224), (0, 16, 224, 224), (16, 0, 224, 224),
                       (16, 16, 224, 224), (8, 8, 224, 224)}


def test_test_time_is_the_centre_crop_and_any_keeps_its_meaning():
    assert [int(v) for v in crop_window(64, 64, FRACTION, False, "five")] == [2, 2, 60, 60]
    tf.random.set_seed(1)
    tops = {int(crop_window(64, 64, 0.5, True)[0]) for _ in range(100)}
    assert len(tops) > 5  # "any": every position, not five


def test_augment_clip_reads_crop_positions_from_the_recipe():
    clip = tf.reshape(tf.range(2 * 64 * 64 * 3, dtype=tf.float32), (2, 64, 64, 3))
    config = {"flip": False, "rotate": None, "crop": FRACTION, "crop_positions": "five"}
    corners = set()
    for _ in range(100):
        out = augment_clip({"video": clip}, config, training=True)["video"].numpy()
        assert out.shape == (2, 60, 60, 3)
        corners.add(int(out[0, 0, 0, 0]))
    starts = {(top * 64 + left) * 3 for top, left in [(0, 0), (0, 4), (4, 0), (4, 4), (2, 2)]}
    assert corners == starts
    with pytest.raises(ValueError, match="crop_positions must be 'any' or 'five'; got 'six'"):
        augment_clip({"video": clip}, {**config, "crop_positions": "six"}, training=True)


def test_stcam_recipe_uses_five_crops_and_flips():
    from ferzoo.training.recipes import get_recipe

    recipe = get_recipe("stcam_paper")
    assert recipe.augment["crop_positions"] == "five" and recipe.augment["flip"]
    assert np.isclose(recipe.augment["crop"], FRACTION)
    assert (recipe.optimizer, recipe.nesterov, recipe.momentum) == ("sgd", True, 0.9)
    assert (recipe.learning_rate, recipe.decay_epochs, recipe.epochs) == (1e-3, (40, 90), 100)
    assert (recipe.batch_size, recipe.weight_decay) == (16, 0.01)

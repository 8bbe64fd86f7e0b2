"""Histogram equalisation (against OpenCV) and mean/std normalisation."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import tensorflow as tf

from ferzoo.data.photometric import apply_preprocessing, equalize_histogram, standardize


def _cv2_equalize(video):
    out = np.zeros(video.shape, np.float32)
    for index in np.ndindex(*video.shape[:-3]):
        for c in range(video.shape[-1]):
            plane = np.ascontiguousarray(video[index][..., c])
            out[index][..., c] = cv2.equalizeHist(plane) / 255.0
    return out


def test_equalize_matches_opencv_on_uint8_and_float():
    rng = np.random.default_rng(0)
    video = (rng.beta(2, 5, size=(2, 3, 20, 24, 2)) * 150 + 40).astype(np.uint8)
    expected = _cv2_equalize(video)
    np.testing.assert_array_equal(equalize_histogram(video).numpy(), expected)
    np.testing.assert_array_equal(
        equalize_histogram(video.astype(np.float32) / 255).numpy(), expected
    )


def test_equalize_spreads_levels_and_keeps_constant_planes():
    dark = np.random.default_rng(1).uniform(0.1, 0.3, size=(5, 16, 16, 1)).astype("float32")
    out = equalize_histogram(dark).numpy()
    assert out.min() == 0.0 and out.max() == 1.0
    flat = np.full((1, 4, 4, 1), 0.3, np.float32)
    np.testing.assert_allclose(equalize_histogram(flat).numpy(), np.round(0.3 * 255) / 255)


def test_equalize_in_a_graph_with_unknown_shape():
    fn = tf.function(equalize_histogram,
                     input_signature=[tf.TensorSpec((None, None, None, 1), tf.float32)])
    video = np.random.default_rng(2).uniform(size=(3, 8, 10, 1)).astype("float32")
    np.testing.assert_allclose(fn(video).numpy(), equalize_histogram(video).numpy(), atol=1e-6)


def test_standardize_per_frame_and_with_dataset_statistics():
    video = np.random.default_rng(3).uniform(size=(4, 8, 8, 1)).astype("float32") * 0.5
    out = standardize(video).numpy()
    np.testing.assert_allclose(out.mean(axis=(1, 2, 3)), 0.0, atol=1e-5)
    np.testing.assert_allclose(out.std(axis=(1, 2, 3)), 1.0, atol=1e-4)
    np.testing.assert_allclose(standardize(video, 0.2, 0.5).numpy(), (video - 0.2) / 0.5,
                               rtol=1e-6)
    with pytest.raises(ValueError, match="both"):
        standardize(video, mean=0.2)


def test_apply_preprocessing_by_name():
    video = np.random.default_rng(4).uniform(size=(2, 8, 8, 1)).astype("float32")
    expected = standardize(equalize_histogram(video)).numpy()
    np.testing.assert_allclose(
        apply_preprocessing(video, "equalize,standardize").numpy(), expected
    )
    assert apply_preprocessing(video, None) is video
    with pytest.raises(ValueError, match="unknown preprocessing step 'blur'"):
        apply_preprocessing(video, ["blur"])


def test_preprocess_clip_follows_the_recipe_settings():
    from ferzoo.data.photometric import preprocess_clip

    video = np.random.default_rng(5).uniform(0.2, 0.6, size=(2, 8, 8, 1)).astype("float32")
    assert preprocess_clip(video, {"flip": True}) is video
    assert preprocess_clip(video, None) is video
    np.testing.assert_allclose(
        preprocess_clip(video, {"equalize": True, "standardize": True}).numpy(),
        standardize(equalize_histogram(video)).numpy(),
    )
    np.testing.assert_allclose(
        preprocess_clip(video, {"standardize": {"mean": 0.5, "std": 0.25}}).numpy(),
        (video - 0.5) / 0.25, rtol=1e-6,
    )


def test_pipeline_applies_the_recipe_preprocessing(tmp_path):
    from ferzoo.data.pipeline import InputSpec, make_dataset
    from tests import fake_datasets

    data = fake_datasets.make_dataset_dir(tmp_path, subjects=2, clips=2, test_subjects=1)
    spec = InputSpec(frames=3, image_size=(16, 16), channels=1)
    geometry = {"flip": False, "rotate": 0.0, "crop": None}

    def first_clip(augment):
        ds = make_dataset(str(data), spec, training=False, batch_size=2, split="train",
                          augment=augment)
        return next(iter(ds))[0]["video"].numpy()

    plain = first_clip(geometry)
    done = first_clip(dict(geometry, equalize=True, standardize=True))
    np.testing.assert_allclose(done, standardize(equalize_histogram(plain)).numpy(), atol=1e-5)
    np.testing.assert_allclose(done.mean(axis=(2, 3, 4)), 0.0, atol=1e-5)

"""The pipeline's speed-ups keep its output: resize, flip, early resize, decoded-frame cache."""

import shutil

import numpy as np
import pytest
import tensorflow as tf

from ferzoo.data import augment
from ferzoo.data.pipeline import InputSpec, make_dataset
from tests import fake_datasets


@pytest.fixture(scope="module")
def fake_dir(tmp_path_factory):
    return fake_datasets.make_dataset_dir(tmp_path_factory.mktemp("fake"), subjects=3, clips=4,
                                    test_subjects=1, size=16, frames=6)


@pytest.mark.parametrize("shape, size", [((3, 20, 24, 3), (32, 30)), ((3, 40, 36, 3), (16, 12)),
                                         ((3, 20, 24, 3), (20, 24))])
def test_resize_frames_equals_the_antialiased_resize(shape, size):
    frames = tf.random.uniform(shape, seed=3)
    want = tf.image.resize(frames, size, antialias=True).numpy()
    np.testing.assert_allclose(augment.resize_frames(frames, size).numpy(), want, atol=1e-4)


def test_flip_mirrors_all_frames_or_none():
    clip = tf.random.uniform((3, 5, 7, 3), seed=1)
    tf.random.set_seed(4)
    outs = [augment.augment_clip({"video": clip}, {"flip": True}, True)["video"].numpy()
            for _ in range(16)]
    mirrored = clip.numpy()[:, :, ::-1]
    kinds = {("same" if np.array_equal(o, clip.numpy()) else
              "mirrored" if np.array_equal(o, mirrored) else "other") for o in outs}
    assert kinds == {"same", "mirrored"}


def test_size_resizes_right_after_the_crop():
    clip = tf.random.uniform((2, 30, 30, 3), seed=2)
    config = {"crop": 0.8, "flip": False, "rotate": None}
    out = augment.augment_clip({"video": clip}, config, False, size=(12, 12))["video"]
    want = tf.image.resize(clip[:, 3:27, 3:27], (12, 12), antialias=True)
    np.testing.assert_allclose(out.numpy(), want.numpy(), atol=1e-4)
    out = augment.augment_clip({"video": clip}, {"crop": 0.8, "flip": True, "rotate": 10.0},
                               True, size=(12, 12))["video"]
    assert out.shape == (2, 12, 12, 3)


def _batches(fake_dir, spec, **kw):
    ds = make_dataset(fake_dir, spec, training=False, batch_size=4, split="train",
                      with_info=True, **kw)
    return [(x["video"].numpy(), y.numpy(), info["clip_id"].numpy()) for x, y, info in ds]


def test_frames_cache_gives_the_same_clips(fake_dir):
    # Nothing to shrink: the cached frames are the decoded frames, bit for bit.
    spec = InputSpec(frames=4, image_size=16)
    plain = _batches(fake_dir, spec, augment={})
    cached = _batches(fake_dir, spec, augment={}, cache="frames")
    for (a, ya, ia), (b, yb, ib) in zip(plain, cached, strict=True):
        np.testing.assert_array_equal(ia, ib)
        np.testing.assert_array_equal(ya, yb)
        np.testing.assert_array_equal(a, b)
    # Shrunk once (16 -> 8 px, antialiased) and kept as 8-bit: the same as shrinking every
    # time, up to the 8-bit rounding.
    spec = InputSpec(frames=4, image_size=8)
    plain = _batches(fake_dir, spec, augment={})
    cached = _batches(fake_dir, spec, augment={}, cache="frames")
    for (a, _, _), (b, _, _) in zip(plain, cached, strict=True):
        np.testing.assert_allclose(a, b, atol=0.5 / 255 + 1e-5)
    # With a crop, shrunk to what the crop needs (round(8 / 0.75) = 11 px), then cropped:
    # the same picture up to a crop window rounded to other pixels.
    plain = _batches(fake_dir, spec, augment={"crop": 0.75})
    cached = _batches(fake_dir, spec, augment={"crop": 0.75}, cache="frames")
    for (a, _, _), (b, _, _) in zip(plain, cached, strict=True):
        assert np.corrcoef(a.ravel(), b.ravel())[0, 1] > 0.85
        assert abs(a.mean() - b.mean()) < 0.03


def test_frames_cache_serves_later_epochs_from_memory(fake_dir, tmp_path):
    data = shutil.copytree(fake_dir, tmp_path / "data")
    spec = InputSpec(frames=4, image_size=8)
    ds = make_dataset(data, spec, training=True, batch_size=2, split="train", cache="frames",
                      seed=0).repeat()
    batches = iter(ds)
    first = [next(batches)[1].numpy() for _ in range(6)]  # 12 clips: one whole pass
    shutil.rmtree(data)  # the shards are gone: a second pass can only come from the cache
    second = [next(batches)[1].numpy() for _ in range(6)]
    assert sorted(np.concatenate(first)) == sorted(np.concatenate(second))
    with pytest.raises(ValueError, match="cache='disk'"):
        make_dataset(fake_dir, spec, training=True, batch_size=2, split="train", cache="disk")


@pytest.mark.parametrize("shape, angle", [((3, 20, 20, 3), 0.087), ((2, 17, 24, 1), -0.6),
                                          ((1, 9, 7, 3), 3.1), ((2, 8, 8, 3), 0.0)])
def test_rotate_equals_tensorflows_projective_transform(shape, angle):
    frames = tf.random.uniform(shape, seed=5)
    transform = tf.tile(augment.rotation_transform(tf.constant(angle), shape[1], shape[2])[None],
                        [shape[0], 1])
    want = tf.raw_ops.ImageProjectiveTransformV3(
        images=frames, transforms=transform, output_shape=shape[1:3],
        interpolation="BILINEAR", fill_mode="CONSTANT", fill_value=0.0)
    got = augment.rotate(frames, tf.constant(angle))
    np.testing.assert_allclose(got.numpy(), want.numpy(), atol=1e-5)


def test_deterministic_training_order_on_request(fake_dir):
    spec = InputSpec(frames=2, image_size=8)

    def order():
        ds = make_dataset(fake_dir, spec, training=True, batch_size=3, split="train", seed=7,
                          deterministic=True, with_info=True)
        return [i for _, _, info in ds for i in info["clip_id"].numpy()]

    first = order()
    assert first == order() and len(first) == 12

import numpy as np
import pytest
import tensorflow as tf

from ferzoo.data import augment, pipeline, sampling
from ferzoo.data.pipeline import DataError, InputSpec, make_dataset
from tests import fake_datasets


@pytest.fixture(scope="module")
def fake_dir(tmp_path_factory):
    return fake_datasets.make_dataset_dir(tmp_path_factory.mktemp("fake"), subjects=3, clips=4,
                                    test_subjects=1, flow=True)


def test_batches_have_the_model_shape(fake_dir):
    spec = InputSpec(frames=4, image_size=(12, 12), channels=3)
    ds = make_dataset(fake_dir, spec, training=True, batch_size=5, split="train")
    inputs, labels = next(iter(ds))
    assert inputs["video"].shape == (5, 4, 12, 12, 3) and inputs["video"].dtype == tf.float32
    assert 0.0 <= float(tf.reduce_min(inputs["video"])) and float(tf.reduce_max(inputs["video"])) <= 1.0
    assert labels.dtype == tf.int32 and set(labels.numpy()) <= {0, 1, 2}


def test_eval_pipeline_is_deterministic_and_complete(fake_dir):
    spec = InputSpec(frames=6, image_size=16, channels=1)
    ds = make_dataset(fake_dir, spec, training=False, batch_size=4, split="train",
                      augment={"crop": None}, with_info=True)
    first = [(x["video"].numpy(), i["clip_id"].numpy()) for x, _, i in ds]
    second = [(x["video"].numpy(), i["clip_id"].numpy()) for x, _, i in ds]
    ids = np.concatenate([b[1] for b in first])
    assert len(ids) == 12 and len(set(ids)) == 12
    assert first[0][0].shape[-1] == 1
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a[0], b[0])
    # without crop, resizing 16 -> 16 keeps the stored frames: the square is bright
    assert first[0][0].max() > 0.8


def test_subject_filters(fake_dir):
    spec = InputSpec(frames=2, image_size=8)
    only = make_dataset(fake_dir, spec, training=False, batch_size=100, split="train",
                        subjects=["S001"], with_info=True)
    subjects = set(next(iter(only))[2]["subject"].numpy())
    assert subjects == {b"S001"}
    rest = make_dataset(fake_dir, spec, training=False, batch_size=100, split="train",
                        exclude_subjects=["S001"], with_info=True)
    assert set(next(iter(rest))[2]["subject"].numpy()) == {b"S000", b"S002"}


def test_flow_stream_and_flip(fake_dir):
    spec = InputSpec(frames=4, image_size=8, streams=("video", "flow"))
    ds = make_dataset(fake_dir, spec, training=False, batch_size=2, split="train",
                      augment={"crop": None})
    inputs, _ = next(iter(ds))
    assert inputs["flow"].shape == (2, 3, 8, 8, 3)
    # dx = +1 px stored as 128 + 16 -> 144/255
    np.testing.assert_allclose(inputs["flow"][..., 0].numpy(), 144 / 255, atol=1e-3)
    flow = tf.fill((3, 8, 8, 3), 144 / 255)
    video = tf.zeros((4, 8, 8, 3))
    tf.random.set_seed(1)
    flipped = [augment.augment_clip({"video": video, "flow": flow}, {"flip": True}, True)["flow"]
               for _ in range(12)]
    values = {round(float(f[0, 0, 0, 0]), 3) for f in flipped}
    assert values == {round(144 / 255, 3), round(1 - 144 / 255, 3)}


def test_no_matching_files_is_a_clear_error(tmp_path):
    with pytest.raises(DataError, match="no TFRecord files match"):
        make_dataset(str(tmp_path / "nothing-*.tfrecord"), InputSpec(2, 8), training=False,
                     batch_size=1)


def test_label_outside_model_classes_names_the_clip(fake_dir):
    ds = make_dataset(fake_dir, InputSpec(2, 8), training=False, batch_size=4, split="train",
                      num_classes=2)
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"S00\d_002\] \[has label\] \[fear"):
        for _ in ds:
            pass


def test_corrupt_shard_is_named_and_can_be_skipped(fake_dir, tmp_path):
    import shutil

    for f in fake_dir.glob("train-*.tfrecord"):
        shutil.copy(f, tmp_path / f.name)
    victim = sorted(tmp_path.glob("*.tfrecord"))[1]
    data = victim.read_bytes()
    victim.write_bytes(data[: len(data) // 2])
    bad = pipeline.scan_records(sorted(str(p) for p in tmp_path.glob("*.tfrecord")))
    assert len(bad) == 1 and bad[0][0] == str(victim)
    assert "truncated or corrupt" in pipeline.describe_bad_records(bad)
    assert f"shard {victim} record" in pipeline.describe_bad_records(bad)
    ds = make_dataset(str(tmp_path / "*.tfrecord"), InputSpec(2, 8), training=False,
                      batch_size=100, skip_corrupt=True)
    n = sum(int(y.shape[0]) for _, y in ds)
    assert 6 <= n < 12


def test_spec_from_model_and_mismatch_message():
    import keras

    video = keras.Input((5, 16, 16, 1), name="video")
    model = keras.Model(video, keras.layers.Flatten()(video))
    spec = InputSpec.from_model(model, "uniform")
    assert spec.frames == 5 and spec.image_size == (16, 16) and spec.channels == 1
    with pytest.raises(DataError, match=r"expects inputs \{'video': \(5, 16, 16, 1\)\}"):
        InputSpec(4, 16, 1).check_model(model)


@pytest.mark.parametrize("n,t", [(30, 8), (8, 8), (5, 8), (1, 4)])
def test_uniform_sampling(n, t):
    idx = sampling.sample_indices("uniform", n, t).numpy()
    assert len(idx) == t and idx.min() >= 0 and idx.max() <= n - 1
    assert np.all(np.diff(idx) >= 0)
    if n < t:  # every frame kept, the last one repeated
        assert list(idx[:n]) == list(range(n)) and set(idx[n:]) == {n - 1}
    for _ in range(5):
        jit = sampling.sample_indices("uniform", n, t, training=True).numpy()
        if n >= t:  # one frame from each of t equal segments
            segment = np.floor(np.arange(t) * n / t).astype(int)
            assert np.all(jit >= segment) and np.all(np.diff(jit) >= 0)


def test_unknown_sampling_mode():
    with pytest.raises(ValueError, match="unknown sampling mode 'nope'"):
        InputSpec(4, 8, sampling="nope")


def test_rotation_by_zero_is_identity_and_by_180_flips():
    frames = tf.random.uniform((2, 9, 9, 3))
    np.testing.assert_allclose(augment.rotate(frames, 0.0).numpy(), frames.numpy(), atol=1e-5)
    rotated = augment.rotate(frames, np.pi).numpy()
    np.testing.assert_allclose(rotated, frames.numpy()[:, ::-1, ::-1], atol=1e-4)


@pytest.mark.parametrize("cache", [False, "frames"])
def test_grey_first_and_batched_photometric_steps_match_the_per_clip_order(fake_dir, cache):
    """The pipeline converts to grey before the geometry (and caches grey frames) and
    equalises/standardises whole batches; the result equals the plain order: colour
    frames through the geometry, then grey, then the photometric steps clip by clip."""
    from ferzoo.data.photometric import equalize_histogram, standardize

    geometry = {"flip": False, "rotate": None, "crop": 0.75}
    # The cache rounds the grey frames to 8 bits where the colour path rounds R, G, B:
    # a level apart, which histogram equalisation of a 10x10 frame can amplify.
    recipe = {**geometry, "equalize": not cache, "standardize": True}

    def clips(channels, augment):
        spec = InputSpec(frames=3, image_size=10, channels=channels, sampling="last")
        ds = make_dataset(fake_dir, spec, training=False, batch_size=4, split="train",
                          augment=augment, with_info=True, cache=cache)
        return {i: v for x, _, info in ds
                for i, v in zip(info["clip_id"].numpy(), x["video"].numpy())}

    got, colour = clips(1, recipe), clips(3, geometry)
    assert len(got) == len(colour) == 12
    for clip_id, frames in colour.items():
        grey = tf.image.rgb_to_grayscale(frames)
        expected = standardize(equalize_histogram(grey) if recipe["equalize"] else grey)
        # grey before or after the resampling may move a pixel across an 8-bit level of
        # the histogram: compare the bulk
        close = np.isclose(got[clip_id], expected.numpy(), atol=0.05)
        assert close.mean() > 0.97, clip_id

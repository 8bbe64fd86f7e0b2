"""LSTPNet: TCE, LSTformer, the model, and the converter from the official checkpoints.

Parity is checked against ``tests/models/lstpnet_reference.py``, an independent numpy (float64,
NCHW) forward pass written from docs/design.md#lstpnet that reads the official state_dict
names; the random state_dict has exactly the names and shapes of the authors'
checkpoint (tests/fixtures/lstpnet_state_dict_keys.txt).
"""

from __future__ import annotations

import keras
import numpy as np
import pytest

import ferzoo
from ferzoo.layers import (
    FoldFrames,
    LSTformer,
    LSTformerBlock,
    TemporalChannelExcitation,
    UnfoldFrames,
)
from ferzoo.layers.tce import eca_kernel_size, make_divisible
from ferzoo.weights import lstpnet as convert
from tests import runtimes
from tests.keras_checks import run_layer_test
from tests.models import lstpnet_reference as ref

OFFICIAL_TRAINABLE_PARAMETERS = 24_619_686  # the authors' GenerateModel(7), key list header


@pytest.fixture(scope="module")
def state_dict():
    return ref.random_state_dict(seed=0)


def _video(batch, frames, size, seed=0):
    return np.random.default_rng(seed).uniform(0, 1, (batch, frames, size, size, 3)).astype(
        "float32"
    )


def _run(model, video):
    return keras.ops.convert_to_numpy(model({"video": video}, training=False))


def _subset(sd, prefix, new_prefix="x"):
    return {new_prefix + k[len(prefix):]: v for k, v in sd.items() if k.startswith(prefix + ".")}


# ---------------------------------------------------------------- small layers

def test_fold_unfold_frames(tmp_path):
    x = np.arange(2 * 3 * 4 * 5, dtype="float32").reshape(2, 3, 4, 5)
    folded = run_layer_test(FoldFrames(), x, (6, 4, 5), tmp_path=tmp_path)
    np.testing.assert_array_equal(folded, x.reshape(6, 4, 5))
    back = run_layer_test(UnfoldFrames(frames=3), folded, (2, 3, 4, 5))
    np.testing.assert_array_equal(back, x)
    with pytest.raises(ValueError, match="frames must be >= 1"):
        UnfoldFrames(frames=0)


# ---------------------------------------------------------------- TCE

def test_tce_kernel_and_width_rules_match_the_checkpoint():
    assert [eca_kernel_size(c) for c in (64, 128, 256, 512)] == [3, 5, 5, 5]
    assert [make_divisible(c / 8) for c in (64, 128, 256, 512)] == [8, 16, 32, 64]
    shapes = dict(ref.official_keys())
    for channels, name in ((64, "layer2.0"), (128, "layer2.1"), (256, "layer3.1"),
                           (512, "layer4.1")):
        layer = TemporalChannelExcitation()
        layer.build((None, 4, 2, 2, channels))
        k, r = eca_kernel_size(channels), make_divisible(channels / 8)
        assert shapes[f"s_former.ir_back.{name}.eca.eca_conv_1.0.weight"] == (r, 1, k)
        assert (layer.k, layer.r) == (k, r)


def test_tce_layer_shape_config_and_saving(tmp_path):
    x = np.random.default_rng(0).normal(size=(2, 3, 4, 5, 16)).astype("float32")
    y = run_layer_test(TemporalChannelExcitation(), x, x.shape, tmp_path=tmp_path)
    gate = y / x
    assert np.all((gate > 0) & (gate < 2)), "the TCE gate must lie in (0, 2)"
    with pytest.raises(ValueError, match="positive odd"):
        TemporalChannelExcitation(kernel_size=4)
    with pytest.raises(ValueError, match=r"\(B, T, H, W, C\)"):
        TemporalChannelExcitation()(np.zeros((2, 4, 4, 16), "float32"))


@pytest.mark.parametrize("frames", [4, 3])
def test_tce_matches_numpy_reference(state_dict, frames):
    # layer2.1's TCE: C = 128, r = 16, k = 5; T comes from the input (3 or 4 here).
    sd = _subset(state_dict, "s_former.ir_back.layer2.1.eca")
    layer = TemporalChannelExcitation()
    layer.build((None, frames, 5, 6, 128))
    convert.assign_torch_state_dict(convert.tce_torch_entries("x", layer), sd, "TCE")
    x = np.random.default_rng(1).normal(size=(2, frames, 5, 6, 128)).astype("float32")
    got = keras.ops.convert_to_numpy(layer(x))
    x_nchw = x.reshape(-1, 5, 6, 128).transpose(0, 3, 1, 2).astype(np.float64)
    expected = ref.tce(x_nchw, frames, {k: v.astype(np.float64) for k, v in sd.items()}, "x")
    expected = expected.transpose(0, 2, 3, 1).reshape(x.shape)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-4)


# ---------------------------------------------------------------- LSTformer

def test_lstformer_layers_shape_config_and_saving(tmp_path):
    x = np.random.default_rng(0).normal(size=(2, 5, 12)).astype("float32")
    run_layer_test(LSTformerBlock(heads=2, dim_head=4, mlp_dim=24), x, x.shape)
    run_layer_test(LSTformer(depth=2, heads=2, dim_head=4, mlp_dim=24), x, x.shape,
                   tmp_path=tmp_path)


def test_lstformer_shares_one_temporal_conv_and_norm():
    dim, mlp, heads, dim_head = 12, 24, 2, 4
    layer = LSTformer(depth=3, heads=heads, dim_head=dim_head, mlp_dim=mlp)
    layer.build((None, 5, dim))
    inner = heads * dim_head
    shared = dim * dim * 3 + dim + 2 * dim  # Conv1d(dim, dim, 3) + LayerNorm, once
    block = (2 * dim + dim * 3 * inner + inner * dim + dim + 2 * dim + dim * mlp + mlp
             + 2 * mlp + 3 * mlp + mlp + 2 * mlp + mlp * dim + dim + 2 * dim)
    assert layer.count_params() == shared + 3 * block


def test_lstformer_one_level_matches_numpy_reference(state_dict):
    prefix = "t_former.spatial_transformer"
    sd = {k: v for k, v in _subset(state_dict, prefix).items()
          if not k.startswith("x.layers.1.")}
    layer = LSTformer(depth=1, heads=8, dim_head=64, mlp_dim=4096)
    layer.build((None, 6, 512))
    convert.assign_torch_state_dict(convert.lstformer_torch_entries("x", layer), sd, "LSTformer")
    x = np.random.default_rng(2).normal(size=(2, 6, 512)).astype("float32")
    got = keras.ops.convert_to_numpy(layer(x))
    expected = ref.lstformer(x.astype(np.float64), {k: v.astype(np.float64) for k, v in
                                                    sd.items()}, prefix="x", depth=1)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-4)


# ---------------------------------------------------------------- the model

def test_trainable_parameters_equal_the_official_model():
    model = ferzoo.build("lstpnet", image_size=32, frames=4)  # counts do not depend on size
    trainable = sum(int(np.prod(v.shape)) for v in model.trainable_variables)
    assert trainable == OFFICIAL_TRAINABLE_PARAMETERS


def test_other_frame_counts_and_112_pixels():
    model = ferzoo.build("lstpnet", frames=6, image_size=112, width=8, heads=2, dim_head=8,
                         mlp_dim=32)
    y = _run(model, _video(2, 6, 112))
    assert y.shape == (2, 7) and np.allclose(y.sum(-1), 1.0, atol=1e-5)
    logits = ferzoo.build("lstpnet", preset="tiny", activation="linear")
    assert logits.output.shape == (None, 7) and logits.layers[-1].name == "logits"


def test_converted_model_matches_numpy_reference(state_dict):
    # The official names with DataParallel's prefix: the converter strips it.
    prefixed = {f"module.{k}": v for k, v in state_dict.items()}
    model = convert.lstpnet_from_torch(prefixed, frames=4, image_size=32, activation="linear")
    video = _video(2, 4, 32, seed=3)
    got = _run(model, video)
    expected = ref.lstpnet_logits(video, state_dict)
    assert got.shape == (2, 7)
    assert np.std(expected) > 0.1, "degenerate reference logits: the test would prove little"
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-4)


def test_converter_lists_missing_unexpected_and_wrong_shape_names(state_dict):
    bad = dict(state_dict)
    del bad["fc.bias"]
    del bad["s_former.ir_back.layer3.1.eca.action_p2_conv1.weight"]
    bad["s_former.ir_back.extra.weight"] = np.zeros(3, "float32")
    bad["s_former.ir_back.layer1.0.conv1.weight"] = np.zeros((64, 64, 1, 1), "float32")
    with pytest.raises(convert.ConversionError) as info:
        convert.lstpnet_from_torch(bad, image_size=32, frames=2)
    message = str(info.value)
    assert "missing (2)" in message and "fc.bias" in message
    assert "s_former.ir_back.layer3.1.eca.action_p2_conv1.weight" in message
    assert "unexpected (1)" in message and "s_former.ir_back.extra.weight" in message
    assert "wrong shape (1)" in message and "(64, 64, 1, 1), expected (64, 64, 3, 3)" in message


def test_converter_rejects_tied_weights_that_differ(state_dict):
    bad = dict(state_dict)
    name = "t_former.spatial_transformer.layers.1.0.bias"
    bad[name] = bad[name] + 1.0
    with pytest.raises(convert.ConversionError, match="tied weights"):
        convert.lstpnet_from_torch(bad, image_size=32, frames=2)


def test_num_classes_comes_from_the_checkpoint(state_dict):
    sd = dict(state_dict)
    sd["fc.weight"], sd["fc.bias"] = sd["fc.weight"][:6], sd["fc.bias"][:6]
    assert convert.infer_num_classes(sd) == 6
    with pytest.raises(convert.ConversionError, match="num_classes"):
        convert.infer_num_classes({"a": np.zeros(1)})


# ---------------------------------------------------------------- files

def _tiny_state_dict(seed=4):
    """A random state_dict with the official names at the tiny preset's widths."""
    model = ferzoo.build("lstpnet", preset="tiny")
    keys = [(name, convert._torch_shape(tuple(v.shape), perm))
            for name, v, perm in convert.lstpnet_torch_entries(model)]
    keys += [("s_former.ir_back.bn1.num_batches_tracked", ())]
    return ref.random_state_dict(seed, keys=keys)


def test_npz_round_trip_and_checkpoint_conversion(tmp_path):
    sd = _tiny_state_dict()
    tiny = ferzoo.registry.resolve_kwargs("lstpnet", "tiny")
    overrides = {k: tiny[k] for k in ("frames", "image_size", "width", "heads", "dim_head",
                                      "mlp_dim")}
    path = convert.save_state_dict_npz(sd, tmp_path / "weights.npz")
    loaded = convert.load_state_dict(path)
    assert sorted(loaded) == sorted(sd)
    direct = convert.lstpnet_from_torch(sd, **overrides)
    out = convert.convert_lstpnet_checkpoint(path, tmp_path / "lstpnet.keras", log=None,
                                             **overrides)
    restored = keras.saving.load_model(out)
    video = _video(2, tiny["frames"], tiny["image_size"], seed=5)
    np.testing.assert_allclose(_run(restored, video), _run(direct, video), rtol=0, atol=1e-6)
    expected = ref.lstpnet_logits(video, sd, heads=tiny["heads"])
    logits = keras.Model(restored.inputs, restored.get_layer("logits").output)
    np.testing.assert_allclose(_run(logits, video), expected, rtol=0, atol=1e-4)


def test_pth_needs_torch_or_reads_it(tmp_path):
    path = tmp_path / "weights.pth"
    try:
        import torch
    except ImportError:
        path.write_bytes(b"not read")
        with pytest.raises(ImportError, match=r"pip install ferzoo\[torch\]"):
            convert.load_state_dict(path)
        return
    sd = _tiny_state_dict()
    torch.save({"epoch": 3, "model_state_dict": {k: torch.from_numpy(np.asarray(v))
                                                 for k, v in sd.items()}}, path)
    loaded = convert.load_state_dict(path)
    assert sorted(loaded) == sorted(sd)
    np.testing.assert_array_equal(loaded["fc.weight"], sd["fc.weight"])


# ---------------------------------------------------------------- export

@pytest.mark.slow
def test_tiny_model_exports_to_tflite_builtins_and_onnx(tmp_path):
    model = ferzoo.build("lstpnet", preset="tiny")
    tiny = ferzoo.registry.resolve_kwargs("lstpnet", "tiny")
    video = _video(1, tiny["frames"], tiny["image_size"], seed=6)
    expected = _run(model, video)
    path = runtimes.export_tflite(model, tmp_path / "lstpnet.tflite")
    runtimes.assert_builtin_ops(path)
    np.testing.assert_allclose(runtimes.run_tflite(path, video), expected, rtol=0, atol=1e-5)

    # ONNX with a dynamic batch (exact GELU must not become Erfc, which tf2onnx lacks).
    videos = _video(3, tiny["frames"], tiny["image_size"], seed=7)
    model.export(str(tmp_path / "lstpnet.onnx"), format="onnx", verbose=False)
    got = runtimes.run_onnx(tmp_path / "lstpnet.onnx", videos)
    np.testing.assert_allclose(got, _run(model, videos), rtol=0, atol=1e-5)


# ---------------------------------------------------------------- sampling and recipe

def _official_test_starts(n, segments=8, duration=2):
    """dataset_DFEW.py ``_get_test_indices`` (clips of n > segments + duration - 1)."""
    tick = (n - duration + 1) / float(segments)
    return [int(tick / 2.0 + tick * x) for x in range(segments)]


def _official_frames(starts, n, duration=2):
    frames = []
    for p in starts:
        for _ in range(duration):
            frames.append(p)
            if p < n - 1:
                p += 1
    return frames


@pytest.mark.parametrize("n", [10, 16, 17, 31, 64, 250])
def test_segments_sampling_matches_the_official_test_loader(n):
    from ferzoo.data.sampling import sample_indices

    got = sample_indices("segments", n, 16, training=False).numpy().tolist()
    assert got == _official_frames(_official_test_starts(n), n)


def test_segments_sampling_in_training_jitters_inside_each_segment():
    from ferzoo.data.sampling import sample_indices

    n, seen = 50, set()
    step = (n - 1) // 8  # official average_duration
    for _ in range(30):
        idx = sample_indices("segments", n, 16, training=True).numpy()
        starts, seconds = idx[0::2], idx[1::2]
        np.testing.assert_array_equal(seconds, starts + 1)  # 2 consecutive frames
        segment = (starts - np.arange(8) * step)
        assert np.all((segment >= 0) & (segment < step)), starts
        seen.add(tuple(starts))
    assert len(seen) > 1, "training offsets must be random"
    for n, frames in ((1, 16), (5, 16), (12, 7)):  # short clips, odd T: valid indices
        for training in (False, True):
            idx = sample_indices("segments", n, frames, training=training).numpy()
            assert idx.shape == (frames,) and idx.min() >= 0 and idx.max() <= n - 1


def test_lstpnet_recipe_and_sampling_are_registered():
    from ferzoo.data.sampling import get_sampler
    from ferzoo.training.recipes import get_recipe

    entry = ferzoo.get_entry("lstpnet")
    get_sampler(entry.sampling)
    recipe = get_recipe(entry.recipe)
    assert (recipe.optimizer, recipe.learning_rate, recipe.epochs) == ("sgd", 0.01, 100)


def test_convert_command(tmp_path, capsys):
    from ferzoo.cli import main

    tiny = ferzoo.registry.resolve_kwargs("lstpnet", "tiny")
    path = convert.save_state_dict_npz(_tiny_state_dict(), tmp_path / "w.npz")
    sets = [f"{k}={tiny[k]}" for k in ("frames", "image_size", "width", "heads", "dim_head",
                                         "mlp_dim")]
    assert main(["convert", "lstpnet_weights", str(path), str(tmp_path / "m.keras"),
                 "--set", *sets]) == 0
    assert "wrote" in capsys.readouterr().out and (tmp_path / "m.keras").is_file()

"""Shared test helpers: layer checks, config round-trips, saving, random inputs.

Used by the per-layer tests and by ``test_all_models.py``; a new layer test calls
``run_layer_test`` and gets the serialisation and saving checks for free.
"""

from __future__ import annotations

import inspect
from typing import Any

import keras
import numpy as np


def random_inputs(model: keras.Model, batch: int = 2, seed: int = 0, low=0.0, high=1.0):
    """Random inputs in the structure the model was built with (an array, or a list)."""
    rng = np.random.default_rng(seed)
    out = [
        rng.uniform(low, high, size=(batch,) + tuple(t.shape[1:])).astype("float32")
        for t in model.inputs
    ]
    return out[0] if len(out) == 1 else out


def ferzoo_layers(model: keras.Model) -> list[keras.layers.Layer]:
    """Every layer of ``model`` (nested ones too) whose class is defined in ferzoo."""
    seen, out = set(), []
    for layer in model._flatten_layers(include_self=False, recursive=True):
        if id(layer) in seen:
            continue
        seen.add(id(layer))
        if type(layer).__module__.startswith("ferzoo"):
            out.append(layer)
    return out


def init_arguments(cls: type) -> list[str]:
    """Names of a class's ``__init__`` arguments, less ``self`` and ``**kwargs``."""
    params = inspect.signature(cls.__init__).parameters.values()
    return [
        p.name for p in params
        if p.name != "self" and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)
    ]


def check_config_round_trip(layer: keras.layers.Layer) -> None:
    """Every constructor argument is in ``get_config`` and ``from_config`` restores it."""
    config = layer.get_config()
    missing = [a for a in init_arguments(type(layer)) if a not in config]
    assert not missing, f"{type(layer).__name__}.get_config() lacks {missing}"
    clone = type(layer).from_config(config)
    assert clone.get_config() == config, (
        f"{type(layer).__name__}: from_config(get_config()) gives another config"
    )


def run_layer_test(
    layer: keras.layers.Layer,
    input_data: np.ndarray | list[np.ndarray],
    expected_output_shape: tuple | None = None,
    tmp_path=None,
) -> np.ndarray:
    """Call a layer, check its shape, config round-trip and (with tmp_path) saving.

    Returns the layer's output on ``input_data`` as numpy.
    """
    output = layer(input_data)
    first = output[0] if isinstance(output, (list, tuple)) else output
    if expected_output_shape is not None:
        assert tuple(first.shape) == tuple(expected_output_shape), (
            f"{type(layer).__name__}: output shape {tuple(first.shape)}, "
            f"expected {tuple(expected_output_shape)}"
        )
    if hasattr(layer, "compute_output_shape"):
        in_shape = (
            [tuple(x.shape) for x in input_data]
            if isinstance(input_data, (list, tuple)) else tuple(input_data.shape)
        )
        declared = layer.compute_output_shape(in_shape)
        declared = declared[0] if isinstance(declared, list) else declared
        if isinstance(declared, tuple) and declared and not isinstance(declared[0], tuple):
            assert tuple(declared) == tuple(first.shape), (
                f"{type(layer).__name__}.compute_output_shape gives {declared}, "
                f"call gives {tuple(first.shape)}"
            )
    check_config_round_trip(layer)
    if tmp_path is not None:
        inputs = (
            [keras.Input(x.shape[1:]) for x in input_data]
            if isinstance(input_data, (list, tuple)) else keras.Input(input_data.shape[1:])
        )
        model = keras.Model(inputs, layer(inputs))
        run_model_saving_test(model, input_data, tmp_path)
    return keras.ops.convert_to_numpy(first)


def run_model_saving_test(model: keras.Model, inputs: Any, tmp_path) -> None:
    """A ``.keras`` save/load round trip gives identical outputs."""
    path = tmp_path / "model.keras"
    expected = keras.ops.convert_to_numpy(model(inputs, training=False))
    model.save(path)
    restored = keras.saving.load_model(path)
    got = keras.ops.convert_to_numpy(restored(inputs, training=False))
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-6)

"""The model registry: every paper variant is a named entry point.

A builder is a plain function that returns a ``keras.Model``; registering it with
:func:`register_model` records the paper it comes from, how its input is sampled from a
clip, and the small settings the test-suite uses. ``ferzoo.build(name, **overrides)``
calls it. The pattern follows timm's ``create_model`` (one thin entry point per variant,
``None`` overrides dropped), but a duplicate name raises instead of warning and an
unknown name lists close matches.

Example:

    @register_model(paper="stc_nlstm", tiny=dict(frames=4, image_size=16, width=4))
    def stc_nlstm(num_classes=6, frames=18, image_size=64, channels=3, width=64):
        ...
"""

from __future__ import annotations

import dataclasses
import difflib
import fnmatch
import inspect
from typing import Any, Callable

import keras
import numpy as np

# Short citation of each paper, keyed by the name builders give as ``paper=``.
PAPERS: dict[str, str] = {
    "stc_nlstm": "Yu et al. 2018, Spatio-temporal convolutional features with nested LSTM "
    "for facial expression recognition (Neurocomputing)",
    "hybrid_cnn_rnn": "Jain et al. 2018, Hybrid deep neural networks for face emotion "
    "recognition (Pattern Recognition Letters)",
    "rfscnn": "Zhou, Video expression recognition method based on spatiotemporal "
    "recurrent neural network and feature fusion (RFSCNN)",
    "stcam": "Chen, Zhang, Li and Lee, STCAM: Spatial-temporal and channel attention "
    "module for dynamic facial expression recognition (IEEE TAC)",
    "lstpnet": "Lu et al. 2023, Long short-term perception network for dynamic facial "
    "expression recognition (PRCV 2023)",
}


def papers() -> dict[str, str]:
    """Paper key -> citation, for every paper with registered models."""
    return dict(PAPERS)


class RegistryError(ValueError):
    """A model name or override that the registry cannot honour."""


@dataclasses.dataclass(frozen=True)
class ModelEntry:
    """What the registry knows about one named model.

    Attributes:
        name: registered name, e.g. ``"stcam_baseline"``.
        builder: function returning a ``keras.Model``; keyword arguments only.
        paper: key into :data:`PAPERS`.
        description: one line for tables and ``ferzoo models``.
        defaults: the builder's keyword defaults (the paper's values).
        sampling: name of the temporal sampling mode the pipeline uses for this model
            (see ``ferzoo.data.sampling``).
        streams: the model's inputs, in order; each is a clip stream in the TFRecords
            (``"video"`` for face frames, ``"flow"`` for optical flow).
        presets: named override sets. ``"tiny"`` (required) is what the test-suite
            builds; ``"cpu"`` is a reduced width/resolution that trains on a 2-core CPU.
        recipe: name of the training recipe that reproduces the paper
            (``ferzoo.training.recipes``).
        value_range: the range the model expects its input in.
        head: ``"softmax"`` (class probabilities) or ``"regression"``.
    """

    name: str
    builder: Callable[..., keras.Model]
    paper: str
    description: str
    defaults: dict[str, Any]
    sampling: str = "uniform"
    streams: tuple[str, ...] = ("video",)
    presets: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)
    recipe: str = "default"
    value_range: tuple[float, float] = (0.0, 1.0)
    head: str = "softmax"


_REGISTRY: dict[str, ModelEntry] = {}
_PARAM_CACHE: dict[str, tuple[int, int]] = {}


def trainable_parameters(model: keras.Model) -> int:
    """Trainable weights counted once (tied weights too), as PyTorch's papers count them."""
    return int(sum(int(np.prod(w.shape)) for w in model.trainable_weights))


def register_model(
    name: str | None = None,
    *,
    paper: str,
    tiny: dict[str, Any],
    description: str = "",
    sampling: str = "uniform",
    streams: tuple[str, ...] = ("video",),
    presets: dict[str, dict[str, Any]] | None = None,
    recipe: str = "default",
    value_range: tuple[float, float] = (0.0, 1.0),
    head: str = "softmax",
) -> Callable[[Callable[..., keras.Model]], Callable[..., keras.Model]]:
    """Decorator that registers a model builder under ``name`` (default: its __name__).

    Raises:
        RegistryError: the name is taken, the paper is unknown, or the builder lacks one
            of the common arguments (``num_classes``, ``frames``, ``image_size``,
            ``channels``).
    """
    if paper not in PAPERS:
        raise RegistryError(f"unknown paper {paper!r}; known: {sorted(PAPERS)}")

    def decorator(fn: Callable[..., keras.Model]) -> Callable[..., keras.Model]:
        key = name or fn.__name__
        if key in _REGISTRY:
            raise RegistryError(
                f"model {key!r} is already registered (by "
                f"{_REGISTRY[key].builder.__module__}); pick another name"
            )
        signature = inspect.signature(fn)
        defaults = {
            p.name: p.default
            for p in signature.parameters.values()
            if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)
        }
        missing = {"num_classes", "frames", "image_size", "channels"} - set(defaults)
        if missing:
            raise RegistryError(f"builder {key!r} lacks the common arguments {sorted(missing)}")
        all_presets = {"tiny": dict(tiny), **(presets or {})}
        for preset_name, overrides in all_presets.items():
            unknown = set(overrides) - set(defaults)
            if unknown:
                raise RegistryError(
                    f"preset {preset_name!r} of {key!r} sets {sorted(unknown)}, which the "
                    f"builder does not take"
                )
        doc = (fn.__doc__ or "").strip().splitlines()
        _REGISTRY[key] = ModelEntry(
            name=key,
            builder=fn,
            paper=paper,
            description=description or (doc[0] if doc else key),
            defaults=defaults,
            sampling=sampling,
            streams=tuple(streams),
            presets=all_presets,
            recipe=recipe,
            value_range=value_range,
            head=head,
        )
        return fn

    return decorator


def unregister_model(name: str) -> None:
    """Remove a model (for tests that register temporary ones)."""
    _REGISTRY.pop(name, None)
    _PARAM_CACHE.pop(name, None)


def list_models(pattern: str = "*") -> list[str]:
    """Registered model names matching a shell-style ``pattern``, sorted.

    Names starting with ``_`` (temporary models of tests) are listed only when the
    pattern starts with ``_`` too.
    """
    return sorted(
        n for n in _REGISTRY
        if fnmatch.fnmatchcase(n, pattern) and (not n.startswith("_") or pattern.startswith("_"))
    )


def get_entry(name: str) -> ModelEntry:
    """The :class:`ModelEntry` of ``name``; an unknown name lists close matches."""
    try:
        return _REGISTRY[name]
    except KeyError:
        close = difflib.get_close_matches(name, _REGISTRY, n=3, cutoff=0.5)
        hint = f"did you mean {', '.join(repr(c) for c in close)}?" if close else (
            f"known models: {', '.join(list_models())}"
        )
        raise RegistryError(f"unknown model {name!r}; {hint}") from None


def resolve_kwargs(name: str, preset: str | None = None, **overrides: Any) -> dict[str, Any]:
    """The keyword arguments ``build`` would pass: defaults < preset < overrides.

    ``None`` overrides are dropped (as timm does), so a CLI can pass every flag.
    """
    entry = get_entry(name)
    overrides = {k: v for k, v in overrides.items() if v is not None}
    unknown = sorted(set(overrides) - set(entry.defaults))
    if unknown:
        raise RegistryError(
            f"model {name!r} does not take {', '.join(unknown)}; it accepts: "
            f"{', '.join(sorted(entry.defaults))}"
        )
    kwargs = dict(entry.defaults)
    if preset is not None:
        if preset not in entry.presets:
            raise RegistryError(
                f"model {name!r} has no preset {preset!r}; presets: {sorted(entry.presets)}"
            )
        kwargs.update(entry.presets[preset])
    kwargs.update(overrides)
    return kwargs


def build(name: str, preset: str | None = None, **overrides: Any) -> keras.Model:
    """Build a registered model.

    Args:
        name: a name from :func:`list_models`.
        preset: optional named override set of the model (``"tiny"``, ``"cpu"``, ...).
        **overrides: builder arguments to change (``num_classes=7``, ``frames=16``, ...).

    Returns:
        An unbuilt-weights ``keras.Model`` whose input is named after the clip stream(s).
    """
    kwargs = resolve_kwargs(name, preset, **overrides)
    return get_entry(name).builder(**kwargs)


def model_info(name: str, count_params: bool = True) -> dict[str, Any]:
    """Paper, input spec, defaults and parameter count of a registered model.

    The parameter counts (all weights, and trainable ones: BatchNorm statistics are
    weights in Keras but buffers in PyTorch) build the paper-default model once (no
    forward pass) and are cached for the session.
    """
    entry = get_entry(name)
    info: dict[str, Any] = {
        "name": entry.name,
        "paper": PAPERS[entry.paper],
        "paper_key": entry.paper,
        "description": entry.description,
        "input": {
            "streams": list(entry.streams),
            "frames": entry.defaults["frames"],
            "image_size": entry.defaults["image_size"],
            "channels": entry.defaults["channels"],
            "value_range": list(entry.value_range),
            "sampling": entry.sampling,
        },
        "defaults": dict(entry.defaults),
        "presets": {k: dict(v) for k, v in entry.presets.items()},
        "recipe": entry.recipe,
        "head": entry.head,
    }
    if count_params:
        if name not in _PARAM_CACHE:
            model = entry.builder(**entry.defaults)
            _PARAM_CACHE[name] = (int(model.count_params()), trainable_parameters(model))
            del model
            keras.backend.clear_session()
        info["parameters"], info["trainable_parameters"] = _PARAM_CACHE[name]
    return info

"""The model registry: every paper variant is a named entry point.

A variant is registered by one call of :func:`register_model`: its name, the builder
that makes the ``keras.Model``, the paper it comes from, and its ``defaults`` (the
paper's values of every argument a user may change), given explicitly as timm's
``model_args`` or keras-hub's presets are, never read from a signature.
``ferzoo.build(name, preset, **overrides)`` calls the builder with defaults < preset <
overrides (``None`` overrides dropped, as timm does). What tells two variants of one
paper apart and is not the user's to change (an attention module, a fusion, the inputs)
is bound into the builder with :func:`functools.partial`. A duplicate name raises
instead of warning, and an unknown name lists close matches.

Each model module declares its paper beside its models, as a :class:`Paper`;
:func:`papers` lists the papers that have registered models. ``ferzoo.models``
imports every module in its folder, so adding a paper to the code is one new file
there and nothing else: ``tests/models/test_all_models.py`` then checks each variant's ``tiny``
preset, and the paper's page ``docs/models/<key>.md`` documents it
(``tests/catalog/test_docs.py`` asks for one). A sixth paper, ``ferzoo/models/mynet.py``::

    import functools

    import keras

    from ferzoo.registry import Paper, register_model

    PAPER = Paper("mynet", "Doe et al. 2025, MyNet for dynamic facial expression "
                  "recognition (Venue)")
    WIDTH = 64  # Sec. 3.1


    def mynet(num_classes, frames, image_size, channels, width, attention, name):
        video = keras.Input((frames, image_size, image_size, channels), name="video")
        ...
        return keras.Model(video, outputs, name=name)


    DEFAULTS = dict(num_classes=7, frames=16, image_size=112, channels=3, width=WIDTH)
    PRESETS = {"tiny": dict(frames=4, image_size=16, width=4)}

    register_model(
        "mynet", functools.partial(mynet, attention=True, name="mynet"), paper=PAPER,
        defaults=DEFAULTS, presets=PRESETS, description="MyNet with attention (Table 2)",
    )
    register_model(
        "mynet_plain", functools.partial(mynet, attention=False, name="mynet_plain"),
        paper=PAPER, defaults=DEFAULTS, presets=PRESETS,
        description="MyNet without attention (Table 3 ablation)",
    )
"""

from __future__ import annotations

import dataclasses
import difflib
import fnmatch
from typing import Any, Callable, Mapping

import keras
import numpy as np

# Arguments every model takes: the clip's shape and the number of classes.
COMMON_ARGUMENTS = ("num_classes", "frames", "image_size", "channels")


@dataclasses.dataclass(frozen=True)
class Paper:
    """The paper a model module reproduces.

    Attributes:
        key: short name, e.g. ``"stc_nlstm"``; the docs page is ``docs/models/<key>.md``.
        citation: authors, year, title and venue, as the tables and model cards show it.
    """

    key: str
    citation: str


class RegistryError(ValueError):
    """A model name or override that the registry cannot honour."""


@dataclasses.dataclass(frozen=True)
class ModelEntry:
    """What the registry knows about one named model.

    Attributes:
        name: registered name, e.g. ``"stcam_baseline"``.
        builder: function returning a ``keras.Model``, called with keyword arguments only
            (those of ``defaults``).
        paper: key of the paper (:attr:`Paper.key`).
        description: one line for tables and ``ferzoo models``.
        defaults: the builder's keyword arguments at the paper's values; the arguments
            a user may override.
        sampling: name of the temporal sampling mode the pipeline uses for this model
            (see ``ferzoo.data.sampling``).
        streams: the model's inputs, in order; each is a clip stream in the TFRecords
            (``"video"`` for face frames, ``"flow"`` for optical flow).
        presets: named override sets. ``"tiny"`` (required) is what the test-suite
            builds; ``"cpu"`` is a reduced width/resolution that trains on a 2-core CPU.
        recipe: name of the training recipe that reproduces the paper
            (``ferzoo.training.recipes``): the default of the paper-size model.
        preset_recipes: preset name -> the recipe that preset trains with when no recipe
            is asked for (one measured to learn at the preset's size: a paper's recipe
            was written for the paper's model); presets not listed use ``recipe``.
        value_range: the range the model expects its input in.
        head: ``"softmax"`` (class probabilities) or ``"regression"``.
        citation: the paper's citation (:attr:`Paper.citation`).
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
    citation: str = ""
    preset_recipes: dict[str, str] = dataclasses.field(default_factory=dict)

    def recipe_for(self, preset: str | None = None) -> str:
        """The recipe a run of ``preset`` (None: the paper-size model) trains with."""
        return self.preset_recipes.get(preset, self.recipe) if preset else self.recipe


_REGISTRY: dict[str, ModelEntry] = {}
_PARAM_CACHE: dict[str, tuple[int, int]] = {}


def papers() -> dict[str, str]:
    """Paper key -> citation, for every paper with registered models, sorted by key."""
    return dict(sorted({e.paper: e.citation for e in _REGISTRY.values()}.items()))


def trainable_parameters(model: keras.Model) -> int:
    """Trainable weights counted once (tied weights too), as PyTorch's papers count them."""
    return int(sum(int(np.prod(w.shape)) for w in model.trainable_weights))


def _module_of(builder: Callable[..., Any]) -> str:
    """The module that defines ``builder`` (a ``functools.partial``'s function's too)."""
    return getattr(getattr(builder, "func", builder), "__module__", "?")


def _summary(builder: Callable[..., Any]) -> str:
    """First line of a plain function's docstring ('' for anything else)."""
    if not hasattr(builder, "__code__"):
        return ""
    doc = (builder.__doc__ or "").strip().splitlines()
    return doc[0] if doc else ""


def register_model(
    name: str,
    builder: Callable[..., keras.Model],
    *,
    paper: Paper,
    defaults: Mapping[str, Any],
    presets: Mapping[str, Mapping[str, Any]],
    description: str = "",
    sampling: str = "uniform",
    streams: tuple[str, ...] = ("video",),
    recipe: str = "default",
    value_range: tuple[float, float] = (0.0, 1.0),
    head: str = "softmax",
    preset_recipes: Mapping[str, str] | None = None,
) -> ModelEntry:
    """Register ``builder`` as the model ``name``.

    Args:
        name: the registered name (``ferzoo.build(name)``); names starting with ``_``
            are temporary models, left out of :func:`list_models`.
        builder: returns a ``keras.Model``; called with keyword arguments only, those
            of ``defaults``. Bind what fixes the variant with ``functools.partial``.
        paper: the :class:`Paper` the model comes from.
        defaults: every argument a user may change, at the paper's values; holds the
            common arguments ``num_classes``, ``frames``, ``image_size`` and
            ``channels``.
        presets: named override sets of ``defaults``; ``"tiny"`` (required) is what the
            test-suite builds.
        description: one line for tables; default: the builder's docstring's first line.
        sampling, streams, recipe, value_range, head, preset_recipes: see
            :class:`ModelEntry`.

    Returns:
        The new :class:`ModelEntry`.

    Raises:
        RegistryError: the name is taken, ``paper`` is not a :class:`Paper` or clashes
            with another citation under its key, ``defaults`` lacks one of the common
            arguments, the ``tiny`` preset is missing, or a preset sets an argument that
            is not in ``defaults``, or ``preset_recipes`` names a preset the model lacks.
    """
    if name in _REGISTRY:
        raise RegistryError(
            f"model {name!r} is already registered (by "
            f"{_module_of(_REGISTRY[name].builder)}); pick another name"
        )
    if not isinstance(paper, Paper):
        raise RegistryError(
            f"model {name!r}: paper must be a ferzoo.registry.Paper (declared in the "
            f"model's module), got {paper!r}"
        )
    for other in _REGISTRY.values():
        if other.paper == paper.key and other.citation != paper.citation:
            raise RegistryError(
                f"model {name!r}: paper {paper.key!r} is already declared as "
                f"{other.citation!r} (by {_module_of(other.builder)}); pick another key"
            )
    if not callable(builder):
        raise RegistryError(f"model {name!r}: builder {builder!r} is not callable")
    defaults = dict(defaults)
    missing = set(COMMON_ARGUMENTS) - set(defaults)
    if missing:
        raise RegistryError(
            f"model {name!r} lacks the common arguments {sorted(missing)} in its defaults"
        )
    if "tiny" not in presets:
        raise RegistryError(
            f"model {name!r} has no 'tiny' preset (the small settings the test-suite "
            f"builds); presets: {sorted(presets)}"
        )
    all_presets = {"tiny": dict(presets["tiny"])}
    all_presets.update((k, dict(v)) for k, v in presets.items())
    for preset_name, overrides in all_presets.items():
        unknown = set(overrides) - set(defaults)
        if unknown:
            raise RegistryError(
                f"preset {preset_name!r} of {name!r} sets {sorted(unknown)}, which are not "
                f"among its defaults: {', '.join(sorted(defaults))}"
            )
    preset_recipes = dict(preset_recipes or {})
    unknown_presets = sorted(set(preset_recipes) - set(all_presets))
    if unknown_presets:
        raise RegistryError(
            f"model {name!r}: preset_recipes names presets {unknown_presets} it does not "
            f"have; presets: {sorted(all_presets)}"
        )
    entry = ModelEntry(
        name=name,
        builder=builder,
        paper=paper.key,
        description=description or _summary(builder) or name,
        defaults=defaults,
        sampling=sampling,
        streams=tuple(streams),
        presets=all_presets,
        recipe=recipe,
        value_range=value_range,
        head=head,
        citation=paper.citation,
        preset_recipes=preset_recipes,
    )
    _REGISTRY[name] = entry
    return entry


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
        "paper": entry.citation,
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
        "preset_recipes": {preset: entry.recipe_for(preset) for preset in entry.presets},
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

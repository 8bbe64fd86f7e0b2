"""Dataset converters: a benchmark (or your own videos) in, ferzoo TFRecords out.

    >>> from ferzoo.data.converters import convert
    >>> report = convert("ck+", "/data/CK+", "tfrecords/ckplus", workers=4)  # doctest: +SKIP

Each converter lives in its own module (``ckplus``, ``oulu``, ``mmi``, ``afew``,
``dfew``, ``ferv39k``, ``generic``) and registers itself here with
:func:`register_converter`; its "Preparing <dataset>" page is
``docs/datasets/<name>.md``. The shared machinery is in :mod:`.base`.
"""

from __future__ import annotations

import dataclasses
import difflib
from pathlib import Path
from typing import Any, Callable

from ferzoo.data.converters.base import (
    BASIC6, CANONICAL, WITH_CONTEMPT, WITH_NEUTRAL, ClipItem, ConvertOptions, Discovery,
    canonical_label, load_clip, run_conversion,
)
from ferzoo.video.faces import FaceOptions


@dataclasses.dataclass(frozen=True)
class ConverterEntry:
    """A registered dataset converter.

    Attributes:
        name: the ``DATASET`` of ``ferzoo convert``.
        discover: ``discover(src: Path, **options) -> Discovery``.
        title: the dataset's usual name.
        detect: whether faces are detected by default (off for datasets of face crops).
        size: default stored frame size (the models usually trained on it).
        target_fps: default frame-rate reduction of videos (None: keep all frames).
        options: dataset-specific options, ``name -> (default, help)``.
        aliases: other accepted names.
    """

    name: str
    discover: Callable[..., Discovery]
    title: str
    detect: bool = True
    size: int = 64
    target_fps: float | None = None
    options: dict[str, tuple[Any, str]] = dataclasses.field(default_factory=dict)
    aliases: tuple[str, ...] = ()

    @property
    def doc(self) -> str:
        return f"docs/datasets/{self.name}.md"


CONVERTERS: dict[str, ConverterEntry] = {}
_ALIASES: dict[str, str] = {}


def register_converter(name: str, *, title: str, detect: bool = True, size: int = 64,
                       target_fps: float | None = None,
                       options: dict[str, tuple[Any, str]] | None = None,
                       aliases: tuple[str, ...] = ()) -> Callable:
    """Decorator registering ``discover`` functions; a duplicate name raises."""

    def decorator(discover: Callable[..., Discovery]) -> Callable[..., Discovery]:
        for key in (name, *aliases):
            if key in CONVERTERS or key in _ALIASES:
                raise ValueError(f"converter name {key!r} is already registered")
        CONVERTERS[name] = ConverterEntry(name, discover, title, detect, size, target_fps,
                                          dict(options or {}), tuple(aliases))
        for alias in aliases:
            _ALIASES[alias] = name
        return discover

    return decorator


def list_converters() -> list[str]:
    return sorted(CONVERTERS)


def get_converter(name: str) -> ConverterEntry:
    key = name.strip().lower()
    key = _ALIASES.get(key, key)
    if key in CONVERTERS:
        return CONVERTERS[key]
    close = difflib.get_close_matches(key, list(CONVERTERS) + list(_ALIASES), n=3)
    hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    raise ValueError(f"unknown dataset {name!r}{hint} (known: {', '.join(list_converters())})")


def convert(dataset: str, src: str | Path, out: str | Path, *, workers: int = 1,
            size: int | None = None, detect: bool | None = None, flow: bool = False,
            flow_method: str = "dis", length: int | None = None, length_mode: str = "uniform",
            target_fps: float | None = -1.0, face: FaceOptions | dict | None = None,
            pad: str = "zero", eye_floor: float | None = None, image_format: str = "jpeg",
            clips_per_shard: int = 32, progress: bool = True,
            **dataset_options: Any) -> dict[str, Any]:
    """Convert a dataset tree ``src`` into TFRecords under ``out``.

    Args:
        dataset: a registered name (``ferzoo.data.converters.list_converters()``).
        src: the dataset's root as distributed (see its docs page for the layout).
        out: output folder; a rerun resumes an interrupted conversion.
        workers: processes converting shards in parallel (the output does not depend on it).
        size: stored frame side (default: the dataset's, e.g. 64 for CK+, 224 for DFEW).
        detect: detect and align faces (default: the dataset's; off for face crops).
        flow, flow_method: add an optical-flow stream (``"dis"`` or ``"farneback"``).
        length, length_mode: store a fixed number of frames per clip (see
            :class:`~ferzoo.data.converters.base.ConvertOptions`).
        target_fps: frame-rate reduction of videos (default: the dataset's; ``None``: off).
        face: :class:`~ferzoo.video.faces.FaceOptions` (or a dict of its fields).
        pad, eye_floor: alignment options.
        dataset_options: the converter's own options (``ferzoo convert DATASET --help``).

    Returns:
        The conversion report (see ``conversion_report.json``).
    """
    entry = get_converter(dataset)
    unknown = set(dataset_options) - set(entry.options)
    if unknown:
        raise ValueError(f"{entry.name}: unknown option(s) {sorted(unknown)}; its options "
                         f"are {sorted(entry.options) or 'none'}")
    src = Path(src)
    if not src.exists():
        raise FileNotFoundError(f"{entry.name}: source {src} does not exist")
    if isinstance(face, dict):
        face = FaceOptions(**face)
    options = ConvertOptions(
        size=size or entry.size, detect=entry.detect if detect is None else bool(detect),
        face=face or FaceOptions(), pad=pad, eye_floor=eye_floor, length=length,
        length_mode=length_mode, flow=flow, flow_method=flow_method,
        target_fps=entry.target_fps if target_fps == -1.0 else target_fps,
        image_format=image_format,
    )
    kwargs = {k: v[0] for k, v in entry.options.items()}
    kwargs.update({k: v for k, v in dataset_options.items() if v is not None})
    discovery = entry.discover(src, **kwargs)
    return run_conversion(discovery, out, source=entry.name, options=options, workers=workers,
                          clips_per_shard=clips_per_shard, progress=progress, src=str(src))


# Importing the dataset modules registers them.
from ferzoo.data.converters import (  # noqa: E402,F401
    afew, ckplus, dfew, ferv39k, generic, mmi, oulu,
)

__all__ = [
    "BASIC6", "CANONICAL", "CONVERTERS", "ClipItem", "ConvertOptions", "ConverterEntry",
    "Discovery", "WITH_CONTEMPT", "WITH_NEUTRAL", "canonical_label", "convert",
    "get_converter", "list_converters", "load_clip", "register_converter", "run_conversion",
]

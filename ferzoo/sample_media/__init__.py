"""Small real media shipped inside the package, for the notebooks, docs and a first try.

    >>> from ferzoo import sample_media
    >>> sample_media.names()
    ['smiling_man.mp4']
    >>> video = sample_media.path("smiling_man.mp4")   # a pathlib.Path to the file

``smiling_man.mp4``: 480x270, 12.5 fps, 62 frames (about 5 s), one man, frontal,
smiling, turning his head; converted from Intel's ``head-pose-face-detection-male``
sample (CC BY 4.0, Intel Corporation). It has no expression label. Attributions are
in ``SOURCES.md`` beside the files; keep them wherever the media are shown.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

# Not media: the attributions and this module.
_NOT_MEDIA = {"SOURCES.md", "__init__.py"}


def names() -> list[str]:
    """File names of the sample media, sorted."""
    folder = resources.files(__name__)
    return sorted(p.name for p in folder.iterdir()
                  if p.is_file() and p.name not in _NOT_MEDIA and not p.name.endswith(".pyc"))


def path(name: str = "smiling_man.mp4") -> Path:
    """The path of a sample file (default: the smiling man video).

    Raises:
        FileNotFoundError: no sample of that name; the message lists those there are.
    """
    found = Path(str(resources.files(__name__) / name))
    if name in _NOT_MEDIA or not found.is_file():
        raise FileNotFoundError(f"no sample medium {name!r} in ferzoo.sample_media; "
                                f"have {names()}")
    return found

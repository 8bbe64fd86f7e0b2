"""ferzoo: a Keras 3 model zoo for dynamic (video) facial expression recognition.

    >>> import ferzoo
    >>> ferzoo.list_models("stc*")           # doctest: +SKIP
    >>> model = ferzoo.build("stc_nlstm")     # doctest: +SKIP

Importing ferzoo registers every model (``ferzoo.models``) and every custom layer
(``ferzoo.layers``), so a saved ``.keras`` file loads with ``keras.saving.load_model``.
The export stack is imported on first use: ``ferzoo.export.export(model, "out/")``;
``ferzoo.load(path)`` opens a ``.keras`` file, a run folder or an export folder.
"""

from __future__ import annotations

import importlib as _importlib
import os as _os

# Keras 3 on the TensorFlow backend is a fixed choice of this project.
_os.environ.setdefault("KERAS_BACKEND", "tensorflow")
_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from ferzoo import layers, models  # noqa: E402,F401  (registers layers and models)
from ferzoo.registry import (  # noqa: E402
    Paper,
    RegistryError,
    build,
    get_entry,
    list_models,
    model_info,
    register_model,
)

__version__ = "0.1.0"

# Subpackages reached on first attribute access (``ferzoo.export.export(...)``).
_LAZY = ("catalog", "data", "export", "inference", "training", "video", "weights")


def __getattr__(name: str):
    if name == "load":  # ferzoo.load(path): a .keras file, a run folder or an export folder
        from ferzoo.inference.loading import load

        return load
    if name in _LAZY:
        return _importlib.import_module(f"ferzoo.{name}")
    raise AttributeError(f"module 'ferzoo' has no attribute {name!r}")


__all__ = [
    "Paper",
    "RegistryError",
    "build",
    "get_entry",
    "list_models",
    "load",
    "model_info",
    "register_model",
    "__version__",
]

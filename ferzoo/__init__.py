"""ferzoo: a Keras 3 model zoo for dynamic (video) facial expression recognition.

    >>> import ferzoo
    >>> ferzoo.list_models("stc*")           # doctest: +SKIP
    >>> model = ferzoo.build("stc_nlstm")     # doctest: +SKIP
"""

from __future__ import annotations

import os as _os

# Keras 3 on the TensorFlow backend is a fixed choice of this project.
_os.environ.setdefault("KERAS_BACKEND", "tensorflow")
_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from ferzoo.registry import (  # noqa: E402
    RegistryError,
    build,
    get_entry,
    list_models,
    model_info,
    register_model,
)
from ferzoo.export import export  # noqa: E402  (the function shadows the module name)

__version__ = "0.1.0"

__all__ = [
    "RegistryError",
    "build",
    "export",
    "get_entry",
    "list_models",
    "model_info",
    "register_model",
    "__version__",
]

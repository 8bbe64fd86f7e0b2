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
import sys as _sys

# Keras 3 on the TensorFlow backend is a fixed choice of this project.
_os.environ.setdefault("KERAS_BACKEND", "tensorflow")


def _is_command_line() -> bool:
    """Whether this process is the ``ferzoo`` command (its module or its script)."""
    first = _os.path.basename(_sys.argv[0]) if _sys.argv else ""
    return first in ("ferzoo", "-m") or _sys.argv[0].endswith(
        (_os.path.join("ferzoo", "__main__.py"), _os.path.join("cli", "__main__.py")))


def _quiet_start() -> None:
    """Import TensorFlow without its start-up lines on stderr (CUDA probing, absl, oneDNN).

    Shown again with ``FERZOO_VERBOSE=1`` or ``ferzoo --verbose``. The C++ side logs some
    lines before its log level applies, so stderr is set aside while TensorFlow loads
    (and replayed if the import fails). The command line also hides TensorFlow's C++
    errors about absent GPUs (``TF_CPP_MIN_LOG_LEVEL=3``); its own errors are Python
    exceptions, reported as such.
    """
    verbose = _os.environ.get("FERZOO_VERBOSE", "") not in ("", "0") or (
        _is_command_line() and "--verbose" in _sys.argv[1:])
    if verbose:
        return
    _os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3" if _is_command_line() else "2")
    _os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
    if "tensorflow" in _sys.modules:
        return
    import tempfile

    try:
        _sys.stderr.flush()
        saved = _os.dup(2)
    except (OSError, ValueError):  # no real stderr (some notebook kernels): nothing to hide
        _importlib.import_module("tensorflow")
        return
    with tempfile.TemporaryFile() as held:
        _os.dup2(held.fileno(), 2)
        try:
            _importlib.import_module("tensorflow")
        except BaseException:
            _os.dup2(saved, 2)
            held.seek(0)
            _sys.stderr.write(held.read().decode(errors="replace"))
            raise
        finally:
            _os.dup2(saved, 2)
            _os.close(saved)
    import logging

    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    try:
        from absl import logging as absl_logging

        absl_logging.set_verbosity(absl_logging.ERROR)
    except ImportError:
        pass


_quiet_start()

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

"""A run folder on disk: its checkpoints, and the trained model it holds.

The layout (``ferzoo.training.trainer`` writes it)::

    run.json                 what was asked for (model, preset, overrides, recipe, data ...)
    state.json               completed epochs, best epoch, history: the resume point
    ckpt/epoch-0007.*        weights (.weights.h5) and optimiser state (.opt.npz) of the
                             last completed epoch
    best.weights.h5          weights of the best validation epoch
    model.keras              the selected model, ready for ``keras.saving.load_model``

Every file is written to a temporary name and renamed, so a killed run leaves either the
old or the new file, never half of one.

One process at a time writes into a run folder: :func:`lock_run_folder` holds an
operating-system lock on ``.lock`` (``filelock``) while it writes, and names its process
in ``.lock.pid``, so a second writer is refused at once with the holder's process id.
The operating system drops the lock when its process dies, so the lock of a killed run
is taken over by the next one.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import warnings
import zipfile
from pathlib import Path
from typing import Any, Iterator

import filelock
import keras
import numpy as np

from ferzoo import registry
from ferzoo.data.writer import atomic_write_text
from ferzoo.errors import RunFolderError, WeightsError

BEST_WEIGHTS = "best.weights.h5"
LOCK = ".lock"


@contextlib.contextmanager
def lock_run_folder(folder: str | os.PathLike) -> Iterator[Path]:
    """Hold ``folder`` (created if needed) for this process while the block runs.

    Raises :class:`RunFolderError` ("run folder X is in use by process N") at once when
    another live process holds it; the lock of a dead process is free (the operating
    system releases it), so it is taken over.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    lock = filelock.FileLock(str(folder / LOCK))
    try:
        lock.acquire(timeout=0)
    except filelock.Timeout:
        try:
            holder = (folder / f"{LOCK}.pid").read_text().strip() or "?"
        except OSError:
            holder = "?"
        raise RunFolderError(
            f"run folder {folder} is in use by process {holder}; wait for it to finish "
            "or write to another folder") from None
    try:
        atomic_write_text(folder / f"{LOCK}.pid", str(os.getpid()))
        yield folder
    finally:
        with contextlib.suppress(OSError):
            (folder / f"{LOCK}.pid").unlink()
        lock.release()


def load_model_file(path: str | os.PathLike) -> keras.Model:
    """A ``.keras`` file as a model (``safe_mode``: no code from the file runs).

    Raises :class:`WeightsError` for a file that is not a Keras model file."""
    path = Path(path)
    if not zipfile.is_zipfile(path):
        raise WeightsError(f"{path} is not a Keras model file (a .keras file is a zip "
                           "archive of config.json and model.weights.h5; this one is not)")
    try:
        return keras.saving.load_model(path, safe_mode=True)
    except (ValueError, KeyError, TypeError, OSError, zipfile.BadZipFile) as error:
        first = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise WeightsError(f"{path} is not a Keras model file ferzoo can open: "
                           f"{first[:300]}") from error


def weights_mismatch(error: Exception) -> str:
    """Keras's error for weights that do not fit a model, in one line (no tensor dump)."""
    text = str(error)
    found = re.search(r"A total of (\d+) objects could not be loaded", text)
    parts = [f"{found.group(1)} of its layers do not match"] if found else []
    shapes = re.search(r"variable\.shape=(\([^)]*\)), Received: value\.shape=(\([^)]*\))",
                       text)
    if shapes:
        name = re.search(r"Target variable: <Variable path=([^,]+),", text)
        parts.append(f"e.g. {name.group(1) if name else 'a weight'} has shape "
                     f"{shapes.group(1)} in the model but {shapes.group(2)} in the file")
    if not parts:
        parts.append((text.strip().splitlines() or [type(error).__name__])[0][:300])
    return "; ".join(parts)


def load_weights_file(model: keras.Model, path: str | os.PathLike, what: str = "") -> None:
    """Load a ``.weights.h5`` file into ``model``; one paragraph when it does not fit
    (``what`` names the model in it), or when it is not a Keras weights file."""
    import h5py

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no weights at {path}")
    if not h5py.is_hdf5(path):
        raise WeightsError(f"{path} is not a Keras weights file (.weights.h5 files are "
                           "HDF5; this one is not)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # per-layer notes; the error says it all
            model.load_weights(path)
    except (ValueError, KeyError) as error:
        raise WeightsError(
            f"{path} does not fit {what or repr(model.name)}: {weights_mismatch(error)}. "
            "Give the model, --preset and --set the weights were trained with."
        ) from None


def save_checkpoint(root: Path, epoch: int, model: keras.Model, optimizer,
                    state: dict[str, Any]) -> None:
    """Weights and optimiser state of ``epoch`` into ``root/ckpt``, then ``state.json``
    naming them; older checkpoints are removed once the new state is written."""
    ckpt = root / "ckpt"
    ckpt.mkdir(exist_ok=True)
    stem = ckpt / f"epoch-{epoch:04d}"
    model.save_weights(f"{stem}.tmp.weights.h5")
    os.replace(f"{stem}.tmp.weights.h5", f"{stem}.weights.h5")
    opt_values = [np.asarray(v.numpy()) for v in optimizer.variables]
    with open(f"{stem}.tmp.opt.npz", "wb") as f:
        np.savez(f, *opt_values)
    os.replace(f"{stem}.tmp.opt.npz", f"{stem}.opt.npz")
    state = dict(state, checkpoint=str(stem.name))
    atomic_write_text(root / "state.json", json.dumps(state, indent=1))
    for old in ckpt.glob("epoch-*"):
        if not old.name.startswith(stem.name):
            old.unlink()


def restore_checkpoint(run_dir: Path, state: dict[str, Any], model: keras.Model,
                       optimizer) -> None:
    """Load the checkpoint ``state`` names into ``model`` and ``optimizer``."""
    stem = run_dir / "ckpt" / state["checkpoint"]
    load_weights_file(model, f"{stem}.weights.h5")
    with np.load(f"{stem}.opt.npz") as saved:
        values = [saved[f"arr_{i}"] for i in range(len(saved.files))]
    if len(values) != len(optimizer.variables):
        raise ValueError(f"{stem}.opt.npz does not match the optimiser of this model")
    for variable, value in zip(optimizer.variables, values):
        variable.assign(value)


def load_run(run_dir: str | os.PathLike) -> tuple[keras.Model, dict[str, Any]]:
    """The selected model of a finished run and its ``run.json``."""
    run_dir = Path(run_dir)
    info_path = run_dir / "run.json"
    if not info_path.exists():
        raise FileNotFoundError(f"{run_dir} is not a ferzoo run folder (no run.json)")
    info = json.loads(info_path.read_text())
    model_path = run_dir / "model.keras"
    if model_path.exists():
        model = load_model_file(model_path)
    else:
        model = registry.build(info["config"]["model"], **info["model_kwargs"])
        weights = run_dir / BEST_WEIGHTS
        if not weights.exists():
            raise FileNotFoundError(f"{run_dir} has no trained weights yet")
        load_weights_file(model, weights)
    return model, info

"""A run folder on disk: its checkpoints, and the trained model it holds.

The layout (``ferzoo.training.trainer`` writes it)::

    run.json                 what was asked for (model, preset, overrides, recipe, data ...)
    state.json               completed epochs, best epoch, history: the resume point
    ckpt/epoch-0007.*        weights (.weights.h5) and optimiser state (.opt.npz) of the
                             last completed epoch
    ckpt/best-0005.weights.h5  weights of the best validation epoch, as state.json names it
    best.weights.h5          a copy of them, refreshed after each commit
    model.keras              the selected model, ready for ``keras.saving.load_model``

Every file is written to a temporary name and renamed, so a killed run leaves either the
old or the new file, never half of one. An epoch has one commit point, the rename of
``state.json`` (:func:`save_checkpoint`): the files it names are written before it, and
only files no state names are deleted after it.

One process at a time writes into a run folder: :func:`lock_run_folder` holds an
operating-system lock on ``.lock`` (``filelock``) while it writes, and names its process
in ``.lock.pid``, so a second writer is refused at once with the holder's process id.
The operating system drops the lock when its process dies, so the lock of a killed run
is taken over by the next one.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import shutil
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
STATE = "state.json"
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


def read_json(path: Path, fix: str) -> dict[str, Any]:
    """A run folder's JSON file; a damaged one is an error naming it and ``fix``."""
    try:
        return json.loads(Path(path).read_text())
    except ValueError as error:
        raise RunFolderError(f"{path} is damaged ({error}); {fix}") from None


def read_state(run_dir: Path) -> dict[str, Any] | None:
    """The resume point of a run folder (``state.json``), or None for a new run.

    Checkpoints without a ``state.json`` are refused rather than trained over: the state
    alone records which epochs finished and which was best.
    """
    run_dir = Path(run_dir)
    path = run_dir / STATE
    restart = (f"delete {run_dir / 'ckpt'} and {run_dir / BEST_WEIGHTS} to train again "
               "from epoch 1")
    if not path.exists():
        found = sorted((run_dir / "ckpt").glob("epoch-*.weights.h5"))
        if found:
            raise RunFolderError(
                f"{run_dir} has checkpoints ({found[-1].name}) but no {STATE}, which "
                f"records the finished epochs and the best one; restore {path}, or {restart}")
        return None
    state = read_json(path, f"it records the finished epochs: restore it, or {restart}")
    if not isinstance(state, dict) or not {"epoch", "history", "best"} <= set(state):
        raise RunFolderError(f"{path} is not a ferzoo training state; restore it, or {restart}")
    missing = [f for f in _state_files(run_dir, state) if not f.exists()]
    if missing:
        raise RunFolderError(f"{path} names {missing[0]}, which is missing; restore it, "
                             f"or {restart}")
    return state


def _state_files(root: Path, state: dict[str, Any]) -> list[Path]:
    """The files a state names: its checkpoint and its best weights."""
    files = []
    if state.get("checkpoint"):
        stem = root / "ckpt" / state["checkpoint"]
        files += [Path(f"{stem}.weights.h5"), Path(f"{stem}.opt.npz")]
    if state.get("best_weights"):
        files.append(root / "ckpt" / state["best_weights"])
    return files


def checkpoint_bytes(model: keras.Model, opt_values: list) -> int:
    """An upper estimate of a checkpoint's size on disk (HDF5 adds about 2 KB a weight)."""
    weights = sum(int(np.prod(w.shape)) * np.dtype(w.dtype).itemsize for w in model.weights)
    return weights + 3072 * len(model.weights) + sum(v.nbytes for v in opt_values) + (1 << 16)


def ensure_space(path: Path, needed: int) -> None:
    """Raise ``OSError(ENOSPC)`` naming ``path`` when its disk has less than ``needed``
    bytes free: HDF5 (h5py) can crash the process on a full disk instead of raising."""
    free = shutil.disk_usage(path.parent).free
    if free < needed:
        raise OSError(errno.ENOSPC, f"No space left on device (a checkpoint needs about "
                                    f"{needed / 1e6:.1f} MB, {free / 1e6:.1f} MB are free)",
                      str(path))


def save_checkpoint(root: Path, epoch: int, model: keras.Model, optimizer,
                    state: dict[str, Any], best: bool = False) -> dict[str, Any]:
    """Commit ``epoch``: one commit point for its weights, the best weights and the state.

    Weights and optimiser state go to ``root/ckpt/epoch-NNNN.*`` and, when the epoch is
    the best so far (``best``), its weights to ``ckpt/best-NNNN.weights.h5``; then
    ``state.json``, naming them, replaces the old one in one rename: the commit point. A
    run killed before it resumes from the previous state, whose files are still there.
    After it, ``best.weights.h5`` is refreshed from the state's best file, and files no
    state names any longer are removed. Returns the committed state.
    """
    ckpt = root / "ckpt"
    ckpt.mkdir(exist_ok=True)
    stem = ckpt / f"epoch-{epoch:04d}"
    opt_values = [np.asarray(v.numpy()) for v in optimizer.variables]
    ensure_space(Path(f"{stem}.tmp.weights.h5"), checkpoint_bytes(model, opt_values))
    model.save_weights(f"{stem}.tmp.weights.h5")
    os.replace(f"{stem}.tmp.weights.h5", f"{stem}.weights.h5")
    with open(f"{stem}.tmp.opt.npz", "wb") as f:
        np.savez(f, *opt_values)
    os.replace(f"{stem}.tmp.opt.npz", f"{stem}.opt.npz")
    state = dict(state, checkpoint=str(stem.name))
    if best:
        name = f"best-{epoch:04d}.weights.h5"
        _link_or_copy(Path(f"{stem}.weights.h5"), ckpt / name)
        state["best_weights"] = name
    atomic_write_text(root / STATE, json.dumps(state, indent=1))  # the commit point
    publish_best(root, state)
    keep = {f.name for f in _state_files(root, state)}
    for old in ckpt.iterdir():
        if old.name not in keep:
            old.unlink()
    return state


def publish_best(root: Path, state: dict[str, Any]) -> None:
    """``best.weights.h5`` as the state's best weights (atomic; after a commit and on
    resume, so it never holds an epoch the state does not record)."""
    if not state.get("best_weights"):
        return
    _link_or_copy(root / "ckpt" / state["best_weights"], root / BEST_WEIGHTS)


def _link_or_copy(source: Path, target: Path) -> None:
    """``target`` atomically replaced by the contents of ``source``: a hard link where
    the file system has them (no extra space; files here are never changed in place,
    only replaced), else a copy."""
    if target.exists() and os.path.samefile(source, target):
        return  # (a rename onto another link of the same file would do nothing)
    tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    try:
        os.link(source, tmp)
    except OSError:
        shutil.copyfile(source, tmp)
    os.replace(tmp, target)


def restore_checkpoint(run_dir: Path, state: dict[str, Any], model: keras.Model,
                       optimizer) -> None:
    """Load the checkpoint ``state`` names into ``model`` and ``optimizer``."""
    stem = run_dir / "ckpt" / state["checkpoint"]
    load_weights_file(model, f"{stem}.weights.h5")
    with np.load(f"{stem}.opt.npz", allow_pickle=False) as saved:
        values = [saved[f"arr_{i}"] for i in range(len(saved.files))]
    if len(values) != len(optimizer.variables):
        raise RunFolderError(f"{stem}.opt.npz does not match the optimiser of this model")
    for variable, value in zip(optimizer.variables, values):
        variable.assign(value)


def run_progress(run_dir: str | os.PathLike, info: dict[str, Any]) -> tuple[int, int, bool]:
    """``(epochs done, epochs planned, finished)`` of a run folder."""
    run_dir = Path(run_dir)
    planned = int(info.get("recipe", {}).get("epochs") or 0)
    if (run_dir / "result.json").exists():
        result = read_json(run_dir / "result.json", "rerun ferzoo train to write it again")
        return int(result.get("epochs", planned)), planned, True
    state = read_state(run_dir) or {"epoch": 0}
    done = int(state["epoch"])
    return done, planned, bool(state.get("stopped_early")) or (0 < planned <= done)


def load_run(run_dir: str | os.PathLike) -> tuple[keras.Model, dict[str, Any]]:
    """The selected model of a finished run and its ``run.json``."""
    run_dir = Path(run_dir)
    info_path = run_dir / "run.json"
    if not info_path.exists():
        raise FileNotFoundError(f"{run_dir} is not a ferzoo run folder (no run.json)")
    info = read_json(info_path, "it records how the run was made; restore it, or train "
                                "again into a new folder")
    model_path = run_dir / "model.keras"
    if model_path.exists():
        model = load_model_file(model_path)
    else:
        model = registry.build(info["config"]["model"], **info["model_kwargs"])
        state = read_state(run_dir) or {}
        weights = run_dir / BEST_WEIGHTS
        if state.get("best_weights"):  # the committed best, whatever a kill left behind
            weights = run_dir / "ckpt" / state["best_weights"]
        if not weights.exists():
            raise FileNotFoundError(f"{run_dir} has no trained weights yet")
        load_weights_file(model, weights)
    return model, info

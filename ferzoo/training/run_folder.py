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
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import keras
import numpy as np

from ferzoo import registry
from ferzoo.data.writer import atomic_write_text

BEST_WEIGHTS = "best.weights.h5"


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
    model.load_weights(f"{stem}.weights.h5")
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
        model = keras.saving.load_model(model_path)
    else:
        model = registry.build(info["config"]["model"], **info["model_kwargs"])
        weights = run_dir / BEST_WEIGHTS
        if not weights.exists():
            raise FileNotFoundError(f"{run_dir} has no trained weights yet")
        model.load_weights(weights)
    return model, info

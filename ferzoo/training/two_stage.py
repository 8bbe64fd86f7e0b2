"""Two-stage training of the hybrid CNN-RNN (Jain et al. 2018, Sec. 3.3).

The paper trains the frame CNN on single images first, then fixes it, drops its output
layer, extracts the 200-d features of the P frames before time t and trains the RNN on
them. :func:`train_two_stage` does the same with the ordinary trainer, so both stages
get its validation hold-out, checkpoints, resume and test report:

    stage 1: ``hybrid_cnn`` (or ``hybrid_cnn_valence``) with ``frames=1``: the frame CNN
             on the last frame of every clip (the peak of a neutral -> peak clip), with
             the hybrid's CNN settings and, unless a recipe is given, the frame CNN's
             recipe at the hybrid's preset;
    stage 2: ``hybrid_cnn_rnn`` (or any ``hybrid_cnn_rnn*``) built with
             ``cnn_weights=<stage 1 model.keras>, freeze_cnn=True``: the CNN is fixed,
             its features are computed on the fly (so augmentation still varies per
             epoch) and only the IRNN and its head train.

    stage 3 (only with ``fine_tune_epochs``, not in the paper): the whole hybrid, CNN
             unfrozen, starting from stage 2's weights at a tenth of its learning rate.

End-to-end training is the plain ``ferzoo train --model hybrid_cnn_rnn``.

Run folder of ``train_two_stage(model, out)``::

    out/stage1_cnn/    the trainer's run folder of the frame CNN (its test report is the
                       paper's "CNN" row)
    out/stage2_rnn/    the trainer's run folder of the hybrid (model.keras: video -> class)
    out/stage3_finetune/  with fine-tuning: the hybrid trained end to end from stage 2
    out/result.json    the results of every stage

The sweep of the IRNN's size on cached CNN features (Tables 2 and 3) and the linear
probes of the CNN's features are repository tools: ``tools/hybrid_sweep.py``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Callable

from ferzoo import registry
from ferzoo.data.writer import atomic_write_text
from ferzoo.training.trainer import train

# Stage-1 model for each head of the hybrid.
STAGE1_MODELS = {"softmax": "hybrid_cnn", "regression": "hybrid_cnn_valence"}
# Arguments the stage-1 CNN shares with the hybrid (num_classes comes from the data).
CNN_ARGUMENTS = ("image_size", "channels", "filters", "kernel_size", "fc_units", "dropout",
                 "weight_decay")


def check_hybrid(model: str) -> registry.ModelEntry:
    entry = registry.get_entry(model)
    if not {"cnn_weights", "freeze_cnn"} <= set(entry.defaults):
        choices = [n for n in registry.list_models("*") if
                   {"cnn_weights", "freeze_cnn"} <= set(registry.get_entry(n).defaults)]
        raise ValueError(
            f"two-stage training needs a model built on a frame CNN (one that takes "
            f"cnn_weights and freeze_cnn); {model!r} is not; use one of {choices}"
        )
    return entry


def stage1_arguments(model: str, preset: str | None, overrides: dict[str, Any]) -> dict:
    """The stage-1 CNN's builder overrides: the hybrid's CNN settings and ``frames=1``."""
    kwargs = registry.resolve_kwargs(model, preset, **overrides)
    out = {k: kwargs[k] for k in CNN_ARGUMENTS if k in kwargs}
    if "num_classes" in overrides:
        out["num_classes"] = overrides["num_classes"]
    out["frames"] = 1
    return out


def stage1_training(cnn_model: str, preset: str | None, options: dict[str, Any]) -> dict:
    """The stage-1 CNN's training options: the hybrid's, and with no recipe asked, the
    recipe of the frame CNN at the hybrid's preset (the CNN is built with the preset's
    settings as overrides, not as the preset, so the trainer alone would pick the
    paper's recipe for it)."""
    out = dict(options)
    if out.get("recipe") is None:
        out["recipe"] = registry.get_entry(cnn_model).recipe_for(preset)
    return out


def train_two_stage(
    model: str = "hybrid_cnn_rnn",
    out_dir: str | os.PathLike | None = None,
    *,
    preset: str | None = None,
    overrides: dict[str, Any] | None = None,
    stage1_epochs: int | None = None,
    fine_tune_epochs: int | None = None,
    fine_tune_learning_rate: float | None = None,
    **options: Any,
) -> dict[str, Any]:
    """Train the frame CNN, freeze it, then train the hybrid's RNN on its features.

    Args:
        model: a ``hybrid_cnn_rnn*`` model.
        out_dir: run folder (default ``runs/<model>``); rerun to resume either stage.
        preset, overrides: as for ``ferzoo.training.trainer.train``; the stage-1 CNN is
            built with the same CNN settings (image size, channels, filters, ...).
        stage1_epochs: epochs of stage 1 (default: the same as stage 2).
        fine_tune_epochs: if set, a third stage trains the whole hybrid (the CNN no longer
            frozen) for this many epochs from stage 2's weights; the test report is then
            stage 3's. A named departure from the paper, which keeps the CNN fixed.
        fine_tune_learning_rate: stage 3's learning rate (default: a tenth of stage 2's).
        **options: the other options of ``train`` (data, recipe, epochs, batch_size, ...),
            used by both stages.

    Returns:
        ``{"stage1": ..., "stage2": ..., "test": <stage-2 test report>, ...}``.
    """
    entry = check_hybrid(model)
    overrides = dict(overrides or {})
    if overrides.get("cnn_weights"):
        raise ValueError("two-stage training makes its own cnn_weights; do not set it")
    out = Path(out_dir or Path("runs") / model)
    log: Callable[[str], None] = options.get("log", print)
    cnn_model = STAGE1_MODELS[entry.head]
    stage1_options = stage1_training(cnn_model, preset, options)
    if stage1_epochs is not None:
        stage1_options["epochs"] = stage1_epochs
    stages = 3 if fine_tune_epochs else 2
    log(f"two-stage training of {model}, stage 1/{stages}: frame CNN ({cnn_model}, one "
        f"frame per clip) in {out / 'stage1_cnn'}")
    stage1 = train(cnn_model, out / "stage1_cnn", preset=None,
                   overrides=stage1_arguments(model, preset, overrides), **stage1_options)
    weights = out / "stage1_cnn" / "model.keras"
    log(f"stage 2/{stages}: {model} on the frozen CNN ({weights}) in {out / 'stage2_rnn'}")
    stage2 = train(model, out / "stage2_rnn", preset=preset,
                   overrides=dict(overrides, cnn_weights=str(weights), freeze_cnn=True),
                   **options)
    result = {"model": model, "run": str(out), "two_stage": True, "stage1": stage1,
              "stage2": stage2, "best": stage2.get("best"), "epochs": stage2.get("epochs")}
    if "test" in stage2:
        result["test"] = stage2["test"]
    if fine_tune_epochs:
        stage3 = fine_tune(model, out, preset, overrides, fine_tune_epochs,
                           fine_tune_learning_rate, options)
        result.update(stage3=stage3, best=stage3.get("best"), epochs=stage3.get("epochs"))
        result.pop("test", None)
        if "test" in stage3:
            result["test"] = stage3["test"]
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "result.json", json.dumps(result, indent=1, default=str))
    return result


def fine_tune(model: str, out: Path, preset: str | None, overrides: dict[str, Any],
              epochs: int, learning_rate: float | None, options: dict[str, Any]) -> dict:
    """Stage 3: the hybrid end to end (CNN trainable) from stage 2's weights."""
    log: Callable[[str], None] = options.get("log", print)
    stage2 = out / "stage2_rnn"
    if learning_rate is None:
        recipe = json.loads((stage2 / "run.json").read_text())["recipe"]
        learning_rate = recipe["learning_rate"] / 10
    log(f"stage 3/3: {model} end to end from {stage2 / 'model.keras'} (learning rate "
        f"{learning_rate:g}, {epochs} epochs) in {out / 'stage3_finetune'}")
    return train(model, out / "stage3_finetune", preset=preset,
                 overrides=dict(overrides, freeze_cnn=False),
                 init_weights=str(stage2 / "model.keras"),
                 **dict(options, epochs=epochs, learning_rate=learning_rate))

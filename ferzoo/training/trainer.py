"""The trainer: one custom loop that runs under any ``tf.distribute`` strategy.

Keras 3 ``model.fit`` fails under MultiWorkerMirroredStrategy (keras-team/keras#20585),
so training is a loop around ``strategy.run``; it keeps what callbacks would give:
a progress bar, CSV and TensorBoard logs, a checkpoint after every epoch, resume from
the last completed epoch, model selection on a held-out validation part (never the test
split), and early stopping.

The run folder (:mod:`ferzoo.training.run_folder`: ``run.json``, ``state.json``, the
last checkpoint, ``best.weights.h5``, ``model.keras``) also holds ``history.csv``,
``tensorboard/``, ``test_report.json``, ``test_confusion.png`` and
``test_predictions.csv``.

Distribution (docs/distributed.md): the strategy comes from ``--strategy`` (``auto``:
MultiWorkerMirrored when ``TF_CONFIG`` names a cluster, else Mirrored over the local
GPUs). The recipe's ``batch_size`` is the global batch (``--per-replica-batch`` asks for
per-replica batch x replicas instead); each replica gets global / replicas clips, and the
loss is averaged over the global batch, so a step on N replicas equals a step on one
device with the same global batch. Every worker takes exactly ``steps`` steps per epoch
(the training data repeats, so a worker whose file shard is short never runs out). Only
the chief writes into the run folder; the other workers write their copies to a temporary
folder that is deleted (TensorFlow's multi-worker recipe), and on restart every worker
loads the chief's last checkpoint, which therefore must be on storage all workers share.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import json
import os
import shutil
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any, Callable

import keras
import numpy as np
import tensorflow as tf

from ferzoo import registry
from ferzoo.data.pipeline import (
    DataError,
    InputSpec,
    clip_counts,
    data_fingerprint,
    dataset_dir,
    dataset_labels,
    make_dataset,
    resolve_files,
    skipped_clips,
)
from ferzoo.data import records
from ferzoo.data.synthetic import SyntheticConfig, ensure_synthetic
from ferzoo.data.writer import atomic_write_text
from ferzoo.errors import FerzooError, RunFolderError, UsageError
from ferzoo.training.distribute import (
    PEER_ERRORS,
    ClusterError,
    classification_loss,
    dtype_policy,
    float32_output_problems,
    is_chief,
    make_strategy,
    make_train_step,
    regression_loss,
    resolve_batch_and_lr,
)
from ferzoo.training.evaluate import (
    classification_report,
    evaluate_model,
    predict_dataset,
)
from ferzoo.training.labels import check_labels
from ferzoo.training.protocols import has_fixed_split, holdout_subjects, protocol_fold
from ferzoo.training.recipes import Recipe, get_recipe
from ferzoo.training.run_folder import (
    BEST_WEIGHTS,
    lock_run_folder,
    publish_best,
    read_json,
    read_state,
    restore_checkpoint,
    save_checkpoint,
)


@dataclasses.dataclass
class TrainConfig:
    """Everything a run depends on; stored as ``run.json`` and checked on resume."""

    model: str
    out_dir: str
    preset: str | None = None
    overrides: dict[str, Any] = dataclasses.field(default_factory=dict)
    recipe: str | None = None
    data: str | None = None
    val_data: str | None = None
    test_data: str | None = None
    epochs: int | None = None
    batch_size: int | None = None
    learning_rate: float | None = None
    val_fraction: float = 0.15
    seed: int = 0
    strategy: str = "auto"
    patience: int | None = None
    skip_corrupt: bool = False
    max_steps_per_epoch: int | None = None
    data_root: str = "tfrecords"
    synthetic: dict[str, Any] = dataclasses.field(default_factory=dict)
    # Folds (ferzoo.training.protocols): subject include lists on data / test_data;
    # val_subjects (of data) replaces the random holdout.
    train_subjects: list[str] | None = None
    val_subjects: list[str] | None = None
    test_subjects: list[str] | None = None
    # A dataset without a fixed train split (one ``all`` split): which fold of its
    # protocol holds out the test subjects (None: fold 1; protocols.protocol_fold).
    fold: int | None = None
    # Scale (docs/distributed.md).
    per_replica_batch: int | None = None
    scale_lr: str = "none"
    mixed_precision: str | None = None
    jit: bool = False
    cache: str | None = None  # "records" or "frames": make_dataset's cache of training data
    # Weights to start from (a .keras or .weights.h5 of the same architecture), e.g. the
    # two-stage hybrid's stage 2 when it is fine-tuned end to end; a resumed run restores
    # its own checkpoint instead.
    init_weights: str | None = None

    # Fields that may change between a run and its resumption.
    _MUTABLE = ("epochs", "patience", "skip_corrupt", "strategy", "jit", "cache")
    # Fields naming places: compared by what they hold, not by how they are spelled.
    _PATHS = ("out_dir", "data", "val_data", "test_data", "data_root")

    def identity(self) -> dict[str, Any]:
        return {k: v for k, v in dataclasses.asdict(self).items() if k not in self._MUTABLE}


class Trainer:
    """Trains one registered model as ``TrainConfig`` says; ``run()`` does it all.

    ``progress`` shows a Keras progress bar per epoch; ``log`` receives status lines.
    """

    def __init__(self, config: TrainConfig, progress: bool = True,
                 log: Callable[[str], None] = print):
        self.config = config
        self.progress = progress
        self.log = log
        self.out = Path(config.out_dir)
        self.entry = registry.get_entry(config.model)
        # The named recipe (its batch is the reference of --scale-lr), then as asked; run()
        # settles the global batch and the learning rate once the replicas are known.
        # No recipe asked: the preset's (one that learns at its size), else the paper's.
        self.base_recipe: Recipe = get_recipe(
            config.recipe or self.entry.recipe_for(config.preset))
        self.recipe: Recipe = self.base_recipe.replace(
            epochs=config.epochs, batch_size=config.batch_size,
            learning_rate=config.learning_rate,
        )

    # ----------------------------------------------------------------- set-up
    def _check_run_folder(self) -> dict[str, Any] | None:
        """For an existing run folder, check it holds this run; return its resume point.

        Settings are compared as values; the folder and the data as what they are, not as
        spelled (``runs/x/``, an absolute path and a moved folder are the same run; the
        data is compared by content once resolved, :meth:`_check_same_data`).
        """
        self.out.mkdir(parents=True, exist_ok=True)
        run_file = self.out / "run.json"
        identity = json.loads(json.dumps(self.config.identity()))
        self._previous: dict[str, Any] | None = None
        if run_file.exists():
            self._previous = read_json(
                run_file, "it records how the run was made; restore it, or train into "
                "another --out")
            previous = self._previous.get("config", {})
            # A field missing from an older run.json counts as its default.
            defaults = json.loads(json.dumps(TrainConfig(model="", out_dir="").identity()))
            changed = sorted(
                k for k in set(identity) | set(previous)
                if k not in TrainConfig._PATHS
                and identity.get(k) != previous.get(k, defaults.get(k))
            )
            if changed:
                raise RunFolderError(
                    f"{self.out} holds another run (it differs in {changed}); resume it with "
                    "the same settings or pick another --out"
                )
        return read_state(self.out)

    def _data_identity(self) -> dict[str, Any]:
        identity = {"train": data_fingerprint(self.train_files)}
        if self.val_files is not self.train_files:
            identity["val"] = data_fingerprint(self.val_files)
        if self.test_files:
            identity["test"] = data_fingerprint(self.test_files)
        return identity

    def _check_same_data(self) -> None:
        """A resumed run trains on the data it started with (by content, not path)."""
        previous = self._previous
        if not previous:
            return
        if "data_identity" in previous:
            before, now = previous["data_identity"], self._data_identity()
            differs = sorted(k for k in set(before) | set(now) if before.get(k) != now.get(k))
        else:  # an older run.json: compare the training files where they are
            before = sorted(os.path.realpath(f) for f in previous.get("train_files", []))
            differs = [] if before == sorted(map(os.path.realpath, self.train_files)) else [
                "train"]
        if differs:
            raise RunFolderError(
                f"{self.out} holds a run on other data (its {', '.join(differs)} data "
                "differ in files or content); resume it with the same data or pick another "
                "--out")

    def _protocol_data(self) -> bool:
        """A converted dataset without a fixed train split: hold out by its protocol."""
        cfg = self.config
        data = cfg.data
        if not (isinstance(data, (str, os.PathLike)) and os.path.isdir(data)
                and os.path.isfile(os.path.join(data, "manifest.json"))):
            if cfg.fold is not None:
                raise DataError("--fold picks a fold of a converted dataset folder's "
                                f"protocol; {data!r} is not one")
            return False
        if has_fixed_split(data):
            if cfg.fold is not None:
                raise DataError(f"{data} has a fixed train/test split, used as it is; "
                                "--fold applies to datasets converted as one 'all' split")
            return False
        if cfg.train_subjects is not None or cfg.test_subjects is not None:
            raise DataError("give either subject lists or a dataset folder to split by its "
                            "protocol, not both")
        fold, self.protocol, lines = protocol_fold(data, cfg.fold, cfg.val_fraction, cfg.seed)
        for line in lines:
            self.log(line)
        self.train_files = fold.train.files(data)
        self.train_subjects = list(fold.train.subjects or []) or None
        self.test_files = fold.test.files(data) if cfg.test_data is None else \
            resolve_files(cfg.test_data, "test")
        self.test_subjects = (list(fold.test.subjects) if cfg.test_data is None
                              and fold.test.subjects is not None else None)
        self._protocol_val = [] if fold.val is None else list(fold.val.subjects or [])
        return True

    def _resolve_data(self) -> None:
        cfg = self.config
        self.protocol: dict[str, Any] | None = None
        self.train_subjects = cfg.train_subjects
        self.test_subjects = cfg.test_subjects
        self._protocol_val: list[str] | None = None
        if self._protocol_data():
            pass
        elif cfg.data is None:

            synthetic = SyntheticConfig.from_settings(cfg.synthetic, "--synthetic")
            folder = ensure_synthetic(cfg.data_root, synthetic)
            self.train_files = resolve_files(folder, "train")
            self.test_files = resolve_files(cfg.test_data or folder, "test")
        else:
            self.train_files = resolve_files(cfg.data, "train")
            self.test_files = resolve_files(cfg.test_data, "test") if cfg.test_data else None
        self.labels = dataset_labels(self.train_files)
        counts = clip_counts(self.train_files)
        val_subjects = cfg.val_subjects if self._protocol_val is None else self._protocol_val
        if self.train_subjects is not None:
            keep = set(self.train_subjects) | set(val_subjects or [])
            counts = {s: n for s, n in counts.items() if s in keep}
        if cfg.val_data:
            self.val_files = resolve_files(cfg.val_data, "val")
            self.val_subjects = None
        elif val_subjects is not None:
            self.val_files = self.train_files
            self.val_subjects = list(val_subjects)
        else:
            self.val_files = self.train_files
            self.val_subjects = holdout_subjects(counts, cfg.val_fraction, cfg.seed)
        self._check_other_labels()
        held = set(self.val_subjects or [])
        self.num_train = sum(n for s, n in counts.items() if s not in held)
        if self.num_train == 0:
            raise DataError(f"no training clips in {dataset_dir(self.train_files)}")

    def _check_other_labels(self) -> None:
        """--val-data and --test-data must have the training data's labels (or a subset)."""
        self._val_map = None
        for flag, files in (("--val-data", self.val_files if self.config.val_data else None),
                            ("--test-data", self.test_files if self.config.test_data else None)):
            if not files or self.labels is None:
                continue
            index_map, note = check_labels(
                self.labels, dataset_labels(files), data=f"{flag} {dataset_dir(files)}",
                model=f"the training data {dataset_dir(self.train_files)}")
            if note:
                self.log(f"note: {note}")
            if flag == "--val-data":
                self._val_map = index_map

    def _model_kwargs(self) -> dict[str, Any]:
        kwargs = dict(self.config.overrides)
        if self.labels and self.entry.head == "softmax":
            asked = kwargs.get("num_classes")
            if asked is not None and asked != len(self.labels):
                raise DataError(
                    f"--set num_classes={asked} but the data has {len(self.labels)} labels "
                    f"{self.labels}"
                )
            kwargs["num_classes"] = len(self.labels)
        return kwargs

    # ------------------------------------------------------------ checkpoints
    def _save_epoch(self, epoch: int, state: dict[str, Any], best: bool) -> dict[str, Any]:
        # Every worker saves (reading a variable may need all of them), into save_root:
        # weights, best weights and state, with one commit point (run_folder).
        return save_checkpoint(self.save_root, epoch, self.model, self.optimizer, state,
                               best=best)

    def _restore(self, state: dict[str, Any]) -> None:
        """Load the chief's last checkpoint (every worker does, from the run folder)."""
        restore_checkpoint(self.out, state, self.model, self.optimizer)
        if self.save_root == self.out:
            publish_best(self.out, state)  # as committed, whatever a kill left behind
        elif state.get("best_weights"):
            # Nobody writes it now: the chief is restoring too (or waiting for us).
            (self.save_root / "ckpt").mkdir(exist_ok=True)
            best = self.out / "ckpt" / state["best_weights"]
            shutil.copyfile(best, self.save_root / "ckpt" / state["best_weights"])
            shutil.copyfile(best, self.save_root / BEST_WEIGHTS)

    # --------------------------------------------------------------- training
    def _loss_fn(self):
        if self.entry.head == "regression":
            return regression_loss
        return classification_loss(self.recipe.label_smoothing)

    def _dataset_fn(self, per_replica_batch: int):
        # Repeated: an epoch is a fixed number of steps, the same on every worker, and a
        # worker whose shard ends early starts it again instead of leaving the others
        # waiting in an all-reduce. (An empty shard still ends: repeat() stops then.)
        def fn(context: tf.distribute.InputContext):
            return make_dataset(
                self.train_files, self.spec, training=True, batch_size=per_replica_batch,
                subjects=self.train_subjects,
                exclude_subjects=self.val_subjects, augment=self.recipe.augment,
                num_classes=self._num_classes, target=self._target,
                seed=self.config.seed, input_context=context,
                skip_corrupt=self.config.skip_corrupt, cache=self.config.cache or False,
            ).repeat()
        return fn

    def _validate(self) -> dict[str, float]:
        if self.val_subjects == []:
            return {}
        ds = make_dataset(
            self.val_files, self.spec, training=False, batch_size=self.recipe.batch_size,
            subjects=self.val_subjects, augment=self.recipe.augment,
            num_classes=self._num_classes, target=self._target,
            skip_corrupt=self.config.skip_corrupt,
        )
        out, y, _, _ = predict_dataset(self.model, ds)
        if self._val_map is not None and self.val_subjects is None:
            y = self._val_map[y.astype(np.int64)]
        if self._target == "valence":
            return {"val_loss": float(np.mean((out[:, 0] - y) ** 2))}
        probs = np.clip(out, 1e-7, 1.0)
        nll = float(-np.mean(np.log(probs[np.arange(len(y)), y.astype(int)])))
        names = self.labels or [str(i) for i in range(out.shape[-1])]
        report = classification_report(out, y, names)
        return {"val_loss": nll, "val_accuracy": report["war"], "val_uar": report["uar"]}

    def _data_error(self, error: tf.errors.OpError) -> Exception:
        """Turn a failure inside the input pipeline into an error naming the record."""
        return records.data_error(self.train_files + (self.test_files or []), error)

    def _account_skips(self) -> dict[str, Any] | None:
        """With ``skip_corrupt``: clips planned, read and skipped per split, printed."""
        if not self.config.skip_corrupt:
            return None
        splits = {"train": self.train_files}
        if self.val_files is not self.train_files:
            splits["val"] = self.val_files
        if self.test_files:
            splits["test"] = self.test_files
        accounts = {}
        for split, files in splits.items():
            accounts[split] = skipped_clips(files)
            if accounts[split]["skipped"]:
                self.log(f"{split} data: {records.describe_skips(accounts[split])}")
        return accounts

    def _build(self, steps: int) -> None:
        """Model and optimiser under the strategy, in the run's dtype policy."""
        cfg = self.config
        with self.strategy.scope(), dtype_policy(cfg.mixed_precision):
            try:
                self.model = registry.build(cfg.model, cfg.preset, **self._model_kwargs())
            except ValueError as error:
                if isinstance(error, FerzooError):
                    raise
                raise UsageError(
                    f"cannot build {cfg.model} (preset {cfg.preset}) with the settings "
                    f"{cfg.overrides}: {str(error).splitlines()[0]}") from error
            if cfg.init_weights:
                load_initial_weights(self.model, cfg.init_weights)
            self.optimizer = self.recipe.make_optimizer(steps)
            if cfg.mixed_precision == "mixed_float16":
                # float16 gradients underflow without loss scaling; bfloat16 has float32's
                # exponent range and needs none.
                self.optimizer = keras.optimizers.LossScaleOptimizer(self.optimizer)
            self.optimizer.build(self.model.trainable_variables)
        if cfg.mixed_precision:
            for problem in float32_output_problems(self.model):
                self.log(f"warning: {problem} (the loss is computed in float32 regardless)")

    def run(self) -> dict[str, Any]:
        """Train (resuming if the run folder has a checkpoint), select, test, report."""
        cfg = self.config
        keras.utils.set_random_seed(cfg.seed)
        # The strategy first: MultiWorkerMirrored must configure TensorFlow at start-up.
        self.strategy = make_strategy(cfg.strategy)
        self.chief = is_chief(self.strategy)
        # Non-chief workers write their checkpoints where nobody reads them (TensorFlow's
        # multi-worker recipe): the run folder is the chief's, and the chief holds it.
        with lock_run_folder(self.out) if self.chief else contextlib.nullcontext():
            state = self._check_run_folder()
            self.save_root = self.out if self.chief else Path(
                tempfile.mkdtemp(prefix="ferzoo-worker-"))
            try:
                return self._run(state)
            finally:
                if not self.chief:
                    shutil.rmtree(self.save_root, ignore_errors=True)

    def _run(self, state: dict[str, Any] | None) -> dict[str, Any]:
        cfg = self.config
        self._resolve_data()
        self._check_same_data()
        self.skipped = self._account_skips()
        replicas = self.strategy.num_replicas_in_sync
        global_batch, lr = resolve_batch_and_lr(
            self.base_recipe, replicas, batch_size=cfg.batch_size,
            per_replica_batch=cfg.per_replica_batch, learning_rate=cfg.learning_rate,
            scale_lr=cfg.scale_lr)
        self.recipe = self.recipe.replace(batch_size=global_batch, learning_rate=lr)
        steps = max(1, self.num_train // global_batch)
        if cfg.max_steps_per_epoch:
            steps = min(steps, cfg.max_steps_per_epoch)
        self._build(steps)
        self._target = "valence" if self.entry.head == "regression" else "label"
        self._num_classes = None if self._target == "valence" else self.model.outputs[0].shape[-1]
        self.spec = InputSpec.from_model(self.model, self.entry.sampling)
        if self.chief:
            atomic_write_text(self.out / "run.json", json.dumps({
                "config": json.loads(json.dumps(cfg.identity())),
                "model_kwargs": registry.resolve_kwargs(cfg.model, cfg.preset,
                                                        **self._model_kwargs()),
                "labels": self.labels, "spec": dataclasses.asdict(self.spec),
                "recipe": dataclasses.asdict(self.recipe), "replicas": replicas,
                "train_files": [os.path.abspath(f) for f in self.train_files],
                "data_identity": self._data_identity(), "val_subjects": self.val_subjects,
                "protocol": self.protocol,
            }, indent=1, default=str))
        state = state or {"epoch": 0, "history": [], "best": None}
        if state["epoch"]:
            self._restore(state)
            self.log(f"resuming {cfg.model} from epoch {state['epoch']} in {self.out}")
        self.log(
            f"training {cfg.model} ({self.model.count_params():,} parameters) on "
            f"{self.num_train} clips, {steps} steps/epoch of {global_batch} clips on "
            f"{replicas} replica(s) (learning rate {lr:g}"
            f"{', ' + cfg.mixed_precision if cfg.mixed_precision else ''}"
            f"{', XLA' if cfg.jit else ''}); "
            f"validation subjects: {len(self.val_subjects or [])}"
        )
        train_step = make_train_step(
            self.strategy, self.model, self.optimizer, self._loss_fn(), global_batch,
            count_correct=self._target == "label", jit=cfg.jit)
        dist_ds = self.strategy.distribute_datasets_from_function(
            self._dataset_fn(global_batch // replicas))
        batches = iter(dist_ds)  # one iterator for the whole run: the data repeats
        writer = tf.summary.create_file_writer(str(self.out / "tensorboard")) if self.chief else None
        wait = 0
        interactive = self.progress and sys.stdout.isatty()
        try:
            for epoch in range(state["epoch"], self.recipe.epochs):
                self.log(f"epoch {epoch + 1}/{self.recipe.epochs}")
                # A live bar on a terminal; in logs (CI, nohup) a line every 30 s.
                bar = keras.utils.Progbar(steps, verbose=1 if interactive else 0,
                                          stateful_metrics=["loss", "accuracy"])
                start, total_loss, total_correct, seen = time.time(), 0.0, 0.0, 0
                last_line = start
                for step_index in range(steps):
                    try:
                        inputs, y = next(batches)
                    except StopIteration:
                        raise DataError(
                            "the training pipeline gave no batch; are there enough clips "
                            f"(at least {global_batch // replicas} per input pipeline)?"
                        ) from None
                    loss, correct = train_step(inputs, y)
                    total_loss += float(loss)
                    total_correct += float(correct)
                    seen += global_batch
                    bar.update(step_index + 1, [("loss", total_loss / (step_index + 1)),
                                                ("accuracy", total_correct / seen)])
                    if self.progress and not interactive and time.time() - last_line > 30:
                        last_line = time.time()
                        self.log(f"  step {step_index + 1}/{steps}  loss "
                                 f"{total_loss / (step_index + 1):.4f}  accuracy "
                                 f"{total_correct / seen:.4f}  "
                                 f"{seen / (last_line - start):.1f} clips/s")
                row = {"epoch": epoch + 1, "loss": total_loss / (seen // global_batch),
                       "accuracy": total_correct / seen, "seconds": round(time.time() - start, 2),
                       "clips_per_second": round(seen / (time.time() - start), 2)}
                row.update(self._validate())
                improved = self._is_better(row, state["best"])
                if improved:
                    state["best"] = {k: row[k] for k in row if k.startswith("val") or k == "epoch"}
                    wait = 0
                else:
                    wait += 1
                state["history"].append(row)
                state["epoch"] = epoch + 1
                self._log_epoch(row, writer, state["history"])
                state = self._save_epoch(epoch + 1, state, best=improved)
                if cfg.patience and wait > cfg.patience:
                    self.log(f"early stop: no validation gain in {cfg.patience} epochs")
                    state["stopped_early"] = True
                    break
        except PEER_ERRORS as error:
            if isinstance(self.strategy, tf.distribute.MultiWorkerMirroredStrategy):
                raise ClusterError(
                    f"a worker of the cluster failed or cannot be reached "
                    f"({type(error).__name__} in an all-reduce); restart every worker with "
                    f"the same command: training resumes after epoch {state['epoch']} "
                    f"from {self.out / 'state.json'}") from error
            raise self._data_error(error) from error
        except tf.errors.OpError as error:
            raise self._data_error(error) from error
        return self._finish(state)

    @staticmethod
    def _is_better(row: dict[str, float], best: dict[str, float] | None) -> bool:
        if "val_loss" not in row:
            return True  # no validation part: the last epoch is kept
        if best is None:
            return True
        if "val_accuracy" in row:
            key = (row["val_accuracy"], -row["val_loss"])
            return key > (best["val_accuracy"], -best["val_loss"])
        return row["val_loss"] < best["val_loss"]

    def _log_epoch(self, row: dict[str, float], writer, rows: list[dict]) -> None:
        self.log("  " + "  ".join(
            f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}" for k, v in row.items()))
        if not self.chief:
            return
        keys = list(dict.fromkeys(k for r in rows for k in r))
        tmp = self.out / ".history.csv.tmp"
        with open(tmp, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=keys)
            w.writeheader()
            w.writerows(rows)
        os.replace(tmp, self.out / "history.csv")
        with writer.as_default():
            for key, value in row.items():
                if key != "epoch":
                    tf.summary.scalar(key, value, step=row["epoch"])
            writer.flush()

    def _finish(self, state: dict[str, Any]) -> dict[str, Any]:
        if (self.save_root / "best.weights.h5").exists():
            self.model.load_weights(self.save_root / "best.weights.h5")
        result: dict[str, Any] = {"model": self.config.model, "run": str(self.out),
                                  "epochs": state["epoch"], "best": state["best"]}
        if self.skipped is not None:
            result["skipped_data"] = self.skipped
        self.model.save(self.save_root / "model.keras")
        if self.test_files and self._target == "label":
            names = self.labels or [str(i) for i in range(self._num_classes)]
            report = evaluate_model(
                self.model, self.test_files, self.spec, names,
                batch_size=self.recipe.batch_size, out_dir=self.out if self.chief else None,
                augment=self.recipe.augment, subjects=self.test_subjects,
                title=f"{self.config.model} on {dataset_dir(self.test_files).name}",
                record={"protocol": self.protocol} if self.protocol else None,
                labels_known=self.labels is not None,
                skip_corrupt=self.config.skip_corrupt,
            )
            result["test"] = {k: report[k] for k in ("num_clips", "war", "uar",
                                                       "per_class_recall")}
            if self.protocol:
                result["protocol"] = self.protocol
            self.log(f"test: WAR {report['war']:.2%}  UAR {report['uar']:.2%} "
                     f"on {report['num_clips']} clips (unseen subjects)")
        if self.chief:
            atomic_write_text(self.out / "result.json", json.dumps(result, indent=1))
        return result


def load_initial_weights(model: keras.Model, path: str | os.PathLike) -> None:
    """Load ``path`` (a ``.keras`` or ``.weights.h5`` file of the same architecture) into
    ``model``; a missing or mismatched file is a :class:`UsageError` naming it."""
    if not os.path.isfile(path):
        raise UsageError(f"init_weights {str(path)!r} does not exist")
    # Keras may skip a part of the file that does not match and only warn ("Skipping ...":
    # those layers keep their initial weights); such a warning counts as a mismatch here.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            model.load_weights(path)
            problem = next((str(w.message) for w in caught
                            if str(w.message).startswith("Skipping")), None)
        except ValueError as error:
            problem = str(error)
    if problem:
        raise UsageError(f"init_weights {str(path)!r} do not fit {model.name}: "
                         f"{' '.join(problem.split())[:400]}")


def train(model: str, out_dir: str | os.PathLike | None = None, **options: Any) -> dict[str, Any]:
    """Train a registered model; see :class:`TrainConfig` for the options.

    Returns the result (best validation epoch and, when a test split is known, the test
    WAR/UAR); the run folder holds the logs, checkpoints and reports.
    """
    progress = options.pop("progress", True)
    log = options.pop("log", print)
    config = TrainConfig(model=model, out_dir=str(out_dir or Path("runs") / model), **options)
    return Trainer(config, progress=progress, log=log).run()

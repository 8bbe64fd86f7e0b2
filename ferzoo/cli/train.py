"""``ferzoo train``, ``evaluate``, ``crossval``, ``compare``, ``svm``: training and protocols.

The library is imported inside each command, so that ``ferzoo --help`` answers without
loading TensorFlow.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import sys
from typing import Any

from ferzoo.cli.common import (
    fraction,
    model_settings,
    non_negative_int,
    parse_assignments,
    positive_float,
    positive_int,
)
from ferzoo.errors import UsageError


def end_to_end_note(model: str, two_stage: bool, overrides: dict[str, Any]) -> str | None:
    """A hint when a hybrid CNN-RNN is about to train end to end from scratch."""
    from ferzoo import registry

    if two_stage or overrides.get("cnn_weights") or model not in registry.list_models("*"):
        return None
    if not {"cnn_weights", "freeze_cnn"} <= set(registry.get_entry(model).defaults):
        return None
    return (f"note: trained end to end from scratch, {model} stayed at chance for 30 epochs "
            "on the synthetic data (docs/models/hybrid_cnn_rnn.md); --two-stage trains it "
            "the paper's way (frame CNN first, then the RNN on its frozen features)")


def folder_lock(path: str):
    """Hold a run folder for this command (:func:`ferzoo.training.run_folder.
    lock_run_folder`); in a cluster (``TF_CONFIG``) every worker runs the command on the
    same folder, and the trainer's chief holds each run folder instead."""
    from ferzoo.training.run_folder import lock_run_folder

    return contextlib.nullcontext() if os.environ.get("TF_CONFIG") else lock_run_folder(path)


def cmd_train(args) -> int:
    from ferzoo.data.synthetic.config import SyntheticConfig
    from ferzoo.training.trainer import train
    from ferzoo.training.two_stage import train_two_stage

    overrides = model_settings(args.set, args.model, args.preset)
    synthetic = parse_assignments(args.synthetic, "--synthetic")
    if args.data is None:  # checked before anything is written
        SyntheticConfig.from_settings(synthetic, "--synthetic")
    note = end_to_end_note(args.model, args.two_stage, overrides)
    if note:
        print(note, file=sys.stderr)
    # hybrid_cnn_rnn* with --two-stage: the frame CNN first, then the RNN on it frozen
    # (each stage's trainer holds its own folder, this command the folder of both)
    run = train
    if args.two_stage:
        run = functools.partial(train_two_stage, fine_tune_epochs=args.fine_tune_epochs,
                                fine_tune_learning_rate=args.fine_tune_lr)
    elif args.fine_tune_epochs or args.fine_tune_lr:
        raise UsageError("--fine-tune-epochs and --fine-tune-lr are a third stage of "
                         "--two-stage training; add --two-stage")
    out = args.out or os.path.join("runs", args.model)
    with folder_lock(out) if args.two_stage else contextlib.nullcontext():
        result = run_training(run, args, out, overrides, synthetic)
    print(json.dumps(result, indent=1))
    return 0


def run_training(run, args, out: str, overrides: dict[str, Any],
                 synthetic: dict[str, Any]) -> dict[str, Any]:
    return run(
        args.model, out_dir=out, preset=args.preset, overrides=overrides,
        recipe=args.recipe, data=args.data, val_data=args.val_data, test_data=args.test_data,
        epochs=args.epochs, batch_size=args.batch_size, learning_rate=args.lr,
        val_fraction=args.val_fraction, seed=args.seed, strategy=args.strategy,
        patience=args.patience, skip_corrupt=args.skip_corrupt,
        max_steps_per_epoch=args.max_steps_per_epoch, data_root=args.data_root,
        synthetic=synthetic, progress=not args.quiet,
        per_replica_batch=args.per_replica_batch, scale_lr=args.scale_lr,
        mixed_precision=args.mixed_precision, jit=args.jit, cache=args.cache,
        fold=args.fold,
    )


def cmd_evaluate(args) -> int:
    from ferzoo.data.pipeline import InputSpec
    from ferzoo.training.evaluate import evaluate_model
    from ferzoo.training.run_folder import load_run, run_progress

    model, info = load_run(args.run)
    done, planned, finished = run_progress(args.run, info)
    if not finished:
        print(f"warning: {args.run} is an incomplete run: {done} of {planned} epochs done "
              "(rerun its ferzoo train command to finish it); scoring the best weights so "
              "far", file=sys.stderr)
    spec = InputSpec.from_run(info)
    data = args.data
    if data is None:
        train_dir = os.path.dirname(info["train_files"][0])
        data = os.path.join(train_dir, "test-*.tfrecord")
    labels = info["labels"] or [str(i) for i in range(model.outputs[0].shape[-1])]
    report = evaluate_model(model, data, spec, labels, batch_size=args.batch_size,
                            out_dir=args.out or args.run, name=args.name,
                            augment=info["recipe"]["augment"],
                            labels_known=bool(info["labels"]), skip_corrupt=args.skip_corrupt)
    if report.get("label_note"):
        print(f"note: {report['label_note']}", file=sys.stderr)
    if "skipped_data" in report:
        from ferzoo.data.records import describe_skips

        print(describe_skips(report["skipped_data"]), file=sys.stderr)
    print(json.dumps({k: report[k] for k in ("num_clips", "war", "uar", "per_class_recall")},
                     indent=1))
    return 0


def cmd_crossval(args) -> int:
    from ferzoo.training.crossval import crossval

    options = {} if args.val_fraction is None else {"val_fraction": args.val_fraction}
    out = args.out or os.path.join(
        "runs", f"crossval-{args.model}-{os.path.basename(os.path.normpath(args.data))}")
    overrides = model_settings(args.set, args.model, args.preset)
    note = end_to_end_note(args.model, False, overrides)
    if note:
        # crossval trains every model end to end; a fold the paper's way is `train`'s job
        print(f"{note}; crossval has no two-stage mode: train a fold with `ferzoo train "
              f"--model {args.model} --two-stage --data {args.data} --fold K`", file=sys.stderr)
    with folder_lock(out):
        crossval(
            args.model, args.data, folds=args.folds, out_dir=out, seed=args.seed,
            order=args.order, only=args.fold, preset=args.preset,
            overrides=overrides, recipe=args.recipe,
            epochs=args.epochs,
            batch_size=args.batch_size, learning_rate=args.lr, strategy=args.strategy,
            max_steps_per_epoch=args.max_steps_per_epoch, progress=not args.quiet, **options,
        )
    return 0


def cmd_compare(args) -> int:
    from ferzoo.training.crossval import compare, comparison_table

    result = compare(args.a, args.b)
    print(comparison_table(result), end="")
    if args.json:
        from pathlib import Path

        from ferzoo.data.writer import atomic_write_text

        atomic_write_text(Path(args.json), json.dumps(result, indent=1))
        print(f"comparison: {args.json}")
    return 0


def cmd_svm_fit(args) -> int:
    from ferzoo.training.run_folder import lock_run_folder
    from ferzoo.training.svm import fit_run_svm

    out = args.out or os.path.join(args.run, "svm")
    with lock_run_folder(out):
        fit_run_svm(args.run, data=args.data, out=out, kernel=args.kernel, C=args.C,
                    gamma=args.gamma, pooling=args.pooling, batch_size=args.batch_size)
    return 0


def cmd_svm_evaluate(args) -> int:
    from ferzoo.training.svm import evaluate_run_svm

    evaluate_run_svm(args.svm, run=args.run, data=args.data, loso=args.loso, out=args.out,
                     name=args.name, batch_size=args.batch_size)
    return 0


def add_parsers(sub) -> None:
    p = sub.add_parser("train", help="train a model, then evaluate it on the test split")
    p.add_argument("--model", required=True)
    p.add_argument("--preset", help="named override set of the model: tiny, cpu, ...")
    p.add_argument("--set", nargs="*", metavar="KEY=VALUE", help="model builder arguments")
    p.add_argument("--recipe", help="training recipe (default: the preset's, one that "
                                    "learns at its size, else the paper's; ferzoo info "
                                    "NAME lists them)")
    p.add_argument("--data", help="training shards: glob pattern or folder "
                                  "(default: the built-in synthetic dataset)")
    p.add_argument("--val-data", help="validation shards (default: held-out subjects)")
    p.add_argument("--test-data", help="test shards (default with synthetic data: its test "
                                       "split; with a converted folder of one 'all' split: "
                                       "the test subjects of its protocol's fold)")
    p.add_argument("--fold", type=int,
                   help="a converted folder without a fixed train/test split: the fold of "
                        "its subject-independent protocol whose subjects are held out for "
                        "test (default 1; the folds of ferzoo crossval)")
    p.add_argument("--out", help="run folder (default runs/MODEL); rerun to resume")
    p.add_argument("--epochs", type=positive_int)
    p.add_argument("--batch-size", type=positive_int)
    p.add_argument("--lr", type=positive_float)
    p.add_argument("--val-fraction", type=fraction, default=0.15,
                   help="share of training subjects held out for model selection")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--strategy", default="auto",
                   choices=["auto", "mirrored", "multiworker", "default"])
    p.add_argument("--patience", type=non_negative_int, help="early stopping patience in epochs")
    p.add_argument("--skip-corrupt", action="store_true", help="skip and count bad records")
    p.add_argument("--max-steps-per-epoch", type=positive_int)
    p.add_argument("--data-root", default="tfrecords", help="where synthetic data is cached")
    p.add_argument("--synthetic", nargs="*", metavar="KEY=VALUE",
                   help="SyntheticConfig fields for the built-in dataset")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--two-stage", action="store_true",
                   help="hybrid_cnn_rnn*: train the frame CNN on single frames, freeze it, "
                        "then train the RNN on its features (Jain et al. 2018; the way "
                        "these models learn, see docs/models/hybrid_cnn_rnn.md)")
    p.add_argument("--fine-tune-epochs", type=positive_int,
                   help="with --two-stage: then train the whole hybrid end to end (CNN "
                        "unfrozen) from stage 2's weights for this many epochs (not in the "
                        "paper; a third run folder, stage3_finetune)")
    p.add_argument("--fine-tune-lr", type=positive_float,
                   help="learning rate of the fine-tuning stage (default: a tenth of "
                        "stage 2's)")
    p.add_argument("--per-replica-batch", type=positive_int,
                   help="clips per replica; the global batch is this x replicas "
                        "(instead of --batch-size, which is the global batch)")
    p.add_argument("--scale-lr", default="none", choices=["none", "linear", "sqrt"],
                   help="scale the recipe's learning rate by the global batch over the "
                        "recipe's batch (linear: Goyal et al. 2017; docs/distributed.md)")
    p.add_argument("--mixed-precision", choices=["mixed_bfloat16", "mixed_float16"],
                   help="compute in 16 bits, keep float32 weights and softmax "
                        "(float16 adds loss scaling)")
    p.add_argument("--jit", action="store_true",
                   help="compile the training step with XLA (measure first: on CPU it is "
                        "faster for some models, slower for others)")
    p.add_argument("--cache", choices=["records", "frames"],
                   help="keep the training data in memory after the first epoch: records "
                        "(file reads) or frames (decoded, shrunk: no JPEG decoding after "
                        "epoch 1; docs/performance.md)")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("evaluate", help="WAR/UAR, confusion matrix and report of a run")
    p.add_argument("--run", required=True, help="run folder written by ferzoo train")
    p.add_argument("--data", help="shards to evaluate (default: the test split beside the "
                                  "training data)")
    p.add_argument("--out", help="where to write the report (default: the run folder)")
    p.add_argument("--name", default="test", help="prefix of the report files")
    p.add_argument("--skip-corrupt", action="store_true",
                   help="read every intact record, skip the bad ones and count them "
                        "(in the report: clips planned, read, skipped)")
    p.add_argument("--batch-size", type=positive_int, default=16)
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("crossval", help="train and test on every fold of a dataset's "
                                        "protocol; mean/std WAR and UAR")
    p.add_argument("--model", required=True)
    p.add_argument("--data", required=True, help="a folder written by ferzoo convert")
    p.add_argument("--folds", type=positive_int,
                   help="fold count of a k-fold protocol (default: the "
                        "dataset's, e.g. 10 for CK+, 5 for DFEW)")
    p.add_argument("--fold", type=positive_int, nargs="*", help="run only these folds (1-based)")
    p.add_argument("--out", help="run folder (default runs/crossval-MODEL-DATASET)")
    p.add_argument("--preset", help="named override set of the model: tiny, cpu, ...")
    p.add_argument("--set", nargs="*", metavar="KEY=VALUE", help="model builder arguments")
    p.add_argument("--recipe")
    p.add_argument("--epochs", type=positive_int)
    p.add_argument("--batch-size", type=positive_int)
    p.add_argument("--lr", type=positive_float)
    p.add_argument("--val-fraction", type=fraction,
                   help="share of each training part's subjects held out for validation "
                        "(default 0.1)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--order", choices=["interleaved", "blocks", "random"],
                   help="how subjects are dealt to folds (default: the protocol's)")
    p.add_argument("--strategy", default="auto",
                   choices=["auto", "mirrored", "multiworker", "default"])
    p.add_argument("--max-steps-per-epoch", type=positive_int)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_crossval)

    p = sub.add_parser("compare", help="two crossval folders fold by fold on the same test "
                                       "subjects: WAR of each and the difference")
    p.add_argument("a", help="crossval folder of model A (e.g. a paper's model)")
    p.add_argument("b", help="crossval folder of model B (e.g. reference_c3d, the floor)")
    p.add_argument("--json", help="also write the comparison to this JSON file")
    p.set_defaults(func=cmd_compare)

    parser = sub.add_parser(
        "svm", help="RFSCNN's SVM on the fused features of a trained run (fit / evaluate)")
    svm = parser.add_subparsers(dest="svm_command", required=True)
    p = svm.add_parser("fit", help="fit an SVM on per-video features and save it (no pickle)")
    p.add_argument("--run", required=True, help="run folder of a trained RFSCNN model")
    p.add_argument("--data", help="shards to fit on (default: the run's training split)")
    p.add_argument("--out", help="folder for svm.npz/svm.json (default: RUN/svm)")
    p.add_argument("--kernel", default="rbf", choices=("rbf", "linear", "poly", "sigmoid"))
    p.add_argument("--C", type=positive_float, default=1.0)
    p.add_argument("--gamma", default="scale", help="'scale', 'auto' or a number")
    p.add_argument("--pooling", default="average_then_fuse",
                   choices=("average_then_fuse", "fuse_then_average"),
                   help="average each stream over a video's segments, then fuse (the "
                        "paper's order), or average the fused segment features")
    p.add_argument("--batch-size", type=positive_int, default=16)
    p.set_defaults(func=cmd_svm_fit)
    p = svm.add_parser("evaluate", help="WAR/UAR of a saved SVM, or leave-one-subject-out")
    p.add_argument("--svm", required=True, help="folder written by 'ferzoo svm fit'")
    p.add_argument("--run", help="run folder (default: the one the SVM was fitted on)")
    p.add_argument("--data", help="shards (default: the test split beside the training data)")
    p.add_argument("--loso", action="store_true",
                   help="leave-one-subject-out over --data with the saved SVM's settings")
    p.add_argument("--out", help="report folder (default: the SVM folder)")
    p.add_argument("--name", help="report name (default: test, or loso)")
    p.add_argument("--batch-size", type=positive_int, default=16)
    p.set_defaults(func=cmd_svm_evaluate)

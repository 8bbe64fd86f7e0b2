"""The ``ferzoo`` command. Each subcommand is thin: parse arguments, call the library.

    ferzoo models ["stc*"] [--markdown]
    ferzoo info NAME
    ferzoo synth [--root tfrecords] [--set size=64 ...]
    ferzoo train --model NAME [--preset cpu] [--data PATTERN] [--recipe R] [--out DIR]
                 [--strategy auto] [--per-replica-batch N] [--scale-lr linear]
                 [--mixed-precision mixed_bfloat16] [--jit]
    ferzoo evaluate --run DIR [--data PATTERN]
    ferzoo export / predict / benchmark   (ferzoo/export_cli.py)
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import sys
from typing import Any, Callable

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def parse_assignments(items: list[str] | None) -> dict[str, Any]:
    """``["width=16", "levels=(4,2,1)", "name=x"]`` -> {"width": 16, "levels": (4, 2, 1), ...}."""
    out: dict[str, Any] = {}
    for item in items or []:
        if "=" not in item:
            raise ValueError(f"--set takes KEY=VALUE, got {item!r}")
        key, value = item.split("=", 1)
        try:
            out[key.strip().replace("-", "_")] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            out[key.strip().replace("-", "_")] = value
    return out


# ------------------------------------------------------------------ commands
def cmd_models(args) -> int:
    from ferzoo.docs import model_table

    import ferzoo

    if args.markdown:
        print(model_table(ferzoo.list_models(args.pattern)))
        return 0
    for name in ferzoo.list_models(args.pattern):
        entry = ferzoo.get_entry(name)
        print(f"{name:28s} {entry.paper:15s} {entry.description}")
    return 0


def cmd_info(args) -> int:
    import ferzoo

    print(json.dumps(ferzoo.model_info(args.name), indent=1, default=str))
    return 0


def cmd_synth(args) -> int:
    from ferzoo.data.synthetic import SyntheticConfig, ensure_synthetic

    folder = ensure_synthetic(args.root, SyntheticConfig(**parse_assignments(args.set)))
    print(f"synthetic dataset: {folder} (contact sheet: {folder / 'contact_sheet.png'})")
    return 0


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


def cmd_train(args) -> int:
    from ferzoo.training.trainer import train

    note = end_to_end_note(args.model, args.two_stage, parse_assignments(args.set))
    if note:
        print(note, file=sys.stderr)
    if args.two_stage:  # hybrid_cnn_rnn*: frame CNN first, then the RNN on it frozen
        from ferzoo.training.two_stage import train_two_stage as train
    result = train(
        args.model, out_dir=args.out, preset=args.preset, overrides=parse_assignments(args.set),
        recipe=args.recipe, data=args.data, val_data=args.val_data, test_data=args.test_data,
        epochs=args.epochs, batch_size=args.batch_size, learning_rate=args.lr,
        val_fraction=args.val_fraction, seed=args.seed, strategy=args.strategy,
        patience=args.patience, skip_corrupt=args.skip_corrupt,
        max_steps_per_epoch=args.max_steps_per_epoch, data_root=args.data_root,
        synthetic=parse_assignments(args.synthetic), progress=not args.quiet,
        per_replica_batch=args.per_replica_batch, scale_lr=args.scale_lr,
        mixed_precision=args.mixed_precision, jit=args.jit, cache=args.cache,
    )
    print(json.dumps(result, indent=1))
    return 0


def cmd_evaluate(args) -> int:
    from ferzoo.data.pipeline import InputSpec
    from ferzoo.training.evaluate import evaluate_model
    from ferzoo.training.trainer import load_run

    model, info = load_run(args.run)
    spec = InputSpec(**{**info["spec"], "image_size": tuple(info["spec"]["image_size"]),
                        "streams": tuple(info["spec"]["streams"])})
    data = args.data
    if data is None:
        train_dir = os.path.dirname(info["train_files"][0])
        data = os.path.join(train_dir, "test-*.tfrecord")
    labels = info["labels"] or [str(i) for i in range(model.outputs[0].shape[-1])]
    report = evaluate_model(model, data, spec, labels, batch_size=args.batch_size,
                            out_dir=args.out or args.run, name=args.name,
                            augment=info["recipe"]["augment"])
    print(json.dumps({k: report[k] for k in ("num_clips", "war", "uar", "per_class_recall")},
                     indent=1))
    return 0


def cmd_attention(args) -> int:
    from ferzoo.visualize import attention_figure_for_run

    path = attention_figure_for_run(args.run, data=args.data, index=args.index, out=args.out,
                                    layer=args.layer)
    print(f"attention maps: {path}")
    return 0


def cmd_convert(args) -> int:
    """``ferzoo convert DATASET SRC OUT``: a dataset to TFRecords, or (DATASET
    ``lstpnet_weights``) the LSTPNet authors' checkpoint to a ``.keras`` model."""
    from ferzoo.convert import CONVERTERS

    if args.dataset in CONVERTERS:
        from ferzoo.convert import cmd_convert as convert_weights

        args.what = args.dataset
        return convert_weights(args)
    from ferzoo.data.converters.cli import cmd_convert as convert_dataset

    return convert_dataset(args)


# ------------------------------------------------------------------- parser
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ferzoo", description="Dynamic facial expression recognition model zoo.")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("models", help="list registered models")
    p.add_argument("pattern", nargs="?", default="*")
    p.add_argument("--markdown", action="store_true", help="the README's model table")
    p.set_defaults(func=cmd_models)

    p = sub.add_parser("info", help="paper, input spec, defaults, parameters of a model")
    p.add_argument("name")
    p.set_defaults(func=cmd_info)

    p = sub.add_parser("synth", help="generate (or find cached) the synthetic dataset")
    p.add_argument("--root", default="tfrecords")
    p.add_argument("--set", nargs="*", metavar="KEY=VALUE", help="SyntheticConfig fields")
    p.set_defaults(func=cmd_synth)

    p = sub.add_parser("train", help="train a model, then evaluate it on the test split")
    p.add_argument("--model", required=True)
    p.add_argument("--preset", help="named override set of the model: tiny, cpu, ...")
    p.add_argument("--set", nargs="*", metavar="KEY=VALUE", help="model builder arguments")
    p.add_argument("--recipe", help="training recipe (default: the model's paper recipe)")
    p.add_argument("--data", help="training shards: glob pattern or folder "
                                  "(default: the built-in synthetic dataset)")
    p.add_argument("--val-data", help="validation shards (default: held-out subjects)")
    p.add_argument("--test-data", help="test shards (default with synthetic data: its test split)")
    p.add_argument("--out", help="run folder (default runs/MODEL); rerun to resume")
    p.add_argument("--epochs", type=int)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--lr", type=float)
    p.add_argument("--val-fraction", type=float, default=0.15,
                   help="share of training subjects held out for model selection")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--strategy", default="auto",
                   choices=["auto", "mirrored", "multiworker", "default"])
    p.add_argument("--patience", type=int, help="early stopping patience in epochs")
    p.add_argument("--skip-corrupt", action="store_true", help="skip and count bad records")
    p.add_argument("--max-steps-per-epoch", type=int)
    p.add_argument("--data-root", default="tfrecords", help="where synthetic data is cached")
    p.add_argument("--synthetic", nargs="*", metavar="KEY=VALUE",
                   help="SyntheticConfig fields for the built-in dataset")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--two-stage", action="store_true",
                   help="hybrid_cnn_rnn*: train the frame CNN on single frames, freeze it, "
                        "then train the RNN on its features (Jain et al. 2018; the way "
                        "these models learn, see docs/models/hybrid_cnn_rnn.md)")
    p.add_argument("--per-replica-batch", type=int,
                   help="clips per replica; the global batch is this x replicas "
                        "(instead of --batch-size, which is the global batch)")
    p.add_argument("--scale-lr", default="none", choices=["none", "linear", "sqrt"],
                   help="scale the recipe's learning rate by the global batch over the "
                        "recipe's batch (linear: Goyal et al. 2017; docs/distributed.md)")
    p.add_argument("--mixed-precision", choices=["mixed_bfloat16", "mixed_float16"],
                   help="compute in 16 bits, keep float32 weights and softmax "
                        "(float16 adds loss scaling)")
    p.add_argument("--jit", action="store_true",
                   help="compile the training step with XLA (measure first: slower on CPU)")
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
    p.add_argument("--batch-size", type=int, default=16)
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("attention", help="STCAM Fig. 7: spatial-temporal attention maps of a "
                                         "clip overlaid on its frames")
    p.add_argument("--run", required=True, help="run folder of an STCAM variant with STAM")
    p.add_argument("--data", help="shards (default: the test split beside the training data)")
    p.add_argument("--index", type=int, default=0, help="which clip of --data")
    p.add_argument("--layer", default="all", help="one attention layer (e.g. ir_a_attention) "
                                                  "for the paper's 3-row figure, or all")
    p.add_argument("--out", help="PNG path (default: RUN/attention_<clip id>.png)")
    p.set_defaults(func=cmd_attention)

    from ferzoo.data.converters.cli import add_convert_parser
    from ferzoo.export_cli import add_subcommands  # export, predict, benchmark
    from ferzoo.training.crossval import add_crossval_parser
    from ferzoo.training.svm import add_svm_parser

    convert = add_convert_parser(sub)
    convert.add_argument("--set", nargs="*", metavar="KEY=VALUE",
                         help="lstpnet_weights: builder arguments of the ferzoo model "
                              "(frames=16 image_size=112)")
    convert.set_defaults(func=cmd_convert)
    add_crossval_parser(sub)
    add_svm_parser(sub)
    add_subcommands(sub)
    return parser


def run_command(command: str, func: Callable[[Any], int], args: Any) -> int:
    """Run a subcommand: a ``ValueError`` / ``FileNotFoundError`` becomes ``ferzoo COMMAND:
    error: ...`` and exit status 2 (no traceback), Ctrl-C exit status 130."""
    try:
        return func(args)
    except (ValueError, FileNotFoundError) as error:
        print(f"ferzoo {command}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; rerun the same command to resume", file=sys.stderr)
        return 130


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    func: Callable[[Any], int] = args.func
    if args.debug:
        return func(args)
    return run_command(args.command, func, args)


if __name__ == "__main__":
    sys.exit(main())

"""The ``ferzoo`` command: one module per command group, each thin (parse, call the library).

    ferzoo models ["stc*"] [--markdown]            ferzoo/cli/models.py
    ferzoo info NAME
    ferzoo synth [--set size=64 ...]               ferzoo/cli/data.py
    ferzoo convert DATASET SRC OUT [...]
    ferzoo train --model NAME [--preset cpu] ...   ferzoo/cli/train.py
    ferzoo evaluate --run DIR [--data PATTERN]
    ferzoo crossval --model NAME --data DIR
    ferzoo compare CROSSVAL_A CROSSVAL_B
    ferzoo svm fit|evaluate ...
    ferzoo export --weights RUN --out DIR          ferzoo/cli/export.py
    ferzoo benchmark [MODEL ...]
    ferzoo predict VIDEO --weights W               ferzoo/cli/predict.py
    ferzoo attention --run DIR

The command line imports the library, never the reverse. A command imports the parts of
the library it needs when it runs, so that ``ferzoo --help`` stays quick.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any, Callable

from ferzoo.cli import data, export, models, predict, train
from ferzoo.cli.common import run_command


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ferzoo", description="Dynamic facial expression recognition model zoo.")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    parser.add_argument("--verbose", action="store_true",
                        help="show TensorFlow's start-up log lines (CUDA probing, absl, "
                             "oneDNN), hidden by default; also FERZOO_VERBOSE=1")
    sub = parser.add_subparsers(dest="command", required=True)
    for group in (models, data, train, export, predict):
        group.add_parsers(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    func: Callable[[Any], int] = args.func
    if args.debug:
        return func(args)
    return run_command(args.command, func, args)


if __name__ == "__main__":
    sys.exit(main())

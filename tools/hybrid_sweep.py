#!/usr/bin/env python
"""Hidden units x hidden layers of the hybrid CNN-RNN's IRNN (Jain et al. 2018, Tables 2, 3).

Trains the frame CNN once (or reuses a finished stage-1 run), caches its features and
trains the IRNN head for every pair, then writes sweep.md / sweep.csv / sweep.png:

    python tools/hybrid_sweep.py --out runs/hybrid_sweep --cnn-epochs 15 --epochs 40
    python tools/hybrid_sweep.py --cnn-run runs/hybrid_sweep/stage1_cnn --units 50 150

``--probe fc conv3 ...`` instead fits linear probes on a finished stage-1 CNN's features
(the apex frame alone, the first frame, both, their change) and writes probe.md /
probe.json: does the first frame add anything a temporal model could use?

    python tools/hybrid_sweep.py --cnn-run runs/h/stage1_cnn --probe fc conv3 conv4
"""

from __future__ import annotations

import argparse
import json
import os
import sys

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main(argv=None) -> int:
    from ferzoo.cli import parse_assignments
    from ferzoo.training.two_stage import run_probe, run_sweep

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="runs/hybrid_sweep")
    p.add_argument("--model", default="hybrid_cnn_rnn")
    p.add_argument("--preset", default="cpu", help="model preset (\"none\": the paper defaults)")
    p.add_argument("--set", nargs="*", metavar="KEY=VALUE", help="model builder arguments")
    p.add_argument("--data", help="training shards (default: the built-in synthetic data)")
    p.add_argument("--test-data")
    p.add_argument("--data-root", default="tfrecords")
    p.add_argument("--synthetic", nargs="*", metavar="KEY=VALUE")
    p.add_argument("--cnn-run", help="a finished stage-1 run folder to reuse")
    p.add_argument("--cnn-epochs", type=int)
    p.add_argument("--epochs", type=int, help="epochs of each RNN")
    p.add_argument("--recipe")
    p.add_argument("--batch-size", type=int)
    p.add_argument("--units", type=int, nargs="+", default=[50, 100, 150, 200])
    p.add_argument("--layers", type=int, nargs="+", default=[4, 5, 6])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--probe", nargs="+", metavar="SOURCE",
                   help="linear probes of these feature sources (fc, conv1..conv6) of "
                        "--cnn-run instead of the sweep")
    args = p.parse_args(argv)
    if args.probe:
        if not args.cnn_run:
            p.error("--probe needs --cnn-run (a finished stage-1 run folder)")
        run_probe(
            args.out, args.cnn_run, args.probe, model=args.model,
            preset=None if args.preset in ("", "none") else args.preset,
            data=args.data, test_data=args.test_data, data_root=args.data_root,
            synthetic=parse_assignments(args.synthetic), recipe=args.recipe, seed=args.seed,
        )
        print(open(os.path.join(args.out, "probe.md")).read())
        return 0
    summary = run_sweep(
        args.out, model=args.model, preset=None if args.preset in ("", "none") else args.preset,
        overrides=parse_assignments(args.set),
        data=args.data, test_data=args.test_data, data_root=args.data_root,
        synthetic=parse_assignments(args.synthetic), cnn_run=args.cnn_run,
        cnn_epochs=args.cnn_epochs, epochs=args.epochs, recipe=args.recipe,
        batch_size=args.batch_size,
        units=args.units, layers=args.layers, seed=args.seed,
    )
    print(open(summary["markdown"]).read())
    print(json.dumps({k: summary[k] for k in ("csv", "markdown", "plot")}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())

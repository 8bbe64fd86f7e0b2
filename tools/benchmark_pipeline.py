"""Clips per second of the input pipeline alone, against each model's training step.

    python tools/benchmark_pipeline.py --sizes 112 224 --variants jpeg --compare fastest \\
        --out benchmarks/pipeline

Thin: the work is in ``ferzoo.training.pipeline_benchmark`` (docs/performance.md).
"""

from __future__ import annotations

import argparse
import sys

from ferzoo.training.pipeline_benchmark import (
    STEP_VARIANTS, VARIANTS, PipelineBenchConfig, run_pipeline_benchmark, set_threads,
    to_markdown, write_report,
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("models", nargs="*", help="default: every registered model")
    parser.add_argument("--sizes", type=int, nargs="+", default=[112, 224])
    parser.add_argument("--preset", default="cpu")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), metavar="VARIANT",
                        help=f"of {list(VARIANTS)}")
    parser.add_argument("--clips", type=int, default=96)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--step-variants", nargs="+", default=["float32"],
                        metavar="VARIANT", help=f"training steps to time, of {STEP_VARIANTS}")
    parser.add_argument("--compare", choices=["fastest", "all"], default="fastest",
                        help="time the pipeline for the fastest model's input or every model's")
    parser.add_argument("--stages", action="store_true",
                        help="also time the pipeline's stages one by one")
    parser.add_argument("--threads", type=int,
                        help="CPU threads for TensorFlow and tf.data (default: every core)")
    parser.add_argument("--work-dir", default="benchmarks/pipeline-data")
    parser.add_argument("--out", default="benchmarks/pipeline", help="folder of the reports")
    args = parser.parse_args(argv)
    config = PipelineBenchConfig(
        sizes=tuple(args.sizes), models=tuple(args.models), preset=args.preset,
        batch=args.batch, frames=args.frames, variants=tuple(args.variants), clips=args.clips,
        seconds=args.seconds, steps=args.steps, threads=args.threads,
        step_variants=tuple(args.step_variants), compare=args.compare, stages=args.stages,
        work_dir=args.work_dir)
    if args.threads:
        set_threads(args.threads)
    result = run_pipeline_benchmark(config)
    json_path, md_path = write_report(result, args.out)
    print(to_markdown(result))
    print(f"written: {json_path}, {md_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

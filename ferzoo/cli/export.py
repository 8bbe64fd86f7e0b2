"""``ferzoo export`` and ``ferzoo benchmark``: models out, and how fast they run.

    ferzoo export --weights runs/stcam --out exports/stcam
    ferzoo export --model stcam --preset cpu --weights stcam.weights.h5 --out exports/stcam \\
        --data "tfrecords/synthetic/train-*.tfrecord"
    ferzoo benchmark stc_nlstm stcam --preset cpu --out benchmarks/cpu
    ferzoo benchmark --video clip.mp4 --weights exports/stc_nlstm_int8.tflite --detector fast
"""

from __future__ import annotations

import argparse
import sys

from ferzoo.cli.common import model_settings, positive_int
from ferzoo.inference.benchmark import RUNTIMES


def model_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", help="registered model name (optional with a run folder)")
    p.add_argument("--weights", help="run folder of ferzoo train, .keras or .weights.h5 "
                                     "file (none: untrained); for predict also an export "
                                     "folder, SavedModel, .tflite or .onnx")
    p.add_argument("--preset", help="preset the weights were trained with (tiny, cpu, ...)")
    p.add_argument("--set", nargs="*", metavar="KEY=VALUE", help="model builder arguments")


def cmd_export(args) -> int:
    from ferzoo.data.photometric import photometric_settings
    from ferzoo.export import ExportError, export
    from ferzoo.inference.loading import load_trained
    from ferzoo.training.run_folder import lock_run_folder

    trained = load_trained(args.weights, args.model, args.preset,
                           model_settings(args.set, args.model, args.preset))
    data = representative_data(trained, args.data, args.calibration_clips)
    evaluation = None
    if not args.no_eval and (args.eval_data or trained.test_files):
        evaluation = labelled_data(trained, args.eval_data or trained.test_files)
    try:
        with lock_run_folder(args.out):  # one writer at a time
            report = export(
                trained.model, args.out, formats=args.formats,
                tflite_variants=args.tflite_variants, representative_data=data,
                name=trained.name, check=not args.no_check, num_check=args.check_clips,
                num_calibration=args.calibration_clips, labels=args.labels or trained.labels,
                metrics=trained.metrics, evaluation_data=evaluation, verbose=True,
                photometric=photometric_settings(trained.augment),
            )
    except ExportError as error:  # the message names the model, format, op and layer
        print(f"ferzoo export: {error}", file=sys.stderr)
        return 1
    print(report.table())
    for warning in report.warnings:
        print(f"warning: {warning}")
    print(f"written to {args.out} (model card: model_card.md)")
    return 0


def representative_data(trained, data: str | None, clips: int):
    """Clips for int8 calibration: ``--data`` shards, else the run's training shards,
    else ``None`` (random clips, with a warning in the report)."""
    files = data or trained.data_files
    if not files:
        return None
    return labelled_data(trained, files, batch_size=1).take(clips)


def labelled_data(trained, files, batch_size: int = 16):
    """``(inputs, label)`` batches of TFRecord shards, prepared as for evaluation."""
    from ferzoo.data.pipeline import InputSpec, make_dataset

    spec = InputSpec.from_model(trained.model, trained.sampling or "uniform")
    return make_dataset(files, spec, training=False, batch_size=batch_size,
                        augment=trained.augment)


def cmd_benchmark(args) -> int:
    from ferzoo.inference.benchmark import (
        BenchmarkConfig, run_benchmark, to_markdown, write_results,
    )

    if args.video:
        return cmd_video_benchmark(args)

    config = BenchmarkConfig(
        models=args.models, preset=None if args.preset == "none" else args.preset,
        runtimes=args.runtimes, batch=args.batch, repeats=args.repeats,
        threads=args.threads, work_dir=args.work_dir,
    )
    result = run_benchmark(config, args.sections)
    json_path, md_path = write_results(result, args.out)
    print(to_markdown(result))
    print(f"written: {json_path}, {md_path}")
    return 0


def cmd_video_benchmark(args) -> int:
    """``ferzoo benchmark --video FILE``: end-to-end frames/s and per-stage costs of
    ``ferzoo predict``, beside the frame-by-frame way, in one run."""
    import json
    from pathlib import Path

    from ferzoo.inference.benchmark import video_benchmark, video_markdown

    if len(args.models) > 1:
        raise ValueError("--video takes one model (or --weights)")
    result = video_benchmark(
        args.video, weights=args.weights, model=args.models[0] if args.models else None,
        preset=None if args.preset == "none" else args.preset, detector=args.detector,
        threads=args.threads, max_frames=args.max_frames, detect_every=args.detect_every,
        baseline_frames=None if args.baseline_frames < 0 else args.baseline_frames)
    out = Path(args.out)
    out = out.with_suffix("") if out.suffix in (".json", ".md") else out
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(result, indent=1, default=str))
    out.with_suffix(".md").write_text(video_markdown(result))
    print(video_markdown(result))
    print(f"written: {out.with_suffix('.json')}, {out.with_suffix('.md')}")
    return 0


def add_benchmark_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("models", nargs="*", help="model names (default: every model)")
    parser.add_argument("--preset", default="tiny",
                        help="preset to build with: tiny, cpu, ... ('none': paper settings)")
    parser.add_argument("--runtimes", nargs="+", default=list(RUNTIMES), choices=RUNTIMES)
    parser.add_argument("--sections", nargs="+", default=["inference"],
                        help="benchmark sections: inference (latency and clips/s per "
                             "runtime), pipeline (input pipeline against the training step)")
    parser.add_argument("--batch", type=positive_int, default=8, help="clips per call for clips/s")
    parser.add_argument("--repeats", type=positive_int, default=20)
    parser.add_argument("--threads", type=positive_int, help="CPU threads (default: every core)")
    parser.add_argument("--out", default="benchmarks/benchmark",
                        help="output prefix or folder: writes .json and .md")
    parser.add_argument("--work-dir", help="keep the exported models here")
    video = parser.add_argument_group("video: end-to-end ferzoo predict (--video FILE)")
    video.add_argument("--video", help="time ferzoo predict on this video, stage by stage, "
                                       "beside the frame-by-frame way")
    video.add_argument("--weights", help="with --video: the model to run (.tflite, export, "
                                         "run folder...; default: MODEL untrained)")
    video.add_argument("--detector", default="fast", choices=["auto", "fast", "mtcnn"],
                       help="with --video: face detector of the pipeline")
    video.add_argument("--max-frames", type=int, help="with --video: frames to time")
    video.add_argument("--detect-every", type=int, default=1, metavar="N",
                       help="with --video: detect on every N-th frame, optical flow between")
    video.add_argument("--baseline-frames", type=int, default=60,
                       help="with --video: frames of the frame-by-frame baseline (-1: all, "
                            "0: none)")
    return parser


def add_parsers(sub) -> None:
    p = sub.add_parser("export", help="SavedModel, TFLite and ONNX, checked against Keras, "
                                      "with a model card")
    model_arguments(p)
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--formats", nargs="+", default=["savedmodel", "tflite", "onnx"],
                   choices=["savedmodel", "tflite", "onnx"])
    p.add_argument("--tflite-variants", nargs="+", default=["float32", "dynamic", "int8"],
                   choices=["float32", "dynamic", "int8"])
    p.add_argument("--data", help="TFRecord shards for int8 calibration (default: the run's "
                                  "training shards; none: random clips, with a warning)")
    p.add_argument("--calibration-clips", type=positive_int, default=64)
    p.add_argument("--check-clips", type=positive_int, default=4)
    p.add_argument("--no-check", action="store_true", help="skip the parity check")
    p.add_argument("--eval-data", help="labelled shards to measure every export's WAR/UAR "
                                       "on (default with a run: its dataset's test split)")
    p.add_argument("--no-eval", action="store_true", help="skip the WAR/UAR measurement")
    p.add_argument("--labels", nargs="+", help="class names in output order, for the card")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("benchmark", help="latency and clips/s of models in every runtime")
    add_benchmark_arguments(p)
    p.set_defaults(func=cmd_benchmark)

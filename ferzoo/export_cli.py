"""The ``ferzoo export``, ``ferzoo predict`` and ``ferzoo benchmark`` subcommands.

``ferzoo/cli.py`` adds them with ``add_subcommands(sub)``. Nothing heavy is imported
until a command runs.

    ferzoo export --weights runs/stcam --out exports/stcam
    ferzoo export --model stcam --preset cpu --weights stcam.weights.h5 --out exports/stcam \\
        --data "tfrecords/synthetic/train-*.tfrecord"
    ferzoo predict talk.mp4 --weights exports/stcam/stcam_int8.tflite --annotate
    ferzoo benchmark stc_nlstm stcam --preset cpu --out benchmarks/cpu
"""

from __future__ import annotations

import argparse
from typing import Any


def _model_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", help="registered model name (optional with a run folder)")
    p.add_argument("--weights", help="run folder of ferzoo train, .keras or .weights.h5 "
                                     "file (none: untrained); for predict also an export "
                                     "folder, SavedModel, .tflite or .onnx")
    p.add_argument("--preset", help="preset the weights were trained with (tiny, cpu, ...)")
    p.add_argument("--set", nargs="*", metavar="KEY=VALUE", help="model builder arguments")


def cmd_export(args) -> int:
    import sys

    from ferzoo.cli import parse_assignments
    from ferzoo.data.preprocessing import photometric_settings
    from ferzoo.export import ExportError, export
    from ferzoo.runtime import load_trained

    trained = load_trained(args.weights, args.model, args.preset, parse_assignments(args.set))
    data = representative_data(trained, args.data, args.calibration_clips)
    evaluation = None
    if not args.no_eval and (args.eval_data or trained.test_files):
        evaluation = labelled_data(trained, args.eval_data or trained.test_files)
    try:
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


def cmd_predict(args) -> int:
    import sys
    from pathlib import Path

    from ferzoo.cli import parse_assignments
    from ferzoo.predict import PredictError, Predictor

    predictor = Predictor(
        args.weights, model=args.model, preset=args.preset,
        overrides=parse_assignments(args.set), labels=args.labels, stride=args.stride,
        fps=args.fps, face_crops=args.face_crops, num_threads=args.threads,
    )
    out = args.out or str(Path("predictions") / f"{Path(args.video).stem}_{predictor.name}")
    try:
        timeline = predictor.predict(args.video, out_dir=out, annotate=args.annotate)
    except PredictError as error:
        print(f"ferzoo predict: {error}", file=sys.stderr)
        return 1
    counts: dict[str, int] = {}
    for label in timeline.top_labels():
        counts[label] = counts.get(label, 0) + 1
    print(f"{args.video}: {len(timeline)} windows of {predictor.frames} face frames "
          f"({timeline.notes.get('face_frames')} face frames); top class per window: "
          + ", ".join(f"{k} x{v}" for k, v in sorted(counts.items(), key=lambda kv: -kv[1])))
    for kind, path in timeline.files.items():
        print(f"  {kind}: {path}")
    return 0


def cmd_benchmark(args) -> int:
    from ferzoo.benchmark import main

    return main(args)


def add_subcommands(sub: Any) -> None:
    """Add ``export``, ``predict`` and ``benchmark`` to the ``ferzoo`` command's subparsers."""
    from ferzoo.benchmark import add_arguments as benchmark_arguments

    p = sub.add_parser("export", help="SavedModel, TFLite and ONNX, checked against Keras, "
                                      "with a model card")
    _model_arguments(p)
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--formats", nargs="+", default=["savedmodel", "tflite", "onnx"],
                   choices=["savedmodel", "tflite", "onnx"])
    p.add_argument("--tflite-variants", nargs="+", default=["float32", "dynamic", "int8"],
                   choices=["float32", "dynamic", "int8"])
    p.add_argument("--data", help="TFRecord shards for int8 calibration (default: the run's "
                                  "training shards; none: random clips, with a warning)")
    p.add_argument("--calibration-clips", type=int, default=64)
    p.add_argument("--check-clips", type=int, default=4)
    p.add_argument("--no-check", action="store_true", help="skip the parity check")
    p.add_argument("--eval-data", help="labelled shards to measure every export's WAR/UAR "
                                       "on (default with a run: its dataset's test split)")
    p.add_argument("--no-eval", action="store_true", help="skip the WAR/UAR measurement")
    p.add_argument("--labels", nargs="+", help="class names in output order, for the card")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("predict", help="expression timeline (CSV, PNG, video) of a video")
    p.add_argument("video", help="video file, folder of frames, or image")
    _model_arguments(p)
    p.add_argument("--out", help="output folder (default predictions/VIDEO_MODEL)")
    p.add_argument("--stride", type=int, help="frames between windows (default T/2)")
    p.add_argument("--fps", type=float, help="thin the video to about this frame rate")
    p.add_argument("--face-crops", action="store_true",
                   help="frames are already face crops: no face detection")
    p.add_argument("--annotate", action="store_true", help="also write annotated.mp4")
    p.add_argument("--labels", nargs="+", help="class names in output order")
    p.add_argument("--threads", type=int, help="CPU threads of the TFLite/ONNX runtime")
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser("benchmark", help="latency and clips/s of models in every runtime")
    benchmark_arguments(p)
    p.set_defaults(func=cmd_benchmark)


def main(argv: list[str] | None = None) -> int:
    """Run these subcommands without ``ferzoo/cli.py`` (``python -m ferzoo.export_cli``)."""
    parser = argparse.ArgumentParser(prog="ferzoo")
    add_subcommands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    raise SystemExit(main())

"""``ferzoo synth`` and ``ferzoo convert``: data in.

    ferzoo synth [--root tfrecords] [--set size=64 ...]
    ferzoo convert DATASET SRC OUT [--workers N] [--size 64] [--detect/--no-detect] [--flow]
    ferzoo convert lstpnet_weights dfew_set1.pth lstpnet_dfew1.keras [--set frames=16]
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ferzoo.cli.common import non_negative_float, parse_assignments, positive_int


def cmd_synth(args) -> int:
    from ferzoo.data.synthetic import SyntheticConfig, ensure_synthetic

    config = SyntheticConfig.from_settings(parse_assignments(args.set), "--set")
    folder = ensure_synthetic(args.root, config)
    print(f"synthetic dataset: {folder} (contact sheet: {folder / 'contact_sheet.png'})")
    return 0


EPILOG = """Datasets: ckplus (ck+), oulu, mmi, afew, dfew, ferv39k, generic. Each has a
"Preparing" page in docs/datasets/<name>.md with the layout it expects. Dataset options
go with --option, e.g. --option classes=7 (CK+), --option modality=NI (Oulu-CASIA),
--option subject_pattern='^(S\\d+)_' (generic). Rerun the same command to resume an
interrupted conversion: finished shards are kept."""


def add_convert_arguments(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    p.add_argument("dataset", help="ckplus, oulu, mmi, afew, dfew, ferv39k or generic "
                                   "(or lstpnet_weights: the LSTPNet authors' PyTorch "
                                   "checkpoint, .pth or .npz, to a .keras model)")
    p.add_argument("src", help="the dataset's root folder as distributed (generic: a folder "
                               "or a CSV manifest)")
    p.add_argument("out", help="output folder of TFRecords (rerun to resume)")
    p.add_argument("--workers", type=positive_int, default=1, help="parallel processes (default 1)")
    p.add_argument("--size", type=positive_int,
                   help="stored frame side (default per dataset: 64 for "
                        "CK+/Oulu/MMI, 224 for AFEW/DFEW/FERV39k, 112 generic)")
    p.add_argument("--detect", action=argparse.BooleanOptionalAction, default=None,
                   help="detect and align faces (default per dataset: off for DFEW and "
                        "FERV39k, which are face crops)")
    p.add_argument("--flow", action="store_true", help="also store optical flow (RFSCNN)")
    p.add_argument("--flow-method", default="dis", choices=["dis", "farneback"])
    p.add_argument("--length", type=positive_int, help="store exactly this many frames per clip")
    p.add_argument("--length-mode", default="uniform",
                   help="sampling mode choosing them (ferzoo.data.sampling; default uniform: "
                        "uniform sampling of longer clips, last frame repeated for shorter)")
    p.add_argument("--fps", type=float, default=-1.0,
                   help="keep about this many frames per second of videos (default per "
                        "dataset: 10 for MMI, else all; 0: all)")
    g = p.add_argument_group("faces")
    g.add_argument("--min-confidence", type=float, default=0.9)
    g.add_argument("--every", type=positive_int, default=1,
                   help="detect on every k-th frame, interpolate/track in between")
    g.add_argument("--between", default="linear", choices=["linear", "flow"])
    g.add_argument("--max-side", type=positive_int,
                   help="detect on frames downscaled to this longer side")
    g.add_argument("--min-face-size", type=positive_int, default=20)
    g.add_argument("--choose", default="track", choices=["track", "largest", "central"])
    g.add_argument("--smooth", type=non_negative_float, default=1.0,
                   help="temporal smoothing sigma (frames)")
    g.add_argument("--max-gap", type=positive_int,
                   help="longest run of frames without a face that is "
                        "interpolated (default max(8, 2*every))")
    g.add_argument("--on-long-gap", default="skip", choices=["skip", "drop", "fill"])
    g.add_argument("--no-refine", action="store_true",
                   help="skip the second detection on the levelled face")
    g.add_argument("--pad", default="zero", choices=["zero", "image"])
    g.add_argument("--eye-floor", type=float,
                   help="eye distance used for the crop is at least this x face width")
    p.add_argument("--image-format", default="jpeg", choices=["jpeg", "png"])
    p.add_argument("--clips-per-shard", type=positive_int, default=32)
    p.add_argument("--option", nargs="*", metavar="KEY=VALUE", help="dataset options")
    p.add_argument("--quiet", action="store_true", help="no progress line")
    return p


def convert_from_args(args: argparse.Namespace) -> dict[str, Any]:
    from ferzoo.data.converters import convert
    from ferzoo.video.faces import FaceOptions

    face = FaceOptions(
        min_confidence=args.min_confidence, max_side=args.max_side,
        min_face_size=args.min_face_size, every=args.every, between=args.between,
        choose=args.choose, smooth_sigma=args.smooth, max_gap=args.max_gap,
        on_long_gap=args.on_long_gap, refine=not args.no_refine,
    )
    return convert(
        args.dataset, args.src, args.out, workers=args.workers, size=args.size,
        detect=args.detect, flow=args.flow, flow_method=args.flow_method, length=args.length,
        length_mode=args.length_mode, target_fps=None if args.fps == 0 else args.fps,
        face=face, pad=args.pad, eye_floor=args.eye_floor, image_format=args.image_format,
        clips_per_shard=args.clips_per_shard, progress=not args.quiet,
        **parse_assignments(args.option),
    )


def summary(report: dict[str, Any]) -> str:
    lines = [f"{report['dataset']}: {report['inputs']} input clips: {report['written']} written "
             f"({report['frames_written']} frames), {report['skipped']} skipped, "
             f"{report['excluded']} left out"]
    for split, entry in report["splits"].items():
        faces = entry.get("face_totals", {})
        extra = (f", faces missed in {faces['faces_missed']} frames"
                 if "faces_missed" in faces else "")
        lines.append(f"  {split}: {entry['written']} clips{extra}")
    reasons: dict[str, int] = {}
    skipped = [s["reason"] for e in report["splits"].values() for s in e["skipped"]]
    for reason in skipped + [e["reason"] for e in report["excluded_items"]]:
        reason = reason.split(" in frame")[0]  # "no face found in frames 0-9 ..." -> kind
        reasons[reason] = reasons.get(reason, 0) + 1
    for reason, n in sorted(reasons.items(), key=lambda kv: -kv[1])[:8]:
        lines.append(f"  {n} x {reason}")
    return "\n".join(lines)


def cmd_convert(args: argparse.Namespace) -> int:
    """A dataset to TFRecords, or (DATASET ``lstpnet_weights``) the LSTPNet authors'
    checkpoint to a ``.keras`` model."""
    if args.dataset == "lstpnet_weights":
        from ferzoo.weights.lstpnet import convert_lstpnet_checkpoint

        try:
            convert_lstpnet_checkpoint(args.src, args.out, **parse_assignments(args.set))
        except ImportError as error:  # a .pth without torch installed
            print(f"ferzoo convert: error: {error}", file=sys.stderr)
            return 2
        return 0
    report = convert_from_args(args)
    print(summary(report))
    print(f"report: {args.out}/conversion_report.json")
    return 0


def add_parsers(sub) -> None:
    p = sub.add_parser("synth", help="generate (or find cached) the synthetic dataset")
    p.add_argument("--root", default="tfrecords")
    p.add_argument("--set", nargs="*", metavar="KEY=VALUE", help="SyntheticConfig fields")
    p.set_defaults(func=cmd_synth)

    p = sub.add_parser("convert", help="convert a dataset (or your own videos) to TFRecords, "
                                       "or released LSTPNet weights to .keras",
                       epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_convert_arguments(p)
    p.add_argument("--set", nargs="*", metavar="KEY=VALUE",
                   help="lstpnet_weights: builder arguments of the ferzoo model "
                        "(frames=16 image_size=112)")
    p.set_defaults(func=cmd_convert)

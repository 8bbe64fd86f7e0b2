"""``ferzoo predict`` and ``ferzoo attention``: what a trained model sees in a video.

    ferzoo predict talk.mp4 --weights exports/stcam/stcam_int8.tflite --annotate
    ferzoo attention --run runs/stcam --index 3
"""

from __future__ import annotations

import sys
from pathlib import Path

from ferzoo.cli.common import model_settings
from ferzoo.cli.export import model_arguments


def cmd_predict(args) -> int:
    from ferzoo.inference.predict import PredictError, Predictor

    predictor = Predictor(
        args.weights, model=args.model, preset=args.preset,
        overrides=model_settings(args.set, args.model, args.preset), labels=args.labels,
        stride=args.stride,
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


def cmd_attention(args) -> int:
    from ferzoo.inference.visualize import attention_figure_for_run

    path = attention_figure_for_run(args.run, data=args.data, index=args.index, out=args.out,
                                    layer=args.layer)
    print(f"attention maps: {path}")
    return 0


def add_parsers(sub) -> None:
    p = sub.add_parser("predict", help="expression timeline (CSV, PNG, video) of a video")
    p.add_argument("video", help="video file, folder of frames, or image")
    model_arguments(p)
    p.add_argument("--out", help="output folder (default predictions/VIDEO_MODEL)")
    p.add_argument("--stride", type=int, help="frames between windows (default T/2)")
    p.add_argument("--fps", type=float, help="thin the video to about this frame rate")
    p.add_argument("--face-crops", action="store_true",
                   help="frames are already face crops: no face detection")
    p.add_argument("--annotate", action="store_true", help="also write annotated.mp4")
    p.add_argument("--labels", nargs="+", help="class names in output order")
    p.add_argument("--threads", type=int, help="CPU threads of the TFLite/ONNX runtime")
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser("attention", help="STCAM Fig. 7: spatial-temporal attention maps of a "
                                         "clip overlaid on its frames")
    p.add_argument("--run", required=True, help="run folder of an STCAM variant with STAM")
    p.add_argument("--data", help="shards (default: the test split beside the training data)")
    p.add_argument("--index", type=int, default=0, help="which clip of --data")
    p.add_argument("--layer", default="all", help="one attention layer (e.g. ir_a_attention) "
                                                  "for the paper's 3-row figure, or all")
    p.add_argument("--out", help="PNG path (default: RUN/attention_<clip id>.png)")
    p.set_defaults(func=cmd_attention)

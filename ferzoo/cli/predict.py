"""``ferzoo predict`` and ``ferzoo attention``: what a trained model sees in a video.

    ferzoo predict talk.mp4 --weights exports/stcam/stcam_int8.tflite --annotate
    ferzoo predict talk.mp4 --weights lstpnet_dfew.pth --labels dfew --smooth 1
    ferzoo predict --camera 0 --weights exports/stcam/stcam_int8.tflite --max-frames 300
    ferzoo attention --run runs/stcam --index 3
"""

from __future__ import annotations

import sys
from pathlib import Path

from ferzoo.cli.common import model_settings
from ferzoo.cli.export import model_arguments


def cmd_predict(args) -> int:
    from ferzoo.inference.predict import PredictError, Predictor
    from ferzoo.video.faces.multi import MultiFaceOptions
    from ferzoo.video.io import CameraSource, VideoReadError

    if (args.video is None) == (args.camera is None):
        raise ValueError("give a VIDEO or --camera N (one of them)")
    predictor = Predictor(
        args.weights, model=args.model, preset=args.preset,
        overrides=model_settings(args.set, args.model, args.preset), labels=args.labels,
        stride=args.stride,
        fps=args.fps, face_crops=args.face_crops, num_threads=args.threads,
        detector=args.detector, max_faces=args.max_faces, min_face_size=args.min_face_size,
        span=args.span, smooth=args.smooth,
        face_options=MultiFaceOptions(every=args.detect_every),
    )
    stem = f"camera{args.camera}" if args.camera is not None else Path(args.video).stem
    out = args.out or str(Path("predictions") / f"{stem}_{predictor.name}")
    try:
        source = CameraSource(args.camera) if args.camera is not None else args.video
    except VideoReadError as error:
        print(f"ferzoo predict: {error}", file=sys.stderr)
        return 1
    try:
        timeline = predictor.predict(source, out_dir=out, annotate=args.annotate,
                                     max_frames=args.max_frames)
    except PredictError as error:
        print(f"ferzoo predict: {error}", file=sys.stderr)
        return 1
    finally:
        if hasattr(source, "close"):
            source.close()
    summary = timeline.summary()
    print(f"{timeline.video}: {len(summary['faces'])} face(s), {len(timeline)} windows of "
          f"{predictor.frames} face frames ({timeline.notes['frames_read']} frames read; "
          f"faces: {timeline.notes['faces']}; smoothing: {timeline.smoothing})")
    for face in summary["faces"]:
        print(f"  face {face['face']}: {face['frames_present']} frames "
              f"({face['first_frame']}-{face['last_frame']}), {face['windows']} windows, "
              f"mostly {face['dominant_expression']}")
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
    p = sub.add_parser("predict", help="per-face expression timeline (CSV, summary, PNG, "
                                       "video) of a video or a camera")
    p.add_argument("video", nargs="?", help="video file, folder of frames, or image")
    model_arguments(p)
    p.add_argument("--camera", type=int, metavar="N", help="read OpenCV camera N instead")
    p.add_argument("--max-frames", type=int, help="stop after this many frames")
    p.add_argument("--out", help="output folder (default predictions/VIDEO_MODEL)")
    p.add_argument("--stride", type=int, help="frames between a face's windows "
                                              "(default half a window)")
    p.add_argument("--span", type=int, help="frames of a face per window (default T; "
                                            "2 T for LSTPNet checkpoints)")
    p.add_argument("--fps", type=float, help="thin the video to about this frame rate")
    p.add_argument("--face-crops", action="store_true",
                   help="frames are already face crops: no face detection")
    p.add_argument("--detector", default="auto", choices=["auto", "fast", "mtcnn"],
                   help="face detector: fast (BlazeFace, pip install ferzoo[fast]), mtcnn, "
                        "or auto (fast when installed, else mtcnn)")
    p.add_argument("--detect-every", type=int, default=1, metavar="N",
                   help="detect on every N-th frame, carry the faces by optical flow in "
                        "between (default 1: every frame)")
    p.add_argument("--max-faces", type=int, help="most faces followed at once (default 4)")
    p.add_argument("--min-face-size", type=int,
                   help="smallest face followed, box width in pixels (default 20)")
    p.add_argument("--smooth", type=float, metavar="SECONDS",
                   help="exponential average of each face's probabilities over windows "
                        "with this time constant (default: off)")
    p.add_argument("--annotate", action="store_true",
                   help="also write annotated.mp4 (each face's box, id and label)")
    p.add_argument("--labels", nargs="+", help="class names in output order, or a dataset's "
                                               "order: dfew, ferv39k, afew")
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

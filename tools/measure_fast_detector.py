"""The fast face detector (BlazeFace, LiteRT) against MTCNN on the real sample media:
faces found, eye-point error and time per frame.

    python tools/measure_fast_detector.py --out docs/benchmarks/fast_detector_cpu.json

For every frame of each file of tests/data/real (the photo and the videos with faces),
both detectors run on the full frame; each MTCNN face is paired with the fast
detector's face that overlaps it most (IoU >= 0.3). Eye error: the mean distance of the
two eye points, in pixels and in MTCNN eye distances. Times: detection alone, median
ms per frame after one warm-up call, one frame per call.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from ferzoo.video.faces import FaceDetector  # noqa: E402
from ferzoo.video.faces.blazeface import BlazeFaceDetector  # noqa: E402
from ferzoo.video.faces.track import box_iou  # noqa: E402
from ferzoo.video.io import read_clip  # noqa: E402

MEDIA = ["ivan.jpg", "head-pose-face-detection-male.gif", "head-pose-face-detection-female.gif",
         "head-pose-face-detection-female-and-male.gif", "again.mkv"]


def _timed(detector, frames):
    detector.detect(frames[0])  # warm-up
    faces, times = [], []
    for frame in frames:
        started = time.perf_counter()
        faces.append(detector.detect(frame))
        times.append(time.perf_counter() - started)
    return faces, 1000 * float(np.median(times))


def measure(path: Path, models: list[str]) -> dict:
    frames = read_clip(path)[0]
    reference, mtcnn_ms = _timed(FaceDetector(), frames)
    row = {"file": path.name, "frames": len(frames), "size": f"{frames.shape[2]}x{frames.shape[1]}",
           "mtcnn_faces": sum(len(f) for f in reference), "mtcnn_ms": round(mtcnn_ms, 1)}
    for model in models:
        found, ms = _timed(BlazeFaceDetector(model=model), frames)
        errors, relative, matched = [], [], 0
        for ref_faces, fast_faces in zip(reference, found):
            for face in ref_faces:
                if not fast_faces:
                    continue
                best = max(fast_faces, key=lambda f: box_iou(face.box, f.box))
                if box_iou(face.box, best.box) < 0.3:
                    continue
                matched += 1
                error = np.linalg.norm(best.keypoints[:2] - face.keypoints[:2], axis=1).mean()
                eyes = np.linalg.norm(face.keypoints[1] - face.keypoints[0])
                errors.append(float(error))
                relative.append(float(error / eyes))
        row[model] = {
            "faces": sum(len(f) for f in found), "matched_to_mtcnn": matched,
            "eye_error_px_median": round(float(np.median(errors)), 2) if errors else None,
            "eye_error_px_p90": round(float(np.percentile(errors, 90)), 2) if errors else None,
            "eye_error_rel_median": round(float(np.median(relative)), 3) if errors else None,
            "ms": round(ms, 1),
        }
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=["full", "short"])
    parser.add_argument("--out", help="JSON file for the figures")
    args = parser.parse_args(argv)
    rows = [measure(REPO / "tests" / "data" / "real" / name, args.models) for name in MEDIA]
    print("| file | frames | MTCNN faces | MTCNN ms | " + " | ".join(
        f"{m}: faces / matched / eye err px (median, p90) / rel. / ms" for m in args.models)
        + " |")
    for row in rows:
        cells = [f"{row[m]['faces']} / {row[m]['matched_to_mtcnn']} / "
                 f"{row[m]['eye_error_px_median']}, {row[m]['eye_error_px_p90']} / "
                 f"{row[m]['eye_error_rel_median']} / {row[m]['ms']}" for m in args.models]
        print(f"| {row['file']} | {row['frames']} | {row['mtcnn_faces']} | {row['mtcnn_ms']} | "
              + " | ".join(cells) + " |")
    if args.out:
        Path(args.out).write_text(json.dumps({
            "command": "python tools/measure_fast_detector.py " + " ".join(argv or sys.argv[1:]),
            "date": time.strftime("%Y-%m-%dT%H:%M:%S"), "cores": os.cpu_count(),
            "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())

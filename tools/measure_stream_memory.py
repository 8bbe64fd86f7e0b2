"""Peak memory of ``Predictor.predict`` on long videos: it should not grow with length.

    python tools/measure_stream_memory.py --minutes 2 8 --out docs/benchmarks/stream_memory.json

Each length runs in its own process (so each peak is its own). The video is made on the
fly, never written: the frames of the real two-person sample GIF (480 x 270, two faces)
played in a loop, each pass shifted a few pixels, at 10 frames/s. The prediction is the
real path: the face detector (``--detector``, fast by default), the multi-face tracker,
per-face windows, an untrained ``stc_nlstm`` (``--preset cpu``) and the timeline files.
Reported: peak resident memory (``ru_maxrss``) and the resident memory sampled at each
quarter of the video.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
GIF = REPO / "tests" / "data" / "real" / "head-pose-face-detection-female-and-male.gif"
FPS = 10.0


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


class LoopedVideo:
    """``count`` frames of the sample GIF in a loop, shifted a little on each pass."""

    def __init__(self, count: int, samples: list):
        import numpy as np

        from ferzoo.video.io import read_clip

        self.frames = read_clip(GIF)[0]
        self.count, self.samples, self.np = count, samples, np
        self.fps = FPS
        self.path = f"synthetic loop of {GIF.name} ({count} frames)"

    def __iter__(self):
        quarter = max(1, self.count // 4)
        for index in range(self.count):
            loop, k = divmod(index, len(self.frames))
            frame = self.np.roll(self.frames[k], (loop % 5) - 2, axis=1)
            if index % quarter == quarter - 1:
                self.samples.append({"frame": index + 1, "rss_mb": round(_rss_mb(), 1)})
            yield index, frame


def run_one(minutes: float, detector: str, preset: str) -> dict:
    import keras

    from ferzoo.inference.predict import Predictor

    keras.utils.set_random_seed(0)
    count = int(round(minutes * 60 * FPS))
    samples: list = []
    predictor = Predictor(model="stc_nlstm", preset=preset, detector=detector)
    start_rss = _rss_mb()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as out:
        timeline = predictor.predict(LoopedVideo(count, samples), out_dir=out)
    seconds = time.perf_counter() - started
    return {
        "minutes": minutes, "frames": count, "fps_of_video": FPS,
        "windows": len(timeline), "faces": timeline.face_ids,
        "seconds": round(seconds, 1), "frames_per_second": round(count / seconds, 1),
        "rss_after_model_mb": round(start_rss, 1), "rss_samples": samples,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "detector": predictor.detector_name,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, nargs="+", default=[2.0, 8.0])
    parser.add_argument("--detector", default="fast", choices=["auto", "fast", "mtcnn"])
    parser.add_argument("--preset", default="cpu")
    parser.add_argument("--out", help="write the figures here (JSON)")
    parser.add_argument("--one", type=float, help=argparse.SUPPRESS)  # child process
    args = parser.parse_args(argv)
    if args.one is not None:
        print(json.dumps(run_one(args.one, args.detector, args.preset)))
        return 0
    runs = []
    for minutes in args.minutes:
        child = subprocess.run(
            [sys.executable, __file__, "--one", str(minutes), "--detector", args.detector,
             "--preset", args.preset], capture_output=True, text=True, check=True,
            env={**os.environ, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "3"})
        runs.append(json.loads(child.stdout.strip().splitlines()[-1]))
        print(f"{minutes:g} min ({runs[-1]['frames']} frames): peak RSS "
              f"{runs[-1]['peak_rss_mb']} MB, samples {runs[-1]['rss_samples']}, "
              f"{runs[-1]['frames_per_second']} frames/s", flush=True)
    peaks = [r["peak_rss_mb"] for r in runs]
    result = {
        "command": "python tools/measure_stream_memory.py " + " ".join(argv or sys.argv[1:]),
        "date": time.strftime("%Y-%m-%dT%H:%M:%S"), "cores": os.cpu_count(), "runs": runs,
        "peak_growth_mb": round(max(peaks) - min(peaks), 1),
    }
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(result, indent=1))
    print(f"peak RSS from {args.minutes[0]:g} to {args.minutes[-1]:g} min: "
          f"{min(peaks)} -> {max(peaks)} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())

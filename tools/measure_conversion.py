"""Conversion throughput (clips/s, frames/s) on the real sample clips of tests/data/real.

Builds a generic-layout tree of ``--copies`` links to each head-pose GIF (141 frames of
480x270 per copy of the three), converts it, and prints the rates from the conversion
report. Frames/s counts input frames read and written.

    python tools/measure_conversion.py [--copies 2] [--workers 1]
        [--no-detect] [--every 1] [--max-side N] [--size 64]
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
REAL = Path(__file__).resolve().parents[1] / "tests" / "data" / "real"

from ferzoo.data.converters import convert  # noqa: E402
from ferzoo.video.faces import FaceOptions  # noqa: E402

GIFS = {"happiness": "male", "sadness": "female", "surprise": "female-and-male"}


def _cpu_seconds() -> float:
    """CPU time of this process and its finished children (worker processes)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=2)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--detect", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--every", type=int, default=1)
    parser.add_argument("--max-side", type=int)
    parser.add_argument("--no-refine", action="store_true")
    parser.add_argument("--size", type=int, default=64)
    args = parser.parse_args(argv)
    real = REAL
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "src"
        for label, name in GIFS.items():
            (src / label).mkdir(parents=True)
            for k in range(args.copies):
                (src / label / f"S{k:02d}_{name}.gif").symlink_to(
                    real / f"head-pose-face-detection-{name}.gif")
        start = time.perf_counter()
        cpu0 = _cpu_seconds()
        report = convert(
            "generic", src, Path(tmp) / "out", workers=args.workers, size=args.size,
            detect=args.detect, clips_per_shard=1, progress=False,
            face=FaceOptions(every=args.every, max_side=args.max_side, refine=not args.no_refine),
        )
        elapsed = time.perf_counter() - start
        cpu = _cpu_seconds() - cpu0
    clips, frames = report["written"], report["frames_written"]
    print(f"detect={args.detect} every={args.every} max_side={args.max_side} "
          f"refine={not args.no_refine} size={args.size} workers={args.workers}: "
          f"{clips} clips, {frames} frames (480x270) in {elapsed:.1f} s -> "
          f"{clips / elapsed:.2f} clips/s, {frames / elapsed:.1f} frames/s "
          f"(skipped {report['skipped']}); CPU {cpu:.1f} s = {frames / cpu:.1f} frames "
          f"per CPU-second, load average {os.getloadavg()[0]:.1f}; peak memory "
          f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


if __name__ == "__main__":
    main()

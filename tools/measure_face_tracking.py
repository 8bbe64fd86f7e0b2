"""What detecting on fewer / smaller frames costs in eye-point accuracy, and saves in time.

Reference: MTCNN on every frame at full resolution, no smoothing. Each setting is
compared with it on the same clips (the real GIFs in tests/data/real by default):
mean, 95th percentile and max eye-point error in pixels and in % of the eye distance,
and the time per frame.

    python tools/measure_face_tracking.py [clips ...]
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
REAL = Path(__file__).resolve().parents[1] / "tests" / "data" / "real"

from ferzoo.video.faces import (  # noqa: E402
    FaceOptions, NoFaceError, eye_errors, track_face,
)
from ferzoo.video.io import FrameSource  # noqa: E402

SETTINGS = [  # (every, max_side, between)
    (1, 240, "linear"),
    (2, None, "linear"), (2, None, "flow"),
    (3, None, "linear"), (3, None, "flow"),
    (5, None, "linear"), (5, None, "flow"),
    (3, 240, "linear"), (3, 240, "flow"),
    (5, 240, "linear"), (5, 240, "flow"),
]


def main(argv=None) -> None:
    default = [str(REAL / f"head-pose-face-detection-{n}.gif")
               for n in ("male", "female", "female-and-male")]
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("clips", nargs="*", default=default)
    args = parser.parse_args(argv)
    base = FaceOptions(smooth_sigma=0.0, on_long_gap="fill")
    refs, frames, ref_time = [], 0, 0.0
    for clip in args.clips:
        t = time.perf_counter()
        refs.append(track_face(FrameSource(clip), base))
        ref_time += time.perf_counter() - t
        frames += len(refs[-1])
    print(f"{len(args.clips)} clips, {frames} frames; reference (every frame, full size): "
          f"{1000 * ref_time / frames:.1f} ms/frame")
    print(f"{'every':>5} {'max_side':>8} {'between':>7} | {'mean px':>7} {'p95 px':>6} "
          f"{'max px':>6} {'mean %d':>7} | {'ms/frame':>8} {'speed-up':>8}")
    for every, max_side, between in SETTINGS:
        opts = dataclasses.replace(base, every=every, max_side=max_side, between=between)
        errs, rel, elapsed = [], [], 0.0
        for clip, ref in zip(args.clips, refs):
            t = time.perf_counter()
            try:
                track = track_face(FrameSource(clip), opts)
            except NoFaceError as error:
                print(f"  {clip}: {error}")
                continue
            elapsed += time.perf_counter() - t
            e = eye_errors(ref, track)
            d = np.linalg.norm(ref.keypoints[:, 1] - ref.keypoints[:, 0], axis=-1)
            errs.append(e)
            rel.append(100 * e / d)
        e, r = np.concatenate(errs), np.concatenate(rel)
        e, r = e[np.isfinite(e)], r[np.isfinite(r)]
        ms = 1000 * elapsed / frames
        print(f"{every:>5} {str(max_side):>8} {between:>7} | {e.mean():7.2f} "
              f"{np.percentile(e, 95):6.2f} {e.max():6.2f} {r.mean():7.1f} | "
              f"{ms:8.1f} {1000 * ref_time / frames / ms:7.1f}x")


if __name__ == "__main__":
    main()

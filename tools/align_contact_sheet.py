"""Align the faces of some clips and tile them into one PNG (red crosses: where the eyes
must sit). Default: the three real head-pose GIFs of tests/data/real.

    python tools/align_contact_sheet.py out.png [--size 112] [clips ...]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
REAL = Path(__file__).resolve().parents[1] / "tests" / "data" / "real"

from ferzoo.video.faces import (  # noqa: E402
    FaceOptions, align_clip, aligned_eye_positions, contact_sheet,
)
from ferzoo.video.io import FrameSource  # noqa: E402


def main(argv=None) -> None:
    default = [str(REAL / f"head-pose-face-detection-{n}.gif")
               for n in ("male", "female", "female-and-male")]
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out")
    parser.add_argument("clips", nargs="*", default=default)
    parser.add_argument("--size", type=int, default=112)
    parser.add_argument("--columns", type=int, default=12)
    parser.add_argument("--every", type=int, default=1)
    parser.add_argument("--no-refine", action="store_true")
    args = parser.parse_args(argv)
    options = FaceOptions(every=args.every, refine=not args.no_refine)
    rows = []
    for clip in args.clips:
        aligned = align_clip(FrameSource(clip), args.size, options)
        print(f"{clip}: {len(aligned.frames)} frames {aligned.notes}")
        rows.append(aligned.frames)
    sheet = contact_sheet(rows, args.columns, marks=aligned_eye_positions(args.size))
    cv2.imwrite(args.out, cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

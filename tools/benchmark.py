#!/usr/bin/env python
"""Latency per clip and clips per second of models in Keras, SavedModel, TFLite and ONNX.

    python tools/benchmark.py stc_nlstm stcam --preset cpu --out benchmarks/cpu

Thin: the same as ``ferzoo benchmark ...`` (the work is in ``ferzoo.inference.benchmark``).
"""

import sys

from ferzoo.cli import main

if __name__ == "__main__":
    sys.exit(main(["benchmark", *sys.argv[1:]]))

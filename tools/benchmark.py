#!/usr/bin/env python
"""Latency per clip and clips per second of models in Keras, SavedModel, TFLite and ONNX.

    python tools/benchmark.py stc_nlstm stcam --preset cpu --out benchmarks/cpu

Thin wrapper: the work is in ``ferzoo.inference.benchmark`` (also ``ferzoo benchmark``).
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ferzoo.inference.benchmark import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())

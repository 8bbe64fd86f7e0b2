"""A reference model that is not from any paper: a plain, small 3D CNN.

Every results table needs a floor: what does a plain network of the same input size
reach on the same split? ``reference_c3d`` is that floor. It is ferzoo's own (no
paper proposed it): three 3x3x3 convolutions (16, 32, 64 filters), each with batch
normalisation and ReLU, max pooling between them, then an average over time and 2x2
cells (a 4x4 grid of 64 features: where a feature is on the face is kept), dropout and
a softmax; about 77,000 parameters. It trains with Adam (the ``reference_c3d`` recipe:
2e-3, cosine decay, 20 epochs). Its input is the size of the papers' ``cpu`` presets
(12 frames of 32x32 RGB), so ``ferzoo train --model reference_c3d --data DIR`` runs on a
CPU in minutes and compares with ``--preset cpu`` of the papers' models on the same
held-out subjects (docs/recipes.md).
"""

from __future__ import annotations

import keras

from ferzoo.layers import Pool3D
from ferzoo.registry import Paper, register_model

PAPER = Paper("reference", "not from a paper: ferzoo's reference 3D CNN, a floor for "
                           "results tables (docs/models/reference.md)")


def reference_c3d(num_classes, frames, image_size, channels, widths, dropout):
    """Plain 3D CNN: (conv3d-BN-ReLU, pool) x len(widths), grid pool, softmax."""
    video = keras.Input((frames, image_size, image_size, channels), name="video")
    x = video
    for i, width in enumerate(widths, start=1):
        x = keras.layers.Conv3D(width, 3, padding="same", use_bias=False, name=f"conv{i}")(x)
        x = keras.layers.BatchNormalization(name=f"bn{i}")(x)
        x = keras.layers.ReLU(name=f"relu{i}")(x)
        if i < len(widths):
            # time is pooled after the second block only: short clips keep their frames
            pool = (2, 2, 2) if i > 1 else (1, 2, 2)
            x = Pool3D(pool, padding="same", name=f"pool{i}")(x)
    # Where a feature is on the face matters (brows above, mouth below): pool to a 4x4
    # grid and average over time, instead of a global average that forgets positions.
    x = Pool3D((x.shape[1], 2, 2), padding="same", mode="average", name="grid_pool")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    x = keras.layers.Dropout(dropout, name="dropout")(x)
    outputs = keras.layers.Dense(num_classes, activation="softmax", dtype="float32",
                                 name="probabilities")(x)
    return keras.Model(video, outputs, name="reference_c3d")


DEFAULTS = dict(num_classes=6, frames=12, image_size=32, channels=3, widths=(16, 32, 64),
                dropout=0.3)
PRESETS = {"tiny": dict(frames=4, image_size=16, widths=(4, 8, 8)),
           "cpu": dict(frames=12, image_size=32)}

register_model(
    "reference_c3d", reference_c3d, paper=PAPER, defaults=DEFAULTS, presets=PRESETS,
    sampling="uniform", recipe="reference_c3d",
    description="Reference floor, not from a paper: plain 3-layer 3D CNN, ~77k parameters.",
)

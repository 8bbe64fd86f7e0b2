"""A tiny classifier registered for trainer tests (importable by subprocesses too)."""

import keras

from ferzoo import registry
from ferzoo.models.stc_nlstm import PAPER

NAME = "_tiny_test_model"


def _tiny_test_model(num_classes, frames, image_size, channels, width):
    video = keras.Input((frames, image_size, image_size, channels), name="video")
    x = keras.layers.Conv3D(width, 3, padding="same", activation="relu")(video)
    x = keras.layers.Reshape((frames, image_size * image_size * width))(x)
    x = keras.layers.Dense(16, activation="relu")(x)
    x = keras.layers.Flatten()(x)
    out = keras.layers.Dense(num_classes, activation="softmax", dtype="float32")(x)
    return keras.Model(video, out, name="tiny_test_model")


if NAME not in registry._REGISTRY:
    registry.register_model(
        NAME, _tiny_test_model, paper=PAPER,
        defaults=dict(num_classes=3, frames=4, image_size=16, channels=3, width=8),
        presets={"tiny": dict(width=4)},
    )

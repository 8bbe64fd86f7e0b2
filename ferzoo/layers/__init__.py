"""Reusable layers written with ``keras.ops`` (exportable to TFLite and ONNX).

Every layer is registered for serialisation under the ``ferzoo`` package.
"""

from ferzoo.layers.attention3d import (  # noqa: E402,F401
    STCAM,
    ChannelAttention3D,
    NonLocalBlock3D,
    SpatioTemporalAttention,
)
from ferzoo.layers.pooling3d import Pool3D  # noqa: E402,F401

from ferzoo.layers.frames import FoldFrames, UnfoldFrames  # noqa: F401
from ferzoo.layers.lstformer import LSTformer, LSTformerBlock  # noqa: F401
from ferzoo.layers.mspp import MSPPNorm  # noqa: F401
from ferzoo.layers.tce import TemporalChannelExcitation  # noqa: F401
from ferzoo.layers.irnn import IRNN  # noqa: E402,F401
from ferzoo.layers.traversal_rnn import SpatialRecursiveLayer, TemporalRecursiveLayer  # noqa: F401

"""Reusable layers written with ``keras.ops`` (exportable to TFLite and ONNX).

Every layer is registered for serialisation under the ``ferzoo`` package.
"""

from ferzoo.layers.mspp import MSPPNorm  # noqa: F401

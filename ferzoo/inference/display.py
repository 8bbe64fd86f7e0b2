"""Pictures in a notebook: matplotlib figures and image files shown inline, small.

The notebooks show figures as PNG and photo-like images as JPEG, scaled, so that the
committed ``.ipynb`` files stay small. IPython is imported when a picture is shown (it is
there in every notebook kernel, and ferzoo does not depend on it otherwise).
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import cv2


def _display(data: bytes, fmt: str, width: int | None = None) -> None:
    from IPython.display import Image, display

    display(Image(data, format=fmt, width=width))


def show(fig, dpi: int = 80, jpeg: bool = False) -> None:
    """Display a matplotlib figure (under any backend) and close it; JPEG for photos."""
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="jpeg" if jpeg else "png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    _display(buffer.getvalue(), "jpeg" if jpeg else "png")


def show_file(path: str | os.PathLike, scale: float = 1.0, width: int | None = None,
              jpeg: bool = True) -> None:
    """Display an image file as a JPEG, scaled (keeps the notebook small); ``jpeg=False``
    shows a PNG (a plot) as it is, ``width`` pixels wide."""
    if not jpeg:
        _display(Path(path).read_bytes(), "png", width)
        return
    image = cv2.imread(str(path))
    if image is None:
        raise FileNotFoundError(f"cannot read an image from {path}")
    if scale != 1.0:
        image = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    _, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 85])
    _display(data.tobytes(), "jpeg", width)

"""Notebook pictures: figures and files reach IPython's display, small."""

import cv2
import matplotlib
import numpy as np
import pytest

from ferzoo.inference import display as ferzoo_display

matplotlib.use("Agg")


@pytest.fixture
def shown(monkeypatch):
    images = []
    monkeypatch.setattr(ferzoo_display, "_display",
                        lambda data, fmt, width=None: images.append((data, fmt, width)))
    return images


def test_a_figure_is_shown_once_and_closed(shown):
    import matplotlib.pyplot as plt

    fig = plt.figure()
    ferzoo_display.show(fig, jpeg=True)
    ((data, fmt, _),) = shown
    assert fmt == "jpeg" and data[:2] == b"\xff\xd8"
    assert not plt.fignum_exists(fig.number)


def test_files_are_scaled_to_jpeg_or_shown_as_png(shown, tmp_path):
    path = tmp_path / "plot.png"
    cv2.imwrite(str(path), np.full((40, 60, 3), 200, np.uint8))
    ferzoo_display.show_file(path, scale=0.5)
    ferzoo_display.show_file(path, width=30, jpeg=False)
    (jpeg, fmt1, _), (png, fmt2, width) = shown
    assert fmt1 == "jpeg" and cv2.imdecode(np.frombuffer(jpeg, np.uint8), 1).shape == (20, 30, 3)
    assert fmt2 == "png" and png == path.read_bytes() and width == 30
    with pytest.raises(FileNotFoundError, match="missing.png"):
        ferzoo_display.show_file(tmp_path / "missing.png")

"""The sample media shipped inside the package (ferzoo/sample_media)."""

import pytest

from ferzoo import sample_media
from ferzoo.video.io import read_clip


def test_smiling_man_is_shipped_and_decodes():
    path = sample_media.path("smiling_man.mp4")
    assert path.is_file() and path.stat().st_size < 500_000
    frames, _ = read_clip(path)
    assert len(frames) >= 30
    assert frames[0].shape == (270, 480, 3)
    assert frames[0].std() > 10  # a picture, not a blank frame


def test_names_lists_media_only_and_unknown_name_says_what_there_is():
    assert sample_media.names() == ["smiling_man.mp4"]
    assert sample_media.path() == sample_media.path("smiling_man.mp4")
    with pytest.raises(FileNotFoundError, match="smiling_man.mp4"):
        sample_media.path("nope.mp4")
    with pytest.raises(FileNotFoundError):
        sample_media.path("SOURCES.md")


def test_attribution_ships_beside_the_media():
    sources = sample_media.path().with_name("SOURCES.md").read_text()
    assert "CC BY 4.0" in sources and "Intel Corporation" in sources

"""Reading clips: video files, frame folders, single images; counts, errors, streaming."""

import cv2
import numpy as np
import pytest

from ferzoo.video.io import (
    FrameSource, VideoReadError, is_clip, list_frame_files, natural_key, read_clip,
)


def _write_png(path, rgb):
    cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))


def _frames(n, h=24, w=32, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 255, (n, h, w, 3), dtype=np.uint8)


def test_natural_order():
    names = ["f10.png", "f2.png", "F1.png", "f100.png"]
    assert sorted(names, key=natural_key) == ["F1.png", "f2.png", "f10.png", "f100.png"]


def test_frame_folder_natural_order_and_exact_pixels(tmp_path):
    frames = _frames(12)
    for i, frame in enumerate(frames):
        _write_png(tmp_path / f"img_{i}.png", frame)  # img_10 sorts after img_9
    (tmp_path / "notes.txt").write_text("not a frame")
    names = [p.name for p in list_frame_files(tmp_path)]
    assert names[:3] == ["img_0.png", "img_1.png", "img_2.png"] and names[-1] == "img_11.png"
    got, info = read_clip(tmp_path)
    np.testing.assert_array_equal(got, frames)  # PNG is lossless: same pixels, same order
    assert (info.kind, info.declared_frames, info.decoded_frames) == ("frames", 12, 12)
    assert info.errors == []
    assert (info.width, info.height, info.fps) == (32, 24, 0.0)


def test_folder_with_a_broken_frame_and_a_size_change_reports_both(tmp_path):
    frames = _frames(4)
    for i, frame in enumerate(frames):
        _write_png(tmp_path / f"{i}.png", frame)
    (tmp_path / "4.png").write_bytes(b"not a png at all")
    _write_png(tmp_path / "5.png", _frames(1, 10, 10)[0])
    got, info = read_clip(tmp_path)
    assert len(got) == 4 and info.decoded_frames == 5
    assert len(info.errors) == 2
    assert "frame 4" in info.errors[0] and "not a readable image" in info.errors[0]
    assert "frame 5" in info.errors[1] and "differs" in info.errors[1]


def test_grey_and_16_bit_images_become_rgb_uint8(tmp_path):
    grey = np.arange(0, 240, dtype=np.uint8).reshape(12, 20)
    cv2.imwrite(str(tmp_path / "0.png"), grey)
    cv2.imwrite(str(tmp_path / "1.png"), grey.astype(np.uint16) << 8)
    got, _ = read_clip(tmp_path)
    assert got.shape == (2, 12, 20, 3) and got.dtype == np.uint8
    np.testing.assert_array_equal(got[0, ..., 0], grey)
    np.testing.assert_array_equal(got[1], got[0])


def test_gif_counts_fps_and_rgb(real_dir):
    source = FrameSource(real_dir / "head-pose-face-detection-female.gif")
    frames = [f for f in source.frames()]
    assert len(frames) == 23 and frames[0].shape == (270, 480, 3) and frames[0].dtype == np.uint8
    assert source.info.fps == pytest.approx(12.5) and source.info.errors == []
    # OpenCV decodes BGR; we hand out RGB: the background wall is bluish-grey, so B > R.
    bgr = cv2.VideoCapture(str(real_dir / "head-pose-face-detection-female.gif")).read()[1]
    np.testing.assert_array_equal(frames[0], bgr[..., ::-1])


def test_iterating_twice_gives_the_same_frames(real_dir):
    source = FrameSource(real_dir / "head-pose-face-detection-female.gif")
    first = [f[::16, ::16].copy() for f in source.frames()]
    second = [f[::16, ::16].copy() for f in source.frames()]
    np.testing.assert_array_equal(np.stack(first), np.stack(second))


def test_container_frame_count_mismatch_is_a_warning(real_dir):
    source = FrameSource(real_dir / "no_face.mp4")
    n = sum(1 for _ in source)
    assert n == source.info.decoded_frames == 95
    assert source.info.declared_frames == 98 and source.info.errors == []
    assert "announced 98" in source.info.warnings[0]


def test_target_fps_keeps_uniformly_spaced_frames(real_dir):
    source = FrameSource(real_dir / "head-pose-face-detection-male.gif", target_fps=5)
    indices = [i for i, _ in source]
    duration = 62 / 12.5
    assert abs(len(indices) - duration * 5) <= 1
    assert np.all(np.diff(indices) >= 2) and np.all(np.diff(indices) <= 3)
    assert source.fps == 5.0


def test_start_stop_range(real_dir):
    source = FrameSource(real_dir / "head-pose-face-detection-male.gif", start=10, stop=20)
    assert [i for i, _ in source] == list(range(10, 20))


def test_written_mp4v_and_mjpg_videos_read_back(tmp_path):
    frames = _frames(9, 48, 64)
    for name, codec in [("a.mp4", "mp4v"), ("b.avi", "MJPG")]:
        fourcc = cv2.VideoWriter_fourcc(*codec)
        writer = cv2.VideoWriter(str(tmp_path / name), fourcc, 15.0, (64, 48))
        for f in frames:
            writer.write(cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
        writer.release()
        got, info = read_clip(tmp_path / name)
        assert got.shape == (9, 48, 64, 3) and info.fps == pytest.approx(15.0)
        assert is_clip(tmp_path / name)


def test_single_image_is_a_one_frame_clip(real_dir):
    got, info = read_clip(real_dir / "ivan.jpg")
    assert got.shape == (1, 561, 561, 3) and info.kind == "image"


def test_unreadable_inputs_raise_with_the_path(tmp_path):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\x00" * 1000)
    with pytest.raises(VideoReadError, match="bad.mp4"):
        FrameSource(bad)
    with pytest.raises(VideoReadError, match="no such file"):
        FrameSource(tmp_path / "missing.avi")
    (tmp_path / "empty").mkdir()
    with pytest.raises(VideoReadError, match="no frame images"):
        FrameSource(tmp_path / "empty")

"""ferzoo.inference.benchmark: sections, the inference table, JSON + Markdown output."""

from __future__ import annotations

import json

import keras
import pytest

from ferzoo import registry
from ferzoo.inference.benchmark import SECTIONS, BenchmarkConfig, run_benchmark, write_results
from ferzoo.models.stc_nlstm import PAPER as STC_PAPER


@pytest.fixture
def toy_name():
    def _bench_toy(num_classes, frames, image_size, channels):
        video = keras.Input((frames, image_size, image_size, channels), name="video")
        x = keras.layers.GlobalAveragePooling3D()(keras.layers.Conv3D(4, 3)(video))
        return keras.Model(video, keras.layers.Dense(num_classes, activation="softmax")(x))

    registry.register_model(
        "_bench_toy", _bench_toy, paper=STC_PAPER,
        defaults=dict(num_classes=6, frames=4, image_size=16, channels=3), presets={"tiny": {}},
    )
    yield "_bench_toy"
    registry.unregister_model("_bench_toy")


def test_inference_section_times_every_runtime(toy_name, tmp_path):
    config = BenchmarkConfig(models=[toy_name], runtimes=("keras", "tflite-float32", "onnx"),
                             batch=4, repeats=3, warmup=1, threads=1)
    result = run_benchmark(config)
    rows = result["sections"]["inference"]["rows"]
    assert [r["runtime"] for r in rows] == ["keras", "tflite-float32", "onnx"]
    for row in rows:
        assert row["ms/clip"] > 0 and row["clips/s"] > 0
    assert [r["batch"] for r in rows] == [4, 1, 4]  # TFLite is batch 1
    assert rows[1]["size"] > 0 and rows[0]["size"] is None
    assert result["meta"]["threads"] == 1 and result["meta"]["versions"]["tensorflow"]
    json_path, md_path = write_results(result, tmp_path / "bench")
    assert json.loads(json_path.read_text())["sections"]["inference"]["rows"] == rows
    markdown = md_path.read_text()
    assert "| model | input | parameters | runtime |" in markdown
    assert "| _bench_toy | video 4x16x16x3 |" in markdown and "Command:" in markdown


def test_sections_are_registered_and_unknown_ones_named():
    assert {"inference", "pipeline"} <= set(SECTIONS)
    with pytest.raises(ValueError, match=r"unknown benchmark sections \['gpu'\]"):
        run_benchmark(BenchmarkConfig(), sections=["gpu"])


def test_video_benchmark_times_every_stage_beside_the_frame_by_frame_way(real_dir, tmp_path,
                                                                        capsys):
    from ferzoo.cli import main as cli_main

    out = tmp_path / "video_bench"
    status = cli_main(["benchmark", "stc_nlstm", "--preset", "tiny", "--video",
                       str(real_dir / "head-pose-face-detection-female.gif"),
                       "--detector", "auto", "--baseline-frames", "8", "--threads", "1",
                       "--out", str(out)])
    assert status == 0
    result = json.loads(out.with_suffix(".json").read_text())
    pipeline, baseline = result["pipeline"], result["frame_by_frame"]
    assert pipeline["frames"] == 23 and baseline["frames"] == 8
    assert set(pipeline["ms_per_frame"]) == {"decode", "detect", "track", "align", "model",
                                             "other"}
    total_ms = 1000 * pipeline["seconds"] / pipeline["frames"]
    assert sum(pipeline["ms_per_frame"].values()) == pytest.approx(total_ms, rel=0.05)
    assert result["speedup"] > 0 and "frames/s" in out.with_suffix(".md").read_text()

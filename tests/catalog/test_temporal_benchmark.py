"""tools/temporal_benchmark.py: one tiny run per model and data set, resume, the page."""

from __future__ import annotations

import json

from tools.temporal_benchmark import (
    BEGIN,
    END,
    all_models,
    data_settings,
    load_results,
    missing_cells,
    render_page,
    results_table,
    run_benchmark,
    stage1_is_baseline,
)

TINY_DATA = dict(size=32, min_frames=6, max_frames=8, num_subjects=4, test_subjects=1,
                 clips_per_subject=6)


def test_data_settings():
    assert data_settings("default", "onset_order", {"size": 32}) == {"size": 32}
    assert data_settings("temporal", "onset_order", {}) == {"temporal": "onset_order"}
    assert data_settings("default", "resting_bias", {}, ("video", "flow")) == {"flow": True}


def test_smoke_tiny_preset_one_epoch(tmp_path):
    results, lines = tmp_path / "temporal.json", []
    options = dict(models=["hybrid_cnn", "stc", "no_such_model"], data=["default", "temporal"],
                   seeds=[0], preset="tiny", epochs=1, synthetic=TINY_DATA, results=results,
                   runs=tmp_path / "runs", data_root=tmp_path / "data", batch_size=4,
                   max_steps_per_epoch=1, log=lines.append)
    table = run_benchmark(**options)
    runs = table["runs"]
    assert [(r["model"], r["data"]) for r in runs] == [  # the frame baseline last
        ("stc", "default"), ("stc", "temporal"), ("hybrid_cnn", "default"),
        ("hybrid_cnn", "temporal")]
    for r in runs:
        assert set(r) >= {"model", "data", "seed", "war", "uar", "minutes"}
        assert 0 <= r["war"] <= 1 and 0 <= r["uar"] <= 1 and r["minutes"] > 0
        assert r["variant"] == ("resting_bias" if r["data"] == "temporal" else None)
    assert any("no_such_model is not registered" in line for line in lines)
    # resumes per run: a second call trains nothing
    lines.clear()
    assert run_benchmark(**options)["runs"] == runs
    assert sum("skipped" in line for line in lines) == 5
    assert json.loads(results.read_text())["runs"] == load_results(results)["runs"]

    page = tmp_path / "temporal.md"
    page.write_text(f"# Temporal\n\nintro\n\n{BEGIN}\nold\n{END}\n\nafter\n")
    grid = dict(preset="tiny", epochs=1, synthetic=TINY_DATA)
    render_page(results, page, tmp_path / "plot.png", models=["hybrid_cnn", "stc"],
                seeds=[0, 1], grid=grid)
    text = page.read_text()
    assert "intro" in text and "after" in text and "old" not in text
    assert "| `hybrid_cnn` |" in text and "| `stc` |" in text
    assert "`stc` on `temporal`: 1 of 2 seeds" in text
    assert (tmp_path / "plot.png").stat().st_size > 1000
    assert "not measured" in results_table(runs[:1])
    assert "preset `tiny`, its own recipe, 1 epoch," in text
    # only runs of the grid's settings count: these are not the default grid's (cpu)
    assert "`stc` on `default`: 0 of 1 seeds" in missing_cells(runs, ["stc"], [0])
    assert missing_cells(runs, ["stc", "hybrid_cnn"], [0], grid) == []
    assert missing_cells(runs, ["reference_c3d", "no_such_model"], [0], grid) == [
        "`reference_c3d` on `default`: 0 of 1 seeds",
        "`reference_c3d` on `temporal`: 0 of 1 seeds",
        "`no_such_model` on `default`: 0 of 1 seeds (model not registered)",
        "`no_such_model` on `temporal`: 0 of 1 seeds (model not registered)"]


def test_a_hybrids_stage1_cnn_is_the_frame_baseline_at_cpu_size():
    assert stage1_is_baseline("hybrid_cnn_rnn", "cpu")
    assert stage1_is_baseline("hybrid_cnn_rnn_tanh", "cpu")
    assert not stage1_is_baseline("hybrid_cnn_rnn", "tiny")  # hybrid_cnn's tiny reads 3 frames


def test_all_models_are_the_classification_models_with_the_preset():
    names = all_models("cpu")
    assert names[:3] == ["hybrid_cnn", "hybrid_cnn_rnn", "hybrid_cnn_rnn_tanh"]
    assert {"stc_nlstm", "stcam", "lstpnet", "rfscnn"} <= set(names)
    assert "hybrid_cnn_valence" not in names and "hybrid_cnn_rnn_valence" not in names

import json

from ferzoo.training import pipeline_benchmark as bp
from tests.tiny_model import NAME


def test_pipeline_benchmark_measures_and_reports(tmp_path, monkeypatch):
    config = bp.PipelineBenchConfig(
        sizes=(32,), models=(NAME,), batch=4, frames=4, clips=24, seconds=0.3, steps=1,
        variants=("jpeg", "jpeg, cache frames"), step_variants=("float32", "mixed_bfloat16"),
        stages=True,
        work_dir=str(tmp_path / "data"))
    lines = []
    result = bp.run_pipeline_benchmark(config, log=lines.append)
    json.dumps(result)  # the report is plain JSON
    assert [(r["stored"], r["variant"]) for r in result["pipeline"]] == [
        ("32x32", "jpeg"), ("32x32", "jpeg, cache frames")]
    assert all(r["clips_per_s"] > 0 and r["clips_per_cpu_s"] > 0 for r in result["pipeline"])
    (model,) = result["models"]
    assert model["model"] == NAME and model["preset"] == "tiny"  # no cpu preset: tiny
    assert model["input"] == "4x16x16"
    assert model["clips_per_s_mixed_bfloat16"] > 0  # the trainer's --mixed-precision step
    # The fastest model fed its own input (plain and with the frame cache), with ratios.
    assert [(r["pipeline"], r["input"]) for r in result["target"]] == [
        ("plain", "4x16x16"), ("cache frames", "4x16x16")]
    for row in result["target"]:
        # The ratio is taken before rounding: the shown rates (to 0.1 clips/CPU-s) agree
        # with it to within their own rounding.
        fed, step = row["pipeline_clips_per_cpu_s"], row["train_clips_per_cpu_s"]
        low, high = (fed - 0.05) / (step + 0.05), (fed + 0.05) / (step - 0.05)
        assert low - 0.005 <= row["ratio_cpu"] <= high + 0.005
    markdown = bp.to_markdown(result)
    assert "### Pipeline against the training step" in markdown
    assert "mixed_bfloat16 clips/s" in markdown
    stages = {r["stage"]: r for r in result["stages"]}
    assert stages["decode JPEG (q95)"]["frames"] == "4x32x32"
    assert all(r["cpu_ms_per_clip"] > 0 for r in result["stages"])
    assert "### Stages" in markdown
    assert markdown.count("| 32x32 |") == 4
    # The data is made once and found again.
    folder = bp.benchmark_data(config.work_dir, 32, "jpeg", 24)
    assert (folder / "manifest.json").exists()
    assert any("train step" in line for line in lines)
    # The same figures as one table for ferzoo.inference.benchmark's sections.
    monkeypatch.setattr(bp, "run_pipeline_benchmark", lambda config, log: result)
    table = bp.section(config)
    assert len(table["rows"]) == 2 + 1 + 2
    assert set(table["rows"][-1]) <= set(table["columns"])

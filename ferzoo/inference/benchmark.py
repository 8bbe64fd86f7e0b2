"""How fast each model runs on this machine, in each runtime; JSON and a Markdown table.

    python tools/benchmark.py stc_nlstm stcam --preset cpu --out benchmarks/cpu
    ferzoo benchmark --preset tiny --out benchmarks/tiny        # every registered model

A benchmark is made of sections. Each section is a function registered with
:func:`register_section` that takes the :class:`BenchmarkConfig` and returns a
:class:`Section` (title, columns, rows, notes); :func:`run_benchmark` runs the sections
asked for and :func:`to_markdown` prints one table per section. ``inference`` is the
first section: for every model and runtime (Keras, SavedModel, TFLite float32 and int8,
ONNX Runtime), the median latency of one clip (batch 1) and the clips per second at
``batch`` clips per call (batch-1 runtimes: one clip per call). The models are exported
with :func:`ferzoo.export` first, so every timed artefact has passed the parity check.
``pipeline`` (``--sections inference pipeline``) is ``ferzoo.training.pipeline_benchmark``'s
table: the input pipeline's clips/s against each model's training step.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import os
import platform
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable, Sequence

from ferzoo import registry
from ferzoo.export import export, format_size, random_feed
from ferzoo.export.runtime import KerasRuntime, artefact_size, latency_ms, open_runtime
from ferzoo.progress import Progress
from ferzoo.training import pipeline_benchmark

RUNTIMES = ("keras", "savedmodel", "tflite-float32", "tflite-int8", "onnx")


@dataclasses.dataclass
class BenchmarkConfig:
    """What to measure.

    Attributes:
        models: registered model names (default: every registered model).
        preset: the preset they are built with (``"tiny"``, ``"cpu"``, or None for the
            paper's settings).
        runtimes: any of :data:`RUNTIMES`.
        batch: clips per call for the throughput figure of dynamic-batch runtimes.
        repeats: timed calls per figure (the median is reported).
        warmup: untimed calls before timing.
        threads: CPU threads of every runtime (default: every core).
        work_dir: where exports are written (default: a temporary folder).
    """

    models: Sequence[str] = ()
    preset: str | None = "tiny"
    runtimes: Sequence[str] = RUNTIMES
    batch: int = 8
    repeats: int = 20
    warmup: int = 3
    threads: int | None = None
    work_dir: str | None = None


@dataclasses.dataclass
class Section:
    """One table of the benchmark."""

    title: str
    columns: list[str]
    rows: list[dict[str, Any]]
    notes: list[str] = dataclasses.field(default_factory=list)


SECTIONS: dict[str, Callable[[BenchmarkConfig], Section]] = {}


def register_section(name: str):
    """Add a section (a function ``config -> Section``) under ``name``."""

    def decorator(fn: Callable[[BenchmarkConfig], Section]):
        if name in SECTIONS:
            raise ValueError(f"benchmark section {name!r} is already registered")
        SECTIONS[name] = fn
        return fn

    return decorator


def run_benchmark(config: BenchmarkConfig, sections: Sequence[str] = ("inference",)) -> dict:
    """Run ``sections``; returns ``{"meta": ..., "sections": {name: Section as dict}}``."""
    unknown = [s for s in sections if s not in SECTIONS]
    if unknown:
        raise ValueError(f"unknown benchmark sections {unknown}; known: {sorted(SECTIONS)}")
    unknown = [r for r in config.runtimes if r not in RUNTIMES]
    if unknown:
        raise ValueError(f"unknown runtimes {unknown}; choose from {list(RUNTIMES)}")
    config.threads = set_threads(config.threads)
    result = {"meta": machine_info(config), "sections": {}}
    for name in sections:
        result["sections"][name] = dataclasses.asdict(SECTIONS[name](config))
    return result


def set_threads(threads: int | None) -> int:
    """Use ``threads`` CPU threads in TensorFlow (and, through the environment, in the
    TFLite and ONNX runtimes). Returns the number in effect."""
    import tensorflow as tf

    threads = threads or os.cpu_count() or 1
    os.environ["TF_NUM_INTRAOP_THREADS"] = str(threads)  # read by ferzoo.export.runtime
    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:  # TensorFlow already started: keep what it has
        threads = tf.config.threading.get_intra_op_parallelism_threads() or threads
        os.environ["TF_NUM_INTRAOP_THREADS"] = str(threads)
    return threads


def package_versions() -> dict[str, str | None]:
    """Python's and the stack's versions (None for a package that is not installed)."""
    versions: dict[str, str | None] = {"python": platform.python_version()}
    for module in ("tensorflow", "keras", "onnxruntime", "ai_edge_litert", "tf2onnx"):
        try:
            versions[module] = __import__(module).__version__
        except (ImportError, AttributeError):
            versions[module] = None
    return versions


def machine_info(config: BenchmarkConfig) -> dict[str, Any]:
    versions = package_versions()
    return {
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "command": " ".join([_program(), *sys.argv[1:]]),
        "cpu": _cpu_name(),
        "cores": os.cpu_count(),
        "threads": config.threads,
        "versions": versions,
        "config": dataclasses.asdict(config),
    }


def _program() -> str:
    """How this run was started: ``python tools/benchmark.py`` or ``ferzoo benchmark``."""
    script = sys.argv[0]
    if script.endswith(".py") and Path(script).name not in ("cli.py", "__main__.py"):
        return f"python {os.path.relpath(script)}"
    return "ferzoo" if "benchmark" in sys.argv[1:2] else "ferzoo benchmark"


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


# ------------------------------------------------------------------------ inference


@register_section("inference")
def inference_section(config: BenchmarkConfig) -> Section:
    """Latency per clip and clips per second of every model in every runtime."""
    import keras

    models = list(config.models) or registry.list_models()
    columns = ["model", "input", "parameters", "runtime", "size", "ms/clip",
               "clips/s", "batch"]
    rows: list[dict[str, Any]] = []
    notes = [
        f"ms/clip: median of {config.repeats} calls with one clip (batch 1), after "
        f"{config.warmup} warm-up calls. clips/s: at {config.batch} clips per call where "
        f"the artefact takes any batch, else one clip per call.",
        f"{config.threads} thread(s) in every runtime; preset {config.preset!r}; models "
        f"exported with ferzoo.export (float parity checked) before timing.",
    ]
    formats = sorted({r.split("-")[0] for r in config.runtimes} - {"keras"})
    variants = [r.split("-", 1)[1] for r in config.runtimes if r.startswith("tflite-")]
    with tempfile.TemporaryDirectory(prefix="ferzoo-bench-") as tmp:
        work = Path(config.work_dir or tmp)
        progress = Progress(len(models) * len(config.runtimes), "benchmark", unit="runs",
                            interval=10)
        for name in models:
            keras.utils.set_random_seed(0)
            model = registry.build(name, preset=config.preset)
            report = export(model, work / name, name=name, formats=formats,
                            tflite_variants=variants, num_check=2, num_calibration=8,
                            num_threads=config.threads)
            shapes = {k: tuple(v) for k, v in report.inputs.items()}
            described = " + ".join(f"{k} {'x'.join(map(str, v))}" for k, v in shapes.items())
            for runtime_name in config.runtimes:
                if runtime_name == "keras":
                    runtime, size = KerasRuntime(model), None
                else:
                    artefact = report.artefact(runtime_name)
                    runtime = open_runtime(artefact.path, num_threads=config.threads)
                    size = artefact_size(artefact.path)
                one = random_feed(shapes, 1, seed=1)
                latency = latency_ms(runtime, [one], config.repeats, config.warmup)
                batch = config.batch if runtime.batch is None else 1
                if batch == 1:
                    per_second = 1000.0 / latency
                else:
                    many = random_feed(shapes, batch, seed=2)
                    per_second = batch * 1000.0 / latency_ms(
                        runtime, [many], max(3, config.repeats // 4), 1)
                rows.append({
                    "model": name, "input": described, "parameters": model.count_params(),
                    "runtime": runtime_name, "size": size, "ms/clip": round(latency, 3),
                    "clips/s": round(per_second, 1), "batch": batch,
                })
                progress.update(1)
            keras.backend.clear_session()
        progress.close()
    return Section("Inference on this CPU", columns, rows, notes)


@register_section("pipeline")
def pipeline_section(config: BenchmarkConfig) -> Section:
    """The input pipeline's clips/s against each model's training step
    (``ferzoo.training.pipeline_benchmark``, its default sizes and variants)."""
    return Section(**pipeline_benchmark.section(pipeline_benchmark.PipelineBenchConfig(
        models=tuple(config.models), preset=config.preset or "cpu", threads=config.threads,
    )))


# --------------------------------------------------------------------------- output


def to_markdown(result: dict) -> str:
    """Every section as a Markdown table, with the machine and the command."""
    meta = result["meta"]
    lines = [
        f"Machine: {meta['cpu']}, {meta['cores']} cores, {meta['threads']} thread(s); "
        + ", ".join(f"{k} {v}" for k, v in meta["versions"].items() if v) + ".",
        "",
        f"Command: `{meta['command']}` ({meta['date']})",
    ]
    for section in result["sections"].values():
        lines += ["", f"### {section['title']}", "",
                  "| " + " | ".join(section["columns"]) + " |",
                  "|" + "|".join("---" if c in ("model", "input", "runtime") else "---:"
                                 for c in section["columns"]) + "|"]
        for row in section["rows"]:
            lines.append("| " + " | ".join(_cell(c, row.get(c)) for c in section["columns"])
                         + " |")
        lines += [""] + [f"- {note}" for note in section["notes"]]
    return "\n".join(lines) + "\n"


def _cell(column: str, value: Any) -> str:
    if value is None:
        return "-"
    if column == "size":

        return format_size(value)
    if column == "parameters":
        return f"{value:,}"
    return str(value)


def write_results(result: dict, out: str | os.PathLike) -> tuple[Path, Path]:
    """Write ``<out>.json`` and ``<out>.md``; a folder (existing, or ending in ``/``)
    gets ``benchmark.json`` and ``benchmark.md``."""
    is_folder = str(out).endswith(("/", os.sep))
    out = Path(out)
    if out.is_dir() or is_folder:
        out = out / "benchmark"
    elif out.suffix in (".json", ".md"):
        out = out.with_suffix("")
    out.parent.mkdir(parents=True, exist_ok=True)
    json_path, md_path = out.with_suffix(".json"), out.with_suffix(".md")
    json_path.write_text(json.dumps(result, indent=1, default=str))
    md_path.write_text(to_markdown(result))
    return json_path, md_path

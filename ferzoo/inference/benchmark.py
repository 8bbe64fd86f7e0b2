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

import numpy as np

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


# --------------------------------------------------------------------------- video


class _Clock:
    """Seconds spent in wrapped calls, by stage."""

    def __init__(self):
        self.seconds: dict[str, float] = {}

    def wrap(self, stage: str, fn: Callable) -> Callable:
        import time

        def timed(*args, **kwargs):
            started = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.seconds[stage] = self.seconds.get(stage, 0.0) + (
                    time.perf_counter() - started)

        return timed

    def frames(self, source, limit: int | None):
        """The frames of ``source`` with the time spent decoding them counted."""
        import time

        iterator = iter(source)
        count = 0
        while limit is None or count < limit:
            started = time.perf_counter()
            try:
                item = next(iterator)
            except StopIteration:
                return
            finally:
                self.seconds["decode"] = self.seconds.get("decode", 0.0) + (
                    time.perf_counter() - started)
            count += 1
            yield item


def _stages(seconds: dict[str, float], total: float, frames: int) -> dict[str, Any]:
    per_frame = {k: round(1000 * v / max(frames, 1), 2) for k, v in seconds.items()}
    per_frame["other"] = round(1000 * (total - sum(seconds.values())) / max(frames, 1), 2)
    # seconds to the millisecond: a short clip takes under a second, and 2 decimals would
    # be 5 % of it (the per-frame stages must add up to seconds / frames)
    return {"frames": frames, "seconds": round(total, 3),
            "frames_per_second": round(frames / total, 1) if total else None,
            "ms_per_frame": per_frame}


def video_benchmark(video: str | os.PathLike, weights: str | None = None,
                    model: str | None = None, preset: str | None = None,
                    detector: str = "fast", threads: int | None = None,
                    max_frames: int | None = None, baseline_frames: int | None = 60,
                    warmup: int = 8, detect_every: int = 1) -> dict[str, Any]:
    """End-to-end frames/s and per-stage costs of ``Predictor.predict`` on ``video``, and
    of the frame-by-frame way of end-user tools on the same video in the same run.

    The pipeline: ``detector`` on every frame, multi-face tracking, alignment, one model
    window per face every ``stride`` frames. Stages (ms per frame): ``decode``,
    ``detect``, ``track`` (association, optical flow, re-identification), ``align``,
    ``model`` (input preparation and the runtime), ``other`` (windows, timeline).

    The baseline: MTCNN on every frame (frames scaled to 640 px, batches of 8), each face
    aligned, and one model call per face per frame (the face repeated over the window:
    the cost of a per-frame classifier of this model's size), on the first
    ``baseline_frames`` frames (``None``: all; 0: no baseline).

    ``detect_every``: the pipeline detects on every n-th frame and carries the faces by
    optical flow in between.
    """
    import time

    from ferzoo.inference.predict import Predictor, make_detector
    from ferzoo.video.faces import FaceDetector, align_face
    from ferzoo.video.faces.multi import MultiFaceOptions
    from ferzoo.video.io import FrameSource

    threads = set_threads(threads)
    predictor = Predictor(weights, model=model, preset=preset, detector=detector,
                          num_threads=threads, face_options=MultiFaceOptions(every=detect_every))
    # warm-up: the detector's and the model's first calls
    predictor.detector()
    warm = list(_Clock().frames(FrameSource(video), warmup))
    predictor.detector().detect_batch([f for _, f in warm])
    predictor.run([np.zeros((predictor.frames, predictor.image_size, predictor.image_size, 3),
                            np.uint8)])

    clock = _Clock()
    run = predictor.run
    predictor.run = clock.wrap("model", run)
    source = FrameSource(video)
    started = time.perf_counter()
    timeline = predictor.predict(clock.frames(source, max_frames))
    total = time.perf_counter() - started
    predictor.run = run
    timings = dict(clock.seconds)
    timings.update(predictor.tracker.timings)
    frames = timeline.notes["frames_read"]
    result = {
        "video": str(video), "width": source.info.width, "height": source.info.height,
        "model": predictor.name, "runtime": predictor.runtime.format,
        "weights": str(weights) if weights else f"untrained {model} ({preset})",
        "window": predictor.frames, "stride": predictor.stride, "threads": threads,
        "pipeline": {"detector": predictor.detector_name, "detect_every": detect_every,
                     "faces": timeline.face_ids,
                     "windows": len(timeline), **_stages(timings, total, frames)},
    }
    if baseline_frames != 0:
        mtcnn, _ = make_detector("mtcnn")
        assert isinstance(mtcnn, FaceDetector)
        mtcnn.detect_batch([f for _, f in warm[:1]])
        clock = _Clock()
        detect = clock.wrap("detect", mtcnn.detect_batch)
        align = clock.wrap("align", align_face)
        classify = clock.wrap("model", predictor.run)
        count, batch = 0, []
        started = time.perf_counter()

        def flush():
            for frame, faces in zip(batch, detect(batch)):
                for face in faces:
                    aligned, _ = align(frame, face.left_eye, face.right_eye,
                                       predictor.image_size)
                    classify([np.repeat(aligned[None], predictor.frames, axis=0)])

        for _, frame in clock.frames(FrameSource(video), baseline_frames):
            batch.append(frame)
            count += 1
            if len(batch) == 8:
                flush()
                batch = []
        if batch:
            flush()
        total = time.perf_counter() - started
        result["frame_by_frame"] = {"detector": "mtcnn", **_stages(clock.seconds, total, count)}
        fps, base = (result["pipeline"]["frames_per_second"],
                     result["frame_by_frame"]["frames_per_second"])
        result["speedup"] = round(fps / base, 1) if fps and base else None
    result["meta"] = {"date": datetime.datetime.now().isoformat(timespec="seconds"),
                      "command": " ".join([_program(), *sys.argv[1:]]), "cpu": _cpu_name(),
                      "cores": os.cpu_count(), "versions": package_versions(),
                      # other work on the machine slows both ways alike
                      "load_average_1min": round(os.getloadavg()[0], 2)}
    return result


def video_markdown(result: dict) -> str:
    """The video benchmark as a Markdown table: one row per way, ms per frame by stage."""
    ways = [("ferzoo predict (streamed, per-face windows)", result["pipeline"])]
    if "frame_by_frame" in result:
        ways.append(("frame by frame (MTCNN + per-frame classifier)",
                     result["frame_by_frame"]))
    stages = ["decode", "detect", "track", "align", "model", "other"]
    lines = [f"Video: `{result['video']}` ({result['width']}x{result['height']}); model "
             f"{result['model']} ({result['runtime']}), window {result['window']}, stride "
             f"{result['stride']}; {result['threads']} thread(s) on {result['meta']['cpu']} "
             f"({result['meta']['cores']} cores, load average "
             f"{result['meta'].get('load_average_1min')} at the end).", "",
             "| way | detector | frames | frames/s | "
             + " | ".join(f"{s} ms" for s in stages) + " |",
             "|---|---|---:|---:|" + "---:|" * len(stages)]
    for name, way in ways:
        cells = [str(way["ms_per_frame"].get(s, "-")) for s in stages]
        lines.append(f"| {name} | {way['detector']} | {way['frames']} | "
                     f"{way['frames_per_second']} | " + " | ".join(cells) + " |")
    if result.get("speedup"):
        lines += ["", f"Speed-up of the streamed pipeline: {result['speedup']}x."]
    return "\n".join(lines) + "\n"

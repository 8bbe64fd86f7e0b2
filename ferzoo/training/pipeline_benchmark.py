"""Clips per second of the input pipeline alone, against each model's training step.

    python tools/benchmark_pipeline.py --sizes 112 224 --out benchmarks/pipeline

The pipeline is ``ferzoo.data.pipeline.make_dataset`` in training mode (read, decode the
sampled frames, augment, resize, batch; shuffled, repeated) over synthetic clips stored
at each frame size (``--sizes``), timed after a warm-up with nothing downstream. The
training step is ``ferzoo.training.distribute.make_train_step`` on one device over constant
batches of each registered model's ``cpu`` preset (``tiny`` when it has none): the clips
per second an accelerator-free run can consume. The pipeline should deliver several times
what the fastest model consumes (on this machine, 3x), so that it never starves a step.

Writes ``pipeline.json`` and ``pipeline.md`` (docs/performance.md explains the choices).
``section(...)`` returns the same figures as one table for ``ferzoo.inference.benchmark``.
"""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import time
from pathlib import Path
from typing import Any, Sequence

from ferzoo import registry
from ferzoo.data import augment
from ferzoo.data.pipeline import InputSpec, decode_uint8, make_dataset
from ferzoo.data.schema import parse_example
from ferzoo.data.synthetic import SyntheticConfig, render_clip, subject_name
from ferzoo.data.writer import read_manifest, write_split
from ferzoo.training.distribute import (
    classification_loss,
    dtype_policy,
    make_train_step,
    regression_loss,
)
from ferzoo.training.recipes import get_recipe

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# Pipeline variants compared at every size: name -> (image format, make_dataset options).
VARIANTS: dict[str, tuple[str, dict[str, Any]]] = {
    "jpeg": ("jpeg", {}),
    "png": ("png", {}),
    "jpeg, cache records": ("jpeg", {"cache": "records"}),
    "jpeg, cache frames": ("jpeg", {"cache": "frames"}),
    "jpeg, deterministic": ("jpeg", {"deterministic": True}),
    "jpeg, no augmentation": ("jpeg", {"augment": {}}),
}


@dataclasses.dataclass
class PipelineBenchConfig:
    """What to measure.

    Attributes:
        sizes: stored frame sizes (square) of the synthetic data.
        models: registered models whose training step is timed (default: all).
        preset: their preset (falls back to ``tiny`` for a model without it).
        batch: clips per batch, pipeline and training step alike.
        frames: T of the model-free pipeline rows (frames sampled per clip).
        variants: names from :data:`VARIANTS`.
        clips: clips in each synthetic dataset (a few distinct ones, repeated).
        seconds: timing window of each pipeline figure (after the warm-up).
        steps: timed training steps per model.
        threads: CPU threads of TensorFlow's ops and of tf.data (None: every core). With
            1, clips/CPU-s is the rate of one core, whatever else the machine runs.
        step_variants: training steps timed per model (:data:`STEP_VARIANTS`); the first
            is the one the pipeline is compared with.
        compare: ``"fastest"``: the pipeline is timed for the fastest model's input;
            ``"all"``: for every model's (video models; the benchmark data has no flow).
        stages: also time the pipeline's stages one by one (:func:`stage_costs`).
        work_dir: where the synthetic data is written (kept between runs).
    """

    sizes: Sequence[int] = (112, 224)
    models: Sequence[str] = ()
    preset: str = "cpu"
    batch: int = 16
    frames: int = 16
    variants: Sequence[str] = tuple(VARIANTS)
    clips: int = 96
    seconds: float = 8.0
    steps: int = 6
    threads: int | None = None
    step_variants: Sequence[str] = ("float32",)
    compare: str = "fastest"
    stages: bool = False
    work_dir: str = "benchmarks/pipeline-data"


# ------------------------------------------------------------------------ data
_DISTINCT_CLIPS = 12  # rendered once per size, then written clips // 12 times


def benchmark_data(root: str | os.PathLike, size: int, image_format: str = "jpeg",
                   clips: int = 96) -> Path:
    """A folder of synthetic clips at ``size`` x ``size`` (``train`` split), made once."""
    folder = Path(root) / f"synthetic-{size}px-{image_format}-{clips}"
    manifest = read_manifest(folder)
    if manifest and manifest["splits"].get("train", {}).get("num_clips") == clips:
        return folder
    config = SyntheticConfig(size=size, num_subjects=4, test_subjects=1,
                             clips_per_subject=_DISTINCT_CLIPS // 3)
    distinct = [render_clip(config, s, i) for s in range(3)
                for i in range(config.clips_per_subject)]

    def load(index: int):
        clip = distinct[index % len(distinct)]
        return dataclasses.replace(clip, clip_id=f"{clip.clip_id}-{index}",
                                   subject=subject_name(index % 8))

    write_split(folder, "train", list(range(clips)), load, labels=config.labels,
                clips_per_shard=16, image_format=image_format, progress=False,
                source="synthetic")
    return folder


# ------------------------------------------------------------------- measuring
@dataclasses.dataclass
class Rate:
    """Clips per wall-clock second, and per CPU-second of this process (all threads).

    On a shared machine the wall-clock rate follows the load of the other processes;
    clips per CPU-second does not (much), so ratios are taken on both.
    """

    wall: float
    cpu: float


class _Timer:
    def __enter__(self):
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def rate(self, clips: int) -> Rate:
        wall = time.perf_counter() - self.wall
        cpu = max(time.process_time() - self.cpu, 1e-9)
        return Rate(clips / wall, clips / cpu)

    def elapsed(self) -> float:
        return time.perf_counter() - self.wall

    def __exit__(self, *exc):
        return False


def pipeline_rate(folder: Path, spec, batch: int, seconds: float, threads: int | None = None,
                  **options: Any) -> Rate:
    """Clips/s of ``make_dataset(training=True, **options)`` (repeated), nothing downstream."""
    import tensorflow as tf

    ds = make_dataset(folder, spec, split="train", training=True, batch_size=batch, seed=0,
                      **options).repeat()
    tf_options = tf.data.Options()
    if threads:
        tf_options.threading.private_threadpool_size = threads
        tf_options.threading.max_intra_op_parallelism = 1
    ds = ds.with_options(tf_options)
    batches = iter(ds)
    for _ in range(3):  # warm-up: autotuning, shuffle buffer, file handles
        next(batches)
    count = 0
    with _Timer() as timer:
        while timer.elapsed() < seconds or count < 3:
            next(batches)
            count += 1
        return timer.rate(count * batch)


# Training-step variants: the trainer's --mixed-precision and --jit.
STEP_VARIANTS = ("float32", "mixed_bfloat16", "mixed_float16", "xla")


def train_step_rate(name: str, preset: str, batch: int, steps: int, variant: str = "float32"):
    """Clips/s of one device's training step of model ``name``; its spec and preset.

    ``variant``: ``float32``, a mixed-precision policy (as ``--mixed-precision``) or
    ``xla`` (as ``--jit``).
    """
    import keras
    import tensorflow as tf

    if variant not in STEP_VARIANTS:
        raise ValueError(f"unknown training-step variant {variant!r}; use {STEP_VARIANTS}")
    entry = registry.get_entry(name)
    used = preset if preset in entry.presets else "tiny"
    policy = variant if variant.startswith("mixed") else None
    with dtype_policy(policy):
        model = registry.build(name, used)
    spec = InputSpec.from_model(model, entry.sampling)
    optimizer = keras.optimizers.Adam(1e-4)
    if variant == "mixed_float16":
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    loss = regression_loss if entry.head == "regression" else classification_loss()
    step = make_train_step(tf.distribute.get_strategy(), model, optimizer, loss, batch,
                           count_correct=entry.head != "regression", jit=variant == "xla")
    rng = tf.random.Generator.from_seed(0)
    inputs = {k: rng.uniform((batch, *shape)) for k, shape in spec.element_shapes().items()}
    y = tf.zeros((batch,), tf.int32) if entry.head != "regression" else tf.zeros((batch,))
    for _ in range(2):
        float(step(inputs, y)[0])
    with _Timer() as timer:
        for _ in range(steps):
            float(step(inputs, y)[0])
        rate = timer.rate(steps * batch)
    keras.backend.clear_session()
    return rate, spec, used


def stage_costs(folder: Path, frames: int, repeats: int = 30) -> list[dict[str, Any]]:
    """CPU milliseconds per clip of the pipeline's stages and their alternatives, on
    ``frames`` frames of the first clip in ``folder`` (JPEG) and of its PNG twin."""
    import math

    import tensorflow as tf

    def first_clip(path):
        files = sorted(Path(path).glob("train-*.tfrecord"))
        raw = next(iter(tf.data.TFRecordDataset([str(files[0])])))
        return parse_example(raw)["image/encoded"][:frames]

    jpeg = first_clip(folder)
    png_folder = Path(str(folder).replace("-jpeg-", "-png-"))
    video = tf.image.convert_image_dtype(decode_uint8(jpeg, 3), tf.float32)
    size = int(video.shape[1])
    crop = video[:, : int(size * 0.9), : int(size * 0.9)]
    angle = tf.constant(5 * math.pi / 180)
    flip = tf.constant(True)
    half = (size // 2, size // 2)
    transform = tf.tile(augment.rotation_transform(angle, size, size)[None], [frames, 1])
    stages = [
        ("decode JPEG (q95)", "used", lambda: decode_uint8(jpeg, 3)),
        ("decode PNG", "not used", (lambda: decode_uint8(first_clip(png_folder), 3))
         if png_folder.exists() else None),
        ("decode JPEG, then uint8 -> float32", "used", lambda: tf.image.convert_image_dtype(
            decode_uint8(jpeg, 3), tf.float32)),
        ("flip: tf.where (both computed)", "before", lambda: tf.where(
            flip, tf.reverse(crop, [2]), crop)),
        ("flip: tf.cond", "used", lambda: tf.cond(flip, lambda: tf.reverse(crop, [2]),
                                                  lambda: crop)),
        ("rotate: ImageProjectiveTransformV3", "before", lambda: tf.raw_ops.
         ImageProjectiveTransformV3(images=video, transforms=transform,
                                    output_shape=[size, size], interpolation="BILINEAR",
                                    fill_mode="CONSTANT", fill_value=0.0)),
        ("rotate: 4 row gathers", "used", lambda: augment.rotate(video, angle)),
        (f"rotate after shrinking to {half[0]}", "used", lambda: augment.rotate(
            video[:, : half[0], : half[1]], angle)),
        ("resize crop -> full, antialias", "before", lambda: tf.image.resize(
            crop, (size, size), antialias=True)),
        ("resize crop -> full, bilinear (same pixels)", "used", lambda: tf.image.resize(
            crop, (size, size))),
        ("resize crop -> half, antialias", "used", lambda: tf.image.resize(
            crop, half, antialias=True)),
    ]
    rows = []
    for name, status, fn in stages:
        if fn is None:
            continue
        graph_fn = tf.function(fn, autograph=False)  # straight-line ops: nothing to convert
        graph_fn()
        start = time.process_time()
        for _ in range(repeats):
            graph_fn()
        ms = 1000 * (time.process_time() - start) / repeats
        rows.append({"stage": name, "frames": f"{frames}x{size}x{size}", "status": status,
                     "cpu_ms_per_clip": round(ms, 2)})
    return rows


def run_pipeline_benchmark(config: PipelineBenchConfig, log=print) -> dict[str, Any]:
    """Measure; returns ``{"meta", "pipeline", "models", "target"}`` (lists of rows)."""
    import tensorflow as tf

    unknown = [v for v in config.variants if v not in VARIANTS]
    if unknown:
        raise ValueError(f"unknown pipeline variants {unknown}; known: {list(VARIANTS)}")
    models = list(config.models) or registry.list_models()
    folders = {}
    for size in config.sizes:
        for fmt in sorted({VARIANTS[v][0] for v in config.variants} | {"jpeg"}):
            log(f"data: {config.clips} synthetic clips at {size}x{size} ({fmt})")
            folders[size, fmt] = benchmark_data(config.work_dir, size, fmt, config.clips)

    stage_rows = []
    if config.stages:
        for size in config.sizes:
            rows = stage_costs(folders[size, "jpeg"], config.frames)
            for row in rows:
                log(f"stage {row['frames']} {row['stage']}: {row['cpu_ms_per_clip']} ms/clip")
            stage_rows += rows

    pipeline_rows = []
    for size in config.sizes:
        spec = InputSpec(frames=config.frames, image_size=(size, size))
        for variant in config.variants:
            fmt, options = VARIANTS[variant]
            rate = pipeline_rate(folders[size, fmt], spec, config.batch, config.seconds,
                                 config.threads, **options)
            log(f"pipeline {size}px T={config.frames} {variant}: {rate.wall:.1f} clips/s, "
                f"{rate.cpu:.1f} clips/CPU-s")
            pipeline_rows.append({"stored": f"{size}x{size}", "variant": variant,
                                  "output": f"{config.frames}x{size}x{size}",
                                  "clips_per_s": round(rate.wall, 1),
                                  "clips_per_cpu_s": round(rate.cpu, 1)})

    model_rows, specs = [], {}
    for name in models:
        row = {"model": name}
        for index, variant in enumerate(config.step_variants):
            rate, spec, used = train_step_rate(name, config.preset, config.batch,
                                               config.steps, variant)
            suffix = "" if index == 0 else f"_{variant}"
            row[f"clips_per_s{suffix}"] = round(rate.wall, 1)
            row[f"clips_per_cpu_s{suffix}"] = round(rate.cpu, 1)
            log(f"train step {name} ({used}, {variant}): {rate.wall:.1f} clips/s, "
                f"{rate.cpu:.1f} clips/CPU-s")
        specs[name] = spec
        row.update(preset=used, input=f"{spec.frames}x{spec.image_size[0]}x{spec.image_size[1]}"
                   + (" + flow" if "flow" in spec.streams else ""))
        model_rows.append(row)

    # The fastest model (per CPU-second; or every model) fed its own input, with its
    # recipe's augmentation, from data stored at each size: as the trainer reads it by
    # default, and with the frame cache (--cache frames).
    target = []
    video_only = [r for r in model_rows if "video" in specs[r["model"]].streams
                  and "flow" not in specs[r["model"]].streams]  # the benchmark data has no flow
    if config.compare == "fastest" and video_only:
        video_only = [max(video_only, key=lambda r: r["clips_per_cpu_s"])]
    for model_row in video_only:

        name = model_row["model"]
        recipe_augment = get_recipe(registry.get_entry(name).recipe).augment
        for size in config.sizes:
            for cache in (False, "frames"):
                rate = pipeline_rate(folders[size, "jpeg"], specs[name], config.batch,
                                     config.seconds, config.threads, augment=recipe_augment,
                                     cache=cache)
                row = {"stored": f"{size}x{size}", "model": name, "input": model_row["input"],
                       "pipeline": "cache frames" if cache else "plain",
                       "pipeline_clips_per_s": round(rate.wall, 1),
                       "pipeline_clips_per_cpu_s": round(rate.cpu, 1),
                       "train_clips_per_s": model_row["clips_per_s"],
                       "train_clips_per_cpu_s": model_row["clips_per_cpu_s"],
                       "ratio_wall": round(rate.wall / model_row["clips_per_s"], 2),
                       "ratio_cpu": round(rate.cpu / model_row["clips_per_cpu_s"], 2)}
                log(f"pipeline ({row['pipeline']}) for {name} from {size}px: "
                    f"{rate.wall:.1f} clips/s ({row['ratio_wall']}x its step), "
                    f"{rate.cpu:.1f} clips/CPU-s ({row['ratio_cpu']}x)")
                target.append(row)
    return {
        "meta": {
            "date": time.strftime("%Y-%m-%d %H:%M"), "machine": platform.machine(),
            "cpus": os.cpu_count(),
            "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
            "tensorflow": tf.__version__, "python": platform.python_version(),
            "gpus": [d.name for d in tf.config.list_logical_devices("GPU")],
            "config": dataclasses.asdict(config),
        },
        "stages": stage_rows, "pipeline": pipeline_rows, "models": model_rows,
        "target": target,
    }


# --------------------------------------------------------------------- output
def _table(rows: list[dict[str, Any]], columns: Sequence[tuple[str, str]]) -> str:
    lines = ["| " + " | ".join(title for _, title in columns) + " |",
             "|" + "|".join("---" for _ in columns) + "|"]
    for row in rows:
        lines.append("| " + " | ".join(str(row.get(key, "")) for key, _ in columns) + " |")
    return "\n".join(lines)


def to_markdown(result: dict[str, Any]) -> str:
    meta = result["meta"]
    cfg = meta["config"]
    load = meta.get("load_average")
    stages = []
    if result.get("stages"):
        stages = [
            "### Stages, CPU milliseconds per clip (one thread)", "",
            _table(result["stages"], [("frames", "frames (T x H x W)"), ("stage", "stage"),
                                      ("status", "in the pipeline"),
                                      ("cpu_ms_per_clip", "CPU ms / clip")]), ""]
    parts = [
        f"Measured {meta['date']} on {meta['cpus']} CPU(s)"
        + (f" (load average {load[0]:.1f} at the end)" if load else "")
        + f", TensorFlow {meta['tensorflow']}, batch {cfg['batch']}"
        + (f", GPUs {meta['gpus']}" if meta["gpus"] else ", no GPU")
        + (f", {cfg['threads']} thread(s)" if cfg.get("threads") else ", all cores")
        + ". clips/CPU-s: clips per CPU-second of the process (all threads).",
        "",
        *stages,
        "### Input pipeline alone (read, decode, sample, augment, resize, batch)",
        "",
        _table(result["pipeline"], [("stored", "stored frames"), ("variant", "variant"),
                                     ("output", "clip out (T x H x W)"),
                                     ("clips_per_s", "clips/s"),
                                     ("clips_per_cpu_s", "clips/CPU-s")]),
        "",
        f"### Training step, one device, `{cfg['preset']}` preset",
        "",
        _table(result["models"], [("model", "model"), ("preset", "preset"),
                                  ("input", "input (T x H x W)")] + [
            (f"clips_per{unit}{'' if i == 0 else '_' + v}", f"{v} clips/{title}")
            for i, v in enumerate(cfg.get("step_variants") or ["float32"])
            for unit, title in (("_s", "s"), ("_cpu_s", "CPU-s"))]),
    ]
    if result["target"]:
        parts += [
            "",
            "### Pipeline against the training step (the model's own input and recipe "
            "augmentation)",
            "",
            _table(result["target"], [
                ("stored", "stored frames"), ("model", "model"), ("input", "model input"),
                ("pipeline", "pipeline"),
                ("pipeline_clips_per_s", "pipeline clips/s"),
                ("train_clips_per_s", "step clips/s"), ("ratio_wall", "ratio"),
                ("pipeline_clips_per_cpu_s", "pipeline clips/CPU-s"),
                ("train_clips_per_cpu_s", "step clips/CPU-s"), ("ratio_cpu", "ratio (CPU)")]),
        ]
    return "\n".join(parts) + "\n"


def section(config: PipelineBenchConfig | None = None, log=print) -> dict[str, Any]:
    """The figures as one table (``title``, ``columns``, ``rows``, ``notes``), the shape
    of a ``ferzoo.inference.benchmark`` section."""
    result = run_pipeline_benchmark(config or PipelineBenchConfig(), log=log)
    rows = [{"what": f"pipeline {r['stored']} {r['variant']}", "input": r["output"],
             "clips/s": r["clips_per_s"], "clips/CPU-s": r["clips_per_cpu_s"]}
            for r in result["pipeline"]]
    rows += [{"what": f"train step {r['model']} ({r['preset']})", "input": r["input"],
              "clips/s": r["clips_per_s"], "clips/CPU-s": r["clips_per_cpu_s"]}
             for r in result["models"]]
    rows += [{"what": f"pipeline {r['stored']} ({r['pipeline']}) for {r['model']}",
              "input": r["input"],
              "clips/s": r["pipeline_clips_per_s"],
              "clips/CPU-s": r["pipeline_clips_per_cpu_s"],
              "x train step": f"{r['ratio_wall']} ({r['ratio_cpu']} per CPU-s)"}
             for r in result["target"]]
    return {"title": "Input pipeline vs training step (clips/s)",
            "columns": ["what", "input", "clips/s", "clips/CPU-s", "x train step"],
            "rows": rows,
            "notes": ["pipeline: ferzoo.data.pipeline.make_dataset(training=True) alone; "
                      "train step: one device, constant batches (docs/performance.md)"]}


def write_report(result: dict[str, Any], out: str | os.PathLike) -> tuple[Path, Path]:
    """``pipeline.json`` and ``pipeline.md`` in the folder ``out``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "pipeline.json").write_text(json.dumps(result, indent=1))
    (out / "pipeline.md").write_text(to_markdown(result))
    return out / "pipeline.json", out / "pipeline.md"


def set_threads(threads: int) -> None:
    """TensorFlow's op thread pools (call before TensorFlow runs anything)."""
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(threads)

"""The model card: what an exported model takes, gives and was checked to do.

Written into the export folder: ``model_card.json`` and the same as ``model_card.md``.

The card names the model and its paper, describes every input (shape, value range,
frame sampling, the preprocessing a clip needs), the outputs and labels, the metrics of
the weights, and every exported file with its parity figures. ``ferzoo predict`` reads
``model_card.json`` to prepare its input the same way.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping, Sequence

import keras
import tensorflow as tf

from ferzoo import registry
from ferzoo.data.sampling import get_sampler
from ferzoo.export.parity import (
    FLOAT_ATOL,
    ArtefactReport,
    ExportReport,
    model_clip_shapes,
    parity_table,
)
from ferzoo.export.runtime import PROBABILITIES


def model_card(
    model: keras.Model,
    name: str,
    report: ExportReport,
    labels: Sequence[str] | None = None,
    metrics: Mapping[str, Any] | None = None,
    head: str = "softmax",
    photometric: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The model card as a dict (what ``model_card.json`` holds)."""
    entry = registry_entry(name)
    info = registry.model_info(name, count_params=False) if entry else {}
    clip_shapes = model_clip_shapes(model)
    value_range = list(entry.value_range) if entry else [0.0, 1.0]
    sampling = entry.sampling if entry else "unknown"
    sampling_text = _describe_sampling(sampling)
    num_outputs = int(model.outputs[0].shape[-1])
    frames = next(iter(clip_shapes.values()))[0]
    if labels is not None and len(labels) != num_outputs:
        raise ValueError(f"{len(labels)} labels given for a model with {num_outputs} outputs")
    inputs = [
        {
            "name": stream,
            "shape": ["batch", *shape],
            "dims": "batch, T (frames), H, W, C; channels last",
            "dtype": "float32",
            "value_range": value_range,
            "frame_sampling": sampling_text if stream == "video"
            else f"{sampling_text} (flow between adjacent frames)",
            "preprocessing": _preprocessing(stream, shape, value_range, sampling,
                                            photometric if stream == "video" else None),
        }
        for stream, shape in clip_shapes.items()
    ]
    notes = [
        f"TFLite files take batch 1 and exactly T={frames} frames (static shapes); run "
        f"clips one at a time.",
        "SavedModel and (unless its row says otherwise) ONNX take any batch, same T.",
    ]
    if any(a.label == "tflite-int8" for a in report.artefacts):
        calibration = report.calibration or "calibration data not recorded"
        notes.append(f"int8 TFLite: float32 input and output (quantised inside); {calibration}.")
    notes += report.warnings
    return {
        "name": name,
        "description": info.get("description", ""),
        "paper": info.get("paper", ""),
        "recipe": info.get("recipe", ""),
        "head": head,
        "parameters": int(model.count_params()),
        "inputs": inputs,
        "outputs": [
            {"name": out, "shape": ["batch", num_outputs],
             "meaning": "softmax class probabilities" if out == PROBABILITIES
             else "model output"}
            for out in report.outputs
        ],
        "labels": list(labels) if labels is not None else None,
        "photometric": dict(photometric) if photometric else None,
        "metrics": dict(metrics) if metrics else None,
        "exports": [
            {
                "format": a.format, "variant": a.variant, "file": Path(a.path).name,
                "size_bytes": a.size_bytes, "batch": a.batch,
                "max_abs_diff": a.max_abs_diff, "top1_agreement": a.top1_agreement,
                "latency_ms_per_clip": a.latency_ms, "notes": a.notes,
                "accuracy": a.accuracy, "uar": a.uar,
            }
            for a in report.artefacts
        ],
        "keras_latency_ms_per_clip": report.keras_latency_ms,
        "keras_scores": {"accuracy": report.keras_accuracy, "uar": report.keras_uar,
                         "data": report.evaluation or None},
        "parity_check": {
            "clips": report.check_clips,
            "float_tolerance": FLOAT_ATOL,
            "reference": f"Keras {keras.__version__} on TensorFlow {tf.__version__}",
        },
        "notes": notes,
    }


def _describe_sampling(name: str) -> str:
    """``"stcam: STCAM's frame selection (...): neutral, evenly between, peak."``"""
    try:
        doc = (get_sampler(name).__doc__ or "").strip().splitlines()
    except (ImportError, ValueError):
        return name
    return f"{name}: {doc[0].rstrip(':')}" if doc else name


def _preprocessing(stream: str, shape: Sequence[int], value_range: Sequence[float],
                   sampling: str, photometric: Mapping[str, Any] | None = None) -> str:
    t, h, w, c = shape
    colour = "RGB" if c == 3 else ("grey" if c == 1 else f"{c} channels")
    low, high = value_range
    scale = "divide uint8 by 255" if (low, high) == (0.0, 1.0) else f"map to [{low}, {high}]"
    if stream == "flow":
        return (f"optical flow between adjacent aligned face frames as (dx, dy, magnitude), "
                f"{h}x{w}, {t} steps, decoded as in ferzoo.data (flow/scale); {scale}")
    steps = []
    if photometric and photometric.get("equalize"):
        steps.append("histogram equalisation of every frame (8-bit levels)")
    stats = (photometric or {}).get("standardize")
    if isinstance(stats, Mapping):
        steps.append(f"(x - {stats['mean']}) / {stats['std']}")
    elif stats:
        steps.append("standardise every frame to zero mean and unit std")
    then = "; then " + ", then ".join(steps) if steps else ""
    return (f"detect the face (MTCNN, confidence >= 0.9), align on the eyes, crop and resize "
            f"to {h}x{w}, {colour}, {scale}; T={t} frames by '{sampling}' sampling{then}")


def write_model_card(card: Mapping[str, Any], path: str | Path) -> tuple[Path, Path]:
    """Write ``model_card.json`` and ``model_card.md`` into folder ``path``."""
    path = Path(path)
    json_path, md_path = path / "model_card.json", path / "model_card.md"
    json_path.write_text(json.dumps(card, indent=2))
    md_path.write_text(model_card_markdown(card))
    return json_path, md_path


def model_card_markdown(card: Mapping[str, Any]) -> str:
    lines = [f"# {card['name']}", ""]
    if card.get("description"):
        lines += [card["description"], ""]
    if card.get("paper"):
        lines += [f"Paper: {card['paper']}", ""]
    lines += [f"Parameters: {card['parameters']:,}. Head: {card['head']}.", "",
              "## Input", "",
              "| name | shape | dtype | value range | frame sampling | preprocessing |",
              "|---|---|---|---|---|---|"]
    for spec in card["inputs"]:
        shape = "(" + ", ".join(str(d) for d in spec["shape"]) + ")"
        lines.append(f"| {spec['name']} | {shape} | {spec['dtype']} | {spec['value_range']} "
                     f"| {spec['frame_sampling']} | {spec['preprocessing']} |")
    lines += ["", "## Output", ""]
    for out in card["outputs"]:
        shape = "(" + ", ".join(str(d) for d in out["shape"]) + ")"
        lines.append(f"- `{out['name']}`: {shape}, {out['meaning']}")
    labels = card.get("labels")
    lines += ["", "## Labels", "",
              (", ".join(f"{i}: {l}" for i, l in enumerate(labels)) if labels
               else "Not recorded with these weights (class indices only).")]
    lines += ["", "## Metrics", ""]
    if card.get("metrics"):
        lines += [f"- {k}: {v}" for k, v in card["metrics"].items()]
    else:
        lines.append("None recorded for these weights.")
    lines += ["", "## Exports and parity with Keras", ""]
    rows = [ArtefactReport(e["format"], e["variant"], e["file"], e["size_bytes"], e["batch"],
                           e["max_abs_diff"], e["top1_agreement"], e["latency_ms_per_clip"],
                           e["notes"], e.get("accuracy"), e.get("uar")) for e in card["exports"]]
    scores = card.get("keras_scores") or {}
    lines.append(parity_table(rows, card.get("keras_latency_ms_per_clip"),
                              (scores.get("accuracy"), scores.get("uar"))))
    if scores.get("data"):
        lines += ["", f"WAR / UAR measured on {scores['data']} in each runtime."]
    check = card["parity_check"]
    lines += ["", f"Checked on {check['clips']} clips against {check['reference']}; float "
              f"formats must match to {check['float_tolerance']:g}.", "", "## Notes", ""]
    lines += [f"- {n}" for n in card["notes"]]
    return "\n".join(lines) + "\n"


def registry_entry(name: str | None):
    """The registry entry of model ``name``, or ``None`` when it is not registered."""
    if not name:
        return None
    try:
        return registry.get_entry(name)
    except registry.RegistryError:
        return None

"""Linear probes on the pixels of synthetic clips: can one frame tell the class, can two?

The check behind the temporal variants (docs/temporal.md): a logistic regression fitted
on the training subjects' clips and scored on the test subjects', on one of

    ``first``       the first frame (the subject's resting face)
    ``apex``        the apex frame (the peak of the expression)
    ``apex-first``  the apex frame minus the first: the change from the resting face
    ``mid-first``   the frame half way from the first to the apex, minus the first: the
                    early onset

each frame grey, reduced to ``probe_size`` pixels a side and standardised. Besides the
accuracy over all classes (chance 1/6) it scores the choice a single frame cannot
make: the *ambiguous pair* of a clip is the clip's class and the other class its apex
frame shows as well (the subject's resting expression under ``resting_bias``, the
class's partner under ``onset_order``); over the test clips of a variant whose
prediction falls in their pair, ``pair_accuracy`` is the share that picks the clip's
own class (chance 1/2).

    >>> from ferzoo.data.synthetic import SyntheticConfig
    >>> from ferzoo.data.synthetic.probes import run_probes
    >>> run_probes(SyntheticConfig(temporal="resting_bias"))     # doctest: +SKIP
    {'apex': {'accuracy': 0.41, 'pair_accuracy': 0.52, ...}, 'apex-first': {...}, ...}
"""

from __future__ import annotations

import dataclasses
from typing import Any, Iterable, Sequence

import cv2
import numpy as np

from ferzoo.data.synthetic.clips import plan_clip, render_frames
from ferzoo.data.synthetic.config import SyntheticConfig
from ferzoo.data.synthetic.temporal import PARTNER, check_variant, resting_bias

PROBES = ("first", "apex", "apex-first", "mid-first")


@dataclasses.dataclass
class ProbeData:
    """The probe frames of a set of clips: grey, ``probe_size`` a side, float32."""

    first: np.ndarray      # (N, size * size)
    mid: np.ndarray
    apex: np.ndarray
    labels: np.ndarray     # (N,) class index
    ambiguous: np.ndarray  # (N,) the other class of the clip's ambiguous pair, -1: none

    def features(self, probe: str) -> np.ndarray:
        if probe == "first":
            return self.first
        if probe == "apex":
            return self.apex
        if probe == "apex-first":
            return self.apex - self.first
        if probe == "mid-first":
            return self.mid - self.first
        raise ValueError(f"unknown probe {probe!r}; known: {', '.join(PROBES)}")


def ambiguous_partner(config: SyntheticConfig, subject_id: int, label: int) -> int:
    """The class that the apex frame of a clip of ``label`` shows besides its own under
    the config's temporal variant (-1 when there is none: default data, or the same)."""
    names = config.labels
    variant = check_variant(config)
    if variant == "resting_bias":
        other = names.index(resting_bias(config.seed, subject_id)[0])
    elif variant == "onset_order" and names[label] in PARTNER:
        other = names.index(PARTNER[names[label]])
    else:
        return -1
    return -1 if other == label else other


def _grey(frame: np.ndarray, size: int) -> np.ndarray:
    grey = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
    return cv2.resize(grey, (size, size), interpolation=cv2.INTER_AREA).astype(np.float32)


def probe_data(config: SyntheticConfig, subjects: Iterable[int],
               clips_per_subject: int | None = None, probe_size: int = 24) -> ProbeData:
    """Render the clips of ``subjects`` (the first ``clips_per_subject`` of each, default
    all) and keep their probe frames."""
    rows: dict[str, list] = {k: [] for k in ("first", "mid", "apex", "labels", "ambiguous")}
    for subject in subjects:
        for clip in range(clips_per_subject or config.clips_per_subject):
            plan = plan_clip(config, subject, clip)
            frames = render_frames(config, subject, plan)
            apex = plan.apex_index
            rows["first"].append(_grey(frames[0], probe_size).ravel())
            rows["mid"].append(_grey(frames[apex // 2], probe_size).ravel())
            rows["apex"].append(_grey(frames[apex], probe_size).ravel())
            rows["labels"].append(plan.label)
            rows["ambiguous"].append(ambiguous_partner(config, subject, plan.label))
    return ProbeData(**{k: np.asarray(v) for k, v in rows.items()})


def fit_probe(train: ProbeData, test: ProbeData, probe: str, C: float = 0.01,
              num_classes: int | None = None) -> dict[str, Any]:
    """Fit an L2 logistic regression on ``train``'s ``probe`` features; score ``test``.

    Returns ``accuracy`` (all classes), ``chance`` (1 / classes), ``pair_accuracy``
    (see the module; None when no test clip has an ambiguous pair) and
    ``pair_clips`` (the clips it is computed on).
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    classifier = make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=2000))
    classifier.fit(train.features(probe), train.labels)
    predicted = classifier.predict(test.features(probe))
    right = predicted == test.labels
    in_pair = (test.ambiguous >= 0) & (right | (predicted == test.ambiguous))
    classes = num_classes or len(np.unique(np.concatenate([train.labels, test.labels])))
    return {
        "accuracy": round(float(right.mean()), 4), "chance": round(1 / classes, 4),
        "pair_accuracy": round(float(right[in_pair].mean()), 4) if in_pair.any() else None,
        "pair_clips": int(in_pair.sum()), "test_clips": int(len(right)),
    }


def run_probes(config: SyntheticConfig | None = None, probes: Sequence[str] = PROBES,
               clips_per_subject: int | None = None, probe_size: int = 24,
               C: float = 0.01) -> dict[str, dict[str, Any]]:
    """Every probe of ``probes`` on ``config``'s data (train subjects -> test subjects)."""
    config = config or SyntheticConfig()
    train = probe_data(config, config.train_subjects, clips_per_subject, probe_size)
    test = probe_data(config, config.test_subject_ids, clips_per_subject, probe_size)
    return {probe: fit_probe(train, test, probe, C=C, num_classes=len(config.labels))
            for probe in probes}


def probe_table(results: dict[str, dict[str, dict[str, Any]]]) -> str:
    """A markdown table of ``{data name: run_probes(...)}``."""
    lines = ["| data | probe | accuracy (chance) | pair accuracy (chance 50 %) |",
             "|---|---|---:|---:|"]
    for data, rows in results.items():
        for probe, r in rows.items():
            pair = "-" if r["pair_accuracy"] is None else (
                f"{r['pair_accuracy']:.1%} of {r['pair_clips']}")
            lines.append(f"| {data} | `{probe}` | {r['accuracy']:.1%} ({r['chance']:.1%}) "
                         f"| {pair} |")
    return "\n".join(lines)

"""What to generate: :class:`SyntheticConfig`, whose fields and the renderer's
``RENDER_VERSION`` make the cache key of a generated dataset."""

from __future__ import annotations

import dataclasses
import hashlib
import json

from typing import Any, Mapping

from ferzoo.data.synthetic.render import RENDER_VERSION, labels
from ferzoo.errors import UsageError


@dataclasses.dataclass(frozen=True)
class SyntheticConfig:
    """What to generate. Every field is part of the cache key (:meth:`key`).

    Args:
        size: output frame size in pixels (square, RGB).
        min_frames, max_frames: range of clip lengths (inclusive; min_frames >= 6).
        num_subjects: subjects in all; the last ``test_subjects`` of them form the test
            split, the others the train split (subject-independent).
        clips_per_subject: clips of each subject; a multiple of the class count keeps the
            classes exactly balanced (30 = 5 clips per class for 6 classes).
        neutral: add ``neutral`` as class 6.
        flow: store DIS optical flow with each clip (see ferzoo.video.flow).
        seed: base seed of everything.
        mmi_fraction: share of neutral -> apex -> neutral (MMI style) clips; the others
            are neutral -> apex (CK+ style).
        resting_expression: in [0, 1]; above 0, every subject's neutral face holds one
            of the six expressions (drawn per subject) at an intensity between half this
            value and this value, through every frame of every clip (the clip's own
            expression is added on top, taking per action the larger of the two). Then
            the apex frame alone is ambiguous (a resting-angry subject's sad apex shows
            both) and only the change from the first frame tells the expression: a
            control for whether a model reads time. 0 (default) keeps the slight resting
            face every subject has anyway.
        temporal: a temporal variant, where one frame cannot tell the class
            (ferzoo.data.synthetic.temporal, docs/temporal.md): ``"resting_bias"`` (the
            resting face holds an expression as strong as the clip's) or ``"onset_order"``
            (class pairs with the same apex, told apart by the order of their onset).
            Empty (default): the default data.
    """

    size: int = 64
    min_frames: int = 10
    max_frames: int = 32
    num_subjects: int = 40
    test_subjects: int = 10
    clips_per_subject: int = 30
    neutral: bool = False
    flow: bool = False
    seed: int = 0
    mmi_fraction: float = 0.5
    resting_expression: float = 0.0
    temporal: str = ""

    def __post_init__(self):
        if self.size < 16:
            raise ValueError(f"size={self.size} is too small to draw a face; use >= 16")
        if not 6 <= self.min_frames <= self.max_frames:
            raise ValueError(
                f"frame range {self.min_frames}..{self.max_frames} is invalid: need "
                "6 <= min_frames <= max_frames (an onset, an apex and an offset need frames)"
            )
        if not 1 <= self.test_subjects < self.num_subjects:
            raise ValueError(
                f"test_subjects={self.test_subjects} with num_subjects={self.num_subjects}: "
                "need 1 <= test_subjects < num_subjects (both splits need subjects)"
            )
        if self.clips_per_subject < 1:
            raise ValueError(f"clips_per_subject={self.clips_per_subject}; need >= 1")
        if not 0.0 <= self.mmi_fraction <= 1.0:
            raise ValueError(f"mmi_fraction={self.mmi_fraction}; need a value in [0, 1]")
        if not 0.0 <= self.resting_expression <= 1.0:
            raise ValueError(
                f"resting_expression={self.resting_expression}; need a value in [0, 1]"
            )

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any] | None,
                      argument: str = "--set") -> "SyntheticConfig":
        """A config from ``KEY=VALUE`` settings (``ferzoo synth --set``, ``ferzoo train
        --synthetic``): an unknown key lists the accepted fields, a value of the wrong
        kind or range says what its field takes; ``argument`` names the option."""
        fields = {f.name: f.default for f in dataclasses.fields(cls)}
        settings = dict(settings or {})
        accepted = ", ".join(f"{k} (default {v!r})" for k, v in fields.items())
        unknown = sorted(set(settings) - set(fields))
        if unknown:
            raise UsageError(f"{argument}: the synthetic dataset has no setting "
                             f"{', '.join(unknown)}; accepted: {accepted}")
        values = {}
        for key, value in settings.items():
            default = fields[key]
            if isinstance(default, str):
                ok, words, value = True, "a name", str(value)
            elif isinstance(default, bool):
                ok, words = isinstance(value, bool), "True or False"
            elif isinstance(default, int):
                ok = isinstance(value, int) and not isinstance(value, bool)
                words = "an integer"
            else:
                ok = isinstance(value, (int, float)) and not isinstance(value, bool)
                words, value = "a number", float(value) if ok else value
            if not ok:
                raise UsageError(f"{argument} {key}={value!r}: {key} takes {words} "
                                 f"(default {default!r})")
            values[key] = value
        try:
            return cls(**values)
        except ValueError as error:
            raise UsageError(f"{argument}: {error}") from None

    @property
    def labels(self) -> list[str]:
        return labels(self.neutral)

    @property
    def train_subjects(self) -> range:
        return range(self.num_subjects - self.test_subjects)

    @property
    def test_subject_ids(self) -> range:
        return range(self.num_subjects - self.test_subjects, self.num_subjects)

    def key(self) -> str:
        """Short stable name for cache folders, e.g. ``64px-s0-1f3a9c2e``."""
        fields = dict(dataclasses.asdict(self), render_version=RENDER_VERSION)
        if not self.resting_expression:  # added later: default data keeps its old key
            del fields["resting_expression"]
        if not self.temporal:  # added later too
            del fields["temporal"]
        digest = hashlib.sha1(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:8]
        return f"{self.size}px-s{self.seed}-{digest}"

"""The clips of the synthetic dataset: what is random about a clip (label, timing profile,
intensity, head motion, blinks, lighting, noise), planned from
``(config.seed, subject, clip)``, and drawn frame by frame with the face renderer."""

from __future__ import annotations

import dataclasses
import functools

import cv2
import numpy as np

from ferzoo.data.schema import Clip
from ferzoo.data.synthetic.config import SyntheticConfig
from ferzoo.data.synthetic.render import (
    _A,
    ACTIONS,
    EXPRESSIONS,
    NEUTRAL,
    SUPERSAMPLE,
    _draw_frame,
    _subject_assets,
    expression_actions,
)
from ferzoo.data.synthetic.temporal import check_variant, onset_order_actions, resting_bias
from ferzoo.video.flow import compute_flow

PROFILES = ("onset_apex", "onset_apex_offset")
FPS = 25.0
SOURCE = "synthetic"
INTENSITY = (0.7, 1.0)  # range of the apex intensity of a clip

# Valence of each expression at full intensity (a clip's valence is this times its
# intensity). decision: hand-set from the circumplex placement of the basic emotions
# (Russell 1980); surprise is mildly positive.
VALENCE = {
    "anger": -0.7, "disgust": -0.6, "fear": -0.6, "happiness": 0.8,
    "sadness": -0.7, "surprise": 0.2, NEUTRAL: 0.0,
}


@dataclasses.dataclass(frozen=True)
class ClipPlan:
    """Everything random about a clip except the per-frame noise."""

    label: int
    label_name: str
    profile: str
    intensity: float
    apex_index: int
    actions: np.ndarray   # (T, len(ACTIONS))
    poses: np.ndarray     # (T, 4): dx, dy, rotation, scale
    gains: np.ndarray     # (T, 3): overall gain, gradient strength, gradient angle
    cast: np.ndarray      # (3,) colour cast of the light
    noise: float          # sensor noise, std in grey levels
    noise_seed: tuple     # seed of the per-frame noise

    @property
    def num_frames(self) -> int:
        return len(self.actions)


def _smoothstep(x):
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3 - 2 * x)


def _timeline(rng, num_frames: int, profile: str) -> tuple[np.ndarray, int]:
    """Expression strength over time in [0, 1] and the apex (first peak) frame."""
    t = np.arange(num_frames, dtype=np.float64)
    start = int(rng.integers(1, max(1, num_frames // 5) + 1))  # last neutral frame
    if profile == "onset_apex":
        apex = int(rng.integers(max(start + 2, num_frames - 4), num_frames))
        return _smoothstep((t - start) / (apex - start)), apex
    apex = int(rng.integers(max(start + 2, int(0.35 * num_frames)), int(0.6 * num_frames) + 1))
    hold = int(rng.integers(0, max(1, num_frames // 8) + 1))
    end = int(rng.integers(min(apex + hold + 2, num_frames - 1), num_frames))
    rise = _smoothstep((t - start) / (apex - start))
    fall = 1 - _smoothstep((t - apex - hold) / max(end - apex - hold, 1))
    return np.minimum(rise, fall), apex


def resting_actions(config: SyntheticConfig, subject_id: int) -> np.ndarray:
    """The action vector of subject ``subject_id``'s resting expression (zeros when
    ``config.resting_expression`` is 0): one of the six expressions, drawn per subject,
    at an intensity in [resting_expression / 2, resting_expression]; with
    ``temporal="resting_bias"`` drawn like a clip's apex instead
    (:func:`ferzoo.data.synthetic.temporal.resting_bias`)."""
    if check_variant(config) == "resting_bias":
        return resting_bias(config.seed, subject_id)[1]
    if not config.resting_expression:
        return np.zeros(len(ACTIONS), np.float32)
    rng = np.random.default_rng([config.seed, subject_id, 104729])
    name = EXPRESSIONS[int(rng.integers(len(EXPRESSIONS)))]
    return expression_actions(name, config.resting_expression * float(rng.uniform(0.5, 1.0)))


def plan_clip(config: SyntheticConfig, subject_id: int, clip_index: int) -> ClipPlan:
    """The random choices of clip ``clip_index`` of subject ``subject_id``."""
    if subject_id < 0 or clip_index < 0:
        raise ValueError(f"subject_id and clip_index must be >= 0, got {subject_id}, {clip_index}")
    names = config.labels
    label = (clip_index + subject_id) % len(names)
    rng = np.random.default_rng([config.seed, subject_id, clip_index, 1])
    num_frames = int(rng.integers(config.min_frames, config.max_frames + 1))
    profile = PROFILES[int(rng.random() < config.mmi_fraction)]
    intensity = float(rng.uniform(*INTENSITY))
    strength, apex = _timeline(rng, num_frames, profile)
    # the expression's actions, each scaled a little differently from clip to clip
    apex_actions = expression_actions(names[label], intensity)
    jitter = rng.uniform(0.8, 1.2, len(ACTIONS)).astype(np.float32)
    apex_actions *= jitter
    actions = strength[:, None] * apex_actions[None, :]
    variant = check_variant(config)
    if variant == "onset_order" and names[label] != NEUTRAL:
        actions = onset_order_actions(names[label], strength, intensity, jitter)
    if config.resting_expression or variant == "resting_bias":
        actions = np.maximum(actions, resting_actions(config, subject_id)[None, :])
    if rng.random() < 0.35:  # a blink somewhere in the clip
        when = int(rng.integers(0, num_frames))
        for k, v in ((when - 1, 0.5), (when, 1.0), (when + 1, 0.5)):
            if 0 <= k < num_frames:
                actions[k, _A["blink"]] = v
    # head pose: a per-clip offset plus smooth per-frame motion and a little shake
    t = np.arange(num_frames) / FPS
    base = np.array([rng.uniform(-0.03, 0.03), rng.uniform(-0.03, 0.03),
                     np.deg2rad(rng.uniform(-3, 3)), rng.uniform(0.96, 1.04)])
    amp = np.array([0.01, 0.01, np.deg2rad(2.0), 0.015])
    freq, phase = rng.uniform(0.3, 1.5, 4), rng.uniform(0, 2 * np.pi, 4)
    motion = amp * np.sin(2 * np.pi * freq * t[:, None] + phase)
    shake = rng.normal(0, 1, (num_frames, 4)) * amp * 0.15
    poses = base + motion + shake
    # light: overall level drifts, a gradient across the face turns
    g0 = rng.uniform(0.8, 1.15)
    g1 = g0 * rng.uniform(0.85, 1.15)
    k0, k1 = rng.uniform(0, 0.35, 2)
    a0 = rng.uniform(0, 2 * np.pi)
    a1 = a0 + rng.uniform(-0.7, 0.7)
    s = np.linspace(0, 1, num_frames)
    gains = np.stack([g0 + (g1 - g0) * s, k0 + (k1 - k0) * s, a0 + (a1 - a0) * s], -1)
    return ClipPlan(
        label=label, label_name=names[label], profile=profile, intensity=intensity,
        apex_index=apex, actions=actions.astype(np.float32), poses=poses, gains=gains,
        cast=rng.uniform(0.94, 1.06, 3), noise=float(rng.uniform(1.0, 4.5)),
        noise_seed=(config.seed, subject_id, clip_index, 2),
    )


@functools.lru_cache(maxsize=4)
def _grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    return (xx - size / 2) / size, (yy - size / 2) / size


def render_frames(config: SyntheticConfig, subject_id: int, plan: ClipPlan) -> np.ndarray:
    """Draw a planned clip: uint8 (T, size, size, 3) RGB."""
    size, canvas = config.size, config.size * SUPERSAMPLE
    subject, background = _subject_assets(config.seed, subject_id, canvas)
    small = np.empty((plan.num_frames, size, size, 3), np.uint8)
    image = np.empty_like(background)
    for i in range(plan.num_frames):
        np.copyto(image, background)
        _draw_frame(image, subject, plan.actions[i], plan.poses[i])
        cv2.resize(image, (size, size), small[i], interpolation=cv2.INTER_AREA)
    # light (level and a turning gradient) and sensor noise, for the whole clip at once
    xx, yy = _grid(size)
    gain, slope, angle = (plan.gains[:, k, None, None].astype(np.float32) for k in range(3))
    light = gain * (1 + slope * (xx * np.cos(angle) + yy * np.sin(angle)))  # (T, H, W)
    out = small * light[..., None]
    out *= plan.cast.astype(np.float32)
    noise_rng = np.random.default_rng(list(plan.noise_seed))
    out += noise_rng.standard_normal(out.shape, np.float32) * np.float32(plan.noise)
    np.clip(np.rint(out), 0, 255, out=out)
    return out.astype(np.uint8)


def render_clip(config: SyntheticConfig, subject_id: int, clip_index: int) -> Clip:
    """Clip ``clip_index`` of subject ``subject_id`` (both >= 0), ready for the writer."""
    plan = plan_clip(config, subject_id, clip_index)
    frames = render_frames(config, subject_id, plan)
    return Clip(
        frames=frames, label=plan.label, label_name=plan.label_name,
        subject=subject_name(subject_id), clip_id=f"{subject_name(subject_id)}_{clip_index:03d}",
        source=SOURCE, num_frames=len(frames), fps=FPS, apex_index=plan.apex_index,
        valence=VALENCE[plan.label_name] * plan.intensity,
        flow=compute_flow(frames, "dis") if config.flow else None,
    )


def subject_name(subject_id: int) -> str:
    return f"S{subject_id:03d}"

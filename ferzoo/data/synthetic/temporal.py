"""Temporal variants of the synthetic data: clips whose single frames cannot tell the class.

On the default data the apex frame alone nearly tells the expression, so a frame CNN
does about as well as any video model and the data cannot show whether a network uses
time. ``SyntheticConfig(temporal=...)`` draws data where it must (docs/temporal.md):

``"resting_bias"``
    Every subject's resting face holds one of the six expressions (drawn per subject)
    at the same intensity distribution as a clip's apex (intensity in ``INTENSITY``,
    each action scaled by 0.8..1.2), through every frame of every clip; the clip's own
    expression is added on top, taking per action the larger of the two. The apex frame
    then shows two expressions drawn from the same distribution, and which of them is
    the clip's is symmetric: a single frame cannot tell (the best it can do is 1/2 when
    the two differ, 1/6 + 5/6 * 1/2 = 58 % over all clips). The first frame shows the
    resting face alone, so the change from it tells the class.

``"onset_order"``
    The six classes form three pairs with the same apex: (anger, disgust),
    (fear, surprise), (happiness, sadness). A clip of class A of the pair (A, B) shows
    A's actions rising first (the first half of the onset) and B's second; a clip of B
    the other way round. At the apex both hold the same actions at the same intensity
    (each action the larger of the two expressions', the same clip-to-clip scaling),
    so the apex frame and the first frame tell the pair but not the class (1/2 within
    a pair, 50 % over all clips); the order of the onset tells the class. An MMI-style
    clip (neutral -> apex -> neutral) releases them in reverse order (last in, first
    out). ``neutral`` clips (``neutral=True``) are as in the default data.

The default (``temporal=""``) draws exactly the default data: the variants take their
random numbers from streams of their own, after those of the default data.
"""

from __future__ import annotations

import numpy as np

from ferzoo.data.synthetic.render import ACTIONS, EXPRESSIONS, expression_actions

TEMPORAL_VARIANTS = ("resting_bias", "onset_order")
# Classes with the same apex under "onset_order": each expression and its partner.
ONSET_PAIRS = (("anger", "disgust"), ("fear", "surprise"), ("happiness", "sadness"))
PARTNER = {a: b for pair in ONSET_PAIRS for a, b in (pair, pair[::-1])}
INTENSITY = (0.7, 1.0)  # as a clip's apex intensity (ferzoo.data.synthetic.clips)
JITTER = (0.8, 1.2)     # as a clip's per-action scaling


def check_variant(config) -> str:
    """``config.temporal`` if it names a variant (or is empty); a ValueError otherwise."""
    variant = config.temporal or ""
    if variant and variant not in TEMPORAL_VARIANTS:
        raise ValueError(f"temporal={variant!r} is not a temporal variant; "
                         f"known: {', '.join(TEMPORAL_VARIANTS)} (or empty for the default)")
    if variant == "resting_bias" and config.resting_expression:
        raise ValueError("temporal='resting_bias' sets the resting face itself; "
                         "leave resting_expression at 0")
    return variant


def resting_bias(seed: int, subject_id: int) -> tuple[str, np.ndarray]:
    """The resting expression of a subject under ``"resting_bias"``: its name and
    action vector, drawn like a clip's apex."""
    rng = np.random.default_rng([seed, subject_id, 15331])
    name = EXPRESSIONS[int(rng.integers(len(EXPRESSIONS)))]
    vec = expression_actions(name, float(rng.uniform(*INTENSITY)))
    return name, vec * rng.uniform(*JITTER, len(ACTIONS)).astype(np.float32)


def _smoothstep(x):
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3 - 2 * x)


def onset_order_actions(name: str, strength: np.ndarray, intensity: float,
                        jitter: np.ndarray) -> np.ndarray:
    """(T, len(ACTIONS)) actions of a clip of class ``name`` under ``"onset_order"``.

    ``strength`` is the clip's expression timeline in [0, 1]; the class's own actions
    follow its first half (``smoothstep(2 s)``), its partner's the second
    (``smoothstep(2 s - 1)``), so that the rise shows the class first and the fall
    releases the partner first; at ``s = 1`` both are at ``intensity * jitter``.
    """
    own = expression_actions(name, intensity) * jitter
    other = expression_actions(PARTNER[name], intensity) * jitter
    s = np.asarray(strength, np.float64)[:, None]
    return np.maximum(_smoothstep(2 * s) * own, _smoothstep(2 * s - 1) * other)

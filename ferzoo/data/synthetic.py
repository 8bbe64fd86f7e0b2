"""The built-in synthetic dynamic-expression dataset: procedurally drawn face clips.

No downloads: every clip is drawn with OpenCV from a seed. Each subject has its own face
(oval, eye spacing and size, brows, nose, mouth, skin tone, hair, glasses, background
and its texture) and its own slight resting face (a resting smile or frown, brow
height, eye openness). With ``resting_expression`` > 0 each subject's neutral face
also holds a partial expression, so that the apex frame alone is ambiguous and the
expression is the *change* from the subject's neutral face. Each expression is a
combination of facial actions (named after the FACS action units they imitate)::

    anger      brows lowered and drawn together, eyes narrowed, lips pressed (AU4+7+23/24)
    disgust    nose wrinkled, upper lip raised, brows lowered a little     (AU9+10+4)
    fear       brows raised and drawn together, eyes widened, lips stretched (AU1+2+4+5+20)
    happiness  lip corners up, cheeks raised, teeth shown                (AU6+12+25)
    sadness    inner brows raised, lip corners down, lids drooping       (AU1+4+15)
    surprise   brows raised, eyes widened, jaw dropped (open O mouth)    (AU1+2+5+26)
    neutral    (optional, label 6) no action: pose, lighting and blinks only

A clip animates neutral -> apex (CK+ style, ``profile="onset_apex"``) or neutral -> apex
-> neutral (MMI style, ``"onset_apex_offset"``) over 10..32 frames at 25 fps, with a
random onset time and intensity (0.5..1), small per-frame head motion (translation,
in-plane rotation, scale), blinks, a lighting change over the clip and sensor noise.
Frames are drawn at 4x the output size and reduced with ``INTER_AREA`` (anti-aliasing).

Labels are balanced per subject (clip ``i`` of subject ``s`` has label ``(i + s) % n``),
so subject style cannot predict the label. Everything is a function of
``(config.seed, subject, clip)``: the same arguments give the same pixels, and
:func:`generate` the same shard bytes.

    >>> from ferzoo.data import synthetic
    >>> clip = synthetic.render_clip(synthetic.SyntheticConfig(), subject_id=3, clip_index=0)
    >>> clip.frames.shape, clip.label_name            # doctest: +SKIP
    ((21, 64, 64, 3), 'sadness')
    >>> path = synthetic.ensure_synthetic("tfrecords")  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import math
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ferzoo.data.schema import Clip
from ferzoo.data.writer import atomic_write_text, read_manifest, write_split
from ferzoo.video.flow import compute_flow

EXPRESSIONS = ("anger", "disgust", "fear", "happiness", "sadness", "surprise")
NEUTRAL = "neutral"
PROFILES = ("onset_apex", "onset_apex_offset")
FPS = 25.0
SOURCE = "synthetic"
SUPERSAMPLE = 4  # drawn at 4x, reduced with INTER_AREA
INTENSITY = (0.7, 1.0)  # range of the apex intensity of a clip
# Bump when the drawing changes: it is part of the cache key, so old caches are not reused.
RENDER_VERSION = 3

# Valence of each expression at full intensity (a clip's valence is this times its
# intensity). decision: hand-set from the circumplex placement of the basic emotions
# (Russell 1980); surprise is mildly positive.
VALENCE = {
    "anger": -0.7, "disgust": -0.6, "fear": -0.6, "happiness": 0.8,
    "sadness": -0.7, "surprise": 0.2, NEUTRAL: 0.0,
}

# The facial actions the renderer animates, each in [0, ~1].
ACTIONS = (
    "brow_raise",       # AU1+2 inner and outer brow raiser
    "brow_inner",       # AU1 inner brow raiser (slanted, worried brows)
    "brow_lower",       # AU4 brow lowerer
    "brow_together",    # AU4 brows drawn together (glabella lines)
    "eye_widen",        # AU5 upper lid raiser
    "eye_narrow",       # AU7 lid tightener
    "cheek_raise",      # AU6 cheek raiser (lower lids up, crow's feet)
    "nose_wrinkle",     # AU9 nose wrinkler
    "upper_lip_raise",  # AU10 upper lip raiser
    "smile",            # AU12 lip corner puller
    "frown",            # AU15 lip corner depressor
    "jaw_drop",         # AU26/27 jaw drop, open O mouth
    "lip_stretch",      # AU20 lip stretcher
    "lip_press",        # AU23/24 lip tightener / presser
    "blink",            # AU45 (not part of any expression; random blinks)
)
_A = {name: i for i, name in enumerate(ACTIONS)}

EXPRESSION_ACTIONS: dict[str, dict[str, float]] = {
    "anger": dict(brow_lower=1.0, brow_together=1.0, eye_narrow=0.5, lip_press=1.0),
    "disgust": dict(nose_wrinkle=1.0, upper_lip_raise=1.0, brow_lower=0.5, brow_together=0.3,
                    eye_narrow=0.4, cheek_raise=0.3, frown=0.3),
    "fear": dict(brow_raise=0.6, brow_inner=0.7, brow_together=0.7, eye_widen=1.0,
                 lip_stretch=1.0, jaw_drop=0.2),
    "happiness": dict(smile=1.0, cheek_raise=1.0, eye_narrow=0.2, jaw_drop=0.12),
    "sadness": dict(brow_inner=1.0, brow_together=0.3, frown=1.0, eye_narrow=0.35,
                    lip_press=0.3),
    "surprise": dict(brow_raise=1.0, eye_widen=1.0, jaw_drop=1.0),
    NEUTRAL: {},
}


def labels(neutral: bool = False) -> list[str]:
    """The label names in index order: the six expressions, then ``neutral`` if asked."""
    return list(EXPRESSIONS) + ([NEUTRAL] if neutral else [])


def expression_actions(name: str, intensity: float = 1.0) -> np.ndarray:
    """The action vector (len(ACTIONS),) of expression ``name`` at ``intensity``."""
    if name not in EXPRESSION_ACTIONS:
        raise ValueError(f"unknown expression {name!r}; known: {labels(True)}")
    vec = np.zeros(len(ACTIONS), np.float32)
    for action, value in EXPRESSION_ACTIONS[name].items():
        vec[_A[action]] = value * intensity
    return vec


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
        digest = hashlib.sha1(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:8]
        return f"{self.size}px-s{self.seed}-{digest}"


# ----------------------------------------------------------------------------------
# Subjects: geometry, colours and resting face, all from (seed, subject_id)

SKIN_TONES = np.array([  # RGB, light to dark
    (246, 214, 190), (232, 190, 160), (214, 165, 130), (190, 138, 100),
    (160, 110, 75), (125, 85, 58), (92, 62, 44),
], np.float32)
HAIR_COLOURS = np.array([
    (28, 24, 22), (55, 38, 28), (95, 62, 40), (140, 100, 60), (205, 170, 110),
    (150, 70, 35), (165, 160, 155), (230, 225, 215),
], np.float32)
IRIS_COLOURS = np.array([
    (80, 50, 30), (45, 30, 22), (70, 105, 150), (80, 110, 70), (120, 95, 50),
], np.float32)


@dataclasses.dataclass(frozen=True)
class Subject:
    """One synthetic person. Geometry is in face units: 1 = half the face width, y down."""

    subject_id: int
    head_scale: float   # half face width as a fraction of the frame
    head_x: float       # head centre as a fraction of the frame
    head_y: float
    aspect: float       # half face height / half face width
    jaw: float          # narrowing of the chin
    eye_y: float
    eye_dx: float       # half the distance between the eye centres
    eye_w: float        # eye half-width
    eye_h: float        # upper-lid opening
    eye_tilt: float     # outer corner up (+) or down (-)
    iris_r: float
    brow_y: float
    brow_thick: float
    brow_arch: float
    brow_slope: float
    nose_y: float       # nostril line
    nose_w: float
    mouth_y: float
    mouth_w: float      # mouth half-width
    lip_t: float        # upper lip thickness
    hairline: float
    hair_curve: float
    hair_part: float
    hair_volume: float
    long_hair: bool
    bald: bool
    glasses: bool
    light_side: float   # -1 or 1: the side of the nose that is in shadow
    # resting face: the subject's own neutral (these make single frames ambiguous)
    rest_smile: float   # + corners up, - corners down
    rest_brow: float    # + brows lower, - higher
    rest_eye: float     # eye openness factor
    rest_fold: float    # nasolabial fold depth
    # colours (RGB)
    skin: tuple
    lip: tuple
    hair: tuple
    brow: tuple
    iris: tuple
    clothes: tuple
    glasses_colour: tuple
    background: tuple   # two colours
    background_kind: int


def make_subject(seed: int, subject_id: int) -> Subject:
    """The subject ``subject_id`` of the dataset with base seed ``seed``."""
    rng = np.random.default_rng([seed, subject_id, 7919])
    u = rng.uniform

    def colour(c, jitter=10.0):
        return tuple(float(v) for v in np.clip(c + rng.normal(0, jitter, 3), 0, 255))

    tone = u(0, len(SKIN_TONES) - 1)
    lo = int(tone)
    skin = SKIN_TONES[lo] + (tone - lo) * (SKIN_TONES[min(lo + 1, len(SKIN_TONES) - 1)]
                                           - SKIN_TONES[lo])
    skin = np.array(colour(skin, 6.0))
    lip = skin * np.array([0.82, 0.55, 0.56]) + np.array([22.0, 4.0, 8.0])
    hair = HAIR_COLOURS[rng.integers(len(HAIR_COLOURS))]
    brow = np.minimum(hair * 0.85, skin * 0.45)  # brows are darker than the skin
    # background: two related colours (the texture mixes them), moderate contrast
    hue, sat, val = u(0, 180), u(20, 160), u(70, 220)
    background = []
    for h, sa, v in ((hue, sat, val), ((hue + u(-25, 25)) % 180, sat + u(-40, 40),
                                       val + u(-60, 60))):
        hsv = np.uint8([[[h, np.clip(sa, 0, 255), np.clip(v, 30, 255)]]])
        background.append(tuple(float(c) for c in cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[0, 0]))
    clothes_hsv = np.uint8([[[u(0, 180), u(30, 220), u(40, 220)]]])
    aspect = u(1.22, 1.42)
    eye_y = u(-0.08, 0.02)
    nose_y = eye_y + u(0.38, 0.50)
    return Subject(
        subject_id=subject_id,
        # framed like an aligned face crop (the converters' eye-distance crop)
        head_scale=u(0.40, 0.44), head_x=0.5 + u(-0.02, 0.02), head_y=0.53 + u(-0.02, 0.02),
        aspect=aspect, jaw=u(0.15, 0.40),
        eye_y=eye_y, eye_dx=u(0.37, 0.46), eye_w=u(0.15, 0.20), eye_h=u(0.075, 0.10),
        eye_tilt=u(-0.02, 0.04), iris_r=u(0.075, 0.095),
        brow_y=eye_y - u(0.22, 0.30), brow_thick=u(0.045, 0.10), brow_arch=u(0.02, 0.08),
        brow_slope=u(-0.04, 0.04),
        nose_y=nose_y, nose_w=u(0.11, 0.16),
        mouth_y=nose_y + u(0.24, 0.32), mouth_w=u(0.25, 0.34), lip_t=u(0.045, 0.075),
        hairline=u(-1.0, -0.7), hair_curve=u(0.1, 0.5), hair_part=u(-0.15, 0.15),
        hair_volume=u(1.08, 1.25), long_hair=bool(rng.random() < 0.4),
        bald=bool(rng.random() < 0.08), glasses=bool(rng.random() < 0.15),
        light_side=float(rng.choice([-1.0, 1.0])),
        rest_smile=u(-0.25, 0.25), rest_brow=u(-0.04, 0.04), rest_eye=u(0.85, 1.15),
        rest_fold=u(0.05, 0.35),
        skin=tuple(float(v) for v in skin), lip=colour(lip, 6.0),
        hair=colour(hair), brow=colour(brow, 5.0),
        iris=colour(IRIS_COLOURS[rng.integers(len(IRIS_COLOURS))]),
        clothes=tuple(float(v) for v in cv2.cvtColor(clothes_hsv, cv2.COLOR_HSV2RGB)[0, 0]),
        glasses_colour=colour(np.array([30.0, 30.0, 35.0]) if rng.random() < 0.7
                              else rng.uniform(40, 200, 3)),
        background=tuple(background), background_kind=int(rng.integers(4)),
    )


def _background(subject: Subject, seed: int, canvas: int) -> np.ndarray:
    """The subject's textured background at canvas resolution, uint8 RGB."""
    rng = np.random.default_rng([seed, subject.subject_id, 104729])
    c1, c2 = (np.array(c, np.float32) for c in subject.background)
    yy, xx = np.mgrid[0:canvas, 0:canvas].astype(np.float32) / canvas
    kind = subject.background_kind
    if kind == 0:  # linear gradient
        angle = rng.uniform(0, 2 * np.pi)
        mix = (xx - 0.5) * np.cos(angle) + (yy - 0.5) * np.sin(angle) + 0.5
    elif kind == 1:  # soft blotches
        low = rng.uniform(0, 1, (5, 5)).astype(np.float32)
        mix = cv2.resize(low, (canvas, canvas), interpolation=cv2.INTER_CUBIC)
    elif kind == 2:  # stripes
        angle, freq = rng.uniform(0, np.pi), rng.uniform(2.5, 7.0)
        mix = 0.5 + 0.5 * np.sin(2 * np.pi * freq * (xx * np.cos(angle) + yy * np.sin(angle)))
    else:  # tiles
        n = int(rng.integers(3, 7))
        mix = ((np.floor(xx * n) + np.floor(yy * n)) % 2) * 0.8 + 0.1
        mix = cv2.GaussianBlur(mix.astype(np.float32), (0, 0), canvas / 150)
    mix = np.clip(mix, 0, 1)[..., None]
    image = c1 * (1 - mix) + c2 * mix + rng.normal(0, 6.0, (canvas, canvas, 1))
    return np.clip(image, 0, 255).astype(np.uint8)


# ----------------------------------------------------------------------------------
# Drawing one frame

def _xy(x, y) -> np.ndarray:
    """(N,) x and (N,) y -> (N, 2) points."""
    return np.array((x, y)).T


_SHIFT = 3  # fixed-point bits for OpenCV's sub-pixel drawing
_ONE = 1 << _SHIFT
_CIRCLE16 = _xy(np.cos(np.arange(16) * np.pi / 8), np.sin(np.arange(16) * np.pi / 8))
_CIRCLE48 = _xy(np.cos(np.arange(48) * np.pi / 24), np.sin(np.arange(48) * np.pi / 24))
_T9 = np.linspace(-1.0, 1.0, 9)
_T11 = np.linspace(-1.0, 1.0, 11)
_B7 = np.linspace(0.0, 1.0, 7)


def _shade(colour, factor: float) -> tuple:
    r, g, b = colour
    return (r * factor, g * factor, b * factor)


class _Painter:
    """A display list of polygons in face units, drawn in one go under a similarity
    transform (all points are transformed with one matrix product: drawing ~30 shapes
    one numpy call at a time costs more than the drawing itself)."""

    def __init__(self):
        self.ops: list[tuple[list[np.ndarray], tuple, float, bool]] = []

    def fill(self, polygons, colour) -> None:
        self.ops.append((polygons, colour, 0.0, False))

    def lines(self, polylines, colour, width: float, closed: bool = False) -> None:
        self.ops.append((polylines, colour, width, closed))

    def draw(self, canvas: np.ndarray, subject: Subject, pose) -> None:
        tx, ty, rot, scale = pose
        size = canvas.shape[0]
        unit = subject.head_scale * size * scale  # pixels per face unit
        cos, sin = math.cos(rot) * unit * _ONE, math.sin(rot) * unit * _ONE
        matrix = np.array([[cos, sin], [-sin, cos]])
        offset = np.array([subject.head_x + tx, subject.head_y + ty]) * (size * _ONE)
        polys = [poly for polygons, *_ in self.ops for poly in polygons]
        ends = np.cumsum([len(poly) for poly in polys])[:-1]
        points = np.split(np.rint(np.concatenate(polys) @ matrix + offset).astype(np.int32), ends)
        i = 0
        for polygons, colour, width, closed in self.ops:
            pts, i = points[i:i + len(polygons)], i + len(polygons)
            if width:
                cv2.polylines(canvas, pts, closed, colour, max(1, int(round(width * unit))),
                              cv2.LINE_8, _SHIFT)
            else:
                cv2.fillPoly(canvas, pts, colour, cv2.LINE_8, _SHIFT)


def _ellipse(cx, cy, rx, ry, circle=_CIRCLE16):
    return circle * (rx, ry) + (cx, cy)


def _draw_frame(canvas: np.ndarray, s: Subject, acts: np.ndarray, pose) -> None:
    """Draw subject ``s`` with action activations ``acts`` (len(ACTIONS),) at ``pose``."""
    (br, bi, bl, bt, ew, en, cr, nw, ulr, sm, fr, jd, ls, lp, blink) = acts.tolist()
    p = _Painter()
    skin = s.skin
    a = s.aspect

    # hair behind the head, neck, clothes, ears
    if not s.bald:
        back = [_ellipse(0, -0.2 * a, s.hair_volume, a * 0.98, _CIRCLE48)]
        if s.long_hair:
            back.append(np.array([[-s.hair_volume, -0.2], [s.hair_volume, -0.2],
                                  [s.hair_volume + 0.1, 1.9], [-s.hair_volume - 0.1, 1.9]]))
        p.fill(back, s.hair)
    p.fill([np.array([[-0.45, 0.4 * a], [0.45, 0.4 * a], [0.5, 2.6], [-0.5, 2.6]])],
           _shade(skin, 0.82))
    sh = a + 0.45
    p.fill([np.array([[-3.0, sh + 2], [-2.6, sh + 0.3], [-1.2, sh], [-0.5, sh - 0.1],
                      [0.0, sh + 0.2], [0.5, sh - 0.1], [1.2, sh], [2.6, sh + 0.3],
                      [3.0, sh + 2]])], s.clothes)
    ear_y = s.eye_y + 0.15
    p.fill([_ellipse(-0.97, ear_y, 0.13, 0.24), _ellipse(0.97, ear_y, 0.13, 0.24)],
           _shade(skin, 0.93))

    # face oval; the jaw drop lengthens the lower face
    oval = _CIRCLE48.copy()
    lower = oval[:, 1] > 0
    oval[lower, 0] *= 1 - s.jaw * oval[lower, 1] ** 2
    oval[:, 1] *= a
    oval[lower, 1] *= 1 + 0.12 * jd
    p.fill([oval], skin)

    # fringe: the top of the head down to the hairline
    if not s.bald:
        top = _CIRCLE48[24:] * (1.03, a * 1.03)  # angles pi..2pi: the upper half
        top = np.concatenate([[[-1.03, 0.0]], top, [[1.03, 0.0]]])
        hx = np.linspace(1.03, -1.03, 9)
        hy = np.minimum(s.hairline + s.hair_curve * hx ** 2 + s.hair_part * hx, -0.05)
        p.fill([np.concatenate([top, _xy(hx, hy)])], s.hair)
        strand = _shade(s.hair, 0.7 if sum(s.hair) > 180 else 1.7)
        hx = np.linspace(-0.8, 0.8, 7)
        hy = s.hairline + s.hair_curve * hx ** 2 + s.hair_part * hx - 0.05
        p.lines([np.array([[x * 0.4 + s.hair_part, -0.97 * a], [x * 0.8, (y - 0.97 * a) / 2],
                           [x, y]]) for x, y in zip(hx, hy)], strand, 0.018)

    # forehead wrinkles (brow raise; the inner raiser gives short central ones)
    depth = min(1.0, 0.9 * br + 0.5 * bi)
    if depth > 0.03:
        extent = 0.22 + 0.25 * br / (br + bi + 1e-6)
        x = np.linspace(-extent, extent, 7)
        rows = [_xy(x, s.brow_y - 0.2 - 0.09 * k + 0.12 * x ** 2
                          - 0.1 * br) for k in range(3)]
        p.lines(rows, _shade(skin, 1 - 0.3 * depth), 0.018)

    # eyes
    up = s.eye_h * s.rest_eye * (1 + 1.1 * ew - 0.55 * en - 0.3 * bl - 0.2 * fr) * (1 - blink)
    lo = 0.5 * s.eye_h * (1 + 0.3 * ew - 0.4 * en - 0.6 * cr) * (1 - blink)
    up, lo = max(up, 0.004), max(lo, 0.003)
    t = _T9
    env_up = (1 - t ** 2) ** 0.65 * (1 + 0.12 * t)
    env_lo = (1 - t ** 2) ** 0.85
    scleras, irises, pupils, lids, creases, lowers = [], [], [], [], [], []
    for side in (-1.0, 1.0):
        ex = side * s.eye_dx
        xs = ex + side * t * s.eye_w  # t = -1: inner corner
        base = s.eye_y - s.eye_tilt * t
        yu, yl = base - up * env_up, base + lo * env_lo
        scleras.append(np.concatenate([_xy(xs, yu), _xy(xs, yl)[::-1]]))
        for radius, out in ((s.iris_r, irises), (0.4 * s.iris_r, pupils)):
            c = _ellipse(ex + side * 0.01, s.eye_y - 0.01, radius, radius)
            tq = (c[:, 0] - ex) / (side * s.eye_w)
            c[:, 1] = np.clip(c[:, 1], np.interp(tq, t, yu), np.interp(tq, t, yl))
            out.append(c)
        lids.append(_xy(xs, yu))
        creases.append(_xy(xs[1:-1], base[1:-1] - (0.055 + s.eye_h * 1.1 + 0.3 * up)
                           * env_up[1:-1] ** 0.7))
        lowers.append(_xy(xs[2:-1], yl[2:-1] + 0.02 + 0.04 * cr))
    p.fill(scleras, (232.0, 230.0, 225.0))
    p.fill(irises, s.iris)
    p.fill(pupils, (12.0, 10.0, 10.0))
    p.lines(lids, _shade(s.brow, 0.6), 0.035)
    p.lines(creases, _shade(skin, 0.8), 0.016)
    p.lines(lowers, _shade(skin, 0.88 - 0.1 * cr), 0.014)
    if cr > 0.05:  # crow's feet
        feet = []
        for side in (-1.0, 1.0):
            x0 = side * (s.eye_dx + s.eye_w * 1.15)
            for dy in (-0.06, 0.0, 0.06):
                feet.append(np.array([[x0, s.eye_y + dy], [x0 + side * 0.1, s.eye_y + 1.8 * dy]]))
        p.lines(feet, _shade(skin, 1 - 0.3 * min(cr, 1.0)), 0.014)

    # brows: inner end at b = 0, outer end at b = 1
    b = _B7
    dy = (s.rest_brow - 0.19 * br * (0.85 + 0.3 * np.sin(np.pi * b)) - 0.22 * bi * (1 - b) ** 1.5
          + 0.04 * bi * b + 0.14 * bl * (1 - 0.5 * b) + 0.07 * bt * (1 - b))
    arch = s.brow_arch * (1 + 0.8 * br)
    y = s.brow_y - arch * np.sin(np.pi * (0.15 + 0.75 * b)) + s.brow_slope * b + dy
    half = 0.5 * s.brow_thick * (1.1 - 0.55 * b)
    x0, x1 = s.eye_dx - s.eye_w * 0.95, s.eye_dx + s.eye_w * 1.3
    brows = []
    for side in (-1.0, 1.0):
        x = side * (x0 + b * (x1 - x0) - 0.12 * bt * (1 - b) ** 1.2)
        brows.append(np.concatenate([_xy(x, y - half),
                                     _xy(x, y + half)[::-1]]))
    p.fill(brows, s.brow)
    depth = min(1.0, 0.6 * bt + 0.5 * bl)
    if depth > 0.05:  # glabella lines
        g0, g1 = s.brow_y + 0.02, s.brow_y + 0.16
        p.lines([np.array([[-0.06, g0], [-0.05, g1]]), np.array([[0.06, g0], [0.05, g1]])],
                _shade(skin, 1 - 0.4 * depth), 0.02)

    # nose
    ny, nwid = s.nose_y, s.nose_w * (1 + 0.2 * nw)
    lift = -0.05 * nw - 0.03 * ulr
    ls_ = s.light_side
    p.lines([np.array([[ls_ * 0.08, s.eye_y], [ls_ * 0.1, ny - 0.18],
                       [ls_ * nwid * 0.95, ny - 0.08]])], _shade(skin, 0.86), 0.02)
    depth = min(1.0, nw + 0.3 * ulr)
    if depth > 0.03:  # nose wrinkles
        rows = [np.array([[-0.1, r + 0.015], [0.0, r - 0.01], [0.1, r + 0.015]])
                for r in (s.eye_y + 0.07, s.eye_y + 0.13, s.eye_y + 0.19)]
        rows += [np.array([[side * 0.09, s.eye_y + 0.03], [side * 0.17, s.eye_y + 0.13]])
                 for side in (-1.0, 1.0)]
        p.lines(rows, _shade(skin, 1 - 0.5 * depth), 0.022)
    wings = [np.array([[side * nwid * 0.75, ny - 0.13 + lift],
                       [side * nwid * 1.05, ny - 0.06 + lift],
                       [side * nwid, ny + lift], [side * nwid * 0.7, ny + 0.03 + lift]])
             for side in (-1.0, 1.0)]
    p.lines(wings, _shade(skin, 0.78), 0.022)
    p.fill([_ellipse(side * nwid * 0.45, ny + 0.005 + lift, 0.05 * (1 + 0.3 * nw), 0.022)
            for side in (-1.0, 1.0)], _shade(skin, 0.35))

    # mouth: t = -1..1 across; corners move up (smile) or down (frown)
    mw = s.mouth_w * (1 + 0.22 * sm + 0.4 * ls - 0.28 * jd - 0.15 * lp + 0.05 * ulr)
    corner = 0.17 * fr - 0.17 * sm - s.rest_smile * 0.05 + 0.02 * ls
    t = _T11
    x = t * mw
    curve = s.mouth_y + 0.02 * jd + corner * t ** 2
    opening = 0.004 + 0.45 * jd + 0.06 * sm + 0.08 * ls + 0.04 * ulr
    shape = float(np.clip(0.8 - 0.35 * jd - 0.55 * ls - 0.35 * ulr, 0.2, 0.9))
    env = (1 - t ** 2) ** shape
    press = 1 - 0.9 * min(lp, 1.0)
    y_iu = curve - (0.25 * opening + 0.13 * ulr) * env
    y_il = curve + 0.75 * opening * env
    bow = np.exp(-(t / 0.18) ** 2)
    y_ou = (y_iu - s.lip_t * press * (1 - 0.3 * ls - 0.3 * sm) * (1 - t ** 2) ** 0.5
            * (1 - 0.3 * bow))
    y_ol = y_il + 1.3 * s.lip_t * press * (1 - 0.3 * ls) * (1 - t ** 2) ** 0.6

    # nasolabial folds run from the nose wings to just outside the mouth corners
    depth = min(1.0, s.rest_fold + 0.8 * sm + 0.4 * cr + 0.6 * ulr + 0.4 * nw + 0.3 * ls)
    folds = [np.array([[side * nwid * 1.1, ny - 0.06 + lift],
                       [side * (nwid * 1.1 + mw + 0.1) / 2 + side * 0.06, (ny + curve[0]) / 2],
                       [side * (mw + 0.07), curve[0] + 0.05]]) for side in (-1.0, 1.0)]
    p.lines(folds, _shade(skin, 1 - 0.3 * depth), 0.02)
    depth = min(1.0, 0.6 * fr + 0.5 * lp)
    if depth > 0.05:  # chin boss (AU17-like) under a frown or pressed lips
        cy = s.mouth_y + 0.26
        p.lines([np.array([[-0.12, cy], [0.0, cy - 0.03], [0.12, cy]])],
                _shade(skin, 1 - 0.25 * depth), 0.016)

    p.fill([np.concatenate([_xy(x, y_ou), _xy(x, y_ol)[::-1]])], s.lip)
    p.fill([np.concatenate([_xy(x, y_iu), _xy(x, y_il)[::-1]])],
           (70.0, 22.0, 28.0))
    if opening > 0.02:  # teeth
        inner = np.abs(t) <= 0.7
        xi = x[inner]
        upper = _xy(xi, y_iu[inner])
        y_teeth = np.minimum(y_iu[inner] + 0.055, y_il[inner])
        teeth = [np.concatenate([upper, _xy(xi, y_teeth)[::-1]])]
        if jd + ls > 0.2:
            y_low = np.maximum(y_il[inner] - 0.035, y_iu[inner])
            teeth.append(np.concatenate([_xy(xi, y_low),
                                         _xy(xi, y_il[inner])[::-1]]))
        p.fill(teeth, (232.0, 228.0, 218.0))

    if s.glasses:
        rims = []
        for side in (-1.0, 1.0):
            ex = side * s.eye_dx
            rims.append(_ellipse(ex, s.eye_y + 0.02, s.eye_w * 1.45, 0.2, _CIRCLE16))
        p.lines(rims, s.glasses_colour, 0.03, closed=True)
        bx = s.eye_dx - s.eye_w * 1.45
        p.lines([np.array([[-bx, s.eye_y - 0.02], [0, s.eye_y - 0.05], [bx, s.eye_y - 0.02]]),
                 np.array([[-s.eye_dx - s.eye_w * 1.45, s.eye_y], [-0.98, s.eye_y + 0.05]]),
                 np.array([[s.eye_dx + s.eye_w * 1.45, s.eye_y], [0.98, s.eye_y + 0.05]])],
                s.glasses_colour, 0.03)
    p.draw(canvas, s, pose)


@functools.lru_cache(maxsize=8)
def _subject_assets(seed: int, subject_id: int, canvas: int) -> tuple[Subject, np.ndarray]:
    subject = make_subject(seed, subject_id)
    return subject, _background(subject, seed, canvas)


def render_face(config: SyntheticConfig, subject_id: int, actions=None,
                pose=(0.0, 0.0, 0.0, 1.0)) -> np.ndarray:
    """One frame of a subject, without lighting change or noise: uint8 (size, size, 3).

    Args:
        actions: action vector (len(ACTIONS),), e.g. from :func:`expression_actions`;
            None for the subject's neutral face.
        pose: (dx, dy, rotation, scale): head offset as a fraction of the frame,
            in-plane rotation in radians, and scale.
    """
    canvas = config.size * SUPERSAMPLE
    subject, background = _subject_assets(config.seed, subject_id, canvas)
    acts = np.zeros(len(ACTIONS), np.float32) if actions is None else np.asarray(actions)
    image = background.copy()
    _draw_frame(image, subject, acts, pose)
    return cv2.resize(image, (config.size, config.size), interpolation=cv2.INTER_AREA)


# ----------------------------------------------------------------------------------
# Clips: timing, intensity, pose, lighting, noise


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
    at an intensity in [resting_expression / 2, resting_expression]."""
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
    apex_actions *= rng.uniform(0.8, 1.2, len(ACTIONS)).astype(np.float32)
    actions = strength[:, None] * apex_actions[None, :]
    if config.resting_expression:
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


# ----------------------------------------------------------------------------------
# Writing the dataset


@dataclasses.dataclass(frozen=True)
class _Item:
    """A light, picklable descriptor of one clip for the writer (rendered in the worker)."""

    config: SyntheticConfig
    subject_id: int
    clip_index: int

    def __str__(self) -> str:
        return f"{subject_name(self.subject_id)}_{self.clip_index:03d}"


def _load_item(item: _Item) -> Clip:
    return render_clip(item.config, item.subject_id, item.clip_index)


def split_items(config: SyntheticConfig) -> dict[str, list[_Item]]:
    """The clips of each split, in writing order: ``{"train": [...], "test": [...]}``."""
    def items(subjects):
        return [_Item(config, s, i) for s in subjects for i in range(config.clips_per_subject)]

    return {"train": items(config.train_subjects), "test": items(config.test_subject_ids)}


CONFIG_FILE = "synthetic.json"
CONTACT_SHEET = "contact_sheet.png"


def generate(out_dir, config: SyntheticConfig | None = None, workers: int = 1,
             progress: bool = True) -> dict[str, Any]:
    """Write the ``train`` and ``test`` splits and ``contact_sheet.png`` into ``out_dir``.

    Resumable: finished shards are kept (see ferzoo.data.writer). Returns the manifest.
    """
    config = config or SyntheticConfig()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    settings = dict(dataclasses.asdict(config), render_version=RENDER_VERSION)
    old = out_dir / CONFIG_FILE
    if old.exists() and json.loads(old.read_text()) != settings:
        raise ValueError(
            f"{out_dir} holds a synthetic dataset made with other settings "
            f"({old.read_text().strip()}); use another folder or delete this one"
        )
    atomic_write_text(old, json.dumps(settings, indent=1, sort_keys=True))
    for split, items in split_items(config).items():
        write_split(out_dir, split, items, _load_item, labels=config.labels, workers=workers,
                    progress=progress, source=SOURCE)
    contact_sheet(out_dir / CONTACT_SHEET, config)
    return read_manifest(out_dir)


def is_complete(out_dir, config: SyntheticConfig) -> bool:
    """Whether ``out_dir`` holds the whole dataset of ``config`` (manifest, shards, sheet)."""
    out_dir = Path(out_dir)
    manifest = read_manifest(out_dir)
    if manifest is None or manifest.get("labels") != config.labels:
        return False
    for split, items in split_items(config).items():
        entry = manifest["splits"].get(split)
        if entry is None or entry["num_clips"] != len(items):
            return False
        if not all((out_dir / shard["file"]).exists() for shard in entry["shards"]):
            return False
    return (out_dir / CONTACT_SHEET).exists()


def ensure_synthetic(root="tfrecords", config: SyntheticConfig | None = None, *,
                     workers: int = 1, progress: bool = True, **overrides) -> Path:
    """The folder ``<root>/synthetic-<key>`` of the dataset, generated if not complete.

    ``overrides`` replace fields of ``config`` (default :class:`SyntheticConfig`), e.g.
    ``ensure_synthetic(num_subjects=12, size=48)``. An interrupted generation resumes.
    """
    config = config or SyntheticConfig()
    if overrides:
        fields = {f.name for f in dataclasses.fields(SyntheticConfig)}
        unknown = sorted(set(overrides) - fields)
        if unknown:
            raise TypeError(f"unknown synthetic-data setting(s) {unknown}; "
                            f"the settings are {sorted(fields)}")
        config = dataclasses.replace(config, **overrides)
    out_dir = Path(root) / f"synthetic-{config.key()}"
    if not is_complete(out_dir, config):
        generate(out_dir, config, workers=workers, progress=progress)
    return out_dir


# ----------------------------------------------------------------------------------
# Contact sheet


def contact_sheet(path, config: SyntheticConfig | None = None, clips_per_class: int = 3,
                  frames_per_clip: int = 6) -> Path:
    """A PNG grid of a few training clips per class, so a person can see the data.

    One row per clip, ``frames_per_clip`` frames over time as columns (the apex frame is
    always one of them, framed in red), rows grouped by class with the class name.
    """
    config = config or SyntheticConfig()
    names = config.labels
    scale = max(1, round(96 / config.size))
    cell = config.size * scale
    gap, label_w, header = 4, 190, 24
    n_rows = len(names) * clips_per_class
    sheet = np.full((header + n_rows * (cell + gap) + (len(names) - 1) * gap,
                     label_w + frames_per_clip * (cell + gap), 3), 255, np.uint8)
    font = cv2.FONT_HERSHEY_SIMPLEX
    cv2.putText(sheet, "time ->", (label_w, 17), font, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
    train = list(config.train_subjects)
    y = header
    for label, name in enumerate(names):
        for j in range(clips_per_class):
            subject = train[(label * clips_per_class + j) % len(train)]
            clip_index = (label - subject) % len(names)  # the subject's first clip of label
            plan = plan_clip(config, subject, clip_index)
            frames = render_frames(config, subject, plan)
            picks = np.linspace(0, len(frames) - 1, frames_per_clip).round().astype(int)
            picks[np.argmin(np.abs(picks - plan.apex_index))] = plan.apex_index
            if j == 0:
                cv2.putText(sheet, name, (6, y + 22), font, 0.7, (0, 0, 0), 2, cv2.LINE_AA)
            info = (f"{subject_name(subject)} {'CK+' if plan.profile == 'onset_apex' else 'MMI'}"
                    f" i={plan.intensity:.2f} T={len(frames)}")
            cv2.putText(sheet, info, (6, y + cell - 8), font, 0.4, (60, 60, 60), 1, cv2.LINE_AA)
            for k, index in enumerate(picks):
                x = label_w + k * (cell + gap)
                big = cv2.resize(frames[index], (cell, cell), interpolation=cv2.INTER_NEAREST)
                sheet[y:y + cell, x:x + cell] = big
                if index == plan.apex_index:
                    cv2.rectangle(sheet, (x, y), (x + cell - 1, y + cell - 1), (220, 0, 0), 2)
                cv2.putText(sheet, f"t={index}", (x + 2, y + 12), font, 0.35, (255, 255, 255),
                            1, cv2.LINE_AA)
            y += cell + gap
        y += gap
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR)):
        raise OSError(f"could not write the contact sheet {path}")
    return path

"""The synthetic faces: the expression and action tables, the subjects (geometry, colours,
resting face, background, all from ``(seed, subject_id)``) and the drawing of one frame.

A frame is drawn at ``SUPERSAMPLE`` times the output size as a display list of
polygons in face units (1 = half the face width) under the head pose, then reduced
with ``INTER_AREA``. :func:`render_face` draws one still frame; the clips of the dataset
(timing, lighting, noise) are planned in :mod:`ferzoo.data.synthetic.clips`.
"""

from __future__ import annotations

import dataclasses
import functools
import math

import cv2
import numpy as np

EXPRESSIONS = ("anger", "disgust", "fear", "happiness", "sadness", "surprise")
NEUTRAL = "neutral"
SUPERSAMPLE = 4  # drawn at 4x, reduced with INTER_AREA
# Bump when the drawing changes: it is part of the cache key, so old caches are not reused.
RENDER_VERSION = 3

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
    skin = SKIN_TONES[lo] + (tone - lo) * (
        SKIN_TONES[min(lo + 1, len(SKIN_TONES) - 1)] - SKIN_TONES[lo])
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
        rows = [_xy(x, s.brow_y - 0.2 - 0.09 * k + 0.12 * x ** 2 - 0.1 * br) for k in range(3)]
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
        creases.append(_xy(
            xs[1:-1], base[1:-1] - (0.055 + s.eye_h * 1.1 + 0.3 * up) * env_up[1:-1] ** 0.7))
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
    dy = s.rest_brow - 0.19 * br * (0.85 + 0.3 * np.sin(np.pi * b)) - 0.22 * bi * (
        1 - b) ** 1.5 + 0.04 * bi * b + 0.14 * bl * (1 - 0.5 * b) + 0.07 * bt * (1 - b)
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
    y_ou = y_iu - s.lip_t * press * (1 - 0.3 * ls - 0.3 * sm) * (1 - t ** 2) ** 0.5 * (
        1 - 0.3 * bow)
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


def render_face(config, subject_id: int, actions=None,
                pose=(0.0, 0.0, 0.0, 1.0)) -> np.ndarray:
    """One frame of a subject, without lighting change or noise: uint8 (size, size, 3).

    Args:
        config: the dataset's settings (a ``SyntheticConfig``: its ``size`` and ``seed``).
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

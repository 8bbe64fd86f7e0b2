"""The built-in synthetic dynamic-expression dataset: procedurally drawn face clips.

No downloads: every clip is drawn with OpenCV from a seed. Each subject has its own face
(oval, eye spacing and size, brows, nose, mouth, skin tone, hair, glasses, background
and its texture) and its own slight resting face (a resting smile or frown, brow
height, eye openness). With ``resting_expression`` > 0 each subject's neutral face
also holds a partial expression, so that the apex frame alone is ambiguous and the
expression is the *change* from the subject's neutral face; ``temporal="resting_bias"``
and ``temporal="onset_order"`` draw data where no single frame tells the class
(:mod:`ferzoo.data.synthetic.temporal`, docs/temporal.md). Each expression is a
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

from ferzoo.data.synthetic.clips import (
    FPS,
    INTENSITY,
    PROFILES,
    SOURCE,
    VALENCE,
    ClipPlan,
    plan_clip,
    render_clip,
    render_frames,
    resting_actions,
    subject_name,
)
from ferzoo.data.synthetic.config import SyntheticConfig
from ferzoo.data.synthetic.dataset import (
    CONFIG_FILE,
    CONTACT_SHEET,
    contact_sheet,
    ensure_synthetic,
    generate,
    is_complete,
    split_items,
)
from ferzoo.data.synthetic.render import (
    ACTIONS,
    EXPRESSION_ACTIONS,
    EXPRESSIONS,
    HAIR_COLOURS,
    IRIS_COLOURS,
    NEUTRAL,
    RENDER_VERSION,
    SKIN_TONES,
    SUPERSAMPLE,
    Subject,
    expression_actions,
    labels,
    make_subject,
    render_face,
)
from ferzoo.data.synthetic.temporal import ONSET_PAIRS, TEMPORAL_VARIANTS, resting_bias

__all__ = [
    "ACTIONS", "CONFIG_FILE", "CONTACT_SHEET", "EXPRESSIONS", "EXPRESSION_ACTIONS", "FPS",
    "HAIR_COLOURS", "INTENSITY", "IRIS_COLOURS", "NEUTRAL", "PROFILES", "RENDER_VERSION",
    "ONSET_PAIRS", "SKIN_TONES", "SOURCE", "SUPERSAMPLE", "TEMPORAL_VARIANTS", "VALENCE", "ClipPlan", "Subject", "SyntheticConfig",
    "contact_sheet", "ensure_synthetic", "expression_actions", "generate", "is_complete",
    "labels", "make_subject", "plan_clip", "render_clip", "render_face", "render_frames",
    "resting_actions", "resting_bias", "split_items", "subject_name",
]

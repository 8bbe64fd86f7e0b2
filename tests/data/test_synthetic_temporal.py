"""The temporal variants of the synthetic data: the default data is unchanged, and under
each variant one frame cannot tell the class while the change over time can."""

from __future__ import annotations

import dataclasses
import hashlib
import json

import numpy as np
import pytest

from ferzoo.data.synthetic import (
    EXPRESSIONS,
    ONSET_PAIRS,
    SyntheticConfig,
    contact_sheet,
    expression_actions,
    generate,
    plan_clip,
    render_clip,
    resting_actions,
    resting_bias,
)
from ferzoo.data.synthetic.probes import (
    PROBES,
    ProbeData,
    ambiguous_partner,
    fit_probe,
    probe_table,
    run_probes,
)
from ferzoo.data.synthetic.temporal import PARTNER, onset_order_actions

TINY = SyntheticConfig(size=32, min_frames=6, max_frames=8, num_subjects=3, test_subjects=1,
                       clips_per_subject=6)

# Digests of the default data as drawn before the variants existed (render version 3).
FRAMES_SHA256 = "db0e6f910d1b85640a569073bd296fb24869b1dbec19fb3a71b27fbc231521a9"
FILES_SHA256 = {
    "synthetic.json": "07935001a10329ddbf2901a6bbec2aa2e11324a02d0155746ceedbbe08668040",
    "train-00000-of-00001.tfrecord":
        "e90bafd2751739368d478b3d9727fbf772f4c7b0e53de07f99aa8c7415b8dfac",
    "test-00000-of-00001.tfrecord":
        "b51ddcea7d442bcc575b4429bf469e71cf8ba994178792e386b04bc5904f37fa",
}


def _frames_digest(config):
    h = hashlib.sha256()
    for subject in range(config.num_subjects):
        for clip_index in range(config.clips_per_subject):
            clip = render_clip(config, subject, clip_index)
            h.update(clip.frames.tobytes())
            h.update(repr((clip.label, clip.apex_index, round(clip.valence, 6))).encode())
    return h.hexdigest()


def test_default_data_is_byte_identical(tmp_path):
    assert _frames_digest(TINY) == FRAMES_SHA256
    assert _frames_digest(dataclasses.replace(TINY, temporal="")) == FRAMES_SHA256
    assert SyntheticConfig().key() == "64px-s0-2ba83865"
    assert TINY.key() == "32px-s0-31f15416"
    generate(tmp_path, TINY, progress=False)
    for name, digest in FILES_SHA256.items():
        assert hashlib.sha256((tmp_path / name).read_bytes()).hexdigest() == digest, name
    assert "temporal" not in json.loads((tmp_path / "synthetic.json").read_text())


def test_variants_have_their_own_key_and_unknown_ones_fail(tmp_path):
    keys = {SyntheticConfig(temporal=v).key() for v in ("", "resting_bias", "onset_order")}
    assert len(keys) == 3
    with pytest.raises(ValueError, match="temporal variant"):
        plan_clip(SyntheticConfig(temporal="backwards"), 0, 0)
    with pytest.raises(ValueError, match="resting_expression"):
        plan_clip(SyntheticConfig(temporal="resting_bias", resting_expression=0.5), 0, 0)
    config = dataclasses.replace(TINY, temporal="onset_order", num_subjects=2)
    generate(tmp_path, config, progress=False)
    assert json.loads((tmp_path / "synthetic.json").read_text())["temporal"] == "onset_order"


def test_onset_order_pairs_share_the_apex_and_differ_in_the_onset():
    assert {c for pair in ONSET_PAIRS for c in pair} == set(EXPRESSIONS)
    strength = np.linspace(0, 1, 9)
    jitter = np.random.default_rng(0).uniform(0.8, 1.2, len(expression_actions("anger")))
    for a, b in ONSET_PAIRS:
        first = onset_order_actions(a, strength, 0.9, jitter)
        second = onset_order_actions(b, strength, 0.9, jitter)
        np.testing.assert_allclose(first[-1], second[-1])  # the same apex
        np.testing.assert_allclose(first[0], 0)  # the same neutral start
        mid = 4  # strength 0.5: the own expression is up, the partner's not yet
        np.testing.assert_allclose(first[mid], expression_actions(a, 0.9) * jitter)
        np.testing.assert_allclose(second[mid], expression_actions(b, 0.9) * jitter)
    config = dataclasses.replace(TINY, temporal="onset_order")
    for clip_index in range(6):
        plan = plan_clip(config, 1, clip_index)
        default = plan_clip(TINY, 1, clip_index)
        # the same timing, pose, light and noise as the default clip; only the actions differ
        assert plan.apex_index == default.apex_index
        np.testing.assert_array_equal(plan.poses, default.poses)
        own = expression_actions(plan.label_name) > 0
        other = expression_actions(PARTNER[plan.label_name]) > 0
        apex = plan.actions[plan.apex_index]
        assert (apex[own] > 0).all() and (apex[other] > 0).all()


def test_resting_bias_holds_an_apex_strong_expression_through_the_clip():
    config = dataclasses.replace(TINY, temporal="resting_bias", num_subjects=12)
    names = [resting_bias(config.seed, s)[0] for s in range(12)]
    assert len(set(names)) > 2  # drawn per subject
    for subject in (0, 1):
        rest = resting_actions(config, subject)
        name, vec = resting_bias(config.seed, subject)
        np.testing.assert_array_equal(rest, vec)
        strong = expression_actions(name) > 0
        # as strong as a clip's apex: intensity 0.7..1 times 0.8..1.2 per action
        ratio = rest[strong] / expression_actions(name)[strong]
        assert ((ratio >= 0.7 * 0.8 - 1e-6) & (ratio <= 1.2 + 1e-6)).all()
        for clip_index in range(6):
            plan = plan_clip(config, subject, clip_index)
            assert (plan.actions[:, :-1] >= rest[None, :-1] - 1e-6).all()  # blink aside
            np.testing.assert_allclose(plan.actions[0, :-1], np.maximum(
                rest, plan_clip(TINY, subject, clip_index).actions[0])[:-1], atol=1e-6)


def _action_probe_data(config, subjects, mid=False):
    """ProbeData made of the clips' action vectors (the face before drawing)."""
    rows = {k: [] for k in ("first", "mid", "apex", "labels", "ambiguous")}
    for s in subjects:
        for c in range(config.clips_per_subject):
            p = plan_clip(config, s, c)
            acts = p.actions[:, :-1]  # without the blink
            rows["first"].append(acts[0])
            rows["mid"].append(acts[p.apex_index // 2])
            rows["apex"].append(acts[p.apex_index])
            rows["labels"].append(p.label)
            rows["ambiguous"].append(ambiguous_partner(config, s, p.label))
    return ProbeData(**{k: np.asarray(v) for k, v in rows.items()})


@pytest.mark.parametrize("variant,temporal_probe", [("resting_bias", "apex-first"),
                                                    ("onset_order", "mid-first")])
def test_one_frame_cannot_tell_the_class_the_change_can(variant, temporal_probe):
    # On the faces' action vectors (no drawing, no noise): the best case for a frame probe.
    config = SyntheticConfig(temporal=variant, num_subjects=40, test_subjects=10)
    train = _action_probe_data(config, config.train_subjects)
    test = _action_probe_data(config, config.test_subject_ids)
    frame = fit_probe(train, test, "apex", C=1.0)
    change = fit_probe(train, test, temporal_probe, C=1.0)
    assert frame["pair_clips"] > 100
    assert abs(frame["pair_accuracy"] - 0.5) < 0.12, frame
    assert change["pair_accuracy"] > 0.9 and change["accuracy"] > 0.8, change
    default = dataclasses.replace(config, temporal="")
    plain = fit_probe(_action_probe_data(default, default.train_subjects),
                      _action_probe_data(default, default.test_subject_ids), "apex", C=1.0)
    assert plain["accuracy"] > 0.95 and plain["pair_accuracy"] is None


def test_pixel_probes_run_on_a_tiny_set():
    config = SyntheticConfig(size=32, min_frames=6, max_frames=8, num_subjects=5,
                             test_subjects=2, clips_per_subject=6, temporal="onset_order")
    results = run_probes(config, probe_size=12)
    assert set(results) == set(PROBES)
    for r in results.values():
        assert 0 <= r["accuracy"] <= 1 and r["test_clips"] == 12 and r["chance"] == 0.1667
    assert "| onset_order | `apex` |" in probe_table({"onset_order": results})


def test_contact_sheet_of_a_variant(tmp_path):
    path = contact_sheet(tmp_path / "sheet.png", dataclasses.replace(TINY, temporal="resting_bias"),
                         clips_per_class=1, frames_per_clip=4)
    assert path.stat().st_size > 1000

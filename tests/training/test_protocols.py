"""Subject-independent folds, predefined and fixed protocols, validation holdouts."""

import json

import numpy as np
import pytest

from ferzoo.training import protocols as P


def _manifest(tmp_path, splits, protocol=None):
    """A manifest.json with per-subject counts (no shards needed for protocol logic)."""
    manifest = {"labels": ["a", "b"], "source": "test", "splits": {
        name: {"num_clips": sum(per.values()), "per_subject": per,
               "shards": [{"file": f"{name}-00000-of-00001.tfrecord", "clips": 0, "sha256": ""}]}
        for name, per in splits.items()}}
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    if protocol:
        (tmp_path / "protocol.json").write_text(json.dumps(protocol))
    return manifest


# CK+-style subject ids, ascending.
CK_IDS = ["S005", "S010", "S011", "S014", "S022", "S026", "S028", "S029", "S032", "S034",
          "S035", "S037", "S042", "S044", "S045", "S046", "S050", "S051", "S052", "S053",
          "S055", "S056", "S057", "S058", "S059", "S060", "S061", "S062", "S063", "S064",
          "S065", "S066", "S067", "S068", "S069", "S070", "S071", "S072", "S073", "S074",
          "S075", "S076", "S077", "S078", "S079", "S080", "S081", "S082", "S083", "S084",
          "S085", "S086", "S087", "S088", "S089", "S090", "S091", "S092", "S093", "S094",
          "S095", "S096", "S097", "S098", "S099", "S100", "S101", "S102", "S103", "S104",
          "S105", "S106", "S107", "S108", "S109", "S110", "S111", "S112", "S113", "S114",
          "S115", "S116", "S117", "S119", "S122", "S124", "S125", "S126", "S127", "S128",
          "S129", "S130", "S131", "S132", "S133", "S134", "S135", "S136", "S137", "S138",
          "S139", "S147", "S148", "S149", "S151", "S154", "S155", "S156", "S157", "S158",
          "S160", "S501", "S502", "S503", "S504", "S505", "S506", "S895", "S999"]


def test_ckplus_folds_deal_ascending_ids_in_steps_of_10():
    shuffled = list(np.random.default_rng(0).permutation(CK_IDS))
    folds = P.kfold_subjects(shuffled, 10)
    for i, fold in enumerate(folds):
        assert fold == CK_IDS[i::10]  # ranks i, i+10, i+20, ... of the ascending ids
    assert sorted(sum(folds, [])) == sorted(CK_IDS)
    sizes = [len(f) for f in folds]
    assert max(sizes) - min(sizes) <= 1 and sizes == sorted(sizes, reverse=True)


def test_natural_order_and_other_orders():
    ids = ["P10", "P2", "P1", "P20", "P3", "P11"]
    assert P.kfold_subjects(ids, 3) == [["P1", "P10"], ["P2", "P11"], ["P3", "P20"]]
    assert P.kfold_subjects(ids, 3, "blocks") == [["P1", "P2"], ["P3", "P10"], ["P11", "P20"]]
    random_a = P.kfold_subjects(ids, 3, "random", seed=1)
    assert random_a == P.kfold_subjects(ids, 3, "random", seed=1)
    assert sorted(sum(random_a, [])) == sorted(ids)
    with pytest.raises(ValueError, match="cannot make 7 subject-independent folds from 6"):
        P.kfold_subjects(ids, 7)
    with pytest.raises(ValueError, match="unknown fold order"):
        P.kfold_subjects(ids, 3, "sorted")


def test_kfold_protocol_is_subject_independent_with_validation(tmp_path):
    per = {s: 1 + i % 3 for i, s in enumerate(CK_IDS)}
    manifest = _manifest(tmp_path, {"all": per}, {"kind": "kfold", "split": "all",
                                                   "folds": 10, "order": "interleaved"})
    folds = P.make_folds(tmp_path)
    assert len(folds) == 10
    total = sum(per.values())
    tested = []
    for fold in folds:
        train, val, test = set(fold.train.subjects), set(fold.val.subjects), set(fold.test.subjects)
        assert not (train & test) and not (val & test) and not (train & val)
        assert train | val | test == set(CK_IDS)
        assert len(val) == round(0.1 * len(train | val))
        counts = [fold.train.count(manifest), fold.val.count(manifest), fold.test.count(manifest)]
        assert sum(counts) == total
        tested += fold.test.subjects
        assert fold.train.files(tmp_path) == [str(tmp_path / "all-00000-of-00001.tfrecord")]
        assert fold.test.filters() == {"subjects": list(fold.test.subjects)}
    assert sorted(tested) == sorted(CK_IDS)  # every subject tested exactly once
    again = P.make_folds(tmp_path)
    assert [f.val.subjects for f in again] == [f.val.subjects for f in folds]  # seeded
    other = P.make_folds(tmp_path, seed=5)
    assert [f.val.subjects for f in other] != [f.val.subjects for f in folds]
    assert "fold" in P.fold_table(folds, tmp_path).splitlines()[0]


def test_fixed_protocol_and_inferred_protocols(tmp_path):
    _manifest(tmp_path, {"train": {f"c{i}": 1 for i in range(20)}, "test": {"t1": 3}})
    (fold,) = P.make_folds(tmp_path, val_fraction=0.1)  # no protocol.json: inferred fixed
    assert fold.test == P.Selection(("test",))
    assert len(fold.val.subjects) == 2 and len(fold.train.subjects) == 18
    with pytest.raises(ValueError, match="one fold, not 10"):
        P.make_folds(tmp_path, folds=10)
    (tmp_path / "protocol.json").write_text(json.dumps(
        {"kind": "fixed", "train": "train", "test": "test", "val": "test"}))
    (fold,) = P.make_folds(tmp_path)
    assert fold.val == P.Selection(("test",)) and fold.train.subjects is None

    single = tmp_path / "single"
    single.mkdir()
    _manifest(single, {"all": {f"s{i}": 2 for i in range(8)}})
    folds = P.make_folds(single, folds=4, val_fraction=0)
    assert [f.test.subjects for f in folds] == [("s0", "s4"), ("s1", "s5"), ("s2", "s6"),
                                                 ("s3", "s7")]
    assert all(f.val is None for f in folds)


def test_fold_filters_select_exactly_those_subjects_in_the_pipeline(tmp_path):
    from ferzoo.data import converters
    from ferzoo.data.pipeline import InputSpec, make_dataset
    from tests.data import dataset_trees

    dataset_trees.make_generic(tmp_path / "src", subjects=4, per_subject=3, frames=4, size=16)
    out = tmp_path / "out"
    converters.convert("generic", tmp_path / "src", out, detect=False, size=16,
                       subject_pattern=r"^(S\d+)_", progress=False)
    fold = P.make_folds(out, folds=4, val_fraction=0.34)[1]
    spec = InputSpec(frames=4, image_size=16)
    for part in (fold.train, fold.val, fold.test):
        seen = set()
        for _, _, info in make_dataset(part.files(out), spec, training=False, batch_size=4,
                                       with_info=True, **part.filters()):
            seen |= {s.decode() for s in info["subject"].numpy()}
        assert seen == set(part.subjects)

"""Evaluation protocols: which clips train, validate and test each fold.

A fold is three :class:`Selection` s (train, val, test), each a list of splits of a
converted dataset plus subject include / exclude lists, which is exactly what
:func:`ferzoo.data.pipeline.make_dataset` filters on (``split=``, ``subjects=``,
``exclude_subjects=``). Nothing is copied: folds are views of the shards.

Protocols (written by each converter to ``protocol.json``; inferred when absent):

- ``kfold``: subject-independent k-fold over one split. ``order="interleaved"`` sorts
  the subjects by id (natural order: S2 < S10) and deals them to folds in steps of k
  (fold i gets the subjects at ranks i, i+k, i+2k ...): CK+'s "ascending id, steps of
  10" from the literature; also Oulu-CASIA and MMI. ``"blocks"``: contiguous runs of
  ids; ``"random"``: a seeded shuffle first (repeated CV: one seed per repeat).
- ``predefined``: folds listed by the dataset (DFEW's five official folds).
- ``fixed``: one train/test split (FERV39k, AFEW).

Every training part gives up a validation part, held out by subject
(``val_fraction``, seeded; :func:`holdout_subjects`), so no model is ever selected on its
test fold (DFEW has no validation split: docs/design.md#datasets-and-protocols).

    >>> folds = make_folds("tfrecords/ckplus", folds=10)                # doctest: +SKIP
    >>> fold = folds[0]
    >>> make_dataset(fold.test.files(data), spec, training=False, batch_size=8,
    ...              **fold.test.filters())                           # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np

DEFAULT_VAL_FRACTION = 0.1
ORDERS = ("interleaved", "blocks", "random")


def _natural_key(name: str) -> list:
    import re

    return [int(p) if p.isdigit() else p.lower() for p in re.split(r"(\d+)", str(name))]


@dataclasses.dataclass(frozen=True)
class Selection:
    """Clips of some splits, optionally restricted to / stripped of some subjects.

    Attributes:
        splits: split names (``all``, ``train``, ``fold3`` ...).
        subjects: keep only these subject ids (``None``: every subject).
        exclude_subjects: then drop these.
    """

    splits: tuple[str, ...]
    subjects: tuple[str, ...] | None = None
    exclude_subjects: tuple[str, ...] = ()

    def files(self, data_dir: str | os.PathLike) -> list[str]:
        """Shard paths of the selected splits (from the manifest)."""
        manifest = _read_json(Path(data_dir) / "manifest.json")
        files = []
        for split in self.splits:
            entry = manifest["splits"].get(split)
            if entry is None:
                raise ValueError(f"{data_dir}: no split {split!r} (it has "
                                 f"{sorted(manifest['splits'])})")
            files += [str(Path(data_dir) / s["file"]) for s in entry["shards"]]
        return files

    def filters(self) -> dict[str, Any]:
        """Keyword arguments for ``make_dataset``: ``subjects`` / ``exclude_subjects``."""
        out: dict[str, Any] = {}
        if self.subjects is not None:
            out["subjects"] = list(self.subjects)
        if self.exclude_subjects:
            out["exclude_subjects"] = list(self.exclude_subjects)
        return out

    def count(self, manifest: dict[str, Any]) -> int:
        """Clips selected, from the manifest's per-subject counts."""
        include = None if self.subjects is None else set(self.subjects)
        exclude = set(self.exclude_subjects)
        total = 0
        for split in self.splits:
            for subject, n in manifest["splits"][split]["per_subject"].items():
                if (include is None or subject in include) and subject not in exclude:
                    total += n
        return total

    def as_dict(self) -> dict[str, Any]:
        return {"splits": list(self.splits),
                "subjects": None if self.subjects is None else list(self.subjects),
                "exclude_subjects": list(self.exclude_subjects)}


@dataclasses.dataclass(frozen=True)
class Fold:
    """One fold: ``index`` counts from 1; ``val`` is None when there is no holdout."""

    index: int
    train: Selection
    val: Selection | None
    test: Selection

    def as_dict(self) -> dict[str, Any]:
        return {"index": self.index, "train": self.train.as_dict(),
                "val": self.val.as_dict() if self.val else None, "test": self.test.as_dict()}


def kfold_subjects(subjects: Sequence[str], k: int, order: str = "interleaved",
                   seed: int = 0) -> list[list[str]]:
    """Deal subjects to ``k`` disjoint folds (see the module notes for ``order``)."""
    if order not in ORDERS:
        raise ValueError(f"unknown fold order {order!r}; use one of {ORDERS}")
    subjects = sorted(set(map(str, subjects)), key=_natural_key)
    if not 2 <= k <= len(subjects):
        raise ValueError(f"cannot make {k} subject-independent folds from {len(subjects)} "
                         f"subjects; use 2 <= folds <= {len(subjects)}")
    if order == "random":
        subjects = [subjects[i] for i in np.random.default_rng(seed).permutation(len(subjects))]
    if order == "blocks":
        bounds = [round(i * len(subjects) / k) for i in range(k + 1)]
        return [subjects[bounds[i]:bounds[i + 1]] for i in range(k)]
    return [subjects[i::k] for i in range(k)]


def holdout_subjects(subjects, fraction: float, seed: int) -> list[str]:
    """A deterministic, subject-level validation part of a training set."""
    subjects = sorted(subjects)
    if fraction <= 0 or len(subjects) < 2:
        return []
    count = min(len(subjects) - 1, max(1, round(fraction * len(subjects))))
    rng = np.random.default_rng(seed)
    return sorted(rng.choice(subjects, size=count, replace=False).tolist())


def validation_subjects(subjects: Sequence[str], fraction: float = DEFAULT_VAL_FRACTION,
                        seed: int = 0) -> list[str]:
    """The subjects held out of a training part for validation (seeded, by subject)."""
    return holdout_subjects(sorted(set(map(str, subjects))), fraction, seed)


def _read_json(path: Path) -> dict[str, Any]:
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: is {path.parent} a converted dataset?")
    return json.loads(path.read_text())


def read_protocol(data_dir: str | os.PathLike) -> dict[str, Any]:
    """``protocol.json`` of a converted dataset, or one inferred from its splits."""
    path = Path(data_dir) / "protocol.json"
    if path.exists():
        return json.loads(path.read_text())
    splits = _read_json(Path(data_dir) / "manifest.json")["splits"]
    if "train" in splits and "test" in splits:
        return {"kind": "fixed", "train": "train", "test": "test"}
    if len(splits) == 1:
        return {"kind": "kfold", "split": next(iter(splits)), "folds": 10,
                "order": "interleaved"}
    raise ValueError(f"{data_dir}: cannot infer a protocol from splits {sorted(splits)}; "
                     f"write a protocol.json")


def _subjects(manifest: dict[str, Any], splits: Sequence[str]) -> list[str]:
    found: set[str] = set()
    for split in splits:
        if split not in manifest["splits"]:
            raise ValueError(f"protocol names split {split!r}, the dataset has "
                             f"{sorted(manifest['splits'])}")
        found |= set(manifest["splits"][split]["per_subject"])
    return sorted(found, key=_natural_key)


def _with_val(index: int, splits: tuple[str, ...], train: list[str], test: Selection,
              val_fraction: float, seed: int) -> Fold:
    val = validation_subjects(train, val_fraction, seed + index) if val_fraction > 0 else []
    held = set(val)
    return Fold(index,
                Selection(splits, tuple(s for s in train if s not in held)),
                Selection(splits, tuple(val)) if val else None,
                test)


def make_folds(data_dir: str | os.PathLike, folds: int | None = None,
               val_fraction: float = DEFAULT_VAL_FRACTION, seed: int = 0,
               order: str | None = None, protocol: dict[str, Any] | None = None) -> list[Fold]:
    """The folds of a converted dataset under its protocol.

    Args:
        data_dir: a folder written by ``ferzoo convert`` (or any folder with a manifest).
        folds: number of folds for a ``kfold`` protocol (default: the protocol's);
            for ``predefined`` and ``fixed`` protocols it must match (or be None).
        val_fraction: part of each training part's subjects held out for validation
            (0: none).
        seed: for the validation holdout (fold i uses ``seed + i``) and ``order="random"``.
        order: override the protocol's fold order (``interleaved``, ``blocks``, ``random``).
        protocol: use this instead of ``protocol.json``.
    """
    manifest = _read_json(Path(data_dir) / "manifest.json")
    protocol = protocol or read_protocol(data_dir)
    kind = protocol.get("kind")
    if kind == "kfold":
        split = protocol.get("split", "all")
        k = int(folds or protocol.get("folds", 10))
        subjects = _subjects(manifest, [split])
        groups = kfold_subjects(subjects, k, order or protocol.get("order", "interleaved"), seed)
        out = []
        for i, group in enumerate(groups, start=1):
            test_set = set(group)
            train = [s for s in subjects if s not in test_set]
            out.append(_with_val(i, (split,), train, Selection((split,), tuple(group)),
                                 val_fraction, seed))
        return out
    if kind == "predefined":
        listed = protocol["folds"]
        if folds not in (None, len(listed)):
            raise ValueError(f"{data_dir}: this dataset has {len(listed)} predefined folds, "
                             f"not {folds}")
        out = []
        for i, entry in enumerate(listed, start=1):
            train_splits = tuple(entry["train"])
            excluded = set(entry.get("exclude_train", []))
            train = [s for s in _subjects(manifest, train_splits) if s not in excluded]
            fold = _with_val(i, train_splits, train, Selection(tuple(entry["test"])),
                             val_fraction, seed)
            out.append(fold)
        return out
    if kind == "fixed":
        if folds not in (None, 1):
            raise ValueError(f"{data_dir}: a fixed train/test protocol has one fold, not "
                             f"{folds} (drop --folds, or pass protocol=kfold)")
        train_split, test_split = protocol.get("train", "train"), protocol.get("test", "test")
        test = Selection((test_split,))
        if protocol.get("val"):
            return [Fold(1, Selection((train_split,)), Selection((protocol["val"],)), test)]
        return [_with_val(1, (train_split,), _subjects(manifest, [train_split]), test,
                          val_fraction, seed)]
    raise ValueError(f"{data_dir}: unknown protocol kind {kind!r}; use kfold, predefined "
                     f"or fixed")


def fold_table(folds: Sequence[Fold], data_dir: str | os.PathLike) -> str:
    """A plain-text table of the clips and subjects in each part of each fold."""
    manifest = _read_json(Path(data_dir) / "manifest.json")
    lines = [f"{'fold':>4} {'train':>7} {'val':>6} {'test':>6}  test subjects"]
    for fold in folds:
        val = fold.val.count(manifest) if fold.val else 0
        subjects = fold.test.subjects
        shown = "all of " + ",".join(fold.test.splits) if subjects is None else (
            ", ".join(subjects[:6]) + (f" ... ({len(subjects)})" if len(subjects) > 6 else ""))
        lines.append(f"{fold.index:>4} {fold.train.count(manifest):>7} {val:>6} "
                     f"{fold.test.count(manifest):>6}  {shown}")
    return "\n".join(lines)


# ----------------------------------------------------- one run on a dataset's protocol
CLIP_LEVEL_WARNING = (
    "WARNING: {data} has no subject ids (every clip is its own subject), so this split "
    "is by clip: clips of one person can land in training and in test, and the test "
    "figure overstates how the model does on new people. Give subjects when converting: "
    "a 'subject' column in the CSV manifest (path,label,subject), or "
    "ferzoo convert generic ... --option subject_pattern='^(S\\d+)_' (a regex on the "
    "clip name whose first group is the subject)."
)


def has_fixed_split(data_dir: str | os.PathLike) -> bool:
    """Whether a converted dataset ships its own ``train`` split (used as it is)."""
    manifest = _read_json(Path(data_dir) / "manifest.json")
    return "train" in manifest["splits"]


def subjects_are_clips(data_dir: str | os.PathLike) -> bool:
    """True when the dataset has no subject ids: each subject holds exactly one clip."""
    manifest = _read_json(Path(data_dir) / "manifest.json")
    counts = [n for entry in manifest["splits"].values()
              for n in entry["per_subject"].values()]
    return len(counts) > 1 and all(n == 1 for n in counts)


def _shown(subjects: Sequence[str], limit: int = 12) -> str:
    subjects = list(subjects)
    if len(subjects) <= limit:
        return ", ".join(subjects)
    return ", ".join(subjects[:limit]) + f" ... ({len(subjects)} in all)"


def protocol_fold(data_dir: str | os.PathLike, fold: int | None = None,
                  val_fraction: float = DEFAULT_VAL_FRACTION,
                  seed: int = 0) -> tuple[Fold, dict[str, Any], list[str]]:
    """The held-out split of one training run on a dataset without a fixed train split.

    The test subjects are fold ``fold`` (default 1) of the dataset's own protocol: the
    same folds :func:`make_folds` gives ``ferzoo crossval`` (a subject-independent
    k-fold for datasets converted as one ``all`` split); the validation subjects are
    held out of the rest by subject (``val_fraction``, seeded).

    Returns:
        ``(fold, protocol, lines)``: the :class:`Fold`; what the reports record
        (``kind``, ``fold``, ``folds``, ``order``, ``seed`` and the subjects of each
        part); lines for the user saying which subjects went where, led by a warning
        when the dataset has no subject ids (a split by clip leaks identity).
    """
    protocol = read_protocol(data_dir)
    if protocol.get("kind") == "fixed":
        raise ValueError(f"{data_dir} has a fixed train/test split ({protocol}); it is "
                         f"used as it is, so there is no fold to pick")
    folds = make_folds(data_dir, None, val_fraction, seed)
    index = 1 if fold is None else int(fold)
    if not 1 <= index <= len(folds):
        raise ValueError(f"fold {index} does not exist: {data_dir} has {len(folds)} folds "
                         f"under its {protocol.get('kind')} protocol (use 1..{len(folds)})")
    chosen = folds[index - 1]
    manifest = _read_json(Path(data_dir) / "manifest.json")

    def subjects(selection: Selection | None) -> list[str]:
        if selection is None:
            return []
        if selection.subjects is not None:
            return list(selection.subjects)
        return _subjects(manifest, selection.splits)

    parts = {"train": subjects(chosen.train), "val": subjects(chosen.val),
             "test": subjects(chosen.test)}
    record = {"kind": protocol.get("kind"), "fold": index, "folds": len(folds),
              "order": protocol.get("order"), "seed": seed, "val_fraction": val_fraction,
              "clip_level": subjects_are_clips(data_dir),
              **{f"{k}_subjects": v for k, v in parts.items()}}
    lines = []
    if record["clip_level"] and record["kind"] == "kfold":
        lines.append(CLIP_LEVEL_WARNING.format(data=data_dir))
    lines.append(f"{data_dir}: no fixed train/test split; fold {index} of its "
                 f"{len(folds)}-fold {protocol.get('kind')} protocol "
                 f"(the folds of ferzoo crossval; --fold K picks another)")
    for part, selection in (("test", chosen.test), ("val", chosen.val),
                            ("train", chosen.train)):
        clips = selection.count(manifest) if selection else 0
        lines.append(f"  {part:5s} {len(parts[part]):3d} subjects, {clips:5d} clips: "
                     f"{_shown(parts[part]) or '-'}")
    return chosen, record, lines

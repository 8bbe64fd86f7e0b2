"""Sharded, atomic, resumable TFRecord writing with a manifest.

Clips are assigned to shards by their position in ``items`` (contiguous runs), so the
same input always gives the same shards, bytes included, whatever the number of
workers. A shard is written under a temporary name and renamed when complete, after its
per-clip report (``.shards/<shard>.json``) is on disk: an interrupted run never leaves a
shard that looks finished, and a rerun skips the finished ones and redoes the rest.
A folder has one writer at a time: a second process writing into it (two trainings that
make the same synthetic dataset, a conversion started twice) waits on an operating-system
lock (``.shards/writer.lock``) and then finds the shards the first one finished.

Layout of an output folder::

    train-00000-of-00004.tfrecord ...   the shards of split "train"
    test-00000-of-00001.tfrecord
    manifest.json                       labels, counts per class/subject, sha256 per shard
    .shards/train-00000-of-00004.tfrecord.json   per-clip report of each finished shard
                                        (with each record's byte offset in the shard,
                                        so a reader can skip a damaged record exactly)
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import multiprocessing
import os
import sys
from collections import Counter
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import filelock

from ferzoo.data.records import record_size
from ferzoo.data.schema import Clip, SchemaError, clip_to_example
from ferzoo.progress import Progress

MANIFEST = "manifest.json"
WRITER_LOCK = Path(".shards") / "writer.lock"


class SkipClip(Exception):
    """Raised by a loader for a clip that cannot be used; the reason goes in the report."""


class ConversionError(RuntimeError):
    """A loader failed on an item in a way that is not a skip (names the item)."""


def shard_name(split: str, index: int, count: int) -> str:
    return f"{split}-{index:05d}-of-{count:05d}.tfrecord"


def atomic_write_text(path: Path, text: str) -> None:
    """Write a text file under a temporary name, then rename it into place."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        tmp.write_text(text)
        os.replace(tmp, path)
    except OSError as error:  # name the file meant, not its temporary name
        if error.errno is None:
            raise
        raise OSError(error.errno, error.strerror, str(path)) from error


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _shard_ranges(n_items: int, n_shards: int) -> list[tuple[int, int]]:
    return [(i * n_items // n_shards, (i + 1) * n_items // n_shards) for i in range(n_shards)]


def _is_finished(out_dir: Path, name: str) -> bool:
    return (out_dir / name).exists() and (out_dir / ".shards" / f"{name}.json").exists()


def _write_shard(job: dict[str, Any]) -> dict[str, Any]:
    """Write one shard (runs in a worker process when workers > 1)."""
    import tensorflow as tf

    out_dir, name = Path(job["out_dir"]), job["name"]
    load, labels, items = job["load"], job["labels"], job["items"]
    tmp = out_dir / f".{name}.tmp-{os.getpid()}"
    entries = []
    offset = 0  # byte offset of the next record: readers skip a damaged one by it
    with tf.io.TFRecordWriter(str(tmp)) as writer:
        for item in items:
            item_name = str(item)
            try:
                clip = load(item)
            except SkipClip as skip:
                entries.append({"item": item_name, "status": "skipped", "reason": str(skip)})
                continue
            except Exception as error:  # a loader bug or unreadable input: say which
                raise ConversionError(f"{item_name}: {type(error).__name__}: {error}") from error
            if not isinstance(clip, Clip):
                raise ConversionError(f"{item_name}: loader returned {type(clip).__name__}, not Clip")
            if labels is not None:
                if not 0 <= clip.label < len(labels) or labels[clip.label] != clip.label_name:
                    raise SchemaError(
                        f"{item_name}: unknown label {clip.label_name!r} (index {clip.label}); "
                        f"the labels of this dataset are {labels}"
                    )
            # deterministic=True: protobuf map order (the context) is otherwise per process.
            example = clip_to_example(clip, job["image_format"])
            record = example.SerializeToString(deterministic=True)
            writer.write(record)
            entry = {
                "item": item_name, "status": "written", "clip_id": clip.clip_id,
                "label": clip.label_name, "subject": str(clip.subject),
                "frames": int(len(clip.frames)), "flow": clip.flow is not None,
                "offset": offset,
            }
            offset += record_size(len(record))
            if clip.notes:
                entry["notes"] = clip.notes
            entries.append(entry)
    report = {"shard": name, "clips": entries, "sha256": sha256_file(tmp)}
    (out_dir / ".shards").mkdir(exist_ok=True)
    atomic_write_text(out_dir / ".shards" / f"{name}.json", json.dumps(report, indent=1))
    os.replace(tmp, out_dir / name)
    return report


def write_split(
    out_dir: str | os.PathLike,
    split: str,
    items: Sequence[Any],
    load: Callable[[Any], Clip],
    *,
    labels: Sequence[str] | None = None,
    num_shards: int | None = None,
    clips_per_shard: int = 64,
    workers: int = 1,
    image_format: str = "jpeg",
    progress: bool = True,
    source: str = "",
    progress_notes: Sequence[str] = (),
) -> dict[str, Any]:
    """Write ``items`` (loaded one at a time by ``load``) as the shards of ``split``.

    Args:
        out_dir: folder of the dataset (created if needed).
        split: split name: ``train``, ``test``, ``fold3`` ...
        items: light descriptors of the clips (paths, seeds ...), in a stable order.
            ``str(item)`` names the item in reports and errors.
        load: ``item -> Clip``; raises :class:`SkipClip` for a clip to leave out.
            With ``workers > 1`` it must be picklable (a module-level function or a
            ``functools.partial`` of one).
        labels: the dataset's label names; a clip with another label is an error.
        num_shards: shard count (default: ``ceil(len(items) / clips_per_shard)``).
        workers: processes writing shards in parallel (output is the same for any value).
        image_format: ``jpeg`` or ``png`` for the frames.
        source: recorded in the manifest.
        progress_notes: names of integer ``Clip.notes`` summed on the progress line
            (e.g. ``("faces_missed",)``).

    Returns:
        The split's manifest entry (also merged into ``out_dir/manifest.json``).
    """
    out_dir = Path(out_dir)
    if not len(items):
        raise ValueError(f"split {split!r}: no clips to write")
    with one_writer(out_dir):
        n_shards = num_shards or max(1, -(-len(items) // clips_per_shard))
        n_shards = min(n_shards, len(items))
        for stale in out_dir.glob(f".{split}-*.tmp-*"):
            stale.unlink()
        jobs, reports = [], {}
        for i, (lo, hi) in enumerate(_shard_ranges(len(items), n_shards)):
            name = shard_name(split, i, n_shards)
            if _is_finished(out_dir, name):
                report = out_dir / ".shards" / f"{name}.json"
                reports[name] = json.loads(report.read_text())
                continue
            jobs.append({
                "out_dir": str(out_dir), "name": name, "items": list(items[lo:hi]),
                "load": load, "labels": list(labels) if labels is not None else None,
                "image_format": image_format,
            })
        done_items = sum(len(r["clips"]) for r in reports.values())
        bar = Progress(len(items), f"writing {split}", enabled=progress)
        bar.update(done_items)
        if jobs:
            def account(report):
                reports[report["shard"]] = report
                skipped = sum(c["status"] == "skipped" for c in report["clips"])
                noted = {key: sum(int(c.get("notes", {}).get(key, 0)) for c in report["clips"])
                         for key in progress_notes}
                bar.update(len(report["clips"]), skipped=skipped, **noted)

            if workers > 1 and len(jobs) > 1:
                ctx = multiprocessing.get_context("spawn")
                with ctx.Pool(min(workers, len(jobs))) as pool:
                    for report in pool.imap_unordered(_write_shard, jobs):
                        account(report)
            else:
                for job in jobs:
                    account(_write_shard(job))
        bar.close()
        entry = _split_entry(out_dir, [reports[shard_name(split, i, n_shards)]
                                       for i in range(n_shards)])
        update_manifest(out_dir, split, entry, labels=labels, source=source)
        return entry


@contextlib.contextmanager
def one_writer(out_dir: str | os.PathLike) -> Iterator[None]:
    """Hold the dataset folder's writer lock; wait (saying so) while another process has it."""
    path = Path(out_dir) / WRITER_LOCK
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = filelock.FileLock(str(path))
    try:
        lock.acquire(timeout=0)
    except filelock.Timeout:
        print(f"{out_dir}: another process is writing this dataset; waiting for it "
              f"(lock {path})", file=sys.stderr, flush=True)
        lock.acquire()
    try:
        yield
    finally:
        lock.release()


def _split_entry(out_dir: Path, reports: list[dict[str, Any]]) -> dict[str, Any]:
    written = [c for r in reports for c in r["clips"] if c["status"] == "written"]
    skipped = [c for r in reports for c in r["clips"] if c["status"] == "skipped"]
    return {
        "num_clips": len(written),
        "num_skipped": len(skipped),
        "per_class": dict(sorted(Counter(c["label"] for c in written).items())),
        "per_subject": dict(sorted(Counter(c["subject"] for c in written).items())),
        "shards": [
            {"file": r["shard"], "sha256": r["sha256"],
             "clips": sum(c["status"] == "written" for c in r["clips"])}
            for r in reports
        ],
        "skipped": [{"item": c["item"], "reason": c["reason"]} for c in skipped],
    }


def update_manifest(out_dir: Path, split: str, entry: dict[str, Any], *,
                    labels: Sequence[str] | None, source: str = "") -> dict[str, Any]:
    """Merge one split's entry into ``manifest.json`` (written atomically)."""
    manifest = read_manifest(out_dir) or {"labels": None, "source": source, "splits": {}}
    if labels is not None:
        if manifest["labels"] not in (None, list(labels)):
            raise SchemaError(
                f"{out_dir}: split {split!r} has labels {list(labels)} but the dataset has "
                f"{manifest['labels']}"
            )
        manifest["labels"] = list(labels)
    manifest["source"] = manifest.get("source") or source
    manifest["splits"][split] = entry
    atomic_write_text(Path(out_dir) / MANIFEST, json.dumps(manifest, indent=1, sort_keys=True))
    return manifest


def read_manifest(out_dir: str | os.PathLike) -> dict[str, Any] | None:
    path = Path(out_dir) / MANIFEST
    return json.loads(path.read_text()) if path.exists() else None

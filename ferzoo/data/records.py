"""Records of TFRecord shards one by one: is a file a TFRecord file, which records of a
damaged shard are intact, and exact accounts of what a reader skipped.

A TFRecord file is a run of records, each framed as::

    uint64 length | uint32 masked crc32c(length) | data[length] | uint32 masked crc32c(data)

A reader that meets a bad record (a flipped byte, a cut) cannot find the next one from
the framing alone, so ``tf.data.TFRecordDataset`` stops there. The writer
(:mod:`ferzoo.data.writer`) records each record's byte offset in the shard's report
(``.shards/<shard>.json``); :func:`check_shard` uses them to read every intact record of a
damaged shard and to name each lost one (shard, record index, clip id). For a shard
without offsets (written by an older ferzoo) it looks for the next valid record header
instead.

    checks = check_shards(files)          # one ShardCheck per file
    skip_report(checks)                   # {"planned": .., "read": .., "skipped": [...]}
"""

from __future__ import annotations

import dataclasses
import json
import os
import struct
from pathlib import Path
from typing import Any, Iterator, Sequence

from ferzoo.errors import DataError

HEADER_BYTES = 12  # length and its CRC
FOOTER_BYTES = 4  # the data's CRC
OVERHEAD = HEADER_BYTES + FOOTER_BYTES

_CRC_TABLE: list[int] = []
for _i in range(256):
    _c = _i
    for _ in range(8):
        _c = (_c >> 1) ^ 0x82F63B78 if _c & 1 else _c >> 1
    _CRC_TABLE.append(_c)


def crc32c(data: bytes) -> int:
    """CRC-32C (Castagnoli) of ``data``, as TFRecord framing uses it (pure Python: a few
    MB/s, used only on damaged shards and on record headers)."""
    crc = 0xFFFFFFFF
    table = _CRC_TABLE
    for byte in data:
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def masked_crc(data: bytes) -> int:
    crc = crc32c(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def record_size(payload_bytes: int) -> int:
    """Bytes a record of ``payload_bytes`` takes in a TFRecord file."""
    return payload_bytes + OVERHEAD


def read_record_at(data: bytes, offset: int) -> tuple[bytes | None, str]:
    """The record starting at ``offset`` of a file's bytes, or ``(None, reason)``."""
    if offset + HEADER_BYTES > len(data):
        return None, "cut off (the file ends inside its header)"
    header = data[offset:offset + 8]
    (length,) = struct.unpack("<Q", header)
    (crc,) = struct.unpack("<I", data[offset + 8:offset + 12])
    if masked_crc(header) != crc:
        return None, "corrupt header (length checksum mismatch)"
    end = offset + HEADER_BYTES + length
    if end + FOOTER_BYTES > len(data):
        return None, "cut off (the file ends inside it)"
    payload = data[offset + HEADER_BYTES:end]
    (crc,) = struct.unpack("<I", data[end:end + FOOTER_BYTES])
    if masked_crc(payload) != crc:
        return None, "corrupt data (checksum mismatch)"
    return payload, ""


def is_tfrecord_file(path: str | os.PathLike) -> bool:
    """True when ``path`` is empty or starts with a valid record header."""
    with open(path, "rb") as f:
        head = f.read(HEADER_BYTES)
    if not head:
        return True
    if len(head) < HEADER_BYTES:
        return False
    return masked_crc(head[:8]) == struct.unpack("<I", head[8:])[0]


def check_tfrecord_files(files: Sequence[str]) -> None:
    """Raise :class:`DataError` naming the first file that is not a TFRecord file."""
    for path in files:
        if not is_tfrecord_file(path):
            raise DataError(f"{path} is not a TFRecord file (its first record header is "
                            "invalid); give the shards written by ferzoo convert or synth")


def shard_report(path: str | os.PathLike) -> dict[str, Any] | None:
    """The writer's report of a shard (``.shards/<name>.json`` beside it), if any."""
    path = Path(path)
    report = path.parent / ".shards" / f"{path.name}.json"
    try:
        return json.loads(report.read_text())
    except (OSError, ValueError):
        return None


@dataclasses.dataclass
class ShardCheck:
    """What a reader finds in one shard.

    Attributes:
        path: the shard.
        planned: records the writer put in it (from its report), None when unknown.
        read: intact, usable records.
        skipped: one entry per lost record: ``shard``, ``record`` (index, when known),
            ``clip_id`` (when the report names it), ``reason``.
        intact: byte offsets of the intact records when the shard is damaged (a reader
            reads these); None for a whole shard.
    """

    path: str
    planned: int | None
    read: int
    skipped: list[dict[str, Any]]
    intact: list[int] | None = None

    @property
    def damaged(self) -> bool:
        return self.intact is not None


def _context_problem(payload: bytes) -> str | None:
    from ferzoo.data.schema import read_context

    try:
        context = read_context(payload)
    except Exception as error:  # an unparsable proto
        return f"not a ferzoo SequenceExample ({type(error).__name__}: {error})"
    if context["num_stored_frames"] < 1:
        return f"clip {context.get('clip/id')!r} has no frames"
    if "clip/label/index" not in context:
        return f"clip {context.get('clip/id')!r} has no label"
    return None


def _fast_scan(path: str) -> tuple[int, list[tuple[int, str]], str | None]:
    """Read a shard with TensorFlow: (records read, [(index, context problem)], the
    framing error that stopped it or None)."""
    import tensorflow as tf

    count, problems = 0, []
    iterator = iter(tf.data.TFRecordDataset(path))
    while True:
        try:
            raw = next(iterator)
        except StopIteration:
            return count, problems, None
        except tf.errors.OpError as error:
            return count, problems, (error.message or str(error)).strip().splitlines()[0]
        problem = _context_problem(raw.numpy())
        if problem:
            problems.append((count, problem))
        count += 1


def _offsets(report: dict[str, Any] | None) -> list[tuple[int, str | None]] | None:
    """(offset, clip id) of every record the report lists, or None without offsets."""
    if report is None:
        return None
    written = [c for c in report.get("clips", []) if c.get("status") == "written"]
    if any("offset" not in c for c in written):
        return None
    return [(int(c["offset"]), c.get("clip_id")) for c in written]


def _next_header(data: bytes, start: int) -> int | None:
    """The first offset >= start where a valid record header begins (no offsets known)."""
    for offset in range(start, len(data) - HEADER_BYTES + 1):
        (length,) = struct.unpack("<Q", data[offset:offset + 8])
        if offset + record_size(length) > len(data):
            continue
        if masked_crc(data[offset:offset + 8]) == struct.unpack(
                "<I", data[offset + 8:offset + 12])[0]:
            return offset
    return None


def _damaged_scan(path: str, report: dict[str, Any] | None) -> ShardCheck:
    """Every record of a damaged shard, each read on its own (exact with offsets)."""
    data = Path(path).read_bytes()
    planned_records = _offsets(report)
    skipped, intact = [], []

    def lose(index, reason, clip_id=None, at=None):
        entry: dict[str, Any] = {"shard": path, "record": index}
        if clip_id:
            entry["clip_id"] = clip_id
        if at is not None:
            entry["offset"] = at
        entry["reason"] = reason
        skipped.append(entry)

    if planned_records is not None:
        for index, (offset, clip_id) in enumerate(planned_records):
            payload, reason = read_record_at(data, offset)
            if payload is None:
                lose(index, reason, clip_id, offset)
                continue
            problem = _context_problem(payload)
            if problem:
                lose(index, problem, clip_id, offset)
            else:
                intact.append(offset)
        return ShardCheck(path, len(planned_records), len(intact), skipped, intact)
    # No offsets: walk the framing; after a break, resume at the next valid header.
    offset, index = 0, 0
    while offset < len(data):
        payload, reason = read_record_at(data, offset)
        if payload is None:
            found = _next_header(data, offset + 1)
            lose(f"{index} (and any lost with it)", reason, at=offset)
            if found is None:
                break
            offset, index = found, index + 1
            continue
        problem = _context_problem(payload)
        if problem:
            lose(index, problem, at=offset)
        else:
            intact.append(offset)
        offset += record_size(len(payload))
        index += 1
    planned = None if report is None else sum(
        c.get("status") == "written" for c in report.get("clips", []))
    return ShardCheck(path, planned, len(intact), skipped, intact)


_CACHE: dict[tuple[str, int, int], ShardCheck] = {}


def check_shard(path: str) -> ShardCheck:
    """Check every record of a shard (cached while the file is unchanged)."""
    stat = os.stat(path)
    key = (os.path.abspath(path), stat.st_size, stat.st_mtime_ns)
    if key in _CACHE:
        return _CACHE[key]
    report = shard_report(path)
    count, problems, framing = _fast_scan(path)
    if framing is None:
        planned = None if report is None else sum(
            c.get("status") == "written" for c in report.get("clips", []))
        ids = [c.get("clip_id") for c in (report or {}).get("clips", [])
               if c.get("status") == "written"]
        skipped = [dict({"shard": path, "record": i},
                        **({"clip_id": ids[i]} if i < len(ids) else {}), reason=reason)
                   for i, reason in problems]
        check = ShardCheck(path, planned if planned is not None else count,
                           count - len(problems), skipped)
        if planned is not None and planned != count:
            check.skipped.append({"shard": path, "record": None,
                                  "reason": f"the shard holds {count} records, its report "
                                            f"lists {planned}"})
    else:
        check = _damaged_scan(path, report)
    _CACHE[key] = check
    return check


def check_shards(files: Sequence[str]) -> list[ShardCheck]:
    check_tfrecord_files(files)
    return [check_shard(str(f)) for f in files]


def skip_report(checks: Sequence[ShardCheck]) -> dict[str, Any]:
    """Clips planned (the writer's count; records found where no report says), read and
    skipped, with shard and record of each skip."""
    planned = sum(c.planned if c.planned is not None else c.read + len(c.skipped)
                  for c in checks)
    read = sum(c.read for c in checks)
    return {"planned": planned, "read": read, "skipped": planned - read,
            "skips": [s for c in checks for s in c.skipped]}


def describe_skips(report: dict[str, Any], limit: int = 10) -> str:
    """``skipped 3 of 144 clips (141 read):`` and one line per skip."""
    lines = [f"skipped {report['skipped']} of {report['planned']} clips "
             f"({report['read']} read)"]
    for skip in report["skips"][:limit]:
        clip = f" (clip {skip['clip_id']})" if skip.get("clip_id") else ""
        record = "" if skip.get("record") is None else f" record {skip['record']}"
        lines.append(f"  shard {skip['shard']}{record}{clip}: {skip['reason']}")
    if len(report["skips"]) > limit:
        lines.append(f"  ... and {len(report['skips']) - limit} more")
    return "\n".join(lines)


def intact_records(checks: Sequence[ShardCheck]) -> Iterator[bytes]:
    """The intact records of damaged shards, in order (read by their offsets)."""
    for check in checks:
        if not check.intact:
            continue
        data = Path(check.path).read_bytes()
        for offset in check.intact:
            payload, _ = read_record_at(data, offset)
            if payload is not None:
                yield payload


def first_bad_records(files: Sequence[str], limit: int = 10) -> list[dict[str, Any]]:
    """The first bad records of ``files`` (shard, record, reason), for an error message."""
    check_tfrecord_files(files)
    bad: list[dict[str, Any]] = []
    for path in files:
        bad.extend(check_shard(str(path)).skipped)
        if len(bad) >= limit:
            break
    return bad[:limit]


def data_error(files: Sequence[str], error: BaseException) -> Exception:
    """A failure inside an input pipeline as a :class:`DataError` naming shard and
    record; the error itself when no bad record explains it."""
    message = getattr(error, "message", "") or str(error)
    if "clip" in message and ("has no" in message or "label" in message):
        detail = message.split("assertion failed:")[-1].split("\n")[0].strip(" []")
        return DataError(f"bad clip in {Path(files[0]).parent}: {detail}")
    try:
        bad = first_bad_records(files)
    except DataError as not_tfrecord:
        return not_tfrecord
    if not bad:
        return error if isinstance(error, Exception) else RuntimeError(str(error))
    report = {"planned": 0, "read": 0, "skipped": 0, "skips": bad}
    lines = describe_skips(report).splitlines()[1:]
    return DataError("corrupt input records (rerun with --skip-corrupt to skip them and "
                     "count the clips lost):\n" + "\n".join(lines))

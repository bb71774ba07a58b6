"""Sharded pre-annotation and ranking: the files each shard leaves and their deterministic merge.

A sharded run (a SageMaker Processing job whose image input is ``ShardedByS3Key``, see :mod:`gtlabel.sharded`)
has one process per instance; each writes, for its share of the images, two files into one shared folder:

- ``part-00001-of-00004.manifest``: the lines :func:`~gtlabel.model.preannotate.preannotate` (or
  :func:`~gtlabel.model.active.rank`) wrote for the shard's images, ``source-ref`` rebased onto the S3 prefix
  the images came from, in ``source-ref`` order (pre-annotations) or most uncertain first (ranking);
- ``part-00001-of-00004.json``: written last, the shard's record (:class:`ShardRecord`): task, shard index and
  count, images seen, lines and boxes written; for ranking the score key and ``top_k``.

:func:`merge_shards` combines the parts of all shards into one manifest: every shard must be there (a missing
one is an error naming it), pre-annotations are merged in ``source-ref`` order (streamed, flat memory),
ranked lines are re-ranked over all shards (score descending, ties by ``source-ref``, which is the order the
single-machine :func:`~gtlabel.model.active.rank` keeps for a prefix) and cut to ``top_k``; a ``source-ref``
that two shards both hold is kept once. The same parts give the same bytes.
"""

from __future__ import annotations

import heapq
import os
import re
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import orjson

from gtlabel import storage
from gtlabel.errors import ConfigError, InputError, NotFound
from gtlabel.formats import strict_json
from gtlabel.formats.ground_truth import SOURCE_REF

__all__ = [
    "MERGED_MANIFEST",
    "TASKS",
    "MergeSummary",
    "ShardRecord",
    "merge_shards",
    "part_name",
    "rebase_source_ref",
]

#: What a shard can do.
TASKS = ("preannotate", "rank")
Task = Literal["preannotate", "rank"]
#: The merged manifest's file name where a folder is written (the pipeline's merge step).
MERGED_MANIFEST = "merged.manifest"
_PART_RE = re.compile(r"^part-(\d{5})-of-(\d{5})\.json$")
_MAX_SHARDS = 99_999  # five digits in the part names


def part_name(index: int, count: int, suffix: str) -> str:
    """``part-<index>-of-<count>.<suffix>`` (zero-padded, so that names sort in shard order)."""
    if not 1 <= count <= _MAX_SHARDS or not 0 <= index < count:
        raise ConfigError(f"shard {index} of {count}: need 0 <= index < count <= {_MAX_SHARDS}")
    return f"part-{index:05d}-of-{count:05d}.{suffix}"


def rebase_source_ref(ref: str, prefix: str) -> str:
    """A ``source-ref`` relative to the shard's local image folder, as the S3 URI under ``prefix``."""
    if ref.startswith(("/", "../")) or "/../" in ref or storage.is_s3(ref):
        raise InputError(f"expected a path relative to the image folder, got {ref!r}", field=SOURCE_REF)
    return prefix.rstrip("/") + "/" + ref


@dataclass
class ShardRecord:
    """What one shard did (its ``part-*.json``)."""

    task: Task
    shard: int
    shards: int
    images: int = 0  # images the shard saw (ranking: scored)
    lines: int = 0  # lines in its part manifest
    boxes: int = 0  # pre-annotation boxes written (ranking with prelabels too)
    score_key: str | None = None  # ranking only
    top_k: int | None = None  # ranking only
    source_prefix: str = ""

    @property
    def manifest_name(self) -> str:
        return part_name(self.shard, self.shards, "manifest")

    @property
    def record_name(self) -> str:
        return part_name(self.shard, self.shards, "json")

    def dumps(self) -> bytes:
        return strict_json.dumps(asdict(self), option=orjson.OPT_SORT_KEYS | orjson.OPT_INDENT_2)

    @classmethod
    def loads(cls, raw: bytes, *, file: str) -> ShardRecord:
        try:
            doc = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise InputError(f"not valid JSON: {exc}", file=file) from None
        if not isinstance(doc, dict):
            raise InputError("expected a JSON object", file=file)
        if doc.get("task") not in TASKS:
            raise InputError(f"expected one of {', '.join(TASKS)}", file=file, field="task")
        for key in ("shard", "shards", "images", "lines", "boxes"):
            if not isinstance(doc.get(key), int) or isinstance(doc.get(key), bool) or doc[key] < 0:
                raise InputError("expected an integer >= 0", file=file, field=key)
        if doc["task"] == "rank" and (not isinstance(doc.get("score_key"), str) or not isinstance(
                doc.get("top_k"), int) or doc["top_k"] < 1):
            raise InputError("a ranking shard needs score_key (text) and top_k (>= 1)", file=file)
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in doc.items() if k in known})


@dataclass
class MergeSummary:
    out_manifest: str
    task: str
    shards: int
    images: int = 0  # over all shards (ranking: scored)
    lines: int = 0  # written to the merged manifest
    boxes: int = 0  # pre-annotation boxes over all shards
    duplicates: int = 0  # lines whose source-ref another shard already gave (left out)
    top: list[tuple[str, float]] = field(default_factory=list)  # ranking: (source-ref, score), best first


def _join(prefix: str, name: str) -> str:
    if storage.is_s3(prefix):
        return prefix.rstrip("/") + "/" + name
    return os.path.join(prefix, name)


def _records(prefix: str, shards: int | None) -> list[ShardRecord]:
    found: list[tuple[int, int, str]] = []
    for info in storage.list_objects(prefix, recursive=False):
        m = _PART_RE.match(info.uri.replace(os.sep, "/").rstrip("/").rsplit("/", 1)[-1])
        if m:
            found.append((int(m.group(1)), int(m.group(2)), info.uri))
    if not found:
        raise NotFound("no shard outputs here (part-NNNNN-of-NNNNN.json)", prefix)
    counts = sorted({c for _i, c, _u in found})
    if len(counts) > 1:
        raise InputError(f"parts of runs with different shard counts are mixed here: {counts}", file=prefix)
    count = counts[0]
    if shards is not None and shards != count:
        raise InputError(f"expected {shards} shard(s), the parts here are of {count}", file=prefix)
    have = {i: uri for i, _c, uri in found}
    missing = [i for i in range(count) if i not in have]
    if missing:
        names = ", ".join(f"shard {i} ({part_name(i, count, 'json')})" for i in missing[:10])
        more = f" and {len(missing) - 10} more" if len(missing) > 10 else ""
        raise NotFound(f"{len(missing)} of {count} shard(s) missing: {names}{more}", prefix)
    records = []
    for i in range(count):
        rec = ShardRecord.loads(storage.read_bytes(have[i]), file=have[i])
        if (rec.shard, rec.shards) != (i, count):
            raise InputError(f"says shard {rec.shard} of {rec.shards}", file=have[i])
        records.append(rec)
    tasks = {r.task for r in records}
    if len(tasks) > 1:
        raise InputError(f"shards of different tasks are mixed here: {sorted(tasks)}", file=prefix)
    if records[0].task == "rank" and len({(r.score_key, r.top_k) for r in records}) > 1:
        raise InputError("ranking shards disagree on score_key or top_k", file=prefix)
    return records


def _lines(uri: str) -> Iterator[tuple[str, dict[str, Any], bytes, int]]:
    """``(source-ref, line, raw bytes, line number)`` of a part manifest."""
    for lineno, raw in storage.iter_lines(uri):
        try:
            doc = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise InputError(f"not valid JSON: {exc}", file=uri, line=lineno) from None
        ref = doc.get(SOURCE_REF) if isinstance(doc, dict) else None
        if not isinstance(ref, str) or not ref:
            raise InputError("expected a JSON object with a source-ref", file=uri, line=lineno, field=SOURCE_REF)
        yield ref, doc, raw, lineno


def _in_order(uri: str, shard: int) -> Iterator[tuple[str, int, bytes]]:
    last = ""
    for ref, _doc, raw, lineno in _lines(uri):
        if ref < last:
            raise InputError(f"source-ref {ref!r} comes after {last!r}: a part must be in source-ref order",
                             file=uri, line=lineno)
        last = ref
        yield ref, shard, raw


def merge_shards(prefix: str | os.PathLike[str], out_manifest: str | os.PathLike[str], *,
                 shards: int | None = None) -> MergeSummary:
    """Merge the shard outputs under ``prefix`` (a local folder or an S3 prefix) into ``out_manifest``
    (written atomically). ``shards``: how many there must be (default: what the parts say); every shard's
    ``part-*.json`` and ``part-*.manifest`` must be there."""
    src, out = str(prefix), str(out_manifest)
    if storage.is_s3(src) and not src.endswith("/"):
        src += "/"  # a folder of parts (s3://b/job/shards, not s3://b/job/shards-old/...)
    if shards is not None and shards < 1:
        raise ConfigError(f"shards must be >= 1, got {shards}")
    records = _records(src, shards)
    task = records[0].task
    summary = MergeSummary(out_manifest=out, task=task, shards=len(records),
                           images=sum(r.images for r in records), boxes=sum(r.boxes for r in records))
    parts = [_join(src, r.manifest_name) for r in records]
    for uri in parts:
        if not storage.exists(uri):
            raise NotFound("this shard's record is here but not its manifest", uri)
    with storage.atomic_writer(out, content_type="application/x-ndjson") as fh:
        if task == "preannotate":
            last: str | None = None
            for ref, _shard, raw in heapq.merge(*(_in_order(u, i) for i, u in enumerate(parts))):
                if ref == last:
                    summary.duplicates += 1
                    continue
                last = ref
                fh.write(raw + b"\n")
                summary.lines += 1
        else:
            summary.lines, summary.duplicates, summary.top = _merge_ranked(records[0], parts, fh)
    return summary


def _score(doc: dict[str, Any], key: str, uri: str, lineno: int) -> float:
    info = doc.get(key)
    score = info.get("score") if isinstance(info, dict) else None
    if not isinstance(score, int | float) or isinstance(score, bool):
        raise InputError("expected a number", file=uri, line=lineno, field=f"{key}.score")
    return float(score)


def _merge_ranked(first: ShardRecord, parts: list[str], fh: Any) -> tuple[int, int, list[tuple[str, float]]]:
    key, top_k = str(first.score_key), int(first.top_k or 0)
    rows: list[tuple[float, str, int, dict[str, Any]]] = []
    for shard, uri in enumerate(parts):
        rows.extend((-_score(doc, key, uri, n), ref, shard, doc) for ref, doc, _raw, n in _lines(uri))
    rows.sort(key=lambda r: r[:3])
    seen: set[str] = set()
    duplicates = 0
    top: list[tuple[str, float]] = []
    for neg, ref, _shard, doc in rows:
        if ref in seen:
            duplicates += 1
            continue
        seen.add(ref)
        if len(top) == top_k:
            continue
        doc[key] = {**doc[key], "rank": len(top) + 1}
        fh.write(strict_json.dumps(doc) + b"\n")
        top.append((ref, -neg))
    return len(top), duplicates, top

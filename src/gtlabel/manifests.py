"""Ground Truth manifests: building input manifests, and parsing output manifests as a stream.

Input manifests (:func:`build_input_manifest`) come from an S3 prefix, a local folder, or an existing
manifest. Images are filtered by suffix (jpg/jpeg/png, case-insensitive) and size (40 MB, Ground Truth's
limit); each line must stay within 100,000 characters and each attribute within 20,000 characters (the
documented manifest limits, ``ground-truth.md`` section 6). Sampling is seeded and deterministic, and the
order is the sorted key order. Lines of an existing manifest pass through byte for byte.

Output manifests (:func:`iter_output_manifest`) are read line by line (constant memory) into typed
:class:`OutputRecord` s. The label attribute is the one the caller names, or else the only bounding-box
attribute found by the ``<name>`` / ``<name>-metadata`` pairing; when chained jobs leave several, the error
lists them. Bad lines raise :class:`~gtlabel.errors.ManifestError` naming ``file:line`` and the field, or,
with ``strict=False``, are skipped and counted (``on_skip``).

``source-ref`` must be an ``s3://bucket/key`` URI or a path relative to the manifest's folder; ``..``
segments and absolute paths are refused, so a manifest cannot pull arbitrary files into a dataset.
"""

from __future__ import annotations

import hashlib
import heapq
import math
import os
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, NamedTuple, NoReturn

import orjson

from gtlabel import storage
from gtlabel.errors import ConfigError, ManifestError

__all__ = [
    "IMAGE_SUFFIXES",
    "MANIFEST_SUFFIXES",
    "MAX_ATTRIBUTE_CHARS",
    "MAX_IMAGE_BYTES",
    "MAX_LINE_CHARS",
    "ManifestSummary",
    "OutputBox",
    "OutputRecord",
    "build_input_manifest",
    "check_line_limits",
    "check_source_ref",
    "detect_label_attributes",
    "iter_output_manifest",
    "parse_output_line",
    "resolve_source_ref",
]



def _gt_limits() -> dict[str, Any]:
    """Ground Truth's documented input limits, from ``data/ground-truth-limits.json`` (source + date there)."""
    try:
        from gtlabel.jobs import facts

        return facts.load("ground-truth-limits.json")
    except Exception:  # pragma: no cover - the facts file ships with the package
        return {}


_LIMITS = _gt_limits()
IMAGE_SUFFIXES: tuple[str, ...] = tuple(_LIMITS.get("images", {}).get("suffixes", (".jpg", ".jpeg", ".png")))
MAX_IMAGE_BYTES: int = int(_LIMITS.get("images", {}).get("max_bytes", 40 * 1024 * 1024))
MAX_LINE_CHARS: int = int(_LIMITS.get("manifest", {}).get("max_line_chars", 100_000))
MAX_ATTRIBUTE_CHARS: int = int(_LIMITS.get("manifest", {}).get("max_attribute_chars", 20_000))
MANIFEST_SUFFIXES: tuple[str, ...] = (".manifest", ".jsonl", ".json", ".ndjson")
_RESERVED = frozenset({"source-ref", "source"})
_BBOX_TYPES = ("groundtruth/object-detection", "groundtruth/custom")


# ----------------------------------------------------------------------------------------------- records
class OutputBox(NamedTuple):
    """One box in pixels of the frame the worker saw; ``confidence`` from ``-metadata.objects`` if given.
    (A named tuple: a manifest of a million lines has millions of them.)"""

    class_id: int
    left: float
    top: float
    width: float
    height: float
    confidence: float | None = None


@dataclass(slots=True)
class OutputRecord:
    """One output-manifest line, typed. ``extra`` holds the pass-through keys (other attributes included)."""

    file: str
    line: int
    source_ref: str
    label_attribute: str
    image_size: tuple[int, int, int] | None
    boxes: list[OutputBox]
    class_map: dict[int, str]
    human_annotated: bool | None
    failure_reason: str | None
    adjustment_status: str | None
    job_name: str | None
    creation_date: str | None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def failed(self) -> bool:
        return self.failure_reason is not None

    @property
    def labeled(self) -> bool:
        return self.image_size is not None


# ----------------------------------------------------------------------------------------------- source-ref
def check_source_ref(ref: object, *, file: str | None = None, line: int | None = None,
                     field_name: str = "source-ref") -> str:
    """Return ``ref`` if it is a safe image reference, else raise :class:`ManifestError`.

    Accepted: ``s3://bucket/key`` (no ``..`` segment in the key) or a relative path without ``..`` segments.
    """
    if not isinstance(ref, str):
        raise ManifestError(f"expected a string, got {type(ref).__name__}", file=file, line=line, field=field_name)
    if not ref.strip():
        raise ManifestError("is empty", file=file, line=line, field=field_name)
    if "\x00" in ref:
        raise ManifestError("contains a NUL character", file=file, line=line, field=field_name)
    if ref.startswith("s3://"):
        bucket, _, key = ref[5:].partition("/")
        if not bucket or not key:
            raise ManifestError(f"expected s3://bucket/key, got {ref!r}", file=file, line=line, field=field_name)
        if ".." in key and ".." in key.split("/"):
            raise ManifestError(f"'..' segments are not allowed: {ref!r}", file=file, line=line, field=field_name)
        return ref
    if "://" in ref:
        raise ManifestError(f"only s3:// URIs or relative paths are supported, got {ref!r}",
                            file=file, line=line, field=field_name)
    norm = ref.replace("\\", "/")
    if norm.startswith("/") or (len(norm) > 1 and norm[1] == ":"):
        raise ManifestError(f"absolute paths are not allowed (use s3:// or a path relative to the manifest): "
                            f"{ref!r}", file=file, line=line, field=field_name)
    if ".." in norm.split("/"):
        raise ManifestError(f"'..' segments are not allowed: {ref!r}", file=file, line=line, field=field_name)
    return ref


def resolve_source_ref(ref: str, manifest_uri: str, image_root: str | None = None) -> str:
    """The URI/path of a (checked) ``source-ref``: S3 URIs as they are, relative paths against ``image_root``
    or the manifest's folder."""
    if ref.startswith("s3://"):
        return ref
    base = image_root if image_root is not None else _parent(manifest_uri)
    return storage.join(base, ref.replace("\\", "/"))


def _parent(uri: str) -> str:
    if storage.is_s3(uri):
        return uri.rsplit("/", 1)[0]
    return str(Path(uri).resolve().parent)


# ----------------------------------------------------------------------------------------------- output
def detect_label_attributes(obj: dict[str, Any]) -> list[str]:
    """Label attributes on one line: names ``X`` with an ``X-metadata`` dict beside them (or only the metadata,
    as on failed lines) whose ``type`` is a bounding-box/custom type or missing. Sorted."""
    out = []
    for key, meta in obj.items():
        if not key.endswith("-metadata") or not isinstance(meta, dict):
            continue
        name = key[: -len("-metadata")]
        if not name or name in _RESERVED:
            continue
        typ = meta.get("type")
        if typ is None or (isinstance(typ, str) and typ.lower().startswith(_BBOX_TYPES)):
            out.append(name)
    return sorted(out)


def _num(v: object, file: str, line: int, fld: str) -> float:
    if type(v) is int or type(v) is float:
        if type(v) is float and not math.isfinite(v):
            raise ManifestError(f"expected a finite number, got {v!r}", file=file, line=line, field=fld)
        return v
    raise ManifestError(f"expected a number, got {type(v).__name__} {v!r}", file=file, line=line, field=fld)


def _int(v: object, file: str, line: int, fld: str) -> int:
    if type(v) is int:
        return v
    if type(v) is float and v.is_integer():
        return int(v)
    raise ManifestError(f"expected an integer, got {type(v).__name__} {v!r}", file=file, line=line, field=fld)


_NUMBER = frozenset({int, float})
_LO, _HI = -1e300, 1e300  # finite (NaN fails every comparison)


def _bad_box(a: object, file: str, line: int, p: str) -> NoReturn:
    """Raise the precise error for a box that failed the fast path."""
    if not isinstance(a, dict):
        raise ManifestError(f"expected an object, got {type(a).__name__}", file=file, line=line, field=p)
    cid = _int(a.get("class_id"), file, line, p + ".class_id")
    if cid < 0:
        raise ManifestError(f"must be >= 0, got {cid}", file=file, line=line, field=p + ".class_id")
    _num(a.get("left"), file, line, p + ".left")
    _num(a.get("top"), file, line, p + ".top")
    bw = _num(a.get("width"), file, line, p + ".width")
    bh = _num(a.get("height"), file, line, p + ".height")
    if bw < 0 or bh < 0:
        raise ManifestError(f"width and height must be >= 0, got {bw} x {bh}", file=file, line=line, field=p)
    raise ManifestError("is out of range", file=file, line=line, field=p)  # pragma: no cover - values > 1e300


def parse_output_line(obj: object, *, file: str, line: int, label_attribute: str) -> OutputRecord:
    """One decoded output-manifest line -> :class:`OutputRecord` (pure; raises :class:`ManifestError`)."""
    if not isinstance(obj, dict):
        raise ManifestError(f"expected a JSON object, got {type(obj).__name__}", file=file, line=line)
    attr = label_attribute
    mkey = attr + "-metadata"
    source_ref = check_source_ref(obj.get("source-ref"), file=file, line=line) if "source-ref" in obj else None
    if source_ref is None:
        hint = " (this line has 'source': text, not an image)" if "source" in obj else ""
        raise ManifestError(f"missing{hint}", file=file, line=line, field="source-ref")
    meta = obj.get(mkey)
    if meta is None:
        meta = {}
    elif not isinstance(meta, dict):
        raise ManifestError(f"expected an object, got {type(meta).__name__}", file=file, line=line, field=mkey)
    failure = meta.get("failure-reason")
    if failure is not None and not isinstance(failure, str):
        failure = orjson.dumps(failure).decode()
    extra = {k: v for k, v in obj.items() if k != "source-ref" and k != attr and k != mkey}
    label = obj.get(attr)
    image_size: tuple[int, int, int] | None = None
    boxes: list[OutputBox] = []
    if label is None:
        if failure is None:
            raise ManifestError(f"no label attribute {attr!r} on this line (unlabeled object?)",
                                file=file, line=line, field=attr)
    elif not isinstance(label, dict):
        raise ManifestError(f"expected an object, got {type(label).__name__}", file=file, line=line, field=attr)
    elif not label and str(meta.get("type", "")).lower() == "groundtruth/custom":
        pass  # a custom workflow without a consolidation Lambda writes {}: a line with no label, not an error
    elif failure is None or "image_size" in label:
        sizes = label.get("image_size")
        if sizes is None:
            raise ManifestError("missing", file=file, line=line, field=f"{attr}.image_size")
        if not isinstance(sizes, list) or not sizes or not isinstance(sizes[0], dict):
            raise ManifestError(f"expected a list with one {{width, height, depth}} object, got {sizes!r}"[:300],
                                file=file, line=line, field=f"{attr}.image_size")
        s0 = sizes[0]
        w = _int(s0.get("width"), file, line, f"{attr}.image_size[0].width")
        h = _int(s0.get("height"), file, line, f"{attr}.image_size[0].height")
        d = _int(s0.get("depth", 3), file, line, f"{attr}.image_size[0].depth")
        if w <= 0 or h <= 0:
            raise ManifestError(f"width and height must be > 0, got {w}x{h}", file=file, line=line,
                                field=f"{attr}.image_size[0]")
        image_size = (w, h, d)
        anns = label.get("annotations", [])
        if not isinstance(anns, list):
            raise ManifestError(f"expected a list, got {type(anns).__name__}", file=file, line=line,
                                field=f"{attr}.annotations")
        # built-in jobs keep objects/class-map in -metadata; a custom workflow's consolidation Lambda (ours
        # included) returns them inside the label, because Ground Truth writes the custom job's metadata itself
        objects = meta.get("objects", label.get("objects"))
        confs = objects if isinstance(objects, list) and len(objects) == len(anns) else None
        new_box = tuple.__new__  # OutputBox(...) without the keyword-handling __new__ (hot loop)
        append = boxes.append
        number = _NUMBER
        for i, a in enumerate(anns):
            # fast path: well-formed boxes (what Ground Truth writes); anything else gets the precise error below
            try:
                cid: Any = a["class_id"]
                left: Any = a["left"]
                top: Any = a["top"]
                bw: Any = a["width"]
                bh: Any = a["height"]
            except (KeyError, TypeError, IndexError):  # not an object, or a key missing: the precise error below
                cid = left = top = bw = bh = None
            if (type(cid) is int and type(left) in number and type(top) in number and type(bw) in number
                    and type(bh) in number and cid >= 0 and _LO < left < _HI and _LO < top < _HI
                    and 0 <= bw < _HI and 0 <= bh < _HI and type(a) is dict):
                conf: float | None = None
                if confs is not None:
                    ci = confs[i]
                    c: Any = ci.get("confidence") if type(ci) is dict else None
                    if type(c) in number and _LO < c < _HI:
                        conf = float(c)
                append(new_box(OutputBox, (cid, left, top, bw, bh, conf)))
                continue
            _bad_box(a, file, line, f"{attr}.annotations[{i}]")
    cmap_raw = meta.get("class-map")
    if cmap_raw is None and isinstance(label, dict):
        cmap_raw = label.get("class-map")
    class_map: dict[int, str] = {}
    if cmap_raw is not None:
        if not isinstance(cmap_raw, dict):
            raise ManifestError(f"expected an object, got {type(cmap_raw).__name__}", file=file, line=line,
                                field=f"{mkey}.class-map")
        for k, v in cmap_raw.items():
            try:
                ik = int(k)
            except ValueError:
                raise ManifestError(f"keys must be class ids, got {k!r}", file=file, line=line,
                                    field=f"{mkey}.class-map") from None
            if not isinstance(v, str):
                raise ManifestError(f"names must be strings, got {v!r}", file=file, line=line,
                                    field=f"{mkey}.class-map.{k}")
            class_map[ik] = v
    ha = meta.get("human-annotated")
    human = True if ha == "yes" or ha is True else False if ha == "no" or ha is False else None
    adj = meta.get("adjustment-status")
    job = meta.get("job-name", meta.get("job_name"))
    created = meta.get("creation-date", meta.get("creation_date"))
    return OutputRecord(
        file=file, line=line, source_ref=source_ref, label_attribute=attr, image_size=image_size, boxes=boxes,
        class_map=class_map, human_annotated=human, failure_reason=failure,
        adjustment_status=adj if isinstance(adj, str) else None,
        job_name=job if isinstance(job, str) else None,
        creation_date=created if isinstance(created, str) else None,
        extra=extra,
    )


def iter_output_manifest(
    uri: str | os.PathLike[str],
    *,
    label_attribute: str | None = None,
    strict: bool = True,
    on_skip: Callable[[ManifestError], None] | None = None,
) -> Iterator[OutputRecord]:
    """Stream an output manifest as :class:`OutputRecord` s (constant memory).

    ``label_attribute``: the attribute to read; when ``None`` it is detected on the first labelled line by
    the ``-metadata`` pairing, and a line with several candidates is an error that lists them.
    ``strict=False``: bad lines are passed to ``on_skip`` and skipped instead of raised. Errors that concern
    the whole file (it cannot be read, the label attribute is ambiguous) are always raised.
    """
    return iter_output_lines(storage.iter_lines(str(uri)), file=str(uri), label_attribute=label_attribute,
                             strict=strict, on_skip=on_skip)


def iter_output_lines(
    lines: Iterable[tuple[int, bytes]],
    *,
    file: str,
    label_attribute: str | None = None,
    strict: bool = True,
    on_skip: Callable[[ManifestError], None] | None = None,
) -> Iterator[OutputRecord]:
    """:func:`iter_output_manifest` over ``(line_number, raw_line)`` pairs of ``file`` (e.g. one block of it,
    from :func:`gtlabel.storage.iter_line_blocks`)."""
    attr = label_attribute
    loads = orjson.loads
    for lineno, raw in lines:
        try:
            try:
                obj = loads(raw)
            except orjson.JSONDecodeError as exc:
                raise ManifestError(f"malformed JSON: {exc}", file=file, line=lineno) from None
            if attr is None:
                if not isinstance(obj, dict):
                    raise ManifestError(f"expected a JSON object, got {type(obj).__name__}", file=file,
                                        line=lineno)
                found = detect_label_attributes(obj)
                if len(found) > 1:
                    raise ManifestError(
                        f"several label attributes on this line: {', '.join(found)}; choose one with "
                        f"label_attribute= (CLI: --label-attribute)", file=file, line=lineno)
                if not found:
                    raise ManifestError(
                        "no label attribute found (no '<name>' with a '<name>-metadata' object of type "
                        "groundtruth/object-detection); is this an input manifest?", file=file, line=lineno)
                attr = found[0]
            yield parse_output_line(obj, file=file, line=lineno, label_attribute=attr)
        except ManifestError as exc:
            if strict or (attr is None and "several label attributes" in exc.reason):
                raise
            if on_skip is not None:
                on_skip(exc)


# ----------------------------------------------------------------------------------------------- input
@dataclass
class ManifestSummary:
    """What :func:`build_input_manifest` wrote."""

    source: str
    dest: str
    written: int = 0
    seen: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    examples: list[str] = field(default_factory=list)  # first few skipped items with their reason
    near_duplicates: list[tuple[str, str]] = field(default_factory=list)  # (dropped image, the image kept)

    def skip(self, reason: str, what: str) -> None:
        self.skipped[reason] += 1
        if len(self.examples) < 20:
            self.examples.append(f"{what}: {reason}")

    def as_dict(self) -> dict[str, Any]:
        return {"source": self.source, "dest": self.dest, "seen": self.seen, "written": self.written,
                "skipped": dict(sorted(self.skipped.items())), "examples": list(self.examples),
                "near_duplicates": [list(p) for p in self.near_duplicates]}


def check_line_limits(line: bytes, obj: dict[str, Any], *, file: str, lineno: int | None,
                      max_line_chars: int = MAX_LINE_CHARS, max_attribute_chars: int = MAX_ATTRIBUTE_CHARS) -> None:
    """Ground Truth's input-manifest limits for one line (characters per line and per attribute); raises
    :class:`~gtlabel.errors.ManifestError` naming the file, line and attribute."""
    text = line.decode("utf-8")
    if len(text) > max_line_chars:
        raise ManifestError(f"line has {len(text)} characters; Ground Truth allows {max_line_chars}",
                            file=file, line=lineno)
    for key, value in obj.items():
        n = len(orjson.dumps(value).decode("utf-8"))
        if n > max_attribute_chars:
            raise ManifestError(f"attribute has {n} characters; Ground Truth allows {max_attribute_chars}",
                                file=file, line=lineno, field=key)


def _sample_key(seed: int, uri: str) -> bytes:
    return hashlib.sha256(f"{seed}\x00{uri}".encode()).digest()[:8]


def _sampled(items: Iterable[tuple[str, bytes]], sample: int | None, seed: int) -> list[tuple[str, bytes]] | None:
    """Keep the ``sample`` items with the smallest seeded hash (O(sample) memory), back in key order."""
    if sample is None:
        return None
    heap: list[tuple[bytes, str, bytes]] = []  # max-heap via negated hash
    for key, line in items:
        h = _sample_key(seed, key)
        neg = bytes(255 - b for b in h)
        if len(heap) < sample:
            heapq.heappush(heap, (neg, key, line))
        elif neg > heap[0][0]:
            heapq.heapreplace(heap, (neg, key, line))
    return sorted(((k, ln) for _, k, ln in heap), key=lambda t: t[0])


def _deduped(items: Iterable[tuple[str, bytes]], locate: Callable[[str], str], summary: ManifestSummary,
             distance: int, sample: int | None, seed: int, max_workers: int | None,
             progress: bool | None) -> list[tuple[str, bytes]]:
    """Near-duplicate removal (greedy, in key order or, with ``sample``, in sampling order) -> kept items in key
    order. Images are hashed concurrently in chunks; with ``sample`` it stops at ``sample`` kept items."""
    from concurrent.futures import ThreadPoolExecutor

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from gtlabel.dedupe import NearDuplicateIndex, phash
    from gtlabel.settings import get_settings

    index = NearDuplicateIndex(distance)  # checks the distance before anything is read
    todo = list(items)
    if sample is not None:
        todo.sort(key=lambda kv: _sample_key(seed, kv[0]))
    cfg = get_settings()
    workers = max_workers or min(16, cfg.max_concurrency)
    show = cfg.progress if progress is None else progress

    def ref_of(line: bytes) -> str | None:
        ref = orjson.loads(line).get("source-ref")
        return ref if isinstance(ref, str) else None

    def hash_of(key: str, line: bytes) -> int | str | None:
        ref = ref_of(line)
        if ref is None:
            return None  # a text object: nothing to compare
        uri = locate(key)
        try:
            return phash(storage.read_bytes(uri), where=uri)
        except ValueError:
            return "unreadable"

    kept: list[tuple[str, bytes]] = []
    chunk = max(32, 4 * workers)
    with ThreadPoolExecutor(max_workers=workers) as pool, \
            Progress(TextColumn("near-duplicates"), BarColumn(), MofNCompleteColumn(), transient=True,
                     disable=not show) as bar:
        task = bar.add_task("hash", total=len(todo))
        for start in range(0, len(todo), chunk):
            part = todo[start:start + chunk]
            for (key, line), h in zip(part, pool.map(lambda kv: hash_of(*kv), part), strict=True):
                bar.advance(task)
                if sample is not None and len(kept) >= sample:
                    break
                if h == "unreadable":
                    summary.skip("not a readable image", key)
                    continue
                if isinstance(h, int):
                    dup_of = index.add(key, h)
                    if dup_of is not None:
                        summary.skip("near-duplicate", f"{key} ~ {dup_of}")
                        summary.near_duplicates.append((key, dup_of))
                        continue
                kept.append((key, line))
            if sample is not None and len(kept) >= sample:
                break
    if sample is not None:
        kept.sort(key=lambda kv: kv[0])
    return kept


def build_input_manifest(
    source: str | os.PathLike[str],
    dest: str | os.PathLike[str],
    *,
    suffixes: Iterable[str] = IMAGE_SUFFIXES,
    max_bytes: int = MAX_IMAGE_BYTES,
    sample: int | None = None,
    seed: int = 0,
    strict: bool = True,
    max_line_chars: int = MAX_LINE_CHARS,
    max_attribute_chars: int = MAX_ATTRIBUTE_CHARS,
    dedupe_distance: int | None = None,
    max_workers: int | None = None,
    progress: bool | None = None,
) -> ManifestSummary:
    """Write a Ground Truth input manifest to ``dest`` (atomically) and say what was kept and skipped.

    ``source`` is an S3 prefix, a local folder (source-refs are written relative to ``dest``'s folder, which
    must contain the images), or an existing manifest (``*.manifest``/``*.jsonl``/``*.json``; its lines pass
    through unchanged, with their extra keys). ``sample``: keep that many, chosen by a hash seeded with
    ``seed`` (the same seed gives the same sample). ``strict=False`` skips bad manifest lines instead of
    raising, counting them in the summary.

    ``dedupe_distance``: drop near-duplicate images (:mod:`gtlabel.dedupe`: perceptual hashes within this many
    bits; 8 suits drone bursts). Every candidate image is read once (``max_workers`` threads; with ``sample``
    only until ``sample`` distinct images are found, in sampling order); the first of each group is kept, the
    others are counted as ``near-duplicate`` and listed in ``summary.near_duplicates``; undecodable images are
    skipped as ``not a readable image``.
    """
    src, dst = str(source), str(dest)
    if sample is not None and sample < 1:
        raise ConfigError(f"sample must be >= 1, got {sample}")
    sfx = tuple(s.lower() if s.startswith(".") else f".{s.lower()}" for s in suffixes)
    summary = ManifestSummary(src, dst)
    is_manifest = src.lower().endswith(MANIFEST_SUFFIXES) and (storage.is_s3(src) or Path(src).is_file())
    if not storage.is_s3(src) and Path(src).is_file() and not is_manifest:
        raise ConfigError(f"{src}: expected a folder, an S3 prefix or a manifest ({', '.join(MANIFEST_SUFFIXES)})")

    items = _manifest_items(src, summary, sfx, strict, max_line_chars, max_attribute_chars) if is_manifest \
        else _listing_items(src, dst, summary, sfx, max_bytes, max_line_chars, max_attribute_chars)
    chosen: list[tuple[str, bytes]] | None
    if dedupe_distance is not None:
        locate = (lambda key: resolve_source_ref(key, src)) if is_manifest else (lambda key: key)
        chosen = _deduped(items, locate, summary, dedupe_distance, sample, seed, max_workers, progress)
    else:
        chosen = _sampled(items, sample, seed)
    with storage.atomic_writer(dst, content_type="application/jsonlines") as fh:
        for _key, line in chosen if chosen is not None else items:
            fh.write(line + b"\n")
            summary.written += 1
    if sample is not None:
        not_sampled = summary.seen - sum(summary.skipped.values()) - summary.written
        if not_sampled > 0:
            summary.skipped["not sampled"] += not_sampled
    return summary


def _manifest_items(src: str, summary: ManifestSummary, sfx: tuple[str, ...], strict: bool,
                    max_line_chars: int, max_attribute_chars: int) -> Iterator[tuple[str, bytes]]:
    for lineno, raw in storage.iter_lines(src):
        summary.seen += 1
        try:
            try:
                obj = orjson.loads(raw)
            except orjson.JSONDecodeError as exc:
                raise ManifestError(f"malformed JSON: {exc}", file=src, line=lineno) from None
            if not isinstance(obj, dict):
                raise ManifestError(f"expected a JSON object, got {type(obj).__name__}", file=src, line=lineno)
            if "source-ref" in obj:
                ref = check_source_ref(obj["source-ref"], file=src, line=lineno)
                key = ref
                if not ref.lower().endswith(sfx):
                    summary.skip("suffix not allowed", f"{src}:{lineno}")
                    continue
            elif "source" in obj:
                if not isinstance(obj["source"], str):
                    raise ManifestError("expected a string", file=src, line=lineno, field="source")
                key = f"{lineno:012d}"
            else:
                raise ManifestError("needs 'source-ref' (an image) or 'source' (text)", file=src, line=lineno,
                                    field="source-ref")
            check_line_limits(raw, obj, file=src, lineno=lineno, max_line_chars=max_line_chars,
                          max_attribute_chars=max_attribute_chars)
        except ManifestError as exc:
            if strict:
                raise
            summary.skip(exc.reason, f"{src}:{lineno}")
            continue
        yield key, raw


def _listing_items(src: str, dst: str, summary: ManifestSummary, sfx: tuple[str, ...], max_bytes: int,
                   max_line_chars: int, max_attribute_chars: int) -> Iterator[tuple[str, bytes]]:
    local_base: Path | None = None
    if not storage.is_s3(src):
        if storage.is_s3(dst):
            raise ConfigError(f"{src}: a manifest on S3 cannot point at local images; upload them and build from "
                              f"the S3 prefix")
        local_base = Path(dst).resolve().parent
    for info in storage.list_objects(src):
        summary.seen += 1
        if not info.uri.lower().endswith(sfx):
            summary.skip(f"suffix not in {', '.join(sfx)}", info.uri)
            continue
        if info.size > max_bytes:
            summary.skip(f"larger than {max_bytes // (1024 * 1024)} MB", info.uri)
            continue
        if info.size == 0:
            summary.skip("empty file", info.uri)
            continue
        ref = info.uri
        if local_base is not None:
            path = Path(info.uri).resolve()
            try:
                ref = PurePosixPath(path.relative_to(local_base)).as_posix()
            except ValueError:
                raise ConfigError(f"{info.uri}: local images must be inside the manifest's folder "
                                  f"{local_base} (source-refs are relative and never use '..')") from None
        obj = {"source-ref": ref}
        line = orjson.dumps(obj)
        try:
            check_line_limits(line, obj, file=src, lineno=None, max_line_chars=max_line_chars,
                          max_attribute_chars=max_attribute_chars)
        except ManifestError as exc:
            summary.skip(exc.reason, info.uri)
            continue
        yield info.uri, line

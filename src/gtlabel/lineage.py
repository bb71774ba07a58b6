"""Dataset versions and lineage (see docs/ARCHITECTURE.md, "yolo + lineage").

``lineage.json`` (written by :mod:`gtlabel.yolo` beside ``data.yaml``) holds the dataset's ``version``, its
``manifest {uri, etag}``, the labeling ``jobs``, conversion ``settings``, ``package_version``, class ``names``,
an optional ``quality`` summary, and one record per image::

    {image, label, source_ref, source_etag, source_version_id, split, label_sha256}

This module reads it (local folder or ``s3://`` prefix, same code) and answers three questions:

- :func:`show` / :func:`find_images`: where did this label come from (source object + ETag/version, jobs,
  manifest + ETag, settings, package version, quality)?
- :func:`diff`: what changed between two versions (images added/removed, labels/splits/sources changed,
  classes and settings changed)?
- :func:`verify`: is the dataset still what was converted? Label files are re-hashed (SHA-256), image copies
  compared with the source's ETag (MD5) or, where an ETag is not an MD5 (SSE-KMS, multipart), with the source
  bytes; source objects are re-checked (ETag, version id); files that are not in the lineage are reported;
  the version id is recomputed from the records, so an edited ``lineage.json`` is caught too.

The pure parts (parsing, diff, version recomputation) take values; only the ``load``/``verify`` rim does I/O.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any

import orjson

from gtlabel.errors import GtlabelError, LineageError, NotFound, StorageError

__all__ = [
    "DatasetDiff",
    "ImageRecord",
    "Lineage",
    "Problem",
    "VerifyReport",
    "diff",
    "find_images",
    "load",
    "provenance",
    "recompute_version",
    "verify",
    "version_id",
]

LINEAGE_FILE = "lineage.json"
_MD5_RE = re.compile(r"^[0-9a-f]{32}$")
_HEAD_FIELDS = ("version", "format", "package_version", "manifest", "jobs", "label_attribute", "settings",
                "names", "splits", "quality", "job_details")


def version_id(payload: Mapping[str, Any]) -> str:
    """A content-derived version id: the same payload (labels, image ETags/hashes, class names, splits,
    conversion settings) always gives the same id, any change gives another."""
    blob = orjson.dumps(payload, option=orjson.OPT_SORT_KEYS)
    return "v-" + hashlib.sha256(blob).hexdigest()[:16]


# ================================================================================================ model
@dataclass(frozen=True)
class ImageRecord:
    """One image of a dataset version, as ``lineage.json`` records it."""

    image: str
    label: str
    source_ref: str
    source_etag: str | None
    source_version_id: str | None
    split: str
    label_sha256: str
    raw: Mapping[str, Any] = field(repr=False, compare=False, default_factory=dict)

    @property
    def name(self) -> str:
        return self.image.rsplit("/", 1)[-1]


@dataclass
class Lineage:
    """A parsed ``lineage.json``. ``base`` is the dataset folder / prefix (where data.yaml lives)."""

    uri: str
    base: str
    head: dict[str, Any]
    images: list[ImageRecord]

    @property
    def version(self) -> str:
        return str(self.head.get("version", ""))

    @property
    def names(self) -> dict[int, str]:
        raw = self.head.get("names") or {}
        if isinstance(raw, list):
            return dict(enumerate(str(n) for n in raw))
        return {int(k): str(v) for k, v in raw.items()}

    @property
    def settings(self) -> dict[str, Any]:
        return dict(self.head.get("settings") or {})

    @property
    def manifest(self) -> dict[str, Any]:
        return dict(self.head.get("manifest") or {})

    @property
    def jobs(self) -> list[str]:
        return [str(j) for j in self.head.get("jobs") or []]

    def path(self, rel: str) -> str:
        return _join(self.base, rel)


def _join(base: str, rel: str) -> str:
    from gtlabel import storage

    return storage.join(base, *rel.split("/"))


def parse(data: bytes, uri: str = LINEAGE_FILE) -> tuple[dict[str, Any], list[ImageRecord]]:
    """Parse lineage.json bytes into (head, records). Raises :class:`LineageError` naming the file and field."""
    try:
        doc = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise LineageError(f"{uri}: not valid JSON ({exc})") from exc
    if not isinstance(doc, dict):
        raise LineageError(f"{uri}: expected a JSON object, got {type(doc).__name__}")
    if not isinstance(doc.get("version"), str) or not doc["version"]:
        raise LineageError(f"{uri}: field 'version' is missing or not a string")
    images = doc.get("images")
    if not isinstance(images, list):
        raise LineageError(f"{uri}: field 'images' is missing or not a list")
    records: list[ImageRecord] = []
    for i, e in enumerate(images):
        if not isinstance(e, dict):
            raise LineageError(f"{uri}: images[{i}] is not an object")
        missing = [k for k in ("image", "label", "source_ref", "split", "label_sha256") if not isinstance(e.get(k), str)]
        if missing:
            raise LineageError(f"{uri}: images[{i}] lacks string field(s) {', '.join(missing)}")
        for k in ("image", "label"):
            if e[k].startswith("/") or ".." in e[k].split("/"):
                raise LineageError(f"{uri}: images[{i}].{k} must be a path inside the dataset, got {e[k]!r}")
        records.append(ImageRecord(e["image"], e["label"], e["source_ref"], e.get("source_etag"),
                                   e.get("source_version_id"), e["split"], e["label_sha256"], e))
    head = {k: v for k, v in doc.items() if k != "images"}
    return head, records


def lineage_uri(dataset: str | os.PathLike[str]) -> tuple[str, str]:
    """(lineage.json URI, dataset base) for a dataset folder/prefix, its data.yaml or its lineage.json."""
    from gtlabel import storage

    d = str(dataset)
    if storage.is_s3(d):
        d = d.rstrip("/")
        base = d.rsplit("/", 1)[0] if d.endswith(("/data.yaml", f"/{LINEAGE_FILE}")) else d
        return f"{base}/{LINEAGE_FILE}", base
    p = os.path.abspath(os.path.expanduser(d))
    if os.path.basename(p) in ("data.yaml", LINEAGE_FILE) and not os.path.isdir(p):
        p = os.path.dirname(p)
    return os.path.join(p, LINEAGE_FILE), p


def load(dataset: str | os.PathLike[str]) -> Lineage:
    """Read the lineage of a dataset (folder/prefix, data.yaml or lineage.json; local or s3://)."""
    from gtlabel import storage

    uri, base = lineage_uri(dataset)
    try:
        data = storage.read_bytes(uri)
    except NotFound as exc:
        raise LineageError(f"{uri}: no lineage record (is {base} a gtlabel dataset?)") from exc
    head, records = parse(data, uri)
    return Lineage(uri, base, head, records)


# ================================================================================================ show
def find_images(lin: Lineage, query: str) -> list[ImageRecord]:
    """Records matching ``query``: the image/label path in the dataset, its file name or stem, or the
    ``source_ref`` (as recorded, resolved to a full URI/path, or its file name)."""
    q = query.strip()
    exact = [r for r in lin.images if q in (r.image, r.label, r.source_ref, r.name)]
    if not exact and (storage_is_s3(q) or os.path.isabs(q)):
        exact = [r for r in lin.images if _source_uri(lin, r) == q]
    if exact:
        return exact
    stem = q.rsplit("/", 1)[-1]
    return [r for r in lin.images
            if r.name.rsplit(".", 1)[0] == stem.rsplit(".", 1)[0] or r.source_ref.rsplit("/", 1)[-1] == stem]


def provenance(lin: Lineage, rec: ImageRecord | None = None) -> dict[str, Any]:
    """Where a label came from (``rec``), or the dataset's summary (``rec=None``), as a JSON-ready dict."""
    out: dict[str, Any] = {
        "dataset": lin.base,
        "version": lin.version,
        "package_version": lin.head.get("package_version"),
        "manifest": lin.manifest,
        "jobs": lin.jobs,
        "job_details": lin.head.get("job_details"),
        "label_attribute": lin.head.get("label_attribute"),
        "settings": lin.settings,
        "names": {str(k): v for k, v in sorted(lin.names.items())},
        "quality": lin.head.get("quality"),
    }
    if rec is None:
        out["images"] = len(lin.images)
        out["splits"] = lin.head.get("splits") or _count_splits(lin.images)
        return out
    return {
        "image": lin.path(rec.image),
        "label": lin.path(rec.label),
        "split": rec.split,
        "label_sha256": rec.label_sha256,
        "source": {"uri": _source_uri(lin, rec), "ref": rec.source_ref, "etag": rec.source_etag,
                   "version_id": rec.source_version_id},
        **out,
    }


def _count_splits(images: Iterable[ImageRecord]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for r in images:
        counts[r.split] = counts.get(r.split, 0) + 1
    return counts


# ================================================================================================ diff
@dataclass
class Change:
    source_ref: str
    what: list[str]
    before: dict[str, Any]
    after: dict[str, Any]


@dataclass
class DatasetDiff:
    a: str
    b: str
    version_a: str
    version_b: str
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    changed: list[Change] = field(default_factory=list)
    classes: dict[str, Any] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    other: dict[str, Any] = field(default_factory=dict)

    @property
    def same(self) -> bool:
        return not (self.added or self.removed or self.changed or self.classes or self.settings or self.other)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def diff(a: Lineage, b: Lineage) -> DatasetDiff:
    """What changed from version ``a`` to version ``b``. Images are matched by their source (``source_ref``
    resolved against the manifest's folder when relative), and listed by that URI."""
    out = DatasetDiff(a.base, b.base, a.version, b.version)
    ia = {_source_uri(a, r): r for r in a.images}
    ib = {_source_uri(b, r): r for r in b.images}
    out.added = sorted(set(ib) - set(ia))
    out.removed = sorted(set(ia) - set(ib))
    fields = (("label", "label_sha256"), ("split", "split"), ("source", "source_etag"),
              ("source", "source_version_id"))
    for k in sorted(set(ia) & set(ib)):
        ra, rb = ia[k], ib[k]
        what: list[str] = []
        before: dict[str, Any] = {}
        after: dict[str, Any] = {}
        for label, attr in fields:
            va, vb = getattr(ra, attr), getattr(rb, attr)
            if va != vb:
                if label not in what:
                    what.append(label)
                before[attr], after[attr] = va, vb
        if what:
            out.changed.append(Change(k, what, before, after))
    na, nb = a.names, b.names
    if na != nb:
        out.classes = {
            "added": sorted(set(nb.values()) - set(na.values())),
            "removed": sorted(set(na.values()) - set(nb.values())),
            "renumbered": sorted(n for i, n in na.items() if n in nb.values() and nb.get(i) != n),
            "before": {str(k): v for k, v in sorted(na.items())},
            "after": {str(k): v for k, v in sorted(nb.items())},
        }
    out.settings = _dict_diff(a.settings, b.settings)
    for key in ("manifest", "jobs", "label_attribute", "package_version", "format"):
        va, vb = a.head.get(key), b.head.get(key)
        if va != vb:
            out.other[key] = {"before": va, "after": vb}
    return out


def _dict_diff(a: Mapping[str, Any], b: Mapping[str, Any]) -> dict[str, Any]:
    return {k: {"before": a.get(k), "after": b.get(k)} for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)}


# ================================================================================================ version
def _entries_sum(entries: Iterable[Mapping[str, Any]]) -> int:
    total = 0
    for e in entries:
        total += int.from_bytes(hashlib.sha256(orjson.dumps(dict(e))).digest(), "big")
    return total % (1 << 256)


def _unmoved(entry: Mapping[str, Any]) -> dict[str, Any]:
    """The record as it was hashed before the converter moved it from train to val (tiny datasets)."""
    repl = {"image": str(entry["image"]).replace("images/val/", "images/train/", 1),
            "label": str(entry["label"]).replace("labels/val/", "labels/train/", 1), "split": "train"}
    return {k: repl.get(k, v) for k, v in entry.items()}


def recompute_version(lin: Lineage) -> str | None:
    """The version id recomputed from the records, names and settings (the payload gtlabel.yolo hashes),
    or ``None`` for a lineage format this module does not know."""
    if lin.head.get("format") != "gtlabel-yolo/1":
        return None
    names = [n for _, n in sorted(lin.names.items())]
    raws = [r.raw for r in lin.images]

    def payload(entries: Iterable[Mapping[str, Any]], moved: list[str]) -> dict[str, Any]:
        return {"format": lin.head["format"], "names": names, "settings": lin.head.get("settings"),
                "entries": f"{_entries_sum(entries):064x}", "count": len(raws), "moved_to_val": moved}

    v = version_id(payload(raws, []))
    if v == lin.version:
        return v
    # The converter moves one train image to val when hashing left val empty; it then holds the only val image.
    vals = [r for r in lin.images if r.split == "val"]
    if len(vals) == 1:
        moved = vals[0]
        alt = version_id(payload((_unmoved(e) if e is moved.raw else e for e in raws), [moved.name]))
        if alt == lin.version:
            return alt
    return v


# ================================================================================================ verify
@dataclass(frozen=True)
class Problem:
    kind: str  # label-changed | label-missing | image-changed | image-missing | source-changed |
    #            source-missing | unexpected-file | data-yaml | lineage-edited
    file: str
    detail: str

    def __str__(self) -> str:
        return f"{self.kind}: {self.file}: {self.detail}"


@dataclass
class VerifyReport:
    dataset: str
    version: str
    images: int = 0
    labels_checked: int = 0
    images_checked: int = 0
    sources_checked: int = 0
    version_recomputed: str | None = None
    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["ok"] = self.ok
        return d

    def summary(self) -> str:
        head = (f"{self.dataset} {self.version}: {self.images} images; {self.labels_checked} labels, "
                f"{self.images_checked} image copies, {self.sources_checked} sources checked")
        if self.ok:
            return head + "; all match the lineage"
        lines = [head + f"; {len(self.problems)} problem(s):"]
        lines += [f"  - {p}" for p in self.problems[:200]]
        if len(self.problems) > 200:
            lines.append(f"  ... and {len(self.problems) - 200} more")
        return "\n".join(lines)


@dataclass(frozen=True)
class _Fingerprint:
    etag: str | None
    version_id: str | None
    sse: str | None


def _fingerprint(uri: str, version: str | None = None) -> _Fingerprint:
    """ETag, version and encryption of an S3 object (``NotFound`` if absent); a local file's MD5."""
    from gtlabel import storage

    if storage.is_s3(uri):
        from botocore.exceptions import ClientError

        loc = storage.parse_s3(uri)
        kw: dict[str, Any] = {"Bucket": loc.bucket, "Key": loc.key}
        if version:
            kw["VersionId"] = version
        try:
            r = storage.s3_client().head_object(**kw)
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code in {"404", "NoSuchKey", "NoSuchVersion", "NotFound", "400"}:
                raise NotFound("does not exist" + (f" (version {version})" if version else ""), uri) from exc
            raise StorageError(f"S3 error {code}: {exc}", uri) from exc
        return _Fingerprint(str(r.get("ETag", "")).strip('"') or None, r.get("VersionId"),
                            r.get("ServerSideEncryption"))
    return _Fingerprint(storage.head(uri, hash_local=True).etag, None, None)


def _is_md5_etag(fp: _Fingerprint) -> bool:
    """An ETag is the MD5 of the bytes only for single-part objects not encrypted with SSE-KMS/SSE-C."""
    return fp.etag is not None and bool(_MD5_RE.match(fp.etag)) and fp.sse not in ("aws:kms", "aws:kms:dsse")


def _md5(uri: str, version: str | None = None) -> str:
    from gtlabel import storage

    if storage.is_s3(uri) and version:
        from botocore.exceptions import ClientError

        loc = storage.parse_s3(uri)
        try:
            body = storage.s3_client().get_object(Bucket=loc.bucket, Key=loc.key, VersionId=version)["Body"]
        except ClientError as exc:
            raise StorageError(f"cannot read version {version}: {exc}", uri) from exc
        h = hashlib.md5(usedforsecurity=False)
        for chunk in iter(lambda: body.read(1 << 20), b""):
            h.update(chunk)
        return h.hexdigest()
    h = hashlib.md5(usedforsecurity=False)
    with storage.open_read(uri) as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _check_label(lin: Lineage, r: ImageRecord) -> list[Problem]:
    from gtlabel import storage

    uri = lin.path(r.label)
    try:
        data = storage.read_bytes(uri)
    except NotFound:
        return [Problem("label-missing", uri, "listed in lineage.json but not in the dataset")]
    got = hashlib.sha256(data).hexdigest()
    if got != r.label_sha256:
        return [Problem("label-changed", uri, f"sha256 {got[:16]}... but lineage.json recorded "
                                              f"{r.label_sha256[:16]}... (edited after conversion)")]
    return []


def _source_uri(lin: Lineage, r: ImageRecord) -> str:
    from gtlabel.manifests import resolve_source_ref

    return resolve_source_ref(r.source_ref, str(lin.manifest.get("uri") or lin.base), None)


def _check_image(lin: Lineage, r: ImageRecord, copies: bool, sources: bool) -> tuple[list[Problem], int, int]:
    """Problems with the image copy and the source object; (problems, copies checked, sources checked)."""
    problems: list[Problem] = []
    n_copy = n_src = 0
    src = _source_uri(lin, r)
    src_fp: _Fingerprint | None = None
    src_unchanged = False
    # a local source's recorded ETag is always its MD5: without source checks it need not be read again
    if sources or (copies and (storage_is_s3(src) or not (r.source_etag and _MD5_RE.match(r.source_etag)))):
        try:
            src_fp = _fingerprint(src)
        except NotFound:
            src_fp = None
    if sources:
        n_src = 1
        if src_fp is None:
            problems.append(Problem("source-missing", src, "the source image no longer exists"))
        elif r.source_etag and src_fp.etag != r.source_etag:
            problems.append(Problem("source-changed", src, f"ETag {src_fp.etag} but lineage.json recorded "
                                                           f"{r.source_etag} (replaced after conversion)"))
    if src_fp is not None and r.source_etag and src_fp.etag == r.source_etag:
        src_unchanged = True
    if sources and r.source_version_id and src_fp is not None:
        try:
            old = _fingerprint(src, r.source_version_id)
            if r.source_etag and old.etag != r.source_etag:
                problems.append(Problem("source-changed", src, f"version {r.source_version_id} has ETag "
                                                               f"{old.etag}, lineage.json recorded {r.source_etag}"))
        except NotFound:
            problems.append(Problem("source-missing", src, f"recorded version {r.source_version_id} was deleted"))
    if not copies:
        return problems, n_copy, n_src
    uri = lin.path(r.image)
    try:
        copy_fp = _fingerprint(uri)
    except NotFound:
        problems.append(Problem("image-missing", uri, "listed in lineage.json but not in the dataset"))
        return problems, n_copy, n_src
    copy_md5 = copy_fp.etag if _is_md5_etag(copy_fp) else _md5(uri)
    # What the copy must equal: the recorded ETag when it is an MD5 (local sources: always), else the bytes
    # of the source as converted (the current object when its ETag is unchanged, or the recorded version).
    expected: str | None = None
    kms_source = src_fp is not None and src_fp.sse in ("aws:kms", "aws:kms:dsse")
    if r.source_etag and _MD5_RE.match(r.source_etag) and not kms_source and (src_fp is not None or
                                                                              not storage_is_s3(src)):
        expected = r.source_etag
    elif src_unchanged:
        expected = _md5(src)
    elif r.source_version_id and src_fp is not None:
        try:
            expected = _md5(src, r.source_version_id)
        except (NotFound, StorageError):
            expected = None
    if expected is None:
        why = ("no source fingerprint was recorded (converted with fingerprint_sources=False, 'labels only')"
               if not r.source_etag and not r.source_version_id else
               "the source as converted is gone and its ETag is not an MD5")
        problems.append(Problem("unverifiable", uri, f"{why}: the copy cannot be compared"))
        return problems, 0, n_src
    if copy_md5 != expected:
        problems.append(Problem("image-changed", uri, f"MD5 {copy_md5} but the source recorded in lineage.json "
                                                      f"has {expected} (image changed after conversion)"))
    return problems, 1, n_src


def storage_is_s3(uri: str) -> bool:
    from gtlabel import storage

    return storage.is_s3(uri)


def _listed(lin: Lineage, kind: str) -> Iterator[str]:
    from gtlabel import storage

    root = lin.path(kind)
    try:
        for info in storage.list_objects(root + ("/" if storage.is_s3(root) else "")):
            yield info.uri
    except NotFound:
        return


def _rel(lin: Lineage, uri: str) -> str:
    from gtlabel import storage

    if storage.is_s3(uri):
        return uri[len(lin.base.rstrip("/")) + 1:]
    return os.path.relpath(uri, lin.base).replace(os.sep, "/")


def _check_data_yaml(lin: Lineage) -> list[Problem]:
    import yaml

    from gtlabel import storage

    uri = lin.path("data.yaml")
    try:
        text = storage.read_text(uri)
    except NotFound:
        return [Problem("data-yaml", uri, "missing: the dataset is incomplete")]
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        return [Problem("data-yaml", uri, f"not valid YAML: {exc}")]
    if not isinstance(doc, dict):
        return [Problem("data-yaml", uri, "not a mapping")]
    names = doc.get("names")
    got = dict(enumerate(names)) if isinstance(names, list) else \
        {int(k): str(v) for k, v in names.items()} if isinstance(names, dict) else None
    out = []
    if got != lin.names:
        out.append(Problem("data-yaml", uri, f"names {got} differ from lineage.json {lin.names}"))
    m = re.search(r"dataset (v-[0-9a-f]+)", text.split("\n", 1)[0])
    if m and m.group(1) != lin.version:
        out.append(Problem("data-yaml", uri, f"written for version {m.group(1)}, lineage.json is {lin.version}"))
    return out


def verify(
    dataset: str | os.PathLike[str] | Lineage,
    *,
    sources: bool = True,
    max_workers: int | None = None,
    progress: bool = False,
    on_progress: Callable[[int], None] | None = None,
) -> VerifyReport:
    """Check a dataset against its lineage (see the module docstring). Never raises for a mismatch: every
    one is a :class:`Problem` in the report; :func:`verify_or_raise` raises instead."""
    from gtlabel.settings import get_settings

    lin = dataset if isinstance(dataset, Lineage) else load(dataset)
    rep = VerifyReport(lin.base, lin.version, images=len(lin.images))
    copies = bool(lin.settings.get("copy_images", True))
    if not copies:
        rep.notes.append("images were not copied into the dataset (copy_images=false): sources checked instead")
    rv = recompute_version(lin)
    rep.version_recomputed = rv
    if rv is None:
        rep.notes.append(f"unknown lineage format {lin.head.get('format')!r}: version not recomputed")
    elif rv != lin.version:
        rep.problems.append(Problem("lineage-edited", lin.uri, f"records give version {rv}, the file says "
                                                               f"{lin.version} (lineage.json was edited)"))
    rep.problems += _check_data_yaml(lin)
    workers = max_workers or min(32, get_settings().max_concurrency)

    def one(r: ImageRecord) -> tuple[list[Problem], int, int, int]:
        try:
            probs = _check_label(lin, r)
            p2, nc, ns = _check_image(lin, r, copies, sources or not copies)
        except GtlabelError as exc:
            return [Problem("unreadable", lin.path(r.image), str(exc))], 0, 0, 0
        return probs + p2, 1, nc, ns

    from rich.progress import Progress

    bar = Progress(transient=True) if progress else None
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="gtlabel-verify") as pool, \
            (bar or contextlib.nullcontext()):
        task = bar.add_task("verifying", total=len(lin.images)) if bar else None
        for probs, nl, nc, ns in pool.map(one, lin.images):
            rep.problems += probs
            rep.labels_checked += nl
            rep.images_checked += nc
            rep.sources_checked += ns
            if bar is not None and task is not None:
                bar.advance(task)
            if on_progress:
                on_progress(1)
    known = {r.label for r in lin.images} | ({r.image for r in lin.images} if copies else set())
    for kind in ("labels", "images"):
        for uri in _listed(lin, kind):
            rel = _rel(lin, uri)
            name = rel.rsplit("/", 1)[-1]
            if rel not in known and not name.endswith(".cache") and not name.startswith("."):
                rep.problems.append(Problem("unexpected-file", uri, "not in lineage.json (added after conversion)"))
    rep.problems.sort(key=lambda p: (p.file, p.kind))
    return rep


def verify_or_raise(dataset: str | os.PathLike[str] | Lineage, **kw: Any) -> VerifyReport:
    rep = verify(dataset, **kw)
    if not rep.ok:
        raise LineageError(rep.summary())
    return rep


def changed_files(rep: VerifyReport) -> Sequence[str]:
    return sorted({p.file for p in rep.problems})

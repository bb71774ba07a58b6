"""Is a dataset still what was converted? Label hashes, image copies, source objects, data.yaml and the
version id checked against ``lineage.json``; every mismatch is a :class:`Problem` in a :class:`VerifyReport`."""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any

import yaml
from rich.progress import Progress

from gtlabel import storage
from gtlabel.errors import GtlabelError, LineageError, NotFound, StorageError
from gtlabel.geo.strip import strip_gps
from gtlabel.lineage.record import ImageRecord, Lineage, load
from gtlabel.lineage.version import recompute_version
from gtlabel.settings import get_settings

_MD5_RE = re.compile(r"^[0-9a-f]{32}$")


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


def _fingerprint(uri: str, version: str | None = None) -> storage.ObjectInfo:
    """ETag, version and encryption of an S3 object (``NotFound`` if absent); a local file's MD5."""
    return storage.head(uri, version_id=version, hash_local=True)


def _is_md5_etag(fp: storage.ObjectInfo) -> bool:
    """An ETag is the MD5 of the bytes only for single-part objects not encrypted with SSE-KMS/SSE-C."""
    return fp.etag is not None and bool(_MD5_RE.match(fp.etag)) and fp.sse not in ("aws:kms", "aws:kms:dsse")


def _md5(uri: str, version: str | None = None) -> str:
    h = hashlib.md5(usedforsecurity=False)
    with storage.open_read(uri, version_id=version) as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _check_label(lin: Lineage, r: ImageRecord) -> list[Problem]:
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


def _stripped_md5(src: str, r: ImageRecord, kms_source: bool) -> str | None:
    """The MD5 of the source as converted with ``strip_gps`` (its GPS removed again: deterministic), or ``None``
    when that source is gone or has changed."""
    try:
        data = storage.read_bytes(src, version_id=r.source_version_id)
    except NotFound:
        return None
    if r.source_etag and _MD5_RE.match(r.source_etag) and not kms_source and \
            hashlib.md5(data, usedforsecurity=False).hexdigest() != r.source_etag:
        return None
    return hashlib.md5(strip_gps(data, where=src)[0], usedforsecurity=False).hexdigest()


def _check_image(lin: Lineage, r: ImageRecord, copies: bool, sources: bool) -> tuple[list[Problem], int, int]:
    """Problems with the image copy and the source object; (problems, copies checked, sources checked)."""
    problems: list[Problem] = []
    n_copy = n_src = 0
    src = lin.source_uri(r)
    src_fp: storage.ObjectInfo | None = None
    src_unchanged = False
    # a local source's recorded ETag is always its MD5: without source checks it need not be read again
    if sources or (copies and (storage.is_s3(src) or not (r.source_etag and _MD5_RE.match(r.source_etag)))):
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
    made = r.raw.get("image_md5")  # an image the converter made (a tile): its own MD5, not its source's
    if isinstance(made, str) and _MD5_RE.match(made):
        expected = made
    elif lin.settings.get("strip_gps"):  # the copy is the source without GPS: the source, stripped again
        expected = _stripped_md5(src, r, kms_source)
    elif r.source_etag and _MD5_RE.match(r.source_etag) and not kms_source and (src_fp is not None or
                                                                              not storage.is_s3(src)):
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


def _listed(lin: Lineage, kind: str) -> Iterator[str]:
    root = lin.path(kind)
    try:
        for info in storage.list_objects(root + ("/" if storage.is_s3(root) else "")):
            yield info.uri
    except NotFound:
        return


def _rel(lin: Lineage, uri: str) -> str:
    if storage.is_s3(uri):
        return uri[len(lin.base.rstrip("/")) + 1:]
    return os.path.relpath(uri, lin.base).replace(os.sep, "/")


def _check_data_yaml(lin: Lineage) -> list[Problem]:
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
    lin = dataset if isinstance(dataset, Lineage) else load(dataset)
    rep = VerifyReport(lin.base, lin.version, images=len(lin.images))
    linked = lin.settings.get("images") == "linked"  # gtlabel.interchange.to_yolo: links to the sources' folder
    copies = bool(lin.settings.get("copy_images", True)) and not linked
    if linked:
        rep.notes.append("images are linked to their folder, not copied: sources checked instead")
    elif not copies:
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
    for kind in ("labels",) if linked else ("labels", "images"):  # a linked images/ holds the sources' folder
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

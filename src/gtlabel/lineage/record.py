"""The parsed ``lineage.json`` (:class:`Lineage`, one :class:`ImageRecord` per image) and its loading."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, cast

import orjson

from gtlabel import storage
from gtlabel.errors import LabelError, LineageError, NotFound
from gtlabel.formats.json_stream import iter_object
from gtlabel.manifests import resolve_source_ref

LINEAGE_FILE = "lineage.json"
_CHUNK = 1 << 18  # bytes of lineage.json read at a time by stream() (about 800 records)


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
        """The URI/path of a file of the dataset (``rel``: its path in the dataset, ``/``-separated)."""
        return storage.join(self.base, *rel.split("/"))

    def source_uri(self, rec: ImageRecord) -> str:
        """The URI/path of a record's source image (its ``source_ref`` resolved against the manifest's folder, or
        against ``images_root`` when the head has one: a dataset whose images are linked, not copied)."""
        root = self.head.get("images_root")
        return resolve_source_ref(rec.source_ref, str(self.manifest.get("uri") or self.base),
                                  root if isinstance(root, str) else None)


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
    records = [_record(e, i, uri) for i, e in enumerate(images)]
    head = {k: v for k, v in doc.items() if k != "images"}
    return head, records


def _record(e: object, i: int, uri: str) -> ImageRecord:
    """``images[i]`` checked."""
    if not isinstance(e, dict):
        raise LineageError(f"{uri}: images[{i}] is not an object")
    missing = [k for k in ("image", "label", "source_ref", "split", "label_sha256") if not isinstance(e.get(k), str)]
    if missing:
        raise LineageError(f"{uri}: images[{i}] lacks string field(s) {', '.join(missing)}")
    for k in ("image", "label"):
        if e[k].startswith("/") or ".." in e[k].split("/"):
            raise LineageError(f"{uri}: images[{i}].{k} must be a path inside the dataset, got {e[k]!r}")
    return ImageRecord(e["image"], e["label"], e["source_ref"], e.get("source_etag"), e.get("source_version_id"),
                       e["split"], e["label_sha256"], e)


def lineage_uri(dataset: str | os.PathLike[str]) -> tuple[str, str]:
    """(lineage.json URI, dataset base) for a dataset folder/prefix, its data.yaml or its lineage.json."""
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
    uri, base = lineage_uri(dataset)
    try:
        data = storage.read_bytes(uri)
    except NotFound as exc:
        raise LineageError(f"{uri}: no lineage record (is {base} a gtlabel dataset?)") from exc
    head, records = parse(data, uri)
    return Lineage(uri, base, head, records)



def stream(dataset: str | os.PathLike[str]) -> tuple[Lineage, Iterator[ImageRecord]]:
    """The lineage of a dataset with its records read as they are used: the :class:`Lineage` (its ``images``
    empty) and an iterator of the records, checked as :func:`parse` checks them. ``lineage.json`` is read in
    chunks (:func:`gtlabel.formats.json_stream.iter_object`), so memory does not grow with the images; a file
    whose ``images`` come before its other keys (the converter writes them last) is read whole instead."""
    uri, base = lineage_uri(dataset)
    gen = _stream(uri)
    head = next(gen)
    assert isinstance(head, dict)
    return Lineage(uri, base, head, []), cast("Iterator[ImageRecord]", gen)


def _stream(uri: str) -> Iterator[dict[str, Any] | ImageRecord]:
    """The head (first), then each record."""
    try:
        with storage.open_read(uri) as fh:
            head: dict[str, Any] = {}
            n, started = 0, False
            for key, value, is_array in iter_object(fh.read, file=uri, chunk=_CHUNK):
                if key != "images":
                    if is_array:
                        head.setdefault(key, []).extend(value)
                    else:
                        head[key] = value
                    continue
                if not started:
                    if not isinstance(head.get("version"), str) or not head["version"]:
                        break  # images first (not as the converter writes it): read whole below
                    started = True
                    yield head
                for e in value:
                    yield _record(e, n, uri)
                    n += 1
                if not value:  # the array's end
                    return
    except NotFound as exc:
        raise LineageError(f"{uri}: no lineage record (is {uri.rsplit('/', 1)[0]} a gtlabel dataset?)") from exc
    except LabelError as exc:
        raise LineageError(f"{uri}: not valid JSON ({exc.reason})") from exc
    whole, records = parse(storage.read_bytes(uri), uri)
    yield whole
    yield from records

"""Ground Truth output manifest -> Ultralytics YOLO11 detect dataset.

Layout written (locally or under an S3 prefix)::

    <out>/data.yaml                path (absolute; omitted on S3), train, val, [test], names {0..n-1}
    <out>/images/{train,val,test}/<stem>-<hash12><ext>
    <out>/labels/{train,val,test}/<stem>-<hash12>.txt     one per image, empty when it has no boxes
    <out>/lineage.json             version, per-image source_ref/ETag/label sha256/split, manifest, settings
    <out>/conversion-report.json   what was kept, fixed, dropped and skipped, and why

What it guarantees (see ``peers.md`` sections 0, 1, 3, 5 for the bugs it avoids):

- Class names come from ``class_mapping`` or the job's label category config, never from per-line
  ``class-map`` s (those only translate a line's ``class_id`` to a name). Unknown names are a
  :class:`~gtlabel.errors.LabelError` naming ``file:line`` unless ``drop_unknown_classes``.
- Boxes are clipped to the image, zero-area and exact-duplicate rows dropped, failed records skipped; all
  counted. Rows follow Ultralytics' own rules (5 columns, coordinates in [0, 1], class < nc; images
  >= 10 px in an allowed format) so ``verify_image_label`` drops nothing.
- EXIF orientation: boxes are normalized by the *displayed* size (what the worker saw and what
  Ultralytics' ``exif_size`` measures). When ``image_size`` is the raw stored size of a 90-degree-rotated
  JPEG, the displayed (swapped) size is used. Headers only are read (local files via PIL; S3 objects with a
  ranged GET of the first 64 KB).
- Image names are collision-free (stem + 12 hex of a hash of ``source-ref``); splits are a hash of
  ``source-ref`` (+ ``seed``), optionally stratified by class; a rerun gives the same bytes.
- Output is atomic: locally it is built in a hidden sibling folder and renamed into place; on S3 data.yaml
  is written last (a prefix without data.yaml is incomplete). An existing different dataset is never
  overwritten unless ``overwrite=True`` (:class:`~gtlabel.errors.DatasetExists`); the same content again is
  a no-op.
- The manifest is streamed: memory does not grow with it (except ``stratify=True``, which keeps 17 bytes
  per image for the second pass).
- A large manifest is shared by several processes, a block of lines at a time (:mod:`gtlabel.convert_lanes`,
  ``processes=``); the output is the same bytes as one process's.
"""

from __future__ import annotations

import bisect
import contextlib
import hashlib
import io
import os
import re
import shutil
import tempfile
import time
import uuid
from array import array
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import orjson

from gtlabel import __version__, storage
from gtlabel.errors import (
    ConfigError,
    DatasetExists,
    GtlabelError,
    LabelError,
    ManifestError,
    NotFound,
    StorageError,
)
from gtlabel.formats.yolo import (
    DATASET_FORMAT,
    MIN_IMAGE_PX,
    MIN_NORMALIZED_SIZE,
    SPLITS,
    ULTRALYTICS_IMG_FORMATS,
    check_label_text,
    format_label,
    label_bytes,
    render_data_yaml,
)
from gtlabel.geometry import ROW_FORMAT, clip_box, label_frame_size
from gtlabel.lineage import version_id
from gtlabel.manifests import OutputRecord, iter_output_lines, iter_output_manifest, resolve_source_ref

__all__ = [
    "MIN_IMAGE_PX",
    "SPLITS",
    "ULTRALYTICS_IMG_FORMATS",
    "ConversionReport",
    "ImageProbe",
    "check_label_text",
    "convert_ground_truth_to_yolo",
    "dataset_name",
    "format_label",
    "iter_dataset_labels",
    "label_config_names",
    "normalize_splits",
    "preflight_dataset",
    "probe_header",
    "render_data_yaml",
    "resolve_class_names",
    "split_for",
    "split_hash",
]

FORMAT = DATASET_FORMAT
_HEADER_RANGES = (64 * 1024, 512 * 1024, None)
_SAFE = re.compile(r"[^A-Za-z0-9._-]+")
_ROW = ROW_FORMAT
_INDEX = re.compile(r"\[\d+\]")
ExifMode = Literal["normalize", "ignore"]


# ================================================================================================ pure core
def resolve_class_names(class_mapping: Mapping[Any, Any] | Sequence[str] | None,
                        label_category_config: Mapping[str, Any] | None = None) -> list[str]:
    """Global class names, index = YOLO class id.

    ``class_mapping`` may be ``{name: id}`` (the seed's form), ``{id: name}``, or a list of names. Ids must
    be exactly 0..n-1. Without it, the label category config's ``labels`` order is used (Ground Truth's own
    ``class_id`` order).
    """
    if class_mapping is not None:
        if isinstance(class_mapping, Mapping):
            items = list(class_mapping.items())
            if not items:
                raise ConfigError("class_mapping is empty")
            if all(isinstance(k, str) and not k.isdigit() for k, _ in items):
                pairs = [(v, k) for k, v in items]  # {name: id}
            else:
                pairs = list(items)  # {id: name}
            by_id: dict[int, str] = {}
            for raw_id, name in pairs:
                try:
                    cid = int(raw_id)
                except (TypeError, ValueError):
                    raise ConfigError(f"class_mapping: expected {{name: id}} or {{id: name}} with integer ids, "
                                      f"got {raw_id!r} -> {name!r}") from None
                if not isinstance(name, str) or not name:
                    raise ConfigError(f"class_mapping: class {cid} needs a non-empty name, got {name!r}")
                if cid in by_id:
                    raise ConfigError(f"class_mapping: id {cid} is given twice ({by_id[cid]!r}, {name!r})")
                by_id[cid] = name
            if sorted(by_id) != list(range(len(by_id))):
                raise ConfigError(f"class_mapping: ids must be exactly 0..{len(by_id) - 1} (YOLO class ids are "
                                  f"contiguous), got {sorted(by_id)}")
            names = [by_id[i] for i in range(len(by_id))]
        else:
            names = [str(n) for n in class_mapping]
            if not names or not all(names):
                raise ConfigError("class_mapping: expected a non-empty list of non-empty names")
    elif label_category_config is not None:
        names = label_config_names(label_category_config)
    else:
        raise ConfigError("class names are needed: pass class_mapping (e.g. {'drone': 0, 'vehicle': 1}) or the "
                          "job's label_category_config; per-line class-maps only list the classes present")
    dupes = sorted(n for n, c in Counter(names).items() if c > 1)
    if dupes:
        raise ConfigError(f"class names must be unique; repeated: {', '.join(dupes)}")
    return names


def label_config_names(cfg: Mapping[str, Any]) -> list[str]:
    """The labels of a Ground Truth label category config (``{"document-version", "labels": [{"label"}]}``)."""
    labels = cfg.get("labels") if isinstance(cfg, Mapping) else None
    if not isinstance(labels, list) or not labels:
        raise ConfigError("label category config: expected {'labels': [{'label': ...}, ...]} with at least one")
    names = []
    for i, item in enumerate(labels):
        name = item.get("label") if isinstance(item, Mapping) else None
        if not isinstance(name, str) or not name:
            raise ConfigError(f"label category config: labels[{i}].label must be a non-empty string, got {item!r}")
        names.append(name)
    return names


def normalize_splits(splits: Sequence[float] | Mapping[str, float]) -> tuple[float, float, float]:
    if isinstance(splits, Mapping):
        unknown = set(splits) - set(SPLITS)
        if unknown:
            raise ConfigError(f"splits: unknown split(s) {sorted(unknown)}; use train, val, test")
        vals = [float(splits.get(s, 0.0)) for s in SPLITS]
    else:
        vals = [float(v) for v in splits]
        if len(vals) == 2:
            vals.append(0.0)
        if len(vals) != 3:
            raise ConfigError(f"splits: expected (train, val[, test]) ratios, got {list(splits)}")
    if any(v < 0 or v != v for v in vals) or sum(vals) <= 0:
        raise ConfigError(f"splits: ratios must be >= 0 and not all 0, got {vals}")
    if vals[0] <= 0:
        raise ConfigError("splits: the train ratio must be > 0")
    total = sum(vals)
    return vals[0] / total, vals[1] / total, vals[2] / total


def split_hash(source_ref: str, seed: int | str = 0) -> int:
    """A 64-bit hash of ``source-ref`` (salted by ``seed``): the image's place in the split order."""
    return int.from_bytes(hashlib.blake2b(f"{seed}\x00{source_ref}".encode(), digest_size=8).digest(), "big")


def split_for(source_ref: str, ratios: tuple[float, float, float], seed: int | str = 0) -> str:
    """The split of one image: stable for a given ``source-ref``, seed and ratios (adding images moves none)."""
    return _split_of(split_hash(source_ref, seed), ratios)


def _split_of(h: int, ratios: tuple[float, float, float]) -> str:
    u = h / 2.0**64
    if u < ratios[0]:
        return "train"
    if u < ratios[0] + ratios[1]:
        return "val"
    return "test" if ratios[2] > 0 else "val"


def dataset_name(source_ref: str) -> tuple[str, str]:
    """Collision-free ``(image_name, label_name)`` for a source: safe stem + 12 hex of the whole ``source-ref``."""
    base = source_ref.rsplit("/", 1)[-1].rsplit("\\", 1)[-1]
    stem, dot, ext = base.rpartition(".")
    if not dot:
        stem, ext = base, ""
    stem = _SAFE.sub("_", stem).strip("._")[:80] or "image"
    tag = hashlib.blake2b(source_ref.encode(), digest_size=6).hexdigest()
    ext = _SAFE.sub("", ext)
    return (f"{stem}-{tag}.{ext}" if ext else f"{stem}-{tag}"), f"{stem}-{tag}.txt"


# ================================================================================================ report
@dataclass
class ConversionReport:
    """What a conversion did. ``as_dict()`` is what ``conversion-report.json`` holds (no timings, so a rerun
    gives the same bytes)."""

    input_manifest: str
    output: str
    data_yaml: str = ""
    version: str = ""
    noop: bool = False
    names: list[str] = field(default_factory=list)
    records: int = 0
    images: int = 0
    splits: dict[str, int] = field(default_factory=lambda: dict.fromkeys(SPLITS, 0))
    boxes_in: int = 0
    boxes_written: int = 0
    boxes_clipped: int = 0
    boxes_zero_area: int = 0
    boxes_duplicate: int = 0
    boxes_unknown_class: int = 0
    empty_images: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    exif: Counter[str] = field(default_factory=Counter)
    labeled_by: Counter[str] = field(default_factory=Counter)  # human / auto (ADL) / unknown
    adjustment: Counter[str] = field(default_factory=Counter)  # adjusted / unadjusted (adjustment jobs)
    class_counts: dict[str, int] = field(default_factory=dict)
    images_copied: int = 0
    stale_caches_removed: int = 0
    warnings: list[str] = field(default_factory=list)
    examples: list[str] = field(default_factory=list)  # the first 50 skipped records, in manifest order
    elapsed_s: float = 0.0
    example_lines: list[int] = field(default_factory=list, repr=False)  # the line of each example

    def skip(self, reason: str, where: str, line: int | None = None) -> None:
        """Count a skipped record; the 50 with the lowest ``line`` are kept as examples (in that order, however
        the manifest was read: in batches, or in blocks by several processes)."""
        self.skipped[reason] += 1
        self._example(f"{where}: {reason}", line)

    def _example(self, text: str, line: int | None) -> None:
        key = line if line is not None else 1 << 62
        lines = self.example_lines
        if len(lines) >= 50 and key >= lines[-1]:
            return
        i = bisect.bisect_right(lines, key)
        lines.insert(i, key)
        self.examples.insert(i, text)
        if len(lines) > 50:
            lines.pop()
            self.examples.pop()

    def as_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT, "input_manifest": self.input_manifest, "output": self.output,
            "data_yaml": self.data_yaml, "version": self.version, "names": dict(enumerate(self.names)),
            "records": self.records, "images": self.images, "splits": dict(self.splits),
            "boxes": {"in": self.boxes_in, "written": self.boxes_written, "clipped": self.boxes_clipped,
                      "dropped_zero_area": self.boxes_zero_area, "dropped_duplicate": self.boxes_duplicate,
                      "dropped_unknown_class": self.boxes_unknown_class},
            "empty_images": self.empty_images, "skipped": dict(sorted(self.skipped.items())),
            "exif": dict(sorted(self.exif.items())), "labeled_by": dict(sorted(self.labeled_by.items())),
            "adjustment": dict(sorted(self.adjustment.items())), "class_counts": dict(self.class_counts),
            "images_copied": self.images_copied, "warnings": list(self.warnings), "examples": list(self.examples),
        }

    def summary(self) -> str:
        """A short human-readable summary (the CLI prints it)."""
        sk = ", ".join(f"{k}: {v}" for k, v in sorted(self.skipped.items())) or "none"
        lines = [
            f"dataset {self.version} at {self.output}" + (" (unchanged, nothing written)" if self.noop else ""),
            f"images {self.images} (train {self.splits['train']}, val {self.splits['val']}, "
            f"test {self.splits['test']}), {self.empty_images} without boxes",
            f"boxes {self.boxes_written} written of {self.boxes_in}: {self.boxes_clipped} clipped, "
            f"{self.boxes_zero_area} zero-area, {self.boxes_duplicate} duplicate, "
            f"{self.boxes_unknown_class} unknown-class dropped",
            f"records skipped: {sk}",
        ]
        if self.exif.get("rotated"):
            lines.append(f"EXIF: {self.exif['rotated']} image(s) normalized against the rotated (displayed) size")
        lines += [f"warning: {w}" for w in self.warnings]
        return "\n".join(lines)


# ================================================================================================ probing
@dataclass(slots=True)
class ImageProbe:
    """What the image header says: stored (raw) size, EXIF orientation, PIL format, source ETag/version."""

    size: tuple[int, int] | None = None
    orientation: int | None = None
    format: str | None = None
    etag: str | None = None
    version_id: str | None = None
    error: str | None = None  # a short category (counted in the report)
    detail: str | None = None


def probe_header(data: bytes | io.BufferedIOBase | str) -> tuple[tuple[int, int], int | None, str | None]:
    """(stored size, EXIF orientation, PIL format) from image bytes, a stream or a path; header only."""
    from PIL import Image

    src: Any = io.BytesIO(data) if isinstance(data, bytes) else data
    with Image.open(src) as im:
        orient = im.getexif().get(0x0112)
        return (int(im.size[0]), int(im.size[1])), (int(orient) if isinstance(orient, int) else None), im.format


def _probe(uri: str) -> ImageProbe:
    try:
        if storage.is_s3(uri):
            return _probe_s3(uri)
        size, orient, fmt = probe_header(uri)
        return ImageProbe(size, orient, fmt, storage.md5_file(uri))
    except FileNotFoundError:
        return ImageProbe(error="image not found")
    except NotFound:
        return ImageProbe(error="image not found")
    except StorageError as exc:
        return ImageProbe(error="image unreadable", detail=str(exc))
    except Exception as exc:  # PIL raises many types for non-images
        return ImageProbe(error="not a readable image", detail=f"{type(exc).__name__}: {exc}")


def _fingerprint(uri: str) -> ImageProbe:
    """ETag / version id (S3: a HEAD) or MD5 (local) of a source image, without reading its header: what
    ``exif="ignore"`` records so that the version id and ``lineage verify`` still see image changes."""
    try:
        info = storage.head(uri, hash_local=True)
    except (FileNotFoundError, NotFound):
        return ImageProbe(error="image not found")
    except StorageError as exc:
        return ImageProbe(error="image unreadable", detail=str(exc))
    return ImageProbe(etag=info.etag, version_id=info.version_id)


def _probe_s3(uri: str) -> ImageProbe:
    from botocore.exceptions import ClientError

    loc = storage.parse_s3(uri)
    cli = storage.s3_client()
    last: Exception | None = None
    for n in _HEADER_RANGES:
        try:
            kw: dict[str, Any] = {"Bucket": loc.bucket, "Key": loc.key}
            if n is not None:
                kw["Range"] = f"bytes=0-{n - 1}"
            r = cli.get_object(**kw)
            data = r["Body"].read()
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code in {"404", "NoSuchKey", "NoSuchBucket", "NotFound"}:
                return ImageProbe(error="image not found")
            raise StorageError(f"S3 error {code}: {exc}", uri) from exc
        etag = str(r.get("ETag", "")).strip('"') or None
        vid = r.get("VersionId")
        total = int(str(r.get("ContentRange", f"/{len(data)}")).rsplit("/", 1)[-1] or len(data))
        try:
            size, orient, fmt = probe_header(data)
            return ImageProbe(size, orient, fmt, etag, vid)
        except Exception as exc:
            last = exc
            if len(data) >= total:
                break
    return ImageProbe(error="not a readable image", detail=f"{type(last).__name__}: {last}")


# ================================================================================================ converter
@dataclass
class _Ctx:
    manifest: str
    names: list[str]
    name_to_id: dict[str, int]
    fallback_names: dict[int, str]
    drop_unknown: bool
    strict: bool
    report: ConversionReport
    class_counts: list[int]


def _rows_for(rec: OutputRecord, frame: tuple[int, int], ctx: _Ctx) -> tuple[list[str], list[int]]:
    """The label rows of one record (formatted), with boxes mapped, clipped and de-duplicated, and each row's
    class id. Box counts go to the report; class counts are the caller's (once the image is accepted)."""
    rows: list[str] = []
    classes: list[int] = []
    boxes = rec.boxes
    if not boxes:
        return rows, classes
    rep = ctx.report
    rep.boxes_in += len(boxes)
    fw, fh = frame
    seen: set[str] = set()
    cmap = rec.class_map
    n2i = ctx.name_to_id
    clipped = zero_area = duplicate = unknown = 0
    for i, (cid, left, top, w, h, _conf) in enumerate(boxes):
        name = cmap.get(cid)
        if name is None:
            name = ctx.fallback_names.get(cid)
            if name is None:
                raise LabelError(
                    f"class_id {cid} has no name: it is not in this line's class-map "
                    f"{dict(sorted(cmap.items()))} (pass label_category_config to map ids by the job's label list)",
                    file=rec.file, line=rec.line, field=f"{rec.label_attribute}.annotations[{i}].class_id")
        gid = n2i.get(name)
        if gid is None:
            if ctx.drop_unknown:
                unknown += 1
                continue
            raise LabelError(
                f"class {name!r} is not one of the dataset's classes {ctx.names}; add it to class_mapping or "
                f"pass drop_unknown_classes=True (CLI: --drop-unknown)",
                file=rec.file, line=rec.line, field=f"{rec.label_attribute}.annotations[{i}]")
        if left < 0 or top < 0 or left + w > fw or top + h > fh:
            box = clip_box(left, top, w, h, fw, fh)
            if box is None:
                zero_area += 1
                continue
            clipped += 1
            left, top, w, h = box
        elif w <= 0 or h <= 0:
            zero_area += 1
            continue
        nw, nh = w / fw, h / fh
        if nw < MIN_NORMALIZED_SIZE or nh < MIN_NORMALIZED_SIZE:  # rounds to 0 at 6 decimals
            zero_area += 1
            continue
        row = _ROW % (gid, (left + w / 2.0) / fw, (top + h / 2.0) / fh, nw, nh)
        if row in seen:
            duplicate += 1
            continue
        seen.add(row)
        rows.append(row)
        classes.append(gid)
    rep.boxes_clipped += clipped
    rep.boxes_zero_area += zero_area
    rep.boxes_duplicate += duplicate
    rep.boxes_unknown_class += unknown
    return rows, classes


def _load_label_config(uri: str | os.PathLike[str] | Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    if uri is None or isinstance(uri, Mapping):
        return uri
    try:
        cfg = orjson.loads(storage.read_bytes(str(uri)).removeprefix(b"\xef\xbb\xbf"))
    except orjson.JSONDecodeError as exc:
        raise ConfigError(f"{uri}: the label category config is not valid JSON: {exc}") from None
    if not isinstance(cfg, dict):
        raise ConfigError(f"{uri}: the label category config must be a JSON object")
    return cfg


def convert_ground_truth_to_yolo(
    input_manifest: str | os.PathLike[str],
    output_directory: str | os.PathLike[str],
    class_mapping: Mapping[Any, Any] | Sequence[str] | None = None,
    *,
    label_attribute: str | None = None,
    label_category_config: str | os.PathLike[str] | Mapping[str, Any] | None = None,
    splits: Sequence[float] | Mapping[str, float] = (0.8, 0.1, 0.1),
    stratify: bool = False,
    seed: int | str = 0,
    drop_unknown_classes: bool = False,
    copy_images: bool = True,
    exif: ExifMode = "normalize",
    strict: bool = True,
    overwrite: bool = False,
    image_root: str | None = None,
    progress: bool = True,
    max_workers: int | None = None,
    quality: Mapping[str, Any] | str | None = None,
    describe_jobs: bool = False,
    sm_client: Any = None,
    fingerprint_sources: bool = True,
    processes: int | None = None,
) -> ConversionReport:
    """Convert a Ground Truth bounding-box output manifest into an Ultralytics YOLO11 detect dataset.

    Args:
        input_manifest: ``s3://...`` or local output manifest (``manifests/output/output.manifest``).
        output_directory: local folder or ``s3://`` prefix for the dataset.
        class_mapping: ``{name: id}``, ``{id: name}`` or a list of names; ids 0..n-1 become YOLO ids.
        label_attribute: the job's label attribute (needed when chained jobs left several on a line).
        label_category_config: URI/path or dict of the job's label category config; gives the names when
            ``class_mapping`` is not given, and maps ``class_id`` s missing from a line's ``class-map``.
        splits: ``(train, val, test)`` ratios or ``{"train": .., "val": .., "test": ..}``.
        stratify: keep class proportions per split (by each image's rarest class); two passes.
        seed: salt of the split hash.
        drop_unknown_classes: drop boxes whose class is not in the names (counted) instead of failing.
        copy_images: copy the images into ``images/<split>/`` (S3 -> S3 server-side, concurrently).
        exif: ``"normalize"`` reads each image header (size, EXIF orientation, format) and normalizes against
            the displayed size; ``"ignore"`` trusts ``image_size`` and reads no image (it still fingerprints
            each source, see ``fingerprint_sources``).
        fingerprint_sources: with ``exif="ignore"``, record each source's ETag/version (S3 HEAD) or MD5
            (local) in lineage.json and the version id, and treat a missing image as with ``"normalize"``.
            ``False`` ("labels only") touches no image: the version id then does not see image changes and
            ``lineage verify`` cannot check the sources.
        strict: raise on a malformed line (default) or skip and count it.
        overwrite: replace a different dataset already at ``output_directory``.
        image_root: where relative ``source-ref`` s point (default: the manifest's folder).
        progress: show rich progress bars.
        max_workers: threads for header reads and copies (default: ``GTLABEL_MAX_CONCURRENCY``).
        processes: processes that share the conversion of the manifest, each a block of lines at a time
            (default ``GTLABEL_CONVERT_PROCESSES``, 0: one more than the CPUs, at most 8, for a manifest of
            16 MiB or more; 1: this process only). The result is the same bytes whatever the number;
            ``stratify=True`` and a manifest that repeats a ``source-ref`` are converted in this process.
        quality: the quality report's summary for ``lineage.json`` (a dict, e.g.
            :func:`gtlabel.quality.report.quality_summary`, or the URI of the report's JSON); not part of the
            version id (it describes the labels, it does not change them).
        describe_jobs: record each labeling job's ARN and settings (workteam, workers per object, time limits,
            price, template, label categories, input manifest) in ``lineage.json`` with ``DescribeLabelingJob``
            (``sm_client`` or boto3's default); a job that cannot be described is noted in the warnings.

    Returns:
        The :class:`ConversionReport` (also written as ``conversion-report.json``).

    Raises:
        ManifestError / LabelError (naming file:line and field), ConfigError, DatasetExists, StorageError.
    """
    t0 = time.perf_counter()
    manifest = str(input_manifest)
    if not storage.is_s3(manifest):
        manifest = str(Path(manifest).expanduser().resolve())
    out = str(output_directory)
    if exif not in ("normalize", "ignore"):
        raise ConfigError(f"exif must be 'normalize' or 'ignore', got {exif!r}")
    ratios = normalize_splits(splits)
    cfg = _load_label_config(label_category_config)
    names = resolve_class_names(class_mapping, cfg)
    fallback = dict(enumerate(label_config_names(cfg))) if cfg is not None else {}
    s3_out = storage.is_s3(out)
    final_local = None if s3_out else Path(out).expanduser().resolve()
    report = ConversionReport(manifest, out if s3_out else str(final_local), names=names)
    settings = {"splits": dict(zip(SPLITS, ratios, strict=True)), "stratify": stratify, "seed": seed,
                "drop_unknown_classes": drop_unknown_classes, "copy_images": copy_images, "exif": exif,
                "label_attribute": label_attribute, "precision": 6}
    probe_sources = exif == "normalize" or fingerprint_sources
    if not probe_sources:
        settings["fingerprint_sources"] = False  # "labels only": recorded (and in the version id) only when off
    workers = max_workers or _default_workers()
    progress = progress and _settings_progress()

    if final_local is not None:
        final_local.parent.mkdir(parents=True, exist_ok=True)
        _remove_stale_partials(final_local)
        staging = final_local.parent / f".{final_local.name}.partial-{uuid.uuid4().hex[:12]}"
    else:
        staging = Path(tempfile.mkdtemp(prefix="gtlabel-yolo-"))
    spec = _LaneSpec(manifest, names, fallback, drop_unknown_classes, strict, ratios, seed, str(staging),
                     exif if exif == "normalize" else "fingerprint" if probe_sources else "ignore",
                     image_root, workers, label_attribute)
    ctx = spec.new_ctx(report)
    ok = False
    try:
        staging.mkdir(parents=True, exist_ok=True)
        for s in SPLITS:
            (staging / "labels" / s).mkdir(parents=True, exist_ok=True)
        with _Progress(progress) as prog:
            assign = _stratified_assignment(manifest, label_attribute, ratios, seed, ctx, prog) if stratify \
                else None
            state = None
            lanes = 1 if assign is not None else _lanes_for(manifest, processes)
            if lanes > 1:
                from gtlabel.convert_lanes import parallel_pass

                state = parallel_pass(spec, ctx, staging, lanes, prog)
            if state is None:  # one process (small manifest, stratify, or blocks that collided)
                state = _convert_pass(spec, assign, ctx, staging, prog)
            moved = _ensure_val(state, ratios, staging, report)
            report.images = sum(state.counts.values())
            report.splits = {s: state.counts[s] for s in SPLITS}
            report.class_counts = {n: ctx.class_counts[i] for i, n in enumerate(names)}
            if report.records == 0:
                raise ManifestError("the manifest has no records (empty file?)", file=manifest)
            if report.images == 0:
                raise ManifestError(f"no image could be converted ({report.summary()})", file=manifest)
            present = {s for s in SPLITS if state.counts[s]}
            settings["label_attribute"] = state.label_attribute  # the one used (given or detected)
            payload = {"format": FORMAT, "names": names, "settings": settings,
                       "entries": f"{state.entries_sum % (1 << 256):064x}", "count": report.images,
                       "moved_to_val": moved}
            version = version_id(payload)
            report.version = version
            manifest_etag = state.manifest_md5 or _etag_of(manifest)

            existing = _existing_version(out, final_local)
            if existing is not None and existing == version and not overwrite:
                report.noop = True
                report.data_yaml = storage.join(out if s3_out else str(final_local), "data.yaml")
                report.stale_caches_removed = _remove_caches(out if s3_out else str(final_local))
                report.elapsed_s = time.perf_counter() - t0
                return report
            incomplete = existing == _INCOMPLETE  # our own interrupted run: replace it without asking
            if existing is not None and not incomplete and not overwrite:
                raise DatasetExists(
                    f"{out}: a different dataset ({existing}) is already there; this one is {version}. "
                    f"Choose another output_directory or pass overwrite=True (CLI: --overwrite)")
            if existing is None and not overwrite and _non_empty_foreign(out, final_local):
                raise DatasetExists(f"{out}: it exists and is not a gtlabel dataset; choose an empty or new "
                                    f"location, or pass overwrite=True")

            data_yaml = render_data_yaml(names, path=None if s3_out else str(final_local),
                                         splits_present=present, version=version)
            report.data_yaml = storage.join(out if s3_out else str(final_local), "data.yaml")
            if not present.issuperset({"val"}):
                report.warnings.append("no image in 'val': data.yaml's val points at images/train")
            if not copy_images:
                report.warnings.append("copy_images=False: images/ is not written; put each image at the 'image' "
                                       "path lineage.json gives for it")
            lineage_head = {
                "version": version, "format": FORMAT, "package_version": __version__,
                "manifest": {"uri": manifest, "etag": manifest_etag},
                "jobs": sorted(state.jobs), "label_attribute": state.label_attribute, "settings": settings,
                "names": dict(enumerate(names)), "splits": report.splits,
            }
            if describe_jobs and state.jobs:
                lineage_head["job_details"] = _describe_jobs(sorted(state.jobs), sm_client, report)
            if quality is not None:
                lineage_head["quality"] = _quality_summary(quality)
            if s3_out:
                _publish_s3(out, staging, state, moved, lineage_head, data_yaml, report, copy_images, workers,
                            prog, clean=existing is not None or overwrite)
            else:
                assert final_local is not None
                _publish_local(final_local, staging, state, moved, lineage_head, data_yaml, report, copy_images,
                               workers, prog)
        ok = True
    finally:
        if not ok or s3_out:
            shutil.rmtree(staging, ignore_errors=True)
    report.elapsed_s = time.perf_counter() - t0
    return report


def _settings_progress() -> bool:
    from gtlabel.settings import get_settings

    return get_settings().progress


#: manifests from this size on are converted by several processes (when there are several CPUs)
PARALLEL_MIN_BYTES = 16 << 20


def _lanes_for(manifest: str, processes: int | None) -> int:
    """How many lanes (processes) convert this manifest."""
    if processes is None:
        from gtlabel.settings import get_settings

        processes = get_settings().convert_processes
    if processes >= 1:
        return processes
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        cpus = os.cpu_count() or 1
    if cpus < 2:
        return 1
    try:
        size = storage.head(manifest).size
    except GtlabelError:
        return 1  # the pass reports what is wrong with the manifest
    # one lane more than CPUs: while a lane waits for the kernel (file creation), another computes
    return min(cpus + 1, 8) if size is not None and size >= PARALLEL_MIN_BYTES else 1


def _default_workers() -> int:
    from gtlabel.settings import get_settings

    return get_settings().max_concurrency


# ------------------------------------------------------------------------------------------------ passes
@dataclass
class _PassState:
    counts: Counter[str] = field(default_factory=Counter)
    entries_sum: int = 0
    jobs: dict[str, None] = field(default_factory=dict)  # the first 100 job names, in manifest order
    label_attribute: str | None = None
    best_train: tuple[int, str, str] | None = None  # (hash, image name, label name): moved to val if val empty
    segments: list[tuple[str, int, int]] = field(default_factory=list)  # spool (file, start, end), in order
    manifest_md5: str | None = None  # of the bytes converted (a local manifest), else None


def _records(manifest: str, label_attribute: str | None, ctx: _Ctx,
             lines: Iterable[tuple[int, bytes]] | None = None) -> Iterator[OutputRecord]:
    """The convertible records of the manifest (or of ``lines`` of it); invalid, failed and unlabeled lines
    are counted in the report (and raised, when strict, by the parser)."""
    rep = ctx.report

    def on_skip(exc: ManifestError) -> None:
        rep.records += 1
        fld = _INDEX.sub("[]", exc.field) if exc.field else "json"
        rep.skip(f"invalid line ({fld})", f"{exc.file}:{exc.line}: {exc.reason}"[:500], exc.line)

    records = iter_output_manifest(manifest, label_attribute=label_attribute, strict=ctx.strict,
                                   on_skip=on_skip) if lines is None else \
        iter_output_lines(lines, file=manifest, label_attribute=label_attribute, strict=ctx.strict,
                          on_skip=on_skip)
    for rec in records:
        rep.records += 1
        if rec.failure_reason is not None:
            rep.skip("failed (failure-reason)", f"{rec.file}:{rec.line}: {rec.failure_reason}"[:300], rec.line)
            continue
        if rec.image_size is None:
            rep.skip("no label", f"{rec.file}:{rec.line}", rec.line)
            continue
        yield rec


def _stratified_assignment(manifest: str, label_attribute: str | None, ratios: tuple[float, float, float],
                           seed: int | str, ctx: _Ctx, prog: _Progress) -> bytearray:
    """Pass 1 of ``stratify=True``: per image its hash and class set; each image's stratum is its rarest class
    (by image count); within a stratum images are ordered by hash and cut by the ratios."""
    hashes = array("Q")
    masks = array("Q")
    big: dict[int, set[int]] = {}
    img_counts = [0] * len(ctx.names)
    saved = ctx.report  # this scan's box counts are not the conversion's
    ctx.report = ConversionReport(manifest, "")
    task = prog.add("scanning classes (stratify)")
    try:
        for rec in _records(manifest, label_attribute, ctx):
            w, h = rec.image_size[0], rec.image_size[1]  # type: ignore[index]
            classes = set(_rows_for(rec, (w, h), ctx)[1])
            hashes.append(split_hash(rec.source_ref, seed))
            mask = 0
            for c in classes:
                img_counts[c] += 1
                if c < 64:
                    mask |= 1 << c
                else:
                    big.setdefault(len(masks), set()).add(c)
            masks.append(mask)
            prog.advance(task)
    finally:
        ctx.report = saved
    strata: dict[int, list[int]] = {}
    for i, mask in enumerate(masks):
        present = [c for c in range(min(64, len(img_counts))) if mask >> c & 1] + sorted(big.get(i, ()))
        key = min(present, key=lambda c: (img_counts[c], c)) if present else -1
        strata.setdefault(key, []).append(i)
    assign = bytearray(len(masks))
    for idxs in strata.values():
        idxs.sort(key=lambda i: hashes[i])
        n = len(idxs)
        n_val = round(n * ratios[1])
        n_test = round(n * ratios[2])
        n_train = max(n - n_val - n_test, 0)
        for j, i in enumerate(idxs):
            assign[i] = 0 if j < n_train else 1 if j < n_train + n_val else 2
    return assign


class _Conflict(Exception):
    """A label file is already there while blocks run in parallel (a repeated ``source-ref``): which line
    wins depends on timing, so the conversion is redone in one pass."""


@dataclass
class _LaneSpec:
    """What every lane (the main process, or a worker process) needs to convert blocks; picklable."""

    manifest: str
    names: list[str]
    fallback_names: dict[int, str]
    drop_unknown: bool
    strict: bool
    ratios: tuple[float, float, float]
    seed: int | str
    staging: str
    exif: str  # "normalize" (read headers), "fingerprint" (ETag/MD5 only) or "ignore" (touch no image)
    image_root: str | None
    threads: int
    label_attribute: str | None
    parallel: bool = False  # blocks run in several lanes: a label file already there is a _Conflict

    def new_ctx(self, report: ConversionReport | None = None) -> _Ctx:
        """The counting context of a pass (or of one block: a fresh report)."""
        return _Ctx(self.manifest, self.names, {n: i for i, n in enumerate(self.names)}, self.fallback_names,
                    self.drop_unknown, self.strict,
                    report if report is not None else ConversionReport(self.manifest, "", names=self.names),
                    [0] * len(self.names))


class _Lane:
    """Converts records into label files under ``staging/labels/<split>/`` and one spool line per image
    appended to ``spool``: the lineage entry (JSON), the image's path in the dataset and its source (JSON),
    tab-separated."""

    def __init__(self, spec: _LaneSpec, spool: Path, assign: bytearray | None = None) -> None:
        self.spec = spec
        self.assign = assign
        self.label_dirs = {s: f"{spec.staging}{os.sep}labels{os.sep}{s}{os.sep}" for s in SPLITS}
        self.probe_fn: Callable[[str], ImageProbe] | None = \
            {"normalize": _probe, "fingerprint": _fingerprint}.get(spec.exif)
        self.pool = ThreadPoolExecutor(max_workers=spec.threads, thread_name_prefix="gtlabel-probe") \
            if self.probe_fn is not None else None
        self.spool_path = spool
        self.spool = open(spool, "ab", buffering=1 << 20)  # noqa: SIM115 - closed in close()
        self.ordinal = 0

    def close(self) -> None:
        self.spool.close()
        if self.pool is not None:
            self.pool.shutdown(wait=True)

    def run(self, records: Iterable[OutputRecord], ctx: _Ctx, state: _PassState,
            advance: Callable[[int], None] | None = None) -> None:
        """Convert ``records`` (counted into ``ctx`` and ``state``)."""
        spec, rep, pool, probe_fn, assign = self.spec, ctx.report, self.pool, self.probe_fn, self.assign
        manifest, image_root, ratios, seed = spec.manifest, spec.image_root, spec.ratios, spec.seed
        label_dirs, spool = self.label_dirs, self.spool
        sha256 = hashlib.sha256
        dumps = orjson.dumps
        for batch in _batched(records, 64 if pool else 1024):
            srcs = [resolve_source_ref(r.source_ref, manifest, image_root) for r in batch]
            probes: Sequence[ImageProbe | None] = list(pool.map(probe_fn, srcs)) \
                if pool is not None and probe_fn is not None else [None] * len(batch)
            for rec, src, probe in zip(batch, srcs, probes, strict=True):
                this = self.ordinal
                self.ordinal += 1
                if rec.job_name and len(state.jobs) < 100 and rec.job_name not in state.jobs:
                    state.jobs[rec.job_name] = None
                state.label_attribute = rec.label_attribute
                img_name, lbl_name = dataset_name(rec.source_ref)
                ext = img_name.rsplit(".", 1)[-1].lower() if "." in img_name else ""
                if ext not in ULTRALYTICS_IMG_FORMATS:
                    rep.skip("image suffix not readable by Ultralytics", f"{rec.file}:{rec.line}", rec.line)
                    continue
                size = rec.image_size
                assert size is not None
                reported = (size[0], size[1])
                if probe is not None and probe.error is not None:
                    if ctx.strict:
                        why = f"{probe.error} ({probe.detail})" if probe.detail else probe.error
                        raise LabelError(f"{why}: {src}", file=rec.file, line=rec.line, field="source-ref")
                    rep.skip(probe.error, f"{rec.file}:{rec.line}: {src} {probe.detail or ''}".rstrip(), rec.line)
                    continue
                if probe is not None and probe.size is None:  # a fingerprint only: trust image_size
                    frame = reported
                elif probe is not None:
                    fmt = (probe.format or "").lower()
                    if fmt not in ULTRALYTICS_IMG_FORMATS:
                        rep.skip(f"image format {probe.format} not readable by Ultralytics",
                                 f"{rec.file}:{rec.line}", rec.line)
                        continue
                    frame, why = label_frame_size(reported, probe.size, probe.orientation)
                    rep.exif[why] += 1
                    if why == "mismatch":
                        rep.warnings.append(
                            f"{rec.file}:{rec.line}: image_size {reported} is neither the stored "
                            f"{probe.size} nor the displayed size; boxes normalized by image_size")
                        del rep.warnings[50:]
                else:
                    frame = reported
                if frame[0] < MIN_IMAGE_PX or frame[1] < MIN_IMAGE_PX:
                    rep.skip(f"image smaller than {MIN_IMAGE_PX} px (Ultralytics drops it)",
                             f"{rec.file}:{rec.line}", rec.line)
                    continue
                rows, row_classes = _rows_for(rec, frame, ctx)
                h = split_hash(rec.source_ref, seed)
                split = SPLITS[assign[this]] if assign is not None else _split_of(h, ratios)
                data = label_bytes(rows)
                if assign is not None and any(os.path.exists(label_dirs[o] + lbl_name) for o in SPLITS if o != split):
                    rep.skip("duplicate source-ref", f"{rec.file}:{rec.line}: {rec.source_ref}", rec.line)
                    continue  # stratified splits are by position: a repeated line could land elsewhere
                try:
                    _write_new(label_dirs[split] + lbl_name, data)
                except FileExistsError:
                    if spec.parallel:
                        raise _Conflict(rec.source_ref) from None
                    rep.skip("duplicate source-ref", f"{rec.file}:{rec.line}: {rec.source_ref}", rec.line)
                    continue
                rep.boxes_written += len(rows)
                for gid in row_classes:  # counted only for an accepted image (not a repeated source-ref)
                    ctx.class_counts[gid] += 1
                ha = rec.human_annotated
                rep.labeled_by["human" if ha else "auto" if ha is False else "unknown"] += 1
                if rec.adjustment_status is not None:
                    rep.adjustment[rec.adjustment_status] += 1
                if not rows:
                    rep.empty_images += 1
                state.counts[split] += 1
                digest = sha256(data).hexdigest()
                image_rel = f"images/{split}/{img_name}"
                entry = {"image": image_rel, "label": f"labels/{split}/{lbl_name}",
                         "source_ref": rec.source_ref, "source_etag": probe.etag if probe else None,
                         "source_version_id": probe.version_id if probe else None, "split": split,
                         "label_sha256": digest}
                line = dumps(entry)
                state.entries_sum += int.from_bytes(sha256(line).digest(), "big")
                spool.write(b"%b\t%b\t%b\n" % (line, image_rel.encode(), dumps(src)))
                if split == "train" and (state.best_train is None or h > state.best_train[0]):
                    state.best_train = (h, img_name, lbl_name)
            if advance is not None:
                advance(len(batch))


_NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0) | getattr(os, "O_CLOEXEC", 0)


def _write_new(path: str, data: bytes) -> None:
    """Create ``path`` with ``data`` (``FileExistsError`` if it is there): ``open(path, "xb")`` without the
    buffered file object, which costs more than the write for a label file."""
    fd = os.open(path, _NEW_FILE, 0o666)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
    finally:
        os.close(fd)


def _convert_pass(spec: _LaneSpec, assign: bytearray | None, ctx: _Ctx, staging: Path,
                  prog: _Progress) -> _PassState:
    """One pass over the manifest in this process: label files into ``staging/labels/<split>/``, one spool
    line per image."""
    state = _PassState()
    spool = staging / ".entries-0.jsonl"
    task = prog.add("converting")
    lane = _Lane(spec, spool, assign)
    # a local manifest's MD5 (its lineage "etag"), from the bytes converted, instead of a second read
    md5 = None if storage.is_s3(spec.manifest) else hashlib.md5(usedforsecurity=False)
    lines = storage.iter_lines(spec.manifest, feed=md5.update if md5 else None)
    try:
        lane.run(_records(spec.manifest, spec.label_attribute, ctx, lines), ctx, state,
                 lambda n: prog.advance(task, n))
    finally:
        lane.close()
    state.segments.append((str(spool), 0, spool.stat().st_size))
    state.manifest_md5 = md5.hexdigest() if md5 else None  # the whole file was read
    return state


def _merge_block(ctx: _Ctx, state: _PassState, rep: ConversionReport, class_counts: Sequence[int],
                 part: _PassState) -> None:
    """Add one block's counts (converted in another lane) to the pass totals, in manifest order."""
    r = ctx.report
    r.records += rep.records
    r.boxes_in += rep.boxes_in
    r.boxes_written += rep.boxes_written
    r.boxes_clipped += rep.boxes_clipped
    r.boxes_zero_area += rep.boxes_zero_area
    r.boxes_duplicate += rep.boxes_duplicate
    r.boxes_unknown_class += rep.boxes_unknown_class
    r.empty_images += rep.empty_images
    r.skipped.update(rep.skipped)
    r.exif.update(rep.exif)
    r.labeled_by.update(rep.labeled_by)
    r.adjustment.update(rep.adjustment)
    for text, line in zip(rep.examples, rep.example_lines, strict=True):
        r._example(text, line)
    r.warnings.extend(rep.warnings)
    del r.warnings[50:]
    for i, c in enumerate(class_counts):
        ctx.class_counts[i] += c
    state.counts.update(part.counts)
    state.entries_sum += part.entries_sum
    for job in part.jobs:
        if len(state.jobs) >= 100:
            break
        state.jobs.setdefault(job, None)
    if part.label_attribute is not None:
        state.label_attribute = part.label_attribute
    if part.best_train is not None and (state.best_train is None or part.best_train[0] > state.best_train[0]):
        state.best_train = part.best_train
    state.segments.extend(part.segments)


def _batched(it: Iterable[OutputRecord], n: int) -> Iterator[list[OutputRecord]]:
    batch: list[OutputRecord] = []
    for x in it:
        batch.append(x)
        if len(batch) >= n:
            yield batch
            batch = []
    if batch:
        yield batch


def _ensure_val(state: _PassState, ratios: tuple[float, float, float], staging: Path,
                report: ConversionReport) -> list[str]:
    """Ultralytics needs val images: when hashing left val empty (tiny sets), move the train image with the
    highest hash there. Returns the moved image names (recorded in the version payload)."""
    if state.counts["val"] or ratios[1] <= 0 or state.counts["train"] < 2 or state.best_train is None:
        return []
    _, img, lbl = state.best_train
    os.replace(staging / "labels" / "train" / lbl, staging / "labels" / "val" / lbl)
    state.counts["train"] -= 1
    state.counts["val"] += 1
    report.warnings.append(f"no image hashed into 'val'; moved {img} from train to val")
    return [img]


def _iter_spool(state: _PassState, moved: Sequence[str]) -> Iterator[tuple[bytes, str, str]]:
    """Per image, in manifest order: its lineage entry (JSON), its path in the dataset and its source."""
    moved_set = set(moved)
    loads, dumps = orjson.loads, orjson.dumps
    for path, start, end in state.segments:
        with open(path, "rb") as fh:
            fh.seek(start)
            data = fh.read(end - start) if end - start <= 1 << 24 else None
            lines = iter(data.split(b"\n")[:-1]) if data is not None else _read_lines(fh, end)
            for raw in lines:
                entry_raw, image_b, src = raw.split(b"\t", 2)  # tabs in the JSON parts are escaped
                image = image_b.decode()
                if moved_set and image.rsplit("/", 1)[-1] in moved_set:
                    entry = loads(entry_raw)
                    entry["image"] = image = image.replace("images/train/", "images/val/", 1)
                    entry["label"] = entry["label"].replace("labels/train/", "labels/val/", 1)
                    entry["split"] = "val"
                    entry_raw = dumps(entry)
                yield entry_raw, image, loads(src)


def _read_lines(fh: Any, end: int) -> Iterator[bytes]:
    while fh.tell() < end:
        raw = fh.readline()
        if not raw:
            return
        yield raw.rstrip(b"\n")


def _remove_spool(staging: Path) -> None:
    """The lanes' spool files (one per lane, blocks or not)."""
    for path in staging.glob(".entries-*.jsonl"):
        path.unlink()


def _quality_summary(quality: Mapping[str, Any] | str) -> dict[str, Any]:
    if isinstance(quality, Mapping):
        return dict(quality)
    try:
        data = orjson.loads(storage.read_bytes(str(quality)))
    except orjson.JSONDecodeError as exc:
        raise ConfigError(f"quality: {quality} is not a quality report JSON ({exc})") from None
    summary = data.get("summary") if isinstance(data, dict) else None
    if not isinstance(summary, dict):
        raise ConfigError(f"quality: {quality} has no 'summary' object (expected `gtlabel report --json` output)")
    return {**{k: v for k, v in summary.items() if k != "findings_by_code"}, "report": str(quality)}


#: DescribeLabelingJob fields kept in lineage.json (the job's settings; no counters, they change)
_JOB_FIELDS = ("LabelingJobArn", "LabelingJobStatus", "CreationTime", "LabelAttributeName", "RoleArn",
               "LabelCategoryConfigS3Uri", "InputConfig", "OutputConfig", "HumanTaskConfig", "StoppingConditions",
               "LabelingJobAlgorithmsConfig", "Tags")


def _describe_jobs(jobs: Sequence[str], sm_client: Any, report: ConversionReport) -> dict[str, Any]:
    """``{job name: its settings}`` from DescribeLabelingJob (``labeling-job/`` prefixes removed)."""
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    if sm_client is None:
        sm_client = boto3.client("sagemaker")
    out: dict[str, Any] = {}
    for job in jobs:
        name = job.removeprefix("labeling-job/")
        try:
            d = sm_client.describe_labeling_job(LabelingJobName=name)
        except (BotoCoreError, ClientError) as exc:  # an undescribable job is a note, not a failed dataset
            report.warnings.append(f"labeling job {name}: not described ({type(exc).__name__}: {exc})")
            out[name] = None
            continue
        kept = {k: d[k] for k in _JOB_FIELDS if k in d}
        hc = kept.get("HumanTaskConfig")
        if isinstance(hc, dict):  # the template itself can be long: its URI is enough
            kept["HumanTaskConfig"] = {k: v for k, v in hc.items() if k != "UiConfig"} | \
                {"UiConfig": {k: v for k, v in (hc.get("UiConfig") or {}).items() if k != "UiTemplate"}}
        out[name] = orjson.loads(orjson.dumps(kept, default=str))
    return out


def _write_lineage(fh: Any, head: Mapping[str, Any], entries: Iterable[bytes]) -> None:
    """lineage.json, streamed: the head keys first (``version`` is the very first), then ``images`` (each
    entry as the JSON the pass wrote)."""
    head_bytes = orjson.dumps(dict(head), option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS)
    fh.write(head_bytes[:-2])  # drop the closing "\n}"
    fh.write(b',\n  "images": [')
    first = True
    for e in entries:
        fh.write(b"\n    " if first else b",\n    ")
        fh.write(e)
        first = False
    fh.write(b"\n  ]\n}\n" if not first else b"]\n}\n")


# ------------------------------------------------------------------------------------------------ publish
def _publish_local(final: Path, staging: Path, state: _PassState, moved: Sequence[str],
                   head: Mapping[str, Any], data_yaml: bytes, report: ConversionReport, copy_images: bool,
                   workers: int, prog: _Progress) -> None:
    pairs: list[tuple[str, str]] = []
    task = prog.add("copying images") if copy_images else None

    def gen() -> Iterator[bytes]:
        for entry, image, src in _iter_spool(state, moved):
            if copy_images:
                pairs.append((src, str(staging / image)))
                if len(pairs) >= 2048:
                    report.images_copied += _copy_batch(pairs, workers, prog, task)
                    pairs.clear()
            yield entry

    if copy_images:
        for s in SPLITS:
            (staging / "images" / s).mkdir(parents=True, exist_ok=True)
    with open(staging / "lineage.json", "wb", buffering=1 << 20) as fh:
        _write_lineage(fh, head, gen())
    if pairs:
        report.images_copied += _copy_batch(pairs, workers, prog, task)
    _remove_spool(staging)
    for s in SPLITS:  # drop empty split folders (a test/ folder only when it has images)
        for kind in ("images", "labels"):
            d = staging / kind / s
            with contextlib.suppress(OSError):
                d.rmdir()
    (staging / "conversion-report.json").write_bytes(
        orjson.dumps(report.as_dict(), option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS) + b"\n")
    (staging / "data.yaml").write_bytes(data_yaml)  # last: a folder without data.yaml is incomplete
    _fsync_dir(staging)
    # swap into place
    old: Path | None = None
    if final.exists():
        old = final.parent / f".{final.name}.old-{uuid.uuid4().hex[:12]}"
        os.replace(final, old)
    try:
        os.replace(staging, final)
    except OSError:
        if old is not None:
            os.replace(old, final)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    _fsync_dir(final.parent)


def _copy_batch(pairs: list[tuple[str, str]], workers: int, prog: _Progress, task: Any) -> int:
    """Copy ``pairs`` concurrently with :func:`gtlabel.storage.copy_many` (S3 -> S3 server-side; local files
    in place, not one by one atomically: the staging folder is published as a whole). Returns how many were
    copied."""
    local = all(not storage.is_s3(s) and not storage.is_s3(d) for s, d in pairs)

    def done(_s: str, _d: str) -> None:
        prog.advance(task)

    return storage.copy_many(pairs, max_workers=min(workers, 16) if local else workers, on_done=done,
                             atomic=False)


def _publish_s3(out: str, staging: Path, state: _PassState, moved: Sequence[str], head: Mapping[str, Any],
                data_yaml: bytes, report: ConversionReport, copy_images: bool, workers: int, prog: _Progress,
                *, clean: bool) -> None:
    """S3 order: (old dataset removed, data.yaml first), lineage.json, labels + images, report, data.yaml last.
    A prefix with lineage.json but no data.yaml is an interrupted run, replaced by the next one."""
    base = out.rstrip("/")
    if clean:
        _delete_prefix_dataset(base)
    lineage_tmp = staging / "lineage.json"
    with open(lineage_tmp, "wb", buffering=1 << 20) as fh:
        _write_lineage(fh, head, (entry for entry, _image, _src in _iter_spool(state, moved)))
    storage.copy(str(lineage_tmp), f"{base}/lineage.json")
    pairs: list[tuple[str, str]] = []
    task = prog.add("uploading labels" + (" + copying images" if copy_images else ""))
    for raw, _image, src in _iter_spool(state, moved):
        entry = orjson.loads(raw)
        lbl_name = entry["label"].rsplit("/", 1)[-1]
        pairs.append((str(staging / "labels" / entry["split"] / lbl_name), f"{base}/{entry['label']}"))
        if copy_images:
            pairs.append((src, f"{base}/{entry['image']}"))
            report.images_copied += 1
        if len(pairs) >= 4096:
            _copy_batch(pairs, workers, prog, task)
            pairs.clear()
    if pairs:
        _copy_batch(pairs, workers, prog, task)
    storage.write_bytes(f"{base}/conversion-report.json",
                        orjson.dumps(report.as_dict(), option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS) + b"\n",
                        content_type="application/json")
    storage.write_bytes(f"{base}/data.yaml", data_yaml, content_type="application/x-yaml")  # last


def _delete_prefix_dataset(base: str) -> None:
    """Before overwriting a dataset on S3: remove data.yaml first (so it reads as incomplete), then the rest."""
    loc = storage.parse_s3(base + "/")
    cli = storage.s3_client()
    hint = " (replacing a dataset on S3 needs s3:DeleteObject on its prefix; `gtlabel iam policy` grants none)"
    try:
        storage.delete(f"{base}/data.yaml")
    except StorageError as exc:
        raise StorageError(f"cannot remove the old data.yaml ({exc}){hint}") from exc
    keys = [storage.parse_s3(o.uri).key for o in storage.list_objects(base + "/")]
    for i in range(0, len(keys), 1000):
        resp = cli.delete_objects(Bucket=loc.bucket, Delete={"Objects": [{"Key": k} for k in keys[i:i + 1000]],
                                                             "Quiet": True})
        errors = resp.get("Errors") or []
        if errors:  # DeleteObjects answers 200 and lists per-key failures: an old file would stay behind
            first = errors[0]
            raise StorageError(f"{len(errors)} old object(s) could not be removed, first: {first.get('Code')} "
                               f"{first.get('Message', '')}{hint}", f"s3://{loc.bucket}/{first.get('Key')}")


# ------------------------------------------------------------------------------------------------ helpers
_VERSION_RE = re.compile(rb'"version"\s*:\s*"(v-[0-9a-f]+)"')
_INCOMPLETE = "incomplete"


def _existing_version(out: str, final_local: Path | None) -> str | None:
    """The version of the dataset already at the output: its id when complete (data.yaml + lineage.json),
    ``"incomplete"`` for lineage.json without data.yaml (an interrupted run), ``None`` when there is none."""
    base = out.rstrip("/") if final_local is None else str(final_local)
    if final_local is not None and not final_local.is_dir():
        return None
    lin = storage.join(base, "lineage.json")
    try:
        with storage.open_read(lin) as fh:
            head = fh.read(4096)
    except NotFound:
        return "unknown (data.yaml without lineage.json)" if storage.exists(storage.join(base, "data.yaml")) \
            else None
    if not storage.exists(storage.join(base, "data.yaml")):
        return _INCOMPLETE
    m = _VERSION_RE.search(head)
    return m.group(1).decode() if m else "unknown"


def _non_empty_foreign(out: str, final_local: Path | None) -> bool:
    if final_local is not None:
        return final_local.is_dir() and any(final_local.iterdir())
    return next(iter(storage.list_objects(out.rstrip("/") + "/")), None) is not None


def _etag_of(uri: str) -> str | None:
    try:
        return storage.head(uri, hash_local=not storage.is_s3(uri)).etag
    except GtlabelError:
        return None


def _remove_caches(base: str) -> int:
    """Delete Ultralytics ``*.cache`` files under a dataset (validated by sizes + paths only, so a stale one
    could survive a same-size rewrite)."""
    n = 0
    if storage.is_s3(base):
        for info in storage.list_objects(base.rstrip("/") + "/", suffixes=[".cache"]):
            storage.delete(info.uri)
            n += 1
        return n
    for p in Path(base).rglob("*.cache"):
        with contextlib.suppress(OSError):
            p.unlink()
            n += 1
    return n


def _remove_stale_partials(final: Path) -> None:
    """Leftovers of interrupted runs (hidden ``.<name>.partial-*`` / ``.old-*`` siblings) are removed."""
    parent = final.parent
    if not parent.is_dir():
        return
    for p in parent.glob(f".{final.name}.partial-*"):
        shutil.rmtree(p, ignore_errors=True)
    for p in parent.glob(f".{final.name}.old-*"):
        shutil.rmtree(p, ignore_errors=True)


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


class _Progress:
    """rich progress bars (one per phase), or nothing when disabled. Updates are batched by the callers."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._p: Any = None

    def __enter__(self) -> _Progress:
        if self.enabled:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                SpinnerColumn,
                TextColumn,
                TimeElapsedColumn,
            )

            self._p = Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                               MofNCompleteColumn(), TimeElapsedColumn(), transient=False)
            self._p.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._p is not None:
            self._p.__exit__(*exc)

    def add(self, description: str, total: float | None = None) -> Any:
        return self._p.add_task(description, total=total) if self._p is not None else None

    def advance(self, task: Any, n: float = 1) -> None:
        if self._p is not None and task is not None:
            self._p.advance(task, n)


def iter_dataset_labels(root: str | os.PathLike[str]) -> Iterator[tuple[Path, str]]:
    """``(label path, text)`` of every label file under a local dataset (used by checks and tests)."""
    for p in sorted(Path(root, "labels").rglob("*.txt")):
        yield p, p.read_text(encoding="utf-8")


def preflight_dataset(root: str | os.PathLike[str], nc: int) -> list[str]:
    """Ultralytics' label rules over a written local dataset: the problems found (empty = nothing dropped)."""
    problems = []
    for p, text in iter_dataset_labels(root):
        problems += [f"{p}: {msg}" for msg in check_label_text(text, nc)]
    return problems


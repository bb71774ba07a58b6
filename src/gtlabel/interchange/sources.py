"""What an export reads: the labeled images of a Ground Truth output manifest or of a gtlabel dataset (YOLO
labels + ``lineage.json``), as boxes in pixels of the displayed (EXIF-upright) frame, one image at a time.

- A manifest: each labeled line's ``image_size`` is the frame (Ground Truth's, and the local service's, is the
  frame the worker saw: the displayed one); class names from ``class_mapping`` / the job's label category
  config, or, without them, the ``class-map`` s of the whole manifest (one extra streamed pass).
- A dataset: ``lineage.json`` lists the images (in manifest order; read streamed, so memory does not grow with
  them), ``names`` the classes; each label file is read
  and its normalized rows scaled by the image's displayed size, read from the image header (the dataset's copy,
  or the source when the dataset holds no copies).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from gtlabel import storage
from gtlabel.convert.classes import load_label_config, resolve_class_names
from gtlabel.convert.probe import displayed_size_of, probe_image
from gtlabel.errors import InputError, LabelError, NotFound
from gtlabel.formats.yolo import parse_label_rows
from gtlabel.geometry import displayed_size
from gtlabel.lineage import LINEAGE_FILE, ImageRecord, Lineage, lineage_uri, stream, version_id
from gtlabel.manifests import iter_output_manifest

__all__ = ["Box", "LabelSource", "LabeledImage", "is_dataset", "open_source"]

#: one box: class index (into the source's names), left, top, width, height (pixels), confidence
Box = tuple[int, float, float, float, float, float | None]


@dataclass(slots=True)
class LabeledImage:
    """One image: ``ref`` (its ``source-ref``, or its path in the dataset), its displayed size and boxes."""

    ref: str
    width: int
    height: int
    boxes: list[Box]
    source_ref: str = ""


@dataclass
class LabelSource:
    """The classes (index = id) and a version id of what is exported, and its images (an iterator: read once)."""

    uri: str
    kind: str  # "manifest" or "dataset"
    names: list[str]
    version: str
    images: Iterator[LabeledImage]
    info: dict[str, Any] = field(default_factory=dict)


def is_dataset(source: str) -> bool:
    """Whether ``source`` is a gtlabel dataset (a folder/prefix with lineage.json, its data.yaml or lineage.json)."""
    if source.endswith(("data.yaml", LINEAGE_FILE)):
        return True
    if not storage.is_s3(source):
        return os.path.isfile(lineage_uri(source)[0])
    return storage.exists(lineage_uri(source)[0])


def open_source(source: str | os.PathLike[str], *, label_attribute: str | None = None,
                class_mapping: Mapping[Any, Any] | Sequence[str] | None = None,
                label_category_config: str | os.PathLike[str] | Mapping[str, Any] | None = None) -> LabelSource:
    """The labeled images of an output manifest or a dataset (decided by the presence of ``lineage.json``)."""
    src = str(source)
    if is_dataset(src):
        return _dataset(*stream(src))
    return _manifest(src, label_attribute, class_mapping, label_category_config)


def _manifest(uri: str, label_attribute: str | None, class_mapping: Mapping[Any, Any] | Sequence[str] | None,
              label_category_config: str | os.PathLike[str] | Mapping[str, Any] | None) -> LabelSource:
    cfg = load_label_config(label_category_config)
    if class_mapping is not None or cfg is not None:
        names = resolve_class_names(class_mapping, cfg)
        fallback = dict(enumerate(resolve_class_names(None, cfg))) if cfg is not None else {}
    else:  # the class-maps of the whole manifest (Ground Truth's own class ids, in id order)
        by_id: dict[int, str] = {}
        for rec in iter_output_manifest(uri, label_attribute=label_attribute):
            for k, v in rec.class_map.items():
                by_id.setdefault(k, v)
        names = [by_id[k] for k in sorted(by_id)]
        fallback = {}
    index = {n: i for i, n in enumerate(names)}
    etag = storage.head(uri, hash_local=True).etag
    version = version_id({"format": "gtlabel-export/1", "manifest": etag, "names": names,
                          "label_attribute": label_attribute})

    def images() -> Iterator[LabeledImage]:
        for rec in iter_output_manifest(uri, label_attribute=label_attribute):
            if rec.image_size is None or rec.failure_reason is not None:
                continue  # failed or unlabeled objects have no boxes to export
            boxes: list[Box] = []
            for i, (cid, left, top, w, h, conf) in enumerate(rec.boxes):
                name = rec.class_map.get(cid, fallback.get(cid))
                gid = index.get(name) if name is not None else None
                if gid is None:
                    raise LabelError(f"class {name if name is not None else cid!r} is not one of the classes "
                                     f"{names} (give class names or the job's label config)", file=rec.file,
                                     line=rec.line, field=f"{rec.label_attribute}.annotations[{i}].class_id")
                boxes.append((gid, left, top, w, h, conf))
            yield LabeledImage(rec.source_ref, rec.image_size[0], rec.image_size[1], boxes, rec.source_ref)

    return LabelSource(uri, "manifest", names, version, images(), {"manifest_etag": etag})


def _dataset(lin: Lineage, records: Iterator[ImageRecord]) -> LabelSource:
    names = [n for _, n in sorted(lin.names.items())]
    copied = lin.settings.get("copy_images", True) is not False

    local = not storage.is_s3(lin.base)

    def path(rel: str) -> str:
        return os.path.join(lin.base, *rel.split("/")) if local else lin.path(rel)

    def size(uri: str, rec: ImageRecord) -> tuple[int, int]:
        if not storage.is_s3(uri):
            try:
                return displayed_size_of(uri)
            except FileNotFoundError:
                raise InputError(f"image not found: {uri}", file=lin.uri, field=f"images[{rec.name}]") from None
            except Exception as exc:  # PIL raises many types for non-images
                raise InputError(f"not a readable image: {uri} ({type(exc).__name__}: {exc})", file=lin.uri,
                                 field=f"images[{rec.name}]") from None
        probe = probe_image(uri)
        if probe.size is None:
            raise InputError(f"{probe.error}: {uri} {probe.detail or ''}".rstrip(), file=lin.uri,
                             field=f"images[{rec.name}]")
        return displayed_size(probe.size[0], probe.size[1], probe.orientation)

    manifest = str(lin.manifest.get("uri") or "")
    manifest_dir = os.path.dirname(manifest) if manifest and not storage.is_s3(manifest) else None

    def source(rec: ImageRecord) -> str:
        if manifest_dir is None or storage.is_s3(rec.source_ref):
            return lin.source_uri(rec)
        return os.path.join(manifest_dir, *rec.source_ref.replace("\\", "/").split("/"))

    def read(uri: str) -> bytes:
        return storage.read_file(uri) if local else storage.read_bytes(uri)

    def images() -> Iterator[LabeledImage]:
        for rec in records:
            w, h = size(path(rec.image) if copied else source(rec), rec)
            label_uri = path(rec.label)
            try:
                text = read(label_uri).decode("utf-8")
            except (FileNotFoundError, NotFound):
                raise InputError(f"label file not found: {label_uri}", file=lin.uri,
                                 field=f"images[{rec.name}]") from None
            boxes: list[Box] = []
            for cid, xc, yc, bw, bh, conf in parse_label_rows(text, file=label_uri, nc=len(names)):
                boxes.append((cid, (xc - bw / 2) * w, (yc - bh / 2) * h, bw * w, bh * h, conf))
            yield LabeledImage(rec.image, w, h, boxes, rec.source_ref)

    return LabelSource(lin.base, "dataset", names, lin.version, images(), {"dataset_version": lin.version})

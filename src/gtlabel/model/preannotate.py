"""Pre-annotations for adjustment jobs: run an existing YOLO model and write its boxes into an input manifest.

Each output line is the input line (its other keys pass through) plus the model's boxes under a label
attribute, in Ground Truth's bounding-box *output* format (reference/ground-truth.md 3.2)::

    {"source-ref": "s3://b/img.jpg",
     "prelabels": {"image_size": [{"width": 640, "height": 480, "depth": 3}],
                   "annotations": [{"class_id": 1, "left": 10, "top": 20, "width": 30, "height": 40}]},
     "prelabels-metadata": {"objects": [{"confidence": 0.87}], "class-map": {"1": "vehicle"},
                            "type": "groundtruth/object-detection", "human-annotated": "no",
                            "creation-date": "2026-11-25T06:00:00.000000", "job-name": "gtlabel-preannotate"}}

so that an ``AdjustmentBoundingBox`` job whose template reads ``task.input.manifestLine.prelabels`` (the
``initial-value`` Liquid of 4.1) shows them as initial boxes; the adjustment job then uses a *different*
``LabelAttributeName``. Boxes are integers in the image's displayed pixel frame (EXIF orientation applied,
as the worker's browser shows it), clipped to the image. ``class_id`` is the index in the job's label list
(``class_names``) so that ``class-map`` agrees with the job's label category config.

The core (:func:`detections_to_label`, :func:`ground_truth_line`) is pure; :func:`preannotate` is the rim.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from gtlabel import facts, storage
from gtlabel.errors import ConfigError, ManifestError
from gtlabel.formats import strict_json
from gtlabel.formats.ground_truth import (
    LABEL_ATTRIBUTE_PATTERN,
    METADATA_SUFFIX,
    RESERVED_KEYS,
    SOURCE_REF,
    bbox_label,
    output_line,
    output_metadata,
)
from gtlabel.formats.ground_truth import creation_date as gt_creation_date
from gtlabel.model.common import ImageItem, display_image, iter_images, load_model, model_names, progress
from gtlabel.model.offline import import_ultralytics
from gtlabel.model.sliced import SliceOptions, predict_frame, slice_options

__all__ = [
    "Detection",
    "PreannotateSummary",
    "Prediction",
    "class_index",
    "detections_to_label",
    "ground_truth_line",
    "preannotate",
    "predict_items",
    "validate_attribute",
]



@dataclass(frozen=True, slots=True)
class Detection:
    """One model box: the model's class id and name, confidence, corners in displayed pixels."""

    class_id: int
    name: str
    confidence: float
    x0: float
    y0: float
    x1: float
    y1: float


@dataclass(frozen=True)
class Prediction:
    """The model's output for one image, in its displayed (EXIF-corrected) frame."""

    width: int
    height: int
    detections: tuple[Detection, ...]


@dataclass
class PreannotateSummary:
    out_manifest: str
    images: int = 0
    boxes: int = 0
    unmapped_boxes: int = 0  # boxes of model classes that are not in class_names
    trimmed_boxes: int = 0  # lowest-confidence boxes left out to keep an attribute within the manifest limit
    class_names: list[str] = field(default_factory=list)
    seconds: float = 0.0
    slicing: dict[str, Any] | None = None  # the sliced-inference settings (None: whole frames)


# ----------------------------------------------------------------------------------------------- pure core
def validate_attribute(name: str) -> str:
    """Check a label attribute name against Ground Truth's rules (reference/ground-truth.md 1.2)."""
    if not LABEL_ATTRIBUTE_PATTERN.fullmatch(name):
        raise ConfigError(f"label attribute {name!r} must match {LABEL_ATTRIBUTE_PATTERN.pattern} (letters, digits, "
                          "'-'; at most 127 characters)")
    if name.endswith((METADATA_SUFFIX, "-ref")):
        raise ConfigError(f"label attribute {name!r} may not end with '{METADATA_SUFFIX}' or '-ref'")
    if name in RESERVED_KEYS:
        raise ConfigError(f"label attribute {name!r} is reserved")
    return name


def class_index(model_classes: Mapping[int, str], class_names: Sequence[str] | None) -> dict[int, int]:
    """Model class id -> output ``class_id``: the position of the model's class name in ``class_names`` (the
    job's labels), or the model's own id when no names are given. Model classes not in the list are absent."""
    if class_names is None:
        return {int(k): int(k) for k in model_classes}
    if len(set(class_names)) != len(class_names):
        raise ConfigError(f"class names must be unique, got {list(class_names)}")
    pos = {n: i for i, n in enumerate(class_names)}
    out = {int(k): pos[v] for k, v in model_classes.items() if v in pos}
    if not out:
        raise ConfigError(f"none of the model's classes {sorted(model_classes.values())} is in the class names "
                          f"{list(class_names)}")
    return out


def detections_to_label(pred: Prediction, mapping: Mapping[int, int], names: Mapping[int, str]
                        ) -> tuple[dict[str, Any], list[dict[str, float]], dict[str, str], int]:
    """Ground Truth ``<attr>`` value, ``objects`` and ``class-map`` for one prediction, plus the number of
    boxes whose class is not mapped. Boxes are integer pixels clipped to the image; empty ones are dropped.
    Highest confidence first."""
    annotations: list[dict[str, int]] = []
    objects: list[dict[str, float]] = []
    class_map: dict[str, str] = {}
    unmapped = 0
    for d in sorted(pred.detections, key=lambda d: -d.confidence):
        cid = mapping.get(d.class_id)
        if cid is None:
            unmapped += 1
            continue
        left = min(max(round(d.x0), 0), pred.width)
        top = min(max(round(d.y0), 0), pred.height)
        right = min(max(round(d.x1), 0), pred.width)
        bottom = min(max(round(d.y1), 0), pred.height)
        if right - left < 1 or bottom - top < 1:
            continue
        annotations.append({"class_id": cid, "left": left, "top": top, "width": right - left,
                            "height": bottom - top})
        objects.append({"confidence": round(float(d.confidence), 4)})
        class_map[str(cid)] = names[cid]
    label = bbox_label(pred.width, pred.height, annotations)
    return label, objects, dict(sorted(class_map.items(), key=lambda kv: int(kv[0]))), unmapped


def ground_truth_line(item: ImageItem, pred: Prediction, *, attribute: str, mapping: Mapping[int, int],
                      names: Mapping[int, str], job_name: str, creation_date: str,
                      max_attribute_chars: int = 20_000) -> tuple[dict[str, Any], int, int]:
    """One manifest line (dict) with the prediction under ``attribute`` + ``attribute-metadata``.

    Returns the line, the count of unmapped boxes and of boxes trimmed (lowest confidence first) so that
    neither attribute exceeds ``max_attribute_chars`` (Ground Truth's per-attribute limit)."""
    label, objects, class_map, unmapped = detections_to_label(pred, mapping, names)
    trimmed = 0
    while True:
        meta = output_metadata(objects, class_map, job_name=job_name, created=creation_date, human_annotated=False)
        if (len(strict_json.dumps(label)) <= max_attribute_chars and len(strict_json.dumps(meta)) <= max_attribute_chars) \
                or not label["annotations"]:
            break
        n = max(1, len(objects) // 10)
        label["annotations"] = label["annotations"][:-n]
        objects = objects[:-n]
        trimmed += n
        present = {str(a["class_id"]) for a in label["annotations"]}
        class_map = {k: v for k, v in class_map.items() if k in present}
    line = output_line({SOURCE_REF: item.source_ref, **item.extra}, attribute, label, meta)
    return line, unmapped, trimmed


# ----------------------------------------------------------------------------------------------- the rim
def _read(item: ImageItem) -> tuple[ImageItem, Any]:
    return item, display_image(storage.read_bytes(item.uri), item.uri)


def _detections(names: Mapping[int, str], xyxy: Any, confs: Any, clss: Any) -> tuple[Detection, ...]:
    return tuple(Detection(int(k), names.get(int(k), str(int(k))), float(c), float(x0), float(y0), float(x1),
                           float(y1))
                 for (x0, y0, x1, y1), c, k in zip(xyxy.tolist(), confs.tolist(), clss.tolist(), strict=True))


def predict_items(yolo: Any, items: Iterable[ImageItem], *, conf: float, iou: float = 0.7, imgsz: int = 640,
                  device: str = "cpu", max_det: int = 300, batch: int = 8, description: str = "predict",
                  slicing: SliceOptions | None = None) -> Iterator[tuple[ImageItem, Prediction]]:
    """Run the model over images (read concurrently, decoded upright) in batches; yields in input order.

    With ``slicing`` each image is predicted on overlapping tiles of the full frame and the boxes merged
    (:func:`gtlabel.model.sliced.predict_frame`; ``max_det`` then applies per tile), else whole images go
    ``batch`` at a time through one call."""
    names = model_names(yolo)
    it = iter(items)
    with progress() as bar, ThreadPoolExecutor(max_workers=4, thread_name_prefix="gtlabel-read") as pool:
        task = bar.add_task(description, total=None)
        while True:
            chunk = [x for _, x in zip(range(batch), it, strict=False)]
            if not chunk:
                break
            loaded = list(pool.map(_read, chunk))
            if slicing is not None:
                for item, arr in loaded:
                    fb = predict_frame(yolo, arr, slicing, conf=conf, iou=iou, imgsz=imgsz, device=device,
                                       max_det=max_det)
                    yield item, Prediction(int(arr.shape[1]), int(arr.shape[0]),
                                           _detections(names, fb.xyxy, fb.conf, fb.cls))
                    bar.advance(task, 1)
                continue
            results = yolo.predict([arr for _, arr in loaded], conf=conf, iou=iou, imgsz=imgsz, device=device,
                                   max_det=max_det, verbose=False)
            for (item, arr), res in zip(loaded, results, strict=True):
                h, w = int(arr.shape[0]), int(arr.shape[1])
                boxes = res.boxes
                dets: tuple[Detection, ...] = ()
                if boxes is not None and len(boxes):
                    dets = _detections(names, boxes.xyxy.cpu(), boxes.conf.cpu(), boxes.cls.cpu())
                yield item, Prediction(w, h, dets)
            bar.advance(task, len(chunk))


def preannotate(
    model_path: str | os.PathLike[str],
    images: str | os.PathLike[str],
    out_manifest: str | os.PathLike[str],
    *,
    attribute: str = "prelabels",
    conf: float = 0.25,
    iou: float = 0.7,
    imgsz: int = 640,
    class_names: Sequence[str] | None = None,
    job_name: str = "gtlabel-preannotate",
    device: str = "cpu",
    batch: int = 8,
    max_det: int = 100,
    creation_date: str | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    slice: int | tuple[int, int] | SliceOptions | None = None,
    overlap: float = 0.2,
    merge: str = "nms",
    match: str = "ios",
    match_threshold: float = 0.5,
    runtime: str = "torch",
) -> PreannotateSummary:
    """Write an input manifest for an adjustment job: ``images`` (an input manifest, a local folder or an S3
    prefix) with the model's boxes (confidence >= ``conf``) under ``attribute``. The file appears atomically.

    ``class_names``: the adjustment job's labels (default: the model's names in id order).

    ``slice``: sliced inference on the full frame (``(width, height)`` tiles, e.g. ``(640, 640)``, sharing
    ``overlap``; boxes merged by ``merge`` = ``"nms"``/``"nmm"`` with ``match`` = ``"iou"``/``"ios"`` >=
    ``match_threshold``; :mod:`gtlabel.model.sliced`), so that small objects in large frames get boxes.
    ``None`` (the default): the whole frame at ``imgsz``. ``max_det`` then counts per tile.
    ``runtime``: ``"torch"`` (default), ``"onnx"`` (ONNX Runtime) or ``"openvino"``: the same weights exported
    once and cached (:mod:`gtlabel.model.runtime`, the ``runtime`` extra); a faster forward pass on CPU.
    """
    lim = facts.limits()
    validate_attribute(attribute)
    if not 0.0 <= conf <= 1.0:
        raise ConfigError(f"conf must be between 0 and 1, got {conf}")
    slicing = slice_options(slice, overlap=overlap, merge=merge, match=match, threshold=match_threshold)
    import_ultralytics()  # the missing extra is the first thing to say
    out = str(out_manifest)
    t0 = time.perf_counter()
    yolo = load_model(model_path, cache_dir=cache_dir, runtime=runtime, imgsz=imgsz)
    model_cls = model_names(yolo)
    mapping = class_index(model_cls, class_names)
    names = dict(enumerate(class_names)) if class_names is not None else dict(model_cls)
    summary = PreannotateSummary(out_manifest=out, class_names=[names[i] for i in sorted(names)],
                                 slicing=slicing.record() if slicing else None)
    date = creation_date or gt_creation_date()
    items = iter_images(images, out)
    with storage.atomic_writer(out, content_type="application/x-ndjson") as fh:
        for item, pred in predict_items(yolo, items, conf=conf, iou=iou, imgsz=imgsz, device=device,
                                        max_det=max_det, batch=batch, description="pre-annotate",
                                        slicing=slicing):
            line, unmapped, trimmed = ground_truth_line(item, pred, attribute=attribute, mapping=mapping,
                                                        names=names, job_name=job_name, creation_date=date,
                                                        max_attribute_chars=lim.manifest_max_attribute_chars)
            raw = strict_json.dumps(line)
            if len(raw.decode()) > lim.manifest_max_line_chars:
                raise ManifestError(f"the line would be {len(raw)} characters, over Ground Truth's "
                                    f"{lim.manifest_max_line_chars}; its pass-through keys are too large",
                                    file=str(images), line=item.line)
            fh.write(raw + b"\n")
            summary.images += 1
            summary.boxes += len(line[attribute]["annotations"])
            summary.unmapped_boxes += unmapped
            summary.trimmed_boxes += trimmed
    summary.seconds = time.perf_counter() - t0
    return summary

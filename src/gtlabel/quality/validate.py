"""Dataset validation of consolidated bounding-box labels, per image and for the whole set.

Works from output-manifest records (:class:`gtlabel.formats.ground_truth.OutputRecord`), optionally with the number of
workers who answered each image (from :mod:`gtlabel.quality.workers`). Every :class:`Finding` names the image
(``source_ref``, manifest file and line) and, for box findings, the box index in the line's ``annotations``.

Rules (``code``: severity):

- Ultralytics' own label checks (``verify_image_label``; reference/peers.md 1.1), which drop the whole image at
  train time when they fail: ``yolo.out_of_bounds`` (a normalized coordinate outside [-0.01, 1.01]: error,
  unless ``clip=True`` because the converter clips, then warning), ``yolo.zero_area`` (error),
  ``yolo.class_out_of_range`` (class id >= number of classes: error), ``yolo.duplicate`` (an exact duplicate row,
  which Ultralytics removes: warning), ``yolo.image_too_small`` (< 10 px a side: error),
  ``yolo.image_format`` (suffix Ultralytics does not read: error).
- Classes: ``class.undefined`` (a class id or name not in the job's classes: error), ``class.name_mismatch``
  (a line's class-map names an id differently: error), ``class.unused`` (a class with no box: warning),
  ``class.imbalance`` (a class with fewer than ``1 / imbalance_ratio`` of the largest class's boxes: warning).
- Boxes: ``box.tiny`` / ``box.huge`` (side below ``tiny_px`` pixels or area below ``tiny_area`` of the image;
  area above ``huge_area``: warning), ``box.size_outlier`` / ``box.aspect_outlier`` (log area fraction or
  log aspect ratio with a robust z-score beyond ``outlier_z`` within its class, with at least
  ``min_class_boxes`` boxes, MAD floored at ``outlier_min_mad`` so only several-fold
  differences count: info), ``box.overlap`` (two same-class boxes with IoU >= ``overlap_iou``: warning),
  ``box.low_confidence`` (confidence < ``low_confidence``: warning).
- Images: ``image.failed`` (``failure-reason``: error), ``image.no_boxes`` (info), ``image.single_worker``
  (labeled by one worker, from the worker counts, or, without them, every confidence exactly 0.0, which is
  Ground Truth's mark of one worker: warning).
"""

from __future__ import annotations

import math
import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from gtlabel.formats.yolo import MIN_IMAGE_PX, ULTRALYTICS_IMG_FORMATS
from gtlabel.quality.workers import robust_z

if TYPE_CHECKING:
    from gtlabel.formats.ground_truth import OutputRecord

__all__ = ["ClassStats", "Finding", "ImageSummary", "ValidationConfig", "ValidationReport", "validate_records"]

SEVERITIES = ("error", "warning", "info")
IMG_FORMATS = ULTRALYTICS_IMG_FORMATS  # the suffixes Ultralytics reads (one list: gtlabel.formats.yolo)


@dataclass(frozen=True, slots=True)
class Finding:
    code: str
    severity: str
    message: str
    source_ref: str | None = None
    box: int | None = None
    file: str | None = None
    line: int | None = None
    class_name: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "severity": self.severity, "message": self.message,
                "source_ref": self.source_ref, "box": self.box, "file": self.file, "line": self.line,
                "class": self.class_name}

    def __str__(self) -> str:
        where = self.source_ref or "<dataset>"
        if self.box is not None:
            where += f" box {self.box}"
        return f"[{self.severity}] {self.code}: {where}: {self.message}"


@dataclass(frozen=True)
class ValidationConfig:
    clip: bool = True
    tiny_px: float = 4.0
    tiny_area: float = 1e-4
    huge_area: float = 0.9
    overlap_iou: float = 0.7
    low_confidence: float = 0.5
    imbalance_ratio: float = 10.0
    outlier_z: float = 3.5
    outlier_min_mad: float = 0.25  # on the log scale: a box must be ~3.7x off its class's median to count
    min_class_boxes: int = 8


@dataclass(slots=True)
class ClassStats:
    name: str
    boxes: int = 0
    images: int = 0
    area_fracs: list[float] = field(default_factory=list)
    aspects: list[float] = field(default_factory=list)
    confidences: list[float] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        def med(v: list[float]) -> float | None:
            return round(statistics.median(v), 6) if v else None

        return {"name": self.name, "boxes": self.boxes, "images": self.images,
                "median_area_fraction": med(self.area_fracs), "median_aspect": med(self.aspects),
                "mean_confidence": round(statistics.fmean(self.confidences), 4) if self.confidences else None}


@dataclass(slots=True)
class ImageSummary:
    source_ref: str
    file: str
    line: int
    width: int | None
    height: int | None
    boxes: int
    min_confidence: float | None
    mean_confidence: float | None
    workers: int | None
    errors: int = 0
    warnings: int = 0
    failed: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__slots__}


@dataclass(slots=True)
class ValidationReport:
    findings: list[Finding]
    images: list[ImageSummary]
    classes: dict[int, ClassStats]
    boxes: int
    config: ValidationConfig

    def count(self, severity: str | None = None, code: str | None = None) -> int:
        return sum(1 for f in self.findings if (severity is None or f.severity == severity)
                   and (code is None or f.code == code))

    def by_code(self) -> dict[str, int]:
        return dict(sorted(Counter(f.code for f in self.findings).items()))

    @property
    def ok(self) -> bool:
        return self.count("error") == 0

    def summary(self) -> dict[str, Any]:
        labeled = [i for i in self.images if not i.failed]
        confs = [c for s in self.classes.values() for c in s.confidences]
        return {
            "images": len(self.images), "labeled_images": len(labeled),
            "failed_images": sum(1 for i in self.images if i.failed),
            "empty_images": sum(1 for i in labeled if i.boxes == 0), "boxes": self.boxes,
            "classes": len(self.classes),
            "boxes_per_image": round(self.boxes / len(labeled), 3) if labeled else 0.0,
            "mean_confidence": round(statistics.fmean(confs), 4) if confs else None,
            "errors": self.count("error"), "warnings": self.count("warning"), "infos": self.count("info"),
            "findings_by_code": self.by_code(),
        }

    def as_dict(self) -> dict[str, Any]:
        return {"summary": self.summary(),
                "classes": {str(k): v.as_dict() for k, v in sorted(self.classes.items())},
                "findings": [f.as_dict() for f in self.findings],
                "config": {k: getattr(self.config, k) for k in self.config.__dataclass_fields__}}


def _names(class_names: Sequence[str] | Mapping[int, str] | None) -> dict[int, str] | None:
    if class_names is None:
        return None
    if isinstance(class_names, Mapping):
        return {int(k): str(v) for k, v in class_names.items()}
    return dict(enumerate(class_names))


def _suffix(ref: str) -> str:
    name = ref.rsplit("/", 1)[-1]
    return name.rsplit(".", 1)[-1].lower() if "." in name else ""


def validate_records(records: Iterable[OutputRecord], *,
                     class_names: Sequence[str] | Mapping[int, str] | None = None,
                     workers_per_image: Mapping[str, int] | None = None,
                     config: ValidationConfig | None = None) -> ValidationReport:
    """Validate consolidated labels; see the module docstring for the rules.

    ``class_names``: the job's classes (list index = class id, or an id -> name map), e.g. from the label
    category file. Without it the union of the lines' class-maps is used, and undefined classes cannot be told.
    """
    run = _Pass(config or ValidationConfig(), _names(class_names), workers_per_image)
    for rec in records:
        run.add_image(rec)
    findings = run.findings + _outlier_findings(run) + _class_findings(run)
    order = {s: i for i, s in enumerate(SEVERITIES)}
    findings.sort(key=lambda f: (order.get(f.severity, 9), f.source_ref is not None, f.file or "", f.line or 0,
                                 f.box if f.box is not None else -1, f.code))
    return ValidationReport(findings, run.images, run.classes, run.total_boxes, run.cfg)


class _ImageFindings:
    """The findings of one image, each naming its ``source_ref``, manifest file and line."""

    def __init__(self, rec: OutputRecord) -> None:
        self.rec = rec
        self.items: list[Finding] = []

    def add(self, code: str, severity: str, message: str, box: int | None = None, cname: str | None = None) -> None:
        self.items.append(Finding(code, severity, message, self.rec.source_ref, box, self.rec.file, self.rec.line,
                                  cname))

    def count(self, severity: str) -> int:
        return sum(1 for f in self.items if f.severity == severity)


class _Pass:
    """One pass over the records: the per-image checks, and what they leave for the dataset-level checks
    (class statistics, one row per box for the outlier check)."""

    def __init__(self, cfg: ValidationConfig, names: dict[int, str] | None,
                 workers_per_image: Mapping[str, int] | None) -> None:
        self.cfg = cfg
        self.names = names
        self.by_name = {v: k for k, v in names.items()} if names is not None else None
        self.seen_names: dict[int, str] = dict(names or {})
        self.workers_per_image = workers_per_image
        self.findings: list[Finding] = []
        self.images: list[ImageSummary] = []
        self.classes: dict[int, ClassStats] = {}
        # per-box rows for the dataset-level outlier pass: image idx, box idx, class, log area frac, log aspect
        self.rows: list[tuple[int, int, int, float, float]] = []
        self.total_boxes = 0

    def add_image(self, rec: OutputRecord) -> None:
        import numpy as np  # the quality extra: loaded on first use, not at import

        ref, file, line = rec.source_ref, rec.file, rec.line
        out = _ImageFindings(rec)
        nworkers = self.workers_per_image.get(ref) if self.workers_per_image is not None else None
        if rec.failure_reason is not None or rec.image_size is None:
            out.add("image.failed", "error", f"not labeled: {rec.failure_reason or 'no label'}")
            self.images.append(ImageSummary(ref, file, line, None, None, 0, None, None, nworkers, 1, 0, True))
            self.findings.extend(out.items)
            return
        w, h, _ = rec.image_size
        confs = _image_checks(rec, w, h, nworkers, out)
        present: set[int] = set()
        xyxy = np.zeros((len(rec.boxes), 4))
        seen_rows: dict[tuple[int, str], int] = {}
        for i, b in enumerate(rec.boxes):
            self.total_boxes += 1
            cname = self._check_class(rec, i, out)
            stats = self._count_box(b.class_id, cname, present)
            if b.confidence is not None and confs:
                stats.confidences.append(b.confidence)
            x0, y0, x1, y1 = b.left, b.top, b.left + b.width, b.top + b.height
            xyxy[i] = (x0, y0, x1, y1)
            if b.width <= 0 or b.height <= 0:
                out.add("yolo.zero_area", "error", f"box is {b.width:g}x{b.height:g} px", i, cname)
                continue
            self._check_box(rec, i, cname, (w, h), stats, seen_rows, bool(confs), out)
        # heavily overlapping same-class boxes (exact duplicates are reported above)
        if len(rec.boxes) > 1:
            self._check_overlaps(rec, xyxy, out)
        all_conf = [b.confidence for b in rec.boxes if b.confidence is not None] if confs else []
        self.images.append(ImageSummary(ref, file, line, w, h, len(rec.boxes), min(all_conf) if all_conf else None,
                                        statistics.fmean(all_conf) if all_conf else None, nworkers,
                                        out.count("error"), out.count("warning")))
        self.findings.extend(out.items)

    def _check_class(self, rec: OutputRecord, i: int, out: _ImageFindings) -> str:
        """The box's class against the job's classes (or the earlier lines' class-maps); its display name."""
        names, by_name = self.names, self.by_name
        cid = rec.boxes[i].class_id
        line_name = rec.class_map.get(cid)
        cname = line_name or self.seen_names.get(cid) or f"class {cid}"
        if names is not None:
            if cid not in names:
                nc = len(names)
                out.add("class.undefined", "error", f"class id {cid} ({line_name or '?'}) is not one of the "
                        f"{nc} classes {sorted(names.values())}", i, cname)
                out.add("yolo.class_out_of_range", "error",
                        f"class {cid} exceeds dataset class count {nc}", i, cname)
            elif line_name is not None and line_name != names[cid]:
                hint = f" (the name {line_name!r} is class {by_name[line_name]})" \
                    if by_name is not None and line_name in by_name else ""
                out.add("class.name_mismatch", "error", f"the line's class-map calls class {cid} {line_name!r}, "
                        f"the job calls it {names[cid]!r}{hint}", i, cname)
        elif line_name is not None:
            prev = self.seen_names.setdefault(cid, line_name)
            if prev != line_name:
                out.add("class.name_mismatch", "error",
                        f"class {cid} is {line_name!r} here but {prev!r} on an earlier line", i, cname)
        return cname

    def _count_box(self, cid: int, cname: str, present: set[int]) -> ClassStats:
        stats = self.classes.get(cid)
        if stats is None:
            stats = self.classes[cid] = ClassStats(cname if self.names is None else self.names.get(cid, cname))
        stats.boxes += 1
        if cid not in present:
            present.add(cid)
            stats.images += 1
        return stats

    def _check_box(self, rec: OutputRecord, i: int, cname: str, size: tuple[int, int], stats: ClassStats,
                   seen_rows: dict[tuple[int, str], int], with_confidence: bool, out: _ImageFindings) -> None:
        """Bounds, exact duplicates, size and confidence of a box with a positive area in a ``size`` image."""
        cfg = self.cfg
        b = rec.boxes[i]
        cid = b.class_id
        w, h = size
        x0, y0, x1, y1 = b.left, b.top, b.left + b.width, b.top + b.height
        lo, hi = min(x0 / w, y0 / h), max(x1 / w, y1 / h)
        if lo < -0.01 or hi > 1.01:
            sev = "warning" if cfg.clip else "error"
            out.add("yolo.out_of_bounds", sev, f"box ({x0:g}, {y0:g}, {x1:g}, {y1:g}) leaves the {w}x{h} image "
                    "by more than 1%" + (" (the converter clips it)" if cfg.clip else
                                         "; Ultralytics drops the whole image"), i, cname)
        row_key = (cid, f"{(x0 + x1) / 2 / w:.6f} {(y0 + y1) / 2 / h:.6f} {b.width / w:.6f} {b.height / h:.6f}")
        if row_key in seen_rows:
            out.add("yolo.duplicate", "warning", f"exact duplicate of box {seen_rows[row_key]} "
                    "(Ultralytics removes it)", i, cname)
        else:
            seen_rows[row_key] = i
        frac = (b.width * b.height) / (w * h)
        if min(b.width, b.height) < cfg.tiny_px or frac < cfg.tiny_area:
            out.add("box.tiny", "warning", f"tiny box {b.width:g}x{b.height:g} px ({frac:.2e} of the image)", i,
                    cname)
        elif frac > cfg.huge_area:
            out.add("box.huge", "warning", f"box covers {frac:.0%} of the image", i, cname)
        stats.area_fracs.append(frac)
        stats.aspects.append(b.width / b.height)
        self.rows.append((len(self.images), i, cid, math.log(frac), math.log(b.width / b.height)))
        if with_confidence and b.confidence is not None and b.confidence < cfg.low_confidence:
            out.add("box.low_confidence", "warning", f"confidence {b.confidence:.2f} < {cfg.low_confidence}",
                    i, cname)

    def _check_overlaps(self, rec: OutputRecord, xyxy: Any, out: _ImageFindings) -> None:
        import numpy as np  # the quality extra: loaded on first use, not at import

        cls = np.array([b.class_id for b in rec.boxes])
        iw = np.minimum(xyxy[:, None, 2], xyxy[None, :, 2]) - np.maximum(xyxy[:, None, 0], xyxy[None, :, 0])
        ih = np.minimum(xyxy[:, None, 3], xyxy[None, :, 3]) - np.maximum(xyxy[:, None, 1], xyxy[None, :, 1])
        inter = np.clip(iw, 0, None) * np.clip(ih, 0, None)
        area = (xyxy[:, 2] - xyxy[:, 0]).clip(0) * (xyxy[:, 3] - xyxy[:, 1]).clip(0)
        union = area[:, None] + area[None, :] - inter
        with np.errstate(divide="ignore", invalid="ignore"):
            iou = np.where(union > 0, inter / union, 0.0)
        mask = np.triu((iou >= self.cfg.overlap_iou) & (iou < 1.0 - 1e-9) & (cls[:, None] == cls[None, :]), 1)
        for a, b2 in zip(*np.nonzero(mask), strict=True):
            cname = self.seen_names.get(int(cls[a]), f"class {int(cls[a])}")
            out.add("box.overlap", "warning", f"overlaps box {int(a)} of the same class (IoU {iou[a, b2]:.2f}); "
                    "one object drawn twice?", int(b2), cname)


def _image_checks(rec: OutputRecord, w: int, h: int, nworkers: int | None, out: _ImageFindings) -> list[float]:
    """Format, size, emptiness and consensus of a labeled image; the confidences that mean agreement
    (none when every 0.0 marks a single worker)."""
    sfx = _suffix(rec.source_ref)
    if sfx not in IMG_FORMATS:
        out.add("yolo.image_format", "error", f"suffix {sfx!r} is not an image format Ultralytics reads "
                f"({', '.join(sorted(IMG_FORMATS))})")
    if w < MIN_IMAGE_PX or h < MIN_IMAGE_PX:
        out.add("yolo.image_too_small", "error",
                f"image is {w}x{h}; Ultralytics needs at least {MIN_IMAGE_PX} px a side")
    if not rec.boxes:
        out.add("image.no_boxes", "info", "no boxes (a background image; check it is really empty)")
    confs = [b.confidence for b in rec.boxes if b.confidence is not None]
    if nworkers == 1:
        out.add("image.single_worker", "warning", "labeled by one worker only (no consensus)")
    elif nworkers is None and rec.boxes and len(confs) == len(rec.boxes) and all(c == 0.0 for c in confs):
        out.add("image.single_worker", "warning",
                "every confidence is 0.00, Ground Truth's mark of a label from one worker (no consensus)")
        confs = []  # 0.0 here means "one worker", not "low agreement"
    return confs


def _outlier_findings(run: _Pass) -> list[Finding]:
    """Dataset level: size / aspect outliers within each class (robust z-scores)."""
    cfg, rows, out = run.cfg, run.rows, []
    by_class: dict[int, list[int]] = defaultdict(list)
    for k, r in enumerate(rows):
        by_class[r[2]].append(k)
    for cid, idxs in sorted(by_class.items()):
        if len(idxs) < cfg.min_class_boxes:
            continue
        cname = run.classes[cid].name
        for col, code, what in ((3, "box.size_outlier", "size"), (4, "box.aspect_outlier", "aspect ratio")):
            vals = [rows[k][col] for k in idxs]
            for k, z in zip(idxs, robust_z(vals, min_mad=cfg.outlier_min_mad), strict=True):
                if abs(z) > cfg.outlier_z:
                    img = run.images[rows[k][0]]
                    typical = math.exp(statistics.median(vals))
                    val = math.exp(rows[k][col])
                    desc = (f"area {val:.2e} of the image vs the class median {typical:.2e}" if col == 3
                            else f"aspect w/h {val:.2f} vs the class median {typical:.2f}")
                    out.append(Finding(code, "info", f"unusual {what} for {cname!r}: {desc} (robust z "
                                       f"{z:+.1f})", img.source_ref, rows[k][1], img.file, img.line, cname))
    return out


def _class_findings(run: _Pass) -> list[Finding]:
    """Dataset level: classes without boxes, and classes far smaller than the largest."""
    names, classes, cfg, out = run.names, run.classes, run.cfg, []
    if names is not None:
        for cid, name in sorted(names.items()):
            if cid not in classes or classes[cid].boxes == 0:
                out.append(Finding("class.unused", "warning", f"class {cid} {name!r} has no boxes",
                                   class_name=name))
    counts = {cid: s.boxes for cid, s in classes.items() if s.boxes and (names is None or cid in names)}
    if len(counts) > 1:
        top = max(counts.values())
        for cid, n in sorted(counts.items()):
            if n * cfg.imbalance_ratio < top:
                out.append(Finding("class.imbalance", "warning",
                                   f"class {classes[cid].name!r} has {n} boxes, the largest class {top} "
                                   f"(more than {cfg.imbalance_ratio:g}x)", class_name=classes[cid].name))
    return out

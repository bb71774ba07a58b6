"""Per record: which manifest records are converted, the dataset name of each image, and its label rows
(class ids mapped to the dataset's, boxes clipped to the image, zero-area and duplicate rows dropped, all counted).

:func:`rows_for` is the converter's hot path: it clips only boxes that leave the image and formats inline. It
gives the rows that :func:`gtlabel.geometry.clip_box`, :func:`~gtlabel.geometry.to_yolo` and
:func:`~gtlabel.geometry.format_row` give (a property test holds them equal), and every row passes Ultralytics'
rules (:func:`gtlabel.formats.yolo.check_label_text`).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from gtlabel.convert.report import ConversionReport
from gtlabel.errors import LabelError, ManifestError
from gtlabel.formats.ground_truth import OutputRecord, iter_output_lines
from gtlabel.formats.yolo import MIN_NORMALIZED_SIZE
from gtlabel.geometry import ROW_FORMAT, clip_box
from gtlabel.manifests import iter_output_manifest

__all__ = ["ClassBox", "RowContext", "boxes_for", "dataset_name", "records", "rows_for"]

#: a box of a record in the frame's pixels, with its dataset class id: ``(class id, left, top, width, height)``
ClassBox = tuple[int, float, float, float, float]

_SAFE = re.compile(r"[^A-Za-z0-9._-]+")
_INDEX = re.compile(r"\[\d+\]")


@dataclass
class RowContext:
    """What the rows of a pass (or of one block of it) are made with, and what they are counted into."""

    manifest: str
    names: list[str]
    fallback_names: dict[int, str] = field(default_factory=dict)  # class_id -> name for ids not in a class-map
    drop_unknown: bool = False
    strict: bool = True
    report: ConversionReport = field(default_factory=lambda: ConversionReport("", ""))
    class_counts: list[int] = field(default_factory=list)  # images' rows per class (accepted images only)
    aliases: dict[str, str] = field(default_factory=dict)  # a class name as the manifest has it -> a dataset name
    name_to_id: dict[str, int] = field(init=False)

    def __post_init__(self) -> None:
        self.name_to_id = {n: i for i, n in enumerate(self.names)}
        for name, target in self.aliases.items():  # an alias wins over a dataset class of the same name
            if target in self.name_to_id:
                self.name_to_id[name] = self.name_to_id[target]
        if not self.class_counts:
            self.class_counts = [0] * len(self.names)


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


def records(manifest: str, label_attribute: str | None, ctx: RowContext,
            lines: Iterable[tuple[int, bytes]] | None = None) -> Iterator[OutputRecord]:
    """The convertible records of the manifest (or of ``lines`` of it); invalid, failed and unlabeled lines
    are counted in the report (and raised, when strict, by the parser)."""
    rep = ctx.report

    def on_skip(exc: ManifestError) -> None:
        rep.records += 1
        fld = _INDEX.sub("[]", exc.field) if exc.field else "json"
        rep.skip(f"invalid line ({fld})", f"{exc.file}:{exc.line}: {exc.reason}"[:500], exc.line)

    recs = iter_output_manifest(manifest, label_attribute=label_attribute, strict=ctx.strict,
                                on_skip=on_skip) if lines is None else \
        iter_output_lines(lines, file=manifest, label_attribute=label_attribute, strict=ctx.strict,
                          on_skip=on_skip)
    for rec in recs:
        rep.records += 1
        if rec.failure_reason is not None:
            rep.skip("failed (failure-reason)", f"{rec.file}:{rec.line}: {rec.failure_reason}"[:300], rec.line)
            continue
        if rec.image_size is None:
            rep.skip("no label", f"{rec.file}:{rec.line}", rec.line)
            continue
        yield rec


def rows_for(rec: OutputRecord, frame: tuple[int, int], ctx: RowContext) -> tuple[list[str], list[int]]:
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
        gid = n2i.get(name) if name is not None else None
        if gid is None:
            gid = _class_miss(rec, i, cid, ctx)
            if gid is None:
                unknown += 1
                continue
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
        row = ROW_FORMAT % (gid, (left + w / 2.0) / fw, (top + h / 2.0) / fh, nw, nh)
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


def _class_miss(rec: OutputRecord, i: int, cid: int, ctx: RowContext) -> int | None:
    """The dataset class id of box ``i`` when the line's class-map does not give a known name directly: the
    label category config's name, or ``None`` (an unknown class, dropped when ``drop_unknown``); else a
    :class:`LabelError` naming the line and field."""
    name = rec.class_map.get(cid)
    if name is None:
        name = ctx.fallback_names.get(cid)
        if name is None:
            raise LabelError(
                f"class_id {cid} has no name: it is not in this line's class-map "
                f"{dict(sorted(rec.class_map.items()))} (pass label_category_config to map ids by the job's label "
                f"list)", file=rec.file, line=rec.line, field=f"{rec.label_attribute}.annotations[{i}].class_id")
    gid = ctx.name_to_id.get(name)
    if gid is None and not ctx.drop_unknown:
        raise LabelError(
            f"class {name!r} is not one of the dataset's classes {ctx.names}; add it to class_mapping or "
            f"pass drop_unknown_classes=True (CLI: --drop-unknown)",
            file=rec.file, line=rec.line, field=f"{rec.label_attribute}.annotations[{i}]")
    return gid


def boxes_for(rec: OutputRecord, frame: tuple[int, int], ctx: RowContext) -> list[ClassBox]:
    """The boxes of one record in the frame's pixels, classes mapped and boxes clipped to the frame as
    :func:`rows_for` does (zero-area ones dropped); counted into the report the same way. For converters that
    cut the frame (tiles) and normalize later; exact duplicates are left to the rows they become."""
    out: list[ClassBox] = []
    boxes = rec.boxes
    if not boxes:
        return out
    rep = ctx.report
    rep.boxes_in += len(boxes)
    fw, fh = frame
    n2i = ctx.name_to_id
    for i, (cid, left, top, w, h, _conf) in enumerate(boxes):
        name = rec.class_map.get(cid)
        gid = n2i.get(name) if name is not None else None
        if gid is None:
            gid = _class_miss(rec, i, cid, ctx)
            if gid is None:
                rep.boxes_unknown_class += 1
                continue
        if left < 0 or top < 0 or left + w > fw or top + h > fh:
            box = clip_box(left, top, w, h, fw, fh)
            if box is None:
                rep.boxes_zero_area += 1
                continue
            rep.boxes_clipped += 1
            left, top, w, h = box
        elif w <= 0 or h <= 0:
            rep.boxes_zero_area += 1
            continue
        out.append((gid, left, top, w, h))
    return out

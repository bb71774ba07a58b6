"""Ultralytics YOLO detect datasets, pure: label rows -> label-file bytes, ``data.yaml``, and Ultralytics' own
label rules (what its loader reads, and what it silently drops). No I/O.

A dataset (as :mod:`gtlabel.convert` writes it)::

    data.yaml                          path (absolute; omitted on S3), train, val, [test], names {0..n-1}
    images/{train,val,test}/<name>     an image in a format Ultralytics reads, >= 10 px a side
    labels/{train,val,test}/<stem>.txt one per image: ``class xc yc w h`` rows normalized to [0, 1] (``%.6f``),
                                       empty when the image has no boxes

Rows are formatted by :data:`gtlabel.geometry.ROW_FORMAT` (fixed precision, so a rerun gives the same bytes).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import yaml

from gtlabel.errors import LabelError
from gtlabel.geometry import ROW_FORMAT

__all__ = [
    "DATASET_FORMAT",
    "MIN_IMAGE_PX",
    "MIN_NORMALIZED_SIZE",
    "SPLITS",
    "ULTRALYTICS_IMG_FORMATS",
    "check_label_text",
    "format_label",
    "label_bytes",
    "parse_data_yaml_names",
    "parse_label_rows",
    "render_data_yaml",
    "split_list_line",
]

#: the splits of a dataset, in this order (``images/<split>``, ``labels/<split>``)
SPLITS: tuple[str, str, str] = ("train", "val", "test")
#: the format id of gtlabel's datasets (``lineage.json``, ``conversion-report.json``, the version payload)
DATASET_FORMAT = "gtlabel-yolo/1"
# Ultralytics 8.4.190, ultralytics/data/utils.py IMG_FORMATS (read 2026-11-25): the suffixes (lower-cased) and
# PIL formats its loader accepts; anything else is silently not found or dropped as corrupt.
ULTRALYTICS_IMG_FORMATS = frozenset(
    {"bmp", "dng", "jpeg", "jpg", "mpo", "png", "tif", "tiff", "webp", "pfm", "heic", "heif", "avif", "jp2"})
MIN_IMAGE_PX = 10  # Ultralytics check_image: "image size <10 pixels"
#: a normalized width or height below this is 0 at the rows' 6 decimals (a zero-area row)
MIN_NORMALIZED_SIZE = 5e-7


def label_bytes(rows: Sequence[str]) -> bytes:
    """The label file of formatted rows: one per line, a final line break; empty bytes for no rows."""
    return ("\n".join(rows) + "\n").encode() if rows else b""


def format_label(rows: Iterable[tuple[int, float, float, float, float]]) -> bytes:
    """YOLO label file bytes for normalized rows (``%.6f``); empty bytes for no rows."""
    return label_bytes([ROW_FORMAT % r for r in rows])


def check_label_text(text: str, nc: int) -> list[str]:
    """Ultralytics' ``verify_image_label`` rules for one detect label file; the problems found (empty = OK)."""
    problems = []
    for i, line in enumerate(text.splitlines(), 1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 5:
            problems.append(f"row {i}: labels require 5 columns, {len(parts)} columns detected")
            continue
        try:
            vals = [float(p) for p in parts]
        except ValueError:
            problems.append(f"row {i}: not numeric")
            continue
        if not vals[0].is_integer() or vals[0] < 0:
            problems.append(f"row {i}: class {parts[0]} is not a non-negative integer")
        elif vals[0] >= nc:
            problems.append(f"row {i}: class {int(vals[0])} exceeds dataset class count {nc}")
        if any(v > 1.0 or v < 0.0 for v in vals[1:]):
            problems.append(f"row {i}: coordinates out of [0, 1]: {vals[1:]}")
    return problems


def render_data_yaml(names: Sequence[str], *, path: str | None, splits_present: Iterable[str],
                     version: str, lists: bool = False) -> bytes:
    """data.yaml as Ultralytics reads it: ``path`` (absolute) or none, train, val, optional test, dict names.
    Each split is its folder ``images/<split>``, or with ``lists`` its list file ``<split>.txt`` (one image path a
    line, ``./`` relative to the file: :func:`split_list_line`)."""
    present = set(splits_present)
    doc: dict[str, Any] = {}
    if path is not None:
        doc["path"] = path

    def where(split: str) -> str:
        return f"{split}.txt" if lists else f"images/{split}"

    doc["train"] = where("train")
    doc["val"] = where("val" if "val" in present else "train")
    if "test" in present:
        doc["test"] = where("test")
    doc["names"] = dict(enumerate(names))
    head = f"# gtlabel YOLO11 detect dataset {version} (lineage.json beside this file)\n"
    if "val" not in present:
        head += "# no image fell into 'val': val points at the train images\n"
    body = yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, default_flow_style=False)
    return (head + body).encode()


def split_list_line(image_rel: str) -> bytes:
    """One line of a split's list file (``train.txt``): the image's path in the dataset, ``./`` first, which
    Ultralytics' ``get_img_files`` resolves against the list file's folder (so the dataset can move)."""
    return f"./{image_rel}\n".encode()


#: a YOLO row read: class id, normalized centre x, centre y, width, height, and the confidence of a 6th column
YoloRow = tuple[int, float, float, float, float, float | None]
_TOLERANCE = 0.01  # Ultralytics' own (verify_image_label: max <= 1.01, min >= -0.01); beyond it is an error


def parse_label_rows(text: str, *, file: str, nc: int | None = None) -> list[YoloRow]:
    """The rows of a YOLO label file (reading other tools' files too): ``class xc yc w h`` and an optional 6th
    column, the confidence of a detector's ``save_conf`` output. :class:`~gtlabel.errors.LabelError` naming
    ``file:line`` and the column for a wrong column count, a non-number, a class id that is not an integer in
    ``0..nc-1``, coordinates outside [0, 1] by more than Ultralytics' 1 % or a confidence outside [0, 1].
    Coordinates within the tolerance are clamped into [0, 1]."""
    rows: list[YoloRow] = []
    top = float(nc) if nc is not None else math.inf
    for i, line in enumerate(text.splitlines(), 1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) == 5:  # fast path: a well-formed row; anything else gets the precise check below
            try:
                c, xc, yc, w, h = map(float, parts)
            except ValueError:
                c = math.nan
            if (0 <= c < top and c.is_integer() and 0 <= xc <= 1 and 0 <= yc <= 1 and 0 <= w <= 1
                    and 0 <= h <= 1):
                rows.append((int(c), xc, yc, w, h, None))
                continue
        rows.append(_checked_row(parts, line, i, file, nc))
    return rows


def _checked_row(parts: list[str], line: str, i: int, file: str, nc: int | None) -> YoloRow:
    if len(parts) not in (5, 6):
        raise LabelError(f"expected 5 columns (class xc yc w h) or 6 (and a confidence), got {len(parts)}",
                         file=file, line=i)
    try:
        vals = [float(p) for p in parts]
    except ValueError:
        raise LabelError(f"not numeric: {line.strip()[:100]!r}", file=file, line=i) from None
    if not all(math.isfinite(v) for v in vals):
        raise LabelError(f"not finite: {line.strip()[:100]!r}", file=file, line=i)
    cls = vals[0]
    if not cls.is_integer() or cls < 0 or (nc is not None and cls >= nc):
        bound = f" in 0..{nc - 1}" if nc is not None else ""
        raise LabelError(f"class {parts[0]} is not an integer{bound}", file=file, line=i, field="class")
    xc, yc, w, h = vals[1:5]
    for name, v in (("x_center", xc), ("y_center", yc), ("width", w), ("height", h)):
        if v < -_TOLERANCE or v > 1 + _TOLERANCE:
            raise LabelError(f"{v:g} is outside [0, 1] (normalized coordinates)", file=file, line=i, field=name)
    conf = None
    if len(vals) == 6:
        conf = vals[5]
        if not 0.0 <= conf <= 1.0:
            raise LabelError(f"{conf:g} is outside [0, 1]", file=file, line=i, field="confidence")
    return (int(cls), min(max(xc, 0.0), 1.0), min(max(yc, 0.0), 1.0), min(max(w, 0.0), 1.0), min(max(h, 0.0), 1.0),
            conf)


def parse_data_yaml_names(data: bytes, *, file: str) -> list[str]:
    """The class names of a ``data.yaml`` (``names`` as a list or a dict ``{0: name, ...}`` with ids 0..n-1, as
    Ultralytics' ``check_class_names`` requires); :class:`~gtlabel.errors.LabelError` naming the field."""
    try:
        doc = yaml.safe_load(data)
    except yaml.YAMLError as exc:
        raise LabelError(f"not valid YAML ({exc})"[:300], file=file) from None
    names = doc.get("names") if isinstance(doc, dict) else None
    if isinstance(names, dict):
        try:
            by_id = {int(k): v for k, v in names.items()}
        except (TypeError, ValueError):
            raise LabelError(f"keys must be class ids 0..n-1, got {list(names)[:10]}", file=file,
                             field="names") from None
        if sorted(by_id) != list(range(len(by_id))):
            raise LabelError(f"ids must be exactly 0..{len(by_id) - 1}, got {sorted(by_id)[:20]}", file=file,
                             field="names")
        names = [by_id[i] for i in range(len(by_id))]
    if not isinstance(names, list) or not names or not all(isinstance(n, str) and n for n in names):
        raise LabelError(f"expected a list or {{id: name}} of non-empty names, got {names!r}"[:300], file=file,
                         field="names")
    return list(names)

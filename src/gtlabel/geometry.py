"""Pure box math for Ground Truth pixel boxes and YOLO rows. No I/O.

Frames: Ground Truth boxes are ``(left, top, width, height)`` in pixels from the top-left corner of the image
*as the worker saw it* (the browser applies EXIF orientation). YOLO rows are ``class xc yc w h`` normalized
by the image size Ultralytics measures, which is the EXIF-corrected size (``ultralytics.data.utils.exif_size``
swaps width and height for orientations 5..8). :func:`label_frame_size` picks the size to normalize by.

Rows are formatted with a fixed precision (:data:`PRECISION` decimals) so that a rerun gives the same bytes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = [
    "EXIF_ORIENTATION_TAG",
    "PIXEL_DECIMALS",
    "PRECISION",
    "ROW_FORMAT",
    "Box",
    "clip_box",
    "displayed_size",
    "format_row",
    "from_yolo",
    "iou",
    "label_frame_size",
    "pixel",
    "stored_rect",
    "swaps_axes",
    "to_yolo",
]

EXIF_ORIENTATION_TAG = 0x0112  # 274
PRECISION = 6
#: one YOLO row: class id and the normalized box, :data:`PRECISION` decimals
ROW_FORMAT = "%d %.6f %.6f %.6f %.6f"
#: pixel coordinates written to other formats (COCO, VOC, imported manifests) are rounded to this many decimals
PIXEL_DECIMALS = 3


@dataclass(frozen=True, slots=True)
class Box:
    """A pixel box: left, top, width, height."""

    left: float
    top: float
    width: float
    height: float

    @property
    def right(self) -> float:
        return self.left + self.width

    @property
    def bottom(self) -> float:
        return self.top + self.height

    @property
    def area(self) -> float:
        return max(0.0, self.width) * max(0.0, self.height)


def clip_box(left: float, top: float, width: float, height: float,
             img_w: float, img_h: float) -> tuple[float, float, float, float] | None:
    """Clip a pixel box to ``[0, img_w] x [0, img_h]``; ``None`` when nothing of it is left (zero area).

    A box inside the image comes back as it is (no arithmetic on it). A negative width or height counts as an
    empty box (callers that treat it as an error check first).
    """
    if left >= 0.0 and top >= 0.0 and left + width <= img_w and top + height <= img_h:
        return (left, top, width, height) if width > 0.0 and height > 0.0 else None
    x0 = left if left > 0.0 else 0.0
    y0 = top if top > 0.0 else 0.0
    x1 = left + width
    y1 = top + height
    if x1 > img_w:
        x1 = img_w
    if y1 > img_h:
        y1 = img_h
    if x1 <= x0 or y1 <= y0:
        return None
    return x0, y0, x1 - x0, y1 - y0


def to_yolo(left: float, top: float, width: float, height: float,
            img_w: float, img_h: float) -> tuple[float, float, float, float]:
    """Pixel ``(left, top, width, height)`` -> normalized ``(xc, yc, w, h)``."""
    return (left + width / 2.0) / img_w, (top + height / 2.0) / img_h, width / img_w, height / img_h


def from_yolo(xc: float, yc: float, w: float, h: float,
              img_w: float, img_h: float) -> tuple[float, float, float, float]:
    """Normalized ``(xc, yc, w, h)`` -> pixel ``(left, top, width, height)``."""
    bw, bh = w * img_w, h * img_h
    return xc * img_w - bw / 2.0, yc * img_h - bh / 2.0, bw, bh


def iou(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> float:
    """Intersection over union of two ``(left, top, width, height)`` boxes (0.0 when both are empty)."""
    ax1, ay1 = a[0] + a[2], a[1] + a[3]
    bx1, by1 = b[0] + b[2], b[1] + b[3]
    iw = min(ax1, bx1) - max(a[0], b[0])
    ih = min(ay1, by1) - max(a[1], b[1])
    if iw <= 0 or ih <= 0:
        return 0.0
    inter = iw * ih
    union = max(0.0, a[2]) * max(0.0, a[3]) + max(0.0, b[2]) * max(0.0, b[3]) - inter
    return min(1.0, inter / union) if union > 0 else 0.0


def swaps_axes(orientation: int | None) -> bool:
    """EXIF orientations 5..8 are transposed/rotated by 90 degrees: width and height swap when displayed."""
    return orientation in (5, 6, 7, 8)


def displayed_size(width: int, height: int, orientation: int | None) -> tuple[int, int]:
    """The (width, height) a browser (and Ultralytics' ``exif_size``) shows for a stored image."""
    return (height, width) if swaps_axes(orientation) else (width, height)


def stored_rect(rect: tuple[int, int, int, int], orientation: int | None,
                stored: tuple[int, int]) -> tuple[int, int, int, int]:
    """Where the displayed rectangle ``rect`` = ``(left, top, right, bottom)`` lies in the *stored* image of
    size ``stored`` = (width, height) with EXIF ``orientation``, as ``(left, top, right, bottom)``: cropping it
    there and turning the crop as the orientation says gives exactly the pixels of ``rect`` in the turned frame
    (the transposes are pixel permutations), without turning the whole frame."""
    left, top, right, bottom = rect
    w, h = stored
    match orientation:
        case 2:  # mirrored left-right
            return w - right, top, w - left, bottom
        case 3:  # turned 180
            return w - right, h - bottom, w - left, h - top
        case 4:  # mirrored top-bottom
            return left, h - bottom, right, h - top
        case 5:  # transposed: displayed (x, y) is stored (y, x)
            return top, left, bottom, right
        case 6:  # turned 90 clockwise when displayed: displayed (x, y) is stored (y, h - 1 - x)
            return top, h - right, bottom, h - left
        case 7:  # transversed: displayed (x, y) is stored (w - 1 - y, h - 1 - x)
            return w - bottom, h - right, w - top, h - left
        case 8:  # turned 90 counter-clockwise when displayed: displayed (x, y) is stored (w - 1 - y, x)
            return w - bottom, left, w - top, right
        case _:
            return rect


def label_frame_size(reported: tuple[int, int], stored: tuple[int, int] | None,
                     orientation: int | None) -> tuple[tuple[int, int], str]:
    """The size to normalize a record's boxes by, and why.

    ``reported`` is the manifest's ``image_size`` (width, height); ``stored`` the raw pixel size of the image
    file when it was read (``None`` when not). Boxes are in the displayed frame, which is what Ultralytics
    uses for labels, so:

    - image not read, or no rotation: the reported size (``"reported"``);
    - reported == displayed size: nothing to fix (``"displayed"``);
    - reported == raw stored size of a 90-degree-rotated image: use the displayed size (``"rotated"``);
    - anything else (the image was resized after labeling): the reported size (``"mismatch"``).
    """
    if stored is None:
        return reported, "reported"
    shown = displayed_size(stored[0], stored[1], orientation)
    if reported == shown:
        return shown, "displayed"
    if swaps_axes(orientation) and reported == stored:
        return shown, "rotated"
    return reported, "mismatch"


def format_row(class_id: int, xc: float, yc: float, w: float, h: float) -> str:
    """One YOLO row, ``%.6f``; values are rounded to the fixed precision so reruns give the same bytes."""
    return ROW_FORMAT % (class_id, xc, yc, w, h)


def is_finite(*values: float) -> bool:
    return all(math.isfinite(v) for v in values)


def pixel(v: float) -> float | int:
    """A pixel coordinate as written to a file: rounded to :data:`PIXEL_DECIMALS`, an ``int`` when whole (so a
    rerun gives the same bytes and integer boxes stay integers)."""
    if type(v) is int:
        return v
    if type(v) is not float:
        v = float(v)
    if v.is_integer():  # most boxes of other tools' files: no rounding to do
        return int(v)
    r = round(v, PIXEL_DECIMALS)
    return int(r) if r.is_integer() else r

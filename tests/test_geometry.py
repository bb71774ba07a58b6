"""gtlabel.geometry: clip, normalize, IoU, EXIF sizes (hypothesis properties + worked examples)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, ImageOps

from gtlabel.geometry import (
    EXIF_ORIENTATION_TAG,
    clip_box,
    displayed_size,
    format_row,
    from_yolo,
    iou,
    label_frame_size,
    pixel,
    stored_rect,
    swaps_axes,
    to_yolo,
)

sizes = st.integers(min_value=1, max_value=20_000)
coords = st.floats(min_value=-5_000, max_value=25_000, allow_nan=False, allow_infinity=False)
extents = st.floats(min_value=0, max_value=25_000, allow_nan=False, allow_infinity=False)


@given(coords, coords, extents, extents, sizes, sizes)
@settings(max_examples=300)
def test_clip_is_inside_the_image_and_never_grows(left: float, top: float, w: float, h: float,
                                                   iw: int, ih: int) -> None:
    out = clip_box(left, top, w, h, iw, ih)
    if out is None:
        # nothing of the box is inside the image
        assert min(left + w, iw) <= max(left, 0) or min(top + h, ih) <= max(top, 0)
        return
    x, y, cw, ch = out
    assert cw > 0 and ch > 0
    assert x >= 0 and y >= 0
    assert x + cw <= iw * (1 + 1e-12) and y + ch <= ih * (1 + 1e-12)
    assert cw <= w + 1e-9 and ch <= h + 1e-9


@given(coords, coords, extents, extents, sizes, sizes)
@settings(max_examples=300)
def test_clipped_boxes_normalize_into_unit_range(left: float, top: float, w: float, h: float,
                                                  iw: int, ih: int) -> None:
    out = clip_box(left, top, w, h, iw, ih)
    if out is None:
        return
    xc, yc, nw, nh = to_yolo(*out, iw, ih)
    for v in (xc, yc, nw, nh):
        assert -1e-12 <= v <= 1 + 1e-12
    # the formatted row is what Ultralytics reads: 5 columns, all within [0, 1]
    cols = format_row(3, xc, yc, nw, nh).split()
    assert len(cols) == 5 and cols[0] == "3"
    assert all(0.0 <= float(c) <= 1.0 for c in cols[1:])


@given(st.floats(0, 1e4), st.floats(0, 1e4), st.floats(0, 1e4), st.floats(0, 1e4), sizes, sizes)
@settings(max_examples=300)
def test_normalize_denormalize_round_trip(left: float, top: float, w: float, h: float, iw: int, ih: int) -> None:
    back = from_yolo(*to_yolo(left, top, w, h, iw, ih), iw, ih)
    for a, b in zip(back, (left, top, w, h), strict=True):
        assert math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-6)


@given(st.floats(0, 1), st.floats(0, 1), st.floats(0, 1), st.floats(0, 1), sizes, sizes)
def test_formatted_round_trip_is_within_half_a_unit_of_precision(xc: float, yc: float, w: float, h: float,
                                                                 iw: int, ih: int) -> None:
    cols = [float(c) for c in format_row(0, xc, yc, w, h).split()[1:]]
    for got, want in zip(cols, (xc, yc, w, h), strict=True):
        assert abs(got - want) <= 5e-7 + 1e-12


def test_to_yolo_worked_example_from_the_ground_truth_docs() -> None:
    # ground-truth.md 3.2: image 500x400, box left 111 top 134 width 61 height 128
    xc, yc, w, h = to_yolo(111, 134, 61, 128, 500, 400)
    assert format_row(0, xc, yc, w, h) == "0 0.283000 0.495000 0.122000 0.320000"


def test_clip_examples() -> None:
    assert clip_box(-10, -10, 30, 30, 100, 100) == (0, 0, 20, 20)
    assert clip_box(90, 90, 30, 30, 100, 100) == (90, 90, 10, 10)
    assert clip_box(100, 10, 5, 5, 100, 100) is None  # starts at the right edge: zero area
    assert clip_box(10, 10, 0, 5, 100, 100) is None
    assert clip_box(10, 10, -3, 5, 100, 100) is None


def test_iou() -> None:
    assert iou((0, 0, 10, 10), (0, 0, 10, 10)) == 1.0
    assert iou((0, 0, 10, 10), (10, 0, 10, 10)) == 0.0
    assert iou((0, 0, 10, 10), (5, 0, 10, 10)) == pytest.approx(50 / 150)
    assert iou((0, 0, 0, 0), (0, 0, 0, 0)) == 0.0


@given(st.tuples(coords, coords, extents, extents), st.tuples(coords, coords, extents, extents))
def test_iou_is_symmetric_and_bounded(a: tuple[float, float, float, float],
                                      b: tuple[float, float, float, float]) -> None:
    v = iou(a, b)
    assert 0.0 <= v <= 1.0 + 1e-12
    assert math.isclose(v, iou(b, a), abs_tol=1e-12)


def test_exif_orientation_sizes() -> None:
    assert [swaps_axes(o) for o in (None, 1, 2, 3, 4, 5, 6, 7, 8)] == [False] * 5 + [True] * 4
    assert displayed_size(4000, 3000, 6) == (3000, 4000)
    assert displayed_size(4000, 3000, 3) == (4000, 3000)
    # GT image_size equal to the raw stored size of a rotated JPEG -> normalize by the displayed size
    assert label_frame_size((4000, 3000), (4000, 3000), 6) == ((3000, 4000), "rotated")
    assert label_frame_size((3000, 4000), (4000, 3000), 8) == ((3000, 4000), "displayed")
    assert label_frame_size((640, 480), (640, 480), 1) == ((640, 480), "displayed")
    assert label_frame_size((640, 480), None, None) == ((640, 480), "reported")
    assert label_frame_size((320, 240), (640, 480), 1) == ((320, 240), "mismatch")


@settings(max_examples=60)
@given(st.integers(1, 8), st.integers(1, 9), st.integers(1, 9), st.data())
def test_a_displayed_rect_crops_the_same_pixels_from_the_stored_image(orientation: int, w: int, h: int,
                                                                      data: st.DataObject) -> None:
    # cropping stored_rect and turning the crop == turning the whole frame and cropping the displayed rect
    stored = Image.frombytes("L", (w, h), bytes(range(w * h)))  # every pixel different (w * h <= 81)
    exif = Image.Exif()
    exif[EXIF_ORIENTATION_TAG] = orientation
    stored.info["exif"] = exif.tobytes()
    shown = ImageOps.exif_transpose(stored)
    assert shown.size == displayed_size(w, h, orientation)
    left = data.draw(st.integers(0, shown.size[0] - 1))
    top = data.draw(st.integers(0, shown.size[1] - 1))
    rect = (left, top, data.draw(st.integers(left + 1, shown.size[0])), data.draw(st.integers(top + 1, shown.size[1])))
    method = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180, 4: Image.Transpose.FLIP_TOP_BOTTOM,
              5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE,
              8: Image.Transpose.ROTATE_90}.get(orientation)
    piece = stored.crop(stored_rect(rect, orientation, (w, h)))
    if method is not None:
        piece = piece.transpose(method)
    assert piece.tobytes() == shown.crop(rect).tobytes()


@given(st.one_of(st.floats(allow_nan=False), st.integers(-10**6, 10**6),
                 st.integers(-10**6, 10**6).map(lambda i: i / 1000), st.integers(-10**9, 10**9).map(float)))
def test_pixel_rounds_to_three_decimals_and_whole_values_to_int(v: float) -> None:
    """pixel: round(v, 3), an int when whole (its shortcut for whole floats gives the same value and type)."""
    r = round(float(v), 3)
    want = int(r) if r.is_integer() else r
    got = pixel(v)
    assert got == want and type(got) is type(want)

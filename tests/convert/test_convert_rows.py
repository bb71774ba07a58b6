"""gtlabel.convert.rows: the converter's fast row path against gtlabel.geometry and Ultralytics' rules
(hypothesis properties over any boxes: inside, crossing or outside the image, zero-sized, repeated)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from gtlabel.convert.report import ConversionReport
from gtlabel.convert.rows import RowContext, boxes_for, rows_for
from gtlabel.formats.ground_truth import OutputBox, OutputRecord
from gtlabel.formats.yolo import MIN_NORMALIZED_SIZE, check_label_text
from gtlabel.geometry import clip_box, format_row, to_yolo

GT_ORDER = ["drone", "vehicle", "person", "building"]  # the job's class_id order (the line's class-map)
NAMES = ["building", "person", "vehicle", "drone"]  # the dataset's: another order, so ids are mapped

_coord = st.floats(-5000, 9000, allow_nan=False, allow_infinity=False)
_extent = st.floats(0, 9000, allow_nan=False, allow_infinity=False)
_box = st.tuples(st.integers(0, 3), _coord, _coord, _extent, _extent)
# GT's own answers are whole pixels, often on the image's edge: integers near 0 and the frame size
_int_box = st.tuples(st.integers(0, 3), st.integers(-50, 8050), st.integers(-50, 8050), st.integers(0, 8050),
                     st.integers(0, 8050))


def record(fw: int, fh: int, boxes: list[tuple[int, float, float, float, float]]) -> OutputRecord:
    return OutputRecord(file="m", line=1, source_ref="s3://b/a.jpg", label_attribute="b", image_size=(fw, fh, 3),
                        boxes=[OutputBox(c, x, y, w, h, None) for c, x, y, w, h in boxes],
                        class_map=dict(enumerate(GT_ORDER)), human_annotated=True, failure_reason=None,
                        adjustment_status=None, job_name=None, creation_date=None, extra={})


def geometry_rows(rec: OutputRecord, fw: int, fh: int) -> tuple[list[str], list[int], int, int]:
    """The rows by the book: geometry's clip, normalization and row format for every box; the converter's
    documented rules (a size that rounds to 0 is zero-area, an exact repeat is a duplicate)."""
    rows: list[str] = []
    classes: list[int] = []
    zero_area = duplicate = 0
    for b in rec.boxes:
        gid = NAMES.index(rec.class_map[b.class_id])
        box = clip_box(b.left, b.top, b.width, b.height, fw, fh)
        if box is None:
            zero_area += 1
            continue
        xc, yc, nw, nh = to_yolo(*box, fw, fh)
        if nw < MIN_NORMALIZED_SIZE or nh < MIN_NORMALIZED_SIZE:
            zero_area += 1
            continue
        row = format_row(gid, xc, yc, nw, nh)
        if row in rows:
            duplicate += 1
            continue
        rows.append(row)
        classes.append(gid)
    return rows, classes, zero_area, duplicate


def fast_rows(rec: OutputRecord, fw: int, fh: int) -> tuple[list[str], list[int], ConversionReport]:
    ctx = RowContext("m", NAMES, report=ConversionReport("m", "o"))
    rows, classes = rows_for(rec, (fw, fh), ctx)
    return rows, classes, ctx.report


@settings(max_examples=400, deadline=None)
@given(st.integers(10, 8000), st.integers(10, 8000), st.lists(st.one_of(_box, _int_box), max_size=12),
       st.data())
def test_the_fast_row_path_gives_geometrys_rows(fw: int, fh: int, boxes: list[tuple[int, float, float, float, float]],
                                                data: st.DataObject) -> None:
    if boxes:  # repeat some boxes exactly (duplicates) and put some on the image's edges
        boxes += data.draw(st.lists(st.sampled_from(boxes), max_size=3))
        boxes.append((0, 0, 0, fw, fh))
    rec = record(fw, fh, boxes)
    rows, classes, rep = fast_rows(rec, fw, fh)
    want_rows, want_classes, zero_area, duplicate = geometry_rows(rec, fw, fh)
    assert rows == want_rows and classes == want_classes
    assert (rep.boxes_zero_area, rep.boxes_duplicate) == (zero_area, duplicate)
    assert rep.boxes_in == len(boxes)


@settings(max_examples=200, deadline=None)
@given(st.integers(10, 8000), st.integers(10, 8000), st.lists(st.one_of(_box, _int_box), max_size=12))
def test_boxes_for_gives_the_rows_boxes_in_pixels(fw: int, fh: int,
                                                  boxes: list[tuple[int, float, float, float, float]]) -> None:
    """The tiler's input (pixel boxes, classes mapped, clipped to the frame) is what rows_for normalizes: the same
    boxes, the same counts (rows_for also drops sizes that round to 0 and exact repeats, counted as it says)."""
    rec = record(fw, fh, boxes)
    ctx = RowContext("m", NAMES, report=ConversionReport("m", "o"))
    pixel = boxes_for(rec, (fw, fh), ctx)
    rows, classes, rep = fast_rows(rec, fw, fh)
    kept = [(format_row(g, *to_yolo(x, y, w, h, fw, fh)), g) for g, x, y, w, h in pixel
            if w / fw >= MIN_NORMALIZED_SIZE and h / fh >= MIN_NORMALIZED_SIZE]
    first: dict[str, int] = {}
    for row, g in kept:
        first.setdefault(row, g)
    assert list(first) == rows and list(first.values()) == classes
    eps = 1e-9 * max(fw, fh)  # a clipped box's left + width is the edge up to rounding
    assert all(x >= 0 and y >= 0 and x + w <= fw + eps and y + h <= fh + eps and w > 0 and h > 0
               for _g, x, y, w, h in pixel)
    assert ctx.report.boxes_in == rep.boxes_in and ctx.report.boxes_clipped == rep.boxes_clipped
    assert ctx.report.boxes_zero_area == rep.boxes_zero_area - (len(pixel) - len(kept))


@settings(max_examples=300, deadline=None)
@given(st.integers(10, 8000), st.integers(10, 8000), st.lists(_box, max_size=12))
def test_every_row_the_converter_writes_passes_ultralytics_rules(fw: int, fh: int,
                                                                 boxes: list[tuple[int, float, float, float, float]]
                                                                 ) -> None:
    """The pre-flight guarantee, by construction: whatever boxes a manifest holds (outside the image, huge,
    zero-sized), the rows written are 5 columns, class < nc, coordinates in [0, 1]: Ultralytics drops nothing."""
    rows, classes, rep = fast_rows(record(fw, fh, boxes), fw, fh)
    assert check_label_text("\n".join(rows) + "\n", len(NAMES)) == []
    assert len(rows) == len(classes) == len(set(rows))
    assert rep.boxes_in == len(boxes) == len(rows) + rep.boxes_zero_area + rep.boxes_duplicate


def test_worked_example_clipped_mapped_and_deduplicated() -> None:
    rec = record(100, 50, [(0, -10, -5, 30, 20), (3, 10, 10, 20, 10), (3, 10, 10, 20, 10), (1, 120, 10, 5, 5)])
    rows, classes, rep = fast_rows(rec, 100, 50)
    # drone (dataset id 3) clipped to (0, 0, 20, 15); building (id 0) kept once; the vehicle lies outside
    assert rows == ["3 0.100000 0.150000 0.200000 0.300000", "0 0.200000 0.300000 0.200000 0.200000"]
    assert classes == [3, 0]
    assert (rep.boxes_clipped, rep.boxes_duplicate, rep.boxes_zero_area) == (1, 1, 1)

"""gtlabel.tiling: the tile grid (equal to SAHI's), clipping by visibility, tile <-> frame coordinates."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gtlabel.errors import ConfigError
from gtlabel.tiling import (
    JPEG_QUALITY,
    Tile,
    TileSpec,
    clip_to_tile,
    cut_boxes,
    fit_size,
    keeps_empty,
    tile_grid,
    to_frame,
    to_tile,
    visibility,
)

sizes = st.integers(min_value=1, max_value=5000)
tile_sides = st.integers(min_value=1, max_value=1500)
overlaps = st.floats(min_value=0.0, max_value=0.95, allow_nan=False)


@st.composite
def frame_and_tiles(draw: st.DrawFn) -> tuple[int, int, int, int, float]:
    tw, th = draw(tile_sides), draw(tile_sides)
    ov = draw(overlaps)
    # keep the tile count small: the frame is at most ~8 tile strides long on each axis
    w = draw(st.integers(min_value=1, max_value=max(1, tw * 8)))
    h = draw(st.integers(min_value=1, max_value=max(1, th * 8)))
    return w, h, tw, th, ov


@st.composite
def boxes_in(draw: st.DrawFn, w: int, h: int) -> tuple[float, float, float, float]:
    left = draw(st.floats(min_value=-50.0, max_value=w + 10.0, allow_nan=False))
    top = draw(st.floats(min_value=-50.0, max_value=h + 10.0, allow_nan=False))
    bw = draw(st.floats(min_value=0.5, max_value=max(1.0, w / 2), allow_nan=False))
    bh = draw(st.floats(min_value=0.5, max_value=max(1.0, h / 2), allow_nan=False))
    return left, top, bw, bh


@given(frame_and_tiles())
def test_grid_equals_sahi(case: tuple[int, int, int, int, float]) -> None:
    from sahi.slicing import get_slice_bboxes

    w, h, tw, th, ov = case
    theirs = get_slice_bboxes(image_height=h, image_width=w, slice_height=th, slice_width=tw,
                              overlap_height_ratio=ov, overlap_width_ratio=ov)
    assert [list(t.box) for t in tile_grid(w, h, tw, th, ov)] == theirs


@pytest.mark.parametrize(("w", "h", "tile", "ov"), [(4000, 3000, 1024, 0.2), (1920, 1080, 640, 0.25),
                                                     (4000, 3000, 640, 0.0), (100, 100, 30, 0.5)])
def test_grid_equals_sahi_at_drone_sizes(w: int, h: int, tile: int, ov: float) -> None:
    from sahi.slicing import get_slice_bboxes

    theirs = get_slice_bboxes(image_height=h, image_width=w, slice_height=tile, slice_width=tile,
                              overlap_height_ratio=ov, overlap_width_ratio=ov)
    assert [list(t.box) for t in TileSpec(tile, overlap=ov).grid(w, h)] == theirs


@given(frame_and_tiles())
def test_tiles_cover_the_frame_and_are_full_size(case: tuple[int, int, int, int, float]) -> None:
    w, h, tw, th, ov = case
    tiles = tile_grid(w, h, tw, th, ov)
    for t in tiles:
        assert t.left >= 0 and t.top >= 0 and t.right <= w and t.bottom <= h
        assert (t.width, t.height) == (min(tw, w), min(th, h))  # never smaller than the tile (or the frame)
    # covering: the grid is a product of axis intervals; each axis is covered without gaps
    for extent, starts in ((w, sorted({(t.left, t.right) for t in tiles})),
                           (h, sorted({(t.top, t.bottom) for t in tiles}))):
        reach = 0
        for lo, hi in starts:
            assert lo <= reach  # no gap
            reach = max(reach, hi)
        assert reach == extent
    assert len(tiles) == len({t.box for t in tiles})  # no tile twice


def test_frame_smaller_than_tile_is_one_whole_tile() -> None:
    assert tile_grid(500, 300, 1024, 1024, 0.2) == [Tile(0, 0, 500, 300)]
    # only one axis short: tiles span that axis, full size along the other
    assert tile_grid(2000, 300, 1024, 1024, 0.2) == [Tile(0, 0, 1024, 300), Tile(820, 0, 1024, 300),
                                                     Tile(976, 0, 1024, 300)]


@given(frame_and_tiles(), st.data(), st.floats(min_value=0.01, max_value=1.0))
def test_kept_boxes_lie_inside_their_tile_and_follow_the_visibility_rule(
        case: tuple[int, int, int, int, float], data: st.DataObject, min_vis: float) -> None:
    w, h, tw, th, ov = case
    tiles = tile_grid(w, h, tw, th, ov)
    tile = tiles[data.draw(st.integers(min_value=0, max_value=len(tiles) - 1))]
    box = data.draw(boxes_in(w, h))
    vis = visibility(box, tile)
    clipped = clip_to_tile(box, tile, min_vis)
    if clipped is None:
        assert vis < min_vis or vis == 0.0
        return
    assert vis >= min_vis and vis > 0.0
    left, top, cw, ch = clipped
    eps = 1e-9 * (1 + max(w, h))
    assert -eps <= left and -eps <= top and left + cw <= tile.width + eps and top + ch <= tile.height + eps
    assert cw > 0 and ch > 0
    # the clipped area is the visible share of the original
    assert math.isclose(cw * ch, vis * box[2] * box[3], rel_tol=1e-6, abs_tol=1e-9)
    # back in the frame, the clipped box lies inside the original box
    fl, ft, fw, fh = to_frame(clipped, tile)
    assert fl >= box[0] - eps and ft >= box[1] - eps
    assert fl + fw <= box[0] + box[2] + eps and ft + fh <= box[1] + box[3] + eps


@given(frame_and_tiles(), st.data())
def test_round_trip_tile_frame(case: tuple[int, int, int, int, float], data: st.DataObject) -> None:
    w, h, tw, th, ov = case
    tiles = tile_grid(w, h, tw, th, ov)
    tile = tiles[data.draw(st.integers(min_value=0, max_value=len(tiles) - 1))]
    box = data.draw(boxes_in(w, h))
    back = to_frame(to_tile(box, tile), tile)
    assert all(math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-9) for a, b in zip(back, box, strict=True))
    # a box wholly inside the tile keeps its exact size and comes back exactly
    inner = (tile.left + 0.25, tile.top + 0.5, tile.width / 2, tile.height / 2)
    clipped = clip_to_tile(inner, tile, 1.0)
    assert clipped is not None and clipped[2:] == inner[2:]
    assert to_frame(clipped, tile) == inner


@given(st.lists(st.tuples(st.integers(0, 190), st.integers(0, 190), st.integers(1, 60), st.integers(1, 60)),
                max_size=12),
       st.floats(min_value=0.05, max_value=1.0))
def test_box_counts_equal_sahis_annotation_slicing(int_boxes: list[tuple[int, int, int, int]],
                                                   min_vis: float) -> None:
    """Whole-pixel boxes (what Ground Truth answers hold): the same boxes kept as SAHI's ``slice_coco`` keeps.

    SAHI rounds a clipped box's polygon to whole pixels before it compares areas, so for fractional boxes it
    can differ from our exact areas by that rounding; with whole pixels both are exact."""
    from sahi.slicing import process_coco_annotations
    from sahi.utils.coco import CocoAnnotation

    boxes = [(float(a), float(b), float(c), float(d)) for a, b, c, d in int_boxes]
    tiles = tile_grid(200, 150, 64, 48, 0.2)
    anns = [CocoAnnotation(bbox=list(b), category_id=0, category_name="c") for b in boxes]
    for tile in tiles:
        ours = cut_boxes(boxes, tile, min_vis)
        theirs = process_coco_annotations(anns, list(tile.box), min_vis)
        assert len(ours.kept) == len(theirs)
        touching = sum(visibility(b, tile) > 0 for b in boxes)
        assert len(ours.kept) + ours.slivers == touching
        assert ours.cut <= len(ours.kept)


def test_cut_boxes_counts() -> None:
    tile = Tile(100, 100, 100, 100)
    boxes = [(120.0, 120.0, 10.0, 10.0),   # inside
             (190.0, 120.0, 20.0, 10.0),   # half inside: cut, kept at 0.3
             (198.0, 120.0, 10.0, 10.0),   # 20 % inside: a sliver
             (300.0, 300.0, 5.0, 5.0)]     # elsewhere: not counted
    got = cut_boxes(boxes, tile, 0.3)
    assert [i for i, _ in got.kept] == [0, 1]
    assert got.kept[0][1] == (20.0, 20.0, 10.0, 10.0)
    assert got.kept[1][1] == (90.0, 20.0, 10.0, 10.0)
    assert (got.cut, got.slivers) == (1, 1)


def test_keeps_empty_is_seeded_and_keeps_about_the_share() -> None:
    tiles = tile_grid(20000, 20000, 100, 100, 0.0)[:4000]
    kept = [keeps_empty(0.1, 7, "s3://b/frame.jpg", t) for t in tiles]
    assert kept == [keeps_empty(0.1, 7, "s3://b/frame.jpg", t) for t in tiles]  # same draw every time
    assert 0.08 < sum(kept) / len(kept) < 0.12  # fixed inputs: a fixed count, checked once
    assert kept != [keeps_empty(0.1, 8, "s3://b/frame.jpg", t) for t in tiles]  # the seed matters
    assert all(keeps_empty(1.0, 0, "f", t) for t in tiles[:50])
    assert not any(keeps_empty(0.0, 0, "f", t) for t in tiles[:50])


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"size": 0}, "tile.size"), ({"size": (640,)}, "tile.size"), ({"size": 64.5}, "tile.size"),
    ({"overlap": 1.0}, "tile.overlap"), ({"overlap": -0.1}, "tile.overlap"), ({"overlap": "x"}, "tile.overlap"),
    ({"min_visibility": 0.0}, "tile.min_visibility"), ({"min_visibility": 1.5}, "tile.min_visibility"),
    ({"keep_empty": 1.01}, "tile.keep_empty"), ({"with_frames": 1}, "tile.with_frames"),
    ({"seed": 1.5}, "tile.seed"), ({"jpeg_quality": 0}, "tile.jpeg_quality"),
    ({"jpeg_quality": 101}, "tile.jpeg_quality"), ({"jpeg_quality": 90.0}, "tile.jpeg_quality"),
])
def test_tile_spec_rejects_bad_values_naming_the_field(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(ConfigError, match=field.replace(".", r"\.")):
        TileSpec(**kwargs)  # type: ignore[arg-type]


def test_tile_spec_settings_and_sizes() -> None:
    spec = TileSpec((800, 600), overlap=0.25, min_visibility=0.5, keep_empty=0.0, with_frames=True, seed=3)
    assert spec.tile_size == (800, 600)
    assert spec.settings() == {"size": [800, 600], "overlap": 0.25, "min_visibility": 0.5, "keep_empty": 0.0,
                               "with_frames": True, "seed": 3}
    assert TileSpec(1024).tile_size == (1024, 1024)
    # the JPEG quality is in the settings (and the version id) only when it is not the default
    assert "jpeg_quality" not in TileSpec(1024, jpeg_quality=JPEG_QUALITY).settings()
    assert TileSpec(1024, jpeg_quality=75).settings()["jpeg_quality"] == 75
    with pytest.raises(ConfigError, match="overlap"):
        tile_grid(100, 100, 10, 10, 1.0)
    with pytest.raises(ConfigError, match="at least 1 pixel"):
        tile_grid(0, 100, 10, 10, 0.2)


def test_fit_size_downscales_only() -> None:
    assert fit_size(4000, 3000, 1024, 1024) == (1024, 768)
    assert fit_size(3000, 4000, 1024, 1024) == (768, 1024)
    assert fit_size(500, 300, 1024, 1024) == (500, 300)


def test_parse_size_is_the_one_reader_of_a_typed_size() -> None:
    from gtlabel.tiling import parse_size

    assert parse_size("640", "--slice") == (640, 640)
    assert parse_size(" 640x480 ", "--tile") == (640, 480)
    assert parse_size("1024*768", "--tile") == (1024, 768)
    for bad in ("", "x", "640x480x2", "abc", "0", "-5x5", "6.4"):
        with pytest.raises(ConfigError, match=r"--slice: expected a size in pixels"):
            parse_size(bad, "--slice")

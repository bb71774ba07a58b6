"""gtlabel.convert with ``tile=TileSpec(...)``: golden tiles, pixels cut from the upright frame, split
inheritance, lineage and version, whole frames, reruns, bad input (local files; S3 in test_tiles_s3.py)."""

from __future__ import annotations

import io
import os
import re
from collections import defaultdict
from pathlib import Path

import orjson
import pytest
from convert_helpers import gt_line, make_image, tree_bytes, write_manifest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, ImageOps

from gtlabel import TileSpec
from gtlabel.convert import convert_ground_truth_to_yolo, preflight_dataset, split_for
from gtlabel.convert.tiles import PIL_BLOCKS_PER_THREAD, Tiler
from gtlabel.errors import ConfigError, LabelError
from gtlabel.lineage import load as load_lineage
from gtlabel.lineage.verify import verify
from gtlabel.tiling import tile_grid

GOLDEN = Path(__file__).parent / "golden" / "tiles_basic"
NAMES = ["drone", "vehicle", "person", "building"]


def pattern_png(path: Path, size: tuple[int, int]) -> Path:
    """A PNG whose every pixel is different (x, y, x^y): a crop shows exactly where it came from."""
    w, h = size
    img = Image.new("RGB", size)
    img.putdata([(x % 256, y % 256, (x * 7 + y * 13) % 256) for y in range(h) for x in range(w)])
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path, "PNG")
    return path


def golden_scene(root: Path) -> str:
    """One 100x80 PNG frame, tiles of 50 with 20 % overlap (x at 0, 40, 50; y at 0, 30): boxes inside a tile,
    across tile edges (kept, or dropped as slivers), exactly at min_visibility, past the frame's edge (clipped
    first), and a duplicate."""
    pattern_png(root / "frame.png", (100, 80))
    boxes = [("vehicle", 10, 10, 20, 15),   # inside tile (0,0) only
             ("person", 48, 30, 10, 10),    # 20 % in tiles (0,*): slivers x2; inside (40,*); 80 % in (50,*): cut x2
             ("drone", 88, 70, 30, 20),     # clipped to 88..100 x 70..80: 2/12 in (40,30): a sliver; inside (50,30)
             ("building", 20, 47, 10, 10),  # exactly 30 % in (0,0): kept, cut; inside (0,30)
             ("vehicle", 10, 10, 20, 15)]   # a duplicate of the first
    return write_manifest(root / "output.manifest", [gt_line("frame.png", (100, 80), boxes)])


def _normalized(tree: dict[str, bytes], root: Path) -> dict[str, bytes]:
    out = {}
    for k, v in tree.items():
        if k.startswith("images/") or k == "lineage.json":
            continue
        out[k] = re.sub(rb"v-[0-9a-f]{16}", b"<VERSION>", v.replace(str(root).encode(), b"<ROOT>"))
    return out


def test_golden_tiles_of_a_small_frame(tmp_path: Path) -> None:
    manifest = golden_scene(tmp_path)
    spec = TileSpec(50, overlap=0.2, min_visibility=0.3, keep_empty=1.0)
    rep = convert_ground_truth_to_yolo(manifest, tmp_path / "ds", NAMES, splits=(1, 0, 0), tile=spec, progress=False)
    got = _normalized(tree_bytes(tmp_path / "ds"), tmp_path)
    if os.environ.get("GTLABEL_UPDATE_GOLDEN"):
        for k, v in got.items():
            (GOLDEN / k).parent.mkdir(parents=True, exist_ok=True)
            (GOLDEN / k).write_bytes(v)
    want = {p.relative_to(GOLDEN).as_posix(): p.read_bytes() for p in sorted(GOLDEN.rglob("*")) if p.is_file()}
    assert got == want
    grid = tile_grid(100, 80, 50, 50, 0.2)
    assert [(t.left, t.top) for t in grid] == [(0, 0), (40, 0), (50, 0), (0, 30), (40, 30), (50, 30)]
    assert rep.frames_tiled == 1 and rep.tiles == 6 == rep.images
    assert rep.boxes_in == 5 and rep.boxes_clipped == 1  # the frame's own clipping, as without tiles
    # counted per tile: person cut in (50,0) and (50,30), building in (0,0); slivers: person in (0,0) and
    # (0,30), drone in (40,30)
    assert (rep.tile_boxes_cut, rep.tile_boxes_slivers) == (3, 3)
    assert rep.empty_tiles_kept == 0 and rep.boxes_duplicate == 1  # the duplicate, in the one tile it is in
    # every tile's pixels are exactly the frame's crop (PNG in, PNG out)
    frame = Image.open(tmp_path / "frame.png").convert("RGB")
    for t in grid:
        tile = Image.open(tmp_path / "ds" / "images" / "train" / f"frame-{_tag(tmp_path)}_{t.left}_{t.top}.png")
        assert tile.size == (50, 50)
        assert tile.convert("RGB").tobytes() == frame.crop(t.box).tobytes()
    assert preflight_dataset(tmp_path / "ds", len(NAMES)) == []


def _tag(root: Path) -> str:
    lin = load_lineage(root / "ds")
    return lin.images[0].name.split("-", 1)[1].split("_", 1)[0]


def test_exif_rotated_frames_are_tiled_upright(tmp_path: Path) -> None:
    # stored 60x100 with orientation 6 (rotate 90 clockwise to display): displayed 100x60; GT reports either
    raw = Image.new("RGB", (60, 100), (0, 0, 255))
    raw.paste((255, 0, 0), (0, 0, 60, 50))  # the stored top half red: displayed, the right half is red
    exif = Image.Exif()
    exif[0x0112] = 6
    buf = io.BytesIO()
    raw.save(buf, "JPEG", exif=exif, quality=100)
    (tmp_path / "rot.jpg").write_bytes(buf.getvalue())
    shown = ImageOps.exif_transpose(Image.open(tmp_path / "rot.jpg"))
    assert shown.size == (100, 60)
    # a box on the displayed right (red) half, image_size as the raw size (the case Ground Truth can report)
    m = write_manifest(tmp_path / "m.manifest", [gt_line("rot.jpg", (60, 100), [("drone", 70, 10, 20, 20)])])
    rep = convert_ground_truth_to_yolo(m, tmp_path / "ds", NAMES, splits=(1, 0, 0),
                                       tile=TileSpec(50, overlap=0.0, keep_empty=1.0), progress=False)
    assert rep.exif["rotated"] == 1 and rep.tiles == 4  # 100x60 upright: x 0,50; y 0,10
    lin = load_lineage(tmp_path / "ds")
    for r in lin.images:
        tile = r.raw["tile"]
        img = Image.open(tmp_path / "ds" / r.image)
        assert img.size == (50, 50) and img.getexif().get(0x0112) is None  # upright, no orientation left
        red = img.convert("RGB").getpixel((25, 25))[0] > 128
        assert red == (tile["left"] == 50), (r.image, img.convert("RGB").getpixel((25, 25)))
        label = (tmp_path / "ds" / r.label).read_text()
        assert bool(label) == (tile["left"] == 50)  # the box is on the right half only
        assert r.raw["frame"] == [100, 60]


def many_frames(root: Path, n: int = 24) -> str:
    lines = []
    for i in range(n):
        make_image(root / f"f{i}.jpg", (120, 90), color=i * 9)
        lines.append(gt_line(f"f{i}.jpg", (120, 90), [("vehicle", 5 + i, 5, 12, 10), ("person", 100, 70, 15, 15)]
                             if i % 4 else []))
    return write_manifest(root / "output.manifest", lines)


def test_tiles_inherit_their_frames_split_and_lineage_names_the_parent(tmp_path: Path) -> None:
    m = many_frames(tmp_path)
    spec = TileSpec(64, overlap=0.25, keep_empty=0.5, seed=3)
    rep = convert_ground_truth_to_yolo(m, tmp_path / "ds", NAMES, splits=(0.5, 0.3, 0.2), tile=spec, progress=False)
    lin = load_lineage(tmp_path / "ds")
    by_parent: dict[str, set[str]] = defaultdict(set)
    for r in lin.images:
        by_parent[r.source_ref].add(r.split)
        assert r.raw["tile"]["width"] == 64 and r.raw["tile"]["height"] == 64 and r.raw["frame"] == [120, 90]
        assert r.image.split("/")[1] == r.split == r.label.split("/")[1]
    assert all(len(s) == 1 for s in by_parent.values())  # no frame's tiles straddle splits
    assert {p: s.pop() for p, s in by_parent.items()} == \
        {p: split_for(p, (0.5, 0.3, 0.2), 0) for p in by_parent}  # the frame's own split, as untiled
    assert len({s for r in lin.images for s in [r.split]}) == 3
    assert rep.frames_tiled == 24 and rep.images == len(lin.images) == rep.tiles
    assert lin.settings["tile"] == spec.settings()
    doc = orjson.loads((tmp_path / "ds" / "conversion-report.json").read_bytes())
    assert doc["tiles"]["tiles"] == rep.tiles and doc["tiles"]["empty_tiles_dropped"] == rep.empty_tiles_dropped
    assert rep.empty_tiles_kept > 0 and rep.empty_tiles_dropped > 0  # keep_empty=0.5 kept some, not all
    assert verify(tmp_path / "ds").ok


@pytest.mark.parametrize("how", [{"stratify": True}, {"split_by": "prefix:1"}])
def test_tiles_follow_stratified_and_grouped_splits(tmp_path: Path, how: dict[str, object]) -> None:
    lines = []
    for i in range(16):
        make_image(tmp_path / f"site{i % 4}" / f"f{i}.jpg", (100, 80), color=i * 11)
        lines.append(gt_line(f"site{i % 4}/f{i}.jpg", (100, 80), [("vehicle" if i % 2 else "person", 5, 5, 30, 30)]))
    m = write_manifest(tmp_path / "output.manifest", lines)
    untiled = convert_ground_truth_to_yolo(m, tmp_path / "plain", NAMES, splits=(0.5, 0.25, 0.25), progress=False,
                                           **how)  # type: ignore[arg-type]
    convert_ground_truth_to_yolo(m, tmp_path / "ds", NAMES, splits=(0.5, 0.25, 0.25), progress=False,
                                 tile=TileSpec(48, keep_empty=1.0), **how)  # type: ignore[arg-type]
    frame_split = {r.source_ref: r.split for r in load_lineage(tmp_path / "plain").images}
    tiles = load_lineage(tmp_path / "ds").images
    assert {r.source_ref for r in tiles} == set(frame_split) and untiled.images == 16
    assert all(r.split == frame_split[r.source_ref] for r in tiles)  # each tile in its frame's (own) split


@settings(max_examples=6)
@given(st.integers(60, 200), st.integers(40, 160), st.integers(16, 90), st.sampled_from([0.0, 0.1, 0.25, 0.5]),
       st.floats(0.05, 1.0), st.data())
def test_converted_tiles_hold_the_geometry_properties(w: int, h: int, size: int, overlap: float, min_vis: float,
                                                      data: st.DataObject) -> None:
    """On real conversions: the tiles are SAHI's grid, every row lies inside its tile (normalized to [0, 1]), every
    tile is in its frame's split, and each row maps back into the frame inside its original box."""
    import tempfile

    boxes = data.draw(st.lists(st.tuples(st.sampled_from(NAMES), st.integers(-5, w), st.integers(-5, h),
                                         st.integers(1, 40), st.integers(1, 40)), max_size=6))
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        lines = []
        for i in range(3):
            make_image(root / f"f{i}.jpg", (w, h), color=i * 40)
            lines.append(gt_line(f"f{i}.jpg", (w, h), boxes))
        m = write_manifest(root / "output.manifest", lines)
        rep = convert_ground_truth_to_yolo(m, root / "ds", NAMES, progress=False, splits=(0.4, 0.3, 0.3),
                                           tile=TileSpec(size, overlap=overlap, min_visibility=min_vis,
                                                         keep_empty=1.0))
        grid = [(t.left, t.top, t.width, t.height) for t in tile_grid(w, h, size, size, overlap)]
        lin = load_lineage(root / "ds")
        for r in lin.images:
            t = r.raw["tile"]
            assert (t["left"], t["top"], t["width"], t["height"]) in grid
            assert r.split == split_for(r.source_ref, (0.4, 0.3, 0.3), 0)
            for row in (root / "ds" / r.label).read_text().splitlines():
                _c, xc, yc, bw, bh = (float(v) for v in row.split())
                assert xc - bw / 2 + 1e-6 >= 0 and xc + bw / 2 <= 1 + 1e-6
                assert yc - bh / 2 + 1e-6 >= 0 and yc + bh / 2 <= 1 + 1e-6
                left, top = t["left"] + (xc - bw / 2) * t["width"], t["top"] + (yc - bh / 2) * t["height"]
                right, bottom = left + bw * t["width"], top + bh * t["height"]
                assert any(bl - 1e-3 <= left and right <= bl + bw_ + 1e-3 and bt - 1e-3 <= top
                           and bottom <= bt + bh_ + 1e-3 for _n, bl, bt, bw_, bh_ in boxes)
        assert rep.tiles == 3 * len(grid) == len(lin.images)  # keep_empty=1.0: every tile of every frame


def test_rerun_same_bytes_and_version_covers_tiling(tmp_path: Path) -> None:
    m = many_frames(tmp_path, 8)
    spec = TileSpec(64, overlap=0.25, keep_empty=0.5)
    a = convert_ground_truth_to_yolo(m, tmp_path / "a", NAMES, tile=spec, progress=False)
    b = convert_ground_truth_to_yolo(m, tmp_path / "b", NAMES, tile=spec, progress=False, processes=2)
    ta, tb = tree_bytes(tmp_path / "a"), tree_bytes(tmp_path / "b")
    assert a.version == b.version and ta.keys() == tb.keys()
    assert {k: v for k, v in ta.items() if k.startswith(("images/", "labels/", "lineage"))} == \
        {k: v.replace(b"/b", b"/a") for k, v in tb.items() if k.startswith(("images/", "labels/", "lineage"))}
    again = convert_ground_truth_to_yolo(m, tmp_path / "a", NAMES, tile=spec, progress=False)
    assert again.noop and tree_bytes(tmp_path / "a") == ta
    others = {convert_ground_truth_to_yolo(m, tmp_path / f"o{i}", NAMES, tile=s, progress=False).version
              for i, s in enumerate([TileSpec(64, overlap=0.3, keep_empty=0.5), TileSpec(64, overlap=0.25),
                                     TileSpec(64, overlap=0.25, keep_empty=0.5, min_visibility=0.9)])}
    plain = convert_ground_truth_to_yolo(m, tmp_path / "plain", NAMES, progress=False).version
    assert len(others | {a.version, plain}) == 5  # every tiling setting is in the version id


def test_with_frames_adds_each_frame_downscaled(tmp_path: Path) -> None:
    make_image(tmp_path / "big.jpg", (400, 300))
    m = write_manifest(tmp_path / "m.manifest", [gt_line("big.jpg", (400, 300), [("vehicle", 100, 100, 40, 30)])])
    rep = convert_ground_truth_to_yolo(m, tmp_path / "ds", NAMES, splits=(1, 0, 0), progress=False,
                                       tile=TileSpec(128, overlap=0.0, keep_empty=0.0, with_frames=True))
    assert rep.frames_whole == 1 and rep.tiles == 1  # one tile holds the box; the empty ones dropped
    whole = [r for r in load_lineage(tmp_path / "ds").images if "resized_to" in r.raw]
    assert len(whole) == 1 and whole[0].raw["resized_to"] == [128, 96]
    assert Image.open(tmp_path / "ds" / whole[0].image).size == (128, 96)
    assert (tmp_path / "ds" / whole[0].label).read_text() == "1 0.300000 0.383333 0.100000 0.100000\n"
    assert rep.images == 2


def test_frame_smaller_than_the_tile_is_one_whole_tile(tmp_path: Path) -> None:
    make_image(tmp_path / "small.jpg", (64, 48))
    m = write_manifest(tmp_path / "m.manifest", [gt_line("small.jpg", (64, 48), [("drone", 4, 4, 20, 10)])])
    rep = convert_ground_truth_to_yolo(m, tmp_path / "ds", NAMES, splits=(1, 0, 0), progress=False,
                                       tile=TileSpec(1024, with_frames=True))
    (r,) = load_lineage(tmp_path / "ds").images  # the frame fits in one tile: that tile is the whole frame
    assert rep.tiles == 1 and rep.frames_whole == 0 and r.raw["tile"] == {"left": 0, "top": 0, "width": 64, "height": 48}
    assert (tmp_path / "ds" / r.label).read_text() == "0 0.218750 0.187500 0.312500 0.208333\n"


def test_missing_image_is_a_clear_error_and_nothing_is_written(tmp_path: Path) -> None:
    m = many_frames(tmp_path, 4)
    (tmp_path / "f2.jpg").unlink()
    with pytest.raises(LabelError, match=r"image not found.*f2\.jpg"):
        convert_ground_truth_to_yolo(m, tmp_path / "ds", NAMES, tile=TileSpec(64), progress=False)
    assert not (tmp_path / "ds").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".ds")] == []  # no staging left behind
    # lenient: the frame is skipped and counted, the others tiled
    rep = convert_ground_truth_to_yolo(m, tmp_path / "ds", NAMES, tile=TileSpec(64), strict=False, progress=False)
    assert rep.skipped == {"image not found": 1} and rep.frames_tiled == 3


def test_a_frame_that_cannot_be_cut_leaves_no_files(tmp_path: Path) -> None:
    m = many_frames(tmp_path, 3)
    (tmp_path / "f1.jpg").write_bytes((tmp_path / "f1.jpg").read_bytes()[:400])  # header fine, pixels cut off
    rep = convert_ground_truth_to_yolo(m, tmp_path / "ds", NAMES, tile=TileSpec(64), strict=False, progress=False,
                                       splits=(1, 0, 0))
    assert rep.skipped == {"not a readable image": 1} and rep.frames_tiled == 2
    assert not [p for p in (tmp_path / "ds").rglob("f1-*")]


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"tile": TileSpec(64), "exif": "ignore"}, "exif must be 'normalize'"),
    ({"tile": TileSpec(64), "copy_images": False}, "copy_images must be True"),
    ({"tile": 64}, "expected a gtlabel.TileSpec"),
])
def test_tiling_option_conflicts(tmp_path: Path, kwargs: dict[str, object], match: str) -> None:
    m = many_frames(tmp_path, 2)
    with pytest.raises(ConfigError, match=match):
        convert_ground_truth_to_yolo(m, tmp_path / "ds", NAMES, progress=False, **kwargs)  # type: ignore[arg-type]
    assert not (tmp_path / "ds").exists()


def test_overlap_outside_range_is_refused_before_anything_runs() -> None:
    with pytest.raises(ConfigError, match=r"tile\.overlap: must be in \[0, 1\)"):
        TileSpec(640, overlap=1.0)


def test_lineage_verify_sees_a_changed_tile(tmp_path: Path) -> None:
    m = many_frames(tmp_path, 4)
    convert_ground_truth_to_yolo(m, tmp_path / "ds", NAMES, tile=TileSpec(64), progress=False)
    assert verify(tmp_path / "ds").ok
    first = load_lineage(tmp_path / "ds").images[0]
    (tmp_path / "ds" / first.image).write_bytes(b"changed")
    kinds = {p.kind for p in verify(tmp_path / "ds").problems}
    assert kinds == {"image-changed"}


@pytest.mark.train
def test_ultralytics_accepts_a_tiled_dataset(tmp_path: Path) -> None:
    """Ultralytics' own checks: check_det_dataset reads data.yaml, verify_image_label drops no tile."""
    os.environ["YOLO_OFFLINE"] = "1"
    utils = pytest.importorskip("ultralytics.data.utils")
    m = many_frames(tmp_path, 12)
    rot = Image.new("RGB", (90, 120), (30, 60, 90))  # stored 90x120, orientation 6: displayed 120x90
    exif = Image.Exif()
    exif[0x0112] = 6
    rot.save(tmp_path / "rot.jpg", "JPEG", exif=exif)
    lines = (tmp_path / "output.manifest").read_bytes() + orjson.dumps(
        gt_line("rot.jpg", (120, 90), [("building", 60, 40, 50, 40)])) + b"\n"
    (tmp_path / "output.manifest").write_bytes(lines)
    rep = convert_ground_truth_to_yolo(m, tmp_path / "ds", NAMES, splits=(0.6, 0.4, 0), progress=False,
                                       tile=TileSpec(64, overlap=0.2, keep_empty=0.3, with_frames=True))
    data = utils.check_det_dataset(str(tmp_path / "ds" / "data.yaml"))
    assert data["nc"] == 4 and Path(data["train"]).is_dir() and Path(data["val"]).is_dir()
    images = sorted(p for p in (tmp_path / "ds" / "images").rglob("*") if p.is_file())
    assert len(images) == rep.images == rep.tiles + rep.frames_whole
    for im, lb in zip(images, utils.img2label_paths([str(p) for p in images]), strict=True):
        _im, lbl, shape, _seg, _kpt, nm, nf, ne, nc, msg = utils.verify_image_label(
            (str(im), lb, "", False, len(NAMES), 0, 0, False))
        assert (nm, nf, nc, msg) == (0, 1, 0, ""), (im, msg)
        text = Path(lb).read_text()
        assert ne == (0 if text.strip() else 1) and len(lbl) == len(text.splitlines())
        with Image.open(im) as opened:
            assert shape == (opened.height, opened.width)  # no EXIF left: stored = displayed


def test_a_frame_resized_after_labeling_is_skipped_not_mis_tiled(tmp_path: Path) -> None:
    make_image(tmp_path / "ok.jpg", (100, 80))
    make_image(tmp_path / "resized.jpg", (50, 40))  # labeled at 100x80, stored at half size
    m = write_manifest(tmp_path / "m.manifest", [gt_line("ok.jpg", (100, 80), [("drone", 10, 10, 20, 20)]),
                                                 gt_line("resized.jpg", (100, 80), [("drone", 10, 10, 20, 20)])])
    rep = convert_ground_truth_to_yolo(m, tmp_path / "ds", NAMES, splits=(1, 0, 0), tile=TileSpec(64),
                                       progress=False)
    assert rep.frames_tiled == 1
    assert rep.skipped == {"image size differs from image_size (tiles are cut from the labeled pixels)": 1}
    assert {r.source_ref for r in load_lineage(tmp_path / "ds").images} == {"ok.jpg"}


@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_exif_orientation_gives_the_upright_frames_pixels(tmp_path: Path, orientation: int) -> None:
    # each tile is cut where it lies in the stored frame and turned alone: the same pixels as a tile of the
    # whole upright frame (PNG: lossless, compared exactly)
    raw = Image.open(pattern_png(tmp_path / "raw.png", (70, 50)))
    raw.load()
    exif = Image.Exif()
    exif[0x0112] = orientation
    raw.save(tmp_path / "f.png", "PNG", exif=exif)
    shown = ImageOps.exif_transpose(Image.open(tmp_path / "f.png"))
    m = write_manifest(tmp_path / "m.manifest", [gt_line("f.png", shown.size, [("drone", 5, 5, 10, 10)])])
    rep = convert_ground_truth_to_yolo(m, tmp_path / "ds", NAMES, splits=(1, 0, 0),
                                       tile=TileSpec(32, overlap=0.25, keep_empty=1.0), progress=False)
    grid = tile_grid(*shown.size, 32, 32, 0.25)
    assert rep.tiles == len(grid)
    for r in load_lineage(tmp_path / "ds").images:
        t = r.raw["tile"]
        want = shown.crop((t["left"], t["top"], t["left"] + t["width"], t["top"] + t["height"]))
        assert Image.open(tmp_path / "ds" / r.image).tobytes() == want.convert("RGB").tobytes(), (orientation, t)


def test_pils_memory_block_setting_is_restored_after_tiling(tmp_path: Path) -> None:
    core = Image.core  # PIL's C core: the setting behind PILLOW_BLOCKS_MAX
    before = core.get_blocks_max()
    first = Tiler(TileSpec(32), str(tmp_path / "a"), 2)
    second = Tiler(TileSpec(32), str(tmp_path / "b"), 3)
    assert core.get_blocks_max() == before + PIL_BLOCKS_PER_THREAD * 5  # raised while tilers are open
    first.close()
    assert core.get_blocks_max() == before + PIL_BLOCKS_PER_THREAD * 3
    first.close()  # closing twice changes nothing
    second.close()
    assert core.get_blocks_max() == before
    pattern_png(tmp_path / "c" / "f.png", (64, 40))
    m = write_manifest(tmp_path / "c" / "m.manifest", [gt_line("f.png", (64, 40), [("drone", 5, 5, 10, 10)])])
    convert_ground_truth_to_yolo(m, tmp_path / "c" / "ds", NAMES, splits=(1, 0, 0), tile=TileSpec(32), progress=False)
    assert core.get_blocks_max() == before  # a whole conversion leaves it as it was


def test_jpeg_quality_of_tiles(tmp_path: Path) -> None:
    make_image(tmp_path / "f.jpg", (96, 64))
    m = write_manifest(tmp_path / "m.manifest", [gt_line("f.jpg", (96, 64), [("drone", 5, 5, 10, 10)])])
    sizes, versions = {}, {}
    for q in (95, 40):
        rep = convert_ground_truth_to_yolo(m, tmp_path / f"q{q}", NAMES, splits=(1, 0, 0), progress=False,
                                           tile=TileSpec(48, keep_empty=1.0, jpeg_quality=q))
        versions[q] = rep.version
        sizes[q] = sum(p.stat().st_size for p in (tmp_path / f"q{q}" / "images").rglob("*.jpg"))
    assert sizes[40] < sizes[95]  # the quality asked for is the one written
    assert versions[40] != versions[95]  # and part of the version id
    default = convert_ground_truth_to_yolo(m, tmp_path / "default", NAMES, splits=(1, 0, 0), progress=False,
                                           tile=TileSpec(48, keep_empty=1.0))
    assert default.version == versions[95]  # the default quality: the version id of a spec without it

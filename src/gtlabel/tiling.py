"""Tile geometry for drone-scale frames: the tile grid, clipping boxes to a tile, tile <-> frame coordinates.

Pure functions and value types, no I/O and no numpy. The tiled dataset converter (``gtlabel.convert.tiles``)
and sliced inference (``gtlabel.model``) both cut frames with :func:`tile_grid`, so a tile means the same
pixels everywhere.

The grid is SAHI's (``sahi.slicing.get_slice_bboxes``, pinned by tests/test_tiling.py): along each axis the
first tile starts at 0, each next one starts ``size - int(overlap * size)`` pixels further, and the last tile
is shifted inward so that it ends at the frame's edge; no tile is smaller than the tile size. Along an axis
where the frame is *smaller* than the tile size there is one tile covering the whole axis (SAHI's rule too):
that tile is narrower than the tile size, never padded. Tiles are listed row by row (top to bottom, left to
right within a row), as SAHI lists them.

Boxes are ``(left, top, width, height)`` in pixels, like :mod:`gtlabel.geometry`. A box's *visibility* in a
tile is the share of its area inside the tile; :func:`clip_to_tile` keeps a box when its visibility is at
least ``min_visibility`` (SAHI's ``min_area_ratio`` rule: ``clipped area / original area >= ratio``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from gtlabel.errors import ConfigError

__all__ = [
    "DEFAULT_TILE",
    "JPEG_QUALITY",
    "Clipped",
    "Tile",
    "TileSpec",
    "axis_starts",
    "clip_to_tile",
    "cut_boxes",
    "fit_size",
    "keeps_empty",
    "parse_size",
    "tile_grid",
    "to_frame",
    "to_tile",
    "visibility",
]

PixelBox = tuple[float, float, float, float]

#: the defaults of :class:`TileSpec` (and of ``gtlabel convert --tile``'s companions)
DEFAULT_TILE = {"overlap": 0.2, "min_visibility": 0.3, "keep_empty": 0.1}
#: JPEG quality of tiles cut from JPEG frames (and of downscaled whole frames): :attr:`TileSpec.jpeg_quality`'s
#: default (PIL's own default, which SAHI's slicer writes with, is 75)
JPEG_QUALITY = 95


@dataclass(frozen=True, slots=True)
class Tile:
    """A tile of a frame, in the frame's pixels: ``left``, ``top``, ``width``, ``height`` (integers)."""

    left: int
    top: int
    width: int
    height: int

    @property
    def right(self) -> int:
        return self.left + self.width

    @property
    def bottom(self) -> int:
        return self.top + self.height

    @property
    def box(self) -> tuple[int, int, int, int]:
        """``(left, top, right, bottom)``: the crop box PIL's ``Image.crop`` takes."""
        return self.left, self.top, self.left + self.width, self.top + self.height


def _check_number(name: str, value: object, low: float, high: float, *, low_open: bool,
                  high_open: bool) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{name}: expected a number, got {value!r}")
    v = float(value)
    lo_ok = v > low if low_open else v >= low
    hi_ok = v < high if high_open else v <= high
    if not (lo_ok and hi_ok):
        interval = f"{'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
        raise ConfigError(f"{name}: must be in {interval}, got {value!r}")
    return v


def _check_size(value: object) -> tuple[int, int]:
    pair: Sequence[object]
    if isinstance(value, (list, tuple)):
        pair = value
        if len(pair) != 2:
            raise ConfigError(f"tile.size: expected a size or (width, height), got {value!r}")
    else:
        pair = (value, value)
    out: list[int] = []
    for v in pair:
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ConfigError(f"tile.size: expected a positive whole number of pixels, got {value!r}")
        out.append(v)
    return out[0], out[1]


def parse_size(text: str, option: str) -> tuple[int, int]:
    """A size as a user types it, ``640`` or ``640x480`` (``*`` also separates), -> ``(width, height)``; a
    :class:`ConfigError` naming ``option`` (``--tile``, ``--slice``) for anything else."""
    try:
        sizes = [int(p) for p in text.strip().lower().replace("*", "x").split("x")]
    except ValueError:
        sizes = []
    if len(sizes) not in (1, 2) or any(v < 1 for v in sizes):
        raise ConfigError(f"{option}: expected a size in pixels (640) or WIDTHxHEIGHT (640x480), got {text!r}")
    return sizes[0], sizes[-1]


@dataclass(frozen=True)
class TileSpec:
    """How a converter cuts frames into tiles.

    - ``size``: the tile's side in pixels, or ``(width, height)``;
    - ``overlap``: the share of the tile size that neighbouring tiles share, in ``[0, 1)`` (the overlap in
      pixels is ``int(overlap * size)``, per axis, as SAHI computes it);
    - ``min_visibility``: a box cut by a tile's edge is kept in that tile when at least this share of its area
      is inside, in ``(0, 1]``; otherwise it is dropped there (a sliver) and counted;
    - ``keep_empty``: the share of tiles without any kept box that stay in the dataset as background, in
      ``[0, 1]``; which ones is a seeded choice (:func:`keeps_empty`), the same on every rerun;
    - ``with_frames``: also put each full frame, downscaled to fit the tile size, in the dataset, so a model
      sees large objects whole;
    - ``seed``: the seed of the empty-tile choice;
    - ``jpeg_quality``: the JPEG quality (1-100) of tiles cut from JPEG frames (PNG frames give PNG tiles); part
      of :meth:`settings` (and so of the version id) only when it is not the default :data:`JPEG_QUALITY`, so
      datasets made before it existed keep their version ids.
    """

    size: int | tuple[int, int] = 1024
    overlap: float = DEFAULT_TILE["overlap"]
    min_visibility: float = DEFAULT_TILE["min_visibility"]
    keep_empty: float = DEFAULT_TILE["keep_empty"]
    with_frames: bool = False
    seed: int = 0
    jpeg_quality: int = JPEG_QUALITY

    def __post_init__(self) -> None:
        _check_size(self.size)
        _check_number("tile.overlap", self.overlap, 0.0, 1.0, low_open=False, high_open=True)
        _check_number("tile.min_visibility", self.min_visibility, 0.0, 1.0, low_open=True, high_open=False)
        _check_number("tile.keep_empty", self.keep_empty, 0.0, 1.0, low_open=False, high_open=False)
        if not isinstance(self.with_frames, bool):
            raise ConfigError(f"tile.with_frames: expected true or false, got {self.with_frames!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise ConfigError(f"tile.seed: expected a whole number, got {self.seed!r}")
        q = self.jpeg_quality
        if isinstance(q, bool) or not isinstance(q, int) or not 1 <= q <= 100:
            raise ConfigError(f"tile.jpeg_quality: expected a whole number in [1, 100], got {q!r}")

    @property
    def tile_size(self) -> tuple[int, int]:
        """``(width, height)`` of a tile."""
        return _check_size(self.size)

    def grid(self, width: int, height: int) -> list[Tile]:
        """The tiles of a ``width`` x ``height`` frame (:func:`tile_grid`)."""
        tw, th = self.tile_size
        return tile_grid(width, height, tw, th, self.overlap)

    def settings(self) -> dict[str, object]:
        """The settings as plain JSON values (part of a dataset's version id and lineage)."""
        tw, th = self.tile_size
        out: dict[str, object] = {
            "size": [tw, th], "overlap": float(self.overlap), "min_visibility": float(self.min_visibility),
            "keep_empty": float(self.keep_empty), "with_frames": self.with_frames, "seed": self.seed}
        if self.jpeg_quality != JPEG_QUALITY:
            out["jpeg_quality"] = self.jpeg_quality
        return out


def axis_starts(length: int, size: int, overlap: float) -> list[tuple[int, int]]:
    """``(start, extent)`` of the tiles along one axis of ``length`` pixels (SAHI's stepping, see the module)."""
    if length < 1:
        raise ConfigError(f"tile grid: the frame must be at least 1 pixel along each axis, got {length}")
    step_back = int(overlap * size)  # SAHI: int(overlap_ratio * slice_size)
    out: list[tuple[int, int]] = []
    lo = hi = 0
    while hi < length:
        hi = lo + size
        if hi > length:
            hi = length
            lo = max(0, hi - size)
        out.append((lo, hi - lo))
        lo = hi - step_back
    return out


def tile_grid(width: int, height: int, tile_w: int, tile_h: int, overlap: float) -> list[Tile]:
    """The tiles of a ``width`` x ``height`` frame, row by row; equal to ``sahi.slicing.get_slice_bboxes``.

    Edge tiles are shifted inward (every tile is ``tile_w`` x ``tile_h``); along an axis where the frame is
    smaller than the tile, the one tile there spans the frame. ``overlap`` must be in ``[0, 1)``.
    """
    _check_size((tile_w, tile_h))
    _check_number("tile.overlap", overlap, 0.0, 1.0, low_open=False, high_open=True)
    xs = axis_starts(width, tile_w, overlap)
    ys = axis_starts(height, tile_h, overlap)
    return [Tile(x, y, w, h) for y, h in ys for x, w in xs]


def _inside(box: PixelBox, tile: Tile) -> bool:
    return (box[0] >= tile.left and box[1] >= tile.top and box[0] + box[2] <= tile.right
            and box[1] + box[3] <= tile.bottom)


def visibility(box: PixelBox, tile: Tile) -> float:
    """The share of ``box``'s area inside ``tile`` (0.0 for a box with no area; exactly 1.0 for a box wholly
    inside)."""
    left, top, width, height = box
    if width <= 0.0 or height <= 0.0:
        return 0.0
    if _inside(box, tile):
        return 1.0
    iw = min(left + width, tile.right) - max(left, tile.left)
    ih = min(top + height, tile.bottom) - max(top, tile.top)
    if iw <= 0.0 or ih <= 0.0:
        return 0.0
    return min(1.0, (iw * ih) / (width * height))


def clip_to_tile(box: PixelBox, tile: Tile, min_visibility: float) -> PixelBox | None:
    """``box`` (frame pixels) clipped to ``tile``, in the *tile's* pixels; ``None`` when less than
    ``min_visibility`` of its area is inside the tile, or none of it. A box wholly inside keeps its size
    exactly (only shifted)."""
    left, top, width, height = box
    if width > 0.0 and height > 0.0 and _inside(box, tile):
        return left - tile.left, top - tile.top, width, height
    vis = visibility(box, tile)
    if vis <= 0.0 or vis < min_visibility:
        return None
    x0 = max(left, tile.left)
    y0 = max(top, tile.top)
    x1 = min(left + width, tile.right)
    y1 = min(top + height, tile.bottom)
    return x0 - tile.left, y0 - tile.top, x1 - x0, y1 - y0


def to_tile(box: PixelBox, tile: Tile) -> PixelBox:
    """A frame-pixel box in ``tile``'s pixels (no clipping)."""
    return box[0] - tile.left, box[1] - tile.top, box[2], box[3]


def to_frame(box: PixelBox, tile: Tile) -> PixelBox:
    """A box in ``tile``'s pixels back in the frame's pixels."""
    return box[0] + tile.left, box[1] + tile.top, box[2], box[3]


@dataclass(frozen=True, slots=True)
class Clipped:
    """The boxes of one tile: ``kept`` as ``(index into the frame's boxes, box in tile pixels)``; ``cut``:
    kept boxes the tile's edge cut; ``slivers``: boxes that overlap the tile but were dropped by
    ``min_visibility``."""

    kept: tuple[tuple[int, PixelBox], ...]
    cut: int
    slivers: int


def cut_boxes(boxes: Iterable[PixelBox], tile: Tile, min_visibility: float) -> Clipped:
    """Clip every box to ``tile`` (:func:`clip_to_tile`) and count what the tile's edges did to them."""
    kept: list[tuple[int, PixelBox]] = []
    cut = slivers = 0
    for i, box in enumerate(boxes):
        clipped = clip_to_tile(box, tile, min_visibility)
        if clipped is None:
            if visibility(box, tile) > 0.0:
                slivers += 1
            continue
        if not _inside(box, tile):
            cut += 1
        kept.append((i, clipped))
    return Clipped(tuple(kept), cut, slivers)


def keeps_empty(share: float, seed: int, parent: str, tile: Tile) -> bool:
    """Whether the empty ``tile`` of frame ``parent`` stays in the dataset: a seeded draw with probability
    ``share``, from a hash of (seed, parent, tile), so it does not depend on order or concurrency."""
    if share >= 1.0:
        return True
    if share <= 0.0:
        return False
    key = f"{seed}\x00{parent}\x00{tile.left},{tile.top},{tile.width},{tile.height}".encode()
    draw = int.from_bytes(hashlib.sha256(key).digest()[:8], "big") / 2.0**64
    return draw < share


def fit_size(width: int, height: int, max_w: int, max_h: int) -> tuple[int, int]:
    """The size of a ``width`` x ``height`` frame scaled down (aspect kept, never up) to fit
    ``max_w`` x ``max_h``; each side at least 1 pixel."""
    scale = min(1.0, max_w / width, max_h / height)
    if scale >= 1.0:
        return width, height
    return max(1, round(width * scale)), max(1, round(height * scale))

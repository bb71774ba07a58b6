"""Tiled datasets: the pixel work of ``convert_ground_truth_to_yolo(tile=TileSpec(...))``.

A lane (:mod:`.lanes`) checks each record as for a plain conversion (image header, size, classes, split) and
hands the frame to :class:`Tiler`, whose threads read the image, cut the frame the workers drew in (upright, as
its EXIF orientation says) along :func:`gtlabel.tiling.tile_grid`, and write each tile's image and
label file into the staging folder: boxes clipped to the tile, those with less than ``min_visibility`` of their
area inside dropped (slivers), tiles without boxes kept for the seeded ``keep_empty`` share. With
``with_frames`` the whole frame, downscaled to fit the tile size, goes in too. Every tile of a frame lands in
the frame's split.

A frame is decoded once and each tile cropped from it; a frame stored turned (EXIF orientation) is not turned
whole: each tile's pixels are cropped where they lie in the stored image (:func:`gtlabel.geometry.stored_rect`)
and the crop is turned (the same pixels, without a second full-frame copy: memory does not depend on how many
frames are turned). While a :class:`Tiler` is open, PIL keeps up to :data:`PIL_BLOCKS_PER_THREAD` freed blocks
of image memory per thread for reuse (``PIL.Image.core.set_blocks_max``, restored when the last tiler closes):
every frame and tile allocates and frees megabytes, and fresh memory costs page faults (~10 % of the CPU).

Names: a tile is ``<stem>-<hash12>_<left>_<top>.<ext>`` (the frame's dataset name plus its offset), a whole
frame ``<stem>-<hash12>.<ext>``. JPEG sources give JPEG tiles (quality ``TileSpec.jpeg_quality``, by default
:data:`gtlabel.tiling.JPEG_QUALITY`), others PNG.
Each written image gets a lineage entry with its parent (``source_ref``), ``frame`` size, ``tile`` offset and
size (or ``resized_to`` for a whole frame) and ``image_md5`` (what ``gtlabel lineage verify`` checks it by:
a tile is not a copy of its source). The threads return counts; the lane adds them up in manifest order.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import io
import os
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import orjson

from gtlabel import storage
from gtlabel.convert.rows import ClassBox
from gtlabel.errors import NotFound, StorageError
from gtlabel.formats.yolo import MIN_NORMALIZED_SIZE, SPLITS, label_bytes
from gtlabel.geometry import EXIF_ORIENTATION_TAG, displayed_size, format_row, stored_rect, to_yolo
from gtlabel.tiling import Tile, TileSpec, cut_boxes, fit_size, keeps_empty

__all__ = ["PIL_BLOCKS_PER_THREAD", "FrameJob", "FrameTiles", "Tiler", "tile_name"]

#: freed PIL memory blocks (16 MiB by default) kept for reuse per tiler thread: a 4000x3000 frame takes 3, a tile
#: of 1024 one
PIL_BLOCKS_PER_THREAD = 4
#: PIL's transpose for each EXIF orientation (what ``PIL.ImageOps.exif_transpose`` applies)
_TRANSPOSE = {2: "FLIP_LEFT_RIGHT", 3: "ROTATE_180", 4: "FLIP_TOP_BOTTOM", 5: "TRANSPOSE", 6: "ROTATE_270",
              7: "TRANSVERSE", 8: "ROTATE_90"}


@dataclass(frozen=True)
class FrameJob:
    """One checked record to cut: its image, the frame size its boxes are in, its boxes, its split and its
    dataset name (``<stem>-<hash12>.<ext>``, from :func:`gtlabel.convert.rows.dataset_name`)."""

    src: str
    source_ref: str
    frame: tuple[int, int]
    boxes: Sequence[ClassBox]
    split: str
    image_name: str
    etag: str | None
    version_id: str | None


@dataclass
class FrameTiles:
    """What cutting one frame wrote: ``(lineage entry JSON, image path in the dataset)`` per image, the row
    counts per class, and the tile counts (or ``error``/``detail`` when the image could not be cut: then
    nothing of it is left in the staging folder)."""

    written: list[tuple[bytes, str]] = field(default_factory=list)
    class_rows: dict[int, int] = field(default_factory=dict)
    rows: int = 0
    empty_images: int = 0
    tiles: int = 0
    whole: int = 0
    cut: int = 0
    slivers: int = 0
    empty_kept: int = 0
    empty_dropped: int = 0
    duplicate_rows: int = 0
    tiny_rows: int = 0
    error: str | None = None
    detail: str | None = None


def tile_name(image_name: str, tile: Tile, ext: str) -> str:
    """The dataset name of ``tile`` of the frame named ``image_name``."""
    stem = image_name.rsplit(".", 1)[0] if "." in image_name else image_name
    return f"{stem}_{tile.left}_{tile.top}.{ext}"


def _rows(boxes: Sequence[ClassBox], width: int, height: int, out: FrameTiles) -> list[str]:
    """Rows normalized by ``width`` x ``height`` (the geometry's formula, as rows_for's), tiny and duplicate rows
    dropped (counted)."""
    rows: list[str] = []
    seen: set[str] = set()
    for gid, left, top, w, h in boxes:
        if w / width < MIN_NORMALIZED_SIZE or h / height < MIN_NORMALIZED_SIZE:  # 0 at the rows' 6 decimals
            out.tiny_rows += 1
            continue
        row = format_row(gid, *to_yolo(left, top, w, h, width, height))
        if row in seen:
            out.duplicate_rows += 1
            continue
        seen.add(row)
        rows.append(row)
        out.class_rows[gid] = out.class_rows.get(gid, 0) + 1
    return rows


class Tiler:
    """Cuts frames into tiles on a few threads (PIL decodes, crops and encodes without the GIL)."""

    def __init__(self, spec: TileSpec, staging: str, threads: int) -> None:
        self.spec = spec
        self.staging = staging
        self.threads = max(1, threads)
        self.pool = ThreadPoolExecutor(max_workers=self.threads, thread_name_prefix="gtlabel-tile")
        self._cache = _BlockCache(PIL_BLOCKS_PER_THREAD * self.threads)
        for kind in ("images", "labels"):
            for split in SPLITS:
                os.makedirs(os.path.join(staging, kind, split), exist_ok=True)

    def close(self) -> None:
        """Wait for the frames being cut; frames not started are dropped (after an error nothing more is cut)."""
        self.pool.shutdown(wait=True, cancel_futures=True)
        self._cache.close()

    def map(self, jobs: Sequence[FrameJob]) -> Iterator[FrameTiles]:
        """Cut ``jobs`` concurrently; results in the jobs' order."""
        return self.pool.map(self.cut, jobs)

    def cut(self, job: FrameJob) -> FrameTiles:
        """Cut one frame (see the module); errors become ``FrameTiles.error`` with its files removed."""
        out = FrameTiles()
        written: list[str] = []
        try:
            image, src_format, orientation = _open_stored(job.src)
            upright = displayed_size(image.size[0], image.size[1], orientation)
            if upright != job.frame:
                out.error = "image size differs from image_size"
                out.detail = f"the image is {upright[0]}x{upright[1]} upright, the labels are for " \
                             f"{job.frame[0]}x{job.frame[1]}"
                return out
            self._write_all(job, _Frame(image, orientation), src_format, out, written)
        except (FileNotFoundError, NotFound):
            out.error = "image not found"
        except StorageError as exc:
            out.error, out.detail = "image unreadable", str(exc)
        except Exception as exc:  # PIL raises many types for broken images
            out.error, out.detail = "not a readable image", f"{type(exc).__name__}: {exc}"
        if out.error is not None:
            for path in written:
                with contextlib.suppress(OSError):
                    os.unlink(path)
            out.written.clear()
        return out

    def _write_all(self, job: FrameJob, frame: _Frame, src_format: str | None, out: FrameTiles,
                   written: list[str]) -> None:
        spec = self.spec
        fmt, ext = ("JPEG", "jpg") if src_format in ("JPEG", "MPO") else ("PNG", "png")
        boxes = [(b[1], b[2], b[3], b[4]) for b in job.boxes]
        grid = spec.grid(*job.frame)
        for tile in grid:
            clipped = cut_boxes(boxes, tile, spec.min_visibility)
            out.cut += clipped.cut
            out.slivers += clipped.slivers
            kept = [(job.boxes[i][0], *box) for i, box in clipped.kept]
            rows = _rows(kept, tile.width, tile.height, out)
            if not rows:
                if not keeps_empty(spec.keep_empty, spec.seed, job.source_ref, tile):
                    out.empty_dropped += 1
                    continue
                out.empty_kept += 1
            pixels = frame.crop(tile.box)
            extra = {"frame": list(job.frame), "tile": {"left": tile.left, "top": tile.top, "width": tile.width,
                                                         "height": tile.height}}
            self._write(job, tile_name(job.image_name, tile, ext), pixels, fmt, rows, extra, out, written)
            out.tiles += 1
        # the whole frame, unless it fits in one tile (then that tile is the whole frame already)
        if spec.with_frames and (grid[0].width, grid[0].height) != job.frame:
            tw, th = spec.tile_size
            size = fit_size(job.frame[0], job.frame[1], tw, th)
            image = frame.upright()
            pixels = image if size == job.frame else image.resize(size, _bilinear(), reducing_gap=3.0)
            rows = _rows(list(job.boxes), job.frame[0], job.frame[1], out)
            stem = job.image_name.rsplit(".", 1)[0] if "." in job.image_name else job.image_name
            extra = {"frame": list(job.frame), "resized_to": list(size)}
            self._write(job, f"{stem}.{ext}", pixels, fmt, rows, extra, out, written)
            out.whole += 1

    def _write(self, job: FrameJob, name: str, pixels: Any, fmt: str, rows: list[str], extra: dict[str, Any],
               out: FrameTiles, written: list[str]) -> None:
        label = label_bytes(rows)
        stem = name.rsplit(".", 1)[0]
        image_rel, label_rel = f"images/{job.split}/{name}", f"labels/{job.split}/{stem}.txt"
        image_path, label_path = os.path.join(self.staging, image_rel), os.path.join(self.staging, label_rel)
        # a frame's names are its own: one already there is a bug, not a race ("x")
        with open(image_path, "xb") as fh:
            written.append(image_path)
            # encoded straight into the file: PIL encodes into a real file without the GIL (into a BytesIO it
            # holds it, and the tiler's threads would take turns)
            if fmt == "JPEG":
                pixels.save(fh, fmt, quality=self.spec.jpeg_quality)
            else:
                pixels.save(fh, fmt, compress_level=6)
        with open(image_path, "rb") as fh:  # what was written, from the page cache
            image_md5 = hashlib.file_digest(fh, _md5).hexdigest()
        with open(label_path, "xb") as fh:
            written.append(label_path)
            fh.write(label)
        entry = {"image": image_rel, "label": label_rel, "source_ref": job.source_ref,
                 "source_etag": job.etag, "source_version_id": job.version_id, "split": job.split,
                 "label_sha256": hashlib.sha256(label).hexdigest(), "image_md5": image_md5, **extra}
        out.written.append((orjson.dumps(entry), image_rel))
        out.rows += len(rows)
        if not rows:
            out.empty_images += 1


def _md5() -> Any:
    return hashlib.md5(usedforsecurity=False)


class _Frame:
    """A decoded frame as stored, and its EXIF orientation: tiles of the upright frame cut from it."""

    def __init__(self, image: Any, orientation: int | None) -> None:
        self.image = image
        self.method = _transpose(orientation)
        self.orientation = orientation if self.method is not None else None

    def crop(self, box: tuple[int, int, int, int]) -> Any:
        """The pixels of ``box`` (left, top, right, bottom) of the upright frame."""
        if self.method is None:
            return self.image.crop(box)
        return self.image.crop(stored_rect(box, self.orientation, self.image.size)).transpose(self.method)

    def upright(self) -> Any:
        """The whole upright frame (a turned copy for a turned frame)."""
        return self.image if self.method is None else self.image.transpose(self.method)


_cache_lock = threading.Lock()
_cache_open: dict[int, int] = {}  # id of each open _BlockCache -> its blocks
_cache_before: list[int] = []  # PIL's setting before the first one opened


class _BlockCache:
    """PIL keeps up to ``blocks`` more freed memory blocks for reuse while this is open (a process-wide setting:
    counted across open tilers; the setting from before the first one is restored when the last one closes)."""

    def __init__(self, blocks: int) -> None:
        # PIL's C core (Image.core): the setting behind Pillow's PILLOW_BLOCKS_MAX environment variable
        self._core: Any = importlib.import_module("PIL._imaging")
        with _cache_lock:
            if not _cache_open:
                _cache_before[:] = [int(self._core.get_blocks_max())]
            _cache_open[id(self)] = blocks
            self._apply()

    def _apply(self) -> None:
        self._core.set_blocks_max(_cache_before[0] + sum(_cache_open.values()))

    def close(self) -> None:
        with _cache_lock:
            if _cache_open.pop(id(self), None) is not None:
                self._apply()  # none left open: the setting from before, and PIL frees what it cached


def _transpose(orientation: int | None) -> Any:
    """PIL's transpose for an EXIF orientation (``None`` for an upright one)."""
    from PIL import Image

    name = _TRANSPOSE.get(orientation) if orientation is not None else None
    return getattr(Image.Transpose, name) if name is not None else None


def _bilinear() -> Any:
    from PIL import Image

    return Image.Resampling.BILINEAR


def _open_stored(src: str) -> tuple[Any, str | None, int | None]:
    """The decoded image at ``src`` (local or S3) as stored (RGB or grey), its PIL format and its EXIF
    orientation."""
    # PIL loads on first use (as in .probe): a worker process that converts labels only never needs it
    from PIL import Image

    fp: Any = io.BytesIO(storage.read_bytes(src)) if storage.is_s3(src) else src
    with Image.open(fp) as im:
        fmt = im.format
        orientation = im.getexif().get(EXIF_ORIENTATION_TAG)
        im.load()
    image = im if im.mode in ("RGB", "L") else im.convert("RGB")
    return image, fmt, orientation

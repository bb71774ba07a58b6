"""The hot parts of :func:`gtlabel.interchange.to_yolo.coco_to_yolo`: each COCO box as its YOLO row's coordinates,
spooled by bucket of images (:class:`RowSpool`), and whether each image is there without a system call per image
(:class:`ImagesPresent`)."""

from __future__ import annotations

import bisect
import os
import struct
import tempfile
from array import array
from collections import Counter
from collections.abc import Iterable, Iterator
from typing import IO

from gtlabel.formats.coco import CocoBox, CocoChecker
from gtlabel.formats.yolo import MIN_NORMALIZED_SIZE
from gtlabel.geometry import ROW_FORMAT, clip_box
from gtlabel.interchange.readers import BUCKET_IMAGES

__all__ = ["CLASS_FORMAT", "COORDS_FORMAT", "ImagesPresent", "RowSpool"]

#: a row's four normalized coordinates (``ROW_FORMAT`` after its class id): 35 bytes for values in [0, 1]
COORDS_FORMAT = ROW_FORMAT.split(" ", 1)[1].encode()
#: a row's class id and the space after it (``ROW_FORMAT`` before its coordinates)
CLASS_FORMAT = ROW_FORMAT.split(" ", 1)[0].encode() + b" "
_REC = struct.Struct("<iq35s")  # image position, category id, the row's coordinates
_FLUSH = 1 << 22  # spooled bytes held before they are written to the buckets' files


class RowSpool:
    """Each kept box of a COCO file as (image position, category id, row coordinates: 47 bytes), in a temporary
    file for each :data:`~gtlabel.interchange.readers.BUCKET_IMAGES` images (memory: what is held before a flush,
    4 MiB); the boxes clipped and dropped, and the first box of each category id (for an error naming it)."""

    def __init__(self, check: CocoChecker) -> None:
        self.check = check
        self.clipped = self.zero_area = 0  # boxes clipped to their image; dropped for a zero area
        n = max(1, -(-check.image_count // BUCKET_IMAGES))
        self.files: list[IO[bytes]] = [tempfile.TemporaryFile() for _ in range(n)]  # noqa: SIM115 - close()
        self.pending: list[list[bytes]] = [[] for _ in range(n)]
        self.held = 0
        self.first: dict[int, tuple[int, int | None]] = {}  # category id -> its first box (position, id)

    def add(self, boxes: Iterable[tuple[int, CocoBox]], n: int) -> None:
        """Spool the rows of checked boxes (``n`` elements read; the per-box hot path, clipping inline)."""
        widths, heights = self.check.sizes
        pack, pending, first, fmt = _REC.pack, self.pending, self.first, COORDS_FORMAT
        tiny = MIN_NORMALIZED_SIZE
        clipped = zero = 0
        for k, b in boxes:
            cid, x, y, w, h, _score, pos, aid = b
            if cid not in first:
                first[cid] = (pos, aid)
            fw, fh = widths[k], heights[k]
            if x < 0 or y < 0 or x + w > fw or y + h > fh:
                box = clip_box(x, y, w, h, fw, fh)
                if box is None:
                    zero += 1
                    continue
                x, y, w, h = box
                clipped += 1
            elif w <= 0 or h <= 0:
                zero += 1
                continue
            nw, nh = w / fw, h / fh
            if nw < tiny or nh < tiny:
                zero += 1
                continue
            pending[k // BUCKET_IMAGES].append(pack(k, cid, fmt % ((x + w / 2.0) / fw, (y + h / 2.0) / fh, nw, nh)))
        self.clipped += clipped
        self.zero_area += zero
        self.held += n
        if self.held * _REC.size >= _FLUSH:
            self.flush()

    def flush(self) -> None:
        for f, rows in zip(self.files, self.pending, strict=True):
            if rows:
                f.write(b"".join(rows))
                rows.clear()
        self.held = 0

    def bucket(self, i: int) -> Iterator[tuple[int, int, bytes]]:
        """The rows of bucket ``i`` (its file is closed after)."""
        f = self.files[i]
        f.seek(0)
        data = f.read()
        f.close()
        return _REC.iter_unpack(data)

    def close(self) -> None:
        for f in self.files:
            f.close()


class ImagesPresent:
    """Whether each image is there, without a system call per image: the folder of the image asked about is listed
    once (``os.scandir``) into a sorted array of its names' hashes (8 bytes a name; only the last folder is kept,
    since a file's images come folder by folder); a folder listed again and again (names that alternate between
    folders) is asked file by file (``os.access``) from its fifth listing on. A hash shared by a missing name and a
    present one (64 bits: about one in 10^19) would count the missing image as there: Ultralytics then reports it
    when it loads the dataset."""

    def __init__(self, root: str) -> None:
        self.root = root  # with a trailing "/"
        self.folder: str | None = None
        self.hashes: array[int] = array("q")
        self.listed: Counter[str] = Counter()

    def __call__(self, file_name: str) -> bool:
        folder, _, name = file_name.rpartition("/")
        if folder != self.folder:
            self.listed[folder] += 1
            if self.listed[folder] > 4:
                return os.access(self.root + file_name, os.F_OK)
            try:
                with os.scandir(self.root + folder if folder else self.root) as it:
                    self.hashes = array("q", sorted(hash(e.name) for e in it))
            except OSError:
                self.hashes = array("q")
            self.folder = folder
        h, hashes = hash(name), self.hashes
        i = bisect.bisect_left(hashes, h)
        return i < len(hashes) and hashes[i] == h

"""Image probing: what an image's header says (stored size, EXIF orientation, format) and the source's ETag or
version, reading as little as possible: local files through PIL (header only), S3 objects with a ranged GET of
the first 64 KB (512 KB, then the whole object, when the header is longer). Errors become a short category that
the converter counts (or raises, when strict)."""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any, Literal

from gtlabel import storage
from gtlabel.errors import NotFound, StorageError
from gtlabel.geometry import displayed_size

__all__ = ["HEADER_RANGES", "ImageProbe", "displayed_size_of", "fingerprint", "jpeg_header", "probe_header",
           "probe_image"]

#: bytes of an S3 object read for its header, in turn (``None``: the whole object)
HEADER_RANGES = (64 * 1024, 512 * 1024, None)


@dataclass(slots=True)
class ImageProbe:
    """What the image header says: stored (raw) size, EXIF orientation, PIL format, source ETag/version."""

    size: tuple[int, int] | None = None
    orientation: int | None = None
    format: str | None = None
    etag: str | None = None
    version_id: str | None = None
    error: str | None = None  # a short category (counted in the report)
    detail: str | None = None


def probe_header(data: bytes | io.BufferedIOBase | str) -> tuple[tuple[int, int], int | None, str | None]:
    """(stored size, EXIF orientation, PIL format) from image bytes, a stream or a path; header only."""
    # PIL loads on first use: the conversion's worker processes start without it (exif="ignore" reads no image)
    from PIL import Image, UnidentifiedImageError

    src: Any = io.BytesIO(data) if isinstance(data, bytes) else data
    try:
        im = Image.open(src)
    except ImportError as exc:
        # once Ultralytics is imported in the process, its patched Image.open tries the optional pi-heif on bytes
        # PIL cannot identify, and raises ImportError: the same bytes give the same error with or without it
        raise UnidentifiedImageError(f"cannot identify image file ({exc})") from exc
    with im:
        orient = im.getexif().get(0x0112)
        return (int(im.size[0]), int(im.size[1])), (int(orient) if isinstance(orient, int) else None), im.format


def probe_image(uri: str) -> ImageProbe:
    """The header of the image at ``uri`` (S3 or local) and its ETag (S3) or MD5 (local); an
    :class:`ImageProbe` with ``error`` set when it is missing or not an image."""
    try:
        if storage.is_s3(uri):
            return _probe_s3(uri)
        size, orient, fmt = probe_header(uri)
        return ImageProbe(size, orient, fmt, storage.md5_file(uri))
    except FileNotFoundError:
        return ImageProbe(error="image not found")
    except NotFound:
        return ImageProbe(error="image not found")
    except StorageError as exc:
        return ImageProbe(error="image unreadable", detail=str(exc))
    except Exception as exc:  # PIL raises many types for non-images
        return ImageProbe(error="not a readable image", detail=f"{type(exc).__name__}: {exc}")


def fingerprint(uri: str) -> ImageProbe:
    """ETag / version id (S3: a HEAD) or MD5 (local) of a source image, without reading its header: what
    ``exif="ignore"`` records so that the version id and ``lineage verify`` still see image changes."""
    try:
        info = storage.head(uri, hash_local=True)
    except (FileNotFoundError, NotFound):
        return ImageProbe(error="image not found")
    except StorageError as exc:
        return ImageProbe(error="image unreadable", detail=str(exc))
    return ImageProbe(etag=info.etag, version_id=info.version_id)


def _probe_s3(uri: str) -> ImageProbe:
    last: Exception | None = None
    for n in HEADER_RANGES:
        try:
            part = storage.read_range(uri, 0, n)
        except NotFound:
            return ImageProbe(error="image not found")
        try:
            size, orient, fmt = probe_header(part.data)
            return ImageProbe(size, orient, fmt, part.info.etag, part.info.version_id)
        except Exception as exc:
            last = exc
            if part.complete:
                break
    return ImageProbe(error="not a readable image", detail=f"{type(last).__name__}: {last}")


_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}  # start-of-frame markers (DHT, JPG, DAC are not)
_JPEG_HEAD = 64 * 1024


def _tiff_orientation(t: bytes) -> int | None:
    """IFD0's Orientation (0x0112) of an Exif block's TIFF data, ``None`` when absent or unreadable."""
    if t[:2] not in (b"II", b"MM") or len(t) < 8:
        return None
    end: Literal["little", "big"] = "little" if t[:2] == b"II" else "big"
    ifd = int.from_bytes(t[4:8], end)
    if ifd + 2 > len(t):
        return None
    for k in range(int.from_bytes(t[ifd:ifd + 2], end)):
        e = ifd + 2 + 12 * k
        if e + 12 > len(t):
            return None
        if int.from_bytes(t[e:e + 2], end) == 0x0112 and int.from_bytes(t[e + 2:e + 4], end) == 3:
            return int.from_bytes(t[e + 8:e + 10], end)
    return None


def jpeg_header(data: bytes) -> tuple[tuple[int, int], int | None] | None:
    """(stored size, EXIF orientation) of a JPEG from its first bytes, read from its markers (about 20x faster
    than PIL's ``Image.open``); ``None`` when ``data`` is not a plain JPEG whose frame header lies within it (the
    caller then asks PIL, which knows every other case)."""
    if data[:2] != b"\xff\xd8":
        return None
    pos, n, orientation, exif_seen = 2, len(data), None, False
    while pos + 4 <= n:
        if data[pos] != 0xFF:
            return None
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker == 0x01 or 0xD0 <= marker <= 0xD8:  # markers without a length
            pos += 2
            continue
        length = int.from_bytes(data[pos + 2:pos + 4], "big")
        seg = data[pos + 4:pos + 2 + length]
        if length < 2 or len(seg) < length - 2:
            return None
        if marker == 0xE1 and seg[:6] == b"Exif\x00\x00":
            if exif_seen:
                return None  # two Exif blocks: let PIL decide which one counts
            exif_seen, orientation = True, _tiff_orientation(seg[6:])
        elif marker in _SOF:
            if len(seg) < 5:
                return None
            h, w = int.from_bytes(seg[1:3], "big"), int.from_bytes(seg[3:5], "big")
            return ((w, h), orientation) if w and h else None
        elif marker == 0xDA:  # scan data before any frame header
            return None
        pos += 2 + length
    return None


def displayed_size_of(path: str) -> tuple[int, int]:
    """The displayed (EXIF-upright) size of a local image: its JPEG markers, else PIL's header read. Raises what
    opening or reading it raises (``FileNotFoundError``, PIL's errors for a non-image)."""
    head = storage.read_file(path, _JPEG_HEAD)
    fast = jpeg_header(head)
    if fast is not None:
        (w, h), orientation = fast
    else:
        (w, h), orientation, _ = probe_header(path)
    return displayed_size(w, h, orientation)

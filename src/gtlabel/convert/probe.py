"""Image probing: what an image's header says (stored size, EXIF orientation, format) and the source's ETag or
version, reading as little as possible: local files through PIL (header only), S3 objects with a ranged GET of
the first 64 KB (512 KB, then the whole object, when the header is longer). Errors become a short category that
the converter counts (or raises, when strict)."""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

from gtlabel import storage
from gtlabel.errors import NotFound, StorageError

__all__ = ["HEADER_RANGES", "ImageProbe", "fingerprint", "probe_header", "probe_image"]

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
    from PIL import Image

    src: Any = io.BytesIO(data) if isinstance(data, bytes) else data
    with Image.open(src) as im:
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

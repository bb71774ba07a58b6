"""GPS out of a JPEG, losslessly: the EXIF GPS IFD goes (piexif: the EXIF block is rewritten, the pixels are not
touched), and so does an XMP packet that holds GPS (DJI writes ``drone-dji:GpsLatitude`` / ``GpsLongitude`` /
``AbsoluteAltitude`` there too). The entropy-coded scan data, from the first start-of-scan marker on, is checked
to be byte-identical before the result is returned (:func:`scan_data`).

Images that are not JPEG are returned unchanged (``changed=False``) when they hold no GPS; one that does (a PNG's
eXIf chunk) is an error naming it: piexif edits JPEG only, and a copy must not keep GPS silently.
"""

from __future__ import annotations

import io
from typing import Any

from gtlabel.errors import InputError, MissingExtra
from gtlabel.geo.tags import read_geo

__all__ = ["XMP_HEADER", "scan_data", "strip_gps"]

XMP_HEADER = b"http://ns.adobe.com/xap/1.0/\x00"  # an APP1 segment holding an XMP packet starts with this
_SOI, _SOS, _APP1 = b"\xff\xd8", 0xDA, 0xE1
_GPS_XMP_KEYS = (b"GpsLatitude", b"GpsLongitude", b"GpsLongtitude", b"AbsoluteAltitude", b"GPSLatitude",
                 b"GPSLongitude", b"GPSAltitude")


def _piexif() -> Any:
    try:
        import piexif  # type: ignore[import-untyped]
    except ImportError as exc:
        raise MissingExtra("geo", "piexif") from exc
    return piexif


def _segments(jpeg: bytes) -> list[tuple[int, int, int]]:
    """The marker segments before the first scan: (marker, start, end) each, the last being the SOS marker's
    position (end = start). Raises :class:`ValueError` when the bytes are not a JPEG's."""
    if not jpeg.startswith(_SOI):
        raise ValueError("not a JPEG (no start-of-image marker)")
    out: list[tuple[int, int, int]] = []
    i = 2
    while i + 4 <= len(jpeg):
        if jpeg[i] != 0xFF:
            raise ValueError(f"not a JPEG marker at byte {i}")
        marker = jpeg[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker == _SOS:
            out.append((marker, i, i))
            return out
        length = int.from_bytes(jpeg[i + 2:i + 4], "big")
        if length < 2 or i + 2 + length > len(jpeg):
            raise ValueError(f"a JPEG segment at byte {i} runs past the end")
        out.append((marker, i, i + 2 + length))
        i += 2 + length
    raise ValueError("no start-of-scan marker (truncated JPEG?)")


def scan_data(jpeg: bytes) -> bytes:
    """A JPEG's bytes from its first start-of-scan marker to the end: the compressed pixels."""
    return jpeg[_segments(jpeg)[-1][1]:]


def _drop_gps_xmp(jpeg: bytes) -> tuple[bytes, bool]:
    segs = _segments(jpeg)
    keep = bytearray(jpeg[:2])
    dropped = False
    for marker, start, end in segs[:-1]:
        body = jpeg[start + 4:end]
        if marker == _APP1 and body.startswith(XMP_HEADER) and any(k in body for k in _GPS_XMP_KEYS):
            dropped = True
            continue
        keep += jpeg[start:end]
    keep += jpeg[segs[-1][1]:]
    return bytes(keep), dropped


def strip_gps(data: bytes, *, where: str = "image") -> tuple[bytes, bool]:
    """``(bytes without GPS, whether anything was removed)``. A JPEG loses its EXIF GPS IFD and any XMP packet
    holding GPS tags; its scan data stays byte-identical (checked). Not a JPEG: returned as is, ``False``, unless it
    holds GPS (an :class:`~gtlabel.errors.InputError`).
    A JPEG whose EXIF piexif cannot rewrite is an :class:`~gtlabel.errors.InputError` naming ``where`` (the
    image is not copied with its GPS in place)."""
    if not data.startswith(_SOI):
        if {"lat", "lon", "alt"} & set(read_geo(data, where=where).geo or {}):
            raise InputError("the image holds GPS but is not a JPEG: piexif cannot remove it losslessly (store it as "
                             "JPEG, or remove its GPS first)", file=where)
        return data, False
    piexif = _piexif()
    changed = False
    out = data
    try:
        exif = piexif.load(data)
        if exif.get("GPS") or piexif.ImageIFD.GPSTag in exif.get("0th", {}):
            exif["GPS"] = {}
            exif["0th"].pop(piexif.ImageIFD.GPSTag, None)
            buf = io.BytesIO()
            piexif.insert(piexif.dump(exif), data, buf)
            out, changed = buf.getvalue(), True
        out, dropped = _drop_gps_xmp(out)
        changed = changed or dropped
        same = scan_data(out) == scan_data(data)
    except InputError:
        raise
    except Exception as exc:  # piexif raises plain ValueError/struct.error/KeyError on odd EXIF
        raise InputError(f"GPS could not be removed ({type(exc).__name__}: {exc})", file=where) from None
    if not same:  # pragma: no cover - piexif rewrites only APP1; a guard, not a path
        raise InputError("GPS removal would change the image data; not copied", file=where)
    if {"lat", "lon", "alt"} & set(read_geo(out, where=where).geo or {}):  # pragma: no cover - a guard
        raise InputError("GPS still present after removal; not copied", file=where)
    return out, changed

"""Where an image was taken and how the camera looked, from its own metadata: EXIF GPS (latitude, longitude,
altitude: Pillow's ``getexif().get_ifd(0x8825)``) and DJI's XMP tags (``drone-dji:RelativeAltitude``,
``GimbalYawDegree``, ``GimbalPitchDegree``, ``GimbalRollDegree``, ``FlightYawDegree``: Pillow's ``getxmp()``,
which parses the packet with defusedxml, the ``geo`` extra). No metadata string is parsed by hand.

The result is one pass-through key, ``geo`` (:data:`GEO_KEY`): ``{"lat", "lon", "alt", "relative_alt",
"gimbal_yaw", "gimbal_pitch", "gimbal_roll", "flight_yaw"}``, each present only when the image has it (degrees,
metres; ``lat``/``lon`` to 7 decimals, about 1 cm). Metadata that cannot be read (an XMP packet that is not XML,
a GPS tag that is not a number, coordinates out of range) is a warning naming the file, never an error: the image
is still listed.
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from PIL import Image, UnidentifiedImageError

from gtlabel import storage
from gtlabel.errors import MissingExtra

__all__ = ["DJI_TAGS", "GEO_KEY", "GPS_IFD", "HEADER_BYTES", "GeoRead", "geo_of_image", "read_geo", "read_geo_uri"]

GEO_KEY = "geo"
GPS_IFD = 0x8825  # EXIF's GPS IFD pointer
#: DJI's XMP tags (namespace drone-dji) -> the keys of ``geo``
DJI_TAGS: dict[str, str] = {
    "RelativeAltitude": "relative_alt",
    "GimbalYawDegree": "gimbal_yaw",
    "GimbalPitchDegree": "gimbal_pitch",
    "GimbalRollDegree": "gimbal_roll",
    "FlightYawDegree": "flight_yaw",
}
HEADER_BYTES = 256 * 1024  # EXIF (with its thumbnail) and XMP sit in the first segments of a JPEG
_GPS_LAT_REF, _GPS_LAT, _GPS_LON_REF, _GPS_LON, _GPS_ALT_REF, _GPS_ALT = 1, 2, 3, 4, 5, 6


@dataclass
class GeoRead:
    """What :func:`read_geo` found: the ``geo`` value (``None`` when the image has none) and warnings."""

    geo: dict[str, float] | None = None
    warnings: list[str] = field(default_factory=list)


def _require_defusedxml() -> None:
    try:
        # Pillow's getxmp() needs it, and returns nothing without it
        import defusedxml  # type: ignore[import-untyped]  # noqa: F401
    except ImportError as exc:
        raise MissingExtra("geo", "defusedxml") from exc


def _number(value: Any) -> float:
    out = float(value.strip()) if isinstance(value, str) else float(value)
    if not math.isfinite(out):
        raise ValueError(f"{value!r} is not finite")
    return out


def _dms(value: Any) -> float:
    """Degrees from EXIF's (degrees, minutes, seconds) rationals."""
    d, m, s = (_number(v) for v in value)
    return d + m / 60.0 + s / 3600.0


def _ref(value: Any) -> str:
    return (value.decode("ascii", "replace") if isinstance(value, bytes) else str(value)).strip("\x00 ").upper()


def _gps(gps: Mapping[int, Any], where: str, out: dict[str, float], warnings: list[str]) -> None:
    if _GPS_LAT in gps and _GPS_LON in gps:
        try:
            lat = _dms(gps[_GPS_LAT]) * (-1 if _ref(gps.get(_GPS_LAT_REF, "N")) == "S" else 1)
            lon = _dms(gps[_GPS_LON]) * (-1 if _ref(gps.get(_GPS_LON_REF, "E")) == "W" else 1)
        except (TypeError, ValueError, ZeroDivisionError) as exc:
            warnings.append(f"{where}: EXIF GPS position not readable ({exc})")
        else:
            if -90 <= lat <= 90 and -180 <= lon <= 180:
                out["lat"], out["lon"] = round(lat, 7), round(lon, 7)
            else:
                warnings.append(f"{where}: EXIF GPS position out of range (lat {lat}, lon {lon})")
    if _GPS_ALT in gps:
        try:
            alt = _number(gps[_GPS_ALT])
            ref = gps.get(_GPS_ALT_REF, 0)
            below = (ref[:1] == b"\x01") if isinstance(ref, bytes) else int(ref) == 1
            out["alt"] = round(-alt if below else alt, 3)
        except (TypeError, ValueError, ZeroDivisionError) as exc:
            warnings.append(f"{where}: EXIF GPS altitude not readable ({exc})")


def _walk(node: Any) -> Iterator[tuple[str, Any]]:
    """Every (key, value) of Pillow's nested XMP dict (tags and attributes, namespaces already stripped)."""
    if isinstance(node, Mapping):
        for k, v in node.items():
            yield str(k), v
            yield from _walk(v)
    elif isinstance(node, list):
        for v in node:
            yield from _walk(v)


def _xmp(img: Image.Image, where: str, out: dict[str, float], warnings: list[str]) -> None:
    try:
        xmp = img.getxmp() if hasattr(img, "getxmp") else {}
    except Exception as exc:  # any parse failure of a foreign packet (ParseError, defusedxml's)
        warnings.append(f"{where}: XMP metadata not readable ({type(exc).__name__}: {exc}); image kept without it")
        return
    for key, value in _walk(xmp):
        ours = DJI_TAGS.get(key)
        if ours is None or ours in out or isinstance(value, Mapping | list):
            continue
        try:
            out[ours] = round(_number(value), 3)
        except (TypeError, ValueError) as exc:
            warnings.append(f"{where}: XMP {key} not a number ({exc})")


def geo_of_image(img: Image.Image, where: str = "image") -> GeoRead:
    """The ``geo`` of an opened image (pure: no I/O)."""
    _require_defusedxml()
    out: dict[str, float] = {}
    warnings: list[str] = []
    try:
        gps = img.getexif().get_ifd(GPS_IFD)
    except Exception as exc:  # a corrupt EXIF block of any kind: the image is still listed
        warnings.append(f"{where}: EXIF not readable ({type(exc).__name__}: {exc})")
    else:
        _gps(gps, where, out, warnings)
    _xmp(img, where, out, warnings)
    return GeoRead(out or None, warnings)


def read_geo(data: bytes, *, where: str = "image") -> GeoRead:
    """The ``geo`` of encoded image bytes (a JPEG's first :data:`HEADER_BYTES` are enough); an image Pillow
    cannot open gives a warning and no ``geo``."""
    _require_defusedxml()
    try:
        with Image.open(io.BytesIO(data)) as img:
            return geo_of_image(img, where)
    # ImportError: once Ultralytics is imported, its patched Image.open tries pi-heif on unknown bytes
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, ImportError) as exc:
        return GeoRead(None, [f"{where}: metadata not readable ({exc})"])


def read_geo_uri(uri: str) -> GeoRead:
    """:func:`read_geo` of an image file or S3 object: its first :data:`HEADER_BYTES` (one ranged GET), the whole
    object only when the metadata reaches further."""
    head = storage.read_range(uri, 0, HEADER_BYTES)
    got = read_geo(head.data, where=uri)
    if head.complete or got.geo is not None or not got.warnings:
        return got
    return read_geo(storage.read_bytes(uri), where=uri)

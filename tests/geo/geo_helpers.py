"""Helpers for the geodata tests (no tests here): JPEGs with EXIF GPS and DJI-style XMP, written here."""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image
from PIL.TiffImagePlugin import IFDRational


def dji_xmp(**tags: str) -> bytes:
    """An XMP packet as DJI writes it: the drone-dji tags as attributes of rdf:Description."""
    attrs = " ".join(f'drone-dji:{k}="{v}"' for k, v in tags.items())
    return (b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
            b'<rdf:Description rdf:about="DJI Meta Data" xmlns:drone-dji="http://www.dji.com/drone-dji/1.0/" '
            + attrs.encode() + b"/></rdf:RDF></x:xmpmeta>")


def _dms(deg: float) -> tuple[IFDRational, IFDRational, IFDRational]:
    d = int(deg)
    m = int((deg - d) * 60)
    s = round(((deg - d) * 60 - m) * 60 * 10000)
    return IFDRational(d), IFDRational(m), IFDRational(s, 10000)


def geo_jpeg(lat: float | None = None, lon: float | None = None, alt: float | None = None, *,
             xmp: bytes | None = None, size: tuple[int, int] = (64, 48), color: int = 90,
             orientation: int | None = None) -> bytes:
    """A JPEG with EXIF GPS (``lat``/``lon`` signed degrees, ``alt`` metres) and/or an XMP packet."""
    img = Image.new("RGB", size, (color % 256, 120, 60))
    for x in range(0, size[0], 8):  # some texture, so that the scan data is not trivial
        img.putpixel((x, x % size[1]), (255, 255, 255))
    exif = Image.Exif()
    if orientation is not None:
        exif[0x0112] = orientation
    if lat is not None and lon is not None:
        gps = exif.get_ifd(0x8825)
        gps[1], gps[2] = ("N" if lat >= 0 else "S"), _dms(abs(lat))
        gps[3], gps[4] = ("E" if lon >= 0 else "W"), _dms(abs(lon))
        if alt is not None:
            gps[5], gps[6] = (b"\x00" if alt >= 0 else b"\x01"), IFDRational(round(abs(alt) * 100), 100)
    buf = io.BytesIO()
    kw: dict[str, object] = {"exif": exif}
    if xmp is not None:
        kw["xmp"] = xmp
    img.save(buf, "JPEG", quality=90, **kw)
    return buf.getvalue()


def write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path

"""gtlabel.geo.strip and convert(strip_gps=True): GPS removed losslessly (the JPEG scan data byte-identical)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import orjson
import pytest
from convert_helpers import gt_line, write_manifest
from geo_helpers import dji_xmp, geo_jpeg, write
from PIL import Image

from gtlabel.convert import convert_ground_truth_to_yolo
from gtlabel.errors import ConfigError, InputError
from gtlabel.geo import read_geo, scan_data, strip_gps
from gtlabel.lineage import verify

DJI_GPS = dji_xmp(GpsLatitude="47.5", GpsLongitude="8.25", AbsoluteAltitude="+400.0", GimbalYawDegree="-90.0")


def pixels(data: bytes) -> bytes:
    with Image.open(io.BytesIO(data)) as img:
        return img.convert("RGB").tobytes()


def test_gps_is_removed_and_the_pixels_are_byte_identical() -> None:
    src = geo_jpeg(47.5, 8.25, 400.0, orientation=6, size=(96, 64))
    out, changed = strip_gps(src, where="a.jpg")
    assert changed and out != src
    assert read_geo(out).geo is None
    assert scan_data(out) == scan_data(src)  # the compressed pixels, bit for bit
    assert pixels(out) == pixels(src)  # and Pillow decodes the same image
    with Image.open(io.BytesIO(out)) as img:
        assert img.getexif()[0x0112] == 6  # the rest of EXIF (orientation) is kept
    # DJI also writes GPS into XMP: that packet goes too; the same bytes again for the same input
    src2 = geo_jpeg(47.5, 8.25, xmp=DJI_GPS)
    out2, changed2 = strip_gps(src2)
    assert changed2 and b"GpsLatitude" not in out2 and scan_data(out2) == scan_data(src2)
    assert strip_gps(src2) == (out2, True)
    # an XMP packet without GPS stays; nothing to remove: the same bytes
    keep = geo_jpeg(xmp=dji_xmp(GimbalYawDegree="-90.0"))
    assert strip_gps(keep) == (keep, False)


def test_not_a_jpeg_is_returned_as_is_and_a_broken_exif_is_an_error() -> None:
    buf = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buf, "PNG")
    assert strip_gps(buf.getvalue()) == (buf.getvalue(), False)
    with Image.open(io.BytesIO(geo_jpeg(1.0, 2.0))) as img:
        exif = img.getexif()
    gps_png = io.BytesIO()
    Image.new("RGB", (8, 8)).save(gps_png, "PNG", exif=exif)
    with pytest.raises(InputError, match=r"p\.png.*not a JPEG"):  # a PNG with GPS is never copied with it
        strip_gps(gps_png.getvalue(), where="p.png")
    src = geo_jpeg(1.0, 2.0)
    at = src.index(b"Exif\x00\x00") + 6 + 4
    broken = src[:at] + b"\x00\x00\xea\x60" + src[at + 4:]  # the first IFD's offset points past the end
    with pytest.raises(InputError, match=r"b\.jpg.*GPS could not be removed"):
        strip_gps(broken, where="b.jpg")


def scene(tmp_path: Path) -> str:
    write(tmp_path / "imgs" / "a.jpg", geo_jpeg(47.5, 8.25, 400.0, xmp=DJI_GPS))
    write(tmp_path / "imgs" / "b.jpg", geo_jpeg(color=30))
    geo_a = {"lat": 47.5, "lon": 8.25, "alt": 400.0, "gimbal_yaw": -90.0}
    return write_manifest(tmp_path / "m.manifest", [
        gt_line("imgs/a.jpg", (64, 48), [("drone", 1, 1, 10, 10), ("drone", 20, 20, 10, 10),
                                         ("vehicle", 30, 5, 8, 8)], geo=geo_a),
        gt_line("imgs/b.jpg", (64, 48), [("person", 1, 1, 10, 10)]),
    ])


def test_convert_strips_gps_from_the_copies_and_keeps_geo_in_lineage(tmp_path: Path) -> None:
    m = scene(tmp_path)
    rep = convert_ground_truth_to_yolo(m, tmp_path / "ds", ["drone", "vehicle", "person", "building"],
                                       splits=(1, 0, 0), strip_gps=True, progress=False)
    assert rep.gps_stripped == 1 and rep.as_dict()["gps_stripped"] == 1 and "GPS removed from 1" in rep.summary()
    doc = orjson.loads((tmp_path / "ds/lineage.json").read_bytes())
    assert doc["settings"]["strip_gps"] is True
    by_ref = {e["source_ref"]: e for e in doc["images"]}
    assert by_ref["imgs/a.jpg"]["geo"] == {"lat": 47.5, "lon": 8.25, "alt": 400.0, "gimbal_yaw": -90.0}
    assert "geo" not in by_ref["imgs/b.jpg"]
    copy = (tmp_path / "ds" / by_ref["imgs/a.jpg"]["image"]).read_bytes()
    source = (tmp_path / "imgs/a.jpg").read_bytes()
    assert read_geo(copy).geo is None and scan_data(copy) == scan_data(source)
    assert (tmp_path / "ds" / by_ref["imgs/b.jpg"]["image"]).read_bytes() == (tmp_path / "imgs/b.jpg").read_bytes()
    assert verify(tmp_path / "ds").ok  # the copy is checked against its source stripped again
    (tmp_path / "ds" / by_ref["imgs/a.jpg"]["image"]).write_bytes(source)  # GPS back in: caught
    assert [p.kind for p in verify(tmp_path / "ds").problems] == ["image-changed"]
    # without strip_gps: another version (the copies differ), GPS kept
    plain = convert_ground_truth_to_yolo(m, tmp_path / "plain", ["drone", "vehicle", "person", "building"],
                                         splits=(1, 0, 0), progress=False)
    assert plain.version != rep.version and plain.gps_stripped is None and "gps_stripped" not in plain.as_dict()
    with pytest.raises(ConfigError, match="copy_images"):
        convert_ground_truth_to_yolo(m, tmp_path / "x", ["drone"], strip_gps=True, copy_images=False,
                                     drop_unknown_classes=True, progress=False)


def test_convert_to_s3_strips_gps(s3: Any, bucket: str, tmp_path: Path) -> None:
    m = scene(tmp_path)
    out = f"s3://{bucket}/datasets/v1"
    rep = convert_ground_truth_to_yolo(m, out, ["drone", "vehicle", "person", "building"], splits=(1, 0, 0),
                                       strip_gps=True, progress=False)
    assert rep.gps_stripped == 1 and rep.images_copied == 2
    doc = orjson.loads(s3.get_object(Bucket=bucket, Key="datasets/v1/lineage.json")["Body"].read())
    key = next(e["image"] for e in doc["images"] if e["source_ref"] == "imgs/a.jpg")
    copy = s3.get_object(Bucket=bucket, Key=f"datasets/v1/{key}")["Body"].read()
    assert read_geo(copy).geo is None and scan_data(copy) == scan_data((tmp_path / "imgs/a.jpg").read_bytes())
    assert verify(out).ok


def test_cli_convert_strip_gps(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from gtlabel.cli import Exit, app

    m = scene(tmp_path)
    res = CliRunner().invoke(app, ["convert", m, str(tmp_path / "ds"), "--classes", "drone,vehicle,person,building",
                                   "--split", "1,0,0", "--strip-gps", "--no-progress"])
    assert res.exit_code == Exit.OK, res.output
    assert "GPS removed from 1 copied image(s)" in res.output
    assert all(read_geo(p.read_bytes()).geo is None for p in (tmp_path / "ds" / "images").rglob("*.jpg"))

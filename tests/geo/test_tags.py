"""gtlabel.geo.tags and build_input_manifest(geo=True): EXIF GPS and DJI XMP read with Pillow/defusedxml."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from geo_helpers import dji_xmp, geo_jpeg, write

from gtlabel.geo import GEO_KEY, read_geo, read_geo_uri
from gtlabel.manifests import build_input_manifest

DJI = dji_xmp(RelativeAltitude="+50.20", GimbalYawDegree="-90.10", GimbalPitchDegree="-89.90",
              GimbalRollDegree="+0.00", FlightYawDegree="+12.30")


def test_exif_gps_and_dji_xmp() -> None:
    got = read_geo(geo_jpeg(-33.8568, 151.2153, 42.5, xmp=DJI), where="a.jpg")
    assert got.warnings == []
    assert got.geo == {"lat": -33.8568, "lon": 151.2153, "alt": 42.5, "relative_alt": 50.2, "gimbal_yaw": -90.1,
                       "gimbal_pitch": -89.9, "gimbal_roll": 0.0, "flight_yaw": 12.3}
    west = read_geo(geo_jpeg(47.5, -122.25, -3.0)).geo
    assert west == {"lat": 47.5, "lon": -122.25, "alt": -3.0}  # west and below sea level are negative
    assert read_geo(geo_jpeg()).geo is None and read_geo(geo_jpeg()).warnings == []
    assert read_geo(geo_jpeg(xmp=dji_xmp(GimbalPitchDegree="-45"))).geo == {"gimbal_pitch": -45.0}


def test_xmp_garbage_is_a_warning_naming_the_file() -> None:
    garbage = DJI.replace(b"<rdf:Description", b"<rdf:Descr<<iption")
    got = read_geo(geo_jpeg(10.0, 20.0, xmp=garbage), where="s3://b/flight/img7.jpg")
    assert got.geo == {"lat": 10.0, "lon": 20.0}  # EXIF still read
    assert len(got.warnings) == 1 and "s3://b/flight/img7.jpg: XMP metadata not readable" in got.warnings[0]
    not_a_number = read_geo(geo_jpeg(xmp=dji_xmp(GimbalYawDegree="north")), where="x.jpg")
    assert not_a_number.geo is None and "XMP GimbalYawDegree not a number" in not_a_number.warnings[0]
    # hostile XML (an entity expansion) is refused by defusedxml, not expanded
    bomb = (b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;">]>'
            b'<x:xmpmeta xmlns:x="adobe:ns:meta/">&b;</x:xmpmeta>')
    hostile = read_geo(geo_jpeg(xmp=bomb), where="bomb.jpg")
    assert hostile.geo is None and "bomb.jpg: XMP metadata not readable" in hostile.warnings[0]
    assert "metadata not readable" in read_geo(b"not an image", where="n.jpg").warnings[0]


def lines(path: Path) -> list[dict[str, Any]]:
    return [orjson.loads(x) for x in path.read_bytes().splitlines()]


def test_manifest_build_reads_geo(tmp_path: Path) -> None:
    write(tmp_path / "imgs" / "a.jpg", geo_jpeg(47.5, 8.25, 400.0, xmp=DJI))
    write(tmp_path / "imgs" / "b.jpg", geo_jpeg())
    write(tmp_path / "imgs" / "c.jpg", geo_jpeg(1.0, 2.0, xmp=b"<not xml"))
    dest = tmp_path / "in.manifest"
    s = build_input_manifest(tmp_path / "imgs", dest, geo=True, progress=False)
    got = {ln["source-ref"]: ln.get(GEO_KEY) for ln in lines(dest)}
    assert got["imgs/a.jpg"] == {"lat": 47.5, "lon": 8.25, "alt": 400.0, "relative_alt": 50.2, "gimbal_yaw": -90.1,
                                 "gimbal_pitch": -89.9, "gimbal_roll": 0.0, "flight_yaw": 12.3}
    assert got["imgs/b.jpg"] is None and got["imgs/c.jpg"] == {"lat": 1.0, "lon": 2.0}
    assert s.written == 3 and s.with_geo == 2
    assert len(s.warnings) == 1 and "c.jpg" in s.warnings[0] and s.as_dict()["warnings"] == s.warnings
    # without geo=True nothing is read and the lines are as before
    build_input_manifest(tmp_path / "imgs", tmp_path / "plain.manifest", progress=False)
    assert all(list(ln) == ["source-ref"] for ln in lines(tmp_path / "plain.manifest"))
    # an existing manifest: lines that have geo keep theirs, the others get it
    (tmp_path / "old.manifest").write_bytes(b'{"source-ref":"imgs/a.jpg","geo":{"lat":1.5,"lon":1.5}}\n'
                                            b'{"source-ref":"imgs/c.jpg","flight":"f1"}\n')
    build_input_manifest(tmp_path / "old.manifest", tmp_path / "new.manifest", geo=True, progress=False)
    assert lines(tmp_path / "new.manifest") == [{"source-ref": "imgs/a.jpg", "geo": {"lat": 1.5, "lon": 1.5}},
                                                {"source-ref": "imgs/c.jpg", "flight": "f1",
                                                 "geo": {"lat": 1.0, "lon": 2.0}}]


def test_geo_from_s3_reads_the_header_only(s3: Any, bucket: str, tmp_path: Path) -> None:
    data = geo_jpeg(47.5, 8.25, 400.0, xmp=DJI, size=(640, 480))
    s3.put_object(Bucket=bucket, Key="raw/a.jpg", Body=data)
    assert read_geo_uri(f"s3://{bucket}/raw/a.jpg").geo == read_geo(data).geo
    s = build_input_manifest(f"s3://{bucket}/raw/", f"s3://{bucket}/in.manifest", geo=True, progress=False)
    assert s.with_geo == 1


@pytest.mark.parametrize("ref", ["N", b"N\x00"])
def test_gps_refs_as_text_or_bytes(ref: Any) -> None:
    from PIL import Image
    from PIL.TiffImagePlugin import IFDRational

    img = Image.new("RGB", (16, 16))
    exif = Image.Exif()
    gps = exif.get_ifd(0x8825)
    gps[1], gps[2] = ref, (IFDRational(10), IFDRational(30), IFDRational(0))
    gps[3], gps[4] = "E", (IFDRational(20), IFDRational(0), IFDRational(0))
    import io

    buf = io.BytesIO()
    img.save(buf, "JPEG", exif=exif)
    assert read_geo(buf.getvalue()).geo == {"lat": 10.5, "lon": 20.0}


def test_cli_manifest_build_geo(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from gtlabel.cli import Exit, app

    write(tmp_path / "imgs" / "a.jpg", geo_jpeg(47.5, 8.25, xmp=DJI))
    write(tmp_path / "imgs" / "b.jpg", geo_jpeg(xmp=b"<garbage"))
    res = CliRunner().invoke(app, ["manifest", "build", str(tmp_path / "imgs"), str(tmp_path / "m.manifest"), "--geo"])
    assert res.exit_code == Exit.OK, res.output
    assert "with a GPS/camera position: 1" in res.output and "b.jpg: XMP metadata not readable" in res.output
    assert [GEO_KEY in ln for ln in lines(tmp_path / "m.manifest")] == [True, False]

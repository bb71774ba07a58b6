"""gtlabel.geo.geojson and ``gtlabel export geojson``: one RFC 7946 Point per image with its labels per class."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from convert_helpers import gt_line, make_image, write_manifest
from typer.testing import CliRunner

from gtlabel.cli import Exit, app
from gtlabel.convert import convert_ground_truth_to_yolo
from gtlabel.errors import LineageError
from gtlabel.geo import export_geojson

CLASSES = ["drone", "vehicle", "person", "building"]


def dataset(tmp_path: Path) -> Path:
    for n in ("a", "b", "c"):
        make_image(tmp_path / f"{n}.jpg", (64, 48))
    m = write_manifest(tmp_path / "m.manifest", [
        gt_line("a.jpg", (64, 48), [("drone", 1, 1, 10, 10), ("drone", 20, 20, 10, 10), ("vehicle", 30, 5, 8, 8)],
                geo={"lat": -33.85, "lon": 151.21, "alt": 40.0, "gimbal_pitch": -90.0}),
        gt_line("b.jpg", (64, 48), [], geo={"lat": 47.5, "lon": 8.25}),
        gt_line("c.jpg", (64, 48), [("person", 1, 1, 10, 10)]),  # no position
    ])
    convert_ground_truth_to_yolo(m, tmp_path / "ds", CLASSES, splits=(1, 0, 0), progress=False)
    return tmp_path / "ds"


def test_points_in_lon_lat_order_with_labels_per_class(tmp_path: Path) -> None:
    ds = dataset(tmp_path)
    s = export_geojson(ds, tmp_path / "map.geojson")
    assert (s.features, s.without_position) == (2, 1)
    doc = orjson.loads((tmp_path / "map.geojson").read_bytes())
    assert doc["type"] == "FeatureCollection" and len(doc["features"]) == 2
    a, b = doc["features"]
    assert a["type"] == "Feature" and a["geometry"] == {"type": "Point", "coordinates": [151.21, -33.85, 40.0]}
    assert a["properties"]["labels"] == {"drone": 2, "vehicle": 1} and a["properties"]["boxes"] == 3
    assert a["properties"]["gimbal_pitch"] == -90.0 and a["properties"]["split"] == "train"
    assert a["properties"]["source_ref"] == "a.jpg" and a["properties"]["image"].startswith("images/train/a-")
    assert b["geometry"]["coordinates"] == [8.25, 47.5] and b["properties"]["labels"] == {}
    with pytest.raises(LineageError):
        export_geojson(tmp_path / "nothing-here", tmp_path / "x.geojson")
    assert not (tmp_path / "x.geojson").exists()


def test_cli_export_geojson(tmp_path: Path) -> None:
    ds = dataset(tmp_path)
    res = CliRunner().invoke(app, ["export", "geojson", str(ds), "--out", str(tmp_path / "m.geojson")])
    assert res.exit_code == Exit.OK, res.output
    assert "wrote 2 point(s)" in res.output and "1 image(s) without a position" in res.output
    res = CliRunner().invoke(app, ["export", "geojson", str(ds)])
    assert res.exit_code == Exit.OK, res.output
    assert orjson.loads(res.stdout_bytes)["features"][0]["geometry"]["coordinates"][:2] == [151.21, -33.85]
    assert (tmp_path / "m.geojson").read_bytes() == res.stdout_bytes
    res = CliRunner().invoke(app, ["export", "geojson", str(tmp_path / "none")])
    assert res.exit_code == Exit.INVALID

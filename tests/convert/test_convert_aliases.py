"""convert_ground_truth_to_yolo(aliases=...): an ontology change without relabeling: the manifest's classes renamed
into the dataset's, recorded in lineage.json's settings and in the version id (which lineage verify recomputes)."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from convert_helpers import gt_line, make_image, write_manifest
from typer.testing import CliRunner

from gtlabel.cli import Exit, app
from gtlabel.convert import convert_ground_truth_to_yolo
from gtlabel.errors import ConfigError, LabelError
from gtlabel.lineage import load, recompute_version


def _manifest(tmp: Path) -> str:
    make_image(tmp / "imgs" / "a.jpg")
    make_image(tmp / "imgs" / "b.jpg")
    # the job's classes were drone, vehicle, person, building; the new ontology merges vehicle and person
    return write_manifest(tmp / "out.manifest", [
        gt_line("imgs/a.jpg", (64, 48), [("vehicle", 1, 2, 10, 20), ("person", 30, 5, 20, 40)]),
        gt_line("imgs/b.jpg", (64, 48), [("drone", 0, 0, 32, 24)]),
    ])


def test_aliases_map_classes_and_are_in_the_lineage_and_version(tmp_path: Path) -> None:
    m = _manifest(tmp_path)
    rep = convert_ground_truth_to_yolo(m, tmp_path / "ds", ["drone", "ground-object"], progress=False,
                                       aliases={"vehicle": "ground-object", "person": "ground-object"})
    assert rep.class_counts == {"drone": 1, "ground-object": 2} and rep.boxes_written == 3
    labels = sorted((tmp_path / "ds" / "labels").rglob("a-*.txt"))
    assert [r.split()[0] for r in labels[0].read_text().splitlines()] == ["1", "1"]
    lin = load(tmp_path / "ds")
    assert lin.settings["aliases"] == {"person": "ground-object", "vehicle": "ground-object"}
    assert recompute_version(lin) == lin.version == rep.version
    other = convert_ground_truth_to_yolo(m, tmp_path / "ds2", ["drone", "ground-object", "vehicle"], progress=False,
                                         aliases=["person=ground-object"])
    assert other.class_counts == {"drone": 1, "ground-object": 1, "vehicle": 1}
    plain = convert_ground_truth_to_yolo(m, tmp_path / "ds3", ["drone", "vehicle", "person"], progress=False)
    assert "aliases" not in load(tmp_path / "ds3").settings  # absent when not given: earlier version ids hold
    assert len({rep.version, other.version, plain.version}) == 3


def test_bad_aliases_and_unaliased_classes(tmp_path: Path) -> None:
    m = _manifest(tmp_path)
    with pytest.raises(ConfigError, match="not among the dataset's classes"):
        convert_ground_truth_to_yolo(m, tmp_path / "ds", ["drone"], progress=False, aliases={"vehicle": "car"})
    with pytest.raises(ConfigError, match="NAME=TARGET"):
        convert_ground_truth_to_yolo(m, tmp_path / "ds", ["drone"], progress=False, aliases=["vehicle"])
    with pytest.raises(LabelError, match="'person' is not one of the dataset's classes"):
        convert_ground_truth_to_yolo(m, tmp_path / "ds", ["drone", "car"], progress=False,
                                     aliases={"vehicle": "car"})
    assert not (tmp_path / "ds").exists()


def test_cli_convert_alias(tmp_path: Path) -> None:
    m = _manifest(tmp_path)
    res = CliRunner().invoke(app, ["convert", m, str(tmp_path / "ds"), "--classes", "drone,other", "--alias",
                                   "vehicle=other", "--alias", "person=other", "--no-progress", "--json"])
    assert res.exit_code == Exit.OK, res.output
    assert orjson.loads(res.output)["class_counts"] == {"drone": 1, "other": 2}

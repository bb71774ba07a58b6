"""``gtlabel convert`` (cli/convert.py) in-process (typer CliRunner): report output and exit codes."""

from __future__ import annotations

from pathlib import Path

import orjson
import yaml
from convert_helpers import gt_line, make_image, write_manifest
from typer.testing import CliRunner

from gtlabel import TileSpec
from gtlabel.cli import Exit, app
from gtlabel.lineage import load as load_lineage

runner = CliRunner()


def scene(tmp_path: Path) -> str:
    for n in ("a", "b", "c", "d"):
        make_image(tmp_path / f"{n}.jpg", (64, 48))
    return write_manifest(tmp_path / "m.manifest", [
        gt_line("a.jpg", (64, 48), [("drone", 1, 1, 10, 10)]),
        gt_line("b.jpg", (64, 48), [("vehicle", -5, 1, 10, 10)]),
        gt_line("c.jpg", (64, 48), [("person", 1, 1, 10, 10)]),
        gt_line("d.jpg", (64, 48), failure="ClientError: expired"),
    ])


def test_convert_prints_the_report_and_writes_the_dataset(tmp_path: Path) -> None:
    m = scene(tmp_path)
    res = runner.invoke(app, ["convert", m, str(tmp_path / "ds"), "--classes", "drone,vehicle,person,building",
                              "--split", "0.5,0.5,0", "--no-progress"])
    assert res.exit_code == Exit.OK, res.output
    assert "images 3" in res.output and "1 clipped" in res.output and "failed (failure-reason): 1" in res.output
    assert "data.yaml:" in res.output
    doc = yaml.safe_load((tmp_path / "ds/data.yaml").read_text())
    assert doc["names"] == {0: "drone", 1: "vehicle", 2: "person", 3: "building"} and "test" not in doc
    # the same again: a no-op; JSON output
    res = runner.invoke(app, ["convert", m, str(tmp_path / "ds"), "--classes", "drone,vehicle,person,building",
                              "--split", "0.5,0.5,0", "--json"])
    assert res.exit_code == Exit.OK, res.output
    report = orjson.loads(res.output)
    assert report["images"] == 3 and report["boxes"]["clipped"] == 1
    # a different dataset at the same place: exit 7 unless --overwrite
    res = runner.invoke(app, ["convert", m, str(tmp_path / "ds"), "--classes", "drone,vehicle,person,building",
                              "--seed", "3", "--no-progress"])
    assert res.exit_code == Exit.EXISTS and "overwrite" in res.output
    res = runner.invoke(app, ["convert", m, str(tmp_path / "ds"), "--classes", "drone,vehicle,person,building",
                              "--seed", "3", "--overwrite", "--no-progress"])
    assert res.exit_code == Exit.OK, res.output


def test_convert_with_label_config_stratify_and_drop_unknown(tmp_path: Path) -> None:
    m = scene(tmp_path)
    cfg = tmp_path / "labels.json"
    cfg.write_bytes(orjson.dumps({"document-version": "2018-11-28",
                                  "labels": [{"label": "drone"}, {"label": "vehicle"}]}))
    res = runner.invoke(app, ["convert", m, str(tmp_path / "ds"), "--label-config", str(cfg), "--no-progress"])
    assert res.exit_code == Exit.INVALID and "m.manifest:3" in res.output and "'person'" in res.output
    assert not (tmp_path / "ds").exists()
    res = runner.invoke(app, ["convert", m, str(tmp_path / "ds"), "--label-config", str(cfg), "--drop-unknown",
                              "--stratify", "--label-attribute", "drone-boxes", "--no-progress"])
    assert res.exit_code == Exit.OK, res.output
    assert "1 unknown-class dropped" in res.output


def test_convert_exit_codes_for_bad_input(tmp_path: Path) -> None:
    m = scene(tmp_path)
    res = runner.invoke(app, ["convert", m, str(tmp_path / "ds")])
    assert res.exit_code == Exit.INVALID and "--classes" in res.output
    res = runner.invoke(app, ["convert", str(tmp_path / "nope.manifest"), str(tmp_path / "ds"), "--classes", "a"])
    assert res.exit_code == Exit.NOT_FOUND and "nope.manifest" in res.output
    res = runner.invoke(app, ["convert", m, str(tmp_path / "ds"), "--classes", "drone", "--split", "x,y"])
    assert res.exit_code == Exit.INVALID and "--split" in res.output
    bad = tmp_path / "bad.manifest"
    bad.write_bytes(b'{"source-ref": "a.jpg", "x": {"image_size": [{"width": 5}]}, "x-metadata": {}}\n')
    res = runner.invoke(app, ["convert", str(bad), str(tmp_path / "ds"), "--classes", "drone"])
    assert res.exit_code == Exit.INVALID and "bad.manifest:1" in res.output and "image_size" in res.output
    res = runner.invoke(app, ["convert", "--bogus"])
    assert res.exit_code == Exit.USAGE
    res = runner.invoke(app, ["convert", "--help"])
    assert res.exit_code == 0 and "--drop-unknown" in res.output


def test_cli_convert_tile_options(tmp_path: Path) -> None:
    lines = []
    for i in range(6):
        make_image(tmp_path / f"f{i}.jpg", (120, 90), color=i * 9)
        lines.append(gt_line(f"f{i}.jpg", (120, 90), [("vehicle", 5 + i, 5, 12, 10)] if i % 4 else []))
    m = write_manifest(tmp_path / "output.manifest", lines)
    classes = ["--classes", "drone,vehicle,person,building"]
    res = runner.invoke(app, ["convert", m, str(tmp_path / "ds"), *classes, "--tile", "64",
                              "--overlap", "0.25", "--min-visibility", "0.5", "--keep-empty", "0.2",
                              "--tile-with-frames", "--no-progress", "--json"])
    assert res.exit_code == 0, res.output
    doc = orjson.loads(res.stdout)
    assert doc["tiles"]["frames"] == 6 and doc["tiles"]["whole_frames"] == 6
    assert load_lineage(tmp_path / "ds").settings["tile"] == TileSpec(
        64, overlap=0.25, min_visibility=0.5, keep_empty=0.2, with_frames=True).settings()
    for args, match in [(["--tile", "64", "--overlap", "1"], "tile.overlap"), (["--tile", "big"], "--tile"),
                        (["--tile-with-frames"], "needs --tile"), (["--tile", "64x0"], "--tile: expected a size in pixels")]:
        bad = runner.invoke(app, ["convert", m, str(tmp_path / "bad"), *classes, *args])
        assert bad.exit_code == Exit.INVALID and match in bad.output, bad.output
    assert not (tmp_path / "bad").exists()

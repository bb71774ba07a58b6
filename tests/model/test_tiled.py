"""gtlabel train --tile: a Ground Truth output manifest -> tiles + full frames -> train on tiles -> sliced
evaluation on the full test frames, in one step (mechanics on a tiny set, not accuracy)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gtlabel.cli import app
from gtlabel.demo import truth_manifest_lines
from gtlabel.synth import DEFAULT_CLASSES, FrameSpec, make_frame


# --seed 3 salts the split hash so that 2 of the 8 frames are test frames (tiny sets may have none)
def _frames_manifest(root: Path, n: int = 8) -> Path:
    """Drone-scale frames (640x480, small objects) and their known boxes as a Ground Truth output manifest."""
    (root / "frames").mkdir(parents=True)
    frames = [make_frame(i, FrameSpec(640, 480, objects=(6, 12), exif_every=4), seed=2) for i in range(n)]
    for f in frames:
        (root / "frames" / f.name).write_bytes(f.jpeg)
    manifest = root / "output.manifest"
    lines = truth_manifest_lines(frames, [f"frames/{f.name}" for f in frames], DEFAULT_CLASSES)
    manifest.write_bytes(b"\n".join(lines) + b"\n")
    return manifest


@pytest.mark.train
def test_cli_train_tile_converts_trains_and_evaluates_on_full_frames(tmp_path: Path) -> None:
    manifest = _frames_manifest(tmp_path / "in")
    out = tmp_path / "runs" / "tiled"
    r = CliRunner().invoke(app, ["train", str(manifest), "--tile", "320", "--overlap", "0.1", "--classes",
                                 ",".join(DEFAULT_CLASSES), "--epochs", "1", "--imgsz", "64", "--batch", "8",
                                 "--seed", "3", "--project", str(tmp_path / "runs"), "--name", "tiled"])
    assert r.exit_code == 0, r.output
    # the tiled dataset: every tile in its frame's split, 320 px tiles recorded in the lineage settings
    frames = json.loads((out / "frames" / "lineage.json").read_text())
    tiles = json.loads((out / "tiles" / "lineage.json").read_text())
    assert len(frames["images"]) == 8 and len(tiles["images"]) > 8
    # the same test frames (both split by the frame's hash; only val may get a train frame in the full-frame set,
    # when hashing left it empty), so the model never trains on a tile of a frame it is evaluated on
    test_frames = {img["source_ref"] for img in frames["images"] if img["split"] == "test"}
    assert test_frames and test_frames == {t["source_ref"] for t in tiles["images"] if t["split"] == "test"}
    assert not test_frames & {t["source_ref"] for t in tiles["images"] if t["split"] == "train"}
    assert tiles["settings"]["tile"]["size"] == [320, 320]
    # trained on the tiles; evaluated on the full frames of the test split, sliced with the tile size
    train = json.loads((out / "runs" / "train" / "metrics.json").read_text())
    assert train["dataset"]["root"] == str(out / "tiles")
    ev = json.loads((out / "runs" / "evaluate" / "metrics.json").read_text())
    assert ev["dataset"]["root"] == str(out / "frames") and ev["split"] == "test"
    assert ev["settings"]["slicing"]["slice"] == [320, 320] and ev["settings"]["slicing"]["overlap"] == 0.1
    assert set(ev["by_size"]) == {"small", "medium", "large"} and 0.0 <= ev["metrics"]["mAP50"] <= 1.0
    assert "full frames, sliced 320 px" in " ".join(r.output.split())


def test_cli_train_tile_refuses_bad_settings(tmp_path: Path) -> None:
    manifest = _frames_manifest(tmp_path / "in", n=2)
    r = CliRunner().invoke(app, ["train", str(manifest), "--tile", "320", "--overlap", "1.5",
                                 "--project", str(tmp_path / "runs")])
    assert r.exit_code == 3, r.output
    assert "overlap" in r.output
    assert not (tmp_path / "runs").exists()  # nothing written

"""Sliced inference wired into preannotate, rank and evaluate (library and CLI): the boxes they write are
predict_frame's on the upright frame; whole frames stay the default."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image, ImageDraw
from typer.testing import CliRunner

from gtlabel.cli import app
from gtlabel.errors import ConfigError
from gtlabel.model.active import rank
from gtlabel.model.common import display_image, load_model
from gtlabel.model.preannotate import preannotate
from gtlabel.model.sliced import SliceOptions, predict_frame

pytestmark = pytest.mark.train
COLORS = [(230, 40, 40), (40, 200, 60), (50, 80, 230)]  # the colours of conftest's training images


def _frames(folder: Path) -> list[Path]:
    """Two frames larger than a tile, one stored sideways (EXIF orientation 6: shown 300x420)."""
    folder.mkdir()
    out = []
    for i, (w, h) in enumerate([(520, 380), (420, 300)]):
        im = Image.new("RGB", (w, h), (110, 110, 110))
        d = ImageDraw.Draw(im)
        for k in range(12):
            x, y = 15 + (k * 97) % (w - 60), 15 + (k * 61) % (h - 60)
            d.rectangle((x, y, x + 18 + k * 3, y + 16 + k * 2), fill=COLORS[k % 3])
        path = folder / f"f{i}.jpg"
        if i == 1:
            exif = Image.Exif()
            exif[0x0112] = 6
            im.save(path, quality=92, exif=exif)
        else:
            im.save(path, quality=92)
        out.append(path)
    return out


def _sliced(yolo: Any, path: Path, opts: SliceOptions, conf: float) -> Any:
    return predict_frame(yolo, display_image(path.read_bytes(), str(path)), opts, conf=conf, imgsz=160, max_det=100)


def test_preannotate_sliced_writes_predict_frames_boxes(trained: dict[str, object], tmp_path: Path) -> None:
    paths = _frames(tmp_path / "imgs")
    out = tmp_path / "pre.manifest"
    s = preannotate(str(trained["weights"]), tmp_path / "imgs", out, conf=0.001, imgsz=160, slice=(160, 128),
                    overlap=0.25, merge="nmm", match="ios")
    assert s.images == 2 and s.slicing is not None and s.slicing["slice"] == [160, 128]
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    yolo = load_model(str(trained["weights"]))
    opts = SliceOptions(width=160, height=128, overlap=0.25, merge="nmm", match="ios")
    for path, line in zip(paths, lines, strict=True):
        fb = _sliced(yolo, path, opts, 0.001)
        size = line["prelabels"]["image_size"][0]
        assert (size["width"], size["height"]) == ((520, 380) if path.name == "f0.jpg" else (300, 420))
        got = sorted((a["left"], a["top"], a["left"] + a["width"], a["top"] + a["height"])
                     for a in line["prelabels"]["annotations"])
        want = sorted(tuple(min(max(round(v), 0), lim) for v, lim in zip(b, (size["width"], size["height"]) * 2,
                                                                          strict=True)) for b in fb.xyxy.tolist())
        assert got == [w for w in want if w[2] > w[0] and w[3] > w[1]] and got
    whole = preannotate(str(trained["weights"]), tmp_path / "imgs", tmp_path / "whole.manifest", conf=0.001,
                        imgsz=160)
    assert whole.slicing is None  # the default stays whole frames


def test_rank_sliced_counts_the_tiles_detections(trained: dict[str, object], tmp_path: Path) -> None:
    paths = _frames(tmp_path / "imgs")
    s = rank(str(trained["weights"]), tmp_path / "imgs", tmp_path / "top.manifest", top_k=2, conf=0.001, imgsz=160,
             slice=160, strategy="low_confidence_count")
    lines = [json.loads(x) for x in (tmp_path / "top.manifest").read_text().splitlines()]
    yolo = load_model(str(trained["weights"]))
    counts = {p.name: len(_sliced(yolo, p, SliceOptions(width=160, height=160), 0.001)) for p in paths}
    assert s.scored == 2 and {ln["source-ref"].split("/")[-1]: ln["active-learning"]["detections"]
                              for ln in lines} == counts
    assert all(c > 0 for c in counts.values())


def test_bad_slice_settings_fail_before_any_work(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="overlap"):
        preannotate("missing.pt", tmp_path, tmp_path / "o.manifest", slice=640, overlap=1.0)
    with pytest.raises(ConfigError, match="merge"):
        rank("missing.pt", tmp_path, tmp_path / "o.manifest", top_k=1, slice=640, merge="wbf")
    assert not (tmp_path / "o.manifest").exists()


def test_cli_slice_options(trained: dict[str, object], yolo_dataset: Path, tmp_path: Path) -> None:
    _frames(tmp_path / "imgs")
    w = str(trained["weights"])
    r = CliRunner().invoke(app, ["preannotate", w, str(tmp_path / "imgs"), "-o", str(tmp_path / "p.manifest"),
                                 "--conf", "0.001", "--imgsz", "160", "--slice", "160x128", "--overlap", "0.25",
                                 "--merge", "nmm", "--match", "iou", "--match-threshold", "0.4"])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(app, ["rank", w, str(tmp_path / "imgs"), "-o", str(tmp_path / "r.manifest"), "-k", "1",
                                 "--conf", "0.001", "--imgsz", "160", "--slice", "160"])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(app, ["evaluate", w, str(yolo_dataset), "--imgsz", "128", "--slice", "128",
                                 "--project", str(tmp_path), "--name", "ev"])
    assert r.exit_code == 0, r.output
    assert "by object size" in r.output and "small" in r.output
    assert json.loads((tmp_path / "ev" / "metrics.json").read_text())["settings"]["slicing"]["slice"] == [128, 128]
    for bad in (["--slice", "big"], ["--slice", "640", "--overlap", "1.5"], ["--slice", "640", "--match", "giou"]):
        r = CliRunner().invoke(app, ["preannotate", w, str(tmp_path / "imgs"), "-o", str(tmp_path / "x.manifest"),
                                     *bad])
        assert r.exit_code == 3, (bad, r.output)
    assert not (tmp_path / "x.manifest").exists()
    assert np.isfinite(json.loads((tmp_path / "ev" / "metrics.json").read_text())["metrics"]["mAP50"])

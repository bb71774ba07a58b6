"""Ultralytics' own label checker accepts every image and label the converter writes (nothing dropped)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from convert_helpers import gt_line, make_image, write_manifest

from gtlabel.convert import convert_ground_truth_to_yolo

pytestmark = pytest.mark.train


def test_ultralytics_verify_image_label_drops_nothing(tmp_path: Path) -> None:
    os.environ["YOLO_OFFLINE"] = "1"
    utils = pytest.importorskip("ultralytics.data.utils")
    names = ["drone", "vehicle", "person", "building"]
    lines = [
        # boxes past every edge (Ultralytics alone would drop the whole image: coordinates > 1.01 / < -0.01)
        gt_line("a.jpg", (64, 48), [("drone", -20, -20, 40, 30), ("vehicle", 50, 40, 40, 40),
                                    ("person", 10, 10, 10, 10), ("person", 10, 10, 10, 10)]),
        gt_line("b.jpg", (64, 48), []),  # no boxes: an empty label file
        gt_line("rot.jpg", (200, 100), [("building", 10, 150, 50, 40), ("drone", 90, 190, 30, 30)]),
        gt_line("sub/a.jpg", (64, 48), [("vehicle", 0, 0, 64, 48)]),  # whole image: exactly 1.0
        gt_line("p.png", (32, 32), [("drone", 5, 5, 5, 5)]),
    ]
    make_image(tmp_path / "a.jpg", (64, 48))
    make_image(tmp_path / "b.jpg", (64, 48))
    make_image(tmp_path / "rot.jpg", (200, 100), orientation=6)
    make_image(tmp_path / "sub/a.jpg", (64, 48))
    make_image(tmp_path / "p.png", (32, 32), fmt="PNG")
    m = write_manifest(tmp_path / "m.manifest", lines)
    rep = convert_ground_truth_to_yolo(m, tmp_path / "ds", names, progress=False)
    assert rep.images == 5 and rep.boxes_clipped >= 2 and rep.boxes_duplicate == 1
    images = sorted(p for p in (tmp_path / "ds" / "images").rglob("*") if p.is_file())
    assert len(images) == 5
    labels = utils.img2label_paths([str(p) for p in images])  # Ultralytics' own image -> label mapping
    for im, lb in zip(images, labels, strict=True):
        assert Path(lb).is_file(), lb
        out = utils.verify_image_label((str(im), lb, "", False, len(names), 0, 0, False))
        _im, lbl, shape, _seg, _kpt, nm, nf, ne, nc, msg = out
        assert nc == 0 and nm == 0, msg  # not corrupt, not missing
        assert msg == "", msg  # no "duplicate labels removed", no "ignoring corrupt image/label"
        assert nf == 1
        text = Path(lb).read_text()
        assert ne == (0 if text.strip() else 1)
        assert len(lbl) == len(text.split("\n")) - 1
        if "rot-" in im.name:
            assert shape == (200, 100)  # (h, w): Ultralytics' exif_size = the displayed frame we normalized by
            assert text.splitlines()[0] == "3 0.350000 0.850000 0.500000 0.200000"

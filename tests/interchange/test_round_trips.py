"""Round trips (hypothesis): Ground Truth -> COCO -> import -> Ground Truth and the same through VOC give the same
boxes; Ground Truth -> YOLO dataset -> import gives them within the dataset's 6 decimals."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from interchange_helpers import LABELS, gt_line, make_image, write_manifest

from gtlabel.convert import convert_ground_truth_to_yolo
from gtlabel.interchange import export_coco, export_voc, import_labels
from gtlabel.manifests import iter_output_manifest

Image = tuple[tuple[int, int], list[tuple[str, float, float, float, float]]]


@st.composite
def _image(draw: Any, sizes: st.SearchStrategy[int], hundredths: bool = True) -> Image:
    w, h = draw(sizes), draw(sizes)
    step = 100 if hundredths else 1

    def box() -> tuple[str, float, float, float, float]:
        x0 = draw(st.integers(0, (w - 1) * step))
        y0 = draw(st.integers(0, (h - 1) * step))
        x1 = draw(st.integers(x0 + step, w * step))
        y1 = draw(st.integers(y0 + step, h * step))
        vals = [v / step if hundredths else v for v in (x0, y0, x1 - x0, y1 - y0)]
        return (draw(st.sampled_from(LABELS)), vals[0], vals[1], vals[2], vals[3])

    return (w, h), [box() for _ in range(draw(st.integers(0, 4)))]


def _boxes(manifest: Path) -> list[tuple[str, tuple[int, int], list[tuple[Any, ...]]]]:
    out = []
    for rec in iter_output_manifest(manifest):
        assert rec.image_size is not None
        names = rec.class_map
        out.append((rec.source_ref, rec.image_size[:2],
                    sorted((names[b.class_id], b.left, b.top, b.width, b.height) for b in rec.boxes)))
    return out


def _write(tmp: Path, images: list[Image]) -> Path:
    lines = [gt_line(f"imgs/{i:03d}.jpg", size, boxes) for i, (size, boxes) in enumerate(images)]
    return Path(write_manifest(tmp / "gt.manifest", lines))


@settings(max_examples=25, deadline=None)
@given(st.lists(_image(st.integers(10, 4000)), min_size=1, max_size=5))
def test_gt_coco_gt_gives_the_same_boxes(images: list[Image]) -> None:
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        gt = _write(tmp, images)
        export_coco(gt, tmp / "coco.json", class_mapping=LABELS)
        import_labels("coco", tmp / "coco.json", tmp / "back.manifest", labels=LABELS)
        assert _boxes(tmp / "back.manifest") == _boxes(gt)


@settings(max_examples=25, deadline=None)
@given(st.lists(_image(st.integers(10, 4000)), min_size=1, max_size=5))
def test_gt_voc_gt_gives_the_same_boxes(images: list[Image]) -> None:
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        gt = _write(tmp, images)
        export_voc(gt, tmp / "voc", class_mapping=LABELS)
        import_labels("voc", tmp / "voc", tmp / "back.manifest", labels=LABELS)
        assert _boxes(tmp / "back.manifest") == _boxes(gt)


@settings(max_examples=10, deadline=None)
@given(st.lists(_image(st.integers(10, 120), hundredths=False), min_size=1, max_size=4))
def test_gt_yolo_gt_gives_the_boxes_within_the_datasets_precision(images: list[Image]) -> None:
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        for i, (size, _) in enumerate(images):
            make_image(tmp / "imgs" / f"{i:03d}.jpg", size)
        gt = _write(tmp, images)
        convert_ground_truth_to_yolo(gt, tmp / "ds", LABELS, progress=False)
        import_labels("yolo", tmp / "ds", tmp / "back.manifest", labels=LABELS)
        # the converter drops exact-duplicate rows (Ultralytics would): compare with the distinct boxes
        want = {ref.rsplit("/", 1)[-1].split(".")[0]: (size, sorted(set(boxes))) for ref, size, boxes in _boxes(gt)}
        got = _boxes(tmp / "back.manifest")
        assert len(got) == len(want)
        for ref, size, boxes in got:
            w_size, w_boxes = want[ref.rsplit("/", 1)[-1].split("-")[0]]
            assert size == w_size and len(boxes) == len(w_boxes)
            for b, wb in zip(boxes, w_boxes, strict=True):
                assert b[0] == wb[0] and all(abs(x - y) <= 2e-6 * max(size) + 1e-3 for x, y in zip(b[1:], wb[1:],
                                                                                                   strict=True))

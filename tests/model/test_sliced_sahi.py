"""Sliced prediction with the session's tiny trained YOLO11n against SAHI's own get_sliced_prediction (the
reference) on the same frames, model and parameters.

Tolerance: the boxes pair up one-to-one with the same class and IoU >= 0.99, confidences within 1e-3. Measured:
tile by tile (the CPU default, as SAHI calls Ultralytics) the boxes are identical (IoU 1.0, equal confidences) for
every merge/match setting. Batched, the tiles' raw boxes differ from per-tile ones in the last float32 bits
(IoU > 0.9999, oneDNN picks other kernels for another batch size); with the 2-epoch model's thousands of
junk boxes at conf 0.0002, many with exactly tied scores, that flips SAHI's coordinate tie-break in a greedy
IOU cascade, so the batched comparison with SAHI runs with IOS (its default metric), where it is identical.
"""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import pytest
from PIL import Image, ImageDraw

from gtlabel.model.common import load_model
from gtlabel.model.sliced import (
    SAHI_NAMES,
    SliceOptions,
    agreement,
    boxes_from_sahi,
    predict_frame,
    predict_tiles,
)

pytest.importorskip("sahi")
from sahi import AutoDetectionModel
from sahi.predict import get_sliced_prediction

pytestmark = pytest.mark.train
COLORS = {0: (230, 40, 40), 1: (40, 200, 60), 2: (50, 80, 230)}  # the colours of conftest's training images


def drone_frame(width: int, height: int, seed: int, objects: int = 40) -> np.ndarray:
    """A gray frame with small coloured objects (the fixture's classes), as BGR numpy."""
    rng = random.Random(seed)
    im = Image.new("RGB", (width, height), (rng.randint(90, 140),) * 3)
    d = ImageDraw.Draw(im)
    for _ in range(objects):
        w, h = rng.randint(14, 60), rng.randint(14, 60)
        x, y = rng.randint(0, width - w - 1), rng.randint(0, height - h - 1)
        d.rectangle((x, y, x + w, y + h), fill=COLORS[rng.randrange(3)])
    return np.ascontiguousarray(np.asarray(im)[:, :, ::-1])


@pytest.fixture(scope="module")
def yolo(trained: dict[str, object]) -> Any:
    return load_model(str(trained["weights"]))


def _sahi(ref: Any, frame: np.ndarray, opts: SliceOptions) -> Any:
    result = get_sliced_prediction(
        np.ascontiguousarray(frame[:, :, ::-1]), ref, slice_height=opts.height, slice_width=opts.width,
        overlap_height_ratio=opts.overlap, overlap_width_ratio=opts.overlap, perform_standard_pred=opts.full_frame,
        postprocess_type=SAHI_NAMES[opts.merge], postprocess_match_metric=SAHI_NAMES[opts.match],
        postprocess_match_threshold=opts.threshold, postprocess_class_agnostic=opts.class_agnostic, verbose=0,
        force_postprocess_type=True)  # SAHI would switch to NMS/IOU below conf 0.1; we never switch
    return boxes_from_sahi(result.object_prediction_list)


CONF, IMGSZ = 0.0002, 320  # the 2-epoch model is unsure of everything: a low floor gives hundreds of boxes
FRAMES = [(1000, 700), (700, 1000), (300, 200)]  # landscape, portrait, smaller than one tile


@pytest.fixture(scope="module")
def reference(trained: dict[str, object]) -> Any:
    """SAHI's Ultralytics model on its own YOLO object; image_size pins imgsz (else the checkpoint's 160)."""
    return AutoDetectionModel.from_pretrained(model_type="ultralytics", model=load_model(str(trained["weights"])),
                                              confidence_threshold=CONF, device="cpu", image_size=IMGSZ)


@pytest.mark.parametrize("merge, match, thr, full, agnostic", [
    ("nms", "ios", 0.5, True, False),
    ("nmm", "ios", 0.5, True, False),
    ("nms", "iou", 0.3, False, False),
    ("nmm", "iou", 0.5, False, True),
])
def test_sliced_boxes_equal_sahis(yolo: Any, reference: Any, merge: str, match: str, thr: float, full: bool,
                                  agnostic: bool) -> None:
    opts = SliceOptions(width=320, height=256, overlap=0.2, merge=merge, match=match, threshold=thr,
                        full_frame=full, class_agnostic=agnostic)  # on CPU: one tile per call, as SAHI
    total = 0
    for seed, (w, h) in enumerate(FRAMES):
        frame = drone_frame(w, h, seed)
        ours = predict_frame(yolo, frame, opts, conf=CONF, imgsz=IMGSZ)
        agree = agreement(ours, _sahi(reference, frame, opts), min_iou=0.99)
        assert agree.same(conf_tol=1e-3), (seed, agree)
        assert ours.xyxy.min(initial=0) >= 0 and (ours.xyxy[:, 2] <= w).all() and (ours.xyxy[:, 3] <= h).all()
        total += agree.matched
    assert total > 100  # the comparison saw real boxes


def test_batched_tiles_equal_sahis(yolo: Any, reference: Any) -> None:
    """All tiles of a frame in one predict call (the default on an accelerator)."""
    for seed, (w, h) in enumerate(FRAMES):
        frame = drone_frame(w, h, seed)
        for merge in ("nms", "nmm"):
            opts = SliceOptions(width=320, height=256, merge=merge, match="ios", batch=100)
            agree = agreement(predict_frame(yolo, frame, opts, conf=CONF, imgsz=IMGSZ),
                              _sahi(reference, frame, opts), min_iou=0.99)
            assert agree.same(conf_tol=1e-3) and agree.matched > 5, (seed, merge, agree)


def test_batching_moves_raw_boxes_by_float32_bits_only(yolo: Any) -> None:
    frame = drone_frame(1000, 700, 0)
    batched = predict_tiles(yolo, frame, SliceOptions(width=320, height=256, batch=100), conf=CONF, imgsz=IMGSZ)
    single = predict_tiles(yolo, frame, SliceOptions(width=320, height=256, batch=1), conf=CONF, imgsz=IMGSZ)
    assert len(single) > 1000
    agree = agreement(batched, single, min_iou=0.9999)
    assert agree.same(conf_tol=1e-5), agree

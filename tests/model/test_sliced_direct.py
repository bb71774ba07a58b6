"""predict_tiles' direct path (tiles straight through the predictor's model, NMS and box scaling, without
``yolo.predict``'s per-call machinery) against Ultralytics' own ``model.predict`` on each tile: a YOLO11n built
from yolo11n.yaml with a fixed seed, boxes within 1e-4 px, same confidences and classes.

Its batch-norm statistics are set from one forward pass over crops of the frame (momentum 1): freshly initialised,
its activations fade layer by layer and its boxes hardly depend on the pixels (measured: predicting on BGR
instead of RGB tiles still matched within 2e-5 px), calibrated they do (the same mistake moves boxes by 140 px)."""

from __future__ import annotations

import importlib.util
from typing import Any

import numpy as np
import pytest

from gtlabel.model.common import load_model
from gtlabel.model.sliced import SliceOptions, predict_tiles, windows

# found, not imported: every xdist worker collects this module, and importing ultralytics (torch) costs ~2 CPU-s
if importlib.util.find_spec("ultralytics") is None:
    pytest.skip("could not import 'ultralytics': the train extra", allow_module_level=True)

CONF, IMGSZ = 1e-6, 160  # an untrained head scores ~1e-5: this floor keeps max_det boxes per tile


@pytest.fixture(scope="module")
def yolo(frame: np.ndarray) -> Any:
    import torch

    torch.manual_seed(0)
    model = load_model("yolo11n.yaml")
    for m in model.model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.momentum = 1.0  # the running statistics become those of the next batch
    crops = np.stack([frame[:160, :160], frame[140:300, 260:420], frame[:160, 260:420][:, ::-1]])
    model.model.train()
    with torch.no_grad():
        model.model(torch.from_numpy(crops[..., ::-1].copy()).permute(0, 3, 1, 2).float() / 255)
    model.model.eval()
    return model


@pytest.fixture(scope="module")
def frame() -> np.ndarray:
    rng = np.random.default_rng(7)
    im = np.full((300, 420, 3), 110, np.uint8)
    for _ in range(30):
        x, y, w, h = rng.integers(0, 380), rng.integers(0, 260), rng.integers(6, 40), rng.integers(6, 40)
        im[y:y + h, x:x + w] = rng.integers(0, 255, 3, dtype=np.uint8)
    return im


def _per_tile_predict(yolo: Any, frame: np.ndarray, opts: SliceOptions, max_det: int, step: int = 1
                      ) -> list[np.ndarray]:
    """Ultralytics' predict on the tiles, ``step`` tiles per call (1: each on its own, as SAHI calls it; a larger
    batch changes the last float bits, oneDNN picks other kernels), rows (x0, y0, x1, y1, conf, cls) in frame
    pixels after the same clamp to the frame as predict_tiles applies."""
    h, w = frame.shape[:2]
    wins = windows(w, h, opts)
    results = []
    for s in range(0, len(wins), step):
        results += yolo.predict([frame[y0:y1, x0:x1] for x0, y0, x1, y1 in wins[s:s + step]], conf=CONF,
                                imgsz=IMGSZ, max_det=max_det, device="cpu", verbose=False)
    out = []
    for (x0, y0, _x1, _y1), r in zip(wins, results, strict=True):
        d = r.boxes.data.cpu().numpy().astype(np.float64)
        d[:, [0, 2]] = np.clip(d[:, [0, 2]], 0, w)
        d[:, [1, 3]] = np.clip(d[:, [1, 3]], 0, h)
        d = d[(d[:, 0] < d[:, 2]) & (d[:, 1] < d[:, 3])]
        d[:, :4] += [x0, y0, x0, y0]
        out.append(d)
    return out


@pytest.mark.parametrize("batch", [None, 3])
def test_direct_tiles_equal_ultralytics_predict(yolo: Any, frame: np.ndarray, batch: int | None,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    opts = SliceOptions(width=IMGSZ, height=IMGSZ, overlap=0.2, full_frame=False, batch=batch)
    n_tiles = len(windows(frame.shape[1], frame.shape[0], opts))
    expected = np.concatenate(_per_tile_predict(yolo, frame, opts, max_det=50, step=batch or 1))
    calls: list[int] = []
    real = yolo.predict
    monkeypatch.setattr(yolo, "predict", lambda src, **kw: calls.append(1) or real(src, **kw))
    got = predict_tiles(yolo, frame, opts, conf=CONF, imgsz=IMGSZ, max_det=50)
    assert n_tiles == 12 and len(calls) == 1  # only the first call went through yolo.predict; the rest direct
    assert len(got) == len(expected) > 12 * 40
    np.testing.assert_allclose(got.xyxy, expected[:, :4], rtol=0, atol=1e-4)
    np.testing.assert_allclose(got.conf, expected[:, 4], rtol=0, atol=1e-6)
    assert (got.cls == expected[:, 5].astype(np.int64)).all()


def test_tiles_that_need_a_letterbox_go_through_predict(yolo: Any, frame: np.ndarray,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """A 150 px tile at imgsz 160 is resized by Ultralytics' letterbox: no direct path, every tile via predict."""
    opts = SliceOptions(width=150, height=150, overlap=0.2, full_frame=False)
    expected = np.concatenate(_per_tile_predict(yolo, frame, opts, max_det=20))
    calls: list[int] = []
    real = yolo.predict
    monkeypatch.setattr(yolo, "predict", lambda src, **kw: calls.append(1) or real(src, **kw))
    got = predict_tiles(yolo, frame, opts, conf=CONF, imgsz=IMGSZ, max_det=20)
    assert len(calls) == len(windows(frame.shape[1], frame.shape[0], opts)) > 1
    np.testing.assert_allclose(got.xyxy, expected[:, :4], rtol=0, atol=1e-4)

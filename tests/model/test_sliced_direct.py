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


def _meeting_inference(real: Any, seen: list[tuple[str, int]]) -> Any:
    """``predictor.inference`` that records (thread name, PyTorch threads) per call, and holds the first two calls
    on the tile threads until both have arrived: two threads must run at once (fails after 60 s if not), however
    the scheduler orders them."""
    import threading

    import torch

    meet, lock, waiting = threading.Barrier(2, timeout=60), threading.Lock(), [0]

    def inference(im: Any, *a: Any, **kw: Any) -> Any:
        name = threading.current_thread().name
        seen.append((name, torch.get_num_threads()))
        if name.startswith("gtlabel-tiles"):
            with lock:
                waiting[0] += 1
                wait = waiting[0] <= 2
            if wait:
                meet.wait()
        return real(im, *a, **kw)

    return inference


def test_cpu_threads_share_the_tiles_with_the_same_boxes(yolo: Any, frame: np.ndarray,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """On CPU the direct calls run on ``workers`` threads of one PyTorch thread each, at once; the boxes are
    exactly those of one thread, in the same order, and PyTorch's thread setting is put back afterwards."""
    import torch

    opts = SliceOptions(width=IMGSZ, height=IMGSZ, overlap=0.2, full_frame=False, workers=1)
    one = predict_tiles(yolo, frame, opts, conf=CONF, imgsz=IMGSZ, max_det=50)  # also sets the predictor up
    seen: list[tuple[str, int]] = []
    monkeypatch.setattr(yolo.predictor, "inference", _meeting_inference(yolo.predictor.inference, seen))
    threads_before = torch.get_num_threads()
    many = predict_tiles(yolo, frame, SliceOptions(width=IMGSZ, height=IMGSZ, overlap=0.2, full_frame=False,
                                                   workers=3), conf=CONF, imgsz=IMGSZ, max_det=50)
    assert torch.get_num_threads() == threads_before
    direct = [s for s in seen if s[0].startswith("gtlabel-tiles")]
    assert len(direct) == 11 and {n for _, n in direct} == {1}  # 12 tiles: the first via yolo.predict
    assert len(one) == len(many) > 12 * 40
    assert np.array_equal(one.xyxy, many.xyxy) and np.array_equal(one.conf, many.conf)
    assert np.array_equal(one.cls, many.cls)
    expected = np.concatenate(_per_tile_predict(yolo, frame, opts, max_det=50))
    np.testing.assert_allclose(many.xyxy, expected[:, :4], rtol=0, atol=1e-4)


def test_default_workers_follow_the_cpus(yolo: Any, frame: np.ndarray, monkeypatch: pytest.MonkeyPatch) -> None:
    """``workers=None`` on CPU with a PyTorch model: one thread per usable CPU (the affinity mask the function
    reads, set here to 2 CPUs, then 1); no tile threads when only one CPU is usable."""
    import os

    predict_tiles(yolo, frame, SliceOptions(width=IMGSZ, height=IMGSZ, full_frame=False), conf=CONF, imgsz=IMGSZ)
    real = yolo.predictor.inference
    for cpus, expected in (({0, 1}, 2), ({0}, 0)):
        seen: list[tuple[str, int]] = []
        monkeypatch.setattr(yolo.predictor, "inference", _meeting_inference(real, seen))
        monkeypatch.setattr(os, "sched_getaffinity", lambda _pid, cpus=cpus: cpus)
        predict_tiles(yolo, frame, SliceOptions(width=IMGSZ, height=IMGSZ, full_frame=False), conf=CONF,
                      imgsz=IMGSZ)
        assert len({name for name, _ in seen if name.startswith("gtlabel-tiles")}) == expected

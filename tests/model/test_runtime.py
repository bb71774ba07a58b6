"""Inference runtimes (gtlabel.model.runtime): the session's tiny trained YOLO11n (built from yolo11n.yaml, never
a downloaded .pt) exported to ONNX Runtime and OpenVINO; the export cache; the clear errors.

What is held, and why so: the runtime's forward pass equals PyTorch's on the same tiles within float32 noise
(boxes 1e-2 px, scores 1e-5; measured ~2e-4 px and ~1e-6), and the sliced boxes on the runtime equal SAHI's
get_sliced_prediction given the same exported model (the bench's check: one-to-one, same class, IoU >= 0.99,
confidences within 1e-3). The sliced boxes are not compared across runtimes here: this 2-epoch model scores
everything ~0.0002-0.003 with near-ties, and a 1e-7 change in a score flips which of two tied boxes NMS keeps
(measured: ONNX Runtime vs PyTorch 8-17 of 27-78 boxes paired). With a model that has learned (the demo's) the
boxes across runtimes pair one-to-one with SAHI's on the .pt: bench/bench_sliced.py checks that before it prints."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from gtlabel.errors import ConfigError, MissingExtra
from gtlabel.model.common import load_model
from gtlabel.model.runtime import check_runtime, export_key, exported_model, runtime_precision
from gtlabel.model.sliced import SAHI_NAMES, SliceOptions, agreement, boxes_from_sahi, predict_frame

pytest.importorskip("onnxruntime")
pytest.importorskip("openvino")
pytest.importorskip("sahi")

pytestmark = pytest.mark.train
IMGSZ = 320
CONF = 0.0002  # the 2-epoch model is unsure of everything: a low floor gives boxes
OPTS = SliceOptions(width=320, height=256, overlap=0.2, merge="nmm", match="ios", threshold=0.5)


def _frame(width: int, height: int, seed: int) -> np.ndarray:
    """A gray BGR frame with small boxes in the colours of conftest's training images."""
    rng = np.random.default_rng(seed)
    im = np.full((height, width, 3), int(rng.integers(90, 140)), np.uint8)
    colours = [(40, 40, 230), (60, 200, 40), (230, 80, 50)]  # BGR of conftest's red, green, blue
    for _ in range(40):
        w, h = (int(v) for v in rng.integers(14, 60, 2))
        x, y = int(rng.integers(0, width - w)), int(rng.integers(0, height - h))
        im[y:y + h, x:x + w] = colours[int(rng.integers(3))]
    return im


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("runtime-cache")


@pytest.fixture(scope="module")
def tiles() -> Any:
    """Six tiles of a frame as Ultralytics feeds them (RGB, 0-1, BCHW)."""
    import torch

    frame = _frame(1000, 700, 0)
    crops = [frame[y:y + IMGSZ, x:x + IMGSZ] for y in (0, 380) for x in (0, 340, 680)]
    return torch.from_numpy(np.stack(crops)[..., ::-1].copy()).permute(0, 3, 1, 2).float() / 255


def _forward(yolo: Any, tiles: Any) -> np.ndarray:
    yolo.predict(np.zeros((IMGSZ, IMGSZ, 3), np.uint8), imgsz=IMGSZ, device="cpu", verbose=False)
    out = [yolo.predictor.inference(tiles[i:i + 1]) for i in range(len(tiles))]  # one tile per call, as on CPU
    return np.concatenate([np.asarray(o[0] if isinstance(o, list | tuple) else o) for o in out])


def _reference(model: Any) -> Any:
    """SAHI's Ultralytics model on its own YOLO object (``model``: loaded apart from the one under test)."""
    from sahi import AutoDetectionModel

    return AutoDetectionModel.from_pretrained(model_type="ultralytics", model=model, confidence_threshold=CONF,
                                              device="cpu", image_size=IMGSZ)


def _sahi(ref: Any, frame: np.ndarray) -> Any:
    from sahi.predict import get_sliced_prediction

    r = get_sliced_prediction(np.ascontiguousarray(frame[:, :, ::-1]), ref, slice_height=OPTS.height,
                              slice_width=OPTS.width, overlap_height_ratio=OPTS.overlap,
                              overlap_width_ratio=OPTS.overlap, perform_standard_pred=True,
                              postprocess_type=SAHI_NAMES[OPTS.merge], postprocess_match_metric=SAHI_NAMES[OPTS.match],
                              postprocess_match_threshold=OPTS.threshold, verbose=0, force_postprocess_type=True)
    return boxes_from_sahi(r.object_prediction_list)


@pytest.mark.parametrize("runtime", ["onnx", pytest.param("openvino", marks=pytest.mark.slow)])
def test_runtime_forward_equals_torch_and_sliced_boxes_equal_sahis(trained: dict[str, object], cache: Path,
                                                                   tiles: Any, runtime: str) -> None:
    weights = str(trained["weights"])
    ref = _forward(load_model(weights), tiles)
    yolo = load_model(weights, runtime=runtime, imgsz=IMGSZ, cache_dir=cache)
    out = _forward(yolo, tiles)
    assert out.shape == ref.shape
    assert np.abs(out[:, :4] - ref[:, :4]).max() < 1e-2  # box coordinates, tile pixels (measured ~2e-4)
    assert np.abs(out[:, 4:] - ref[:, 4:]).max() < 1e-5  # class scores (measured ~1e-6)
    # the sliced pipeline on the runtime = SAHI's on the same exported model (which Ultralytics' YOLO loads)
    matched = 0
    # SAHI's model: the exported one loaded again (its own YOLO object and predictor, as SAHI gets it), once for
    # both frames (each load of an OpenVINO model compiles it again)
    ref = _reference(load_model(weights, runtime=runtime, imgsz=IMGSZ, cache_dir=cache))
    for s, (w, h) in enumerate([(1000, 700), (700, 1000)]):
        frame = _frame(w, h, s)
        agree = agreement(predict_frame(yolo, frame, OPTS, conf=CONF, imgsz=IMGSZ), _sahi(ref, frame))
        assert agree.same(conf_tol=1e-3), (runtime, s, agree)
        matched += agree.matched
    assert matched > 20  # the comparison saw real boxes
    if runtime == "openvino":  # bfloat16 (OpenVINO's default on AVX512-BF16/AMX CPUs) is pinned away
        assert runtime_precision(yolo) == "<Type: 'float32'>"
        yolo.predict(_frame(300, 200, 9), imgsz=IMGSZ, device="CPU", verbose=False)  # a new predictor set-up
        assert runtime_precision(yolo) == "<Type: 'float32'>"


def test_export_is_cached_and_keyed_by_the_weights(trained: dict[str, object], cache: Path,
                                                   tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from ultralytics.engine.model import Model

    exports: list[str] = []
    real = Model.export

    def counting(self: Any, **kwargs: Any) -> Any:
        exports.append(str(kwargs.get("format")))
        return real(self, **kwargs)

    monkeypatch.setattr(Model, "export", counting)
    weights = tmp_path / "w.pt"
    weights.write_bytes(Path(str(trained["weights"])).read_bytes())
    first = exported_model(weights, "onnx", imgsz=IMGSZ, cache_dir=tmp_path / "c")
    again = exported_model(weights, "onnx", imgsz=IMGSZ, cache_dir=tmp_path / "c")
    assert first == again and first.is_file() and exports == ["onnx"]
    assert first.parent.name == export_key(weights, "onnx", IMGSZ)
    assert not [p for p in first.parent.parent.iterdir() if p.name.endswith(".tmp")]  # no half-written folder
    # other weights (a changed checkpoint in the same file): exported again, beside the first
    import torch

    ckpt = torch.load(weights, map_location="cpu", weights_only=False)
    ckpt["date"] = "changed"
    torch.save(ckpt, weights)
    changed = exported_model(weights, "onnx", imgsz=IMGSZ, cache_dir=tmp_path / "c")
    assert changed != first and changed.is_file() and first.is_file() and exports == ["onnx", "onnx"]
    # another imgsz is another key
    assert export_key(weights, "onnx", 640) != export_key(weights, "onnx", IMGSZ)


def test_missing_runtime_names_the_extra(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    real = importlib.util.find_spec

    def hide(name: str, *args: Any, **kwargs: Any) -> Any:
        return None if name in {"openvino", "onnxruntime"} else real(name, *args, **kwargs)

    monkeypatch.setattr(importlib.util, "find_spec", hide)
    for runtime, module in (("openvino", "openvino"), ("onnx", "onnxruntime")):
        with pytest.raises(MissingExtra) as info:
            check_runtime(runtime)
        assert info.value.extra == "runtime" and info.value.module == module
        assert "pip install 'gtlabel[runtime]'" in str(info.value)
    assert check_runtime("torch") == "torch"


def test_bad_runtime_arguments(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="runtime must be one of torch, onnx, openvino"):
        check_runtime("tensorrt")
    with pytest.raises(ConfigError, match=r"trained \.pt weights"):
        load_model("yolo11n.yaml", runtime="onnx")
    not_pt = tmp_path / "w.onnx"
    not_pt.write_bytes(b"x")
    with pytest.raises(ConfigError, match=r"trained \.pt weights"):
        exported_model(not_pt, "onnx")
    assert os.listdir(tmp_path) == ["w.onnx"]  # nothing written


def test_exported_runtime_batches_tiles_on_cpu(trained: dict[str, object], cache: Path) -> None:
    """batch=None on CPU: the first tile through predict, then EXPORTED_CPU_BATCH tiles per call for an exported
    model (one per call for PyTorch); an explicit batch wins. Counted at the predictor's forward pass."""
    from gtlabel.model.sliced import EXPORTED_CPU_BATCH, predict_tiles, windows

    def batches(yolo: Any, opts: SliceOptions) -> list[int]:
        yolo.predict(np.zeros((IMGSZ, IMGSZ, 3), np.uint8), imgsz=IMGSZ, device="cpu", verbose=False)
        pred, calls = yolo.predictor, []
        real = pred.inference

        def counting(im: Any, *args: Any, **kwargs: Any) -> Any:
            calls.append(int(im.shape[0]))
            return real(im, *args, **kwargs)

        pred.inference = counting
        try:
            predict_tiles(yolo, _frame(1000, 700, 0), opts, conf=CONF, imgsz=IMGSZ)
        finally:
            del pred.inference
        return calls

    n = len(windows(1000, 700, OPTS))
    assert n > EXPORTED_CPU_BATCH + 1
    weights = str(trained["weights"])
    onnx = load_model(weights, runtime="onnx", imgsz=IMGSZ, cache_dir=cache)
    calls = batches(onnx, OPTS)  # the first tile, the rest in batches, the whole frame (full_frame)
    assert calls[0] == 1 and max(calls) == EXPORTED_CPU_BATCH and sum(calls) == n + 1, calls
    assert batches(load_model(weights), OPTS) == [1] * (n + 1)
    calls = batches(onnx, SliceOptions(width=320, height=256, batch=3))
    assert max(calls) == 3 and sum(calls) == n + 1, calls


def test_cli_runtime_option(trained: dict[str, object], yolo_dataset: Path, tmp_path: Path) -> None:
    """--runtime on preannotate and evaluate (the export made once in the cache, the choice in metrics.json), and
    the clear errors: an unknown runtime, --runtime with --sagemaker."""
    import json

    from PIL import Image
    from typer.testing import CliRunner

    from gtlabel.cli import app

    (tmp_path / "imgs").mkdir()
    Image.fromarray(_frame(420, 300, 3)[..., ::-1]).save(tmp_path / "imgs" / "f.jpg", quality=92)
    w = str(trained["weights"])
    pre = ["preannotate", w, str(tmp_path / "imgs"), "--conf", "0.001", "--imgsz", "160", "--slice", "160"]
    r = CliRunner().invoke(app, [*pre, "-o", str(tmp_path / "p.manifest"), "--runtime", "onnx"])
    assert r.exit_code == 0, r.output
    line = json.loads((tmp_path / "p.manifest").read_text())
    assert line["prelabels"]["annotations"]  # the export ran and found boxes
    r = CliRunner().invoke(app, ["evaluate", w, str(yolo_dataset), "--imgsz", "128", "--slice", "128",
                                 "--project", str(tmp_path), "--name", "ev", "--runtime", "onnx"])
    assert r.exit_code == 0, r.output
    assert json.loads((tmp_path / "ev" / "metrics.json").read_text())["settings"]["runtime"] == "onnx"
    for bad, says in ((["--runtime", "tensorrt"], "runtime must be one of"),
                      (["--runtime", "onnx", "--sagemaker"], "--runtime runs on this machine only")):
        r = CliRunner().invoke(app, [*pre, "-o", str(tmp_path / "x.manifest"), *bad])
        assert r.exit_code != 0 and says in r.output, (bad, r.output)
    assert not (tmp_path / "x.manifest").exists()

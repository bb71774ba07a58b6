"""Inference runtimes for the same YOLO weights: PyTorch (Ultralytics' own), ONNX Runtime, OpenVINO.

``runtime="torch"`` (the default) runs the ``.pt`` as Ultralytics does. ``"onnx"`` and ``"openvino"`` export
the weights once with Ultralytics' own exporter (``dynamic=True``: any batch and any input size, so a whole
frame is letterboxed to the same rectangle as with the ``.pt``) and load the export through Ultralytics'
``YOLO``, so preprocessing, NMS and box scaling stay Ultralytics' own; only the forward pass changes.

- The export is cached under ``<cache>/exports/<key>/`` (``cache_dir`` or :func:`default_cache_dir`), the key
  being the SHA-256 of the weights' bytes, the runtime, ``imgsz``, the dynamic batch and the versions of
  Ultralytics and of the runtime: a second call reuses it, changed weights export again. The export is written
  into a private folder and renamed into place (atomic: a reader sees a whole export or none; of two processes
  exporting at once, one rename wins and the other's folder is dropped).
- Fully offline: the ONNX export runs without ``onnxslim`` (``simplify=False``), so Ultralytics'
  ``check_requirements`` finds everything installed and never reaches pip (``YOLO_AUTOINSTALL=false`` is set
  anyway, :mod:`gtlabel.model.offline`).
- OpenVINO is pinned to float32 (``INFERENCE_PRECISION_HINT=f32``): on CPUs with AVX512-BF16 or AMX its
  default is bfloat16, whose boxes moved by up to 1.2 px per 640 px tile on the project machine (bench/README.md,
  "Sliced inference"). Ultralytics compiles the model when it sets a predictor up and offers no setting for
  it, so :func:`load_exported` adds an ``on_predict_start`` callback that compiles it again with the pin (every
  ``predict``, gtlabel's and SAHI's on this ``YOLO``); Ultralytics' validator (``evaluate`` without ``slice``)
  loads its own copy and runs OpenVINO's default precision.
- ONNX Runtime and OpenVINO come in the ``runtime`` extra; asking for one that is not installed raises
  :class:`~gtlabel.errors.MissingExtra` naming it.

Measured (bench/README.md, "Runtimes"): float32 forward passes of YOLO11n on 640 px tiles, one thread, project
machine: PyTorch 98-119 ms, ONNX Runtime 75-85 ms, OpenVINO 80-86 ms; outputs within ~2e-4 px of PyTorch's. Sliced
inference on 4000x3000 frames: 1.8-2.3x the frames/s of SAHI on the ``.pt`` (mostly because these runtimes use
both cores where Ultralytics gives PyTorch cores - 1 threads), the same boxes. PyTorch's own sliced path now uses
every core too (one tile per thread, :mod:`gtlabel.model.sliced`): 1.7-2.0x SAHI's frames/s without an export.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import os
import shutil
import uuid
from functools import partial
from pathlib import Path
from typing import Any

from gtlabel.errors import ConfigError, MissingExtra
from gtlabel.model.offline import default_cache_dir, import_ultralytics

__all__ = ["RUNTIMES", "RUNTIME_EXTRA", "check_runtime", "export_key", "exported_model", "load_exported",
           "runtime_precision"]

#: ``runtime`` values: Ultralytics' PyTorch model, ONNX Runtime, OpenVINO.
RUNTIMES = ("torch", "onnx", "openvino")
#: The extra that installs the non-PyTorch runtimes.
RUNTIME_EXTRA = "runtime"
#: The modules (and distributions, for the cache key) each exported runtime needs.
_NEEDS = {"onnx": ("onnx", "onnxruntime"), "openvino": ("openvino",)}
_EXPORT_FILE = {"onnx": "model.onnx", "openvino": "model_openvino_model"}


def check_runtime(runtime: str) -> str:
    """``runtime`` if it is one of :data:`RUNTIMES` and its packages are installed; else a clear error
    (:class:`~gtlabel.errors.ConfigError` for an unknown name, :class:`~gtlabel.errors.MissingExtra` naming the
    ``runtime`` extra for a missing package)."""
    if runtime not in RUNTIMES:
        raise ConfigError(f"runtime must be one of {', '.join(RUNTIMES)}, got {runtime!r}")
    for module in _NEEDS.get(runtime, ()):
        if importlib.util.find_spec(module) is None:
            raise MissingExtra(RUNTIME_EXTRA, module)
    return runtime


def export_key(weights: Path, runtime: str, imgsz: int) -> str:
    """The cache key of an export: the weights' SHA-256, the runtime, ``imgsz``, the (dynamic) batch, and the
    versions of Ultralytics and of the runtime's packages."""
    versions = [importlib.metadata.version("ultralytics"),
                *(importlib.metadata.version(m) for m in _NEEDS.get(runtime, ()))]
    tail = hashlib.sha256("|".join(versions).encode()).hexdigest()[:8]
    with weights.open("rb") as f:
        digest = hashlib.file_digest(f, "sha256").hexdigest()
    return f"{digest[:24]}-{runtime}-{imgsz}-dynbatch-{tail}"


def exported_model(weights: str | os.PathLike[str], runtime: str, *, imgsz: int = 640,
                   cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """The export of local ``.pt`` weights for ``runtime`` (``onnx``: a ``.onnx`` file; ``openvino``: an
    ``*_openvino_model`` folder), made once and cached (module docstring)."""
    check_runtime(runtime)
    if runtime == "torch":
        raise ConfigError("the torch runtime runs the .pt itself; nothing to export")
    src = Path(weights)
    if src.suffix.lower() != ".pt" or not src.is_file():
        raise ConfigError(f"runtime={runtime!r} exports trained .pt weights; got {weights}")
    root = (Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()) / "exports"
    dest = root / export_key(src, runtime, imgsz)
    target = dest / _EXPORT_FILE[runtime]
    if target.exists():
        return target
    root.mkdir(parents=True, exist_ok=True)
    tmp = root / f".{dest.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp"
    tmp.mkdir()
    try:
        shutil.copyfile(src, tmp / "model.pt")  # the exporter writes beside its input
        yolo = import_ultralytics().YOLO(str(tmp / "model.pt"))
        extra = {"simplify": False} if runtime == "onnx" else {}  # simplify needs onnxslim (pip at run time)
        from ultralytics.utils import LOGGER

        level = LOGGER.level
        LOGGER.setLevel("WARNING")  # the exporter's progress and "Predict: yolo predict ..." hints
        try:
            yolo.export(format=runtime, dynamic=True, batch=1, imgsz=imgsz, device="cpu", verbose=False, **extra)
        finally:
            LOGGER.setLevel(level)
        if not (tmp / _EXPORT_FILE[runtime]).exists():
            raise ConfigError(f"Ultralytics' {runtime} export of {weights} wrote nothing")
        (tmp / "model.pt").unlink()
        try:
            os.replace(tmp, dest)
        except OSError:
            if not target.exists():  # not a lost race with another process
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def _pin_openvino_f32(predictor: Any, *, xml: Path) -> None:
    """Ultralytics' ``on_predict_start`` callback: compile the predictor's OpenVINO model again with
    ``INFERENCE_PRECISION_HINT=f32`` unless it already runs float32 (once per predictor set-up)."""
    backend: Any = getattr(predictor.model, "backend", None)
    compiled = getattr(backend, "ov_compiled_model", None)
    if compiled is None or str(compiled.get_property("INFERENCE_PRECISION_HINT")) == "<Type: 'float32'>":
        return
    compile_model = backend.compile_model  # partial(core.compile_model, device_name=..., config=...)
    core = compile_model.func.__self__
    config = {**compile_model.keywords["config"], "INFERENCE_PRECISION_HINT": "f32"}
    backend.compile_model = partial(compile_model.func, device_name=compile_model.keywords["device_name"],
                                    config=config)
    backend.ov_compiled_model = backend.compile_model(core.read_model(model=str(xml), weights=xml.with_suffix(".bin")))


def load_exported(weights: str | os.PathLike[str], runtime: str, *, imgsz: int = 640,
                  cache_dir: str | os.PathLike[str] | None = None) -> Any:
    """An Ultralytics ``YOLO`` running local ``.pt`` ``weights`` on ``runtime`` (exported and cached by
    :func:`exported_model`; for ``torch`` the ``.pt`` itself). OpenVINO comes pinned to float32."""
    YOLO = import_ultralytics().YOLO
    if check_runtime(runtime) == "torch":
        return YOLO(str(weights))
    target = exported_model(weights, runtime, imgsz=imgsz, cache_dir=cache_dir)
    yolo = YOLO(str(target), task="detect")
    if runtime == "openvino":  # every predictor Ultralytics sets up for this model (a new device, ...) is pinned
        yolo.add_callback("on_predict_start", partial(_pin_openvino_f32, xml=next(target.glob("*.xml"))))
    return yolo


def runtime_precision(yolo: Any) -> str | None:
    """The OpenVINO inference precision of a set-up predictor (``None`` for other runtimes): for tests."""
    backend = getattr(getattr(getattr(yolo, "predictor", None), "model", None), "backend", None)
    compiled = getattr(backend, "ov_compiled_model", None)
    return None if compiled is None else str(compiled.get_property("INFERENCE_PRECISION_HINT"))

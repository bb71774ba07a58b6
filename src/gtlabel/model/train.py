"""Train Ultralytics YOLO11 on a gtlabel dataset, fully offline, and keep the results with the dataset version.

``train_yolo`` runs ``YOLO(model).train(...)`` with the offline settings of :mod:`gtlabel.model.offline`
(``amp=False``, no font/weight/hub downloads), then writes ``metrics.json`` into the run folder: overall
precision, recall, mAP50 and mAP50-95, the same per class, the training settings, timings, and the dataset's
version and lineage reference (``lineage.json`` beside ``data.yaml``). Ultralytics prints its own progress.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from gtlabel import __version__, storage
from gtlabel.errors import ConfigError
from gtlabel.formats import strict_json
from gtlabel.model.common import lineage_ref, load_model, metrics_summary, resolve_dataset
from gtlabel.model.offline import import_ultralytics

__all__ = ["METRICS_FILE", "TrainResult", "train_yolo"]

METRICS_FILE = "metrics.json"
#: Ultralytics arguments gtlabel sets itself; ``extra_args`` may not override them.
_RESERVED_ARGS = frozenset({"data", "model", "project", "name", "amp"})


@dataclass
class TrainResult:
    """What a training run produced. ``metrics`` holds precision, recall, mAP50, mAP50-95 (0..1)."""

    run_dir: Path
    weights: Path
    last: Path | None
    metrics_path: Path
    metrics: dict[str, float]
    per_class: dict[str, dict[str, Any]]
    dataset_version: str | None
    seconds: float
    epochs: int
    record: dict[str, Any] = field(repr=False, default_factory=dict)


def _write_json(path: Path, obj: Mapping[str, Any]) -> None:
    storage.write_bytes(path, strict_json.dumps(obj, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n")


def train_yolo(
    dataset: str | os.PathLike[str],
    model: str | os.PathLike[str] = "yolo11n.yaml",
    *,
    epochs: int = 50,
    imgsz: int = 640,
    batch: int = 16,
    device: str = "cpu",
    seed: int = 0,
    project: str | os.PathLike[str] = "runs/gtlabel",
    name: str = "train",
    exist_ok: bool = False,
    workers: int = 0,
    patience: int = 100,
    plots: bool = True,
    verbose: bool = True,
    cache_dir: str | os.PathLike[str] | None = None,
    extra_args: Mapping[str, Any] | None = None,
    on_epoch: Callable[[int, int], None] | None = None,
) -> TrainResult:
    """Train YOLO11 (``yolo11n.yaml`` from scratch by default, or from local/S3 weights) on ``dataset``.

    ``dataset`` is a ``data.yaml`` or its folder, local or ``s3://`` (downloaded to the cache). Results go to
    ``project/name`` (Ultralytics adds a number when it exists and ``exist_ok`` is false): ``weights/best.pt``,
    ``weights/last.pt``, Ultralytics' plots, and ``metrics.json``. ``extra_args`` passes other Ultralytics
    train arguments (``lr0``, ``mosaic``...). ``on_epoch(done, total)`` is called after each epoch (a progress
    bar; Ultralytics' own output can go to a file with :func:`gtlabel.model.console.ultralytics_log`).
    """
    if epochs < 1:
        raise ConfigError(f"epochs must be >= 1, got {epochs}")
    if imgsz < 32 or imgsz % 32:
        raise ConfigError(f"imgsz must be a multiple of 32 (>= 32), got {imgsz}")
    if batch < 1 and batch != -1:
        raise ConfigError(f"batch must be >= 1 (or -1 for auto), got {batch}")
    if storage.is_s3(str(project)):
        raise ConfigError(f"project must be a local folder, got {project} (upload the run folder afterwards)")
    bad = _RESERVED_ARGS.intersection(extra_args or {})
    if bad:
        raise ConfigError(f"extra_args may not set {', '.join(sorted(bad))}; use the named arguments")

    import_ultralytics()  # the missing extra is the first thing to say
    ds = resolve_dataset(dataset, cache_dir=cache_dir)
    lineage = lineage_ref(ds.root)
    yolo = load_model(model, cache_dir=cache_dir)
    args: dict[str, Any] = {
        "data": str(ds.data_yaml), "epochs": epochs, "imgsz": imgsz, "batch": batch, "device": device,
        "seed": seed, "deterministic": True, "workers": workers, "patience": patience, "plots": plots,
        "project": str(Path(project).expanduser().resolve()), "name": name, "exist_ok": exist_ok,
        "amp": False, "verbose": verbose,
    }
    args.update(extra_args or {})
    if on_epoch is not None:
        report = on_epoch
        yolo.add_callback("on_train_epoch_end", lambda trainer: report(int(trainer.epoch) + 1, int(trainer.epochs)))
    t0 = time.perf_counter()
    yolo.train(**args)
    seconds = time.perf_counter() - t0

    trainer = yolo.trainer
    run_dir = Path(trainer.save_dir)
    best = Path(trainer.best)
    last = Path(trainer.last) if Path(trainer.last).exists() else None
    weights = best if best.exists() else (last or best)
    det = trainer.validator.metrics
    names = {int(k): str(v) for k, v in dict(det.names or ds.names).items()}
    overall, per_class = metrics_summary(det, names)
    epochs_run = int(getattr(trainer, "epoch", epochs - 1)) + 1
    record: dict[str, Any] = {
        "kind": "train",
        "created": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "model": str(model),
        "weights": str(weights),
        "run_dir": str(run_dir),
        "split": "val",
        "metrics": overall,
        "per_class": per_class,
        "names": {str(k): v for k, v in sorted(names.items())},
        "dataset": {"source": ds.source, "data_yaml": str(ds.data_yaml), "root": str(ds.root), **lineage},
        "settings": {"epochs": epochs, "imgsz": imgsz, "batch": batch, "device": device, "seed": seed,
                     "workers": workers, "patience": patience, **{k: v for k, v in (extra_args or {}).items()
                                                                  if isinstance(v, str | int | float | bool)}},
        "timing": {"seconds": round(seconds, 3), "epochs_run": epochs_run,
                   "seconds_per_epoch": round(seconds / max(1, epochs_run), 3)},
        "versions": {"gtlabel": __version__, **_library_versions()},
    }
    metrics_path = run_dir / METRICS_FILE
    _write_json(metrics_path, record)
    return TrainResult(run_dir=run_dir, weights=weights, last=last, metrics_path=metrics_path, metrics=overall,
                       per_class=per_class, dataset_version=lineage.get("version"), seconds=seconds,
                       epochs=epochs_run, record=record)


def _library_versions() -> dict[str, str]:
    out: dict[str, str] = {}
    try:
        import ultralytics

        out["ultralytics"] = str(ultralytics.__version__)
        import torch

        out["torch"] = str(torch.__version__)
    except ImportError:  # pragma: no cover - train() already needed them
        pass
    return out

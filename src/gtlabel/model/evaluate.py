"""Evaluate a trained YOLO11 model on a labeled split: per-class metrics, a confusion matrix plot, metrics.json.

The split is ``test`` when the dataset has one, else ``val`` (said in the result). Without ``slice`` the
numbers are Ultralytics' validator's (``yolo val``). With ``slice`` every full frame of the split is
predicted on overlapping tiles (:mod:`gtlabel.model.sliced`) and scored with Ultralytics' own matching and AP
code (:mod:`gtlabel.model.detmetrics`), per class and by COCO object size (``by_size``). Ultralytics' validator
draws ``confusion_matrix.png``; when it did not (plots failed or were off), gtlabel draws one with matplotlib
from the validator's matrix, so the PNG always exists. The raw matrix (rows = predicted, columns = true,
``background`` last, Ultralytics' layout) is kept in ``metrics.json`` too.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from gtlabel import __version__, storage
from gtlabel.errors import ConfigError
from gtlabel.formats import strict_json
from gtlabel.model.common import (
    LocalDataset,
    lineage_ref,
    load_model,
    metrics_summary,
    model_names,
    progress,
    resolve_dataset,
)
from gtlabel.model.detmetrics import FrameMetrics, iter_frames, read_yolo_labels, split_images
from gtlabel.model.offline import import_ultralytics
from gtlabel.model.sliced import SliceOptions, predict_frame, slice_options

__all__ = ["EvalResult", "evaluate", "frame_metrics", "plot_confusion_matrix"]


@dataclass
class EvalResult:
    """Metrics of one evaluation. ``split`` is the split actually used (``val`` when there is no test)."""

    save_dir: Path
    split: str
    metrics: dict[str, float]
    per_class: dict[str, dict[str, Any]]
    confusion_matrix: list[list[float]]
    confusion_matrix_png: Path
    metrics_path: Path
    dataset_version: str | None
    record: dict[str, Any] = field(repr=False, default_factory=dict)
    by_size: dict[str, dict[str, Any]] = field(default_factory=dict)  # sliced evaluation: small/medium/large

    def table(self) -> list[dict[str, Any]]:
        """Per-class rows (class, instances, precision, recall, mAP50, mAP50-95) for display."""
        return [{"class": name, **{k: v for k, v in row.items() if k != "class_id"}}
                for name, row in self.per_class.items()]


def plot_confusion_matrix(matrix: Sequence[Sequence[float]], names: Sequence[str], path: Path, *,
                          title: str = "Confusion matrix") -> Path:
    """Draw a confusion matrix (rows predicted, columns true; last row/column ``background``) to a PNG."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    labels = [*names, "background"]
    n = len(labels)
    fig, ax = plt.subplots(figsize=(2 + 0.6 * n, 1.6 + 0.6 * n), dpi=120)
    try:
        im = ax.imshow([list(map(float, row)) for row in matrix], cmap="Blues")
        ax.set_xticks(range(n), labels, rotation=45, ha="right")
        ax.set_yticks(range(n), labels)
        ax.set_xlabel("True")
        ax.set_ylabel("Predicted")
        ax.set_title(title)
        for i, row in enumerate(matrix):
            for j, v in enumerate(row):
                if v:
                    ax.text(j, i, f"{v:g}", ha="center", va="center", fontsize=8)
        fig.colorbar(im, ax=ax, fraction=0.046)
        fig.tight_layout()
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp.png")
        fig.savefig(tmp)
        os.replace(tmp, path)
    finally:
        plt.close(fig)
    return path


def frame_metrics(yolo: Any, ds: LocalDataset, split: str, slicing: SliceOptions | None, *, conf: float = 0.001,
                  iou: float = 0.7, imgsz: int = 640, device: str = "cpu", max_det: int = 300) -> FrameMetrics:
    """Predict every full frame of ``split`` (sliced when ``slicing`` is given, else the whole frame at
    ``imgsz``) and accumulate Ultralytics' metrics against the frame's YOLO labels."""
    names = {int(k): str(v) for k, v in (model_names(yolo) or ds.names).items()}
    images = split_images(ds.root, ds.splits[split])
    fm = FrameMetrics(names)
    with progress() as bar:
        task = bar.add_task("evaluate" + (" (sliced)" if slicing else ""), total=len(images))
        for path, frame in iter_frames(images):
            h, w = int(frame.shape[0]), int(frame.shape[1])
            if slicing is not None:
                fb = predict_frame(yolo, frame, slicing, conf=conf, iou=iou, imgsz=imgsz, device=device,
                                   max_det=max_det)
                xyxy, confs, clss = fb.xyxy, fb.conf, fb.cls
            else:
                boxes = yolo.predict(frame, conf=conf, iou=iou, imgsz=imgsz, device=device, max_det=max_det,
                                     verbose=False)[0].boxes
                xyxy, confs, clss = (boxes.xyxy.cpu().numpy(), boxes.conf.cpu().numpy(),
                                     boxes.cls.cpu().numpy())
            gt_cls, gt_xyxy = read_yolo_labels(path, w, h)
            fm.add(path.name, xyxy, confs, clss, gt_cls, gt_xyxy)
            bar.advance(task)
    return fm


def evaluate(
    model_path: str | os.PathLike[str],
    dataset: str | os.PathLike[str],
    *,
    split: str = "test",
    imgsz: int = 640,
    batch: int = 16,
    device: str = "cpu",
    conf: float = 0.001,
    iou: float = 0.7,
    workers: int = 0,
    project: str | os.PathLike[str] = "runs/gtlabel",
    name: str = "evaluate",
    exist_ok: bool = False,
    verbose: bool = True,
    cache_dir: str | os.PathLike[str] | None = None,
    slice: int | tuple[int, int] | SliceOptions | None = None,
    overlap: float = 0.2,
    merge: str = "nms",
    match: str = "ios",
    match_threshold: float = 0.5,
    max_det: int = 300,
    runtime: str = "torch",
) -> EvalResult:
    """Validate ``model_path`` (local or ``s3://`` weights) on ``split`` of ``dataset`` and save the results in
    ``project/name``: ``metrics.json``, ``confusion_matrix.png`` (+ the normalized one and PR curves).

    ``slice`` (with ``overlap``, ``merge``, ``match``, ``match_threshold``; :mod:`gtlabel.model.sliced`):
    evaluate on the full frames with sliced inference, per class and by object size (``by_size``: COCO's
    small < 32x32 px, medium < 96x96, large), with Ultralytics' metric code; ``max_det`` then counts per tile.
    ``runtime``: ``"torch"`` (default), ``"onnx"`` (ONNX Runtime) or ``"openvino"``: the same weights exported
    once and cached (:mod:`gtlabel.model.runtime`, the ``runtime`` extra); a faster forward pass on CPU.
    """
    if split not in {"train", "val", "test"}:
        raise ConfigError(f"split must be one of train, val, test; got {split!r}")
    if storage.is_s3(str(project)):
        raise ConfigError(f"project must be a local folder, got {project}")
    slicing = slice_options(slice, overlap=overlap, merge=merge, match=match, threshold=match_threshold)
    import_ultralytics()  # the missing extra is the first thing to say
    ds = resolve_dataset(dataset, cache_dir=cache_dir)
    used = split if split in ds.splits else "val"
    note = None if used == split else f"the dataset has no {split} split; evaluated on val"
    lineage = lineage_ref(ds.root)
    yolo = load_model(model_path, cache_dir=cache_dir, runtime=runtime, imgsz=imgsz)
    t0 = time.perf_counter()
    by_size: dict[str, dict[str, Any]] = {}
    if slicing is None:
        det = yolo.val(data=str(ds.data_yaml), split=used, imgsz=imgsz, batch=batch, device=device, conf=conf,
                       iou=iou, workers=workers, plots=True, project=str(Path(project).expanduser().resolve()),
                       name=name, exist_ok=exist_ok, verbose=verbose)
        save_dir = Path(det.save_dir)
        names = {int(k): str(v) for k, v in dict(det.names or model_names(yolo) or ds.names).items()}
        overall, per_class = metrics_summary(det, names)
        cm = getattr(det, "confusion_matrix", None)
        matrix = [[float(v) for v in row] for row in cm.matrix.tolist()] if cm is not None else []
    else:
        save_dir = _run_dir(Path(project).expanduser().resolve(), name, exist_ok)
        fm = frame_metrics(yolo, ds, used, slicing, conf=conf, iou=iou, imgsz=imgsz, device=device,
                           max_det=max_det)
        names = fm.names
        overall, per_class, by_size = fm.results()
        matrix = fm.confusion_matrix()
    seconds = time.perf_counter() - t0
    png = save_dir / "confusion_matrix.png"
    if not png.exists() or png.stat().st_size == 0:
        plot_confusion_matrix(matrix, [names[i] for i in sorted(names)], png)
    record: dict[str, Any] = {
        "kind": "evaluate",
        "created": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "weights": str(model_path),
        "split": used,
        "note": note,
        "metrics": overall,
        "per_class": per_class,
        "names": {str(k): v for k, v in sorted(names.items())},
        "confusion_matrix": {"labels": [*(names[i] for i in sorted(names)), "background"],
                             "layout": "rows predicted, columns true", "matrix": matrix},
        "confusion_matrix_png": str(png),
        "dataset": {"source": ds.source, "data_yaml": str(ds.data_yaml), "root": str(ds.root), **lineage},
        "settings": {"imgsz": imgsz, "batch": batch, "device": device, "conf": conf, "iou": iou, "runtime": runtime,
                     **({"slicing": slicing.record(), "max_det": max_det} if slicing else {})},
        "timing": {"seconds": round(seconds, 3)},
        "versions": {"gtlabel": __version__},
        **({"by_size": by_size} if slicing else {}),
    }
    metrics_path = save_dir / "metrics.json"
    storage.write_bytes(metrics_path, strict_json.dumps(record, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n")
    return EvalResult(save_dir=save_dir, split=used, metrics=overall, per_class=per_class, confusion_matrix=matrix,
                      confusion_matrix_png=png, metrics_path=metrics_path, dataset_version=lineage.get("version"),
                      record=record, by_size=by_size)


def _run_dir(project: Path, name: str, exist_ok: bool) -> Path:
    """``project/name``, numbered (``name2``, ``name3``...) when it exists and not ``exist_ok``, as Ultralytics
    numbers its runs."""
    path = project / name
    n = 2
    while path.exists() and not exist_ok:
        path = project / f"{name}{n}"
        n += 1
    path.mkdir(parents=True, exist_ok=True)
    return path

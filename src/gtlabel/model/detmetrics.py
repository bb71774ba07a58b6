"""Detection metrics on full frames with Ultralytics' own code, per class and by COCO object size.

:class:`FrameMetrics` takes, frame by frame, the model's boxes (any inference: whole frame or sliced) and the
ground truth in the same pixels, and matches them the way ``yolo val`` does: IoU by
``ultralytics.utils.metrics.box_iou``, the greedy one-to-one matching of
``DetectionValidator.match_predictions`` at the IoU thresholds 0.50:0.05:0.95, precision / recall / AP by
``DetMetrics`` (``ap_per_class``). So the numbers mean what ``yolo val`` numbers mean; the confusion matrix
is Ultralytics' ``ConfusionMatrix`` too.

By size (COCO's areas, pixels of the evaluated frame): ``small`` < 32x32, ``medium`` < 96x96, ``large`` the
rest, on box area. A size's ground truth are the boxes of that size; a prediction belongs to the size of the
ground-truth box it matches at IoU 0.5, and an unmatched prediction to its own size (COCO's rule for
unmatched detections; COCO ignores predictions matched to other sizes, we leave them out likewise).

Ground truth: YOLO label files (``class cx cy w h`` normalised), scaled by the frame's displayed size
(EXIF-upright, as Ultralytics' ``exif_size`` and the workers see it).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from gtlabel.errors import InputError, NotFound
from gtlabel.model.common import display_image, metrics_summary

__all__ = ["SIZES", "FrameMetrics", "iter_frames", "read_yolo_labels", "size_of", "split_images"]

#: COCO's object sizes: (name, upper bound of the box area in px^2), the last open-ended.
SIZES: tuple[tuple[str, float], ...] = (("small", 32.0 ** 2), ("medium", 96.0 ** 2), ("large", float("inf")))


def size_of(areas: Any) -> Any:
    """The index into :data:`SIZES` of each box area (numpy array in, int array out)."""
    import numpy as np

    return np.searchsorted(np.array([b for _, b in SIZES[:-1]]), np.asarray(areas, dtype=np.float64), side="right")


def split_images(root: Path, split: str) -> list[Path]:
    """The images of a dataset split as Ultralytics lists them: a folder (recursively, its image formats) or a
    ``.txt`` of paths (relative to the dataset root), sorted."""
    from ultralytics.data.utils import IMG_FORMATS

    path = (root / split) if not Path(split).is_absolute() else Path(split)
    if path.is_dir():
        return sorted(p for p in path.rglob("*") if p.suffix[1:].lower() in IMG_FORMATS and p.is_file())
    if path.is_file() and path.suffix == ".txt":
        out = []
        for raw in path.read_text(encoding="utf-8").splitlines():
            if raw.strip():
                p = Path(raw.strip())
                out.append(p if p.is_absolute() else (root / p))
        return sorted(out)
    raise NotFound("split not found (a folder of images or a .txt list)", str(path))


def read_yolo_labels(image: Path, width: int, height: int) -> tuple[Any, Any]:
    """Classes (M,) and corner boxes (M, 4) in pixels of a ``width`` x ``height`` frame from the image's YOLO
    label file (``images/`` -> ``labels/``, ``.txt``); no file: no objects."""
    import numpy as np
    from ultralytics.data.utils import img2label_paths

    label = Path(img2label_paths([str(image)])[0])
    rows: list[list[float]] = []
    if label.is_file():
        for lineno, raw in enumerate(label.read_text(encoding="utf-8").splitlines(), start=1):
            parts = raw.split()
            if not parts:
                continue
            try:
                vals = [float(v) for v in parts[:5]]
            except ValueError:
                raise InputError(f"not a number in {raw!r}", file=str(label), line=lineno) from None
            if len(parts) < 5 or vals[0] != int(vals[0]) or vals[0] < 0:
                raise InputError("expected 'class cx cy w h' (class an integer >= 0)", file=str(label), line=lineno)
            rows.append(vals)
    arr = np.array(rows, dtype=np.float64).reshape(-1, 5)
    cx, cy, w, h = arr[:, 1] * width, arr[:, 2] * height, arr[:, 3] * width, arr[:, 4] * height
    xyxy = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)
    return arr[:, 0].astype(np.int64), xyxy


def _match(pred_cls: Any, gt_cls: Any, iou: Any, iouv: Any) -> Any:
    """Ultralytics' own matching (``DetectionValidator.match_predictions``: greedy, one-to-one, detections in
    descending confidence), called on a stand-in holding only the IoU thresholds it reads."""
    import torch
    from ultralytics.models.yolo.detect import DetectionValidator

    shim = SimpleNamespace(iouv=iouv)
    return DetectionValidator.match_predictions(shim, torch.as_tensor(pred_cls),  # type: ignore[arg-type]
                                                torch.as_tensor(gt_cls),
                                                iou).cpu().numpy()


@dataclass
class _Frame:
    name: str
    tp: Any
    conf: Any
    pred_cls: Any
    pred_size: Any
    gt_cls: Any
    gt_size: Any


@dataclass
class FrameMetrics:
    """Accumulates frames (:meth:`add`), then :meth:`results` gives overall, per-class and by-size numbers."""

    names: dict[int, str]
    conf_matrix: float = 0.25  # the confidence floor of the confusion matrix (Ultralytics' default)
    frames: list[_Frame] = field(default_factory=list, init=False, repr=False)
    _cm: Any = field(default=None, init=False, repr=False)
    _iouv: Any = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        import torch
        from ultralytics.utils.metrics import ConfusionMatrix

        self._iouv = torch.linspace(0.5, 0.95, 10)  # what DetectionValidator uses
        self._cm = ConfusionMatrix(names=dict(self.names), task="detect")

    def add(self, name: str, xyxy: Any, conf: Any, cls: Any, gt_cls: Any, gt_xyxy: Any) -> None:
        """One frame: predictions (any order; ``xyxy`` (N, 4) pixels) and ground truth in the same pixels."""
        import numpy as np
        import torch
        from ultralytics.utils.metrics import box_iou

        xyxy = np.asarray(xyxy, dtype=np.float64).reshape(-1, 4)
        conf = np.asarray(conf, dtype=np.float64).reshape(-1)
        cls = np.asarray(cls, dtype=np.float64).reshape(-1)
        gt_xyxy = np.asarray(gt_xyxy, dtype=np.float64).reshape(-1, 4)
        gt_cls = np.asarray(gt_cls, dtype=np.float64).reshape(-1)
        order = np.argsort(-conf, kind="stable")
        xyxy, conf, cls = xyxy[order], conf[order], cls[order]
        n, m = len(conf), len(gt_cls)
        tp = np.zeros((n, len(self._iouv)), dtype=bool)
        matched_gt = np.full(n, -1, dtype=np.int64)
        if n and m:
            iou = box_iou(torch.from_numpy(gt_xyxy), torch.from_numpy(xyxy))
            tp = _match(cls, gt_cls, iou, self._iouv)
            matched_gt = self._matched_at_50(cls, gt_cls, iou.numpy(), tp[:, 0])
        own = size_of((xyxy[:, 2] - xyxy[:, 0]) * (xyxy[:, 3] - xyxy[:, 1]))
        gt_size = size_of((gt_xyxy[:, 2] - gt_xyxy[:, 0]) * (gt_xyxy[:, 3] - gt_xyxy[:, 1]))
        pred_size = np.where(matched_gt >= 0, gt_size[np.maximum(matched_gt, 0)] if m else own, own)
        self.frames.append(_Frame(name, tp, conf, cls, pred_size, gt_cls, gt_size))
        self._cm.process_batch({"bboxes": torch.from_numpy(xyxy), "conf": torch.from_numpy(conf),
                                "cls": torch.from_numpy(cls)},
                               {"bboxes": torch.from_numpy(gt_xyxy), "cls": torch.from_numpy(gt_cls)},
                               conf=self.conf_matrix)

    @staticmethod
    def _matched_at_50(cls: Any, gt_cls: Any, iou: Any, correct: Any) -> Any:
        """Which ground-truth box each detection took at IoU 0.5, by Ultralytics' rule (the detections in
        confidence order each claim their best unclaimed same-class box with IoU >= 0.5); -1 for none. Only
        the detections Ultralytics counts correct there claim one (checked against its own matching)."""
        import numpy as np

        iou = iou * (gt_cls[:, None] == cls[None, :])
        claimed = np.zeros(iou.shape[0], dtype=bool)
        out = np.full(iou.shape[1], -1, dtype=np.int64)
        for j in np.flatnonzero(correct):
            k = int(np.where(claimed, 0.0, iou[:, j]).argmax())
            claimed[k] = True
            out[j] = k
        return out

    def _det(self, size: int | None) -> Any:
        import numpy as np
        from ultralytics.utils.metrics import DetMetrics

        det = DetMetrics(names=dict(self.names))
        for f in self.frames:
            keep = np.ones(len(f.conf), dtype=bool) if size is None else f.pred_size == size
            gkeep = np.ones(len(f.gt_cls), dtype=bool) if size is None else f.gt_size == size
            det.update_stats({"tp": f.tp[keep], "conf": f.conf[keep], "pred_cls": f.pred_cls[keep],
                              "target_cls": f.gt_cls[gkeep], "target_img": np.unique(f.gt_cls[gkeep]),
                              "im_name": f.name})
        det.process()
        return det

    def results(self) -> tuple[dict[str, float], dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
        """Overall and per-class numbers (as :func:`gtlabel.model.common.metrics_summary`), and by size:
        ``{"small": {"instances": n, "precision": .., "recall": .., "mAP50": .., "mAP50-95": ..,
        "per_class": {...}}, ...}`` (``None`` metrics for a size without ground truth)."""
        overall, per_class = metrics_summary(self._det(None), self.names)
        by_size: dict[str, dict[str, Any]] = {}
        for index, (label, _bound) in enumerate(SIZES):
            det = self._det(index)
            instances = int(sum(int((f.gt_size == index).sum()) for f in self.frames))
            o, pc = metrics_summary(det, self.names)
            o.pop("fitness", None)
            row: dict[str, Any] = {"instances": instances, **(o if instances else dict.fromkeys(o))}
            row["per_class"] = {k: v for k, v in pc.items() if v["instances"]}
            by_size[label] = row
        return overall, per_class, by_size

    def confusion_matrix(self) -> list[list[float]]:
        """Ultralytics' matrix (rows predicted, columns true, ``background`` last)."""
        return [[float(v) for v in row] for row in self._cm.matrix.tolist()]


def iter_frames(images: list[Path]) -> Iterator[tuple[Path, Any]]:
    """Each image decoded upright (BGR), as the workers and Ultralytics see it."""
    for p in images:
        try:
            data = p.read_bytes()
        except OSError as exc:
            raise NotFound(f"image not readable: {exc}", str(p)) from None
        yield p, display_image(data, str(p))

"""Sliced inference on full frames: overlapping tiles through Ultralytics, boxes merged as SAHI merges them.

A drone frame (4000x3000) shrunk to ``imgsz=640`` loses its 20 px vehicles. Sliced inference predicts on
overlapping windows of the full frame at native resolution (SAHI's grid, :func:`windows`), optionally plus
the whole frame downscaled (SAHI's ``perform_standard_pred``, for large objects), maps every box back to frame
pixels and merges the duplicates that the overlaps produce. The semantics are SAHI's
(``sahi.predict.get_sliced_prediction`` with its Ultralytics model, sahi 0.12.8), which the tests hold us to:

- per tile Ultralytics' own NMS (``iou``) and ``conf``; boxes clamped to the frame, empty ones dropped;
- ``merge="nms"`` (SAHI's ``NMS``): a box is kept unless a kept, higher-ranked box of its class matches it;
- ``merge="nmm"`` (SAHI's ``GREEDYNMM``): the same keepers, and each suppressed box is merged into the first
  keeper that matched it (union box, the higher score, the higher-scored box's class), re-checking the match
  against the grown box as SAHI does;
- ``match="iou"`` (intersection over union) or ``"ios"`` (intersection over the smaller box), ``>= threshold``;
  rank = confidence descending, ties by (x0, y0, x1, y1), metrics in float32 like SAHI's matrix;
- per class unless ``class_agnostic``.

Unlike SAHI, nothing switches the merge silently (SAHI turns GREEDYNMM/IOS into NMS/IOU below a model
confidence of 0.1); on an accelerator the tiles of a frame go through Ultralytics in one batched call (``batch``
sets the tiles per call; on CPU one tile per call measured faster with PyTorch, shared by one thread per CPU,
8 per call with an exported runtime); after the first call the tiles skip
``yolo.predict``'s per-call machinery and go straight through its predictor's model, NMS and box scaling
(:func:`predict_tiles`). The merge is vectorised numpy: candidate pairs from a sweep over sorted x, the greedy
keep/suppress order settled by a fixed point over the pairs (no loop per box).

Speed on CPU: the forward passes of the model are ~90 % of SAHI's CPU time per frame and ~95 % of ours; both
run the same model on the same tiles. What gtlabel saves around them (SAHI's PIL crops, per-call set-up, ``Results``
and ``ObjectPrediction`` objects, its slower merge) is worth ~1.05x; the rest of its 1.7-2.0x frames/s
(bench/README.md, "Sliced inference") is the tile threads (:func:`_cpu_workers`): Ultralytics runs PyTorch on
``cores - 1`` threads on CPU, one on 2 cores. The forward pass itself gets faster with ``runtime="onnx"|"openvino"``
(:mod:`gtlabel.model.runtime`), with 8 tiles per call there.

Import cost: numpy loads when a function runs; torch and Ultralytics only in :func:`predict_tiles`, for the model
object passed in.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from gtlabel.errors import ConfigError
from gtlabel.settings import usable_cpus
from gtlabel.tiling import tile_grid

if TYPE_CHECKING:
    from collections.abc import Iterator

    import numpy as np

__all__ = ["EXPORTED_CPU_BATCH", "MATCHES", "MAX_CPU_WORKERS", "MERGES", "SAHI_NAMES", "Agreement", "FrameBoxes", "SliceOptions", "agreement",
           "boxes_from_sahi", "merge_boxes", "predict_frame", "predict_tiles", "slice_options", "windows"]

#: ``merge`` values: ``nms`` (SAHI's NMS) and ``nmm`` (SAHI's GREEDYNMM).
MERGES = ("nms", "nmm")
#: ``match`` values: intersection over union, intersection over the smaller box.
MATCHES = ("iou", "ios")
#: The names SAHI gives them (what a comparison with ``get_sliced_prediction`` passes).
SAHI_NAMES = {"nms": "NMS", "nmm": "GREEDYNMM", "iou": "IOU", "ios": "IOS"}
#: Tiles per call on CPU for a model exported to ONNX Runtime / OpenVINO (``SliceOptions(batch=None)``).
EXPORTED_CPU_BATCH = 8
#: At most this many threads share a frame's tiles on CPU (``SliceOptions(workers=None)``): each holds one tile's
#: activations while it runs.
MAX_CPU_WORKERS = 8
_PAIR_CHUNK = 2_000_000  # candidate pairs generated at a time (bounds the sweep's memory)


@dataclass(frozen=True)
class SliceOptions:
    """How to slice a frame and merge the tiles' boxes (see the module docstring for the semantics).

    ``width``/``height``: the tile size in frame pixels; ``overlap``: the share of a tile that neighbours
    share, in [0, 1); ``full_frame``: also predict on the whole frame downscaled (large objects);
    ``batch``: tiles per Ultralytics call; ``None`` (auto): all tiles of a frame in one call on an
    accelerator; on ``device="cpu"`` :data:`EXPORTED_CPU_BATCH` for a model exported to ONNX Runtime or OpenVINO
    (``runtime=``, :mod:`gtlabel.model.runtime`), else one tile per call: with PyTorch batching measured slower
    and holds the whole frame's activations at once (bench/README.md, "Sliced inference": 48 tiles in one call 7.1-7.5 CPU s per
    4000x3000 frame and 2.3 GB peak RSS vs 5.8-6.5 s and 1.1 GB one tile per call).
    ``workers``: threads that share a frame's tiles on CPU with PyTorch, one PyTorch thread each; ``None``
    (auto): one per usable CPU (at most :data:`MAX_CPU_WORKERS`) on ``device="cpu"`` with a PyTorch model, else 1
    (an accelerator, or ONNX Runtime / OpenVINO, which thread each call themselves). The boxes do not depend on it.
    """

    width: int = 640
    height: int = 640
    overlap: float = 0.2
    merge: str = "nms"
    match: str = "ios"
    threshold: float = 0.5
    full_frame: bool = True
    class_agnostic: bool = False
    batch: int | None = None
    workers: int | None = None

    def __post_init__(self) -> None:
        if not (isinstance(self.width, int) and isinstance(self.height, int)) or self.width < 32 \
                or self.height < 32:
            raise ConfigError(f"slice must be at least 32x32 pixels, got {self.width}x{self.height}")
        if not 0.0 <= self.overlap < 1.0:
            raise ConfigError(f"overlap must be in [0, 1), got {self.overlap}")
        if self.merge not in MERGES:
            raise ConfigError(f"merge must be one of {', '.join(MERGES)}, got {self.merge!r}")
        if self.match not in MATCHES:
            raise ConfigError(f"match must be one of {', '.join(MATCHES)}, got {self.match!r}")
        if not 0.0 < self.threshold <= 1.0:
            raise ConfigError(f"the match threshold must be in (0, 1], got {self.threshold}")
        if self.batch is not None and self.batch < 1:
            raise ConfigError(f"batch must be >= 1 (or None: all tiles of a frame at once), got {self.batch}")
        if self.workers is not None and (isinstance(self.workers, bool) or not isinstance(self.workers, int)
                                         or self.workers < 1):
            raise ConfigError(f"workers must be an integer >= 1 (or None: one per CPU), got {self.workers!r}")

    def record(self) -> dict[str, Any]:
        """The settings as written into metrics.json and summaries."""
        return {"slice": [self.width, self.height], "overlap": self.overlap, "merge": self.merge,
                "match": self.match, "match_threshold": self.threshold, "full_frame": self.full_frame,
                "class_agnostic": self.class_agnostic}


def slice_options(slice: int | tuple[int, int] | SliceOptions | None, *, overlap: float = 0.2,
                  merge: str = "nms", match: str = "ios", threshold: float = 0.5, full_frame: bool = True,
                  class_agnostic: bool = False, batch: int | None = None) -> SliceOptions | None:
    """The :class:`SliceOptions` of a public function's ``slice=`` argument: ``None`` (whole-frame inference),
    a size (``640``), ``(width, height)``, or options already made (returned as they are)."""
    if slice is None or isinstance(slice, SliceOptions):
        return slice
    if isinstance(slice, bool):
        raise ConfigError(f"slice must be a size or (width, height), got {slice!r}")
    if isinstance(slice, int):
        w = h = slice
    else:
        try:
            w, h = (int(v) for v in slice)
        except (TypeError, ValueError):
            raise ConfigError(f"slice must be a size or (width, height), got {slice!r}") from None
    return SliceOptions(width=w, height=h, overlap=overlap, merge=merge, match=match, threshold=threshold,
                        full_frame=full_frame, class_agnostic=class_agnostic, batch=batch)


def windows(width: int, height: int, opts: SliceOptions) -> list[tuple[int, int, int, int]]:
    """The tiles of a ``width`` x ``height`` frame as ``(x0, y0, x1, y1)``, row by row: the project's tile
    grid (:func:`gtlabel.tiling.tile_grid`, equal to SAHI's ``get_slice_bboxes``: step = size -
    int(overlap * size), edge tiles shifted inward; a frame smaller than the tile is one tile, the frame)."""
    if width < 1 or height < 1:
        raise ConfigError(f"frame size must be positive, got {width}x{height}")
    return [(t.left, t.top, t.right, t.bottom)
            for t in tile_grid(width, height, opts.width, opts.height, opts.overlap)]


# ----------------------------------------------------------------------------------------------- merging
@dataclass(frozen=True)
class FrameBoxes:
    """Boxes of one frame: ``xyxy`` (N, 4) float64 frame pixels, ``conf`` (N,) float32, ``cls`` (N,) int64,
    highest rank first."""

    xyxy: np.ndarray
    conf: np.ndarray
    cls: np.ndarray

    def __len__(self) -> int:
        return int(self.conf.shape[0])


def _metric(b: np.ndarray, i: np.ndarray, j: np.ndarray, match: str) -> np.ndarray:
    """IoU / IoS of box pairs (rows ``i``, ``j`` of ``b``), in ``b``'s dtype (float32 as SAHI's matrix)."""
    import numpy as np

    bi, bj = b[i], b[j]
    zero = b.dtype.type(0)
    iw = np.maximum(zero, np.minimum(bi[:, 2], bj[:, 2]) - np.maximum(bi[:, 0], bj[:, 0]))
    ih = np.maximum(zero, np.minimum(bi[:, 3], bj[:, 3]) - np.maximum(bi[:, 1], bj[:, 1]))
    inter = iw * ih
    ai = (bi[:, 2] - bi[:, 0]) * (bi[:, 3] - bi[:, 1])
    aj = (bj[:, 2] - bj[:, 0]) * (bj[:, 3] - bj[:, 1])
    den = ai + aj - inter if match == "iou" else np.minimum(ai, aj)
    out = np.zeros_like(inter)
    np.divide(inter, den, out=out, where=den > 0)
    return out  # type: ignore[no-any-return]


def _matching_pairs(b32: np.ndarray, cls: np.ndarray, match: str, threshold: float, agnostic: bool
                    ) -> tuple[np.ndarray, np.ndarray]:
    """All unordered pairs (i, j) whose metric is >= threshold (and of one class unless ``agnostic``).

    A sweep over boxes sorted by x0: box i can only meet the boxes after it whose x0 is left of its x1."""
    import numpy as np

    n = b32.shape[0]
    by_x = np.argsort(b32[:, 0], kind="stable")
    x0s = b32[by_x, 0]
    y0, y1 = b32[:, 1], b32[:, 3]
    ends = np.searchsorted(x0s, b32[by_x, 2], side="left")  # boxes k < ends[p] start left of p's right edge
    counts = np.maximum(ends - np.arange(n) - 1, 0)
    out_i: list[np.ndarray] = []
    out_j: list[np.ndarray] = []
    start = 0
    cum = np.cumsum(counts)
    while start < n:
        stop = int(np.searchsorted(cum, (cum[start - 1] if start else 0) + _PAIR_CHUNK, side="right"))
        stop = max(stop, start + 1)
        c = counts[start:stop]
        total = int(c.sum())
        if total:
            p = np.repeat(np.arange(start, stop), c)
            first = np.repeat(np.cumsum(c) - c, c)
            q = p + 1 + (np.arange(total) - first)
            i, j = by_x[p], by_x[q]
            y_meet = (y0[i] < y1[j]) & (y0[j] < y1[i])  # cheap: most x-neighbours are far apart in y
            i, j = i[y_meet], j[y_meet]
            if not agnostic:
                same = cls[i] == cls[j]
                i, j = i[same], j[same]
            ok = _metric(b32, i, j, match) >= np.float32(threshold)
            out_i.append(i[ok])
            out_j.append(j[ok])
        start = stop
    if not out_i:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty
    return np.concatenate(out_i).astype(np.int64), np.concatenate(out_j).astype(np.int64)


def _keep(n: int, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Greedy suppression over ranked pairs (``a`` ranked before ``b``): a box is kept iff no kept box ranked
    before it matches it. Settled as a fixed point over the pair arrays; each round decides at least the
    highest-ranked undecided box, in practice a few rounds decide all."""
    import numpy as np

    state = np.zeros(n, dtype=np.int8)  # 0 undecided, 1 kept, 2 suppressed
    while True:
        undecided = state == 0
        if not undecided.any():
            return state == 1  # type: ignore[no-any-return]
        hit = (state[a] == 1) & undecided[b]
        state[b[hit]] = 2
        blocked = np.zeros(n, dtype=bool)
        blocked[b[state[a] != 2]] = True
        state[(state == 0) & ~blocked] = 1


def _metric64(k: np.ndarray, m: np.ndarray, match: str) -> np.ndarray:
    """SAHI's ``has_match`` arithmetic (float64, on the grown keeper box)."""
    import numpy as np

    iw = np.clip(np.minimum(k[:, 2], m[:, 2]) - np.maximum(k[:, 0], m[:, 0]), 0, None)
    ih = np.clip(np.minimum(k[:, 3], m[:, 3]) - np.maximum(k[:, 1], m[:, 1]), 0, None)
    inter = iw * ih
    ak = (k[:, 2] - k[:, 0]) * (k[:, 3] - k[:, 1])
    am = (m[:, 2] - m[:, 0]) * (m[:, 3] - m[:, 1])
    den = ak + am - inter if match == "iou" else np.minimum(ak, am)
    with np.errstate(divide="ignore", invalid="ignore"):
        return inter / den  # type: ignore[no-any-return]


def merge_boxes(xyxy: np.ndarray, conf: np.ndarray, cls: np.ndarray, *, merge: str = "nms", match: str = "ios",
                threshold: float = 0.5, class_agnostic: bool = False) -> FrameBoxes:
    """Merge overlapping boxes of one frame with SAHI's postprocess semantics (module docstring).

    ``xyxy`` (N, 4) frame pixels, ``conf`` (N,), ``cls`` (N,). Returns the kept (and, for ``nmm``, merged)
    boxes ranked by confidence."""
    import numpy as np

    if merge not in MERGES or match not in MATCHES:
        raise ConfigError(f"merge must be one of {MERGES} and match one of {MATCHES}, got {merge!r}, {match!r}")
    boxes = np.asarray(xyxy, dtype=np.float64).reshape(-1, 4)
    scores = np.asarray(conf, dtype=np.float32).reshape(-1)
    classes = np.asarray(cls).astype(np.int64).reshape(-1)
    n = boxes.shape[0]
    b32 = boxes.astype(np.float32)
    order = np.lexsort((b32[:, 3], b32[:, 2], b32[:, 1], b32[:, 0], -scores))
    if n <= 1:
        return FrameBoxes(boxes[order], scores[order], classes[order])
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n)
    i, j = _matching_pairs(b32, classes, match, threshold, class_agnostic)
    first = rank[i] < rank[j]
    a, b = np.where(first, i, j), np.where(first, j, i)
    kept = _keep(n, a, b)
    out_box, out_score, out_cls = boxes.copy(), scores.copy(), classes.copy()
    if merge == "nmm" and a.size:
        # each suppressed box goes to the highest-ranked keeper that matches it (greedy NMM's claim order)
        claim = kept[a] & ~kept[b]
        ca, cb = a[claim], b[claim]
        by = np.lexsort((rank[ca], cb))
        ca, cb = ca[by], cb[by]
        firsts = np.ones(cb.size, dtype=bool)
        firsts[1:] = cb[1:] != cb[:-1]
        ka, mb = ca[firsts], cb[firsts]
        # members of a keeper in rank order; merged one position at a time across all keepers (vectorised)
        grp = np.lexsort((rank[mb], rank[ka]))
        ka, mb = ka[grp], mb[grp]
        if ka.size:
            new = np.ones(ka.size, dtype=bool)
            new[1:] = ka[1:] != ka[:-1]
            starts = np.flatnonzero(new)
            pos = np.arange(ka.size) - np.repeat(starts, np.diff(np.append(starts, ka.size)))
            for t in range(int(pos.max()) + 1):
                at = pos == t
                k, m = ka[at], mb[at]
                ok = _metric64(out_box[k], out_box[m], match) >= threshold
                k, m = k[ok], m[ok]
                out_box[k, :2] = np.minimum(out_box[k, :2], out_box[m, :2])
                out_box[k, 2:] = np.maximum(out_box[k, 2:], out_box[m, 2:])
                take_m = ~(out_score[k] > out_score[m])  # SAHI: the category of pred1 only when it scores higher
                out_cls[k[take_m]] = out_cls[m[take_m]]
                out_score[k] = np.maximum(out_score[k], out_score[m])
    keep_ranked = order[kept[order]]
    return FrameBoxes(out_box[keep_ranked], out_score[keep_ranked], out_cls[keep_ranked])


# ----------------------------------------------------------------------------------------------- predicting
def _data_of(result: Any) -> np.ndarray:
    """One Ultralytics result's boxes as an (N, 6) array (x0, y0, x1, y1, conf, cls)."""
    import numpy as np

    if result.boxes is None:
        return np.zeros((0, 6), np.float32)
    return result.boxes.data.cpu().numpy()  # type: ignore[no-any-return]


def _boxes_of(result: Any, dx: int, dy: int, width: int, height: int
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One Ultralytics result's boxes shifted into the frame: SAHI's clamp (>= 0, <= the frame size in the
    result's own coordinates) and its filter (x0 < x1 and y0 < y1) applied before the shift."""
    return _boxes_of_data(_data_of(result), dx, dy, width, height)


def _direct_ready(yolo: Any, tile: np.ndarray) -> bool:
    """Whether :func:`_direct_predict` gives Ultralytics' own predict for tiles shaped like ``tile``: a detection
    model whose predictor the preceding ``yolo.predict`` call set up, and a letterbox that leaves such a tile as it
    is (a tile of ``imgsz`` and of stride multiples: no resize, no padding), so the tensor of the tile's pixels is
    the one Ultralytics would feed."""
    pred = getattr(yolo, "predictor", None)
    if pred is None or getattr(pred.args, "task", None) != "detect" or getattr(pred, "imgsz", None) is None:
        return False
    return bool(pred.pre_transform([tile])[0].shape == tile.shape)


def _direct_predict(yolo: Any, frame_t: Any, chunk: list[tuple[int, int, int, int]]) -> list[np.ndarray]:
    """Ultralytics' predict on the tiles ``chunk`` of a frame (``frame_t``: the frame's uint8 HWC tensor) without
    its per-call machinery (source loader, letterbox copies, ``Results``): the tiles' pixels stacked into one
    tensor exactly as ``BasePredictor.preprocess`` makes it, the predictor's model (``AutoBackend``), then
    ``DetectionPredictor.postprocess``'s NMS and ``scale_boxes`` with the settings of the predict call that set
    the predictor up. Per tile an (N, 6) array (x0, y0, x1, y1, conf, cls) in tile pixels."""
    import torch
    from ultralytics.utils import nms, ops

    pred = yolo.predictor
    args = pred.args
    with torch.inference_mode():
        im = torch.stack([frame_t[y0:y1, x0:x1] for x0, y0, x1, y1 in chunk]).to(pred.device)
        im = im.permute(0, 3, 1, 2).contiguous().flip(1)  # BHWC -> BCHW, BGR -> RGB, as Ultralytics orders it
        im = (im.half() if pred.model.fp16 else im.float()).div_(255)
        raw = pred.inference(im)
        dets = nms.non_max_suppression(raw, args.conf, args.iou, args.classes, args.agnostic_nms,
                                       max_det=args.max_det, nc=0, end2end=getattr(pred.model, "end2end", False))
        out = []
        for det, (x0, y0, x1, y1) in zip(dets, chunk, strict=True):
            det[:, :4] = ops.scale_boxes((int(im.shape[2]), int(im.shape[3])), det[:, :4], (y1 - y0, x1 - x0))
            out.append(det[:, :6].cpu().numpy())
    return out


def _cpu_batch(yolo: Any) -> int:
    """Tiles per call on CPU after the first: :data:`EXPORTED_CPU_BATCH` for a model exported to ONNX Runtime or
    OpenVINO (measured quiet, back to back: 1.1-1.9x frames/s against one per call; within the run-to-run spread in
    other runs; bench/README.md, "Runtimes"), 1 for PyTorch (batching measured slower)."""
    fmt = getattr(yolo.predictor.model, "format", "pt")
    return EXPORTED_CPU_BATCH if fmt in {"onnx", "openvino"} else 1


def _boxes_of_data(data: np.ndarray, dx: int, dy: int, width: int, height: int
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`_boxes_of` on a tile's (N, 6) array."""
    import numpy as np

    xy = np.maximum(data[:, :4].astype(np.float64), 0.0)
    xy[:, [0, 2]] = np.minimum(xy[:, [0, 2]], width)
    xy[:, [1, 3]] = np.minimum(xy[:, [1, 3]], height)
    ok = (xy[:, 0] < xy[:, 2]) & (xy[:, 1] < xy[:, 3])
    xy = xy[ok] + np.array([dx, dy, dx, dy], dtype=np.float64)
    return xy, data[ok, 4].astype(np.float32), data[ok, 5].astype(np.int64)


def _cpu_workers(yolo: Any, opts: SliceOptions) -> int:
    """Threads that share a frame's tiles after the first on CPU: ``opts.workers``, else one per usable CPU (at
    most :data:`MAX_CPU_WORKERS`) for a PyTorch model, 1 for ONNX Runtime / OpenVINO (each call uses every core).
    Ultralytics runs PyTorch on ``cores - 1`` threads on CPU (one on 2 cores), and a second PyTorch thread on a tile
    of 640 measured at ~4x the CPU per tile under load (OpenMP waiting); one tile per thread, one PyTorch thread
    each, uses every core without that (bench/README.md, "Sliced inference")."""
    if opts.workers is not None:
        return opts.workers
    if getattr(yolo.predictor.model, "format", "pt") != "pt":
        return 1
    return max(1, min(usable_cpus(), MAX_CPU_WORKERS))


@contextmanager
def _torch_threads(n: int) -> Iterator[None]:
    """PyTorch's intra-op threads set to ``n`` for the block (threads started in it take the setting at their
    first operation), then put back."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def predict_tiles(yolo: Any, frame: np.ndarray, opts: SliceOptions, *, conf: float = 0.25, iou: float = 0.7,
                  imgsz: int = 640, device: str = "cpu", max_det: int = 300) -> FrameBoxes:
    """The unmerged boxes of a sliced prediction on one full frame (BGR ``numpy`` array as
    :func:`gtlabel.model.common.display_image` gives it, EXIF-upright), in frame pixels.

    The tiles of :func:`windows` go ``opts.batch`` at a time (auto: all of them on an accelerator, one at a time
    on CPU) through Ultralytics: the first through ``yolo.predict`` (which sets its predictor up with these
    settings), the others straight through that predictor's model, NMS and box scaling
    (:func:`_direct_predict`: the same tensors and the same code, without the per-call loader and ``Results``)
    when the letterbox leaves a tile as it is, else through ``yolo.predict`` too. On CPU the direct calls are
    shared by :func:`_cpu_workers` threads when every tile has the first one's size (one PyTorch thread each;
    results kept in tile order, so the boxes are the same as one thread's). The whole frame goes through
    its own ``yolo.predict`` when ``opts.full_frame`` and there is more than one tile (another input size: in a
    shared call Ultralytics would letterbox it square, SAHI does not). ``conf``, ``iou``, ``imgsz`` and
    ``max_det`` are Ultralytics' settings per tile."""
    import numpy as np

    height, width = int(frame.shape[0]), int(frame.shape[1])
    wins = windows(width, height, opts)
    cpu = str(device).lower().startswith("cpu")
    step = opts.batch or (1 if cpu else len(wins))  # on CPU, after the first call: see _cpu_batch
    kwargs = {"conf": conf, "iou": iou, "imgsz": imgsz, "device": device, "max_det": max_det, "verbose": False}
    first = wins[:step]
    crops = [frame[y0:y1, x0:x1] for x0, y0, x1, y1 in first]
    done: list[tuple[list[tuple[int, int, int, int]], list[np.ndarray]]] = [
        (first, [_data_of(r) for r in yolo.predict(crops, **kwargs)])]
    rest = wins[len(first):]
    if rest and _direct_ready(yolo, crops[0]):
        import torch

        frame_t = torch.from_numpy(np.ascontiguousarray(frame))
        if cpu and opts.batch is None:
            step = _cpu_batch(yolo)
        chunks = [rest[i:i + step] for i in range(0, len(rest), step)]
        size = (first[0][2] - first[0][0], first[0][3] - first[0][1])
        workers = min(_cpu_workers(yolo, opts), len(chunks)) if cpu else 1
        if workers > 1 and all((x1 - x0, y1 - y0) == size for x0, y0, x1, y1 in rest):
            # one tile size: the model's grid (anchors) set up by the first call is only read by the threads
            with _torch_threads(1), ThreadPoolExecutor(workers, thread_name_prefix="gtlabel-tiles") as pool:
                done += zip(chunks, pool.map(lambda c: _direct_predict(yolo, frame_t, c), chunks), strict=True)
        else:
            done += ((c, _direct_predict(yolo, frame_t, c)) for c in chunks)
    else:
        for i in range(0, len(rest), step):
            chunk = rest[i:i + step]
            datas = [_data_of(r) for r in yolo.predict([frame[y0:y1, x0:x1] for x0, y0, x1, y1 in chunk], **kwargs)]
            done.append((chunk, datas))
    parts = [_boxes_of_data(data, x0, y0, width, height)
             for chunk, datas in done for (x0, y0, _x1, _y1), data in zip(chunk, datas, strict=True)]
    if opts.full_frame and len(wins) > 1:
        parts.append(_boxes_of(yolo.predict(frame, **kwargs)[0], 0, 0, width, height))
    return FrameBoxes(np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]),
                      np.concatenate([p[2] for p in parts]))


def predict_frame(yolo: Any, frame: np.ndarray, opts: SliceOptions, *, conf: float = 0.25, iou: float = 0.7,
                  imgsz: int = 640, device: str = "cpu", max_det: int = 300) -> FrameBoxes:
    """Sliced prediction on one full frame: :func:`predict_tiles` merged by :func:`merge_boxes` with the
    options' merge, match, threshold and class-agnosticism. Boxes in frame pixels, highest rank first."""
    raw = predict_tiles(yolo, frame, opts, conf=conf, iou=iou, imgsz=imgsz, device=device, max_det=max_det)
    return merge_boxes(raw.xyxy, raw.conf, raw.cls, merge=opts.merge, match=opts.match, threshold=opts.threshold,
                       class_agnostic=opts.class_agnostic)


# ----------------------------------------------------------------------------------------------- agreement
def boxes_from_sahi(object_predictions: Any) -> FrameBoxes:
    """SAHI's ``PredictionResult.object_prediction_list`` as :class:`FrameBoxes` (for comparisons with the
    reference; reads attributes only, SAHI is not imported)."""
    import numpy as np

    preds = list(object_predictions)
    xyxy = np.array([p.bbox.to_xyxy() for p in preds], dtype=np.float64).reshape(-1, 4)
    conf = np.array([float(p.score.value) for p in preds], dtype=np.float32)
    cls = np.array([int(p.category.id) for p in preds], dtype=np.int64)
    order = np.argsort(-conf, kind="stable")
    return FrameBoxes(xyxy[order], conf[order], cls[order])


@dataclass(frozen=True)
class Agreement:
    """How two box sets of one frame pair up one-to-one (same class, IoU >= ``min_iou``)."""

    matched: int
    only_a: int
    only_b: int
    min_iou: float  # the lowest IoU among matched pairs (1.0 when none)
    max_conf_diff: float  # the largest confidence difference among matched pairs

    def same(self, *, conf_tol: float = 1e-3) -> bool:
        return self.only_a == 0 and self.only_b == 0 and self.max_conf_diff <= conf_tol


def agreement(a: FrameBoxes, b: FrameBoxes, *, min_iou: float = 0.99) -> Agreement:
    """Pair ``a``'s boxes with ``b``'s one-to-one, greedily by IoU (same class, IoU >= ``min_iou``)."""
    import numpy as np

    if not len(a) or not len(b):
        return Agreement(0, len(a), len(b), 1.0, 0.0)
    p, q = a.xyxy[:, None, :], b.xyxy[None, :, :]
    iw = np.clip(np.minimum(p[..., 2], q[..., 2]) - np.maximum(p[..., 0], q[..., 0]), 0, None)
    ih = np.clip(np.minimum(p[..., 3], q[..., 3]) - np.maximum(p[..., 1], q[..., 1]), 0, None)
    inter = iw * ih
    area_a = (a.xyxy[:, 2] - a.xyxy[:, 0]) * (a.xyxy[:, 3] - a.xyxy[:, 1])
    area_b = (b.xyxy[:, 2] - b.xyxy[:, 0]) * (b.xyxy[:, 3] - b.xyxy[:, 1])
    iou = inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-12)
    iou[a.cls[:, None] != b.cls[None, :]] = 0.0
    ii, jj = np.nonzero(iou >= min_iou)
    by = np.argsort(-iou[ii, jj], kind="stable")
    used_a = np.zeros(len(a), dtype=bool)
    used_b = np.zeros(len(b), dtype=bool)
    ious: list[float] = []
    diffs: list[float] = []
    for i, j in zip(ii[by].tolist(), jj[by].tolist(), strict=True):
        if used_a[i] or used_b[j]:
            continue
        used_a[i] = used_b[j] = True
        ious.append(float(iou[i, j]))
        diffs.append(abs(float(a.conf[i]) - float(b.conf[j])))
    return Agreement(len(ious), int((~used_a).sum()), int((~used_b).sum()), min(ious, default=1.0),
                     max(diffs, default=0.0))

"""Model-ranked active learning: label first the images the current model is least sure about.

Each image is scored from the model's detections (confidence >= a low floor, so that hesitant boxes count):

- ``entropy``: the largest binary entropy ``H(c) = -c log2 c - (1-c) log2 (1-c)`` over the image's boxes
  (1.0 for a box at 0.5, near 0 for boxes near 0 or 1); an image with no boxes scores 0;
- ``least_confidence``: ``1 - max confidence`` (1.0 when the model finds nothing at all);
- ``margin``: ``1 - |c - threshold| / max(threshold, 1 - threshold)`` for the box closest to the decision
  threshold (1.0 when a box sits exactly on it); 0 with no boxes;
- ``low_confidence_count``: the number of boxes between the floor and ``threshold``.

The top ``top_k`` images (ties kept in input order) are written to an input manifest, each line with its
original keys plus ``score_key`` -> ``{"score", "strategy", "rank", "detections"}`` (a pass-through key that
Ground Truth copies to the output). With ``diversity`` (bits of :mod:`gtlabel.dedupe`'s perceptual hash), the
top ``top_k`` is not a burst of near-identical frames: the ``DIVERSITY_POOL x top_k`` highest-scoring images
are taken greedily in score order, an image within ``diversity`` bits of one already taken is deferred, and the
deferred ones fill the places left, last (each line then says ``near_duplicate_of``). Optionally the same
predictions are written as pre-annotations (:mod:`gtlabel.model.preannotate`) so the selected images can go
straight to an adjustment job.
"""

from __future__ import annotations

import heapq
import math
import os
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from gtlabel import facts, storage
from gtlabel.dedupe import NearDuplicateIndex, phash
from gtlabel.errors import ConfigError
from gtlabel.formats import strict_json
from gtlabel.formats.ground_truth import creation_date, metadata_key
from gtlabel.model.common import ImageItem, iter_images, load_model, model_names
from gtlabel.model.offline import import_ultralytics
from gtlabel.model.preannotate import (
    Detection,
    Prediction,
    class_index,
    ground_truth_line,
    predict_items,
    validate_attribute,
)
from gtlabel.model.sliced import SliceOptions, slice_options

__all__ = ["DIVERSITY_POOL", "STRATEGIES", "Detection", "Prediction", "RankSummary", "Ranked", "rank",
           "rank_predictions", "score_confidences", "select_diverse"]

DIVERSITY_POOL = 4  # with diversity: the candidates are the top DIVERSITY_POOL x top_k by score


def _entropy(confs: Sequence[float], _t: float) -> float:
    best = 0.0
    for c in confs:
        c = min(max(c, 1e-12), 1 - 1e-12)
        best = max(best, -(c * math.log2(c) + (1 - c) * math.log2(1 - c)))
    return best


def _least_confidence(confs: Sequence[float], _t: float) -> float:
    return 1.0 - max(confs, default=0.0)


def _margin(confs: Sequence[float], t: float) -> float:
    if not confs:
        return 0.0
    span = max(t, 1.0 - t)
    return max(1.0 - abs(c - t) / span for c in confs)


def _low_confidence_count(confs: Sequence[float], t: float) -> float:
    return float(sum(1 for c in confs if c < t))


STRATEGIES: dict[str, Callable[[Sequence[float], float], float]] = {
    "entropy": _entropy,
    "least_confidence": _least_confidence,
    "margin": _margin,
    "low_confidence_count": _low_confidence_count,
}


def score_confidences(confs: Sequence[float], strategy: str = "entropy", *, threshold: float = 0.5) -> float:
    """The uncertainty score of one image from its box confidences (higher = more uncertain)."""
    try:
        fn = STRATEGIES[strategy]
    except KeyError:
        raise ConfigError(f"unknown strategy {strategy!r}; choose one of {', '.join(STRATEGIES)}") from None
    return round(fn(list(confs), threshold), 6)


@dataclass
class Ranked:
    item: ImageItem
    prediction: Prediction
    score: float
    index: int


def rank_predictions(pairs: Iterable[tuple[ImageItem, Prediction]], *, top_k: int, strategy: str = "entropy",
                     threshold: float = 0.5, on_score: Callable[[ImageItem, float], None] | None = None
                     ) -> list[Ranked]:
    """The ``top_k`` most uncertain images, most uncertain first; equal scores keep the input order.
    Memory holds only ``top_k`` entries (a bounded heap), whatever the number of images."""
    if top_k < 1:
        raise ConfigError(f"top_k must be >= 1, got {top_k}")
    if strategy not in STRATEGIES:
        raise ConfigError(f"unknown strategy {strategy!r}; choose one of {', '.join(STRATEGIES)}")
    heap: list[tuple[float, int, Ranked]] = []  # min-heap on (score, -index): the root is the one to evict
    for index, (item, pred) in enumerate(pairs):
        score = score_confidences([d.confidence for d in pred.detections], strategy, threshold=threshold)
        if on_score is not None:
            on_score(item, score)
        entry = (score, -index, Ranked(item, pred, score, index))
        if len(heap) < top_k:
            heapq.heappush(heap, entry)
        elif entry[:2] > heap[0][:2]:
            heapq.heapreplace(heap, entry)
    return [e[2] for e in sorted(heap, key=lambda e: (-e[0], -e[1]))]


def select_diverse(ranked: Sequence[Ranked], hashes: Sequence[int | None], top_k: int, min_bits: int
                   ) -> list[tuple[Ranked, Ranked | None]]:
    """Greedy diverse selection (deterministic): ``ranked`` in score order, each with its perceptual hash (``None``:
    unreadable, never a near-duplicate). An image within ``min_bits`` bits of one taken before is deferred; the
    deferred fill what is left of ``top_k`` after the distinct ones, in score order. Returns ``(image, the taken
    image it is near, or None)`` pairs in the order chosen."""
    index = NearDuplicateIndex(min_bits)  # checks min_bits
    taken: list[tuple[Ranked, Ranked | None]] = []
    deferred: list[tuple[Ranked, Ranked | None]] = []
    by_key: dict[str, Ranked] = {}
    for r, h in zip(ranked, hashes, strict=True):
        if len(taken) >= top_k:
            break
        near = index.add(str(r.index), h) if h is not None else None
        if near is None:
            by_key[str(r.index)] = r
            taken.append((r, None))
        else:
            deferred.append((r, by_key[near]))
    return taken + deferred[:max(0, top_k - len(taken))]


def _hash_of(item: ImageItem) -> int | None:
    try:
        return phash(storage.read_bytes(item.uri), where=item.uri)
    except ValueError:
        return None


@dataclass
class RankSummary:
    out_manifest: str
    strategy: str
    scored: int = 0
    written: int = 0
    top: list[tuple[str, float]] = field(default_factory=list)
    seconds: float = 0.0
    near_duplicates: int = 0  # with diversity: images written after the distinct ones, near one of them


def rank(
    model_path: str | os.PathLike[str],
    images: str | os.PathLike[str],
    out_manifest: str | os.PathLike[str],
    *,
    top_k: int,
    strategy: str = "entropy",
    conf: float = 0.05,
    threshold: float = 0.5,
    score_key: str = "active-learning",
    prelabel_attribute: str | None = None,
    prelabel_conf: float = 0.25,
    class_names: Sequence[str] | None = None,
    job_name: str = "gtlabel-active-learning",
    imgsz: int = 640,
    iou: float = 0.7,
    device: str = "cpu",
    batch: int = 8,
    max_det: int = 100,
    cache_dir: str | os.PathLike[str] | None = None,
    slice: int | tuple[int, int] | SliceOptions | None = None,
    overlap: float = 0.2,
    merge: str = "nms",
    match: str = "ios",
    match_threshold: float = 0.5,
    diversity: int | None = None,
    runtime: str = "torch",
) -> RankSummary:
    """Score every image in ``images`` (input manifest, folder or S3 prefix) with the model and write the
    ``top_k`` most uncertain to ``out_manifest`` (atomically), most uncertain first.

    ``conf`` is the floor for detections that count; ``threshold`` the decision threshold that ``margin`` and
    ``low_confidence_count`` measure against. With ``prelabel_attribute`` the lines also carry the model's
    boxes with confidence >= ``prelabel_conf`` in Ground Truth format, ready for an adjustment job.

    ``slice`` (with ``overlap``, ``merge``, ``match``, ``match_threshold``): score from sliced inference on the
    full frame (as in :func:`gtlabel.model.preannotate.preannotate`), so that the hesitant boxes on small
    objects count; ``None``: whole frames.
    ``diversity`` (0..16 bits; 8 suits drone bursts): see the module docstring; the candidates' images are read
    once more for their perceptual hash.
    ``runtime``: ``"torch"`` (default), ``"onnx"`` (ONNX Runtime) or ``"openvino"``: the same weights exported
    once and cached (:mod:`gtlabel.model.runtime`, the ``runtime`` extra); a faster forward pass on CPU.
    """
    max_attribute_chars = facts.limits().manifest_max_attribute_chars
    if strategy not in STRATEGIES:
        raise ConfigError(f"unknown strategy {strategy!r}; choose one of {', '.join(STRATEGIES)}")
    if top_k < 1:
        raise ConfigError(f"top_k must be >= 1, got {top_k}")
    if not score_key or score_key in {"source", "source-ref"} or score_key.startswith("$"):
        raise ConfigError(f"score_key {score_key!r} is not a usable manifest key")
    if prelabel_attribute is not None:
        validate_attribute(prelabel_attribute)
        if prelabel_attribute == score_key:
            raise ConfigError("score_key and prelabel_attribute must differ")
    if not 0.0 <= conf <= 1.0 or not 0.0 < threshold < 1.0:
        raise ConfigError(f"need 0 <= conf <= 1 and 0 < threshold < 1, got conf={conf}, threshold={threshold}")
    slicing = slice_options(slice, overlap=overlap, merge=merge, match=match, threshold=match_threshold)
    if diversity is not None:
        NearDuplicateIndex(diversity)  # a wrong distance is a ConfigError before the model runs
    import_ultralytics()  # the missing extra is the first thing to say
    out = str(out_manifest)
    t0 = time.perf_counter()
    yolo = load_model(model_path, cache_dir=cache_dir, runtime=runtime, imgsz=imgsz)
    model_cls = model_names(yolo)
    mapping = class_index(model_cls, class_names) if prelabel_attribute else {}
    names = dict(enumerate(class_names)) if class_names is not None else dict(model_cls)
    summary = RankSummary(out_manifest=out, strategy=strategy)

    def count(_item: ImageItem, _score: float) -> None:
        summary.scored += 1

    drop = [score_key] + ([prelabel_attribute, metadata_key(prelabel_attribute)] if prelabel_attribute else [])
    pairs = predict_items(yolo, iter_images(images, out, drop_keys=drop), conf=conf, iou=iou, imgsz=imgsz,
                          device=device, max_det=max_det, batch=batch, description="score images",
                          slicing=slicing)
    pool = top_k * DIVERSITY_POOL if diversity is not None else top_k
    ranked = rank_predictions(pairs, top_k=pool, strategy=strategy, threshold=threshold, on_score=count)
    chosen: list[tuple[Ranked, Ranked | None]] = [(r, None) for r in ranked]
    if diversity is not None:
        with ThreadPoolExecutor(max_workers=min(16, max(1, len(ranked)))) as threads:
            hashes = list(threads.map(_hash_of, (r.item for r in ranked)))
        chosen = select_diverse(ranked, hashes, top_k, diversity)
    date = creation_date()
    with storage.atomic_writer(out, content_type="application/x-ndjson") as fh:
        for pos, (r, near) in enumerate(chosen, start=1):
            info: dict[str, Any] = {"score": r.score, "strategy": strategy, "rank": pos,
                                    "detections": len(r.prediction.detections)}
            if near is not None:
                info["near_duplicate_of"] = near.item.source_ref
                summary.near_duplicates += 1
            line: dict[str, Any]
            if prelabel_attribute:
                kept = tuple(d for d in r.prediction.detections if d.confidence >= prelabel_conf)
                pred = Prediction(r.prediction.width, r.prediction.height, kept)
                line, _, _ = ground_truth_line(r.item, pred, attribute=prelabel_attribute, mapping=mapping,
                                               names=names, job_name=job_name, creation_date=date,
                                               max_attribute_chars=max_attribute_chars)
            else:
                line = {"source-ref": r.item.source_ref, **r.item.extra}
            line[score_key] = info
            fh.write(strict_json.dumps(line) + b"\n")
            summary.written += 1
            summary.top.append((r.item.source_ref, r.score))
    summary.seconds = time.perf_counter() - t0
    return summary

"""Bounding-box consolidation: several workers' answers for one image -> one label (and the Lambda handler).

Ground Truth's built-in consolidation "finds the most similar boxes from different workers based on the
Jaccard index (IoU) of the boxes and averages them"; its threshold, voting rule and confidence formula are not
published (reference/ground-truth.md 3.4). This module implements that description, with the choices stated:

- **Matching.** Boxes of the same label from *different* workers are grouped by agglomerative clustering:
  candidate pairs (IoU >= ``iou_threshold``) are taken from the most similar down; two groups merge when they
  share no worker (each worker gives at most one box per group) and the mean IoU over all their cross pairs is
  still >= ``iou_threshold`` (average linkage; this stops two neighbouring objects from being chained together).
- **Averaging.** A group's box is the mean of its members' edges (left, top, right, bottom), rounded to whole
  pixels and clipped to the image.
- **Voting.** A group is kept when at least ``quorum`` workers drew it. Default: ``ceil(n / 2)`` of the ``n``
  workers who answered (2 of 3, 3 of 5; 1 when one or two workers answered). Workers who answered with no box
  count in ``n``: they voted "nothing here".
- **Confidence** per kept box, in 0..1: ``(k / n) * mean IoU(member, consolidated box)`` for a group of ``k``
  members. It is ``0.0`` when one worker answered, as Ground Truth reports for
  ``NumberOfHumanWorkersPerDataObject = 1``.

Candidate pairs are found by label and space, never as an all-pairs matrix: small images (at most
``SMALL_IMAGE_BOXES`` boxes) in plain Python, larger ones by sorting each worker's boxes of a label along x
(numpy). One image's work is bounded (``MAX_SWEPT_PAIRS``, ``MAX_CANDIDATE_PAIRS``): past the bounds it raises
:class:`~gtlabel.errors.LabelError`, so a hostile answer fails its own image, not the job. Numbers must be finite
and within ``gtlabel.formats.answers.MAX_COORDINATE``. :func:`consolidate_many` runs many images.

:func:`lambda_handler` is a post-annotation (consolidation) Lambda for custom workflows, following the
documented contract (reference/ground-truth.md 4.4): the event names ``payload.s3Uri``, a JSON list of
``{datasetObjectId, dataObject, annotations: [{workerId, annotationData: {content: "<json string>" | s3Uri}}]}``;
the handler returns ``[{datasetObjectId, consolidatedAnnotation: {content: {<labelAttributeName>: {...}}}}]``.
The value under ``<labelAttributeName>`` is the built-in bounding-box label (``image_size``, ``annotations``)
plus ``objects`` (per-box confidence) and ``class-map``, because Ground Truth itself only adds ``job_name``,
``type``, ``human-annotated`` and ``creation_date`` to a custom job's metadata.
Settings of the handler (:mod:`gtlabel.settings`): ``GTLABEL_IOU_THRESHOLD`` (default 0.5) and
``GTLABEL_QUORUM`` (default majority).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson

from gtlabel import storage
from gtlabel.errors import InputError, LabelError
from gtlabel.formats.answers import MAX_COORDINATE, AnswerBox, bounding_box_element, parse_answer
from gtlabel.formats.ground_truth import consolidated_content, output_metadata
from gtlabel.settings import get_settings

if TYPE_CHECKING:
    import numpy as np

__all__ = [
    "AnswerBox",
    "ConsolidatedObject",
    "consolidate_bounding_boxes",
    "consolidate_many",
    "default_quorum",
    "lambda_handler",
    "parse_answer",
]


@dataclass(slots=True)
class ConsolidatedObject:
    """The consolidated label of one image, in the output-manifest shapes.

    ``label`` is the value of the label attribute (``image_size`` + ``annotations`` with int pixels),
    ``objects`` aligns with ``label["annotations"]`` (``{"confidence": float}``), ``class_map`` names the classes
    present (``{"<id>": "<label>"}``). ``members[i]`` lists ``(worker index, box index)`` of the worker boxes
    averaged into box ``i``; ``worker_count`` is the number of answers consolidated and ``quorum`` the vote used.
    """

    label: dict[str, Any]
    objects: list[dict[str, float]]
    class_map: dict[str, str]
    members: list[list[tuple[int, int]]] = field(default_factory=list)
    worker_count: int = 0
    quorum: int = 1

    def metadata(self, *, job_name: str | None = None, creation_date: str | None = None,
                 human_annotated: bool = True) -> dict[str, Any]:
        """The ``<labelattr>-metadata`` value of a built-in bounding-box output line."""
        return output_metadata(self.objects, self.class_map, job_name=job_name, created=creation_date,
                               human_annotated=human_annotated)


def default_quorum(n_workers: int) -> int:
    """Majority vote used when no quorum is given: ``ceil(n / 2)``, at least 1."""
    return max(1, math.ceil(n_workers / 2))


# --------------------------------------------------------------------------------------------- core
# Bounds of one image's consolidation (numpy engine). Pairs of boxes (same label, different workers) whose x ranges
# overlap are checked in chunks of _PAIR_CHUNK (~0.1 s and ~50 MB per 10^6); a dense honest image (300 objects,
# 9 workers) has about 10^5 of them and 10^4 matching pairs. Beyond either bound the image fails with a LabelError
# (that object only) instead of holding the engine for minutes.
MAX_SWEPT_PAIRS = 20_000_000
MAX_CANDIDATE_PAIRS = 250_000
_PAIR_CHUNK = 1 << 20


def _pair_iou(rows: Sequence[Sequence[float]], x: int, y: int) -> float:
    """IoU of boxes ``x`` and ``y`` (corner rows), computed exactly as both engines compute it."""
    if x > y:
        x, y = y, x
    xi0, yi0, xi1, yi1 = rows[x]
    r = rows[y]
    iw = (xi1 if xi1 < r[2] else r[2]) - (xi0 if xi0 > r[0] else r[0])
    if iw <= 0:
        return 0.0
    ih = (yi1 if yi1 < r[3] else r[3]) - (yi0 if yi0 > r[1] else r[1])
    if ih <= 0:
        return 0.0
    inter = iw * ih
    union = (xi1 - xi0) * (yi1 - yi0) + (r[2] - r[0]) * (r[3] - r[1]) - inter
    return float(inter / union) if union > 0 else 0.0


def _x_overlaps(x0: np.ndarray, x1: np.ndarray, ia: np.ndarray, ib: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Pairs of boxes, one from ``ia`` and one from ``ib`` (index arrays each sorted by ``x0``), whose x ranges
    overlap, as two contiguous ranges per box: ``ib[lo1:hi1]`` start inside each ``ia`` box, ``ia[lo2:hi2]``
    strictly inside each ``ib`` box (so no pair is found twice). Sorting, not a matrix: O(n log n + pairs)."""
    import numpy as np  # the quality extra: loaded on first use, not at import

    xa, xb = x0[ia], x0[ib]
    lo1 = np.searchsorted(xb, xa, "left")
    hi1 = np.searchsorted(xb, x1[ia], "left")
    lo2 = np.searchsorted(xa, xb, "right")
    hi2 = np.searchsorted(xa, x1[ib], "left")
    return lo1, np.maximum(hi1, lo1), lo2, np.maximum(hi2, lo2)


def _expand(owner: np.ndarray, lo: np.ndarray, hi: np.ndarray, partner: np.ndarray
            ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """``(owner[k], partner[lo[k] + m])`` for every ``m < hi[k] - lo[k]``, in chunks of about
    :data:`_PAIR_CHUNK` pairs (memory stays flat however many pairs there are)."""
    import numpy as np  # the quality extra: loaded on first use, not at import

    counts = hi - lo
    ends = np.cumsum(counts)
    k = 0
    while k < len(counts):
        stop = int(np.searchsorted(ends, (ends[k - 1] if k else 0) + _PAIR_CHUNK, "right"))
        stop = max(stop, k + 1)
        c = counts[k:stop]
        total = int(c.sum())
        if total:
            starts = np.cumsum(c) - c
            offs = np.arange(total, dtype=np.int64) - np.repeat(starts, c)
            yield np.repeat(owner[k:stop], c), partner[np.repeat(lo[k:stop], c) + offs]
        k = stop


def _candidate_pairs(xyxy: np.ndarray, wk: Sequence[int], cl: Sequence[int], threshold: float
                     ) -> list[tuple[int, int]]:
    """Pairs ``(i, j)``, ``i < j``, of boxes of the same class from different workers with IoU >= ``threshold``,
    best IoU first (ties in ``(i, j)`` order), found by label and space: for each class and pair of workers, a
    sort along x gives the boxes that can overlap at all, and those are checked in chunks.

    Bounded: more than :data:`MAX_SWEPT_PAIRS` x-overlapping pairs, or more than :data:`MAX_CANDIDATE_PAIRS`
    matching pairs, raise :class:`LabelError` (this image fails, alone) instead of holding the engine for
    minutes and gigabytes."""
    import numpy as np  # the quality extra: loaded on first use, not at import

    x0, y0, x1, y1 = xyxy[:, 0], xyxy[:, 1], xyxy[:, 2], xyxy[:, 3]
    area = (x1 - x0) * (y1 - y0)
    members: dict[tuple[int, int], list[int]] = {}
    for i, (c, w) in enumerate(zip(cl, wk, strict=True)):
        members.setdefault((c, w), []).append(i)
    by_key: dict[tuple[int, int], np.ndarray] = {}
    for key, idx in members.items():  # each worker's boxes of each class, sorted along x
        ia = np.array(idx, dtype=np.int64)
        by_key[key] = ia[np.argsort(x0[ia], kind="stable")]
    sweeps = []
    swept = 0
    keys = sorted(by_key)
    for n, (c, w) in enumerate(keys):
        for c2, w2 in keys[n + 1:]:
            if c2 != c:
                break
            ia, ib = by_key[(c, w)], by_key[(c2, w2)]
            lo1, hi1, lo2, hi2 = _x_overlaps(x0, x1, ia, ib)
            swept += int((hi1 - lo1).sum() + (hi2 - lo2).sum())
            if swept > MAX_SWEPT_PAIRS:
                raise LabelError(f"more than {MAX_SWEPT_PAIRS} pairs of boxes from different workers overlap along "
                                 "x in this image; it is not consolidated", field="worker_answers")
            sweeps.append((ia, ib, lo1, hi1))
            sweeps.append((ib, ia, lo2, hi2))
    found_i, found_j, found_v = [], [], []
    kept = 0
    for owner, partner, lo, hi in sweeps:
        for a, b in _expand(owner, lo, hi, partner):
            iw = np.minimum(x1[a], x1[b]) - np.maximum(x0[a], x0[b])
            ih = np.minimum(y1[a], y1[b]) - np.maximum(y0[a], y0[b])
            ok = (iw > 0) & (ih > 0)
            a, b, iw, ih = a[ok], b[ok], iw[ok], ih[ok]
            inter = iw * ih
            union = area[a] + area[b] - inter
            with np.errstate(divide="ignore", invalid="ignore"):
                v = np.where(union > 0.0, inter / union, 0.0)
            keep = v >= threshold
            kept += int(keep.sum())
            if kept > MAX_CANDIDATE_PAIRS:
                raise LabelError(f"more than {MAX_CANDIDATE_PAIRS} pairs of boxes from different workers match "
                                 "in this image; it is not consolidated", field="worker_answers")
            found_i.append(np.minimum(a, b)[keep])
            found_j.append(np.maximum(a, b)[keep])
            found_v.append(v[keep])
    if not found_i:
        return []
    ii, jj, vv = np.concatenate(found_i), np.concatenate(found_j), np.concatenate(found_v)
    order = np.lexsort((jj, ii, -vv))
    return list(zip(ii[order].tolist(), jj[order].tolist(), strict=True))


def _merge(n: int, pairs: Iterable[tuple[int, int]], wk: Sequence[int], pair_iou: Callable[[int, int], float],
           threshold: float) -> list[list[int]]:
    """Greedy average-linkage merge of candidate pairs (best IoU first): two groups join when they share no
    worker and, for groups of more than one box, their mean pairwise IoU reaches ``threshold``. Both engines
    (numpy and pure Python) use it, so they cluster identically."""
    group = list(range(n))
    members: dict[int, list[int]] = {i: [i] for i in range(n)}
    masks: dict[int, int] = {i: 1 << wk[i] for i in range(n)}
    for a, b in pairs:
        ga, gb = group[a], group[b]
        if ga == gb or masks[ga] & masks[gb]:
            continue
        ma, mb = members[ga], members[gb]
        if len(ma) > 1 or len(mb) > 1:
            total = sum(pair_iou(x, y) for x in ma for y in mb)
            if total < threshold * len(ma) * len(mb):
                continue
        if len(ma) < len(mb):
            ga, gb, ma, mb = gb, ga, mb, ma
        ma.extend(mb)
        masks[ga] |= masks.pop(gb)
        for k in mb:
            group[k] = ga
        del members[gb]
    return [sorted(m) for m in members.values()]


_NUMBER = (int, float)
_HI = MAX_COORDINATE


def _collect(worker_answers: Sequence[Mapping[str, Any]], class_of: Mapping[str, int], labels: Sequence[str]
             ) -> tuple[list[list[float]], list[int], list[int], list[tuple[int, int]], list[tuple[int, int]]]:
    """Boxes of all answers as corner rows + worker / class / (worker, box) source, and the image sizes seen.

    The fast path reads well-formed answers directly (numbers within ``±MAX_COORDINATE``: NaN fails the
    comparison); anything unusual is handed to :func:`parse_answer`, which raises the precise error (or
    accepts it)."""
    rows: list[list[float]] = []
    wk: list[int] = []
    cl: list[int] = []
    src: list[tuple[int, int]] = []
    sizes: list[tuple[int, int]] = []
    hi = _HI
    for w, answer in enumerate(worker_answers):
        where = f"worker_answers[{w}]"
        fast = False
        if isinstance(answer, Mapping):
            ans = bounding_box_element(answer) or answer
            raw = ans.get("boundingBoxes")
            props = ans.get("inputImageProperties")
            fast = isinstance(raw, list)
        if fast:
            got: list[tuple[int, list[float], int, str]] = []
            for j, b in enumerate(raw):  # type: ignore[arg-type]
                try:
                    label, x, y, bw, bh = b["label"], b["left"], b["top"], b["width"], b["height"]
                except (KeyError, TypeError):
                    fast = False
                    break
                if not (type(x) in _NUMBER and type(y) in _NUMBER and type(bw) in _NUMBER
                        and type(bh) in _NUMBER and type(label) is str
                        and -hi <= x <= hi and -hi <= y <= hi and -hi <= bw <= hi and -hi <= bh <= hi):
                    fast = False
                    break
                got.append((j, [x, y, x + bw, y + bh], class_of.get(label, -1), label))
            if fast:
                pw, ph = (props.get("width"), props.get("height")) if isinstance(props, Mapping) else (None, None)
                if type(pw) in _NUMBER and type(ph) in _NUMBER and -hi <= pw <= hi and -hi <= ph <= hi:  # type: ignore[operator]
                    if pw > 0 and ph > 0:  # type: ignore[operator]
                        sizes.append((round(pw), round(ph)))  # type: ignore[arg-type]
                elif props is not None:
                    fast = False  # parse_answer raises the precise error, or accepts it
        if not fast:
            boxes, size = parse_answer(answer, where)
            if size is not None:
                sizes.append(size)
            got = [(j, [b.left, b.top, b.left + b.width, b.top + b.height], class_of.get(b.label, -1), b.label)
                   for j, b in enumerate(boxes)]
        for j, row, cid, label in got:
            if cid < 0:
                raise LabelError(f"label {label!r} is not one of the job's labels {list(labels)}",
                                 field=f"{where}.boundingBoxes[{j}].label")
            if row[2] <= row[0] or row[3] <= row[1]:
                continue  # a degenerate box (a click, not a drag) carries no area to match or average
            rows.append(row)
            wk.append(w)
            cl.append(cid)
            src.append((w, j))
    return rows, wk, cl, src, sizes


# Images with at most this many worker boxes are consolidated in plain Python (numpy's per-call overhead is
# larger than the work); bigger ones with numpy. Both give the same result (a test holds them to it).
SMALL_IMAGE_BOXES = 48

_Kept = tuple[int, int, int, int, int, float, list[int]]  # class, left, top, width, height, confidence, members


def _finish(groups: list[list[int]], rows: list[list[float]], cl: list[int], n_workers: int,
            size_wh: tuple[int, int] | None) -> list[_Kept]:
    """Mean box (clipped, rounded half-to-even) and confidence of each kept group, in plain Python."""
    out: list[_Kept] = []
    for g in groups:
        k = len(g)
        if k == 1:
            x0, y0, x1, y1 = rows[g[0]]
        else:
            c0, c1, c2, c3 = zip(*[rows[i] for i in g], strict=True)
            x0, y0, x1, y1 = sum(c0) / k, sum(c1) / k, sum(c2) / k, sum(c3) / k
        if size_wh is not None:
            w, h = size_wh
            x0 = 0.0 if x0 < 0.0 else (w if x0 > w else x0)
            x1 = 0.0 if x1 < 0.0 else (w if x1 > w else x1)
            y0 = 0.0 if y0 < 0.0 else (h if y0 > h else y0)
            y1 = 0.0 if y1 < 0.0 else (h if y1 > h else y1)
        bx0, by0, bx1, by1 = round(x0), round(y0), round(x1), round(y1)
        if bx1 <= bx0 or by1 <= by0:
            continue
        conf = 0.0
        if n_workers > 1:
            barea = (bx1 - bx0) * (by1 - by0)
            tot = 0.0
            for i in g:
                r = rows[i]
                iw = (r[2] if r[2] < bx1 else bx1) - (r[0] if r[0] > bx0 else bx0)
                ih = (r[3] if r[3] < by1 else by1) - (r[1] if r[1] > by0 else by0)
                if iw > 0 and ih > 0:
                    inter = iw * ih
                    tot += inter / ((r[2] - r[0]) * (r[3] - r[1]) + barea - inter)
            conf = k / n_workers * (tot / k)
            conf = 0.0 if conf < 0.0 else (1.0 if conf > 1.0 else conf)
        out.append((cl[g[0]], bx0, by0, bx1 - bx0, by1 - by0, round(conf, 4), g))
    return out


def _groups_py(rows: list[list[float]], wk: list[int], cl: list[int], n_workers: int, quorum: int,
               threshold: float, size_wh: tuple[int, int] | None) -> list[_Kept]:
    """The pure-Python engine for small images: every pair, the same clustering as :func:`_groups_np`."""
    n = len(rows)
    if n_workers == 1:
        groups = [[i] for i in range(n)] if quorum <= 1 else []
        return _finish(groups, rows, cl, n_workers, size_wh)
    area = [(r[2] - r[0]) * (r[3] - r[1]) for r in rows]
    iou: dict[tuple[int, int], float] = {}
    cand: list[tuple[float, int, int]] = []
    for i in range(n):
        xi0, yi0, xi1, yi1 = rows[i]
        wi, ci, ai = wk[i], cl[i], area[i]
        for j in range(i + 1, n):
            if wk[j] == wi or cl[j] != ci:
                continue
            r = rows[j]
            iw = (xi1 if xi1 < r[2] else r[2]) - (xi0 if xi0 > r[0] else r[0])
            if iw <= 0:
                continue
            ih = (yi1 if yi1 < r[3] else r[3]) - (yi0 if yi0 > r[1] else r[1])
            if ih <= 0:
                continue
            inter = iw * ih
            union = ai + area[j] - inter
            v = inter / union if union > 0 else 0.0
            iou[(i, j)] = v
            if v >= threshold:
                cand.append((v, i, j))
    cand.sort(key=lambda t: -t[0])  # stable: ties keep (i, j) order, as the numpy engine
    merged = _merge(n, ((i, j) for _, i, j in cand), wk,
                    lambda x, y: iou.get((x, y) if x < y else (y, x), 0.0), threshold)
    groups = [g for g in merged if len(g) >= quorum]
    return _finish(groups, rows, cl, n_workers, size_wh)


def _groups_np(rows: list[list[float]], wk: list[int], cl: list[int], n_workers: int, quorum: int,
               threshold: float, size_wh: tuple[int, int] | None) -> list[_Kept]:
    """The numpy engine for images with many boxes."""
    import numpy as np  # the quality extra: loaded on first use, not at import

    xyxy = np.array(rows, dtype=np.float64)
    if n_workers == 1:
        groups = [[i] for i in range(len(rows))]
    else:
        pairs = _candidate_pairs(xyxy, wk, cl, threshold)
        groups = _merge(len(rows), pairs, wk, lambda x, y: _pair_iou(rows, x, y), threshold) if pairs \
            else [[i] for i in range(len(rows))]
    groups = [g for g in groups if len(g) >= quorum]
    if not groups:
        return []
    counts = np.array([len(g) for g in groups], dtype=np.float64)
    idx = np.fromiter((i for g in groups for i in g), dtype=np.int64, count=int(counts.sum()))
    gid = np.repeat(np.arange(len(groups)), counts.astype(np.int64))
    mean = np.empty((len(groups), 4))
    for c in range(4):
        mean[:, c] = np.bincount(gid, weights=xyxy[idx, c], minlength=len(groups)) / counts
    if size_wh is not None:
        np.clip(mean[:, 0::2], 0.0, float(size_wh[0]), out=mean[:, 0::2])
        np.clip(mean[:, 1::2], 0.0, float(size_wh[1]), out=mean[:, 1::2])
    box = np.rint(mean)
    valid = (box[:, 2] > box[:, 0]) & (box[:, 3] > box[:, 1])
    if n_workers == 1:
        conf = np.zeros(len(groups))
    else:
        m, b = xyxy[idx], box[gid]
        iw = np.minimum(m[:, 2], b[:, 2]) - np.maximum(m[:, 0], b[:, 0])
        ih = np.minimum(m[:, 3], b[:, 3]) - np.maximum(m[:, 1], b[:, 1])
        inter = np.clip(iw, 0.0, None) * np.clip(ih, 0.0, None)
        union = (m[:, 2] - m[:, 0]) * (m[:, 3] - m[:, 1]) + (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1]) - inter
        with np.errstate(divide="ignore", invalid="ignore"):
            pair = np.where(union > 0.0, inter / union, 0.0)
        mean_iou = np.bincount(gid, weights=pair, minlength=len(groups)) / counts
        conf = np.clip(counts / n_workers * mean_iou, 0.0, 1.0)
    return [(cl[g[0]], int(bx[0]), int(bx[1]), int(bx[2] - bx[0]), int(bx[3] - bx[1]), round(float(cf), 4), g)
            for g, bx, cf, ok in zip(groups, box.tolist(), conf.tolist(), valid.tolist(), strict=True) if ok]


def consolidate_bounding_boxes(worker_answers: Sequence[Mapping[str, Any]], labels: Sequence[str], *,
                               iou_threshold: float = 0.5, quorum: int | None = None) -> ConsolidatedObject:
    """Consolidate the bounding-box answers several workers gave for one image.

    ``worker_answers``: one crowd-bounding-box answer per worker, ``{"boundingBoxes": [{"label", "left", "top",
    "width", "height"}], "inputImageProperties": {"width", "height"}}`` (the crowd-form wrapper
    ``{"boundingBox": {...}}`` is accepted too). ``labels``: the job's label categories; ``class_id`` is the
    index into it. See the module docstring for the matching, voting and confidence rules.
    """
    if not 0.0 < iou_threshold <= 1.0:
        raise InputError(f"iou_threshold must be in (0, 1], got {iou_threshold!r}", field="iou_threshold")
    n_workers = len(worker_answers)
    if n_workers == 0:
        raise InputError("no worker answers to consolidate", field="worker_answers")
    if quorum is None:
        quorum = default_quorum(n_workers)
    elif quorum < 1:
        raise InputError(f"quorum must be >= 1, got {quorum!r}", field="quorum")
    class_of = {name: i for i, name in enumerate(labels)}
    rows, wk, cl, src, sizes = _collect(worker_answers, class_of, labels)

    size_wh = max(set(sizes), key=sizes.count) if sizes else None
    image_size = [{"width": size_wh[0], "height": size_wh[1], "depth": 3}] if size_wh else []

    annotations: list[dict[str, int]] = []
    objects: list[dict[str, float]] = []
    members_out: list[list[tuple[int, int]]] = []
    if rows:
        engine = _groups_py if len(rows) <= SMALL_IMAGE_BOXES else _groups_np
        kept = engine(rows, wk, cl, n_workers, quorum, iou_threshold, size_wh)
        kept.sort(key=lambda k: (k[0], k[2], k[1], k[3], k[4]))
        for cid, bl, bt, bw, bh, cf, g in kept:
            annotations.append({"class_id": cid, "left": bl, "top": bt, "width": bw, "height": bh})
            objects.append({"confidence": cf})
            members_out.append([src[i] for i in g])
    class_map = {str(cid): labels[cid] for cid in sorted({a["class_id"] for a in annotations})}
    return ConsolidatedObject(label={"image_size": image_size, "annotations": annotations}, objects=objects,
                              class_map=class_map, members=members_out, worker_count=n_workers, quorum=quorum)


def consolidate_many(items: Iterable[Sequence[Mapping[str, Any]]], labels: Sequence[str], *,
                     iou_threshold: float = 0.5, quorum: int | None = None) -> list[ConsolidatedObject]:
    """:func:`consolidate_bounding_boxes` over many images (one list of worker answers per image)."""
    return [consolidate_bounding_boxes(answers, labels, iou_threshold=iou_threshold, quorum=quorum)
            for answers in items]


# --------------------------------------------------------------------------------------------- Lambda
def _load_json(data: bytes | str, where: str) -> Any:
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise InputError(f"not valid JSON: {exc}", file=where) from exc


def _annotation_content(ann: Mapping[str, Any], where: str) -> Mapping[str, Any]:
    data = ann.get("annotationData")
    if not isinstance(data, Mapping):
        raise InputError("expected an object with 'content' or 's3Uri'", field=f"{where}.annotationData")
    if isinstance(data.get("content"), str):
        content = _load_json(data["content"], f"{where}.annotationData.content")
    elif isinstance(data.get("s3Uri"), str):
        content = _load_json(storage.read_bytes(data["s3Uri"]), data["s3Uri"])
    else:
        raise InputError("expected 'content' (a JSON string) or 's3Uri'", field=f"{where}.annotationData")
    if not isinstance(content, Mapping):
        raise InputError(f"expected a JSON object, got {type(content).__name__}",
                         field=f"{where}.annotationData.content")
    return content


def consolidate_payload(items: Sequence[Mapping[str, Any]], labels: Sequence[str], label_attribute: str, *,
                        iou_threshold: float = 0.5, quorum: int | None = None,
                        source: str = "payload") -> list[dict[str, Any]]:
    """The pure part of the Lambda: payload items -> the documented response list.

    Objects with no annotation (every worker declined, or the task expired) are left out, as Ground Truth does.
    """
    out: list[dict[str, Any]] = []
    for i, item in enumerate(items):
        where = f"{source}[{i}]"
        if not isinstance(item, Mapping) or "datasetObjectId" not in item:
            raise InputError("expected an object with 'datasetObjectId'", file=source, field=f"[{i}]")
        anns = item.get("annotations") or []
        if not isinstance(anns, list):
            raise InputError("expected a list", file=source, field=f"[{i}].annotations")
        answers = [_annotation_content(a, f"{where}.annotations[{k}]") for k, a in enumerate(anns)]
        if not answers:
            continue
        try:
            result = consolidate_bounding_boxes(answers, labels, iou_threshold=iou_threshold, quorum=quorum)
        except InputError as exc:
            raise type(exc)(exc.reason, file=source, field=f"[{i}].{exc.field}" if exc.field else f"[{i}]") from exc
        value = consolidated_content(result.label, result.objects, result.class_map)
        out.append({"datasetObjectId": str(item["datasetObjectId"]),
                    "consolidatedAnnotation": {"content": {label_attribute: value}}})
    return out


def lambda_handler(event: Mapping[str, Any], context: Any = None) -> list[dict[str, Any]]:
    """Post-annotation (consolidation) Lambda for a custom bounding-box workflow.

    Reads ``event["payload"]["s3Uri"]`` (through :mod:`gtlabel.storage`, so ``AWS_ENDPOINT_URL_S3`` works),
    consolidates each data object's worker answers with ``event["labelCategories"]`` and returns the list Ground
    Truth expects. ``GTLABEL_IOU_THRESHOLD`` / ``GTLABEL_QUORUM`` tune matching and voting.
    """
    if not isinstance(event, Mapping):
        raise InputError("the Lambda event must be a JSON object", field="event")
    payload = event.get("payload")
    if not isinstance(payload, Mapping) or not isinstance(payload.get("s3Uri"), str):
        raise InputError("expected payload.s3Uri (the annotations file Ground Truth wrote)", field="payload.s3Uri")
    label_attribute = event.get("labelAttributeName")
    if not isinstance(label_attribute, str) or not label_attribute:
        raise InputError("expected the job's labelAttributeName", field="labelAttributeName")
    labels = event.get("labelCategories")
    if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels) or not labels:
        raise InputError("expected labelCategories, the list of the job's label names", field="labelCategories")
    uri = payload["s3Uri"]
    items = _load_json(storage.read_bytes(uri), uri)
    if not isinstance(items, list):
        raise InputError(f"expected a JSON list of data objects, got {type(items).__name__}", file=uri)
    settings = get_settings()
    return consolidate_payload(items, labels, label_attribute, iou_threshold=settings.iou_threshold,
                               quorum=settings.quorum, source=uri)

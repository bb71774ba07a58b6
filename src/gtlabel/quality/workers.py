"""Worker metrics from Ground Truth's raw worker responses, joined to the output manifest by ``source-ref``.

Files read (reference/ground-truth.md 3.1, 3.3), under a job's output root ``<S3OutputPath>/<job-name>/``:

- ``annotations/worker-response/iteration-<N>/<datasetObjectId>/<timestamp>.json``:
  ``{"answers": [{workerId, acceptanceTime, submissionTime, timeSpentInSeconds,
  answerContent: {boundingBox: {boundingBoxes, inputImageProperties}}}]}``.
- ``annotations/consolidated-annotation/consolidation-request/iteration-<N>/*.json``: the post-annotation Lambda
  payloads, lists of ``{datasetObjectId, dataObject: {s3Uri}, annotations}``.

**How an answer finds its image.** ``datasetObjectId`` is treated as an opaque id, never as a line number
(reference 9.11). The image is, in this order: a ``source-ref`` / ``dataObject.s3Uri`` inside the worker-response
file itself (when a producer writes one); else the ``dataObject.s3Uri`` that the consolidation-request file of
the same iteration lists for that ``datasetObjectId``; else the same id in any other iteration's request. An
answer that none of these resolves is counted in ``WorkerReport.unresolved`` and left out of agreement metrics
(it still counts as a task done for time and box statistics).

**Agreement.** Per image, a worker's boxes are matched one-to-one to the consolidated boxes of the same class
(greedy by IoU, at least ``iou_threshold``): matched = true positive, the worker's unmatched boxes = false
positives, unmatched consolidated boxes = false negatives. Against reference labels (a "truth" manifest the
user gives for gold-standard images) the same is computed on the images it covers.

**Flags.** A worker is flagged when its score (F1 x mean IoU; against gold when available for that worker,
else against the consolidated result) is far below the team: robust z-score
``0.6745 * (x - median) / MAD`` below ``z_threshold`` (Iglewicz & Hoaglin's 3.5) with at least 3 workers, or
an absolute floor (``min_f1``, ``min_iou``). A median time per task far below the team's is reported as a
note (suspiciously fast), not a flag on its own.
"""

from __future__ import annotations

import math
import re
import statistics
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import orjson

from gtlabel import storage
from gtlabel.errors import InputError, NotFound
from gtlabel.formats import strict_json
from gtlabel.formats.answers import AnswerBox, parse_answer

if TYPE_CHECKING:
    import numpy as np

    from gtlabel.formats.ground_truth import OutputRecord

__all__ = [
    "ClassAgreement",
    "WorkerAnswer",
    "WorkerMetrics",
    "WorkerReport",
    "compute_worker_metrics",
    "iter_worker_answers",
    "job_root",
    "load_worker_answers",
    "match_boxes",
    "parse_consolidation_request",
    "parse_worker_response",
    "report_json",
    "robust_z",
]

_WR_RE = re.compile(r"/annotations/worker-response/iteration-(\d+)/([^/]+)/[^/]+\.json$")
_CR_RE = re.compile(r"/annotations/consolidated-annotation/consolidation-request/iteration-(\d+)/[^/]+\.json$")
_OUTPUT_SUFFIX = re.compile(r"/manifests/(output|intermediate/[^/]+)/output\.manifest$")


@dataclass(slots=True)
class WorkerAnswer:
    """One worker's answer for one data object."""

    worker_id: str
    object_id: str
    iteration: int
    source_ref: str | None
    boxes: list[AnswerBox]
    image_size: tuple[int, int] | None
    seconds: float | None
    submitted: str | None = None
    file: str | None = None
    sub: str | None = None  # workerMetadata.identityData.sub (private workforces): the worker's Cognito user
    issuer: str | None = None  # workerMetadata.identityData.issuer: the user pool's URL


# ---------------------------------------------------------------------------------------------- parsing (pure)
def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _source_of(doc: Mapping[str, Any]) -> str | None:
    ref = doc.get("source-ref")
    if isinstance(ref, str):
        return ref
    dobj = doc.get("dataObject")
    if isinstance(dobj, Mapping) and isinstance(dobj.get("s3Uri"), str):
        return str(dobj["s3Uri"])
    return None


def parse_worker_response(doc: Any, *, object_id: str, iteration: int, file: str = "worker-response"
                          ) -> list[WorkerAnswer]:
    """A decoded worker-response file -> one :class:`WorkerAnswer` per answer. Raises :class:`InputError`."""
    if not isinstance(doc, Mapping) or not isinstance(doc.get("answers"), list):
        raise InputError("expected an object with an 'answers' list", file=file, field="answers")
    source = _source_of(doc)
    out: list[WorkerAnswer] = []
    for k, a in enumerate(doc["answers"]):
        where = f"answers[{k}]"
        if not isinstance(a, Mapping):
            raise InputError("expected an object", file=file, field=where)
        wid = a.get("workerId")
        if not isinstance(wid, str) or not wid:
            raise InputError(f"expected a worker id string, got {wid!r}", file=file, field=f"{where}.workerId")
        content = a.get("answerContent")
        if not isinstance(content, Mapping):
            raise InputError("expected an object", file=file, field=f"{where}.answerContent")
        try:
            boxes, size = parse_answer(content, f"{where}.answerContent")
        except InputError as exc:
            raise InputError(exc.reason, file=file, field=exc.field) from exc
        secs = a.get("timeSpentInSeconds")
        seconds: float | None = float(secs) if isinstance(secs, int | float) and not isinstance(secs, bool) \
            and math.isfinite(secs) else None
        if seconds is None:
            t0, t1 = _parse_time(a.get("acceptanceTime")), _parse_time(a.get("submissionTime"))
            if t0 is not None and t1 is not None:
                seconds = max(0.0, (t1 - t0).total_seconds())
        submitted = a.get("submissionTime")
        identity = a.get("workerMetadata", {}).get("identityData") if isinstance(a.get("workerMetadata"), Mapping) \
            else None
        ident = identity if isinstance(identity, Mapping) else {}
        out.append(WorkerAnswer(wid, object_id, iteration, _source_of(a) or source, boxes, size, seconds,
                                submitted if isinstance(submitted, str) else None, file,
                                sub=_text(ident.get("sub")), issuer=_text(ident.get("issuer"))))
    return out


def parse_consolidation_request(items: Any, *, file: str = "consolidation-request") -> dict[str, str]:
    """A decoded consolidation-request (Lambda payload) file -> ``{datasetObjectId: image s3Uri}``."""
    if not isinstance(items, list):
        raise InputError(f"expected a JSON list, got {type(items).__name__}", file=file)
    out: dict[str, str] = {}
    for i, item in enumerate(items):
        if not isinstance(item, Mapping) or "datasetObjectId" not in item:
            raise InputError("expected an object with 'datasetObjectId'", file=file, field=f"[{i}]")
        ref = _source_of(item)
        if ref is not None:
            out[str(item["datasetObjectId"])] = ref
    return out


# ---------------------------------------------------------------------------------------------- I/O rim
def job_root(uri: str) -> str:
    """The job output root (``<S3OutputPath>/<job>``) from it, or from its output/intermediate manifest URI."""
    u = str(uri).rstrip("/")
    m = _OUTPUT_SUFFIX.search(u)
    return u[: m.start()] if m else u


def _load(uri: str) -> Any:
    try:
        return orjson.loads(storage.read_bytes(uri))
    except orjson.JSONDecodeError as exc:
        raise InputError(f"not valid JSON: {exc}", file=uri) from exc


def iter_worker_answers(root: str, *, on_file: Callable[[int, int], object] | None = None) -> Iterator[WorkerAnswer]:
    """Stream the answers under ``<root>/annotations/worker-response/``, with ``source_ref`` resolved.

    Reads the (small) consolidation-request files first to map ids to images; see the module docstring.
    ``on_file(done, total)``: called with the number of worker-response files once they are listed (done 0),
    then after each file is read (e.g. to drive a progress bar with a known total).
    """
    root = job_root(root)
    by_iter: dict[int, dict[str, str]] = defaultdict(dict)
    anywhere: dict[str, str] = {}
    try:
        for info in storage.list_objects(f"{root}/annotations/consolidated-annotation/consolidation-request/",
                                         suffixes=[".json"]):
            m = _CR_RE.search(info.uri)
            if not m:
                continue
            mapping = parse_consolidation_request(_load(info.uri), file=info.uri)
            by_iter[int(m.group(1))].update(mapping)
            anywhere.update(mapping)
    except NotFound:
        pass
    try:
        listing = list(storage.list_objects(f"{root}/annotations/worker-response/", suffixes=[".json"]))
    except NotFound:
        return
    files = [(info, m) for info in listing if (m := _WR_RE.search(info.uri))]
    if on_file is not None:
        on_file(0, len(files))
    for done, (info, m) in enumerate(files, 1):
        iteration, object_id = int(m.group(1)), m.group(2)
        for ans in parse_worker_response(_load(info.uri), object_id=object_id, iteration=iteration, file=info.uri):
            if ans.source_ref is None:
                ans.source_ref = by_iter.get(iteration, {}).get(object_id) or anywhere.get(object_id)
            yield ans
        if on_file is not None:
            on_file(done, len(files))


def load_worker_answers(root: str) -> list[WorkerAnswer]:
    """All worker answers of a job (see :func:`iter_worker_answers`)."""
    return list(iter_worker_answers(root))


# ---------------------------------------------------------------------------------------------- metrics (pure)
Box = tuple[str, float, float, float, float]  # label, left, top, width, height


def _xyxy(boxes: Sequence[Box]) -> np.ndarray:
    import numpy as np  # the quality extra: loaded on first use, not at import

    if not boxes:
        return np.zeros((0, 4))
    a = np.array([b[1:] for b in boxes], dtype=np.float64)
    a[:, 2] += a[:, 0]
    a[:, 3] += a[:, 1]
    return a


def _pair_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    import numpy as np  # the quality extra: loaded on first use, not at import

    iw = np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0])
    ih = np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1])
    inter = np.clip(iw, 0.0, None) * np.clip(ih, 0.0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        out: np.ndarray = np.where(union > 0.0, inter / union, 0.0)
    return out


def match_boxes(pred: Sequence[Box], ref: Sequence[Box], iou_threshold: float = 0.5
                ) -> list[tuple[int, int, float]]:
    """One-to-one greedy matching of same-label boxes by IoU (>= threshold): ``[(pred i, ref j, iou)]``."""
    import numpy as np  # the quality extra: loaded on first use, not at import

    if not pred or not ref:
        return []
    iou = _pair_iou(_xyxy(pred), _xyxy(ref))
    same = np.array([[p[0] == r[0] for r in ref] for p in pred])
    iou = np.where(same, iou, 0.0)
    ii, jj = np.nonzero(iou >= iou_threshold)
    order = np.argsort(-iou[ii, jj], kind="stable")
    used_p: set[int] = set()
    used_r: set[int] = set()
    out: list[tuple[int, int, float]] = []
    for i, j in zip(ii[order].tolist(), jj[order].tolist(), strict=True):
        if i in used_p or j in used_r:
            continue
        used_p.add(i)
        used_r.add(j)
        out.append((i, j, float(iou[i, j])))
    return out


@dataclass(slots=True)
class ClassAgreement:
    tp: int = 0
    fp: int = 0
    fn: int = 0
    iou_sum: float = 0.0

    @property
    def precision(self) -> float | None:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else None

    @property
    def recall(self) -> float | None:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else None

    @property
    def f1(self) -> float | None:
        d = 2 * self.tp + self.fp + self.fn
        return 2 * self.tp / d if d else None

    @property
    def mean_iou(self) -> float | None:
        return self.iou_sum / self.tp if self.tp else None

    def add(self, other: ClassAgreement) -> None:
        self.tp += other.tp
        self.fp += other.fp
        self.fn += other.fn
        self.iou_sum += other.iou_sum

    def as_dict(self) -> dict[str, Any]:
        return {"tp": self.tp, "fp": self.fp, "fn": self.fn, "precision": _r(self.precision),
                "recall": _r(self.recall), "f1": _r(self.f1), "mean_iou": _r(self.mean_iou)}


def _r(x: float | None, nd: int = 4) -> float | None:
    return None if x is None else round(x, nd)


@dataclass(slots=True)
class WorkerMetrics:
    """Everything measured about one worker. ``score`` = F1 x mean IoU (0 when nothing matched)."""

    worker_id: str
    tasks: int = 0
    boxes: int = 0
    median_seconds: float | None = None
    agreement: ClassAgreement = field(default_factory=ClassAgreement)
    per_class: dict[str, ClassAgreement] = field(default_factory=dict)
    images_compared: int = 0
    gold: ClassAgreement | None = None
    gold_images: int = 0
    z_score: float | None = None
    flagged: bool = False
    reasons: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def boxes_per_task(self) -> float:
        return self.boxes / self.tasks if self.tasks else 0.0

    @property
    def score(self) -> float | None:
        return _score(self.agreement)

    @property
    def gold_score(self) -> float | None:
        return _score(self.gold) if self.gold is not None else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "worker_id": self.worker_id, "tasks": self.tasks, "boxes": self.boxes,
            "boxes_per_task": round(self.boxes_per_task, 3), "median_seconds": _r(self.median_seconds, 3),
            "images_compared": self.images_compared, "agreement": self.agreement.as_dict(),
            "score": _r(self.score), "per_class": {k: v.as_dict() for k, v in sorted(self.per_class.items())},
            "gold": self.gold.as_dict() if self.gold is not None else None, "gold_images": self.gold_images,
            "gold_score": _r(self.gold_score), "z_score": _r(self.z_score, 3), "flagged": self.flagged,
            "reasons": list(self.reasons), "notes": list(self.notes),
        }


def _score(a: ClassAgreement) -> float | None:
    f1, miou = a.f1, a.mean_iou
    if f1 is None:
        return None
    return f1 * (miou or 0.0)


@dataclass(slots=True)
class WorkerReport:
    workers: list[WorkerMetrics]
    team_median_score: float | None
    team_median_seconds: float | None
    unresolved: int = 0
    unmatched_images: int = 0
    workers_per_image: dict[str, int] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def flagged(self) -> list[WorkerMetrics]:
        return [w for w in self.workers if w.flagged]

    def get(self, worker_id: str) -> WorkerMetrics:
        for w in self.workers:
            if w.worker_id == worker_id:
                return w
        raise KeyError(worker_id)

    def as_dict(self) -> dict[str, Any]:
        return {"workers": [w.as_dict() for w in self.workers],
                "team_median_score": _r(self.team_median_score),
                "team_median_seconds": _r(self.team_median_seconds, 3),
                "flagged": [w.worker_id for w in self.flagged], "unresolved_answers": self.unresolved,
                "answers_without_output_line": self.unmatched_images, "settings": dict(self.settings)}


def robust_z(values: Sequence[float], *, min_mad: float = 0.0) -> list[float]:
    """Robust z-scores ``0.6745 (x - median) / MAD`` (MAD floored at ``min_mad``; 0 where MAD is 0)."""
    if not values:
        return []
    med = statistics.median(values)
    mad = max(statistics.median([abs(v - med) for v in values]), min_mad)
    if mad == 0:
        return [0.0 for _ in values]
    return [0.6745 * (v - med) / mad for v in values]


def _record_boxes(rec: OutputRecord, names: Mapping[int, str]) -> list[Box]:
    out: list[Box] = []
    for b in rec.boxes:
        name = rec.class_map.get(b.class_id) or names.get(b.class_id) or str(b.class_id)
        out.append((name, b.left, b.top, b.width, b.height))
    return out


def _agree(pred: Sequence[Box], ref: Sequence[Box], thr: float) -> dict[str, ClassAgreement]:
    per: dict[str, ClassAgreement] = defaultdict(ClassAgreement)
    matched = match_boxes(pred, ref, thr)
    mp = {i for i, _, _ in matched}
    mr = {j for _, j, _ in matched}
    for _i, j, v in matched:
        c = per[ref[j][0]]
        c.tp += 1
        c.iou_sum += v
    for i, p in enumerate(pred):
        if i not in mp:
            per[p[0]].fp += 1
    for j, r in enumerate(ref):
        if j not in mr:
            per[r[0]].fn += 1
    return per


def compute_worker_metrics(answers: Iterable[WorkerAnswer], records: Iterable[OutputRecord], *,
                           truth: Iterable[OutputRecord] | None = None, class_names: Mapping[int, str] | None = None,
                           iou_threshold: float = 0.5, z_threshold: float = -3.5, min_f1: float = 0.5,
                           min_iou: float = 0.5, min_mad: float = 0.02) -> WorkerReport:
    """Per-worker metrics (see the module docstring).

    ``records``: the consolidated output manifest (:class:`gtlabel.formats.ground_truth.OutputRecord` s); ``truth``:
    optional reference records for gold-standard images (same format, joined by ``source_ref``);
    ``class_names``: the job's id -> name map, used where a line's ``class-map`` lacks an id.
    """
    names = dict(class_names or {})
    consolidated: dict[str, list[Box]] = {}
    for rec in records:
        if rec.failure_reason is None and rec.image_size is not None:
            consolidated[rec.source_ref] = _record_boxes(rec, names)
    gold: dict[str, list[Box]] = {}
    for rec in truth or ():
        if rec.image_size is not None:
            gold[rec.source_ref] = _record_boxes(rec, names)

    by_worker: dict[str, WorkerMetrics] = {}
    seconds: dict[str, list[float]] = defaultdict(list)
    per_image: dict[str, set[str]] = defaultdict(set)
    unresolved = 0
    unmatched = 0
    for ans in answers:
        wm = by_worker.get(ans.worker_id)
        if wm is None:
            wm = by_worker[ans.worker_id] = WorkerMetrics(ans.worker_id)
        wm.tasks += 1
        wm.boxes += len(ans.boxes)
        if ans.seconds is not None:
            seconds[ans.worker_id].append(ans.seconds)
        if ans.source_ref is None:
            unresolved += 1
            continue
        per_image[ans.source_ref].add(ans.worker_id)
        pred: list[Box] = [(b.label, b.left, b.top, b.width, b.height) for b in ans.boxes]
        ref = consolidated.get(ans.source_ref)
        if ref is None:
            unmatched += 1
        else:
            wm.images_compared += 1
            for name, c in _agree(pred, ref, iou_threshold).items():
                wm.per_class.setdefault(name, ClassAgreement()).add(c)
                wm.agreement.add(c)
        g = gold.get(ans.source_ref)
        if g is not None:
            if wm.gold is None:
                wm.gold = ClassAgreement()
            wm.gold_images += 1
            for c in _agree(pred, g, iou_threshold).values():
                wm.gold.add(c)

    workers = sorted(by_worker.values(), key=lambda w: w.worker_id)
    for w in workers:
        s = seconds.get(w.worker_id)
        w.median_seconds = statistics.median(s) if s else None

    # flags: one score per worker, against gold when the worker has gold images, else against the consensus
    def key_score(w: WorkerMetrics) -> float | None:
        return w.gold_score if w.gold is not None and w.gold_score is not None else w.score

    scored = [(w, key_score(w)) for w in workers]
    valid = [(w, s) for w, s in scored if s is not None]
    team_score = statistics.median([s for _, s in valid]) if valid else None
    if len(valid) >= 3:
        for (w, _), z in zip(valid, robust_z([s for _, s in valid], min_mad=min_mad), strict=True):
            w.z_score = z
            if z < z_threshold:
                w.flagged = True
                what = "gold-standard score" if w.gold is not None and w.gold_score is not None else "agreement score"
                w.reasons.append(f"{what} {key_score(w):.2f} far below the team median "
                                 f"{team_score:.2f} (robust z {z:.1f} < {z_threshold})")
    for w in workers:
        basis = w.gold if w.gold is not None and w.gold.f1 is not None else w.agreement
        what = "gold standard" if basis is w.gold else "consolidated labels"
        f1, miou = basis.f1, basis.mean_iou
        if f1 is not None and f1 < min_f1:
            w.flagged = True
            w.reasons.append(f"F1 {f1:.2f} against the {what} is below {min_f1}")
        if miou is not None and miou < min_iou:
            w.flagged = True
            w.reasons.append(f"mean IoU {miou:.2f} against the {what} is below {min_iou}")
    timed = [w for w in workers if w.median_seconds is not None]
    team_secs = statistics.median([w.median_seconds for w in timed if w.median_seconds is not None]) \
        if timed else None
    if len(timed) >= 3 and team_secs:
        zs = robust_z([math.log(max(w.median_seconds or 0.0, 0.1)) for w in timed], min_mad=0.1)
        for w, z in zip(timed, zs, strict=True):
            if z < z_threshold:
                w.notes.append(f"median {w.median_seconds:.1f}s per task vs the team's {team_secs:.1f}s "
                               f"(suspiciously fast)")
    return WorkerReport(workers=workers, team_median_score=team_score, team_median_seconds=team_secs,
                        unresolved=unresolved, unmatched_images=unmatched,
                        workers_per_image={k: len(v) for k, v in per_image.items()},
                        settings={"iou_threshold": iou_threshold, "z_threshold": z_threshold, "min_f1": min_f1,
                                  "min_iou": min_iou})


def report_json(report: WorkerReport) -> bytes:
    """The report as indented JSON bytes (stable key order)."""
    return strict_json.dumps(report.as_dict(), option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS)


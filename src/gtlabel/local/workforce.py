"""Simulated workers for the local service: they log in and work through the same HTTP endpoints as a browser.

    simulate(portal_url, job, workers, truth=..., noise=NoiseConfig(...)) -> SimulationResult

Each worker (one thread each, at most ``concurrency`` at once) does what the browser does
(docs/ARCHITECTURE.md, "Simulated workforce <-> portal"): ``GET /login`` for the form's CSRF token, ``POST /login``,
then ``POST /api/next-task?job=`` for a task, and ``POST /tasks/{id}/submit`` (or ``/decline``) with the session's
``X-CSRF-Token``. The answer is Ground Truth's crowd-bounding-box shape.

Given the truth (a mapping ``source-ref -> boxes`` or a truth manifest), a worker draws every true box with
noise: each edge moves by a Gaussian with sigma ``jitter * box side + jitter_px``; a box is missed with
``miss_rate``, gets another label with ``wrong_label_rate``, and ``false_box_rate`` extra boxes per image
(Poisson mean) appear at random. A worker's ``skill`` divides all of these (1.0 = as configured, 2.0 = half the
errors). Without truth a worker draws 0-5 plausible random boxes, except in an adjustment task: there it starts
from the initial boxes the task gives (:func:`initial_boxes`) and moves them with the same noise. Adjustment
answers carry ``initialValueModified`` as the browser's crowd-bounding-box sends it. The noise model
(:func:`noisy_answer`) is pure.
"""

from __future__ import annotations

import io
import json
import math
import random
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from gtlabel import storage
from gtlabel.errors import ConfigError, InputError, WorkforceError
from gtlabel.formats.ground_truth import CLASS_MAP, SOURCE_REF, metadata_key

if TYPE_CHECKING:
    import httpx

__all__ = [
    "Box",
    "NoiseConfig",
    "SimulationResult",
    "TruthImage",
    "WorkerProfile",
    "WorkerStats",
    "WorkforceError",
    "initial_boxes",
    "load_truth",
    "noisy_answer",
    "random_answer",
    "simulate",
]


@dataclass(frozen=True)
class Box:
    label: str
    left: float
    top: float
    width: float
    height: float

    def as_answer(self) -> dict[str, Any]:
        return {"label": self.label, "left": round(self.left), "top": round(self.top),
                "width": round(self.width), "height": round(self.height)}


@dataclass(frozen=True)
class TruthImage:
    boxes: tuple[Box, ...]
    width: int | None = None
    height: int | None = None


@dataclass(frozen=True)
class NoiseConfig:
    """How a nominal (skill 1.0) worker deviates from the truth."""

    jitter: float = 0.03           # sigma of each edge, relative to the box side (0.03 = 3 %)
    jitter_px: float = 0.5         # plus this many pixels (sigma)
    miss_rate: float = 0.05        # probability a true box is not drawn
    false_box_rate: float = 0.05   # mean number of extra boxes per image
    wrong_label_rate: float = 0.02  # probability a drawn true box gets another label
    decline_rate: float = 0.0      # probability a task is declined (skipped)

    def __post_init__(self) -> None:
        for name in ("jitter", "jitter_px", "false_box_rate"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and v >= 0 and math.isfinite(v)):
                raise ConfigError(f"noise {name} must be a number >= 0, got {v!r}")
        for name in ("miss_rate", "wrong_label_rate", "decline_rate"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and 0 <= v <= 1):
                raise ConfigError(f"noise {name} must be a probability in [0, 1], got {v!r}")

    def for_skill(self, skill: float) -> NoiseConfig:
        """The same errors divided by ``skill`` (probabilities capped at 1)."""
        if not (skill > 0 and math.isfinite(skill)):
            raise ConfigError(f"worker skill must be a number > 0, got {skill!r}")
        return NoiseConfig(jitter=self.jitter / skill, jitter_px=self.jitter_px / skill,
                           miss_rate=min(1.0, self.miss_rate / skill), false_box_rate=self.false_box_rate / skill,
                           wrong_label_rate=min(1.0, self.wrong_label_rate / skill),
                           decline_rate=min(1.0, self.decline_rate / skill))


@dataclass(frozen=True)
class WorkerProfile:
    username: str
    password: str
    skill: float = 1.0


@dataclass
class WorkerStats:
    username: str
    submitted: int = 0
    declined: int = 0
    errors: int = 0
    boxes: int = 0
    latencies_s: list[float] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)


@dataclass
class SimulationResult:
    per_worker: dict[str, WorkerStats]
    elapsed_s: float
    answers: list[dict[str, Any]]  # {"worker", "task_id", "source_ref", "answer"} for every accepted submit

    @property
    def submitted(self) -> int:
        return sum(w.submitted for w in self.per_worker.values())

    @property
    def declined(self) -> int:
        return sum(w.declined for w in self.per_worker.values())

    @property
    def errors(self) -> int:
        return sum(w.errors for w in self.per_worker.values())

    def latency_percentile(self, q: float) -> float | None:
        """Submit latency percentile (seconds, q in 0..100), None when nothing was submitted."""
        lat = sorted(x for w in self.per_worker.values() for x in w.latencies_s)
        if not lat:
            return None
        k = min(len(lat) - 1, max(0, math.ceil(q / 100 * len(lat)) - 1))
        return lat[k]

    def summary(self) -> dict[str, Any]:
        return {"submitted": self.submitted, "declined": self.declined, "errors": self.errors,
                "elapsed_s": round(self.elapsed_s, 3),
                "submissions_per_s": round(self.submitted / self.elapsed_s, 1) if self.elapsed_s > 0 else None,
                "p50_ms": _ms(self.latency_percentile(50)), "p99_ms": _ms(self.latency_percentile(99)),
                "per_worker": {k: {"submitted": w.submitted, "declined": w.declined, "errors": w.errors,
                                   "boxes": w.boxes} for k, w in self.per_worker.items()}}


def _ms(v: float | None) -> float | None:
    return None if v is None else round(v * 1000, 2)


# ------------------------------------------------------------------------------------------------ noise (pure)


def _poisson(rng: random.Random, mean: float) -> int:
    if mean <= 0:
        return 0
    limit, k, p = math.exp(-mean), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def _random_box(rng: random.Random, width: int, height: int, labels: Sequence[str]) -> dict[str, Any]:
    w = max(1, int(width * rng.uniform(0.01, 0.1)))
    h = max(1, int(height * rng.uniform(0.01, 0.1)))
    return {"label": rng.choice(list(labels)), "left": rng.randint(0, max(0, width - w)),
            "top": rng.randint(0, max(0, height - h)), "width": w, "height": h}


def noisy_answer(truth: Sequence[Box], width: int, height: int, labels: Sequence[str], noise: NoiseConfig,
                 rng: random.Random) -> dict[str, Any]:
    """One worker's crowd-bounding-box answer for an image whose true boxes are ``truth`` (pure)."""
    if width <= 0 or height <= 0:
        raise InputError(f"image size must be positive, got {width}x{height}", field="inputImageProperties")
    labels = list(labels) or sorted({b.label for b in truth}) or ["object"]
    out: list[dict[str, Any]] = []
    for b in truth:
        if rng.random() < noise.miss_rate:
            continue
        sx, sy = noise.jitter * b.width + noise.jitter_px, noise.jitter * b.height + noise.jitter_px
        left = b.left + rng.gauss(0, sx)
        right = b.left + b.width + rng.gauss(0, sx)
        top = b.top + rng.gauss(0, sy)
        bottom = b.top + b.height + rng.gauss(0, sy)
        l_, r_ = sorted((min(max(round(left), 0), width), min(max(round(right), 0), width)))
        t_, b_ = sorted((min(max(round(top), 0), height), min(max(round(bottom), 0), height)))
        if r_ - l_ < 1:
            r_ = min(width, l_ + 1)
            l_ = r_ - 1
        if b_ - t_ < 1:
            b_ = min(height, t_ + 1)
            t_ = b_ - 1
        label = b.label
        others = [x for x in labels if x != label]
        if others and rng.random() < noise.wrong_label_rate:
            label = rng.choice(others)
        out.append({"label": label, "left": l_, "top": t_, "width": r_ - l_, "height": b_ - t_})
    for _ in range(_poisson(rng, noise.false_box_rate)):
        out.append(_random_box(rng, width, height, labels))
    return {"boundingBoxes": out, "inputImageProperties": {"width": int(width), "height": int(height)}}


def random_answer(width: int, height: int, labels: Sequence[str], rng: random.Random) -> dict[str, Any]:
    """A plausible answer without truth: 0-5 boxes of 1-10 % of the image side, random labels (pure)."""
    labels = list(labels) or ["object"]
    boxes = [_random_box(rng, width, height, labels) for _ in range(rng.randint(0, 5))]
    return {"boundingBoxes": boxes, "inputImageProperties": {"width": int(width), "height": int(height)}}


# ------------------------------------------------------------------------------------------------ truth


def _box_from(obj: Any, where: str, class_map: Mapping[str, str] | None = None) -> Box:
    if not isinstance(obj, Mapping):
        raise InputError(f"a box must be an object, got {type(obj).__name__}", field=where)
    label = obj.get("label")
    if label is None and "class_id" in obj:
        label = (class_map or {}).get(str(obj["class_id"]), str(obj["class_id"]))
    if not isinstance(label, str) or not label:
        raise InputError("a box needs a 'label' (or a 'class_id' in the class-map)", field=where)
    try:
        vals = [float(obj[k]) for k in ("left", "top", "width", "height")]
    except (KeyError, TypeError, ValueError):
        raise InputError("a box needs numeric left, top, width, height", field=where) from None
    if vals[2] <= 0 or vals[3] <= 0 or not all(math.isfinite(v) for v in vals):
        raise InputError(f"box width and height must be > 0, got {vals[2]}x{vals[3]}", field=where)
    return Box(label, *vals)


def _truth_from_record(rec: Mapping[str, Any], where: str) -> tuple[str, TruthImage]:
    ref = rec.get(SOURCE_REF)
    if not isinstance(ref, str):
        raise InputError(f"missing '{SOURCE_REF}'", field=f"{where}.{SOURCE_REF}")
    if "boxes" in rec or "boundingBoxes" in rec:  # simple truth line: {"source-ref", "boxes": [...], "width"?, ...}
        key = "boxes" if "boxes" in rec else "boundingBoxes"
        raw = rec[key]
        if not isinstance(raw, list):
            raise InputError("must be a list of boxes", field=f"{where}.{key}")
        boxes = tuple(_box_from(b, f"{where}.{key}[{i}]") for i, b in enumerate(raw))
        w, h = rec.get("width"), rec.get("height")
        return ref, TruthImage(boxes, int(w) if isinstance(w, (int, float)) else None,
                               int(h) if isinstance(h, (int, float)) else None)
    found = _labeled_boxes(rec, where)
    if found is None:
        raise InputError("no boxes: expected 'boxes': [...] or a Ground Truth label attribute with 'annotations'",
                         field=where)
    return ref, found


def _labeled_boxes(rec: Mapping[str, Any], where: str) -> TruthImage | None:
    """The boxes of a Ground Truth output-manifest line: its first attribute with a ``-metadata`` sibling and
    ``annotations``; ``None`` when it has none."""
    for attr, val in rec.items():
        meta = rec.get(metadata_key(attr))
        if isinstance(val, Mapping) and isinstance(meta, Mapping) and isinstance(val.get("annotations"), list):
            cmap = meta.get(CLASS_MAP) if isinstance(meta.get(CLASS_MAP), Mapping) else {}
            boxes = tuple(_box_from(b, f"{where}.{attr}.annotations[{i}]", cmap)
                          for i, b in enumerate(val["annotations"]))
            size = val.get("image_size")
            w = h = None
            if isinstance(size, list) and size and isinstance(size[0], Mapping):
                w, h = size[0].get("width"), size[0].get("height")
            return TruthImage(boxes, int(w) if isinstance(w, (int, float)) else None,
                              int(h) if isinstance(h, (int, float)) else None)
    return None


def load_truth(source: str | Path | Mapping[str, Any]) -> dict[str, TruthImage]:
    """Truth per source-ref from a mapping (``ref -> [box, ...]`` or ``ref -> TruthImage``) or a JSON Lines
    manifest (local path or s3:// URI): Ground Truth output-manifest lines or ``{"source-ref", "boxes": [...]}``."""
    if isinstance(source, Mapping):
        out: dict[str, TruthImage] = {}
        for ref, val in source.items():
            if isinstance(val, TruthImage):
                out[str(ref)] = val
            elif isinstance(val, list):
                out[str(ref)] = TruthImage(tuple(_box_from(b, f"{ref}[{i}]") for i, b in enumerate(val)))
            else:
                raise InputError("expected a list of boxes", field=str(ref))
        return out

    uri = str(source)
    result: dict[str, TruthImage] = {}
    for lineno, raw in storage.iter_lines(uri):
        if not raw.strip():
            continue
        try:
            rec = json.loads(raw)
        except ValueError as exc:
            raise InputError(f"not JSON: {exc}", file=uri, line=lineno) from None
        if not isinstance(rec, dict):
            raise InputError("a line must be a JSON object", file=uri, line=lineno)
        try:
            ref, img = _truth_from_record(rec, "line")
        except InputError as exc:
            raise InputError(exc.reason, file=uri, line=lineno, field=exc.field) from None
        result[ref] = img
    if not result:
        raise InputError("the truth manifest has no lines", file=uri)
    return result


def initial_boxes(task_input: Mapping[str, Any]) -> TruthImage | None:
    """The boxes an adjustment task starts from: the earlier job's label attribute in the task's ``manifestLine``
    (what the worker template preloads as ``initial-value``); ``None`` for a task without them (pure)."""
    line = task_input.get("manifestLine")
    if not isinstance(line, Mapping):
        return None
    try:
        return _labeled_boxes(line, "manifestLine")
    except InputError:
        return None


def _box_keys(boxes: Iterable[Mapping[str, Any]]) -> list[tuple[Any, ...]]:
    return sorted((str(b["label"]), b["left"], b["top"], b["width"], b["height"]) for b in boxes)


# ------------------------------------------------------------------------------------------------ HTTP


_CSRF_INPUT = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"|value="([^"]+)"[^>]*name="csrf_token"')
_CSRF_META = re.compile(r'<meta[^>]+name="csrf-token"[^>]+content="([^"]+)"')


def _image_size(client: httpx.Client, url: str) -> tuple[int, int]:
    """Width and height of the image at ``url``: the first 64 KiB usually hold the header; else the whole file."""
    from PIL import Image

    headers = {"Range": "bytes=0-65535"}
    for attempt in range(2):
        r = client.get(url, headers=headers)
        if r.status_code not in (200, 206):
            raise WorkforceError(f"image {url[:120]} answered HTTP {r.status_code}")
        try:
            with Image.open(io.BytesIO(r.content)) as im:
                w, h = im.size
                return int(w), int(h)
        except Exception:
            if attempt or r.status_code == 200:
                raise WorkforceError(f"image {url[:120]} is not a readable image") from None
            headers = {}
    raise WorkforceError(f"image {url[:120]} is not a readable image")  # pragma: no cover


class _Worker:
    def __init__(self, portal: str, job: str, profile: WorkerProfile, sim: _Simulation) -> None:
        import httpx

        self.profile, self.job, self.sim = profile, job, sim
        self.stats = WorkerStats(profile.username)
        self.noise = sim.noise.for_skill(profile.skill)
        self.rng = random.Random(f"{sim.seed}:{profile.username}")
        self.csrf = ""
        self.http = httpx.Client(base_url=portal, timeout=sim.timeout_s, follow_redirects=False,
                                 headers={"User-Agent": "gtlabel-simulated-worker"})

    def login(self) -> None:
        who = self.profile.username
        r = self.http.get("/login")
        m = _CSRF_INPUT.search(r.text) or _CSRF_META.search(r.text)
        if r.status_code != 200 or not m:
            raise WorkforceError(f"worker {who!r}: GET /login gave HTTP {r.status_code} without a CSRF token")
        token = m.group(1) or m.group(2)
        r = self.http.post("/login", data={"username": who, "password": self.profile.password, "csrf_token": token})
        if r.status_code not in (302, 303) or r.headers.get("location", "").rstrip("/").endswith("/login"):
            raise WorkforceError(f"worker {who!r}: login failed (HTTP {r.status_code}); check the username, "
                                 f"password and that the worker belongs to the job's workteam")
        me = self.http.get("/api/me", headers={"Accept": "application/json"})
        if me.status_code != 200:
            raise WorkforceError(f"worker {who!r}: GET /api/me gave HTTP {me.status_code} after login")
        self.csrf = str(me.json().get("csrf_token") or "")

    def run(self) -> WorkerStats:
        try:
            self.login()
            self._loop()
        finally:
            self.http.close()
        return self.stats

    def _loop(self) -> None:
        idle_since: float | None = None
        while self.sim.take_slot():
            r = self.http.post("/api/next-task", params={"job": self.job}, json={},
                               headers={"Accept": "application/json", "X-CSRF-Token": self.csrf})
            if r.status_code == 204:
                task: dict[str, Any] = {"task_id": None, "done": False}
            elif r.status_code == 200:
                task = r.json()
            else:
                self.sim.give_back_slot()
                raise WorkforceError(f"worker {self.profile.username!r}: POST /api/next-task?job={self.job} gave "
                                     f"HTTP {r.status_code}: {r.text[:200]}")
            if not task.get("task_id"):
                self.sim.give_back_slot()
                if task.get("done"):
                    return
                now = time.monotonic()
                idle_since = idle_since or now
                if now - idle_since > self.sim.idle_timeout_s:
                    self.stats.messages.append(f"no task for {self.sim.idle_timeout_s:g} s; stopped waiting")
                    return
                time.sleep(self.sim.poll_s)
                continue
            idle_since = None
            self._work(task)

    def _work(self, task: Mapping[str, Any]) -> None:
        tid = str(task["task_id"])
        headers = {"X-CSRF-Token": str(task.get("csrf_token") or ""), "Accept": "application/json"}
        raw_input = task.get("input")
        task_input: Mapping[str, Any] = raw_input if isinstance(raw_input, Mapping) else {}
        ref = str(task_input.get("taskObject") or "")
        labels = [str(x) for x in task_input.get("labels") or []]
        if self.rng.random() < self.noise.decline_rate:
            r = self.http.post(str(task.get("decline_url") or f"/tasks/{tid}/decline"), json={}, headers=headers)
            if r.status_code < 300:
                self.stats.declined += 1
            else:
                self.stats.errors += 1
                self.stats.messages.append(f"decline {tid}: HTTP {r.status_code}")
            return
        truth = self.sim.truth.get(ref) if self.sim.truth is not None else None
        initial = initial_boxes(task_input)  # an adjustment task: the boxes the template preloads
        known = truth or initial
        width, height = (known.width, known.height) if known is not None else (None, None)
        if not width or not height:
            width, height = self.sim.size_of(ref, str(task.get("image_url") or ""), self.http)
        if known is not None:  # draw the truth, else adjust the initial boxes (with the same noise)
            content = noisy_answer(known.boxes, width, height, labels, self.noise, self.rng)
        else:
            if self.sim.truth is not None:
                self.stats.messages.append(f"{ref}: not in the truth; drew random boxes")
            content = random_answer(width, height, labels, self.rng)
        if initial is not None:  # as the browser's crowd-bounding-box reports it
            content["initialValueModified"] = _box_keys(content["boundingBoxes"]) != _box_keys(
                b.as_answer() for b in initial.boxes)
        answer = {self.sim.answer_name: content}
        t0 = time.perf_counter()
        r = self.http.post(str(task.get("submit_url") or f"/tasks/{tid}/submit"), json=answer, headers=headers)
        dt = time.perf_counter() - t0
        if r.status_code < 300:
            self.stats.submitted += 1
            self.stats.boxes += len(content["boundingBoxes"])
            self.stats.latencies_s.append(dt)
            self.sim.record({"worker": self.profile.username, "task_id": tid, "source_ref": ref, "answer": answer})
        else:
            self.stats.errors += 1
            self.stats.messages.append(f"submit {tid}: HTTP {r.status_code}: {r.text[:200]}")


class _Simulation:
    def __init__(self, *, noise: NoiseConfig, truth: dict[str, TruthImage] | None, seed: int, max_tasks: int | None,
                 answer_name: str, poll_s: float, idle_timeout_s: float, timeout_s: float,
                 on_submit: Callable[[], None] | None) -> None:
        self.noise, self.truth, self.seed = noise, truth, seed
        self.answer_name, self.poll_s, self.idle_timeout_s, self.timeout_s = answer_name, poll_s, idle_timeout_s, timeout_s
        self._left = max_tasks
        self._lock = threading.Lock()
        self._sizes: dict[str, tuple[int, int]] = {}
        self.answers: list[dict[str, Any]] = []
        self.on_submit = on_submit

    def take_slot(self) -> bool:
        with self._lock:
            if self._left is None:
                return True
            if self._left <= 0:
                return False
            self._left -= 1
            return True

    def give_back_slot(self) -> None:
        with self._lock:
            if self._left is not None:
                self._left += 1

    def record(self, item: dict[str, Any]) -> None:
        with self._lock:
            self.answers.append(item)
        if self.on_submit is not None:
            self.on_submit()

    def size_of(self, ref: str, url: str, client: httpx.Client) -> tuple[int, int]:
        with self._lock:
            if ref in self._sizes:
                return self._sizes[ref]
        if not url:
            raise WorkforceError(f"task for {ref or '?'} has no image_url, and the truth gives no image size")
        size = _image_size(client, url)
        with self._lock:
            self._sizes[ref] = size
        return size


def _profiles(workers: Iterable[WorkerProfile | tuple[str, str] | tuple[str, str, float]]) -> list[WorkerProfile]:
    out: list[WorkerProfile] = []
    for w in workers:
        if isinstance(w, WorkerProfile):
            out.append(w)
        elif isinstance(w, tuple) and len(w) in (2, 3):
            out.append(WorkerProfile(str(w[0]), str(w[1]), float(w[2]) if len(w) == 3 else 1.0))
        else:
            raise ConfigError(f"a worker is (username, password[, skill]) or a WorkerProfile, got {w!r}")
    names = [p.username for p in out]
    if not out:
        raise ConfigError("simulate needs at least one worker")
    if len(set(names)) != len(names):
        raise ConfigError(f"worker usernames must be distinct, got {names}")
    for p in out:
        if not (p.skill > 0 and math.isfinite(p.skill)):
            raise ConfigError(f"worker {p.username!r}: skill must be > 0, got {p.skill}")
    return out


def simulate(
    portal_url: str,
    job: str,
    workers: Iterable[WorkerProfile | tuple[str, str] | tuple[str, str, float]],
    *,
    truth: str | Path | Mapping[str, Any] | None = None,
    noise: NoiseConfig | None = None,
    seed: int = 0,
    max_tasks: int | None = None,
    concurrency: int | None = None,
    answer_name: str = "boundingBox",
    poll_s: float = 0.1,
    idle_timeout_s: float = 30.0,
    timeout_s: float = 30.0,
    progress: bool = False,
) -> SimulationResult:
    """Run simulated workers on ``job`` until it has no more work for them (or ``max_tasks`` answers in total).

    ``workers``: ``(username, password)`` or ``(username, password, skill)`` tuples or :class:`WorkerProfile`.
    Raises :class:`WorkforceError` when a worker cannot log in or the portal refuses the job (e.g. the worker is
    not in the job's team); an answer the portal rejects counts in ``errors`` with its message.
    """
    profiles = _profiles(workers)
    if max_tasks is not None and max_tasks < 0:
        raise ConfigError(f"max_tasks must be >= 0, got {max_tasks}")
    conc = len(profiles) if concurrency is None else concurrency
    if conc < 1:
        raise ConfigError(f"concurrency must be >= 1, got {concurrency}")
    truth_map = None if truth is None else load_truth(truth)
    bar: Any = None
    tick: Callable[[], None] | None = None
    if progress:
        bar = Progress(SpinnerColumn(), TextColumn("[bold]{task.description}"), TextColumn("{task.completed} answers"),
                       TimeElapsedColumn(), transient=False)
        bar_task = bar.add_task(f"{len(profiles)} simulated workers on {job}", total=max_tasks)

        def tick() -> None:
            bar.advance(bar_task)

    sim = _Simulation(noise=noise or NoiseConfig(), truth=truth_map, seed=seed, max_tasks=max_tasks,
                      answer_name=answer_name, poll_s=poll_s, idle_timeout_s=idle_timeout_s, timeout_s=timeout_s,
                      on_submit=tick)
    base = portal_url.rstrip("/")
    t0 = time.perf_counter()
    stats: dict[str, WorkerStats] = {}
    if bar is not None:
        bar.start()
    try:
        with ThreadPoolExecutor(max_workers=conc, thread_name_prefix="gtlabel-worker") as pool:
            futures = {p.username: pool.submit(_Worker(base, job, p, sim).run) for p in profiles}
            errs: list[BaseException] = []
            for name, fut in futures.items():
                try:
                    stats[name] = fut.result()
                except BaseException as exc:  # collect, then raise the first with every worker's outcome known
                    errs.append(exc)
                    stats[name] = WorkerStats(name, messages=[str(exc)])
            if errs:
                raise errs[0]
    finally:
        if bar is not None:
            bar.stop()
    return SimulationResult(per_worker=stats, elapsed_s=time.perf_counter() - t0, answers=sim.answers)

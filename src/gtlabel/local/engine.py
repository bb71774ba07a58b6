"""The labeling-job engine: an explicit state machine, advanced by :meth:`Engine.tick`.

    Initializing --(manifest, labels, template read; objects pre-annotated)--> InProgress
    Initializing --(unreadable manifest/labels/template, bad line, no readable object)--> Failed
    InProgress   --(every object labeled or failed)--> Completed
    InProgress   --(a StoppingCondition reached: no more objects are released)--> Stopped
    InProgress   --(30 days old)--> Failed
    Initializing | InProgress --StopLabelingJob--> Stopping --(answers so far consolidated, output written)--> Stopped

Each tick, for every live job: claims older than ``TaskTimeLimitInSeconds`` go back to the pool; objects whose N
slots are all used (submitted or declined), or whose ``TaskAvailabilityLifetimeInSeconds`` has run out, are
consolidated (>= 1 answer -> labeled; 0 answers -> failed, "expired"); when no object of the current batch is
left, the next batch of ``MaxConcurrentTaskCount`` objects is released (one batch = one ``iteration-N``).

Time comes from a clock object (:class:`gtlabel.local.backend.ManualClock` in tests): nothing here sleeps.
Pre-annotation and consolidation use the built-in behaviour of the AWS ``PRE-*`` / ``ACS-*`` Lambdas for
bounding boxes (plain, adjustment, verification); any other Lambda ARN can be mapped to a local Python callable
(``"package.module:function"``), called with the documented event and expected to return the documented reply.
"""

from __future__ import annotations

import importlib
import json
import logging
import threading
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from gtlabel.errors import GtlabelError, JobFailure, ManifestError, NotFound, ServiceValidationError
from gtlabel.local.backend import Backend
from gtlabel.local.output import (
    CUSTOM,
    VERIFICATION,
    OutputLayout,
    S3Store,
    bbox_metadata,
    consolidation_request_item,
    creation_date,
    failed_line,
    file_timestamp,
    json_bytes,
    labeled_line,
    worker_response_doc,
)
from gtlabel.manifests import check_line_limits

__all__ = ["Engine", "LambdaRegistry", "job_kind"]

log = logging.getLogger("gtlabel.local.engine")

LambdaFn = Callable[[dict[str, Any], Any], Any]
JOB_MAX_SECONDS = 30 * 24 * 3600  # "Labeling jobs fail after 30 days" (StoppingConditions shape doc)
INTERMEDIATE_EVERY_S = 10.0  # the intermediate output manifest is rewritten at most this often (and per batch)
BUILTIN_PRE = {"PRE-BoundingBox": "bbox", "PRE-AdjustmentBoundingBox": "adjust",
               "PRE-VerificationBoundingBox": "verify", "PRE-PassThrough": "passthrough"}
BUILTIN_ACS = {"ACS-BoundingBox": "bbox", "ACS-AdjustmentBoundingBox": "adjust",
               "ACS-VerificationBoundingBox": "verify", "ACS-PassThrough": "passthrough"}


def function_name(arn: str) -> str:
    return arn.split(":function:", 1)[1] if ":function:" in arn else arn


def job_kind(request: Mapping[str, Any]) -> str:
    """``bbox`` | ``adjust`` | ``verify`` | ``passthrough`` | ``custom`` from the job's Lambda ARNs."""
    hc = request["HumanTaskConfig"]
    acs = (hc.get("AnnotationConsolidationConfig") or {}).get("AnnotationConsolidationLambdaArn")
    if acs and function_name(str(acs)) in BUILTIN_ACS:
        return BUILTIN_ACS[function_name(str(acs))]
    pre = hc.get("PreHumanTaskLambdaArn")
    if not acs and pre and function_name(str(pre)) in BUILTIN_PRE:
        return BUILTIN_PRE[function_name(str(pre))]
    return "custom"


class LambdaRegistry:
    """Maps Lambda ARNs (or bare function names) to local callables ``fn(event, context)``."""

    def __init__(self, mapping: Mapping[str, str | LambdaFn] | None = None) -> None:
        self._map: dict[str, str | LambdaFn] = dict(mapping or {})
        self._cache: dict[str, LambdaFn] = {}

    def __contains__(self, arn: object) -> bool:
        return isinstance(arn, str) and (arn in self._map or function_name(arn) in self._map)

    def resolve(self, arn: str) -> LambdaFn:
        target = self._map.get(arn, self._map.get(function_name(arn)))
        if target is None:
            raise JobFailure(f"ClientError: Lambda {arn} is not available to the local service; map it to a "
                             "Python callable (gtlabel serve --lambda ARN=module:function).")
        if callable(target):
            return target
        if target not in self._cache:
            mod_name, _, attr = target.partition(":")
            try:
                fn = getattr(importlib.import_module(mod_name), attr)
            except (ImportError, AttributeError) as exc:
                raise JobFailure(f"ClientError: cannot load {target!r} for Lambda {arn}: {exc}") from exc
            self._cache[target] = fn
        return self._cache[target]

    def check(self, request: Mapping[str, Any]) -> None:
        """Raise ``ValidationException`` for a Lambda ARN that is neither built in nor mapped."""
        hc = request["HumanTaskConfig"]
        pre = hc.get("PreHumanTaskLambdaArn")
        acs = (hc.get("AnnotationConsolidationConfig") or {}).get("AnnotationConsolidationLambdaArn")
        for field, arn, builtin in (("HumanTaskConfig.PreHumanTaskLambdaArn", pre, BUILTIN_PRE),
                                    ("HumanTaskConfig.AnnotationConsolidationConfig.AnnotationConsolidationLambdaArn",
                                     acs, BUILTIN_ACS)):
            if arn and function_name(str(arn)) not in builtin and str(arn) not in self:
                raise ServiceValidationError(f"{field}: {arn} is not a built-in Ground Truth Lambda and is not mapped to a "
                                             "local callable (gtlabel serve --lambda ARN=module:function).")
        if "UiTemplateS3Uri" not in hc.get("UiConfig", {}):
            raise ServiceValidationError("HumanTaskConfig.UiConfig: the local service renders "
                                         "UiTemplateS3Uri templates only (HumanTaskUiArn is for NER, video and 3D jobs).")


# ----------------------------------------------------------------------------------------------- consolidation
def _bbox_element(content: Mapping[str, Any]) -> Mapping[str, Any] | None:
    el = content.get("boundingBox")
    if isinstance(el, Mapping) and "boundingBoxes" in el:
        return el
    for v in content.values():
        if isinstance(v, Mapping) and "boundingBoxes" in v:
            return v
    return None


def _prior_boxes(line: Mapping[str, Any], attr: str) -> list[tuple[str, float, float, float, float]] | None:
    """Boxes of an earlier object-detection attribute in the manifest line (what an adjustment job starts from)."""
    for key, meta in line.items():
        if not key.endswith("-metadata") or not isinstance(meta, Mapping):
            continue
        base = key[: -len("-metadata")]
        if base == attr or meta.get("type") != "groundtruth/object-detection" or not isinstance(line.get(base), Mapping):
            continue
        cmap = meta.get("class-map", {})
        return sorted((str(cmap.get(str(b.get("class_id")), b.get("class_id"))), float(b["left"]), float(b["top"]),
                       float(b["width"]), float(b["height"])) for b in line[base].get("annotations", []))
    return None


def adjustment_status(elements: Sequence[Mapping[str, Any]], line: Mapping[str, Any], attr: str) -> str:
    """``adjusted`` if at least one worker changed the initial boxes (``initialValueModified`` when the element
    reports it, else a comparison with the earlier attribute's boxes)."""
    flags = [el.get("initialValueModified") for el in elements if "initialValueModified" in el]
    if flags:
        return "adjusted" if any(flags) else "unadjusted"
    prior = _prior_boxes(line, attr)
    for el in elements:
        boxes = sorted((str(b.get("label")), float(b["left"]), float(b["top"]), float(b["width"]), float(b["height"]))
                       for b in el.get("boundingBoxes", []))
        if prior is None or boxes != prior:
            return "adjusted"
    return "unadjusted"


def consolidate_boxes(elements: Sequence[Mapping[str, Any]], labels: Sequence[str]) -> tuple[Any, list[Any], dict[str, str]]:
    from gtlabel.quality.consolidate import consolidate_bounding_boxes

    res = consolidate_bounding_boxes(elements, labels)
    return res.label, list(res.objects), {str(k): str(v) for k, v in res.class_map.items()}


def consolidate_verification(contents: Sequence[Mapping[str, Any]], labels: Sequence[str]) -> tuple[str, dict[str, Any]]:
    votes: Counter[str] = Counter()
    feedback = []
    for c in contents:
        for v in c.values():
            if isinstance(v, Mapping) and "label" in v:
                votes[str(v["label"])] += 1
            if isinstance(v, Mapping) and v.get("comment"):
                feedback.append({"comment": str(v["comment"])})
    if not votes:
        raise ValueError("no worker answer has a 'label'")
    top = max(votes.items(), key=lambda kv: (kv[1], -labels.index(kv[0]) if kv[0] in labels else -999))[0]
    idx = labels.index(top) if top in labels else -1
    meta: dict[str, Any] = {"class-name": top, "confidence": round(votes[top] / sum(votes.values()), 2)}
    if feedback:
        meta["worker-feedback"] = feedback
    return str(idx), meta


# ----------------------------------------------------------------------------------------------- engine
class Engine:
    """Advances every live job. ``tick()`` is synchronous (tests); ``start()`` runs it on a thread."""

    def __init__(self, backend: Backend, store: S3Store, *, lambdas: LambdaRegistry | None = None,
                 issuer: str = "", interval: float | None = 0.5) -> None:
        self.backend = backend
        self.db = backend.db
        self.store = store
        self.lambdas = lambdas or LambdaRegistry()
        self.issuer = issuer
        self.interval = interval
        self._intermediate_at: dict[str, float] = {}  # job -> service time of the last intermediate manifest
        self._dirty: dict[str, bool] = {}  # job -> objects finished since that manifest
        self._lock = threading.RLock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._stamps: dict[str, set[str]] = {}
        backend.on_change = self._wake.set

    # ------------------------------------------------------------------ running
    def start(self) -> None:
        if self.interval is None or self._thread is not None:
            return
        self._thread = threading.Thread(target=self._loop, name="gtlabel-engine", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None

    def _loop(self) -> None:
        assert self.interval is not None
        import gtlabel.quality.consolidate  # noqa: F401  (numpy: loaded now, not in the middle of the first job)

        while not self._stop.is_set():
            try:
                self.tick()
            except Exception:  # keep the service alive; the failing job is marked Failed in tick()
                log.exception("engine tick failed")
            self._wake.wait(self.interval)
            self._wake.clear()

    def tick(self) -> None:
        """Advance every job that is not finished by one step (each may pass several states)."""
        with self._lock:
            for row in self.db.query("SELECT name, status FROM jobs WHERE status IN "
                                     "('Initializing','InProgress','Stopping') ORDER BY created"):
                name = str(row["name"])
                try:
                    if row["status"] == "Initializing":
                        self._initialize(name)
                    status = self._status(name)
                    if status == "InProgress":
                        self._advance(name)
                    elif status == "Stopping":
                        self._stop_job(name)
                except JobFailure as exc:
                    self._set_status(name, "Failed", str(exc), exc.output_uri)
                except Exception as exc:
                    log.exception("job %s failed in the engine", name)
                    self._set_status(name, "Failed", f"InternalServerError: {type(exc).__name__}: {exc}")

    # ------------------------------------------------------------------ helpers
    def _status(self, name: str) -> str:
        row = self.db.one("SELECT status FROM jobs WHERE name=?", (name,))
        return str(row["status"]) if row else ""

    def fail_unfinished(self, reason: str) -> list[str]:
        """Fail every job that is not Completed/Failed/Stopped with ``reason`` (used at start-up when the state
        the jobs need is gone); returns their names."""
        rows = self.db.query("SELECT name FROM jobs WHERE status NOT IN ('Completed','Failed','Stopped')")
        names = [str(r["name"]) for r in rows]
        for name in names:
            with self.db.tx() as con:
                con.execute("UPDATE assignments SET state='cancelled' WHERE job=? AND state='claimed'", (name,))
            self._set_status(name, "Failed", reason)
        return names

    def _set_status(self, name: str, status: str, reason: str | None = None, output_uri: str | None = None) -> None:
        with self.db.tx() as con:
            con.execute("UPDATE jobs SET status=?, modified=?, failure_reason=coalesce(?, failure_reason), "
                        "output_uri=coalesce(?, output_uri) WHERE name=?",
                        (status, self.backend.clock.now(), reason, output_uri, name))
        log.info("labeling job %s -> %s%s", name, status, f" ({reason})" if reason else "")

    def _job(self, name: str) -> tuple[Any, dict[str, Any]]:
        row = self.db.one("SELECT * FROM jobs WHERE name=?", (name,))
        assert row is not None
        return row, json.loads(row["request"])

    def _stamp(self, job: str, key: str, now: float) -> str:
        """A file timestamp that is unique per job and folder (a suffix when two fall in one second)."""
        seen = self._stamps.setdefault(job, set())
        base = file_timestamp(now)
        stamp, n = base, 1
        while f"{key}/{stamp}" in seen:
            n += 1
            stamp = f"{base}-{n}"
        seen.add(f"{key}/{stamp}")
        return stamp

    # ------------------------------------------------------------------ Initializing
    def _read_json(self, uri: str, what: str) -> Any:
        try:
            return json.loads(self.store.read_bytes(uri))
        except NotFound:
            raise JobFailure(f"ClientError: {what} {uri} does not exist or cannot be read.") from None
        except GtlabelError as exc:
            raise JobFailure(f"ClientError: cannot read {what} {uri}: {exc}") from None
        except ValueError as exc:
            raise JobFailure(f"ClientError: {what} {uri} is not valid JSON: {exc}") from None

    def _labels(self, req: Mapping[str, Any]) -> list[str]:
        uri = req.get("LabelCategoryConfigS3Uri")
        if not uri:
            return []
        doc = self._read_json(str(uri), "label category configuration file")
        labels = doc.get("labels") if isinstance(doc, dict) else None
        if not isinstance(labels, list) or not all(isinstance(x, dict) and isinstance(x.get("label"), str)
                                                   for x in labels):
            raise JobFailure(f"ClientError: label category configuration file {uri}: expected "
                             '{"labels": [{"label": "..."}, ...]}.')
        return [str(x["label"]) for x in labels]

    def _manifest(self, uri: str) -> list[dict[str, Any]]:
        try:
            raw = self.store.read_bytes(uri)
        except NotFound:
            raise JobFailure(f"ClientError: input manifest {uri} does not exist or cannot be read.") from None
        except GtlabelError as exc:
            raise JobFailure(f"ClientError: cannot read input manifest {uri}: {exc}") from None
        lines: list[dict[str, Any]] = []
        text = raw.decode("utf-8", errors="replace").removeprefix("\ufeff")
        for n, line in enumerate(text.split("\n"), start=1):
            line = line.rstrip("\r")
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except ValueError as exc:
                raise JobFailure(f"ClientError: input manifest {uri}, line {n}: not valid JSON ({exc}).") from None
            if not isinstance(obj, dict):
                raise JobFailure(f"ClientError: input manifest {uri}, line {n}: expected a JSON object.")
            try:  # the documented per-line limits, the same check the manifest builder applies
                check_line_limits(line.encode("utf-8"), obj, file=uri, lineno=n)
            except ManifestError as exc:
                where = f", field {exc.field!r}" if exc.field else ""
                raise JobFailure(f"ClientError: input manifest {uri}, line {n}{where}: {exc.reason}.") from None
            if "source-ref" in obj:
                ref = obj["source-ref"]
                if not isinstance(ref, str) or not ref.startswith("s3://") or "/" not in ref[5:]:
                    raise JobFailure(f"ClientError: input manifest {uri}, line {n}, field 'source-ref': expected an "
                                     f"s3://bucket/key URI, got {ref!r}.")
            elif "source" not in obj:
                raise JobFailure(f"ClientError: input manifest {uri}, line {n}: needs 'source-ref' or 'source'.")
            lines.append(obj)
        if not lines:
            raise JobFailure(f"ClientError: input manifest {uri} has no data objects.")
        return lines

    def _task_input(self, kind: str, req: Mapping[str, Any], line: dict[str, Any], labels: list[str],
                    arn: str) -> tuple[Any, bool]:
        pre = req["HumanTaskConfig"].get("PreHumanTaskLambdaArn")
        name = function_name(str(pre)) if pre else ""
        if name in ("PRE-BoundingBox", "PRE-AdjustmentBoundingBox", "PRE-VerificationBoundingBox"):
            ti: dict[str, Any] = {"taskObject": line.get("source-ref", line.get("source")), "labels": labels}
            if name != "PRE-BoundingBox":
                ti["manifestLine"] = line
            return ti, True
        if not pre or name == "PRE-PassThrough":
            return dict(line), True
        fn = self.lambdas.resolve(str(pre))
        reply = fn({"version": "2018-10-16", "labelingJobArn": arn, "dataObject": line}, None)
        if not isinstance(reply, Mapping) or "taskInput" not in reply:
            raise ValueError("the pre-annotation Lambda must return {'taskInput': ..., 'isHumanAnnotationRequired': ...}")
        required = reply.get("isHumanAnnotationRequired", reply.get("humanAnnotationRequired", True))
        if isinstance(required, str):
            required = required.strip().lower() != "false"
        return reply["taskInput"], bool(required)

    def _initialize(self, name: str) -> None:
        job, req = self._job(name)
        labels = self._labels(req)
        template_uri = str(req["HumanTaskConfig"]["UiConfig"]["UiTemplateS3Uri"])
        try:
            template = self.store.read_bytes(template_uri).decode("utf-8")
        except (GtlabelError, UnicodeDecodeError) as exc:
            raise JobFailure(f"ClientError: worker task template {template_uri} cannot be read: {exc}") from None
        manifest_uri = str(req["InputConfig"]["DataSource"]["S3DataSource"]["ManifestS3Uri"])
        lines = self._manifest(manifest_uri)
        kind = job_kind(req)
        refs = [str(x["source-ref"]) for x in lines if "source-ref" in x]
        with ThreadPoolExecutor(max_workers=8, thread_name_prefix="gtlabel-head") as pool:
            present = dict(zip(refs, pool.map(self._exists, refs), strict=True))
        now = self.backend.clock.now()
        rows = []
        first_error = ""
        for idx, line in enumerate(lines):
            failure = None
            task_input: Any = None
            required = True
            ref = line.get("source-ref")
            if ref is not None and not present.get(str(ref), False):
                failure = f"ClientError: the data object {ref} (input manifest line {idx + 1}) does not exist or cannot be read."
            else:
                try:
                    task_input, required = self._task_input(kind, req, line, labels, str(job["arn"]))
                except JobFailure:
                    raise
                except Exception as exc:
                    failure = f"ClientError: pre-annotation failed for data object {idx}: {type(exc).__name__}: {exc}"
            first_error = first_error or (failure or "")
            result = failed_line(line, req["LabelAttributeName"], failure, job_name=name, created=now,
                                 task_type=_task_type(kind)) if failure else None
            rows.append((name, idx, json.dumps(line), json.dumps(task_input) if task_input is not None else None,
                         int(required), "failed" if failure else "pending", json.dumps(result) if result else None,
                         failure, now if failure else None))
        if all(r[5] == "failed" for r in rows):
            raise JobFailure(f"ClientError: none of the {len(rows)} data objects can be labeled; first: {first_error}")
        with self.db.tx() as con:
            cur = con.execute("SELECT status FROM jobs WHERE name=?", (name,)).fetchone()
            con.execute("DELETE FROM objects WHERE job=?", (name,))
            con.executemany("INSERT INTO objects (job, idx, line, task_input, human_required, state, result, failure, "
                            "finished) VALUES (?,?,?,?,?,?,?,?,?)", rows)
            new_status = "InProgress" if cur["status"] == "Initializing" else cur["status"]
            con.execute("UPDATE jobs SET status=?, modified=?, labels=?, template=?, n_objects=? WHERE name=?",
                        (new_status, now, json.dumps(labels), template, len(rows), name))
        log.info("labeling job %s: %d data objects, %d failed at start", name, len(rows),
                 sum(1 for r in rows if r[5] == "failed"))

    def _exists(self, uri: str) -> bool:
        try:
            return self.store.exists(uri)
        except GtlabelError:
            return False

    # ------------------------------------------------------------------ InProgress
    def _advance(self, name: str) -> None:
        job, req = self._job(name)
        hc = req["HumanTaskConfig"]
        now = self.backend.clock.now()
        if now - float(job["created"]) > JOB_MAX_SECONDS:
            self._finish_objects(name, self._live_objects(name), now, stopping=True)
            uri = self._write_output(name, final=True)
            raise JobFailure("ClientError: the labeling job ran for more than 30 days and was stopped "
                             "(results so far are in the output manifest).", uri)
        n_workers = int(hc["NumberOfHumanWorkersPerDataObject"])
        limit = float(hc["TaskTimeLimitInSeconds"])
        lifetime = float(hc.get("TaskAvailabilityLifetimeInSeconds") or _default_lifetime(str(job["workteam_arn"])))
        with self.db.tx() as con:
            late = con.execute("SELECT id, job, idx FROM assignments WHERE job=? AND state='claimed' AND claimed < ?",
                               (name, now - limit)).fetchall()
            for a in late:
                con.execute("UPDATE assignments SET state='timedout' WHERE id=?", (a["id"],))
                con.execute("UPDATE objects SET n_taken=n_taken-1 WHERE job=? AND idx=?", (name, a["idx"]))
        # the objects to finish now, selected in SQL (a tick must not read every live row of a big batch)
        ready = self.db.query(
            "SELECT * FROM objects WHERE job=? AND (state='consolidating' OR (state='active' AND "
            "(n_submitted + n_declined >= ? OR human_required=0 OR released + ? <= ?))) ORDER BY idx",
            (name, n_workers, lifetime, now))
        if ready:
            self._finish_objects(name, ready, now, lifetime=lifetime)
        # manifests/intermediate/<iteration>/output.manifest, "written periodically while the job is in
        # progress": every INTERMEDIATE_EVERY_S (each write has every line of the job), and when a batch ends
        live = self.db.one("SELECT count(*) AS n FROM objects WHERE job=? AND state IN ('active','consolidating')",
                           (name,))
        batch_done = bool(live and live["n"] == 0)
        if ready:
            self._dirty[name] = True
        if self._dirty.get(name) and (
                batch_done or now - self._intermediate_at.get(name, float("-inf")) >= INTERMEDIATE_EVERY_S):
            self._write_output(name, final=False)
            self._intermediate_at[name] = now
            self._dirty[name] = False
        # release the next batch when the current one is finished
        if batch_done:
            # StoppingConditions count what was labeled, not what was sent out: an object that expired or that
            # every worker declined leaves room for another one
            sc = req.get("StoppingConditions") or {}
            done = self.db.one("SELECT coalesce(sum(state='done' AND human=1), 0) AS human, "
                               "coalesce(sum(state='done'), 0) AS labeled FROM objects WHERE job=?", (name,))
            rooms = [int(hc.get("MaxConcurrentTaskCount") or 1000)]
            if sc.get("MaxHumanLabeledObjectCount"):
                rooms.append(int(sc["MaxHumanLabeledObjectCount"]) - int(done["human"] if done else 0))
            if sc.get("MaxPercentageOfInputDatasetLabeled"):
                target = max(1, int(job["n_objects"]) * int(sc["MaxPercentageOfInputDatasetLabeled"]) // 100)
                rooms.append(target - int(done["labeled"] if done else 0))
            batch = min(rooms)
            pending = self.db.query("SELECT idx FROM objects WHERE job=? AND state='pending' ORDER BY idx LIMIT ?",
                                    (name, max(batch, 0)))
            if pending and batch > 0:
                iteration = int(job["iteration"]) + 1
                with self.db.tx() as con:
                    con.executemany("UPDATE objects SET state='active', iteration=?, released=? WHERE job=? AND idx=?",
                                    [(iteration, now, name, r["idx"]) for r in pending])
                    con.execute("UPDATE jobs SET iteration=?, modified=? WHERE name=?", (iteration, now, name))
                log.info("labeling job %s: iteration %d released %d objects", name, iteration, len(pending))
            else:
                left = self.db.one("SELECT count(*) AS n FROM objects WHERE job=? AND state='pending'", (name,))
                uri = self._write_output(name, final=True)
                if left and left["n"]:
                    self._set_status(name, "Stopped", None, uri)  # a StoppingCondition was reached
                else:
                    self._set_status(name, "Completed", None, uri)
                return

    def _live_objects(self, name: str) -> list[Any]:
        return self.db.query("SELECT * FROM objects WHERE job=? AND state IN ('active','consolidating') ORDER BY idx",
                             (name,))

    # ------------------------------------------------------------------ Stopping
    def _stop_job(self, name: str) -> None:
        now = self.backend.clock.now()
        live = self._live_objects(name)
        if live:
            self._finish_objects(name, live, now, stopping=True)
        job, _ = self._job(name)
        uri = self._write_output(name, final=True) if job["n_objects"] else None
        self._set_status(name, "Stopped", None, uri)

    # ------------------------------------------------------------------ consolidation
    def _finish_objects(self, name: str, objs: Sequence[Any], now: float, *, stopping: bool = False,
                        lifetime: float | None = None) -> None:
        job, req = self._job(name)
        attr = str(req["LabelAttributeName"])
        labels = json.loads(job["labels"] or "[]")
        kind = job_kind(req)
        n_workers = int(req["HumanTaskConfig"]["NumberOfHumanWorkersPerDataObject"])
        layout = OutputLayout(str(req["OutputConfig"]["S3OutputPath"]), name)
        idxs = [int(o["idx"]) for o in objs]
        # 1. no new claims or answers for these objects from here on (a crash after this re-runs consolidation)
        with self.db.tx() as con:
            for i in idxs:
                con.execute("UPDATE assignments SET state='cancelled' WHERE job=? AND idx=? AND state='claimed'",
                            (name, i))
                con.execute("UPDATE objects SET state='consolidating' WHERE job=? AND idx=?", (name, i))
        answers: dict[int, list[dict[str, Any]]] = {i: [] for i in idxs}
        subs = self.backend.state.workers.subs()
        marks = ",".join("?" * len(idxs))
        for a in self.db.query(f"SELECT * FROM assignments WHERE job=? AND state='submitted' AND idx IN ({marks}) "
                               "ORDER BY submitted, id", (name, *idxs)):
            answers[int(a["idx"])].append({"worker_id": a["worker_id"], "claimed": a["claimed"],
                                           "submitted": a["submitted"], "answer": json.loads(a["answer"]),
                                           "sub": subs.get(str(a["worker_id"]), ""), "issuer": self.issuer})
        by_obj = {int(o["idx"]): o for o in self.db.query(
            f"SELECT * FROM objects WHERE job=? AND idx IN ({marks})", (name, *idxs))}
        updates: list[tuple[Any, ...]] = []
        by_iter: dict[int, list[int]] = {}
        for i in idxs:
            o = by_obj[i]
            line = json.loads(o["line"])
            if answers[i] or not o["human_required"]:
                by_iter.setdefault(int(o["iteration"] or 1), []).append(i)
                continue
            if stopping:
                updates.append(("pending", None, None, None, 0, name, i))  # never labeled: stays Unlabeled
                continue
            if o["n_declined"] >= n_workers:
                reason = "ClientError: every worker declined the task; the data object is marked expired."
            else:
                reason = (f"ClientError: the data object was not labeled before the task availability lifetime "
                          f"({int(lifetime or 0)} s) expired.")
            updates.append(("failed", json.dumps(failed_line(line, attr, reason, job_name=name, created=now,
                                                             task_type=_task_type(kind))), reason, now, 0, name, i))
        for iteration, group in sorted(by_iter.items()):
            items = []
            wr_uris: dict[int, str] = {}
            wr_files: list[tuple[str, bytes, str]] = []
            for i in group:
                line = json.loads(by_obj[i]["line"])
                if answers[i]:
                    # named by the last answer's time, not the clock: consolidation re-run after a crash rewrites
                    # the same file instead of adding a second one with every answer again
                    last = max(float(a["submitted"]) for a in answers[i])
                    wr_uris[i] = layout.worker_response(iteration, i, file_timestamp(last))
                    wr_files.append((wr_uris[i], json_bytes(worker_response_doc(answers[i])), "application/json"))
                items.append(consolidation_request_item(i, line, answers[i]))
            self.store.write_many(wr_files)  # every worker response is stored before consolidation starts
            stamp = self._stamp(name, f"cons/{iteration}", now)
            request_uri = layout.consolidation_request(iteration, stamp)
            self.store.write_json(request_uri, items)
            results = self._consolidate(kind, req, job, group, by_obj, answers, labels, request_uri, wr_uris, now)
            response = []
            for i in group:
                line = json.loads(by_obj[i]["line"])
                res = results.get(i)
                if isinstance(res, str):  # a failure reason
                    updates.append(("failed", json.dumps(failed_line(line, attr, res, job_name=name, created=now,
                                                                     task_type=_task_type(kind))), res, now, 0, name, i))
                    continue
                assert res is not None
                label, meta = res
                response.append({"datasetObjectId": str(i),
                                 "consolidatedAnnotation": {"content": {attr: label, f"{attr}-metadata": meta}}})
                human = 1 if answers[i] else 0
                updates.append(("done", json.dumps(labeled_line(line, attr, label, meta)), None, now, human, name, i))
            self.store.write_json(layout.consolidation_response(iteration, stamp), response)
        with self.db.tx() as con:
            con.executemany("UPDATE objects SET state=?, result=?, failure=?, finished=?, human=? WHERE job=? AND idx=?",
                            updates)
            con.execute("UPDATE jobs SET modified=? WHERE name=?", (now, name))

    def _consolidate(self, kind: str, req: Mapping[str, Any], job: Any, group: Sequence[int], by_obj: Mapping[int, Any],
                     answers: Mapping[int, list[dict[str, Any]]], labels: list[str], request_uri: str,
                     wr_uris: Mapping[int, str], now: float) -> dict[int, tuple[Any, dict[str, Any]] | str]:
        name = str(job["name"])
        attr = str(req["LabelAttributeName"])
        out: dict[int, tuple[Any, dict[str, Any]] | str] = {}
        if kind in ("bbox", "adjust"):
            for i in group:
                line = json.loads(by_obj[i]["line"])
                elements = [el for a in answers[i] if (el := _bbox_element(a["answer"])) is not None]
                if not elements:
                    out[i] = "ClientError: no worker answer holds a crowd-bounding-box result (boundingBoxes)."
                    continue
                try:
                    label, objects, cmap = consolidate_boxes(elements, labels)
                except GtlabelError as exc:
                    out[i] = f"ClientError: annotation consolidation failed: {exc}"
                    continue
                status = adjustment_status(elements, line, attr) if kind == "adjust" else None
                out[i] = (label, bbox_metadata(objects, cmap, job_name=name, created=now, human=bool(answers[i]),
                                               adjustment_status=status))
            return out
        if kind == "verify":
            for i in group:
                try:
                    label, extra = consolidate_verification([a["answer"] for a in answers[i]], labels)
                except ValueError as exc:
                    out[i] = f"ClientError: annotation consolidation failed: {exc}"
                    continue
                out[i] = (label, {**extra, "type": VERIFICATION, "human-annotated": "yes",
                                  "creation-date": creation_date(now), "job-name": f"labeling-job/{name}"})
            return out
        acs = (req["HumanTaskConfig"].get("AnnotationConsolidationConfig") or {}).get("AnnotationConsolidationLambdaArn")
        custom_meta = {"job_name": f"labeling-job/{name}", "type": CUSTOM, "creation_date": creation_date(now)}
        if not acs or kind == "passthrough":
            for i in group:
                out[i] = ({}, {**custom_meta, "human-annotated": "yes" if answers[i] else "no",
                               "worker-response-ref": wr_uris.get(i, "")})
            return out
        fn = self.lambdas.resolve(str(acs))
        event = {"version": "2018-10-16", "labelingJobArn": str(job["arn"]), "labelCategories": labels,
                 "labelAttributeName": attr, "roleArn": req["RoleArn"], "payload": {"s3Uri": request_uri}}
        try:
            reply = fn(event, None)
            by_id = {str(r["datasetObjectId"]): r["consolidatedAnnotation"]["content"] for r in reply}
        except Exception as exc:
            for i in group:
                out[i] = f"ClientError: annotation consolidation Lambda {acs} failed: {type(exc).__name__}: {exc}"
            return out
        for i in group:
            content = by_id.get(str(i))
            if content is None or attr not in content:
                out[i] = f"ClientError: the consolidation Lambda returned no '{attr}' for data object {i}."
                continue
            meta = dict(content.get(f"{attr}-metadata") or {})
            meta.update({**custom_meta, "human-annotated": "yes" if answers[i] else "no"})
            out[i] = (content[attr], meta)
        return out

    # ------------------------------------------------------------------ output manifests
    def _write_output(self, name: str, *, final: bool) -> str:
        job, req = self._job(name)
        layout = OutputLayout(str(req["OutputConfig"]["S3OutputPath"]), name)
        lines = []
        for o in self.db.query("SELECT line, result, state FROM objects WHERE job=? ORDER BY idx", (name,)):
            lines.append(json.loads(o["result"]) if o["result"] and o["state"] in ("done", "failed")
                         else json.loads(o["line"]))
        uri = layout.output_manifest if final else layout.intermediate_manifest(max(1, int(job["iteration"])))
        self.store.write_lines(uri, lines)
        return uri


def _default_lifetime(workteam_arn: str) -> float:
    # MTurk default 6 h; private/vendor default 30 days (reference 1.1)
    return 21_600.0 if workteam_arn.endswith(":workteam/public-crowd/default") else 2_592_000.0


def _task_type(kind: str) -> str:
    return {"verify": VERIFICATION, "custom": CUSTOM, "passthrough": CUSTOM}.get(kind, "groundtruth/object-detection")

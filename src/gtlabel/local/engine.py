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

The moves are those of :data:`gtlabel.local.lifecycle.JOB` (data objects: ``OBJECT``, claims: ``ASSIGNMENT``);
the engine reads and writes them through the repositories of :mod:`gtlabel.local.state` only. A job's request
comes parsed (:class:`gtlabel.local.state.records.JobRequest`).

Time comes from a clock object (:class:`gtlabel.local.backend.ManualClock` in tests): nothing here sleeps.
Pre-annotation and consolidation use the built-in behaviour of the AWS ``PRE-*`` / ``ACS-*`` Lambdas for
bounding boxes (plain, adjustment, verification); any other Lambda ARN can be mapped to a local Python callable
(``"package.module:function"``), called with the documented event and expected to return the documented reply
(:mod:`gtlabel.local.lambdas`).

A failure while one object is consolidated (a bad answer, a Lambda's reply JSON cannot hold, any exception) fails
that object alone, with the reason in its output line; the job goes on and writes its output manifest. An answer
stored that the submit check (:func:`gtlabel.formats.answers.check_answer`) refuses is left out; the other
workers' answers for that object still count.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from gtlabel import facts
from gtlabel.aws import JobStatus, is_public_workteam
from gtlabel.errors import (
    GtlabelError,
    IllegalTransition,
    InputError,
    JobFailure,
    LabelError,
    ManifestError,
    NotFound,
)
from gtlabel.formats import strict_json
from gtlabel.formats.answers import AnswerLimits, bounding_box_element, check_answer
from gtlabel.formats.ground_truth import (
    CUSTOM,
    LABEL_VERIFICATION,
    OBJECT_DETECTION,
    SOURCE_REF,
    InputLine,
    LabelCategoryConfig,
    creation_date,
    custom_metadata,
    failed_metadata,
    labeling_job_name,
    metadata_key,
    output_line,
    output_metadata,
    verification_metadata,
)
from gtlabel.local.backend import Backend
from gtlabel.local.lambdas import (
    BOX_KINDS,
    LambdaRegistry,
    adjustment_status,
    consolidate_boxes,
    consolidate_verification,
    job_kind,
)
from gtlabel.local.lifecycle import ObjectState
from gtlabel.local.output import (
    OutputLayout,
    S3Store,
    consolidation_request_item,
    file_timestamp,
    json_bytes,
    worker_response_doc,
)
from gtlabel.local.scope import ReadScope
from gtlabel.local.state.records import Assignment, DataObject, Job, JobRequest, NewObject, ObjectOutcome
from gtlabel.manifests import check_line_limits

__all__ = ["Engine"]

log = logging.getLogger("gtlabel.local.engine")

INTERMEDIATE_EVERY_S = 10.0  # the intermediate output manifest is rewritten at most this often (and per batch)
MIN_TICK_GAP_S = 0.05  # the running engine starts a tick at most this often, however often it is woken
Result = tuple[Any, dict[str, Any]] | str  # (label, metadata) of a consolidated object, or its failure reason


class Engine:
    """Advances every live job. ``tick()`` is synchronous (tests); ``start()`` runs it on a thread."""

    def __init__(self, backend: Backend, store: S3Store, *, lambdas: LambdaRegistry | None = None,
                 issuer: str = "", interval: float | None = 0.5, answer_limits: AnswerLimits | None = None,
                 allowed_prefixes: Sequence[str] = ()) -> None:
        self.backend = backend
        self.allowed_prefixes = tuple(allowed_prefixes)
        self.answer_limits = answer_limits or AnswerLimits()
        self.state = backend.state
        self.jobs, self.tasks = backend.state.jobs, backend.state.tasks
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
        while not self._stop.is_set():
            began = time.monotonic()
            try:
                self.tick()
            except Exception:  # keep the service alive; the failing job is marked Failed in tick()
                log.exception("engine tick failed")
            self._wake.wait(self.interval)
            # every stored answer wakes the engine: at hundreds per second, the changes of MIN_TICK_GAP_S are
            # taken in one tick (one batch of files, one round of queries) instead of one tick each
            rest = began + min(MIN_TICK_GAP_S, self.interval) - time.monotonic()
            if rest > 0:
                self._stop.wait(rest)
            self._wake.clear()  # a change from before this line is seen by the tick that follows it

    def tick(self) -> None:
        """Advance every job that is not finished by one step (each may pass several states)."""
        with self._lock:
            for name, status in self.jobs.live():
                try:
                    if status is JobStatus.INITIALIZING:
                        self._initialize(name)
                    status = self.jobs.status(name) or status
                    if status is JobStatus.IN_PROGRESS:
                        self._advance(name)
                    elif status is JobStatus.STOPPING:
                        self._stop_job(name)
                except JobFailure as exc:
                    self._fail(name, str(exc), exc.output_uri)
                except Exception as exc:
                    log.exception("job %s failed in the engine", name)
                    self._fail(name, f"InternalServerError: {type(exc).__name__}: {exc}")

    # ------------------------------------------------------------------ helpers
    def fail_unfinished(self, reason: str) -> list[str]:
        """Fail every job that is not Completed/Failed/Stopped with ``reason`` (used at start-up when the state
        the jobs need is gone); returns their names."""
        names = [name for name, _ in self.jobs.live()]
        for name in names:
            self.tasks.cancel_claims(name)
            self._set_status(name, JobStatus.FAILED, reason)
        return names

    def _fail(self, name: str, reason: str, output_uri: str | None = None) -> None:
        try:
            self._set_status(name, JobStatus.FAILED, reason, output_uri)
        except IllegalTransition:  # it finished before the error (its status is final): keep that
            log.exception("labeling job %s: cannot record the failure %r", name, reason)

    def _set_status(self, name: str, status: JobStatus, reason: str | None = None,
                    output_uri: str | None = None) -> None:
        with self.state.tx():
            if status is JobStatus.COMPLETED and self.jobs.status(name) is JobStatus.STOPPING:
                status = JobStatus.STOPPED  # StopLabelingJob came in while the last objects were consolidated
            self.jobs.set_status(name, status, now=self.backend.clock.now(), reason=reason, output_uri=output_uri)
        log.info("labeling job %s -> %s%s", name, status, f" ({reason})" if reason else "")

    def _job(self, name: str) -> Job:
        job = self.jobs.get(name)
        assert job is not None
        return job

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
            return strict_json.loads(self.store.read_bytes(uri).removeprefix(b"\xef\xbb\xbf"))
        except NotFound:
            raise JobFailure(f"ClientError: {what} {uri} does not exist or cannot be read.") from None
        except GtlabelError as exc:
            raise JobFailure(f"ClientError: cannot read {what} {uri}: {exc}") from None
        except ValueError as exc:
            raise JobFailure(f"ClientError: {what} {uri} is not valid JSON: {exc}") from None

    def _labels(self, req: JobRequest) -> list[str]:
        uri = req.label_category_uri
        if not uri:
            return []
        doc = self._read_json(uri, "label category configuration file")
        try:
            return list(LabelCategoryConfig.parse(doc, file=uri).labels)
        except InputError as exc:
            raise JobFailure(f"ClientError: label category configuration file {exc}.") from None

    def _manifest(self, uri: str) -> list[dict[str, Any]]:
        try:
            raw = self.store.read_bytes(uri)
        except NotFound:
            raise JobFailure(f"ClientError: input manifest {uri} does not exist or cannot be read.") from None
        except GtlabelError as exc:
            raise JobFailure(f"ClientError: cannot read input manifest {uri}: {exc}") from None
        lines: list[dict[str, Any]] = []
        lim = facts.limits()
        text = raw.decode("utf-8", errors="replace").removeprefix("\ufeff")
        for n, line in enumerate(text.split("\n"), start=1):
            line = line.rstrip("\r")
            if not line.strip():
                continue
            try:  # the line's shape, then the documented per-line limits (the manifest builder's check)
                obj = InputLine.loads(line, file=uri, line=n, s3_only=True).data
                check_line_limits(line.encode("utf-8"), obj, file=uri, lineno=n,
                                  max_line_chars=lim.manifest_max_line_chars,
                                  max_attribute_chars=lim.manifest_max_attribute_chars)
            except ManifestError as exc:
                where = f", field {exc.field!r}" if exc.field else ""
                raise JobFailure(f"ClientError: input manifest {uri}, line {n}{where}: {exc.reason}.") from None
            lines.append(obj)
        if not lines:
            raise JobFailure(f"ClientError: input manifest {uri} has no data objects.")
        return lines

    def _initialize(self, name: str) -> None:
        job = self._job(name)
        req = job.request
        labels = self._labels(req)
        if req.template_uri is None:
            raise JobFailure("ClientError: HumanTaskConfig.UiConfig: the local service renders UiTemplateS3Uri "
                             "templates only.")
        try:
            template = self.store.read_bytes(req.template_uri).decode("utf-8")
        except (GtlabelError, UnicodeDecodeError) as exc:
            raise JobFailure(f"ClientError: worker task template {req.template_uri} cannot be read: {exc}") from None
        lines = self._manifest(req.manifest_uri)
        kind = job_kind(req)
        scope = ReadScope(self.allowed_prefixes)
        refs = [str(x[SOURCE_REF]) for x in lines if SOURCE_REF in x
                and (not self.allowed_prefixes or scope.allows(str(x[SOURCE_REF])))]
        with ThreadPoolExecutor(max_workers=8, thread_name_prefix="gtlabel-head") as pool:
            present = dict(zip(refs, pool.map(self._exists, refs), strict=True))
        now = self.backend.clock.now()
        objects = []
        first_error = ""
        for idx, line in enumerate(lines):
            failure = None
            task_input: str | None = None
            required = True
            ref = line.get(SOURCE_REF)
            if ref is not None and self.allowed_prefixes and not scope.allows(str(ref)):
                failure = (f"ClientError: the data object {ref} (input manifest line {idx + 1}) is outside the S3 "
                           f"locations this service may read ({', '.join(self.allowed_prefixes)}).")
            elif ref is not None and not present.get(str(ref), False):
                failure = f"ClientError: the data object {ref} (input manifest line {idx + 1}) does not exist or cannot be read."
            else:
                try:
                    value, required = self.lambdas.task_input(req, line, labels, job.arn)
                    task_input = json.dumps(value, allow_nan=False) if value is not None else None
                except JobFailure:
                    raise
                except Exception as exc:
                    failure = f"ClientError: pre-annotation failed for data object {idx}: {type(exc).__name__}: {exc}"
            first_error = first_error or (failure or "")
            result = _failed_line(line, req.label_attribute, failure, name, now, kind) if failure else None
            objects.append(NewObject(idx=idx, line=json.dumps(line, allow_nan=False), task_input=task_input,
                                     human_required=required, state=ObjectState.FAILED if failure else ObjectState.PENDING,
                                     result=json.dumps(result, allow_nan=False) if result else None, failure=failure,
                                     finished=now if failure else None))
        if all(o.state is ObjectState.FAILED for o in objects):
            raise JobFailure(f"ClientError: none of the {len(objects)} data objects can be labeled; first: {first_error}")
        with self.state.tx():
            self.tasks.replace_all(name, objects)
            self.jobs.initialized(name, now=now, labels=labels, template=template, n_objects=len(objects))
        log.info("labeling job %s: %d data objects, %d failed at start", name, len(objects),
                 sum(1 for o in objects if o.state is ObjectState.FAILED))

    def _exists(self, uri: str) -> bool:
        try:
            return self.store.exists(uri)
        except GtlabelError:
            return False

    # ------------------------------------------------------------------ InProgress
    def _advance(self, name: str) -> None:
        job = self._job(name)
        req = job.request
        now = self.backend.clock.now()
        lim = facts.limits()
        if now - job.created > lim.job_lifetime_seconds:  # "Labeling jobs fail after 30 days"
            self._finish_objects(name, self.tasks.live(name), now, stopping=True)
            uri = self._write_output(name, final=True)
            raise JobFailure(f"ClientError: the labeling job ran for more than {lim.job_lifetime_days} days and was "
                             "stopped (results so far are in the output manifest).", uri)
        lifetime = req.availability_lifetime or _default_lifetime(job.workteam_arn, lim)
        self.tasks.time_out_claims(name, claimed_before=now - req.task_time_limit)
        # the objects to finish now, selected in SQL (a tick must not read every live row of a big batch)
        ready = self.tasks.ready(name, workers=req.workers_per_object, lifetime=lifetime, now=now)
        if ready:
            self._finish_objects(name, ready, now, lifetime=lifetime)
        # manifests/intermediate/<iteration>/output.manifest, "written periodically while the job is in
        # progress": every INTERMEDIATE_EVERY_S (each write has every line of the job), and when a batch ends
        batch_done = self.tasks.count(name, (ObjectState.ACTIVE, ObjectState.CONSOLIDATING)) == 0
        if ready:
            self._dirty[name] = True
        if self._dirty.get(name) and (
                batch_done or now - self._intermediate_at.get(name, float("-inf")) >= INTERMEDIATE_EVERY_S):
            self._write_output(name, final=False)
            self._intermediate_at[name] = now
            self._dirty[name] = False
        if batch_done:  # release the next batch when the current one is finished
            self._release_batch(job, now)

    def _release_batch(self, job: Job, now: float) -> None:
        name, req = job.name, job.request
        # StoppingConditions count what was labeled, not what was sent out: an object that expired or that
        # every worker declined leaves room for another one
        counts = self.tasks.counts(name)
        human = counts[(ObjectState.DONE, True)]
        labeled = human + counts[(ObjectState.DONE, False)]
        rooms = [req.max_concurrent or facts.limits().max_concurrent_default]
        if req.max_human_labeled:
            rooms.append(req.max_human_labeled - human)
        if req.max_percent_labeled:
            rooms.append(max(1, job.n_objects * req.max_percent_labeled // 100) - labeled)
        batch = min(rooms)
        pending = self.tasks.pending_idxs(name, batch)
        if pending and batch > 0:
            iteration = job.iteration + 1
            with self.state.tx():
                self.tasks.release(name, pending, iteration=iteration, now=now)
                self.jobs.set_iteration(name, iteration, now=now)
            log.info("labeling job %s: iteration %d released %d objects", name, iteration, len(pending))
            return
        left = self.tasks.count(name, (ObjectState.PENDING,))
        uri = self._write_output(name, final=True)
        # objects left unreleased: a StoppingCondition was reached
        self._set_status(name, JobStatus.STOPPED if left else JobStatus.COMPLETED, None, uri)

    # ------------------------------------------------------------------ Stopping
    def _stop_job(self, name: str) -> None:
        now = self.backend.clock.now()
        live = self.tasks.live(name)
        if live:
            self._finish_objects(name, live, now, stopping=True)
        job = self._job(name)
        uri = self._write_output(name, final=True) if job.n_objects else None
        self._set_status(name, JobStatus.STOPPED, None, uri)

    # ------------------------------------------------------------------ consolidation
    def _finish_objects(self, name: str, objs: Sequence[DataObject], now: float, *, stopping: bool = False,
                        lifetime: float | None = None) -> None:
        job = self._job(name)
        req = job.request
        attr = req.label_attribute
        kind = job_kind(req)
        layout = OutputLayout(req.output_path, name)
        idxs = [o.idx for o in objs]
        # 1. no new claims or answers for these objects from here on (a crash after this re-runs consolidation)
        self.tasks.begin_consolidation(name, idxs)
        answers: dict[int, list[dict[str, Any]]] = {i: [] for i in idxs}
        # Cognito identity in worker responses: private workforces only (public/MTurk answers carry none)
        subs = self.state.workers.subs() if not is_public_workteam(job.workteam_arn) else None
        refused: dict[int, str] = {}  # objects with an answer the submit check would refuse (stored before it)
        for a in self.tasks.submitted(name, idxs):
            try:
                answer = _answer(a, subs, self.issuer)
                check_answer(answer["answer"], labels=job.labels, bounding_box=kind in BOX_KINDS,
                             limits=self.answer_limits)
            except (ValueError, LabelError) as exc:  # left out; the other workers' answers still count
                log.warning("labeling job %s: answer of %s for data object %d left out: %s", name, a.worker_id,
                            a.idx, exc)
                refused.setdefault(a.idx, f"ClientError: a worker answer was refused: {exc}")
                continue
            answers[a.idx].append(answer)
        by_obj = self.tasks.many(name, idxs)
        outcomes: list[ObjectOutcome] = []
        by_iter: dict[int, list[int]] = {}
        for i in idxs:
            o = by_obj[i]
            if answers[i] or not o.human_required:
                by_iter.setdefault(int(o.iteration or 1), []).append(i)
                continue
            if i in refused:
                outcomes.append(_failed(o, attr, refused[i], name, now, kind))
                continue
            if stopping:
                outcomes.append(ObjectOutcome(i, ObjectState.PENDING))  # never labeled: stays Unlabeled
                continue
            if o.n_declined >= req.workers_per_object:
                reason = "ClientError: every worker declined the task; the data object is marked expired."
            else:
                reason = (f"ClientError: the data object was not labeled before the task availability lifetime "
                          f"({int(lifetime or 0)} s) expired.")
            outcomes.append(_failed(o, attr, reason, name, now, kind))
        for iteration, whole in sorted(by_iter.items()):
            items = []
            wr_uris: dict[int, str] = {}
            wr_files: list[tuple[str, bytes, str]] = []
            broken: dict[int, Result] = {}  # objects whose answers cannot even be written (one object, not the job)
            for i in whole:
                line = json.loads(by_obj[i].line)
                try:
                    item = consolidation_request_item(i, line, answers[i])
                    if answers[i]:
                        # named by the last answer's time, not the clock: consolidation re-run after a crash
                        # rewrites the same file instead of adding a second one with every answer again
                        last = max(float(a["submitted"]) for a in answers[i])
                        uri = layout.worker_response(iteration, i, file_timestamp(last))
                        wr_files.append((uri, json_bytes(worker_response_doc(answers[i])), "application/json"))
                        wr_uris[i] = uri
                except Exception as exc:
                    broken[i] = f"ClientError: the worker answers cannot be stored: {type(exc).__name__}: {exc}"
                    continue
                items.append(item)
            group = [i for i in whole if i not in broken]
            self.store.write_many(wr_files)  # every worker response is stored before consolidation starts
            stamp = self._stamp(name, f"cons/{iteration}", now)
            request_uri = layout.consolidation_request(iteration, stamp)
            self.store.write_json(request_uri, items)
            results = dict(broken)
            results.update(self._consolidate(kind, job, group, by_obj, answers, request_uri, wr_uris, now))
            response = []
            for i in whole:
                res = results.get(i)
                if not isinstance(res, str):
                    assert res is not None
                    label, meta = res
                    try:  # a custom Lambda's reply may hold what JSON cannot (NaN): that object fails
                        done = json.dumps(output_line(json.loads(by_obj[i].line), attr, label, meta),
                                          allow_nan=False)
                    except (TypeError, ValueError) as exc:
                        res = f"ClientError: the consolidated label cannot be stored: {exc}"
                if isinstance(res, str):  # a failure reason
                    outcomes.append(_failed(by_obj[i], attr, res, name, now, kind))
                    continue
                response.append({"datasetObjectId": str(i),
                                 "consolidatedAnnotation": {"content": {attr: label, metadata_key(attr): meta}}})
                outcomes.append(ObjectOutcome(i, ObjectState.DONE, done, None, now, bool(answers[i])))
            self.store.write_json(layout.consolidation_response(iteration, stamp), response)
        with self.state.tx():
            self.tasks.finish(name, outcomes)
            self.jobs.touch(name, now=now)

    def _consolidate(self, kind: str, job: Job, group: Sequence[int], by_obj: Mapping[int, DataObject],
                     answers: Mapping[int, list[dict[str, Any]]], request_uri: str, wr_uris: Mapping[int, str],
                     now: float) -> dict[int, Result]:
        name, req, labels = job.name, job.request, job.labels
        attr = req.label_attribute
        out: dict[int, Result] = {}
        if kind in BOX_KINDS:
            for i in group:
                elements = [el for a in answers[i] if (el := bounding_box_element(a["answer"])) is not None]
                if not elements:
                    out[i] = "ClientError: no worker answer holds a crowd-bounding-box result (boundingBoxes)."
                    continue
                try:  # whatever goes wrong with one object's answers fails that object, never the job
                    label, objects, cmap = consolidate_boxes(elements, labels)
                    status = adjustment_status(elements, json.loads(by_obj[i].line), attr) if kind == "adjust" \
                        else None
                except Exception as exc:
                    out[i] = _consolidation_failure(name, i, exc)
                    continue
                out[i] = (label, output_metadata(objects, cmap, job_name=labeling_job_name(name),
                                                 created=creation_date(now), human_annotated=bool(answers[i]),
                                                 adjustment_status=status))
            return out
        if kind == "verify":
            for i in group:
                try:
                    label, extra = consolidate_verification([a["answer"] for a in answers[i]], labels)
                except Exception as exc:
                    out[i] = _consolidation_failure(name, i, exc)
                    continue
                out[i] = (label, verification_metadata(extra, job_name=labeling_job_name(name),
                                                       created=creation_date(now)))
            return out
        acs = req.acs_lambda
        if not acs or kind == "passthrough":
            for i in group:
                out[i] = ({}, custom_metadata(job_name=labeling_job_name(name), created=creation_date(now),
                                              human_annotated=bool(answers[i]), worker_response_ref=wr_uris.get(i, "")))
            return out
        self.lambdas.resolve(acs)  # JobFailure (the job fails) when it is not mapped or cannot be loaded
        try:
            by_id = self.lambdas.consolidate(req, job_arn=job.arn, labels=labels, request_uri=request_uri)
        except Exception as exc:
            for i in group:
                out[i] = f"ClientError: annotation consolidation Lambda {acs} failed: {type(exc).__name__}: {exc}"
            return out
        for i in group:
            content = by_id.get(str(i))
            if content is None or attr not in content:
                out[i] = f"ClientError: the consolidation Lambda returned no '{attr}' for data object {i}."
                continue
            meta = dict(content.get(metadata_key(attr)) or {})
            meta.update(custom_metadata(job_name=labeling_job_name(name), created=creation_date(now),
                                        human_annotated=bool(answers[i])))
            out[i] = (content[attr], meta)
        return out

    # ------------------------------------------------------------------ output manifests
    def _write_output(self, name: str, *, final: bool) -> str:
        job = self._job(name)
        layout = OutputLayout(job.request.output_path, name)
        lines = [json.loads(result) if result and state in (ObjectState.DONE, ObjectState.FAILED) else json.loads(line)
                 for line, result, state in self.tasks.output_rows(name)]
        uri = layout.output_manifest if final else layout.intermediate_manifest(max(1, job.iteration))
        self.store.write_lines(uri, lines)
        return uri


def _answer(a: Assignment, subs: Mapping[str, str] | None, issuer: str) -> dict[str, Any]:
    """One submitted answer as the output files need it (``subs`` None: a workforce without Cognito identities)."""
    out = {"worker_id": a.worker_id, "claimed": a.claimed, "submitted": a.submitted,
           "answer": json.loads(a.answer or "null")}
    if subs is not None:
        out.update(sub=subs.get(a.worker_id, ""), issuer=issuer)
    return out


def _failed(o: DataObject, attr: str, reason: str, job_name: str, now: float, kind: str) -> ObjectOutcome:
    line = _failed_line(json.loads(o.line), attr, reason, job_name, now, kind)
    return ObjectOutcome(o.idx, ObjectState.FAILED, json.dumps(line, allow_nan=False), reason, now, False)


def _consolidation_failure(job: str, idx: int, exc: Exception) -> str:
    """The failure reason of one object whose consolidation raised (logged with its traceback when the error is
    not one of ours: a bug or a resource limit, not a bad answer)."""
    if isinstance(exc, GtlabelError | ValueError):
        return f"ClientError: annotation consolidation failed: {exc}"
    log.error("labeling job %s: consolidation of data object %d failed", job, idx, exc_info=exc)
    return f"ClientError: annotation consolidation failed: {type(exc).__name__}: {exc}"


def _default_lifetime(workteam_arn: str, lim: facts.Limits) -> float:
    # MTurk default 6 h; private/vendor default 30 days, which is also their maximum (reference 1.1)
    return float(lim.availability_default_public if is_public_workteam(workteam_arn) else lim.availability_max_private)


def _failed_line(line: Mapping[str, Any], attr: str, reason: str, job_name: str, now: float, kind: str
                 ) -> dict[str, Any]:
    """The output line of an object that failed (``failure-reason`` in its metadata, no label)."""
    meta = failed_metadata(reason, job_name=labeling_job_name(job_name), created=creation_date(now),
                           label_type=_task_type(kind))
    return output_line(line, attr, None, meta)


def _task_type(kind: str) -> str:
    return {"verify": LABEL_VERIFICATION, "custom": CUSTOM, "passthrough": CUSTOM}.get(kind, OBJECT_DETECTION)

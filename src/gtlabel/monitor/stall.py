"""Stall detection: a job ``InProgress`` whose counters do not move gets a report of likely causes.

The causes come from reference/ground-truth.md section 9 (pitfalls 3, 13) and 1.4: nobody logged in to
the worker portal, tasks expired (availability lifetime; MTurk at most 12 h), no CORS on the image bucket
(Chrome 89+), a Lambda ARN from the wrong Region/account, and counters that can read 0 for days.
Every check is best effort: a check that cannot run says so instead of failing the watch.
"""

from __future__ import annotations

import ipaddress
import json
import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from gtlabel import facts, storage
from gtlabel.aws import Arn, JobStatus, error_code, is_not_found, is_public_workteam
from gtlabel.errors import StorageError
from gtlabel.monitor.clients import make_client
from gtlabel.monitor.model import Counters, Observation, StallCause, StallReport, human_duration
from gtlabel.monitor.notify import Notifications
from gtlabel.monitor.summary import WatchRecord

log = logging.getLogger("gtlabel.monitor")

Diagnose = Callable[[Mapping[str, Any], float, datetime], list[StallCause]]

_ORDER = {"likely": 0, "possible": 1, "info": 2, "ok": 3}


class StallDetector:
    """Tracks counter movement; returns one :class:`StallReport` per stall episode (reset on movement).

    An observer of the watch: each report goes into the record and to ``notifications`` (log, ``on_stall``,
    SNS).
    """

    def __init__(self, job_name: str, stall_after_seconds: float, diagnose: Diagnose, *,
                 notifications: Notifications | None = None) -> None:
        self.job_name = job_name
        self.stall_after = float(stall_after_seconds)
        self.diagnose = diagnose
        self.notifications = notifications or Notifications()
        self._last: tuple[str, Counters] | None = None
        self._since_t = 0.0
        self._since_at: datetime | None = None
        self._reported = False

    def observe(self, obs: Observation, record: WatchRecord) -> None:
        report = self.update(obs.describe, status=obs.status, counters=obs.counters, t=obs.t, at=obs.at)
        if report is not None:
            record.stalls.append(report)
            self.notifications.stalled(report)

    def update(self, describe: Mapping[str, Any], *, status: str, counters: Counters, t: float,
               at: datetime) -> StallReport | None:
        key = (status, counters)
        if self._last != key:
            self._last, self._since_t, self._since_at, self._reported = key, t, at, False
            return None
        if status != JobStatus.IN_PROGRESS or self._reported or self.stall_after <= 0:
            return None
        stalled_for = t - self._since_t
        if stalled_for < self.stall_after:
            return None
        self._reported = True
        try:
            causes = self.diagnose(describe, stalled_for, at)
        except Exception as exc:  # diagnosis is advice: never let it end the watch
            log.exception("stall diagnosis failed")
            causes = [StallCause("diagnosis-failed", "info", f"could not run the stall checks: {exc}")]
        causes = sorted(causes, key=lambda c: _ORDER.get(c.likelihood, 9))
        return StallReport(job_name=self.job_name, status=status, counters=counters,
                           stalled_for_seconds=stalled_for, since=self._since_at or at, t=t,
                           causes=tuple(causes))


class ClientDiagnosis:
    """:func:`diagnose_stall` with a watch's clients (a :data:`Diagnose`); the S3 client is made at the first
    stall when none is given."""

    def __init__(self, sm_client: Any, s3_client: Any = None, logs_client: Any = None) -> None:
        self.sm_client = sm_client
        self.s3_client = s3_client
        self.logs_client = logs_client

    def __call__(self, describe: Mapping[str, Any], stalled_for: float, now: datetime) -> list[StallCause]:
        if self.s3_client is None:
            self.s3_client = make_client("s3", retry_mode="standard", max_attempts=3)
        return diagnose_stall(describe, stalled_for, now, sm_client=self.sm_client, s3_client=self.s3_client,
                              logs_client=self.logs_client)


# --------------------------------------------------------------------------------------------- checks

def mturk_max_availability_seconds() -> int:
    """How long a public (MTurk) task stays available at most (``data/ground-truth-limits.json``)."""
    return facts.limits().availability_max_public


def job_lifetime_days() -> int:
    """How long a non-streaming job may run (``data/ground-truth-limits.json``)."""
    return facts.limits().job_lifetime_days


def diagnose_stall(
    describe: Mapping[str, Any],
    stalled_for: float,
    now: datetime,
    *,
    sm_client: Any = None,
    s3_client: Any = None,
    logs_client: Any = None,
) -> list[StallCause]:
    """All the checks below, each returning causes; clients are optional (a check without one is skipped).

    ``logs_client`` (CloudWatch Logs, AWS only) enables the worker-activity check.
    """
    causes: list[StallCause] = []
    causes += check_workforce(describe, stalled_for, sm_client)
    causes += check_worker_activity(describe, stalled_for, now, logs_client)
    causes += check_task_expiry(describe, now)
    causes += check_cors(describe, s3_client)
    causes += check_lambda_region(describe)
    causes += check_zero_counters(describe, now)
    return causes


def portal_url(sub_domain: str) -> str:
    """The portal URL for a ``Workteam.SubDomain``: https for Ground Truth's ``*.labeling.<region>.sagemaker.aws``,
    http for a local service on a loopback or IP address with a port (``gtlabel serve``)."""
    if sub_domain.startswith(("http://", "https://")):
        return sub_domain
    host = sub_domain.split("/", 1)[0]
    name = host.rsplit(":", 1)[0].strip("[]") if not host.startswith("[") else host[1:].split("]", 1)[0]
    try:
        ipaddress.ip_address(name)
        local = True
    except ValueError:
        local = name == "localhost"
    return f"{'http' if local else 'https'}://{sub_domain}"


def check_workforce(describe: Mapping[str, Any], stalled_for: float, sm_client: Any) -> list[StallCause]:
    htc = describe.get("HumanTaskConfig") or {}
    arn = str(htc.get("WorkteamArn") or "")
    waited = human_duration(stalled_for)
    if not arn:
        return [StallCause("no-workteam", "likely", "the job has no HumanTaskConfig.WorkteamArn")]
    if is_public_workteam(arn):
        return [StallCause(
            "mturk-pace", "possible",
            f"the public (Mechanical Turk) workforce picks tasks up at its own pace; nothing moved for {waited}. "
            "Ground Truth first sends a batch of 10 objects; a low PublicWorkforceTaskPrice attracts fewer workers.")]
    if "/vendor/" in arn or ":workteam/vendor" in arn:
        return [StallCause("vendor-pace", "possible",
                           f"a vendor workforce works at its own pace; nothing moved for {waited}; contact the vendor")]
    team = arn.rsplit("/", 1)[-1]
    portal = None
    members = None
    pending: int | None = None
    if sm_client is not None:
        try:
            wt = sm_client.describe_workteam(WorkteamName=team)["Workteam"]
            portal = wt.get("SubDomain")
            members = len(wt.get("MemberDefinitions") or [])
        except (ClientError, BotoCoreError) as exc:
            log.debug("describe_workteam(%s) failed: %s", team, exc)
        try:
            jobs = sm_client.list_labeling_jobs_for_workteam(WorkteamArn=arn, MaxResults=100)
            ref = describe.get("JobReferenceCode")
            for s in jobs.get("LabelingJobSummaryList") or ():
                if s.get("LabelingJobName") == describe.get("LabelingJobName") or (
                        ref and s.get("JobReferenceCode") == ref):
                    pending = int((s.get("LabelCounters") or {}).get("PendingHuman", 0) or 0)
                    break
        except (ClientError, BotoCoreError) as exc:
            log.debug("list_labeling_jobs_for_workteam failed: %s", exc)
    where = f"the worker portal {portal_url(str(portal))}" if portal else \
        "the team's worker portal (Workteam.SubDomain)"
    msg = f"nobody seems to be working: no answer for {waited}. Private workers must log in to {where}"
    if members is not None:
        msg += f"; team {team!r} has {members} member definition(s)"
    if pending:
        msg += f"; {pending} task(s) are waiting for a worker"
    return [StallCause("nobody-working", "likely", msg + ".")]


WORKER_ACTIVITY_LOG_GROUP = "/aws/sagemaker/groundtruth/WorkerActivity"  # reference/ground-truth.md 7.2


def check_worker_activity(describe: Mapping[str, Any], stalled_for: float, now: datetime, logs_client: Any,
                          *, max_events: int = 2000) -> list[StallCause]:
    """Worker events (accepted/submitted/returned/declined) for this job in the stall window, from the
    ``WorkerActivity`` log group (private workforces). None at all: nobody has even opened a task."""
    if logs_client is None:
        return []
    arn = str(describe.get("LabelingJobArn") or "")
    start_ms = int((now.timestamp() - stalled_for) * 1000)
    kinds: dict[str, int] = {}
    seen = 0
    try:
        pages = logs_client.get_paginator("filter_log_events").paginate(
            logGroupName=WORKER_ACTIVITY_LOG_GROUP, startTime=start_ms, endTime=int(now.timestamp() * 1000))
        for page in pages:
            for ev in page.get("events") or ():
                seen += 1
                try:
                    rec = json.loads(ev.get("message") or "{}")
                except ValueError:
                    continue
                if rec.get("labeling_job_arn") == arn:
                    kind = str(rec.get("event_type") or "event")
                    kinds[kind] = kinds.get(kind, 0) + 1
            if seen >= max_events:
                break
    except ClientError as exc:
        if is_not_found(exc):
            return [StallCause("no-worker-activity", "possible",
                               f"log group {WORKER_ACTIVITY_LOG_GROUP} does not exist: no private worker has "
                               "worked in this Region yet (or the team predates Aug 2019 and lacks logging)")]
        return [StallCause("worker-activity-unchecked", "info", f"could not read {WORKER_ACTIVITY_LOG_GROUP}: {exc}")]
    except BotoCoreError as exc:
        return [StallCause("worker-activity-unchecked", "info", f"could not read {WORKER_ACTIVITY_LOG_GROUP}: {exc}")]
    window = human_duration(stalled_for)
    if not kinds:
        return [StallCause("no-worker-activity", "likely",
                           f"no worker accepted, submitted, returned or declined a task of this job in the last "
                           f"{window} ({WORKER_ACTIVITY_LOG_GROUP}): nobody is logged in and working")]
    summary = ", ".join(f"{n} {k}" for k, n in sorted(kinds.items()))
    return [StallCause("worker-activity", "info",
                       f"workers did touch this job in the last {window} ({summary}) yet no object finished: "
                       "tasks may be returned/declined or fail to load (see CORS)")]


def _creation(describe: Mapping[str, Any]) -> datetime | None:
    ct = describe.get("CreationTime")
    if isinstance(ct, datetime):
        return ct if ct.tzinfo else ct.replace(tzinfo=UTC)
    return None


def check_task_expiry(describe: Mapping[str, Any], now: datetime) -> list[StallCause]:
    htc = describe.get("HumanTaskConfig") or {}
    lifetime = htc.get("TaskAvailabilityLifetimeInSeconds")
    created = _creation(describe)
    public = is_public_workteam(str(htc.get("WorkteamArn") or ""))
    out: list[StallCause] = []
    if lifetime is None and public:
        lifetime = mturk_max_availability_seconds()
    if lifetime is not None and created is not None:
        age = (now - created).total_seconds()
        if age > float(lifetime):
            out.append(StallCause(
                "tasks-expired", "likely",
                f"the job is {human_duration(age)} old, past its task availability lifetime "
                f"(TaskAvailabilityLifetimeInSeconds={int(lifetime)}): tasks nobody picked up have expired"
                + (" (MTurk tasks are available for at most 12 h)" if public else "")))
        else:
            out.append(StallCause(
                "tasks-expire", "info",
                f"tasks stay available for {human_duration(float(lifetime))} "
                f"(TaskAvailabilityLifetimeInSeconds={int(lifetime)}), i.e. until "
                f"{datetime.fromtimestamp(created.timestamp() + float(lifetime), UTC).isoformat(timespec='minutes')}"))
    days = job_lifetime_days()
    if created is not None and (now - created).days >= days - 2:
        out.append(StallCause("job-lifetime", "possible",
                              f"non-streaming jobs end after {days} days; this one is "
                              f"{(now - created).days} days old"))
    return out


def _s3_location(uri: str) -> storage.S3Uri | None:
    try:
        return storage.parse_s3(uri)
    except StorageError:  # not an s3:// URI
        return None


def _image_buckets(describe: Mapping[str, Any], s3_client: Any) -> list[str]:
    """The bucket of the first ``source-ref`` of the input manifest (images), then the manifest's bucket."""
    ds = ((describe.get("InputConfig") or {}).get("DataSource") or {}).get("S3DataSource") or {}
    manifest = str(ds.get("ManifestS3Uri") or "")
    loc = _s3_location(manifest)
    buckets: list[str] = []
    if loc is None:
        return buckets
    try:
        # the watch's own client (its Region and credentials), not storage's process-wide target
        body = s3_client.get_object(Bucket=loc.bucket, Key=loc.key, Range="bytes=0-65535")["Body"].read()
        first = body.split(b"\n", 1)[0]
        ref = json.loads(first).get("source-ref", "")
        img = _s3_location(str(ref))
        if img:
            buckets.append(img.bucket)
    except Exception as exc:  # best effort: unreadable manifest -> fall back to its bucket
        log.debug("could not read the first manifest line of %s: %s", manifest, exc)
    if loc.bucket not in buckets:
        buckets.append(loc.bucket)
    return buckets


def check_cors(describe: Mapping[str, Any], s3_client: Any) -> list[StallCause]:
    if s3_client is None:
        return []
    buckets = _image_buckets(describe, s3_client)
    if not buckets:
        return []
    bucket = buckets[0]
    try:
        rules = s3_client.get_bucket_cors(Bucket=bucket).get("CORSRules") or []
    except ClientError as exc:
        if error_code(exc) == "NoSuchCORSConfiguration":
            return [StallCause(
                "no-cors", "likely",
                f"the image bucket {bucket!r} has no CORS configuration: since Chrome 89 labeling tasks cannot "
                "load the images. Add a rule with AllowedMethods [GET], AllowedOrigins ['*'] and ExposeHeaders "
                "['Access-Control-Allow-Origin'] (the console does this; API users must do it themselves).")]
        return [StallCause("cors-unchecked", "info", f"could not read the CORS of bucket {bucket!r}: {exc}")]
    except BotoCoreError as exc:
        return [StallCause("cors-unchecked", "info", f"could not read the CORS of bucket {bucket!r}: {exc}")]
    for rule in rules:
        if "GET" in (rule.get("AllowedMethods") or []) and "*" in (rule.get("AllowedOrigins") or []):
            return [StallCause("cors-ok", "ok", f"bucket {bucket!r} allows GET from any origin (CORS)")]
    return [StallCause("cors-incomplete", "possible",
                       f"bucket {bucket!r} has CORS rules but none allows GET from origin '*' as Ground Truth "
                       "needs; tasks may fail to load images")]


def _lambda_arns(describe: Mapping[str, Any]) -> list[tuple[str, str]]:
    htc = describe.get("HumanTaskConfig") or {}
    out = []
    if htc.get("PreHumanTaskLambdaArn"):
        out.append(("PreHumanTaskLambdaArn", str(htc["PreHumanTaskLambdaArn"])))
    acs = (htc.get("AnnotationConsolidationConfig") or {}).get("AnnotationConsolidationLambdaArn")
    if acs:
        out.append(("AnnotationConsolidationConfig.AnnotationConsolidationLambdaArn", str(acs)))
    return out


def _builtin_account(region: str) -> str | None:
    """The AWS account that owns the built-in PRE/ACS Lambdas in ``region`` (data/ground-truth-regions.json)."""
    return facts.regions().lambda_accounts.get(region)  # an unknown region: no account check


def check_lambda_region(describe: Mapping[str, Any]) -> list[StallCause]:
    job = Arn.parse(str(describe.get("LabelingJobArn") or ""))
    if job is None:
        return []
    out: list[StallCause] = []
    for field, arn_s in _lambda_arns(describe):
        arn = Arn.parse(arn_s)
        if arn is None:
            continue
        if arn.region != job.region:
            out.append(StallCause("lambda-region", "likely",
                                  f"{field} is in region {arn.region} but the job runs in {job.region}: "
                                  f"{arn_s}. Each Region has its own Lambda ARNs"))
            continue
        name = arn.resource_name
        if name.startswith(("PRE-", "ACS-")):
            expected = _builtin_account(job.region)
            if expected and arn.account != expected:
                out.append(StallCause("lambda-account", "likely",
                                      f"{field} uses account {arn.account}, but the built-in Lambdas of "
                                      f"{job.region} belong to account {expected}: {arn_s}"))
    return out


def check_zero_counters(describe: Mapping[str, Any], now: datetime) -> list[StallCause]:
    c = Counters.from_api(describe.get("LabelCounters"))
    if c.total_labeled or c.failed:
        return []
    return [StallCause("zero-counters", "info",
                       "all counters read 0: Ground Truth counters can stay at 0 for days while a job waits for "
                       "workers (aws/amazon-sagemaker-examples#1945); check the worker portal and the "
                       "/aws/sagemaker/groundtruth/WorkerActivity logs")]

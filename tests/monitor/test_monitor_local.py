"""watch_labeling_job against the local Ground Truth service (real boto3 over HTTP, real engine, moto S3)."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from gtlabel.monitor import StallReport, list_labeling_jobs, watch_labeling_job

pytestmark = pytest.mark.slow


@dataclass
class Env:
    svc: Any
    sm: Any
    s3: Any
    bucket: str
    clock: Any  # ManualClock of the service


@pytest.fixture()
def env(moto_server: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Env]:
    """A service on a manual clock, its S3 the session's moto server (not an embedded S3 process of its own)."""
    from gtlabel import storage
    from gtlabel.local import LocalService, ManualClock

    clock = ManualClock()
    with LocalService(data_dir=tmp_path / "svc", s3_endpoint=moto_server, access_key="testing",
                      secret_key="testing", clock=clock, engine_interval=None) as svc:
        for k, v in svc.env().items():
            monkeypatch.setenv(k, v)
        storage.reset_clients()
        s3 = svc.client("s3")
        bucket = "gt-images-" + uuid.uuid4().hex[:8]
        s3.create_bucket(Bucket=bucket)
        yield Env(svc, svc.client("sagemaker"), s3, bucket, clock)
    storage.reset_clients()


def _create_job(e: Env, n_images: int, *, name: str, workers: int = 1, budget: str | None = None,
                availability: int | None = None, tick: bool = True) -> str:
    from gtlabel.jobs import JobSpec, prepare_job
    from gtlabel.synth import make_image

    lines = []
    for i in range(n_images):
        img = make_image(i, width=160, height=120, exif_every=10_000)
        key = f"images/{name}/{i:03d}.jpg"
        e.s3.put_object(Bucket=e.bucket, Key=key, Body=img.jpeg)
        lines.append(json.dumps({"source-ref": f"s3://{e.bucket}/{key}"}))
    e.s3.put_object(Bucket=e.bucket, Key=f"manifests/{name}.manifest", Body="\n".join(lines).encode())
    spec: dict[str, Any] = {
        "name": name, "input_manifest": f"s3://{e.bucket}/manifests/{name}.manifest",
        "output_path": f"s3://{e.bucket}/output", "labels": ["drone", "vehicle", "person", "building"],
        "role_arn": e.svc.role_arn, "region": e.svc.region, "workers_per_object": workers,
    }
    if budget:
        spec["max_budget_usd"] = budget
    if availability:
        spec["task_availability_lifetime_s"] = availability
    built = prepare_job(JobSpec.from_dict(spec), sm_client=e.sm)
    e.sm.create_labeling_job(**built.request)
    if tick:
        e.svc.engine.tick()
    return name


class _Time:
    """The watch's clock and sleep, moving the service's ManualClock and ticking its engine in step."""

    def __init__(self, e: Env) -> None:
        self.e, self.t = e, 0.0

    def __call__(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.t += seconds
        self.e.clock.advance(seconds)
        self.e.svc.engine.tick()


def test_stalled_job_on_local_service_reports_causes(env: Env) -> None:
    """Nobody works on the job: counters stay 0; the watch reports a stall with the real causes, then the
    callback stops the job (as a user would) and the watch ends on Stopped."""
    name = _create_job(env, 3, name="stall-" + uuid.uuid4().hex[:6])
    assert env.sm.describe_labeling_job(LabelingJobName=name)["LabelingJobStatus"] == "InProgress"
    reports: list[StallReport] = []

    def stop_on_stall(r: StallReport) -> None:
        reports.append(r)
        env.sm.stop_labeling_job(LabelingJobName=name)

    t = _Time(env)
    s = watch_labeling_job(name, sm_client=env.sm, s3_client=env.s3, progress=False, poll_seconds=600,
                           max_poll_seconds=600, stall_after_seconds=3600, on_stall=stop_on_stall,
                           clock=t, sleep=t.sleep)
    assert s.final_status == "Stopped" and not s.stopped_by_us
    assert len(s.stalls) == 1 and reports == s.stalls
    r = s.stalls[0]
    assert r.stalled_for_seconds == 3600 and r.counters.total_labeled == 0 and r.counters.unlabeled == 3
    by_code = {c.code: c for c in r.causes}
    assert by_code["nobody-working"].likelihood == "likely"
    portal = env.svc.portal_url.split("://", 1)[-1].rstrip("/")
    # the team's SubDomain, i.e. the local portal, as a URL a worker can open (plain http on loopback)
    assert f"http://{portal}" in by_code["nobody-working"].message
    assert "3 task(s) are waiting" in by_code["nobody-working"].message
    assert by_code["no-cors"].likelihood == "likely" and env.bucket in by_code["no-cors"].message
    assert "zero-counters" in by_code
    assert "lambda-region" not in by_code  # the builder used the region's own Lambda ARNs


def test_job_list_on_local_service_with_cost(env: Env) -> None:
    names = [_create_job(env, 2, name=f"list-{i}-" + uuid.uuid4().hex[:4], budget="5") for i in range(3)]
    rows = list_labeling_jobs(sm_client=env.sm, name_contains="list-")
    assert sorted(r.name for r in rows) == sorted(names)
    assert all(r.status == "InProgress" and r.counters.total == 2 for r in rows)
    assert all(r.cost_usd == 0.0 and r.budget_usd == 5.0 for r in rows)


def _simulate(portal_url: str, name: str, **kw: Any) -> Any:
    from gtlabel.local import workforce

    return workforce.simulate(portal_url, name, **kw)


def test_whole_job_watched_to_completion_with_simulated_workers(local_service: Any, moto_server: str) -> None:
    """Real time, the service's own engine thread, two simulated workers labeling while the watch polls."""
    import io

    from rich.console import Console

    from gtlabel.monitor.progress import RichView

    svc = local_service
    e = Env(svc, svc.client("sagemaker"), svc.client("s3"), "gt-images-" + uuid.uuid4().hex[:8], None)
    e.s3.create_bucket(Bucket=e.bucket)
    name = _create_job(e, 8, name="done-" + uuid.uuid4().hex[:6], workers=2, budget="10", tick=False)
    team = svc.default_team
    svc.add_worker(team, "ann", "pw-ann-123456")
    svc.add_worker(team, "bob", "pw-bob-123456")
    result: dict[str, Any] = {}

    def work() -> None:
        result["sim"] = _simulate(svc.portal_url, name, workers=[("ann", "pw-ann-123456"), ("bob", "pw-bob-123456")],
                                  idle_timeout_s=20, timeout_s=60)

    worker = threading.Thread(target=work, daemon=True)
    worker.start()
    buf = io.StringIO()
    s = watch_labeling_job(name, sm_client=e.sm, s3_client=e.s3, poll_seconds=0.1, max_poll_seconds=0.5,
                           max_wait_seconds=120, progress=RichView(Console(file=buf, width=200, color_system=None)))
    worker.join(30)
    assert s.final_status == "Completed", s.failure_reason
    assert s.counters.total_labeled == 8 and s.counters.human_labeled == 8 and s.counters.unlabeled == 0
    assert result["sim"].submitted == 16  # 8 objects x 2 workers
    labeled = [x.counters.total_labeled for x in s.timeline]
    assert labeled == sorted(labeled) and labeled[0] < 8  # seen while it ran, monotonic
    assert [x.t for x in s.timeline] == sorted(x.t for x in s.timeline)
    # private workforce: only the Ground Truth fee per labeled object (data/ground-truth-prices.json: $0.08)
    assert s.cost is not None and s.cost.total_usd == pytest.approx(0.64)
    assert s.budget_usd == 10.0 and s.alerts == [] and not s.stopped_by_us
    assert s.output_manifest and s.output_manifest.startswith(f"s3://{e.bucket}/output/{name}/")
    out = e.s3.get_object(Bucket=e.bucket, Key=s.output_manifest.split("/", 3)[3])["Body"].read().decode()
    assert len(out.splitlines()) == 8
    assert "8/8" in buf.getvalue() and "Completed" in buf.getvalue()


def test_over_budget_job_is_stopped_automatically(env: Env) -> None:
    """Workers label 5 of 10 objects ($0.40 at $0.08); watching with a $0.30 budget and auto_stop stops the job."""
    name = _create_job(env, 10, name="budget-" + uuid.uuid4().hex[:6])
    env.svc.add_worker(env.svc.default_team, "cat", "pw-cat-123456")
    sim = _simulate(env.svc.portal_url, name, workers=[("cat", "pw-cat-123456")], max_tasks=5, timeout_s=30)
    assert sim.submitted == 5
    env.svc.engine.tick()
    got: list[Any] = []
    t = _Time(env)
    s = watch_labeling_job(name, sm_client=env.sm, s3_client=env.s3, progress=False, budget_usd=0.30,
                           auto_stop=True, on_alert=got.append, poll_seconds=10, max_poll_seconds=10,
                           clock=t, sleep=t.sleep)
    assert s.stopped_by_us and s.final_status == "Stopped"
    assert s.stop_reason and "$0.40 reached 100% of the $0.30 budget" in s.stop_reason
    assert [a.threshold for a in got] == [0.5, 0.8, 1.0]
    # the service saw StopLabelingJob: Stopping -> Stopped, the 5 answers kept, nothing more handed out
    d = env.sm.describe_labeling_job(LabelingJobName=name)
    assert d["LabelingJobStatus"] == "Stopped" and d["LabelCounters"]["TotalLabeled"] == 5
    assert [x.status for x in s.timeline][:1] == ["InProgress"]
    after = _simulate(env.svc.portal_url, name, workers=[("cat", "pw-cat-123456")], idle_timeout_s=1, timeout_s=10)
    assert after.submitted == 0


def test_cli_watch_and_list_on_local_service(local_service: Any) -> None:
    """`gtlabel job watch` / `gtlabel job list` in-process, with boto3 pointed at the service by env vars only."""
    from typer.testing import CliRunner

    from gtlabel.cli import app

    svc = local_service
    e = Env(svc, svc.client("sagemaker"), svc.client("s3"), "gt-images-" + uuid.uuid4().hex[:8], None)
    e.s3.create_bucket(Bucket=e.bucket)
    name = _create_job(e, 4, name="cli-" + uuid.uuid4().hex[:6], budget="1", tick=False)
    idle = _create_job(e, 2, name="cli-idle-" + uuid.uuid4().hex[:6], tick=False)
    svc.add_worker(svc.default_team, "dan", "pw-dan-123456")
    worker = threading.Thread(target=_simulate, args=(svc.portal_url, name),
                              kwargs={"workers": [("dan", "pw-dan-123456")], "idle_timeout_s": 20}, daemon=True)
    worker.start()
    runner = CliRunner()
    res = runner.invoke(app, ["job", "watch", name, "--poll", "0.1", "--max-poll", "0.3", "--max-wait", "120",
                              "--no-progress", "--json"])
    worker.join(30)
    assert res.exit_code == 0, res.output
    d = json.loads(res.stdout)
    assert d["final_status"] == "Completed" and d["counters"]["total_labeled"] == 4
    assert d["budget_usd"] == 1.0 and d["cost"]["total_usd"] == pytest.approx(0.32)

    res = runner.invoke(app, ["job", "list", "--name-contains", "cli-", "--json"])
    assert res.exit_code == 0, res.output
    rows = {r["name"]: r for r in json.loads(res.stdout)}
    assert rows[name]["status"] == "Completed" and rows[name]["progress"] == 1.0
    assert rows[name]["cost_usd"] == pytest.approx(0.32) and rows[name]["budget_usd"] == 1.0
    assert rows[idle]["status"] == "InProgress" and rows[idle]["labeled"] == 0 and rows[idle]["total"] == 2

    res = runner.invoke(app, ["job", "list", "--status", "Completed", "--name-contains", "cli-"],
                        env={"COLUMNS": "200"})
    assert res.exit_code == 0 and name in res.output and idle not in res.output and "$0.32 / $1.00" in res.output

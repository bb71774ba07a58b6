"""Crash test: `gtlabel serve` as a subprocess, a burst of concurrent submissions, kill -9 mid-burst, restart on
the same data dir, count: every answer that got a 200 is in the database, nothing is duplicated, the job resumes
and completes with every answer in its worker-response files."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests
from botocore.config import Config
from localsvc_helpers import Worker, job_request, put_inputs

from gtlabel.local.lifecycle import ObjectState
from gtlabel.local.state import Database, State

N_WORKERS = 16
N_IMAGES = 120
PER_OBJECT = 3
KILL_AFTER = 150  # acknowledged submissions before the kill


def _start(data_dir: Path, s3: str, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    """``gtlabel serve`` on a port the system picks (--port 0: none chosen here and raced for), and its URL."""
    exe = Path(sys.executable).with_name("gtlabel")
    args = [str(exe), "serve", "--data-dir", str(data_dir), "--port", "0", "--s3-endpoint", s3,
            "--access-key", "testing", "--secret-key", "testing"]
    for i in range(N_WORKERS):
        args += ["--worker", f"crash{i}:pw-crash-{i}"]
    env = {**os.environ, "AWS_ENDPOINT_URL_S3": s3}
    (data_dir / "endpoints.json").unlink(missing_ok=True)  # a killed service leaves its own behind
    proc = subprocess.Popen(args, stdout=log.open("ab"), stderr=subprocess.STDOUT, env=env)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if (data_dir / "endpoints.json").exists():  # written (atomically) once the workers exist
            return proc, json.loads((data_dir / "endpoints.json").read_text())["env"]["AWS_ENDPOINT_URL_SAGEMAKER"]
        if proc.poll() is not None:
            raise AssertionError(f"gtlabel serve exited: {log.read_text()}")
        time.sleep(0.1)
    proc.kill()
    raise AssertionError(f"gtlabel serve did not start: {log.read_text()}")


def _sagemaker(base: str) -> Any:
    return boto3.client("sagemaker", endpoint_url=base, region_name="us-east-1", aws_access_key_id="testing",
                        aws_secret_access_key="testing", config=Config(retries={"max_attempts": 1}))


def _db_rows(data_dir: Path) -> list[tuple[str, str, int, str]]:
    """``(id, job, idx, worker_id)`` of every submitted answer in the service's state (read through its
    repositories)."""
    db = Database(data_dir / "gtlabel.sqlite3")
    try:
        state, rows = State(db), []
        for job in state.jobs.all():
            idxs = [o.idx for o in state.tasks.in_states(job.name, set(ObjectState))]
            rows += [(a.id, a.job, a.idx, a.worker_id) for a in state.tasks.submitted(job.name, idxs)]
        return rows
    finally:
        db.close()


@pytest.mark.slow
def test_kill_9_mid_burst_loses_nothing(moto_server: str, s3: Any, bucket: str, tmp_path: Path) -> None:
    data_dir, log = tmp_path / "data", tmp_path / "serve.log"
    uris = put_inputs(s3, bucket, N_IMAGES)
    proc, base = _start(data_dir, moto_server, log)
    try:
        sm = _sagemaker(base)
        team = sm.describe_workteam(WorkteamName="default")["Workteam"]["WorkteamArn"]
        sm.create_labeling_job(**job_request("crash-job", uris, team, workers=PER_OBJECT))
        deadline = time.monotonic() + 60
        while sm.describe_labeling_job(LabelingJobName="crash-job")["LabelingJobStatus"] != "InProgress":
            assert time.monotonic() < deadline
            time.sleep(0.2)

        acked: list[str] = []
        in_flight: dict[int, tuple[str, dict[str, Any]]] = {}
        lock = threading.Lock()
        killed = threading.Event()
        errors: list[BaseException] = []

        def work(i: int) -> None:
            try:
                _work(i)
            except BaseException as exc:
                if not killed.is_set():
                    errors.append(exc)

        def _work(i: int) -> None:
            w = Worker(base, f"crash{i}", f"pw-crash-{i}")
            assert w.login_status == 303
            while not killed.is_set():
                try:
                    t = w.next_task("crash-job")
                    if not t["task_id"]:
                        return
                    answer = {"boundingBox": {"boundingBoxes": [{"label": "drone", "left": i, "top": 1, "width": 5,
                                                                 "height": 5}],
                                              "inputImageProperties": {"width": 64, "height": 48}}}
                    in_flight[i] = (t["task_id"], answer)
                    r = w.post(t["submit_url"], answer)
                except requests.RequestException:  # connection refused/reset or a reply cut by the kill
                    return
                if r.status_code == 200:
                    with lock:
                        acked.append(t["task_id"])
                        n = len(acked)
                    in_flight.pop(i, None)
                    if n >= KILL_AFTER and not killed.is_set():
                        killed.set()
                        os.kill(proc.pid, signal.SIGKILL)  # mid-burst: the other threads are still posting
                        return

        threads = [threading.Thread(target=work, args=(i,)) for i in range(N_WORKERS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        assert not errors, errors
        assert killed.is_set(), "the burst ended before the kill"
        proc.wait(timeout=30)
        assert proc.returncode == -signal.SIGKILL

        # every acknowledged answer is in the database; no (object, worker) pair answered twice
        rows = _db_rows(data_dir)
        stored = {r[0] for r in rows}
        assert set(acked) <= stored, f"lost {len(set(acked) - stored)} accepted answers"
        pairs = [(r[1], r[2], r[3]) for r in rows]
        assert len(pairs) == len(set(pairs))
        assert len(acked) >= KILL_AFTER

        # restart on the same data dir (on another free port): the job resumes; interrupted submits are retried
        # (idempotent)
        proc, base = _start(data_dir, moto_server, tmp_path / "serve-2.log")
        sm = _sagemaker(base)
        for i, (tid, answer) in list(in_flight.items()):
            w = Worker(base, f"crash{i}", f"pw-crash-{i}")
            r = w.post(f"/tasks/{tid}/submit", answer)
            assert r.status_code in (200, 409), r.text
            if r.status_code == 200:
                again = w.post(f"/tasks/{tid}/submit", answer)
                assert again.status_code == 200 and again.json()["duplicate"] is True

        def finish(i: int) -> None:
            w = Worker(base, f"crash{i}", f"pw-crash-{i}")
            while True:
                t = w.next_task("crash-job")
                if not t["task_id"]:
                    return
                assert w.submit(t, [{"label": "vehicle", "left": 2, "top": 2, "width": 4, "height": 4}]).status_code == 200

        threads = [threading.Thread(target=finish, args=(i,)) for i in range(N_WORKERS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=180)
        deadline = time.monotonic() + 60
        while (d := sm.describe_labeling_job(LabelingJobName="crash-job"))["LabelingJobStatus"] != "Completed":
            assert time.monotonic() < deadline, d
            time.sleep(0.3)
        assert d["LabelCounters"]["HumanLabeled"] == N_IMAGES and d["LabelCounters"]["Unlabeled"] == 0

        rows = _db_rows(data_dir)
        assert set(acked) <= {r[0] for r in rows}
        assert len(rows) == N_IMAGES * PER_OBJECT == len({(r[1], r[2], r[3]) for r in rows})
        # the worker-response files hold each stored answer exactly once
        keys = [o["Key"] for p in s3.get_paginator("list_objects_v2").paginate(
            Bucket=bucket, Prefix="job/output/crash-job/annotations/worker-response/") for o in p.get("Contents", [])]
        answers = [(k.split("/")[-2], a["workerId"]) for k in keys
                   for a in json.loads(s3.get_object(Bucket=bucket, Key=k)["Body"].read())["answers"]]
        assert len(answers) == len(set(answers)) == N_IMAGES * PER_OBJECT
        lines = s3.get_object(Bucket=bucket, Key="job/output/crash-job/manifests/output/output.manifest")[
            "Body"].read().decode().splitlines()
        assert len(lines) == N_IMAGES and all('"boxes-metadata"' in x for x in lines)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()

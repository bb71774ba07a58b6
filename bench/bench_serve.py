"""Benchmark `gtlabel serve`: submissions/s and submit latency (p50/p99) with concurrent simulated workers, and
the end-to-end time of a whole job (CreateLabelingJob -> Completed, output manifest written).

    .venv/bin/python bench/bench_serve.py                       # 1,000 images x 3 workers each, 50 workers
    .venv/bin/python bench/bench_serve.py --images 200 --workers 20   # a short run while developing

The service runs as its own process (`gtlabel serve`, its embedded S3 in a child process of its own, SQLite
synchronous=FULL: every answer is fsynced before its 200). The workers run in --procs client processes with threads, each on its own keep-alive
HTTP connection, and do what the browser does: POST /api/next-task, then POST the answer with the CSRF header.
Targets (issue 3): >= 300 submissions/s, p99 < 100 ms, on the project's 2-core machine.
"""

from __future__ import annotations

import argparse
import http.client
import io
import json
import multiprocessing as mp
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import boto3
from botocore.config import Config

ROOT = Path(__file__).resolve().parents[1]


def _png() -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (64, 48), (40, 90, 40)).save(buf, format="PNG")
    return buf.getvalue()


def start_moto(data_dir: Path) -> tuple[subprocess.Popen[bytes], str]:
    """moto's S3 as its own process (as S3 is, in production), on a free port."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    exe = Path(sys.executable).with_name("moto_server")
    proc = subprocess.Popen([str(exe), "-H", "127.0.0.1", "-p", str(port)], stdout=(data_dir / "moto.log").open("wb"),
                            stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return proc, f"http://127.0.0.1:{port}"
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("moto_server did not start")


def start_service(data_dir: Path, workers: int, synchronous: str,
                  s3_endpoint: str | None = None) -> tuple[subprocess.Popen[bytes], dict[str, str]]:
    exe = Path(sys.executable).with_name("gtlabel")
    args = [str(exe), "serve", "--data-dir", str(data_dir), "--access-key", "bench", "--secret-key", "bench-secret",
            "--synchronous", synchronous]
    if s3_endpoint:
        args += ["--s3-endpoint", s3_endpoint]
    for i in range(workers):
        args += ["--worker", f"bench{i}:pw-bench-{i}"]
    log = data_dir / "serve.log"
    proc = subprocess.Popen(args, stdout=log.open("wb"), stderr=subprocess.STDOUT,
                            env={**os.environ, "COLUMNS": "400", "AWS_ACCESS_KEY_ID": "bench",
                                 "AWS_SECRET_ACCESS_KEY": "bench-secret"})
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        # the environment (keys included) is in the private endpoints.json, never in the log
        if (data_dir / "endpoints.json").exists():
            return proc, dict(json.loads((data_dir / "endpoints.json").read_text())["env"])
        if proc.poll() is not None:
            raise SystemExit(f"gtlabel serve exited:\n{log.read_text(errors='replace')}")
        time.sleep(0.2)
    proc.kill()
    raise SystemExit("gtlabel serve did not start")


class Conn:
    """One worker's keep-alive connection with its session cookie and CSRF token."""

    def __init__(self, host: str, port: int, user: str, password: str) -> None:
        self.c = http.client.HTTPConnection(host, port, timeout=60)
        self.cookie = ""
        status, headers, body = self.req("GET", "/login")
        token = re.search(rb'name="csrf_token" value="([^"]+)"', body)
        assert token, body[:200]
        login_cookie = _cookies(headers)
        form = urlencode({"username": user, "password": password, "csrf_token": token.group(1).decode()})
        status, headers, _ = self.req("POST", "/login", form.encode(), {"Content-Type": "application/x-www-form-urlencoded",
                                                                        "Cookie": login_cookie})
        assert status == 303, status
        self.cookie = _cookies(headers)
        status, _, body = self.req("GET", "/api/me")
        self.csrf = json.loads(body)["csrf_token"]

    def req(self, method: str, path: str, body: bytes | None = None,
            headers: dict[str, str] | None = None) -> tuple[int, list[tuple[str, str]], bytes]:
        h = {"Cookie": self.cookie} if self.cookie else {}
        h.update(headers or {})
        self.c.request(method, path, body=body, headers=h)
        r = self.c.getresponse()
        return r.status, r.getheaders(), r.read()


def _cookies(headers: list[tuple[str, str]]) -> str:
    return "; ".join(v.split(";", 1)[0] for k, v in headers if k.lower() == "set-cookie")


def client_proc(host: str, port: int, ids: list[int], job: str, out: Any, start_at: float,
                cycle_s: float = 0.0) -> None:
    """Each worker: next task, submit, repeat. ``cycle_s`` > 0 paces it (an open-loop load: one submission per
    worker every ``cycle_s`` seconds, whatever the replies take), 0 runs it flat out (a closed loop)."""
    lat_submit: list[float] = []
    lat_next: list[float] = []
    done_at: list[float] = []
    conns = [Conn(host, port, f"bench{i}", f"pw-bench-{i}") for i in ids]
    while time.time() < start_at:
        time.sleep(0.005)

    def run(conn: Conn, i: int) -> None:
        answer = json.dumps({"boundingBox": {"boundingBoxes": [{"label": "drone", "left": i % 40, "top": 3,
                                                                "width": 12, "height": 9}],
                                             "inputImageProperties": {"width": 64, "height": 48}}}).encode()
        idle = 0
        due = time.perf_counter() + (i % 50) / 50 * cycle_s  # spread the workers over one cycle
        while True:
            if cycle_s:
                wait = due - time.perf_counter()
                if wait > 0:
                    time.sleep(wait)
                due += cycle_s
            t0 = time.perf_counter()
            status, _, body = conn.req("POST", f"/api/next-task?job={job}", b"{}",
                                       {"Content-Type": "application/json", "X-CSRF-Token": conn.csrf})
            lat_next.append(time.perf_counter() - t0)
            task = json.loads(body)
            if not task.get("task_id"):
                if task.get("done") or idle > 200:
                    return
                idle += 1
                time.sleep(0.05)
                continue
            idle = 0
            t0 = time.perf_counter()
            status, _, _ = conn.req("POST", task["submit_url"], answer,
                                    {"Content-Type": "application/json", "X-CSRF-Token": conn.csrf})
            lat_submit.append(time.perf_counter() - t0)
            done_at.append(time.time())
            assert status == 200, status

    threads = [threading.Thread(target=run, args=(c, i)) for c, i in zip(conns, ids, strict=True)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    out.put({"submit": lat_submit, "next": lat_next, "done_at": done_at})


def _cpu_s(pid: int) -> float | None:
    """utime + stime of one process (Linux /proc), None when it is gone or /proc is not there."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rfind(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _children(pid: int) -> list[int]:
    out: list[int] = []
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            out += [int(x) for x in (task / "children").read_text().split()]
    except OSError:
        pass
    return out


class CpuSampler(threading.Thread):
    """Samples the CPU time of the service process and of its child processes (the embedded S3, the writers)
    every 0.1 s, so that the CPU seconds spent between the first and the last submission can be read off: on a
    shared machine they say more than the wall-clock rate."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.samples: list[tuple[float, float, float]] = []  # (time, service, its children)
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            own = _cpu_s(self.pid)
            if own is None:
                return
            kids = sum(c for k in _children(self.pid) if (c := _cpu_s(k)) is not None)
            self.samples.append((time.time(), own, kids))
            time.sleep(0.1)

    def between(self, t0: float, t1: float) -> tuple[float, float]:
        """(service, children) CPU seconds from the sample before ``t0`` to the one after ``t1``."""
        before = [s for s in self.samples if s[0] <= t0] or self.samples[:1]
        after = [s for s in self.samples if s[0] >= t1] or self.samples[-1:]
        a, b = before[-1], after[0]
        return b[1] - a[1], b[2] - a[2]


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))] * 1000 if s else float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=1000)
    ap.add_argument("--per-object", type=int, default=3)
    ap.add_argument("--workers", type=int, default=50)
    ap.add_argument("--procs", type=int, default=2, help="client processes the workers are spread over")
    ap.add_argument("--synchronous", default="FULL", choices=["FULL", "NORMAL"])
    ap.add_argument("--rate", type=float, default=0.0,
                    help="offered load in submissions/s over all workers (paced, open loop); 0: flat out")
    ap.add_argument("--s3", default="embedded", choices=["embedded", "process"],
                    help="embedded: gtlabel serve's own moto S3 (the default; a child process it starts and stops); "
                         "process: moto_server started by this script, given with --s3-endpoint")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-serve-") as tmp:
        moto = None
        s3_endpoint = None
        if args.s3 == "process":
            moto, s3_endpoint = start_moto(Path(tmp))
        proc, env = start_service(Path(tmp), args.workers, args.synchronous, s3_endpoint)
        sampler = CpuSampler(proc.pid)
        sampler.start()
        try:
            endpoint = env["AWS_ENDPOINT_URL_SAGEMAKER"]
            cfg = Config(retries={"max_attempts": 2}, max_pool_connections=32)
            kw = {"region_name": env["AWS_DEFAULT_REGION"], "aws_access_key_id": env["AWS_ACCESS_KEY_ID"],
                  "aws_secret_access_key": env["AWS_SECRET_ACCESS_KEY"], "config": cfg}
            s3 = boto3.client("s3", endpoint_url=env["AWS_ENDPOINT_URL_S3"], **kw)
            sm = boto3.client("sagemaker", endpoint_url=endpoint, **kw)
            bucket = "bench-sagemaker-input"
            s3.create_bucket(Bucket=bucket)
            t0 = time.perf_counter()
            image = _png()
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(16) as pool:
                list(pool.map(lambda i: s3.put_object(Bucket=bucket, Key=f"img/{i:05d}.png", Body=image),
                              range(args.images)))
            s3.put_object(Bucket=bucket, Key="input.manifest", Body="".join(
                json.dumps({"source-ref": f"s3://{bucket}/img/{i:05d}.png"}) + "\n" for i in range(args.images)).encode())
            s3.put_object(Bucket=bucket, Key="labels.json", Body=json.dumps(
                {"document-version": "2018-11-28", "labels": [{"label": x} for x in
                                                              ("drone", "vehicle", "person", "building")]}).encode())
            tpl = (ROOT / "src/gtlabel/templates/drone-bounding-box.liquid.html").read_text()
            for ph in ("__GTLABEL_HEADER__", "__GTLABEL_SHORT_INSTRUCTIONS__", "__GTLABEL_FULL_INSTRUCTIONS__",
                       "__GTLABEL_INITIAL_VALUE__"):
                tpl = tpl.replace(ph, "")
            s3.put_object(Bucket=bucket, Key="template.html", Body=tpl.encode())
            print(f"uploaded {args.images} images in {time.perf_counter() - t0:.1f} s", flush=True)

            from gtlabel import facts

            region = env["AWS_DEFAULT_REGION"]
            job = "bench-job"
            host, port = endpoint.split("://")[1].rsplit(":", 1)
            queue: Any = mp.get_context("spawn").Queue()
            start_at = time.time() + 3 + args.workers * 0.08
            ids = list(range(args.workers))
            cycle_s = args.workers / args.rate if args.rate > 0 else 0.0
            procs = [mp.get_context("spawn").Process(target=client_proc, args=(host, int(port), ids[p::args.procs],
                                                                                job, queue, start_at, cycle_s))
                     for p in range(args.procs)]
            for p in procs:
                p.start()
            t_create = time.perf_counter()
            sm.create_labeling_job(
                LabelingJobName=job, LabelAttributeName="boxes",
                InputConfig={"DataSource": {"S3DataSource": {"ManifestS3Uri": f"s3://{bucket}/input.manifest"}}},
                OutputConfig={"S3OutputPath": f"s3://{bucket}/output"}, RoleArn=env["GTLABEL_ROLE_ARN"],
                LabelCategoryConfigS3Uri=f"s3://{bucket}/labels.json",
                HumanTaskConfig={
                    "WorkteamArn": env["GTLABEL_WORKTEAM_ARN"], "UiConfig": {"UiTemplateS3Uri": f"s3://{bucket}/template.html"},
                    "PreHumanTaskLambdaArn": facts.pre_lambda_arn(region, "BoundingBox"),
                    "TaskTitle": "bench", "TaskDescription": "bench", "NumberOfHumanWorkersPerDataObject": args.per_object,
                    "TaskTimeLimitInSeconds": 600, "MaxConcurrentTaskCount": 1000,
                    "AnnotationConsolidationConfig": {"AnnotationConsolidationLambdaArn": facts.acs_lambda_arn(region, "BoundingBox")}})
            results = [queue.get(timeout=1800) for _ in procs]
            t_workers_done = time.perf_counter()
            for p in procs:
                p.join()
            while (d := sm.describe_labeling_job(LabelingJobName=job))["LabelingJobStatus"] not in ("Completed", "Failed",
                                                                                                   "Stopped"):
                time.sleep(0.2)
            t_done = time.perf_counter()
            submit = [x for r in results for x in r["submit"]]
            nxt = [x for r in results for x in r["next"]]
            stamps = sorted(x for r in results for x in r["done_at"])
            work_s = stamps[-1] - stamps[0] if len(stamps) > 1 else float("nan")
            del t_workers_done
            cpu_service, cpu_children = sampler.between(stamps[0], stamps[-1]) if stamps else (0.0, 0.0)
            sampler.stop.set()
            report = {
                "images": args.images, "workers_per_object": args.per_object, "concurrent_workers": args.workers,
                "client_processes": args.procs, "sqlite_synchronous": args.synchronous, "s3": args.s3,
                "offered_submissions_per_s": args.rate or "flat out (closed loop)",
                "status": d["LabelingJobStatus"], "counters": d["LabelCounters"],
                "submissions": len(submit),
                "submissions_per_s": round((len(submit) - 1) / work_s, 1),
                "submit_p50_ms": round(pct(submit, 0.50), 1), "submit_p99_ms": round(pct(submit, 0.99), 1),
                "next_task_p50_ms": round(pct(nxt, 0.50), 1), "next_task_p99_ms": round(pct(nxt, 0.99), 1),
                "end_to_end_s": round(t_done - t_create, 1),
                "first_to_last_submission_s": round(work_s, 1),
                # CPU between the first and the last submission, per submission (both requests of a cycle)
                "service_cpu_ms_per_submission": round(cpu_service / max(len(submit), 1) * 1000, 3),
                "service_children_cpu_ms_per_submission": round(cpu_children / max(len(submit), 1) * 1000, 3),
                "load_average": [round(x, 2) for x in os.getloadavg()],
                "cpu_count": os.cpu_count(),
            }
            print(json.dumps(report, indent=2))
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
            if moto is not None:
                moto.kill()
                moto.wait()


if __name__ == "__main__":
    main()

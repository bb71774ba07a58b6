"""Load test with hostile workers: `gtlabel serve` with 50 workers, 5 of whom send hostile answers and bodies.

    .venv/bin/python bench/bench_hostile.py                 # 2 jobs x 60 images x 3 workers, hostile and honest-only
    .venv/bin/python bench/bench_hostile.py --images 20     # a short run while developing

Two runs against a fresh service each (its own process, embedded S3, loopback only): **honest-only** (50 honest
workers) and **hostile** (45 honest, 5 hostile). An honest worker answers each image with its true boxes (a pixel
or two of noise). A hostile worker, on every task it claims, sends the corpus below (each must be refused with
400/413 and leave the task theirs), then either submits an answer the check accepts but that costs consolidation
the most (the most boxes allowed, all stacked on one spot, random labels) or gives the task back.

Reported per run: every job's final status, objects labeled, whether each labeled object's boxes are the honest
truth where at most one of its three answers was junk (two junk answers out of three win Ground Truth's majority
vote, by design: counted as "outvoted"), refusals by status, the service's peak RSS (VmHWM of the
service process and its writer processes) and honest workers' submit latency p50/p99. Bounded in time
(--deadline, default 15 minutes for both runs); exits 1 if a job did not complete or a check failed.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_serve import ROOT, Conn, _png, pct

LABELS = ("drone", "vehicle", "person", "building")
W, H = 64, 48


class HConn(Conn):
    """A worker's connection that can be opened again with the same session (a 413 closes it)."""

    def __init__(self, host: str, port: int, user: str, password: str) -> None:
        self.host, self.port = host, port
        super().__init__(host, port, user, password)

    def reconnect(self) -> None:
        self.c.close()
        self.c = http.client.HTTPConnection(self.host, self.port, timeout=60)


def truth(i: int) -> list[dict[str, Any]]:
    """Two boxes per image, placed by its index."""
    return [{"label": LABELS[i % 4], "left": 2 + i % 20, "top": 3, "width": 14, "height": 10},
            {"label": LABELS[(i + 1) % 4], "left": 40, "top": 20 + i % 10, "width": 12, "height": 12}]


def answer(boxes: list[dict[str, Any]]) -> bytes:
    return json.dumps({"boundingBox": {"boundingBoxes": boxes, "inputImageProperties": {"width": W, "height": H}}},
                      separators=(",", ":")).encode()


def hostile_corpus(max_boxes: int) -> list[tuple[str, bytes]]:
    box = {"label": "drone", "left": 10, "top": 10, "width": 10, "height": 10}
    return [
        ("NaN", answer([dict(box, left=0)]).replace(b'"left":0', b'"left":NaN')),
        ("Infinity size", answer([box]).replace(b'"width":64', b'"width":Infinity')),
        ("400-digit integer", answer([dict(box, left=0)]).replace(b'"left":0', b'"left":' + b"9" * 400)),
        ("1e308 box", answer([dict(box, left=1e308, width=1e308)])),
        ("unknown label", answer([dict(box, label="tank")])),
        ("string coordinate", answer([dict(box, top="10")])),
        ("over the box cap", answer([box] * (max_boxes + 1))),
        ("15,000 boxes (1 MB)", answer([box] * 15_000)),
        ("60,000 boxes (4 MB)", answer([box] * 60_000)),
        ("deep nesting", b'{"boundingBox":' + b"[" * 50_000 + b"]" * 50_000 + b"}"),
        ("5 MB body", b'{"x":"' + b"a" * (5 << 20) + b'"}'),
    ]


def start_service(data_dir: Path, users: list[tuple[str, str]], max_boxes: int) -> tuple[subprocess.Popen[bytes],
                                                                                         dict[str, str]]:
    logins = data_dir / "workers.json"
    data_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(logins, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump({"workers": [[u, p] for u, p in users]}, fh)
    exe = Path(sys.executable).with_name("gtlabel")
    args = [str(exe), "serve", "--data-dir", str(data_dir / "svc"), "--worker-file", str(logins),
            "--max-boxes-per-answer", str(max_boxes)]
    log = (data_dir / "serve.log").open("wb")
    proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    endpoints = data_dir / "svc" / "endpoints.json"
    while time.monotonic() < deadline:
        if endpoints.exists():
            return proc, dict(json.loads(endpoints.read_text())["env"])
        if proc.poll() is not None:
            raise SystemExit(f"gtlabel serve exited:\n{(data_dir / 'serve.log').read_text()}")
        time.sleep(0.2)
    proc.kill()
    raise SystemExit("gtlabel serve did not start")


def peak_rss_mb(pid: int) -> float:
    """VmHWM of a process and its children (the writer processes), in MB."""
    total = 0
    pids = [pid]
    try:
        kids = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        pids += [int(k) for k in kids]
    except OSError:
        pass
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return round(total / 1024, 1)


def claimed_tasks(conn: HConn, jobs: list[str], stop_at: float) -> Iterator[tuple[str, dict[str, Any]]]:
    """``(job, task)`` for each task the worker claims, round-robin over ``jobs``, until every job says it is done
    (or gave nothing 600 times in a row) or ``stop_at`` passes."""
    idle = {job: 0 for job in jobs}
    done: set[str] = set()
    while len(done) < len(jobs) and time.monotonic() < stop_at:
        for job in jobs:
            if job in done:
                continue
            _, _, body = conn.req("POST", f"/api/next-task?job={job}", b"{}",
                                  {"Content-Type": "application/json", "X-CSRF-Token": conn.csrf})
            task = json.loads(body)
            if not task.get("task_id"):
                idle[job] += 1
                if task.get("done") or idle[job] > 600:
                    done.add(job)
                time.sleep(0.05)
                continue
            idle[job] = 0
            yield job, task


def image_index(task: dict[str, Any]) -> int:
    return int(task["input"]["taskObject"].rsplit("/", 1)[1].split(".")[0])


def honest_worker(conn: HConn, jobs: list[str], out: dict[str, Any], stop_at: float, seed: int) -> None:
    rng = random.Random(seed)
    for _job, task in claimed_tasks(conn, jobs, stop_at):
        boxes = [dict(b, left=b["left"] + rng.choice((-1, 0, 1))) for b in truth(image_index(task))]
        t0 = time.perf_counter()
        status, _, _ = conn.req("POST", task["submit_url"], answer(boxes),
                                {"Content-Type": "application/json", "X-CSRF-Token": conn.csrf})
        out["submit"].append(time.perf_counter() - t0)
        out["status"][status] = out["status"].get(status, 0) + 1


def hostile_worker(conn: HConn, jobs: list[str], corpus: list[tuple[str, bytes]], max_boxes: int,
                   out: dict[str, Any], stop_at: float) -> None:
    rng = random.Random(7)
    for job, task in claimed_tasks(conn, jobs, stop_at):
        for case, raw in corpus:
            try:
                status, _, _ = conn.req("POST", task["submit_url"], raw,
                                        {"Content-Type": "application/json", "X-CSRF-Token": conn.csrf})
            except OSError:  # a 413 closes the connection: open a new one with the same session
                conn.reconnect()
                status = 413
            out["refused"][f"{case}: {status}"] = out["refused"].get(f"{case}: {status}", 0) + 1
        if rng.random() < 0.6:  # accepted, but as costly as allowed: the cap, stacked, random labels
            junk = [{"label": rng.choice(LABELS), "left": 5, "top": 5, "width": 30, "height": 30}
                    for _ in range(max_boxes)]
            status, _, _ = conn.req("POST", task["submit_url"], answer(junk),
                                    {"Content-Type": "application/json", "X-CSRF-Token": conn.csrf})
            out["junk"][status] = out["junk"].get(status, 0) + 1
            i = image_index(task)
            with out["lock"]:
                out["junk_on"][(job, i)] = out["junk_on"].get((job, i), 0) + 1
        else:
            conn.req("POST", task["return_url"], b"{}", {"Content-Type": "application/json",
                                                         "X-CSRF-Token": conn.csrf})


def run(label: str, n_hostile: int, args: argparse.Namespace, stop_at: float) -> dict[str, Any]:
    n = args.workers
    users = [(f"w{i:02d}", f"pw-bench-{i:02d}-{os.urandom(4).hex()}") for i in range(n)]
    with tempfile.TemporaryDirectory(prefix="bench-hostile-") as tmp:
        proc, env = start_service(Path(tmp), users, args.max_boxes)
        try:
            cfg = Config(retries={"max_attempts": 2}, max_pool_connections=16)
            kw = {"region_name": env["AWS_DEFAULT_REGION"], "aws_access_key_id": env["AWS_ACCESS_KEY_ID"],
                  "aws_secret_access_key": env["AWS_SECRET_ACCESS_KEY"], "config": cfg}
            s3 = boto3.client("s3", endpoint_url=env["AWS_ENDPOINT_URL_S3"], **kw)
            sm = boto3.client("sagemaker", endpoint_url=env["AWS_ENDPOINT_URL_SAGEMAKER"], **kw)
            bucket = f"bench-hostile-{label}"
            s3.create_bucket(Bucket=bucket)
            image = _png()
            for i in range(args.images):
                s3.put_object(Bucket=bucket, Key=f"in/img/{i}.png", Body=image)
            s3.put_object(Bucket=bucket, Key="in/input.manifest", Body="".join(
                json.dumps({"source-ref": f"s3://{bucket}/in/img/{i}.png"}) + "\n" for i in range(args.images)).encode())
            s3.put_object(Bucket=bucket, Key="in/labels.json", Body=json.dumps(
                {"document-version": "2018-11-28", "labels": [{"label": x} for x in LABELS]}).encode())
            tpl = (ROOT / "src/gtlabel/templates/drone-bounding-box.liquid.html").read_text()
            for ph in ("__GTLABEL_HEADER__", "__GTLABEL_SHORT_INSTRUCTIONS__", "__GTLABEL_FULL_INSTRUCTIONS__",
                       "__GTLABEL_INITIAL_VALUE__"):
                tpl = tpl.replace(ph, "")
            s3.put_object(Bucket=bucket, Key="in/template.html", Body=tpl.encode())
            from gtlabel import facts

            region = env["AWS_DEFAULT_REGION"]
            jobs = [f"{label}-job-{k}" for k in range(args.jobs)]
            for job in jobs:
                sm.create_labeling_job(
                    LabelingJobName=job, LabelAttributeName="boxes",
                    InputConfig={"DataSource": {"S3DataSource": {"ManifestS3Uri": f"s3://{bucket}/in/input.manifest"}}},
                    OutputConfig={"S3OutputPath": f"s3://{bucket}/out"}, RoleArn=env["GTLABEL_ROLE_ARN"],
                    LabelCategoryConfigS3Uri=f"s3://{bucket}/in/labels.json",
                    HumanTaskConfig={
                        "WorkteamArn": env["GTLABEL_WORKTEAM_ARN"],
                        "UiConfig": {"UiTemplateS3Uri": f"s3://{bucket}/in/template.html"},
                        "PreHumanTaskLambdaArn": facts.pre_lambda_arn(region, "BoundingBox"),
                        "TaskTitle": "bench", "TaskDescription": "bench", "NumberOfHumanWorkersPerDataObject": 3,
                        "TaskTimeLimitInSeconds": 60,
                        "AnnotationConsolidationConfig": {
                            "AnnotationConsolidationLambdaArn": facts.acs_lambda_arn(region, "BoundingBox")}})
            host, port = env["AWS_ENDPOINT_URL_SAGEMAKER"].split("://")[1].rsplit(":", 1)
            conns = [HConn(host, int(port), u, p) for u, p in users]
            honest_out: dict[str, Any] = {"submit": [], "status": {}}
            hostile_out: dict[str, Any] = {"refused": {}, "junk": {}, "junk_on": {}, "lock": threading.Lock()}
            corpus = hostile_corpus(args.max_boxes)
            threads = [threading.Thread(target=hostile_worker, args=(c, jobs, corpus, args.max_boxes, hostile_out,
                                                                      stop_at)) for c in conns[:n_hostile]]
            threads += [threading.Thread(target=honest_worker, args=(c, jobs, honest_out, stop_at, seed))
                        for seed, c in enumerate(conns[n_hostile:])]
            t0 = time.perf_counter()
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            statuses = {}
            right = wrong = outvoted = 0
            examples: list[dict[str, Any]] = []
            for job in jobs:
                while (d := sm.describe_labeling_job(LabelingJobName=job))["LabelingJobStatus"] not in (
                        "Completed", "Failed", "Stopped") and time.monotonic() < stop_at:
                    time.sleep(0.5)
                statuses[job] = (d["LabelingJobStatus"], d["LabelCounters"])
                out = d.get("LabelingJobOutput", {}).get("OutputDatasetS3Uri")
                if not out:
                    continue
                key = out.split("/", 3)[3]
                for raw in s3.get_object(Bucket=bucket, Key=key)["Body"].read().splitlines():
                    line = json.loads(raw)
                    i = int(line["source-ref"].rsplit("/", 1)[1].split(".")[0])
                    got = sorted((LABELS[a["class_id"]], a["top"], a["width"], a["height"])
                                 for a in line.get("boxes", {}).get("annotations", []))
                    want = sorted((b["label"], b["top"], b["width"], b["height"]) for b in truth(i))
                    if hostile_out["junk_on"].get((job, i), 0) >= 2:
                        outvoted += 1  # two of its three answers were junk: majority voting keeps the junk
                        continue
                    right, wrong = (right + 1, wrong) if got == want else (right, wrong + 1)
                    if got != want and len(examples) < 3:
                        examples.append({"image": i, "want": want, "got": got[:6], "boxes": len(got)})
            elapsed = time.perf_counter() - t0
            rss = peak_rss_mb(proc.pid)
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
    return {"run": label, "hostile_workers": n_hostile, "jobs": statuses, "objects_right": right,
            "objects_wrong": wrong, "objects_outvoted": outvoted, "wrong_examples": examples, "honest_submits": len(honest_out["submit"]),
            "honest_status": honest_out["status"], "refused": hostile_out["refused"], "junk_submits": hostile_out["junk"],
            "objects_with_junk": len(hostile_out["junk_on"]),
            "submit_p50_ms": round(pct(honest_out["submit"], 0.5), 1),
            "submit_p99_ms": round(pct(honest_out["submit"], 0.99), 1),
            "peak_rss_mb": rss, "seconds": round(elapsed, 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=60)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--workers", type=int, default=50)
    ap.add_argument("--hostile", type=int, default=5)
    ap.add_argument("--max-boxes", type=int, default=1000)
    ap.add_argument("--deadline", type=float, default=900, help="seconds for both runs together")
    args = ap.parse_args()
    stop_at = time.monotonic() + args.deadline
    reports = [run("honest", 0, args, stop_at), run("hostile", args.hostile, args, stop_at)]
    print(json.dumps(reports, indent=2))
    print("\n| run | jobs completed | honest-majority objects right | outvoted by junk | honest submits "
          "| submit p50 ms | p99 ms | peak RSS MB | s |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    ok = True
    for r in reports:
        completed = sum(1 for s, _ in r["jobs"].values() if s == "Completed")
        print(f"| {r['run']} ({r['hostile_workers']} hostile) | {completed}/{len(r['jobs'])} | {r['objects_right']} / "
              f"{r['objects_right'] + r['objects_wrong']} | {r['objects_outvoted']} | {r['honest_submits']} | "
              f"{r['submit_p50_ms']} | {r['submit_p99_ms']} | {r['peak_rss_mb']} | {r['seconds']} |")
        ok = ok and completed == len(r["jobs"]) and r["objects_wrong"] == 0
    bad = {k: v for k, v in reports[1]["refused"].items() if not k.endswith((": 400", ": 413"))}
    if bad:
        print(f"hostile bodies NOT refused: {bad}")
        ok = False
    raise SystemExit(0 if ok else 1)


if __name__ == "__main__":
    main()

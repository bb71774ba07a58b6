"""Every answer the portal acknowledges with 200 is on disk first: a group-commit fsync that began after the
answer's commit has finished before the reply, whether the answer was stored on the event loop (the usual small
answer) or on a thread (one over INLINE_ANSWER_BYTES)."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from typing import Any

from localsvc_helpers import Worker, job_request, put_inputs

from gtlabel.local import portal as portal_mod
from gtlabel.local.state import db as dbmod

N = 10


def test_each_200_follows_an_fsync_that_covers_its_answer(clocked: Any, s3: Any, bucket: str,
                                                           monkeypatch: Any) -> None:
    uris = put_inputs(s3, bucket, N)
    clocked.client("sagemaker").create_labeling_job(**job_request("durable", uris, clocked.default_workteam_arn))
    clocked.engine.tick()
    workers = []
    for i in range(N):
        clocked.add_worker("default", f"w{i}", f"pw-durable-{i}")
        workers.append(Worker(clocked.portal_url, f"w{i}", f"pw-durable-{i}"))
    tasks = [w.next_task("durable") for w in workers]
    assert all(t["task_id"] for t in tasks)

    path = clocked.data_dir / "gtlabel.sqlite3"
    covered: list[set[str]] = []  # per finished fsync: the answers committed when it began
    real_fsync = dbmod.os.fsync

    def watched_fsync(fd: int) -> None:
        with sqlite3.connect(path) as peek:
            ids = {r[0] for r in peek.execute("SELECT id FROM assignments WHERE state='submitted'")}
        time.sleep(0.003)  # a slow disk: answers pile up behind it
        real_fsync(fd)
        covered.append(ids)

    monkeypatch.setattr(dbmod.os, "fsync", watched_fsync)
    big = [{"label": "drone", "left": i % 50, "top": i % 40, "width": 5, "height": 5} for i in range(200)]
    assert len(json.dumps({"boundingBox": {"boundingBoxes": big}})) > portal_mod.INLINE_ANSWER_BYTES
    failures: list[str] = []

    def answer(k: int) -> None:
        r = workers[k].submit(tasks[k], big if k == 0 else [{"label": "drone", "left": k, "top": 2, "width": 3,
                                                             "height": 4}])
        if r.status_code != 200:
            failures.append(f"{k}: {r.status_code} {r.text[:200]}")
        elif not any(tasks[k]["task_id"] in ids for ids in list(covered)):
            failures.append(f"{k}: 200 before an fsync covered its answer")

    threads = [threading.Thread(target=answer, args=(k,)) for k in range(N)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
    assert 0 < len(covered) <= N
    states = {clocked.backend.state.tasks.assignment(t["task_id"]).state for t in tasks}
    assert states == {"submitted"}

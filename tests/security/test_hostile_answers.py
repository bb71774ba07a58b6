"""Hostile and careless worker answers against a running service: refused at submit with 400 and a message
the worker's page shows (the task stays theirs), and whatever still reaches consolidation fails one object,
never the job."""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest
from localsvc_helpers import Worker, job_request, put_inputs

BOX = {"label": "vehicle", "left": 10, "top": 12, "width": 20, "height": 8}


def _start(svc: Any, s3: Any, bucket: str, name: str, n: int = 3, workers: int = 1) -> dict[str, str]:
    uris = put_inputs(s3, bucket, n)
    svc.client("sagemaker").create_labeling_job(**job_request(name, uris, svc.default_workteam_arn, workers=workers))
    svc.engine.tick()
    return uris


def _worker(svc: Any, name: str) -> Worker:
    svc.add_worker("default", name, f"{name}-password-1")
    return Worker(svc.portal_url, name, f"{name}-password-1")


def _raw_submit(w: Worker, task: dict[str, Any], body: bytes) -> Any:
    return w.http.post(f"{w.base}{task['submit_url']}", data=body, timeout=30,
                       headers={"X-CSRF-Token": w.csrf, "Content-Type": "application/json"})


def _wrap(*boxes: Any, **props: Any) -> dict[str, Any]:
    return {"boundingBox": {"boundingBoxes": list(boxes),
                            "inputImageProperties": props or {"width": 64, "height": 48}}}


HOSTILE_JSON: list[tuple[str, Any, str]] = [
    ("400-digit integer", _wrap(dict(BOX, left=10**400)), "not valid JSON"),
    ("20-digit integer", _wrap(dict(BOX, left=10**19)), "digits"),
    ("1e308 + 1e308", _wrap(dict(BOX, left=1e308, width=1e308)), "left"),
    ("string coordinates", _wrap(dict(BOX, left="10")), "left"),
    ("unknown label", _wrap(dict(BOX, label="tank")), "not one of the job's labels"),
    ("too many boxes", _wrap(*[BOX] * 51), "at most 50"),
    ("15,000 boxes (1 MB)", _wrap(*[BOX] * 15_000), "at most 50"),
    ("negative size", _wrap(dict(BOX, height=-3)), "height"),
    ("no boxes element", {"boundingBox": {"rectangles": [BOX]}}, "no crowd-bounding-box"),
]
HOSTILE_RAW: list[tuple[str, bytes, str]] = [
    ("bare NaN", json.dumps(_wrap(dict(BOX, left=float("nan")))).encode(), "not valid JSON"),
    ("bare Infinity", json.dumps(_wrap(dict(BOX, width=float("inf")))).encode(), "not valid JSON"),
    ("NaN image size", json.dumps(_wrap(BOX, width=float("nan"), height=48)).encode(), "not valid JSON"),
    ("deeply nested", b'{"boundingBox": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", "not valid JSON"),
    ("nested 40 deep", b'{"x": ' + b"[" * 40 + b"]" * 40 + b"}", "deeper than 32"),
]


def test_hostile_answers_get_400_and_the_task_stays_theirs(clocked: Any, s3: Any, bucket: str) -> None:
    _start(clocked, s3, bucket, "hostile-submit", n=2)
    eve = _worker(clocked, "eve")
    task = eve.next_task("hostile-submit")
    for case, body, message in HOSTILE_JSON:
        r = _raw_submit(eve, task, json.dumps(body, separators=(",", ":")).encode())
        assert r.status_code == 400, (case, r.status_code, r.text[:200])
        assert message in r.json()["error"] and r.json()["error"].startswith("Your answer was not accepted"), case
    for case, raw, message in HOSTILE_RAW:
        r = _raw_submit(eve, task, raw)
        assert r.status_code == 400, (case, r.status_code, r.text[:200])
        assert message in r.json()["error"], (case, r.json())
    assert clocked.backend.state.tasks.submitted("hostile-submit", [0, 1]) == []
    # the slot was kept: the same task, and a corrected answer is accepted
    assert eve.next_task("hostile-submit")["task_id"] == task["task_id"]
    assert eve.submit(task, [BOX]).status_code == 200
    second = eve.next_task("hostile-submit")
    assert eve.submit(second, [dict(BOX, left=30)]).status_code == 200
    clocked.engine.tick()
    d = clocked.client("sagemaker").describe_labeling_job(LabelingJobName="hostile-submit")
    assert d["LabelingJobStatus"] == "Completed" and d["LabelCounters"]["HumanLabeled"] == 2


def _store_answer(svc: Any, aid: str, text: str) -> None:
    """Store an answer through the state's repository, past the portal's check, as a service before this check
    could have stored it."""
    tasks = svc.backend.state.tasks
    claim = tasks.assignment(aid)
    tasks.submit(claim, answer=text, now=claim.claimed + 1)


STORED: list[tuple[str, str]] = [
    ("overflow", json.dumps(_wrap(dict(BOX, left=1e308, width=1e308)))),
    ("long integer", json.dumps(_wrap(dict(BOX, left=10**400)))),
    ("NaN", json.dumps(_wrap(dict(BOX, left=float("nan"))))),
    ("NaN image size", json.dumps(_wrap(BOX, width=float("nan"), height=48))),
    ("unknown label", json.dumps(_wrap(dict(BOX, label="tank")))),
]


@pytest.mark.parametrize(("case", "stored"), STORED, ids=[s[0] for s in STORED])
def test_a_bad_stored_answer_fails_its_object_not_the_job(clocked: Any, s3: Any, bucket: str, case: str,
                                                          stored: str) -> None:
    uris = _start(clocked, s3, bucket, f"stored-{len(case)}-{case.split()[0].lower()}", n=3)
    name = f"stored-{len(case)}-{case.split()[0].lower()}"
    ann = _worker(clocked, "ann")
    first = ann.next_task(name)
    _store_answer(clocked, first["task_id"], stored)  # object 0: the poisoned answer
    for _ in range(2):
        assert ann.submit(ann.next_task(name), [BOX]).status_code == 200
    clocked.engine.tick()
    d = clocked.client("sagemaker").describe_labeling_job(LabelingJobName=name)
    assert d["LabelingJobStatus"] == "Completed", d.get("FailureReason")
    assert d["LabelCounters"]["HumanLabeled"] == 2 and d["LabelCounters"]["FailedNonRetryableError"] == 1
    out = d["LabelingJobOutput"]["OutputDatasetS3Uri"]
    lines = [orjson.loads(x) for x in s3.get_object(Bucket=bucket, Key=out.split("/", 3)[3])["Body"].read()
             .splitlines()]
    assert "boxes" not in lines[0] and "refused" in lines[0]["boxes-metadata"]["failure-reason"]
    assert [len(x["boxes"]["annotations"]) for x in lines[1:]] == [1, 1]
    # every file the job wrote is strict JSON (orjson refuses NaN / Infinity)
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=f"job/output/{name}/")["Contents"]]
    for key in keys:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        for line in body.splitlines() if key.endswith(".manifest") else [body]:
            orjson.loads(line)
    assert uris


def test_any_exception_in_one_object_fails_only_that_object(clocked: Any, s3: Any, bucket: str,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    import gtlabel.local.engine as engine

    real = engine.consolidate_boxes

    def flaky(elements: Any, labels: Any) -> Any:
        if any(b.get("left") == 13 for el in elements for b in el["boundingBoxes"]):
            raise MemoryError("simulated: one object's consolidation ran out of memory")
        return real(elements, labels)

    monkeypatch.setattr(engine, "consolidate_boxes", flaky)
    _start(clocked, s3, bucket, "one-bad-object", n=3)
    ann = _worker(clocked, "ann")
    for left in (10, 13, 11):
        assert ann.submit(ann.next_task("one-bad-object"), [dict(BOX, left=left)]).status_code == 200
    clocked.engine.tick()
    d = clocked.client("sagemaker").describe_labeling_job(LabelingJobName="one-bad-object")
    assert d["LabelingJobStatus"] == "Completed", d.get("FailureReason")
    assert d["LabelCounters"]["HumanLabeled"] == 2 and d["LabelCounters"]["FailedNonRetryableError"] == 1
    assert "MemoryError" in clocked.backend.state.tasks.get("one-bad-object", 1).failure


def test_the_honest_answers_of_an_object_still_count(clocked: Any, s3: Any, bucket: str) -> None:
    _start(clocked, s3, bucket, "honest-count", n=1, workers=2)
    eve, ann = _worker(clocked, "eve"), _worker(clocked, "ann")
    _store_answer(clocked, eve.next_task("honest-count")["task_id"], STORED[0][1])
    assert ann.submit(ann.next_task("honest-count"), [BOX]).status_code == 200
    clocked.engine.tick()
    d = clocked.client("sagemaker").describe_labeling_job(LabelingJobName="honest-count")
    assert d["LabelingJobStatus"] == "Completed" and d["LabelCounters"]["HumanLabeled"] == 1
    result = clocked.backend.state.tasks.get("honest-count", 0).result
    assert json.loads(result)["boxes"]["annotations"] == [{"class_id": 1, **{k: BOX[k] for k in
                                                                   ("left", "top", "width", "height")}}]

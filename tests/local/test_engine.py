"""The job engine, driven with an injected clock: lifecycle, counters, batches, timeouts, expiry, stopping,
failures, custom Lambdas, and Ground Truth's output layout with exact line format."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from localsvc_helpers import Worker, job_request, put_inputs

BOX = {"label": "vehicle", "left": 10, "top": 12, "width": 20, "height": 8}


def _sm(svc: Any) -> Any:
    return svc.client("sagemaker")


def _describe(svc: Any, name: str) -> dict[str, Any]:
    return dict(_sm(svc).describe_labeling_job(LabelingJobName=name))


def _workers(svc: Any, n: int, team: str = "default") -> list[Worker]:
    out = []
    for i in range(n):
        svc.add_worker(team, f"w{i}-{team}", f"password-{i}")
        out.append(Worker(svc.portal_url, f"w{i}-{team}", f"password-{i}"))
    return out


def _read(s3: Any, uri: str) -> bytes:
    bucket, _, key = uri[5:].partition("/")
    return bytes(s3.get_object(Bucket=bucket, Key=key)["Body"].read())


def _keys(s3: Any, bucket: str, prefix: str) -> list[str]:
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return sorted(o["Key"] for p in pages for o in p.get("Contents", []))


def _work_all(worker: Worker, job: str, boxes: list[dict[str, Any]] | None = None) -> int:
    n = 0
    while True:
        t = worker.next_task(job)
        if not t["task_id"]:
            return n
        assert worker.submit(t, boxes if boxes is not None else [BOX]).status_code == 200
        n += 1


def test_whole_job_writes_ground_truth_layout(clocked: Any, s3: Any, bucket: str) -> None:
    uris = put_inputs(s3, bucket, 3)
    _sm(clocked).create_labeling_job(**job_request("whole-job", uris, clocked.default_workteam_arn, workers=2))
    assert _describe(clocked, "whole-job")["LabelingJobStatus"] == "Initializing"
    clocked.engine.tick()
    assert _describe(clocked, "whole-job")["LabelingJobStatus"] == "InProgress"
    ann, bob = _workers(clocked, 2)

    task = ann.next_task("whole-job")
    assert task["input"]["taskObject"] == f"s3://{bucket}/job/images/img-0000.png"
    assert task["input"]["labels"] == ["drone", "vehicle", "person", "building"]
    assert task["image_url"].startswith(clocked.s3_endpoint) and "Signature=" in task["image_url"]
    assert task["csrf_token"] == ann.csrf
    # the same unfinished task comes back until it is answered
    assert ann.next_task("whole-job")["task_id"] == task["task_id"]
    clocked.clock.advance(7)
    r = ann.submit(task, [BOX, {"label": "person", "left": 40, "top": 5, "width": 6, "height": 14}])
    assert r.status_code == 200 and r.json()["duplicate"] is False
    again = ann.submit(task, [BOX])  # a retried submit changes nothing
    assert again.status_code == 200 and again.json()["duplicate"] is True
    assert _work_all(ann, "whole-job") == 2
    assert _work_all(bob, "whole-job", [dict(BOX, left=12), {"label": "person", "left": 41, "top": 5, "width": 6,
                                                               "height": 14}]) == 3
    clocked.engine.tick()
    d = _describe(clocked, "whole-job")
    assert d["LabelingJobStatus"] == "Completed"
    assert d["LabelCounters"] == {"TotalLabeled": 3, "HumanLabeled": 3, "MachineLabeled": 0,
                                  "FailedNonRetryableError": 0, "Unlabeled": 0}
    root = f"{uris['output']}/whole-job"
    assert d["LabelingJobOutput"]["OutputDatasetS3Uri"] == f"{root}/manifests/output/output.manifest"

    lines = _read(s3, d["LabelingJobOutput"]["OutputDatasetS3Uri"]).decode().splitlines()
    assert len(lines) == 3
    first = json.loads(lines[0])
    assert list(first) == ["source-ref", "site", "boxes", "boxes-metadata"]  # input keys pass through, first
    assert first["site"] == "field-0"
    assert first["boxes"]["image_size"] == [{"width": 64, "height": 48, "depth": 3}]
    anns = first["boxes"]["annotations"]
    assert {a["class_id"] for a in anns} == {1, 2}
    veh = next(a for a in anns if a["class_id"] == 1)
    assert veh == {"class_id": 1, "left": 11, "top": 12, "width": 20, "height": 8}  # averaged 10 and 12
    meta = first["boxes-metadata"]
    assert list(meta) == ["objects", "class-map", "type", "human-annotated", "creation-date", "job-name"]
    assert meta["class-map"] == {"1": "vehicle", "2": "person"}
    assert meta["type"] == "groundtruth/object-detection" and meta["human-annotated"] == "yes"
    assert meta["job-name"] == "labeling-job/whole-job"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}", meta["creation-date"])
    assert len(meta["objects"]) == len(anns) and all(0 < o["confidence"] <= 1 for o in meta["objects"])
    assert lines[0].startswith('{"source-ref":"s3://') and ": " not in lines[0]  # compact JSON lines

    keys = _keys(s3, bucket, "job/output/whole-job/")
    wr = [k for k in keys if "/annotations/worker-response/iteration-1/" in k]
    assert [k.split("/")[-2] for k in wr] == ["0", "1", "2"]
    assert all(re.search(r"/\d{4}-\d\d-\d\d_\d\d:\d\d:\d\d\.json$", k) for k in wr)
    doc = json.loads(_read(s3, f"s3://{bucket}/{wr[0]}"))
    a0 = max(doc["answers"], key=lambda a: a["timeSpentInSeconds"])  # ann's, claimed 7 s before submitting
    assert set(a0) == {"workerId", "acceptanceTime", "submissionTime", "timeSpentInSeconds", "answerContent",
                       "workerMetadata"}
    assert a0["workerId"].startswith("private.us-east-1.") and a0["timeSpentInSeconds"] == 7.0
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", a0["acceptanceTime"])
    assert a0["answerContent"]["boundingBox"]["boundingBoxes"][0] == BOX
    assert a0["workerMetadata"]["identityData"]["identityProviderType"] == "Cognito"
    assert len(doc["answers"]) == 2 and doc["answers"][0]["workerId"] != doc["answers"][1]["workerId"]

    req_key = next(k for k in keys if "/consolidation-request/iteration-1/" in k)
    items = json.loads(_read(s3, f"s3://{bucket}/{req_key}"))
    assert [i["datasetObjectId"] for i in items] == ["0", "1", "2"]
    assert items[1]["dataObject"] == {"s3Uri": f"s3://{bucket}/job/images/img-0001.png"}
    content = json.loads(items[0]["annotations"][0]["annotationData"]["content"])
    assert content["boundingBox"]["inputImageProperties"] == {"width": 64, "height": 48}
    resp_key = next(k for k in keys if "/consolidation-response/iteration-1/" in k)
    resp = json.loads(_read(s3, f"s3://{bucket}/{resp_key}"))
    assert resp[0]["consolidatedAnnotation"]["content"]["boxes"] == first["boxes"]
    assert "job/output/whole-job/manifests/intermediate/1/output.manifest" in keys


def test_a_late_submit_frees_the_slot_at_once(clocked: Any, s3: Any, bucket: str) -> None:
    uris = put_inputs(s3, bucket, 1)
    _sm(clocked).create_labeling_job(**job_request("late", uris, clocked.default_workteam_arn, workers=1,
                                                   TaskTimeLimitInSeconds=60))
    clocked.engine.tick()
    (a,) = _workers(clocked, 1)
    task = a.next_task("late")
    clocked.clock.advance(61)  # no engine tick: the submit itself finds the claim late
    assert a.submit(task, [BOX]).status_code == 409
    tasks = clocked.backend.state.tasks
    assert tasks.assignment(task["task_id"]).state == "timedout"
    assert tasks.get("late", 0).n_taken == 0  # the slot went back to the pool


def test_batches_timeouts_declines_and_expiry(clocked: Any, s3: Any, bucket: str) -> None:
    uris = put_inputs(s3, bucket, 5)
    req = job_request("batched", uris, clocked.default_workteam_arn, workers=2, MaxConcurrentTaskCount=2,
                      TaskTimeLimitInSeconds=60, TaskAvailabilityLifetimeInSeconds=600)
    _sm(clocked).create_labeling_job(**req)
    clocked.engine.tick()
    a, b, c = _workers(clocked, 3)

    # batch 1 = objects 0 and 1 only
    t_a = a.next_task("batched")
    assert t_a["input"]["taskObject"].endswith("img-0000.png")
    clocked.clock.advance(61)  # a's claim times out
    clocked.engine.tick()
    late = a.submit(t_a, [BOX])
    assert late.status_code == 409 and "error" in late.json()
    # the slot went back to the pool: both b and c can take object 0
    t_b, t_c = b.next_task("batched"), c.next_task("batched")
    assert t_b["input"]["taskObject"].endswith("img-0000.png") and t_c["input"]["taskObject"].endswith("img-0000.png")
    assert b.submit(t_b, [BOX]).status_code == 200
    r = c.post(t_c["decline_url"], {})  # skip: the slot is used, no answer
    assert r.status_code == 200 and r.json()["state"] == "declined"
    # object 1: everyone declines -> expired
    for w in (a, b):
        t = w.next_task("batched")
        assert t["input"]["taskObject"].endswith("img-0001.png")
        assert w.post(t["decline_url"], {}).status_code == 200
    clocked.engine.tick()
    d = _describe(clocked, "batched")
    assert d["LabelCounters"] == {"TotalLabeled": 1, "HumanLabeled": 1, "MachineLabeled": 0,
                                  "FailedNonRetryableError": 1, "Unlabeled": 3}
    # batch 2 = objects 2 and 3; a returns one (back to the pool), nobody finishes before the lifetime ends
    t = a.next_task("batched")
    assert t["input"]["taskObject"].endswith("img-0002.png")
    assert a.post(t["return_url"], {}).json()["state"] == "returned"
    t = c.next_task("batched")
    assert c.submit(t, [BOX]).status_code == 200  # one answer out of two for object 2
    clocked.clock.advance(601)
    clocked.engine.tick()  # batch 2 expires: object 2 labeled by its one answer, object 3 failed
    d = _describe(clocked, "batched")
    assert d["LabelCounters"]["HumanLabeled"] == 2 and d["LabelCounters"]["FailedNonRetryableError"] == 2
    # batch 3 = object 4
    for w in (a, b):
        assert _work_all(w, "batched") == 1
    clocked.engine.tick()
    d = _describe(clocked, "batched")
    assert d["LabelingJobStatus"] == "Completed"
    assert d["LabelCounters"] == {"TotalLabeled": 3, "HumanLabeled": 3, "MachineLabeled": 0,
                                  "FailedNonRetryableError": 2, "Unlabeled": 0}
    lines = [json.loads(x) for x in _read(s3, d["LabelingJobOutput"]["OutputDatasetS3Uri"]).decode().splitlines()]
    assert "boxes" in lines[0] and "boxes" in lines[2] and "boxes" in lines[4]
    assert "declined" in lines[1]["boxes-metadata"]["failure-reason"] and "boxes" not in lines[1]
    assert "availability lifetime" in lines[3]["boxes-metadata"]["failure-reason"]
    keys = _keys(s3, bucket, "job/output/batched/")
    assert any("/worker-response/iteration-3/4/" in k for k in keys)
    assert any("/consolidation-request/iteration-2/" in k for k in keys)
    for n in (1, 2, 3):
        assert f"job/output/batched/manifests/intermediate/{n}/output.manifest" in keys


def test_stopping_condition_and_stop(clocked: Any, s3: Any, bucket: str) -> None:
    uris = put_inputs(s3, bucket, 4)
    sm = _sm(clocked)
    sm.create_labeling_job(**{**job_request("capped", uris, clocked.default_workteam_arn),
                              "StoppingConditions": {"MaxHumanLabeledObjectCount": 2}})
    sm.create_labeling_job(**{**job_request("pct", uris, clocked.default_workteam_arn),
                              "StoppingConditions": {"MaxPercentageOfInputDatasetLabeled": 25}})
    sm.create_labeling_job(**job_request("stopped", uris, clocked.default_workteam_arn, workers=2))
    clocked.engine.tick()
    (w, v) = _workers(clocked, 2)
    assert _work_all(w, "capped") == 2
    assert _work_all(w, "pct") == 1
    t = w.next_task("stopped")
    assert w.submit(t, [BOX]).status_code == 200
    pending = v.next_task("stopped")
    sm.stop_labeling_job(LabelingJobName="stopped")
    assert _describe(clocked, "stopped")["LabelingJobStatus"] == "Stopping"
    late = v.submit(pending, [BOX])
    assert late.status_code == 409
    assert v.next_task("stopped") == {"task_id": None, "done": True}
    clocked.engine.tick()
    capped, pct, stopped = (_describe(clocked, n) for n in ("capped", "pct", "stopped"))
    assert capped["LabelingJobStatus"] == "Stopped" and capped["LabelCounters"]["HumanLabeled"] == 2
    assert capped["LabelCounters"]["Unlabeled"] == 2
    assert pct["LabelingJobStatus"] == "Stopped" and pct["LabelCounters"]["HumanLabeled"] == 1
    assert stopped["LabelingJobStatus"] == "Stopped"
    # the one answer given before the stop is kept; the rest stays unlabeled, written as the input line
    assert stopped["LabelCounters"] == {"TotalLabeled": 1, "HumanLabeled": 1, "MachineLabeled": 0,
                                        "FailedNonRetryableError": 0, "Unlabeled": 3}
    lines = [json.loads(x) for x in _read(s3, stopped["LabelingJobOutput"]["OutputDatasetS3Uri"]).decode().splitlines()]
    assert "boxes" in lines[0] and lines[1] == {"source-ref": f"s3://{bucket}/job/images/img-0001.png",
                                                "site": "field-1"}


def test_job_failures_name_the_cause(clocked: Any, s3: Any, bucket: str) -> None:
    sm = _sm(clocked)
    team = clocked.default_workteam_arn
    uris = put_inputs(s3, bucket, 3, missing=[1])
    sm.create_labeling_job(**job_request("missing-image", uris, team))
    no_manifest = {**uris, "manifest": f"s3://{bucket}/nope/input.manifest"}
    sm.create_labeling_job(**job_request("no-manifest", no_manifest, team))
    s3.put_object(Bucket=bucket, Key="bad/input.manifest",
                  Body=b'{"source-ref": "s3://' + bucket.encode() + b'/job/images/img-0000.png"}\n{not json\n')
    sm.create_labeling_job(**job_request("bad-line", {**uris, "manifest": f"s3://{bucket}/bad/input.manifest"}, team))
    s3.put_object(Bucket=bucket, Key="bad2/input.manifest", Body=b'{"source-ref": "/etc/passwd"}\n')
    sm.create_labeling_job(**job_request("bad-ref", {**uris, "manifest": f"s3://{bucket}/bad2/input.manifest"}, team))
    all_missing = put_inputs(s3, bucket, 2, missing=[0, 1], prefix="gone")
    sm.create_labeling_job(**job_request("all-missing", all_missing, team))
    ref = f"s3://{bucket}/job/images/img-0000.png"
    s3.put_object(Bucket=bucket, Key="long/attr.manifest",
                  Body=json.dumps({"source-ref": ref, "note": "x" * 20_001}).encode() + b"\n")
    sm.create_labeling_job(**job_request("long-attr", {**uris, "manifest": f"s3://{bucket}/long/attr.manifest"}, team))
    s3.put_object(Bucket=bucket, Key="long/line.manifest", Body=json.dumps(
        {"source-ref": ref, **{f"n{i}": "y" * 19_000 for i in range(6)}}).encode() + b"\n")
    sm.create_labeling_job(**job_request("long-line", {**uris, "manifest": f"s3://{bucket}/long/line.manifest"}, team))
    sm.create_labeling_job(**job_request("no-labels", {**uris, "labels": f"s3://{bucket}/nope/labels.json"}, team))
    sm.create_labeling_job(**job_request("no-template", {**uris, "template": f"s3://{bucket}/nope/t.html"}, team))
    clocked.engine.tick()

    d = _describe(clocked, "long-attr")
    assert d["LabelingJobStatus"] == "Failed" and "line 1" in d["FailureReason"] and "'note'" in d["FailureReason"]
    assert "20000" in d["FailureReason"].replace(",", "")
    d = _describe(clocked, "long-line")
    assert d["LabelingJobStatus"] == "Failed" and "100000" in d["FailureReason"].replace(",", "")
    for name, what in (("no-labels", "nope/labels.json"), ("no-template", "nope/t.html")):
        d = _describe(clocked, name)
        assert d["LabelingJobStatus"] == "Failed" and what in d["FailureReason"], (name, d.get("FailureReason"))

    d = _describe(clocked, "no-manifest")
    assert d["LabelingJobStatus"] == "Failed" and "nope/input.manifest" in d["FailureReason"]
    d = _describe(clocked, "bad-line")
    assert d["LabelingJobStatus"] == "Failed" and "line 2" in d["FailureReason"]
    d = _describe(clocked, "bad-ref")
    assert d["LabelingJobStatus"] == "Failed" and "source-ref" in d["FailureReason"]
    d = _describe(clocked, "all-missing")
    assert d["LabelingJobStatus"] == "Failed" and "img-0000.png" in d["FailureReason"]
    d = _describe(clocked, "missing-image")
    assert d["LabelingJobStatus"] == "InProgress"
    assert d["LabelCounters"]["FailedNonRetryableError"] == 1 and d["LabelCounters"]["Unlabeled"] == 2
    (w,) = _workers(clocked, 1)
    assert _work_all(w, "missing-image") == 2
    clocked.engine.tick()
    d = _describe(clocked, "missing-image")
    assert d["LabelingJobStatus"] == "Completed"
    lines = [json.loads(x) for x in _read(s3, d["LabelingJobOutput"]["OutputDatasetS3Uri"]).decode().splitlines()]
    assert "img-0001.png" in lines[1]["boxes-metadata"]["failure-reason"]
    assert "boxes" in lines[0] and "boxes" in lines[2]


def test_adjustment_job_status(clocked: Any, s3: Any, bucket: str) -> None:
    prior = {"annotations": [{"class_id": 0, "left": 1, "top": 2, "width": 10, "height": 10}],
             "image_size": [{"width": 64, "height": 48, "depth": 3}]}
    meta = {"objects": [{"confidence": 0.9}], "class-map": {"0": "drone"}, "type": "groundtruth/object-detection",
            "human-annotated": "yes", "creation-date": "2026-01-01T00:00:00.000000", "job-name": "labeling-job/first"}
    uris = put_inputs(s3, bucket, 0, extra_lines=[])
    s3.put_object(Bucket=bucket, Key="job/images/a.png", Body=b"x")
    s3.put_object(Bucket=bucket, Key="job/input.manifest", Body="".join(
        json.dumps({"source-ref": f"s3://{bucket}/job/images/a.png", "first": prior, "first-metadata": meta}) + "\n"
        for _ in range(2)).encode())
    _sm(clocked).create_labeling_job(**job_request("adjust", uris, clocked.default_workteam_arn,
                                                   task_type="AdjustmentBoundingBox", attr="adjusted"))
    clocked.engine.tick()
    (w,) = _workers(clocked, 1)
    t = w.next_task("adjust")
    assert t["input"]["manifestLine"]["first"] == prior
    same = {"label": "drone", "left": 1, "top": 2, "width": 10, "height": 10}
    w.post(t["submit_url"], {"boundingBox": {"boundingBoxes": [same], "inputImageProperties": {"width": 64, "height": 48}}})
    t = w.next_task("adjust")
    w.post(t["submit_url"], {"boundingBox": {"boundingBoxes": [dict(same, left=3)], "inputImageProperties":
                                             {"width": 64, "height": 48}, "initialValueModified": True}})
    clocked.engine.tick()
    d = _describe(clocked, "adjust")
    lines = [json.loads(x) for x in _read(s3, d["LabelingJobOutput"]["OutputDatasetS3Uri"]).decode().splitlines()]
    assert lines[0]["first"] == prior  # the earlier attribute stays
    assert lines[0]["adjusted-metadata"]["adjustment-status"] == "unadjusted"
    assert lines[1]["adjusted-metadata"]["adjustment-status"] == "adjusted"
    assert lines[1]["adjusted"]["annotations"][0]["left"] == 3


def test_verification_job_output(clocked: Any, s3: Any, bucket: str) -> None:
    """Built-in PRE-/ACS-VerificationBoundingBox: the majority label's index as the new attribute, with
    class-name, confidence, the verification type and the workers' comments (reference 3.2)."""
    prior = {"annotations": [{"class_id": 0, "left": 1, "top": 2, "width": 10, "height": 10}],
             "image_size": [{"width": 64, "height": 48, "depth": 3}]}
    meta = {"objects": [{"confidence": 0.9}], "class-map": {"0": "drone"}, "type": "groundtruth/object-detection",
            "human-annotated": "yes", "creation-date": "2026-01-01T00:00:00.000000", "job-name": "labeling-job/first"}
    uris = put_inputs(s3, bucket, 0, labels=["good", "bad"])
    s3.put_object(Bucket=bucket, Key="job/images/a.png", Body=b"x")
    s3.put_object(Bucket=bucket, Key="job/input.manifest", Body=(json.dumps(
        {"source-ref": f"s3://{bucket}/job/images/a.png", "first": prior, "first-metadata": meta}) + "\n").encode())
    _sm(clocked).create_labeling_job(**job_request("verify", uris, clocked.default_workteam_arn, workers=3,
                                                   task_type="VerificationBoundingBox", attr="checked"))
    clocked.engine.tick()
    workers = _workers(clocked, 3)
    votes = [{"label": "good"}, {"label": "bad", "comment": "the box misses the rotor"}, {"label": "good"}]
    for w, vote in zip(workers, votes, strict=True):
        t = w.next_task("verify")
        assert t["input"]["manifestLine"]["first"] == prior  # the boxes to verify reach the template
        assert w.post(t["submit_url"], {"verification": vote}).status_code == 200
    clocked.engine.tick()
    d = _describe(clocked, "verify")
    assert d["LabelingJobStatus"] == "Completed"
    (line,) = [json.loads(x) for x in _read(s3, d["LabelingJobOutput"]["OutputDatasetS3Uri"]).decode().splitlines()]
    assert line["first"] == prior and line["checked"] == "0"
    m = line["checked-metadata"]
    assert m["class-name"] == "good" and m["confidence"] == 0.67
    assert m["type"] == "groundtruth/label-verification"
    assert m["worker-feedback"] == [{"comment": "the box misses the rotor"}]


CALLS: list[dict[str, Any]] = []


def my_pre(event: dict[str, Any], context: Any) -> dict[str, Any]:
    CALLS.append(event)
    ref = event["dataObject"]["source-ref"]
    return {"taskInput": {"taskObject": ref, "labels": ["a", "b"], "note": "custom"},
            "isHumanAnnotationRequired": "false" if ref.endswith("0002.png") else "true"}


def my_acs(event: dict[str, Any], context: Any) -> list[dict[str, Any]]:
    import boto3

    CALLS.append(event)
    bucket, _, key = event["payload"]["s3Uri"][5:].partition("/")
    items = json.loads(boto3.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read())
    return [{"datasetObjectId": i["datasetObjectId"],
             "consolidatedAnnotation": {"content": {event["labelAttributeName"]: {
                 "workers": len(i["annotations"]), "source": i["dataObject"]["s3Uri"]}}}} for i in items]


def test_custom_lambdas_mapped_to_callables(moto_server: str, s3: Any, bucket: str, tmp_path: Any,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    from gtlabel.local import LocalService, ManualClock

    pre = "arn:aws:lambda:us-east-1:123456789012:function:my-pre"
    acs = "arn:aws:lambda:us-east-1:123456789012:function:my-acs"
    CALLS.clear()
    with LocalService(data_dir=tmp_path, s3_endpoint=moto_server, access_key="testing", secret_key="testing",
                      clock=ManualClock(), engine_interval=None,
                      lambdas={pre: f"{__name__}:my_pre", "my-acs": my_acs}) as svc:
        uris = put_inputs(s3, bucket, 3)
        req = job_request("custom", uris, svc.default_workteam_arn, PreHumanTaskLambdaArn=pre,
                          AnnotationConsolidationConfig={"AnnotationConsolidationLambdaArn": acs})
        svc.client("sagemaker").create_labeling_job(**req)
        svc.engine.tick()
        assert [c["dataObject"]["source-ref"][-12:] for c in CALLS] == ["img-0000.png", "img-0001.png", "img-0002.png"]
        assert CALLS[0]["version"] == "2018-10-16" and CALLS[0]["labelingJobArn"].endswith("labeling-job/custom")
        svc.add_worker("default", "cw", "pw-custom-1")
        w = Worker(svc.portal_url, "cw", "pw-custom-1")
        t = w.next_task("custom")
        assert t["input"]["note"] == "custom"
        assert _work_all(w, "custom") == 2  # object 2 needs no human
        svc.engine.tick()
        event = CALLS[-1]
        assert event["labelAttributeName"] == "boxes" and event["labelCategories"] == ["drone", "vehicle", "person", "building"]
        assert "/consolidation-request/iteration-1/" in event["payload"]["s3Uri"]
        d = svc.client("sagemaker").describe_labeling_job(LabelingJobName="custom")
        assert d["LabelingJobStatus"] == "Completed"
        assert d["LabelCounters"]["HumanLabeled"] == 2 and d["LabelCounters"]["MachineLabeled"] == 1
        lines = [json.loads(x) for x in _read(s3, d["LabelingJobOutput"]["OutputDatasetS3Uri"]).decode().splitlines()]
        assert lines[0]["boxes"] == {"workers": 1, "source": f"s3://{bucket}/job/images/img-0000.png"}
        assert lines[0]["boxes-metadata"]["type"] == "groundTruth/custom"
        assert lines[2]["boxes-metadata"]["human-annotated"] == "no"


def test_our_consolidation_lambda_in_a_custom_workflow(moto_server: str, s3: Any, bucket: str, tmp_path: Any) -> None:
    """A custom workflow whose ACS Lambda is gtlabel's own handler: per-box confidences and the class map come
    through the output manifest (inside the label, as a custom job has it) and are read back by the parser."""
    from gtlabel.local import LocalService, ManualClock
    from gtlabel.manifests import iter_output_manifest

    pre = "arn:aws:lambda:us-east-1:123456789012:function:my-pre"
    acs = "arn:aws:lambda:us-east-1:123456789012:function:gtlabel-consolidate"
    with LocalService(data_dir=tmp_path, s3_endpoint=moto_server, access_key="testing", secret_key="testing",
                      clock=ManualClock(), engine_interval=None,
                      lambdas={pre: f"{__name__}:my_pre", acs: "gtlabel.quality.consolidate:lambda_handler"}) as svc:
        uris = put_inputs(s3, bucket, 2)
        req = job_request("ours", uris, svc.default_workteam_arn, workers=2, PreHumanTaskLambdaArn=pre,
                          AnnotationConsolidationConfig={"AnnotationConsolidationLambdaArn": acs})
        svc.client("sagemaker").create_labeling_job(**req)
        svc.engine.tick()
        workers = _workers(svc, 2)
        shifted = {**BOX, "left": BOX["left"] + 2}
        for w, box in zip(workers, (BOX, shifted), strict=True):
            _work_all(w, "ours", [box])
        svc.engine.tick()
        d = svc.client("sagemaker").describe_labeling_job(LabelingJobName="ours")
        assert d["LabelingJobStatus"] == "Completed"
        recs = list(iter_output_manifest(d["LabelingJobOutput"]["OutputDatasetS3Uri"], label_attribute="boxes"))
    assert len(recs) == 2
    for rec in recs:
        (box,) = rec.boxes
        assert box.confidence is not None and 0.5 < box.confidence < 1.0  # two workers, IoU ~0.82
        assert rec.class_map == {1: "vehicle"}


def test_engine_state_survives_restart(moto_server: str, s3: Any, bucket: str, tmp_path: Any) -> None:
    from gtlabel.local import LocalService, ManualClock

    uris = put_inputs(s3, bucket, 2)
    kw = {"data_dir": tmp_path, "s3_endpoint": moto_server, "access_key": "testing", "secret_key": "testing",
          "engine_interval": None}
    with LocalService(clock=ManualClock(), **kw) as svc:
        svc.client("sagemaker").create_labeling_job(**job_request("resume", uris, svc.default_workteam_arn))
        svc.engine.tick()
        svc.add_worker("default", "rw", "pw-resume-1")
        w = Worker(svc.portal_url, "rw", "pw-resume-1")
        assert w.submit(w.next_task("resume"), [BOX]).status_code == 200
    with LocalService(clock=ManualClock(), **kw) as svc:
        w = Worker(svc.portal_url, "rw", "pw-resume-1")  # the account survived
        assert _work_all(w, "resume") == 1  # only the second object is left
        svc.engine.tick()
        d = svc.client("sagemaker").describe_labeling_job(LabelingJobName="resume")
        assert d["LabelingJobStatus"] == "Completed" and d["LabelCounters"]["HumanLabeled"] == 2


class _Crash(BaseException):
    """Stands for kill -9: not an Exception, so the engine cannot turn it into a failed job."""


def test_consolidation_rerun_after_a_crash_writes_each_answer_once(moto_server: str, s3: Any, bucket: str,
                                                                   tmp_path: Any, monkeypatch: pytest.MonkeyPatch
                                                                   ) -> None:
    """A crash after the worker-response files are stored but before the objects are marked done re-runs
    consolidation at the next start, later on the clock: the files are rewritten in place, not added again."""
    from gtlabel.local import LocalService, ManualClock
    from gtlabel.local.engine import Engine

    uris = put_inputs(s3, bucket, 2)
    kw = {"data_dir": tmp_path, "s3_endpoint": moto_server, "access_key": "testing", "secret_key": "testing",
          "engine_interval": None}
    with LocalService(clock=ManualClock(1_790_000_000.0), **kw) as svc:
        svc.client("sagemaker").create_labeling_job(**job_request("crashy", uris, svc.default_workteam_arn,
                                                                  workers=2))
        svc.engine.tick()
        for w in _workers(svc, 2):
            assert _work_all(w, "crashy") == 2

        def crash(*args: Any, **kwargs: Any) -> Any:
            raise _Crash

        with monkeypatch.context() as m:
            m.setattr(Engine, "_consolidate", crash)
            with pytest.raises(_Crash):
                svc.engine.tick()
    prefix = "job/output/crashy/annotations/worker-response/"
    first = _keys(s3, bucket, prefix)
    assert [k.split("/")[-2] for k in first] == ["0", "1"]  # stored before consolidation began
    with LocalService(clock=ManualClock(1_790_000_000.0 + 3600), **kw) as svc:
        svc.engine.tick()
        d = svc.client("sagemaker").describe_labeling_job(LabelingJobName="crashy")
        assert d["LabelingJobStatus"] == "Completed" and d["LabelCounters"]["HumanLabeled"] == 2
    assert _keys(s3, bucket, prefix) == first
    for k in first:
        answers = json.loads(_read(s3, f"s3://{bucket}/{k}"))["answers"]
        assert len(answers) == 2 and len({a["workerId"] for a in answers}) == 2


def test_restart_with_the_embedded_s3_fails_unfinished_jobs_clearly(tmp_path: Any) -> None:
    """The embedded S3 lives in memory: after a restart the jobs' images are gone, so unfinished jobs are failed
    with a reason that says so (instead of handing out tasks whose images no longer exist)."""
    from gtlabel.local import LocalService

    with LocalService(data_dir=tmp_path, engine_interval=None) as svc:
        s3 = svc.client("s3")
        s3.create_bucket(Bucket="embedded-restart")
        uris = put_inputs(s3, "embedded-restart", 2)
        svc.client("sagemaker").create_labeling_job(**job_request("before-restart", uris, svc.default_workteam_arn))
        svc.engine.tick()
        assert svc.client("sagemaker").describe_labeling_job(
            LabelingJobName="before-restart")["LabelingJobStatus"] == "InProgress"
    with LocalService(data_dir=tmp_path, engine_interval=None) as svc:
        d = svc.client("sagemaker").describe_labeling_job(LabelingJobName="before-restart")
        assert d["LabelingJobStatus"] == "Failed"
        assert "embedded, in-memory S3" in d["FailureReason"] and "--s3-endpoint" in d["FailureReason"]


def test_a_job_older_than_30_days_fails_with_its_results_so_far(clocked: Any, s3: Any, bucket: str) -> None:
    uris = put_inputs(s3, bucket, 2)
    _sm(clocked).create_labeling_job(**job_request("month", uris, clocked.default_workteam_arn, workers=1))
    clocked.engine.tick()
    (w,) = _workers(clocked, 1)
    assert w.submit(w.next_task("month"), [BOX]).status_code == 200  # one of two objects labeled
    clocked.clock.advance(30 * 24 * 3600 + 1)
    clocked.engine.tick()
    d = _sm(clocked).describe_labeling_job(LabelingJobName="month")
    assert d["LabelingJobStatus"] == "Failed" and "more than 30 days" in d["FailureReason"]
    out = d["LabelingJobOutput"]["OutputDatasetS3Uri"]
    lines = [json.loads(x) for x in _read(s3, out).decode().splitlines()]
    assert len(lines) == 2 and sum("boxes" in ln and "annotations" in ln["boxes"] for ln in lines) == 1


def test_max_human_labeled_counts_labels_not_releases(clocked: Any, s3: Any, bucket: str) -> None:
    """MaxHumanLabeledObjectCount stops the job after that many human-labeled objects: an object every worker
    declined (expired) does not use up the allowance, so another one is sent out instead."""
    uris = put_inputs(s3, bucket, 5)
    _sm(clocked).create_labeling_job(**{**job_request("cap3", uris, clocked.default_workteam_arn, workers=1,
                                                      MaxConcurrentTaskCount=2),
                                        "StoppingConditions": {"MaxHumanLabeledObjectCount": 3}})
    clocked.engine.tick()
    (w,) = _workers(clocked, 1)
    t0 = w.next_task("cap3")
    assert w.post(t0["decline_url"], {}).status_code == 200  # object 0: declined by its only worker -> expired
    assert w.submit(w.next_task("cap3"), [BOX]).status_code == 200  # object 1
    clocked.engine.tick()  # batch 1 done: 1 human-labeled, room for 2 more
    assert _work_all(w, "cap3") == 2  # objects 2 and 3
    clocked.engine.tick()
    d = _describe(clocked, "cap3")
    assert d["LabelingJobStatus"] == "Stopped"
    assert d["LabelCounters"]["HumanLabeled"] == 3 and d["LabelCounters"]["FailedNonRetryableError"] == 1
    assert d["LabelCounters"]["Unlabeled"] == 1


def test_public_workforce_answers_carry_no_private_identity(clocked: Any, s3: Any, bucket: str) -> None:
    """A public (Mechanical Turk) job goes to the local default team; its worker responses have no
    ``workerMetadata``: the documented format has it for private workforces only (reference 3.1)."""
    from gtlabel import facts

    uris = put_inputs(s3, bucket, 2)
    req = job_request("mturk-job", uris, facts.public_workteam_arn("us-east-1"),
                      PublicWorkforceTaskPrice={"AmountInUsd": {"Dollars": 0, "Cents": 3, "TenthFractionsOfACent": 6}})
    req["InputConfig"]["DataAttributes"] = {"ContentClassifiers": ["FreeOfPersonallyIdentifiableInformation"]}
    _sm(clocked).create_labeling_job(**req)
    clocked.engine.tick()
    (ann,) = _workers(clocked, 1)
    assert _work_all(ann, "mturk-job") == 2
    clocked.engine.tick()
    assert _describe(clocked, "mturk-job")["LabelingJobStatus"] == "Completed"
    wr = [k for k in _keys(s3, bucket, "job/output/mturk-job/") if "/annotations/worker-response/" in k]
    answers = [a for k in wr for a in json.loads(_read(s3, f"s3://{bucket}/{k}"))["answers"]]
    assert len(answers) == 2
    assert all(set(a) == {"workerId", "acceptanceTime", "submissionTime", "timeSpentInSeconds", "answerContent"}
               for a in answers)


def test_the_running_engine_takes_a_burst_of_wake_ups_in_few_ticks(tmp_path: Any) -> None:
    """Every stored answer wakes the engine; ticks still start at least MIN_TICK_GAP_S apart, and a wake-up
    after a quiet spell is answered by a tick at once (not after the interval)."""
    import itertools
    import threading
    import time

    from gtlabel.local import LocalService
    from gtlabel.local.engine import MIN_TICK_GAP_S

    svc = LocalService(data_dir=tmp_path / "svc", engine_interval=30.0)
    svc.start()
    try:
        engine = svc._engine
        assert engine is not None
        starts: list[float] = []
        ticked = threading.Event()
        real_tick = engine.tick

        def tick() -> None:
            starts.append(time.monotonic())
            ticked.set()
            real_tick()

        engine.tick = tick  # type: ignore[method-assign]
        time.sleep(2 * MIN_TICK_GAP_S)
        ticked.clear()
        woken = time.monotonic()
        svc.backend.on_change()  # type: ignore[misc]
        assert ticked.wait(5)  # the interval is 30 s: this tick came from the wake-up
        assert starts[-1] - woken < 5
        first = len(starts)
        burst_end = time.monotonic() + 0.5
        while time.monotonic() < burst_end:  # 200 wake-ups in half a second
            svc.backend.on_change()  # type: ignore[misc]
            time.sleep(0.0025)
        time.sleep(2 * MIN_TICK_GAP_S)
        burst = starts[first:]
        assert 1 <= len(burst) <= 0.5 / MIN_TICK_GAP_S + 2, len(burst)
        gaps = [b - a for a, b in itertools.pairwise(starts)]
        assert min(gaps) >= MIN_TICK_GAP_S * 0.99, gaps
    finally:
        svc.stop()

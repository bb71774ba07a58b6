"""Worker metrics: parsing, joining by source-ref (ids are not line numbers), agreement, gold, flags."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from _quality_sim import BAD, GOOD, LABELS, make_images, write_job

from gtlabel import storage
from gtlabel.errors import InputError
from gtlabel.manifests import iter_output_manifest
from gtlabel.quality.workers import (
    compute_worker_metrics,
    job_root,
    load_worker_answers,
    match_boxes,
    parse_consolidation_request,
    parse_worker_response,
    report_json,
    robust_z,
)


def test_parse_worker_response_and_time_fallback() -> None:
    doc = {"answers": [
        {"workerId": "w1", "acceptanceTime": "2020-12-28T18:59:15.191Z", "submissionTime": "2020-12-28T18:59:58.321Z",
         "answerContent": {"boundingBox": {"boundingBoxes": [{"label": "drone", "left": 1, "top": 2, "width": 3,
                                                              "height": 4}],
                                           "inputImageProperties": {"width": 100, "height": 80}}}},
        {"workerId": "w2", "timeSpentInSeconds": 12.5, "answerContent": {"boundingBox": {"boundingBoxes": []}}},
    ], "source-ref": "s3://b/x.jpg"}
    got = parse_worker_response(doc, object_id="9", iteration=2, file="f.json")
    assert [a.worker_id for a in got] == ["w1", "w2"]
    assert got[0].seconds == pytest.approx(43.13) and got[1].seconds == 12.5
    assert got[0].image_size == (100, 80) and got[0].boxes[0].label == "drone"
    assert all(a.source_ref == "s3://b/x.jpg" and a.object_id == "9" and a.iteration == 2 for a in got)


@pytest.mark.parametrize(("doc", "field"), [
    ({"answers": "x"}, "answers"),
    ({"answers": [{"answerContent": {}}]}, "answers[0].workerId"),
    ({"answers": [{"workerId": "w", "answerContent": {"boundingBox": {"boundingBoxes": [{"label": 3}]}}}]},
     "answers[0].answerContent.boundingBoxes[0].label"),
])
def test_parse_worker_response_errors(doc: Any, field: str) -> None:
    with pytest.raises(InputError) as ei:
        parse_worker_response(doc, object_id="1", iteration=1, file="s3://b/wr.json")
    assert ei.value.file == "s3://b/wr.json" and ei.value.field == field


def test_consolidation_request_mapping() -> None:
    items = [{"datasetObjectId": "17", "dataObject": {"s3Uri": "s3://b/a.jpg"}, "annotations": []},
             {"datasetObjectId": 3, "dataObject": {"content": "text"}}]
    assert parse_consolidation_request(items) == {"17": "s3://b/a.jpg"}
    with pytest.raises(InputError):
        parse_consolidation_request({"x": 1}, file="r.json")


def test_job_root() -> None:
    assert job_root("s3://b/out/job1/manifests/output/output.manifest") == "s3://b/out/job1"
    assert job_root("s3://b/out/job1/manifests/intermediate/3/output.manifest") == "s3://b/out/job1"
    assert job_root("/tmp/out/job1/") == "/tmp/out/job1"


def test_match_boxes_one_to_one_same_label() -> None:
    pred = [("drone", 0, 0, 10, 10), ("drone", 1, 0, 10, 10), ("person", 50, 50, 10, 10)]
    ref = [("drone", 0, 0, 10, 10), ("vehicle", 50, 50, 10, 10)]
    m = match_boxes(pred, ref)
    assert m == [(0, 0, 1.0)]


def test_robust_z() -> None:
    z = robust_z([0.8, 0.82, 0.79, 0.81, 0.2])
    assert z[-1] < -3.5 and all(abs(v) < 2 for v in z[:-1])
    assert robust_z([1.0, 1.0, 1.0]) == [0.0, 0.0, 0.0]


def _sim_job(root: str, n: int = 80) -> dict[str, Any]:
    return write_job(root, make_images(n, seed=11, bucket="imgs"), [*GOOD[:4], BAD], per_image=3, seed=5)


def test_bad_worker_is_flagged_on_s3(bucket: str) -> None:
    root = f"s3://{bucket}/output/sim-job"
    job = _sim_job(root)
    answers = load_worker_answers(job["output"])  # the output-manifest URI leads to the job root
    assert len(answers) == 80 * 3
    assert all(a.source_ref is not None for a in answers)
    # the join used the request files: each answer's boxes are what that worker drew for that image
    by_ref = {(a.source_ref, a.worker_id): a for a in answers}
    for ref, given in list(job["answers"].items())[:10]:
        for wid, ans in given:
            a = by_ref[(ref, wid)]
            assert [b.left for b in a.boxes] == [b["left"] for b in ans["boundingBoxes"]]
    records = list(iter_output_manifest(job["output"]))
    rep = compute_worker_metrics(answers, records)
    assert [w.worker_id for w in rep.flagged] == [BAD.worker_id]
    bad = rep.get(BAD.worker_id)
    good = [w for w in rep.workers if w.worker_id != BAD.worker_id]
    assert bad.score is not None and all(g.score is not None and g.score > bad.score + 0.2 for g in good)
    assert bad.reasons and "below" in bad.reasons[0]
    assert any("suspiciously fast" in n for n in bad.notes)
    for g in good:
        assert g.agreement.precision and g.agreement.precision > 0.8
        assert g.agreement.recall and g.agreement.recall > 0.8
        assert g.median_seconds and 10 < g.median_seconds < 60
        assert set(g.per_class) <= set(LABELS)
    assert sum(w.tasks for w in rep.workers) == 240
    assert set(rep.workers_per_image.values()) == {3}
    doc = json.loads(report_json(rep))
    assert doc["flagged"] == [BAD.worker_id]


def test_gold_standard_metrics(tmp_path: Path) -> None:
    job = _sim_job(str(tmp_path / "job"), n=60)
    answers = load_worker_answers(str(tmp_path / "job"))
    records = list(iter_output_manifest(job["output"]))
    truth = list(iter_output_manifest(job["truth"]))
    assert 10 <= len(truth) <= 20
    rep = compute_worker_metrics(answers, records, truth=truth)
    bad = rep.get(BAD.worker_id)
    assert bad.gold is not None and bad.gold_images > 0
    assert bad.flagged
    good = [w for w in rep.workers if w.worker_id != BAD.worker_id and w.gold is not None]
    assert good and all((w.gold_score or 0) > 0.6 for w in good)
    assert all((w.gold.recall or 0) > 0.8 for w in good if w.gold is not None)
    assert (bad.gold.recall or 0) < 0.75


def test_answers_not_resolvable_are_counted(tmp_path: Path) -> None:
    root = str(tmp_path / "job")
    storage.write_bytes(f"{root}/annotations/worker-response/iteration-1/42/2023-01-01_00:00:00.json", json.dumps(
        {"answers": [{"workerId": "w", "timeSpentInSeconds": 3,
                      "answerContent": {"boundingBox": {"boundingBoxes": []}}}]}).encode())
    answers = load_worker_answers(root)
    assert len(answers) == 1 and answers[0].source_ref is None
    rep = compute_worker_metrics(answers, [])
    assert rep.unresolved == 1 and rep.workers[0].tasks == 1 and not rep.flagged
    # a job with no worker responses at all is empty, not an error
    assert load_worker_answers(str(tmp_path / "nothing")) == []


def test_moderately_sloppy_worker_is_flagged_and_good_ones_are_not(tmp_path: Path) -> None:
    from _quality_sim import SimWorker

    sloppy = SimWorker("w-sloppy", noise=0.12, miss=0.2, extra=0.3, swap=0.05)
    job = write_job(str(tmp_path / "job"), make_images(80, seed=2), [*GOOD, sloppy], per_image=3, seed=2)
    rep = compute_worker_metrics(load_worker_answers(str(tmp_path / "job")), iter_output_manifest(job["output"]))
    assert [w.worker_id for w in rep.flagged] == ["w-sloppy"]
    assert all(abs(w.z_score or 0) < 2 for w in rep.workers if w.worker_id != "w-sloppy")

"""Consolidation: matching, averaging, quorum, confidence, errors, the simulated workforce and the Lambda."""

from __future__ import annotations

import json
import random
import statistics
from typing import Any

import pytest
from _quality_sim import BAD, GOOD, LABELS, answer, make_images, truth_error
from hypothesis import given, settings
from hypothesis import strategies as st

from gtlabel.errors import InputError, LabelError
from gtlabel.quality.consolidate import (
    consolidate_bounding_boxes,
    consolidate_many,
    default_quorum,
    lambda_handler,
)


def ans(*boxes: tuple[str, int, int, int, int], w: int = 640, h: int = 480) -> dict[str, Any]:
    return {"boundingBoxes": [{"label": lb, "left": x, "top": y, "width": bw, "height": bh}
                              for lb, x, y, bw, bh in boxes],
            "inputImageProperties": {"width": w, "height": h}}


def test_single_worker_keeps_boxes_with_zero_confidence() -> None:
    r = consolidate_bounding_boxes([ans(("drone", 10, 20, 30, 40), ("person", 100, 100, 20, 50))], LABELS)
    assert r.label["image_size"] == [{"width": 640, "height": 480, "depth": 3}]
    assert r.label["annotations"] == [
        {"class_id": 0, "left": 10, "top": 20, "width": 30, "height": 40},
        {"class_id": 2, "left": 100, "top": 100, "width": 20, "height": 50},
    ]
    assert r.objects == [{"confidence": 0.0}, {"confidence": 0.0}]
    assert r.class_map == {"0": "drone", "2": "person"}
    assert r.quorum == 1 and r.worker_count == 1


def test_three_workers_average_and_confidence() -> None:
    answers = [ans(("vehicle", 100, 100, 50, 50)), ans(("vehicle", 104, 100, 50, 50)),
               ans(("vehicle", 102, 106, 50, 44))]
    r = consolidate_bounding_boxes(answers, LABELS)
    assert r.label["annotations"] == [{"class_id": 1, "left": 102, "top": 102, "width": 50, "height": 48}]
    conf = r.objects[0]["confidence"]
    assert 0.85 < conf < 1.0
    assert sorted(r.members[0]) == [(0, 0), (1, 0), (2, 0)]
    # the same box with only 2 of 3 workers agreeing is less confident
    r2 = consolidate_bounding_boxes([answers[0], answers[1], ans()], LABELS)
    assert len(r2.label["annotations"]) == 1
    assert r2.objects[0]["confidence"] < conf * 0.7


def test_quorum_drops_lonely_boxes() -> None:
    answers = [ans(("drone", 10, 10, 40, 40), ("person", 300, 300, 30, 60)),
               ans(("drone", 12, 11, 40, 40)), ans(("drone", 9, 10, 41, 40))]
    r = consolidate_bounding_boxes(answers, LABELS)
    assert [a["class_id"] for a in r.label["annotations"]] == [0]
    r1 = consolidate_bounding_boxes(answers, LABELS, quorum=1)
    assert sorted(a["class_id"] for a in r1.label["annotations"]) == [0, 2]
    r3 = consolidate_bounding_boxes(answers, LABELS, quorum=3)
    assert len(r3.label["annotations"]) == 1
    r4 = consolidate_bounding_boxes(answers, LABELS, quorum=4)
    assert r4.label["annotations"] == [] and r4.class_map == {}
    assert [default_quorum(n) for n in (1, 2, 3, 4, 5)] == [1, 1, 2, 2, 3]


def test_labels_do_not_match_across_classes_and_threshold_applies() -> None:
    answers = [ans(("drone", 10, 10, 40, 40)), ans(("vehicle", 10, 10, 40, 40))]
    r = consolidate_bounding_boxes(answers, LABELS, quorum=2)
    assert r.label["annotations"] == []
    # IoU of these two is 30*40 / (2*1600 - 1200) = 0.6
    shifted = [ans(("drone", 10, 10, 40, 40)), ans(("drone", 20, 10, 40, 40))]
    assert len(consolidate_bounding_boxes(shifted, LABELS, quorum=2).label["annotations"]) == 1
    assert consolidate_bounding_boxes(shifted, LABELS, quorum=2, iou_threshold=0.65).label["annotations"] == []


def test_one_box_per_worker_per_cluster_and_no_chaining() -> None:
    # worker 0 drew the same object twice; only one of its boxes may join the group
    answers = [ans(("drone", 10, 10, 40, 40), ("drone", 11, 10, 40, 40)),
               ans(("drone", 10, 10, 40, 40)), ans(("drone", 10, 11, 40, 40))]
    r = consolidate_bounding_boxes(answers, LABELS)
    assert len(r.label["annotations"]) == 1
    assert len({w for w, _ in r.members[0]}) == len(r.members[0]) == 3
    # two adjacent objects, each drawn by three workers, stay two boxes
    a = ans(("person", 100, 100, 40, 40), ("person", 125, 100, 40, 40))
    r2 = consolidate_bounding_boxes([a, a, a], LABELS)
    assert [x["left"] for x in r2.label["annotations"]] == [100, 125]


def test_clip_and_wrapper_and_degenerate() -> None:
    wrapped = {"boundingBox": ans(("drone", -10, 470, 40, 40), ("drone", 5, 5, 0, 10))}
    r = consolidate_bounding_boxes([wrapped], LABELS)
    assert r.label["annotations"] == [{"class_id": 0, "left": 0, "top": 470, "width": 30, "height": 10}]


@pytest.mark.parametrize(
    ("answers", "field"),
    [
        ([ans(("tank", 1, 1, 5, 5))], "worker_answers[0].boundingBoxes[0].label"),
        ([ans(), {"boundingBoxes": [{"label": "drone", "left": "x", "top": 1, "width": 2, "height": 2}]}],
         "worker_answers[1].boundingBoxes[0].left"),
        ([{"boundingBoxes": "nope"}], "worker_answers[0].boundingBoxes"),
        ([{"boundingBoxes": [{"label": "drone", "left": 1, "top": 1, "width": float("nan"), "height": 2}]}],
         "worker_answers[0].boundingBoxes[0].width"),
    ],
)
def test_bad_answers_name_the_field(answers: list[dict[str, Any]], field: str) -> None:
    with pytest.raises(LabelError) as ei:
        consolidate_bounding_boxes(answers, LABELS)
    assert ei.value.field == field
    assert field in str(ei.value)


def test_bad_arguments() -> None:
    with pytest.raises(InputError, match="no worker answers"):
        consolidate_bounding_boxes([], LABELS)
    with pytest.raises(InputError, match="quorum"):
        consolidate_bounding_boxes([ans()], LABELS, quorum=0)
    with pytest.raises(InputError, match="iou_threshold"):
        consolidate_bounding_boxes([ans()], LABELS, iou_threshold=0)


def test_consolidated_boxes_are_closer_to_truth_than_single_workers() -> None:
    rng = random.Random(7)
    images = make_images(150, seed=3)
    workers = GOOD[:3]
    single: list[float] = []
    cons: list[float] = []
    for img in images:
        answers = [answer(w, img, rng) for w in workers]
        r = consolidate_bounding_boxes(answers, LABELS)
        pred = [{"label": LABELS[a["class_id"]], **{k: a[k] for k in ("left", "top", "width", "height")}}
                for a in r.label["annotations"]]
        cons.append(truth_error(pred, img.truth))
        single.extend(truth_error(a["boundingBoxes"], img.truth) for a in answers)
    assert statistics.mean(cons) < 0.8 * statistics.mean(single)
    # with a bad worker among three, the vote still beats the average single answer
    rng = random.Random(8)
    cons_bad: list[float] = []
    single_bad: list[float] = []
    for img in images:
        answers = [answer(w, img, rng) for w in (GOOD[0], GOOD[1], BAD)]
        r = consolidate_bounding_boxes(answers, LABELS)
        pred = [{"label": LABELS[a["class_id"]], **{k: a[k] for k in ("left", "top", "width", "height")}}
                for a in r.label["annotations"]]
        cons_bad.append(truth_error(pred, img.truth))
        single_bad.extend(truth_error(a["boundingBoxes"], img.truth) for a in answers)
    assert statistics.mean(cons_bad) < statistics.mean(single_bad)


_box = st.tuples(st.sampled_from(LABELS), st.integers(-50, 700), st.integers(-50, 500),
                 st.integers(-5, 300), st.integers(-5, 300))


@settings(max_examples=150, deadline=None)
@given(st.lists(st.lists(_box, max_size=6), min_size=1, max_size=5), st.floats(0.05, 1.0))
def test_properties(workers: list[list[tuple[str, int, int, int, int]]], thr: float) -> None:
    answers = [ans(*w) for w in workers]
    r = consolidate_bounding_boxes(answers, LABELS, iou_threshold=thr)
    anns = r.label["annotations"]
    assert len(anns) == len(r.objects) == len(r.members)
    assert len(anns) <= sum(len(w) for w in workers)
    for a, o, m in zip(anns, r.objects, r.members, strict=True):
        assert 0.0 <= o["confidence"] <= 1.0
        assert a["left"] >= 0 and a["top"] >= 0 and a["width"] > 0 and a["height"] > 0
        assert a["left"] + a["width"] <= 640 and a["top"] + a["height"] <= 480
        assert len(m) >= r.quorum and len({w for w, _ in m}) == len(m)
        assert all(LABELS[a["class_id"]] == workers[w][j][0] for w, j in m)
        if len(workers) == 1:
            assert o["confidence"] == 0.0
    assert set(r.class_map) == {str(a["class_id"]) for a in anns}
    # deterministic: the same input gives the same output
    assert consolidate_bounding_boxes(answers, LABELS, iou_threshold=thr).label == r.label


def test_consolidate_many_matches_single_calls() -> None:
    rng = random.Random(1)
    imgs = make_images(20, seed=1)
    items = [[answer(w, img, rng) for w in GOOD[:3]] for img in imgs]
    many = consolidate_many(items, LABELS)
    assert [m.label for m in many] == [consolidate_bounding_boxes(a, LABELS).label for a in items]


# ----------------------------------------------------------------------------------------- Lambda contract
def _payload(bucket: str, s3: Any) -> tuple[dict[str, Any], list[Any]]:
    a0 = {"boundingBox": ans(("drone", 10, 10, 40, 40), ("person", 200, 200, 30, 60))}
    a1 = {"boundingBox": ans(("drone", 12, 10, 40, 40))}
    a2 = {"boundingBox": ans(("drone", 10, 12, 40, 42))}
    s3.put_object(Bucket=bucket, Key="job/annotations/w2.json", Body=json.dumps(a2).encode())
    items = [
        {"datasetObjectId": "7", "dataObject": {"s3Uri": f"s3://{bucket}/img/a.jpg"},
         "annotations": [
             {"workerId": "private.us-east-1.w0", "annotationData": {"content": json.dumps(a0)}},
             {"workerId": "private.us-east-1.w1", "annotationData": {"content": json.dumps(a1)}},
             {"workerId": "private.us-east-1.w2", "annotationData": {"s3Uri": f"s3://{bucket}/job/annotations/w2.json"}},
         ]},
        {"datasetObjectId": "3", "dataObject": {"s3Uri": f"s3://{bucket}/img/b.jpg"}, "annotations": []},
        {"datasetObjectId": "12", "dataObject": {"s3Uri": f"s3://{bucket}/img/c.jpg"},
         "annotations": [{"workerId": "w0", "annotationData": {"content": json.dumps(
             {"boundingBox": ans(w=100, h=80)})}}]},
    ]
    s3.put_object(Bucket=bucket, Key="job/payload.json", Body=json.dumps(items).encode())
    event = {"version": "2018-10-16", "labelingJobArn": "arn:aws:sagemaker:us-east-1:123456789012:labeling-job/j",
             "labelCategories": LABELS, "labelAttributeName": "drones", "roleArn": "arn:aws:iam::123456789012:role/r",
             "payload": {"s3Uri": f"s3://{bucket}/job/payload.json"}}
    return event, items


def test_lambda_round_trip_on_s3(bucket: str, s3: Any) -> None:
    event, _ = _payload(bucket, s3)
    out = lambda_handler(event, None)
    json.dumps(out)  # the response is plain JSON
    assert [o["datasetObjectId"] for o in out] == ["7", "12"]  # the object nobody answered is left out
    label = out[0]["consolidatedAnnotation"]["content"]["drones"]
    assert label["image_size"] == [{"width": 640, "height": 480, "depth": 3}]
    assert label["annotations"] == [{"class_id": 0, "left": 11, "top": 11, "width": 40, "height": 40}]
    assert label["class-map"] == {"0": "drone"}
    assert 0.85 < label["objects"][0]["confidence"] <= 1.0
    empty = out[1]["consolidatedAnnotation"]["content"]["drones"]
    assert empty["annotations"] == [] and empty["image_size"][0]["width"] == 100


def test_lambda_env_knobs(bucket: str, s3: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    event, _ = _payload(bucket, s3)
    monkeypatch.setenv("GTLABEL_QUORUM", "1")
    out = lambda_handler(event, None)
    assert len(out[0]["consolidatedAnnotation"]["content"]["drones"]["annotations"]) == 2
    monkeypatch.setenv("GTLABEL_QUORUM", "2")
    monkeypatch.setenv("GTLABEL_IOU_THRESHOLD", "0.99")
    assert out and lambda_handler(event, None)[0]["consolidatedAnnotation"]["content"]["drones"]["annotations"] == []


def test_lambda_bad_input_names_file_and_field(bucket: str, s3: Any) -> None:
    event, items = _payload(bucket, s3)
    with pytest.raises(InputError, match="labelCategories"):
        lambda_handler({**event, "labelCategories": []}, None)
    with pytest.raises(InputError, match=r"payload\.s3Uri"):
        lambda_handler({**event, "payload": {}}, None)
    items[0]["annotations"][0]["annotationData"]["content"] = json.dumps(
        {"boundingBox": ans(("tank", 1, 1, 5, 5))})
    s3.put_object(Bucket=bucket, Key="job/bad.json", Body=json.dumps(items).encode())
    with pytest.raises(LabelError) as ei:
        lambda_handler({**event, "payload": {"s3Uri": f"s3://{bucket}/job/bad.json"}}, None)
    assert ei.value.file == f"s3://{bucket}/job/bad.json"
    assert ei.value.field == "[0].worker_answers[0].boundingBoxes[0].label"
    s3.put_object(Bucket=bucket, Key="job/notjson.json", Body=b"{oops")
    with pytest.raises(InputError, match="not valid JSON"):
        lambda_handler({**event, "payload": {"s3Uri": f"s3://{bucket}/job/notjson.json"}}, None)


@settings(max_examples=120, deadline=None)
@given(st.lists(st.lists(_box, max_size=12), min_size=1, max_size=6), st.floats(0.05, 1.0),
       st.one_of(st.none(), st.integers(1, 4)))
def test_python_and_numpy_engines_agree(workers: list[list[tuple[str, int, int, int, int]]], thr: float,
                                        quorum: int | None) -> None:
    import gtlabel.quality.consolidate as c

    answers = [ans(*w) for w in workers]
    old = c.SMALL_IMAGE_BOXES
    try:
        c.SMALL_IMAGE_BOXES = 10**9
        py = c.consolidate_bounding_boxes(answers, LABELS, iou_threshold=thr, quorum=quorum)
        c.SMALL_IMAGE_BOXES = -1
        nu = c.consolidate_bounding_boxes(answers, LABELS, iou_threshold=thr, quorum=quorum)
    finally:
        c.SMALL_IMAGE_BOXES = old
    assert (py.label, py.objects, py.members) == (nu.label, nu.objects, nu.members)


def test_engines_agree_on_crowded_images() -> None:
    import gtlabel.quality.consolidate as c

    rng = random.Random(4)
    imgs = make_images(30, seed=4)
    for img in imgs:
        img.truth = img.truth * 4  # up to 24 objects, overlapping duplicates: > SMALL_IMAGE_BOXES boxes
    items = [[answer(w, img, rng) for w in GOOD[:4]] for img in imgs]
    assert max(sum(len(a["boundingBoxes"]) for a in it) for it in items) > c.SMALL_IMAGE_BOXES
    old = c.SMALL_IMAGE_BOXES
    try:
        c.SMALL_IMAGE_BOXES = 10**9
        py = [c.consolidate_bounding_boxes(it, LABELS) for it in items]
        c.SMALL_IMAGE_BOXES = -1
        nu = [c.consolidate_bounding_boxes(it, LABELS) for it in items]
    finally:
        c.SMALL_IMAGE_BOXES = old
    assert [(r.label, r.objects, r.members) for r in py] == [(r.label, r.objects, r.members) for r in nu]

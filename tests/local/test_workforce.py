"""Simulated workforce: the pure noise model, truth loading, and N workers completing a real job on the local
service through the portal's HTTP endpoints (answers checked against what the service stored in S3)."""

from __future__ import annotations

import json
import math
import random
import statistics
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from gtlabel.errors import ConfigError, InputError
from gtlabel.local.workforce import (
    Box,
    NoiseConfig,
    TruthImage,
    WorkforceError,
    load_truth,
    noisy_answer,
    random_answer,
    simulate,
)

LABELS = ["drone", "vehicle", "person", "building"]


# ------------------------------------------------------------------------------------------------ pure model


def _match(truth: list[Box], drawn: list[dict[str, Any]], min_iou: float = 0.3) -> list[tuple[Box, dict[str, Any]]]:
    """Greedy IoU matching of drawn boxes to true boxes."""
    def iou(a: Box, b: dict[str, Any]) -> float:
        x0, y0 = max(a.left, b["left"]), max(a.top, b["top"])
        x1 = min(a.left + a.width, b["left"] + b["width"])
        y1 = min(a.top + a.height, b["top"] + b["height"])
        inter = max(0.0, x1 - x0) * max(0.0, y1 - y0)
        return inter / (a.width * a.height + b["width"] * b["height"] - inter)

    pairs = sorted(((iou(t, d), i, j) for i, t in enumerate(truth) for j, d in enumerate(drawn)), reverse=True)
    used_t: set[int] = set()
    used_d: set[int] = set()
    out = []
    for v, i, j in pairs:
        if v < min_iou:
            break
        if i not in used_t and j not in used_d:
            used_t.add(i)
            used_d.add(j)
            out.append((truth[i], drawn[j]))
    return out


def _grid_truth(n: int, rng: random.Random) -> list[Box]:
    """n non-overlapping boxes on a 4000x3000 image."""
    boxes = []
    for k in range(n):
        cx, cy = 200 + (k % 8) * 460, 200 + (k // 8) * 700
        boxes.append(Box(rng.choice(LABELS), cx, cy, rng.uniform(60, 300), rng.uniform(60, 300)))
    return boxes


def noise_stats(pairs: list[tuple[list[Box], dict[str, Any]]]) -> dict[str, float]:
    """Observed miss rate, wrong-label rate, relative edge sigma and false boxes per image."""
    n_true = n_matched = n_wrong = n_false = 0
    rel: list[float] = []
    for truth, answer in pairs:
        drawn = answer["boundingBoxes"]
        m = _match(truth, drawn)
        n_true += len(truth)
        n_matched += len(m)
        n_false += len(drawn) - len(m)
        for t, d in m:
            n_wrong += d["label"] != t.label
            rel.append((d["left"] - t.left) / t.width)
            rel.append((d["top"] - t.top) / t.height)
    return {"miss": 1 - n_matched / n_true, "wrong": n_wrong / max(1, n_matched),
            "sigma": statistics.pstdev(rel), "false_per_image": n_false / len(pairs)}


def test_no_noise_reproduces_the_truth_exactly() -> None:
    truth = [Box("drone", 10.4, 20.6, 30, 40), Box("vehicle", 3990, 2990, 10, 10)]
    ans = noisy_answer(truth, 4000, 3000, LABELS, NoiseConfig(0, 0, 0, 0, 0), random.Random(1))
    assert ans == {"boundingBoxes": [{"label": "drone", "left": 10, "top": 21, "width": 30, "height": 40},
                                     {"label": "vehicle", "left": 3990, "top": 2990, "width": 10, "height": 10}],
                   "inputImageProperties": {"width": 4000, "height": 3000}}
    assert all(isinstance(v, int) for b in ans["boundingBoxes"] for k, v in b.items() if k != "label")


def test_noise_statistics_match_the_configuration() -> None:
    rng = random.Random(7)
    cfg = NoiseConfig(jitter=0.05, jitter_px=0, miss_rate=0.15, false_box_rate=0.5, wrong_label_rate=0.2)
    pairs = []
    for _ in range(150):
        truth = _grid_truth(12, rng)
        pairs.append((truth, noisy_answer(truth, 4000, 3000, LABELS, cfg, rng)))
    s = noise_stats(pairs)
    assert abs(s["miss"] - 0.15) < 0.03, s
    assert abs(s["wrong"] - 0.2) < 0.03, s
    assert abs(s["sigma"] - 0.05) < 0.006, s
    assert abs(s["false_per_image"] - 0.5) < 0.15, s
    # every box stays inside the image
    for _, a in pairs:
        for b in a["boundingBoxes"]:
            assert b["left"] >= 0 and b["left"] + b["width"] <= 4000 and b["width"] >= 1
            assert b["top"] >= 0 and b["top"] + b["height"] <= 3000 and b["height"] >= 1


def test_skill_divides_the_errors() -> None:
    cfg = NoiseConfig(jitter=0.08, jitter_px=0, miss_rate=0.3, false_box_rate=1.0, wrong_label_rate=0.3)
    stats = {}
    for skill in (1.0, 3.0):
        rng = random.Random(3)
        eff = cfg.for_skill(skill)
        pairs = []
        for _ in range(120):
            truth = _grid_truth(10, rng)
            pairs.append((truth, noisy_answer(truth, 4000, 3000, LABELS, eff, rng)))
        stats[skill] = noise_stats(pairs)
    assert abs(stats[3.0]["miss"] - 0.1) < 0.03 and abs(stats[1.0]["miss"] - 0.3) < 0.04
    assert stats[3.0]["sigma"] < stats[1.0]["sigma"] / 2
    assert stats[3.0]["wrong"] < stats[1.0]["wrong"] / 2
    assert NoiseConfig(miss_rate=0.9).for_skill(0.5).miss_rate == 1.0


def test_random_answer_without_truth_is_plausible() -> None:
    rng = random.Random(0)
    answers = [random_answer(640, 480, ["a", "b"], rng) for _ in range(200)]
    counts = [len(a["boundingBoxes"]) for a in answers]
    assert min(counts) == 0 and max(counts) == 5
    for a in answers:
        assert a["inputImageProperties"] == {"width": 640, "height": 480}
        for b in a["boundingBoxes"]:
            assert b["label"] in ("a", "b") and b["left"] + b["width"] <= 640 and b["top"] + b["height"] <= 480


def test_bad_configuration_is_refused() -> None:
    with pytest.raises(ConfigError, match="miss_rate"):
        NoiseConfig(miss_rate=1.5)
    with pytest.raises(ConfigError, match="jitter"):
        NoiseConfig(jitter=-1)
    with pytest.raises(ConfigError, match="skill"):
        NoiseConfig().for_skill(0)
    with pytest.raises(ConfigError, match="distinct"):
        simulate("http://127.0.0.1:9", "j", [("a", "p"), ("a", "q")])
    with pytest.raises(ConfigError, match="at least one worker"):
        simulate("http://127.0.0.1:9", "j", [])


def test_load_truth_from_mapping_and_manifests(tmp_path: Path) -> None:
    m = load_truth({"s3://b/a.jpg": [{"label": "drone", "left": 1, "top": 2, "width": 3, "height": 4}]})
    assert m == {"s3://b/a.jpg": TruthImage((Box("drone", 1, 2, 3, 4),))}
    gt = tmp_path / "output.manifest"
    gt.write_text(json.dumps({
        "source-ref": "s3://b/x.jpg",
        "bb": {"image_size": [{"width": 640, "height": 480, "depth": 3}],
               "annotations": [{"class_id": 2, "left": 5, "top": 6, "width": 7, "height": 8}]},
        "bb-metadata": {"class-map": {"2": "person"}, "type": "groundtruth/object-detection"}}) + "\n"
        + json.dumps({"source-ref": "s3://b/y.jpg", "boxes": [{"label": "vehicle", "left": 0, "top": 0,
                                                               "width": 9, "height": 9}], "width": 100,
                      "height": 50}) + "\n")
    t = load_truth(gt)
    assert t["s3://b/x.jpg"] == TruthImage((Box("person", 5, 6, 7, 8),), 640, 480)
    assert t["s3://b/y.jpg"] == TruthImage((Box("vehicle", 0, 0, 9, 9),), 100, 50)
    bad = tmp_path / "bad.manifest"
    bad.write_text('{"source-ref": "s3://b/x.jpg", "boxes": []}\n{"source-ref": "s3://b/z.jpg", "boxes": '
                   '[{"label": "drone", "left": 1, "top": 1, "width": 0, "height": 3}]}\n')
    with pytest.raises(InputError) as exc:
        load_truth(bad)
    assert exc.value.line == 2 and "boxes[0]" in str(exc.value.field) and str(bad) in str(exc.value)
    notjson = tmp_path / "nj.manifest"
    notjson.write_text("{nope\n")
    with pytest.raises(InputError, match=r"line 1|:1"):
        load_truth(notjson)


# ------------------------------------------------------------------------------------------------ real service


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from harness import make_aerial_image

    from gtlabel.local import LocalService

    mp = pytest.MonkeyPatch()
    with LocalService(engine_interval=0.1) as svc:
        for k, v in svc.env().items():
            mp.setenv(k, v)
        from gtlabel import storage

        storage.reset_clients()
        s3 = svc.client("s3")
        s3.create_bucket(Bucket="drone-data")
        d = tmp_path_factory.mktemp("imgs")
        truth: dict[str, Any] = {}
        lines = []
        for i in range(6):
            img = make_aerial_image(d / f"img{i}.png", 800, 600, seed=10 + i)
            key = f"images/img{i}.png"
            s3.upload_file(str(img.path), "drone-data", key)
            truth[f"s3://drone-data/{key}"] = img.objects
            lines.append(json.dumps({"source-ref": f"s3://drone-data/{key}"}))
        s3.put_object(Bucket="drone-data", Key="input.manifest", Body="\n".join(lines).encode())
        team = svc.default_team
        for u in ("ann", "ben", "cat"):
            svc.add_worker(team, u, f"pw-{u}-123")
        svc.gt_truth = truth  # type: ignore[attr-defined]
        yield svc
        storage.reset_clients()
    mp.undo()


def _create_job(svc: Any, name: str, workers_per_object: int) -> None:
    from gtlabel.jobs.build import prepare_job
    from gtlabel.jobs.spec import JobSpec, PrivateWorkforce

    spec = JobSpec(name=name, input_manifest="s3://drone-data/input.manifest", output_path="s3://drone-data/out/",
                   labels=LABELS, workers_per_object=workers_per_object,
                   workforce=PrivateWorkforce(workteam=svc.default_workteam_arn))
    sm = svc.client("sagemaker")
    sm.create_labeling_job(**prepare_job(spec, sm_client=sm).request)


def _wait_done(svc: Any, name: str) -> dict[str, Any]:
    import time

    sm = svc.client("sagemaker")
    for _ in range(200):
        d: dict[str, Any] = sm.describe_labeling_job(LabelingJobName=name)
        if d["LabelingJobStatus"] in ("Completed", "Failed", "Stopped"):
            return d
        time.sleep(0.05)
    raise AssertionError(f"job {name} did not finish: {d['LabelingJobStatus']}")


def _stored_answers(svc: Any, name: str) -> list[dict[str, Any]]:
    s3 = svc.client("s3")
    prefix = f"out/{name}/annotations/worker-response/"
    out = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket="drone-data", Prefix=prefix):
        for obj in page.get("Contents", []):
            doc = json.loads(s3.get_object(Bucket="drone-data", Key=obj["Key"])["Body"].read())
            out += [a["answerContent"] for a in doc["answers"]]
    return out


def test_three_workers_complete_a_job_with_configured_noise(service: Any) -> None:
    truth = service.gt_truth
    cfg = NoiseConfig(jitter=0.06, jitter_px=0, miss_rate=0.2, false_box_rate=0.6, wrong_label_rate=0.25)
    _create_job(service, "sim-three", workers_per_object=3)
    res = simulate(service.portal_url, "sim-three",
                   [("ann", "pw-ann-123"), ("ben", "pw-ben-123", 1.0), ("cat", "pw-cat-123")],
                   truth=truth, noise=cfg, seed=5, idle_timeout_s=20)
    assert res.submitted == 18 and res.errors == 0 and res.declined == 0
    assert {k: w.submitted for k, w in res.per_worker.items()} == {"ann": 6, "ben": 6, "cat": 6}
    d = _wait_done(service, "sim-three")
    assert d["LabelingJobStatus"] == "Completed", d.get("FailureReason")
    assert d["LabelCounters"]["TotalLabeled"] == 6
    # what the service stored is exactly what the simulated workers sent, in Ground Truth's answer shape
    stored = _stored_answers(service, "sim-three")
    sent = [a["answer"] for a in res.answers]
    key = lambda a: json.dumps(a, sort_keys=True)  # noqa: E731
    assert sorted(map(key, stored)) == sorted(map(key, sent))
    # the noise in those answers is roughly the configured noise
    boxes = {ref: [Box(b["label"], b["left"], b["top"], b["width"], b["height"]) for b in objs]
             for ref, objs in truth.items()}
    s = noise_stats([(boxes[a["source_ref"]], a["answer"]["boundingBox"]) for a in res.answers])
    n = sum(len(boxes[a["source_ref"]]) for a in res.answers)
    assert n >= 200
    assert abs(s["miss"] - 0.2) < 0.08, s
    assert abs(s["wrong"] - 0.25) < 0.1, s
    assert 0.035 < s["sigma"] < 0.09, s
    assert s["false_per_image"] < 1.5, s
    # workers disagree (realistic), but every answer has the true image size
    assert len({key(a) for a in sent}) == len(sent)
    assert all(a["answer"]["boundingBox"]["inputImageProperties"] == {"width": 800, "height": 600} for a in res.answers)


def test_without_truth_max_tasks_and_declines(service: Any) -> None:
    _create_job(service, "sim-random", workers_per_object=1)
    res = simulate(service.portal_url, "sim-random", [("ann", "pw-ann-123")], max_tasks=2, idle_timeout_s=5)
    assert res.submitted == 2
    a = res.answers[0]["answer"]["boundingBox"]
    assert a["inputImageProperties"] == {"width": 800, "height": 600}  # read from the image itself
    assert all(b["label"] in LABELS for b in a["boundingBoxes"])
    res2 = simulate(service.portal_url, "sim-random", [("ben", "pw-ben-123")],
                    noise=NoiseConfig(decline_rate=1.0), max_tasks=1, idle_timeout_s=5)
    assert res2.declined == 1 and res2.submitted == 0
    res3 = simulate(service.portal_url, "sim-random", [("cat", "pw-cat-123")], idle_timeout_s=5)
    assert res3.submitted in (3, 4)  # the rest of the job (the service decides whether a declined object returns)
    d = _wait_done(service, "sim-random")
    c = d["LabelCounters"]
    assert c["TotalLabeled"] == 2 + res3.submitted
    assert c["TotalLabeled"] + c["FailedNonRetryableError"] + c["Unlabeled"] == 6


def test_wrong_password_and_foreign_team_are_refused(service: Any) -> None:
    with pytest.raises(WorkforceError, match=r"'ann'.*login failed"):
        simulate(service.portal_url, "sim-three", [("ann", "wrong-password")])
    service.client("sagemaker").create_workteam(
        WorkteamName="other-team", Description="another team",
        MemberDefinitions=[{"CognitoMemberDefinition": {"UserPool": "us-east-1_x", "UserGroup": "other",
                                                        "ClientId": "c"}}])
    service.add_worker("other-team", "outsider", "pw-outsider-1")
    with pytest.raises(WorkforceError, match=r"outsider.*next-task"):
        simulate(service.portal_url, "sim-three", [("outsider", "pw-outsider-1")], idle_timeout_s=2)


def test_cli_workers_simulate(service: Any, tmp_path: Path) -> None:
    from gtlabel.cli.workers import register

    truth_file = tmp_path / "truth.manifest"
    truth_file.write_text("".join(json.dumps({"source-ref": ref, "boxes": objs}) + "\n"
                                  for ref, objs in service.gt_truth.items()))
    _create_job(service, "sim-cli", workers_per_object=2)
    app = typer.Typer()
    register(app)
    app.command("noop", hidden=True)(lambda: None)  # keep "workers" a sub-command group
    r = CliRunner().invoke(app, ["workers", "simulate", "--portal", service.portal_url, "--job", "sim-cli",
                                 "--worker", "ann:pw-ann-123", "--worker", "ben:pw-ben-123:2.0",
                                 "--truth", str(truth_file), "--miss-rate", "0", "--json"])
    assert r.exit_code == 0, r.output
    summary = json.loads(r.stdout)
    assert summary["submitted"] == 12 and summary["per_worker"]["ann"]["submitted"] == 6
    assert summary["p99_ms"] is not None and summary["p99_ms"] > 0
    assert math.isclose(_wait_done(service, "sim-cli")["LabelCounters"]["TotalLabeled"], 6)
    bad = CliRunner().invoke(app, ["workers", "simulate", "--portal", service.portal_url, "--job", "sim-cli",
                                   "--workers", "2"])
    assert bad.exit_code == 3 and "--password" in bad.output


def test_adjustment_answers_start_from_the_initial_boxes(service: Any) -> None:
    """Without a truth manifest, an adjustment task's workers start from the boxes the task preloads (the earlier
    job's attribute in manifestLine), and their answers carry initialValueModified as the browser sends it."""
    from gtlabel.jobs.build import prepare_job
    from gtlabel.jobs.spec import JobSpec, PrivateWorkforce
    from gtlabel.local.workforce import NoiseConfig, simulate

    s3 = service.client("s3")
    lines, initial = [], {}
    for ref, objs in service.gt_truth.items():
        initial[ref] = sorted((o["label"], o["left"], o["top"], o["width"], o["height"]) for o in objs)
        present = sorted({o["label"] for o in objs})
        lines.append(json.dumps({"source-ref": ref, "boxes": {
            "image_size": [{"width": 800, "height": 600, "depth": 3}],
            "annotations": [{"class_id": LABELS.index(o["label"]), **{k: o[k] for k in ("left", "top", "width",
                                                                                          "height")}} for o in objs]},
            "boxes-metadata": {"objects": [{"confidence": 1.0} for _ in objs],
                               "class-map": {str(LABELS.index(c)): c for c in present},
                               "type": "groundtruth/object-detection", "human-annotated": "yes",
                               "creation-date": "2026-11-25T06:00:00.000000", "job-name": "labeling-job/earlier"}}))
    s3.put_object(Bucket="drone-data", Key="adjust.manifest", Body="\n".join(lines).encode())
    spec = JobSpec(name="sim-adjust", task_type="AdjustmentBoundingBox", prior_label_attribute_name="boxes",
                   input_manifest="s3://drone-data/adjust.manifest", output_path="s3://drone-data/out/",
                   labels=LABELS, workers_per_object=2, workforce=PrivateWorkforce(workteam=service.default_workteam_arn))
    sm = service.client("sagemaker")
    sm.create_labeling_job(**prepare_job(spec, sm_client=sm).request)
    exact = simulate(service.portal_url, "sim-adjust", [("ann", "pw-ann-123")], seed=4, idle_timeout_s=5,
                     noise=NoiseConfig(jitter=0, jitter_px=0, miss_rate=0, false_box_rate=0, wrong_label_rate=0))
    moved = simulate(service.portal_url, "sim-adjust", [("ben", "pw-ben-123")], seed=4, idle_timeout_s=5,
                     noise=NoiseConfig(jitter=0.05, jitter_px=2))
    assert exact.submitted == moved.submitted == 6
    for a in exact.answers:
        content = a["answer"]["boundingBox"]
        assert content["initialValueModified"] is False  # the preloaded boxes, unchanged
        assert sorted((b["label"], b["left"], b["top"], b["width"], b["height"])
                      for b in content["boundingBoxes"]) == initial[a["source_ref"]]
    for a in moved.answers:
        content = a["answer"]["boundingBox"]
        assert content["initialValueModified"] is True
        assert _match([Box(*b) for b in initial[a["source_ref"]]], content["boundingBoxes"], min_iou=0.5)
    d = _wait_done(service, "sim-adjust")
    assert d["LabelingJobStatus"] == "Completed"
    answers = _stored_answers(service, "sim-adjust")
    assert len(answers) == 12 and all("initialValueModified" in a["boundingBox"] for a in answers)


def test_cli_workers_simulate_answer_name(service: Any) -> None:
    from gtlabel.cli.workers import register

    _create_job(service, "sim-named", workers_per_object=1)
    app = typer.Typer()
    register(app)
    app.command("noop", hidden=True)(lambda: None)
    r = CliRunner().invoke(app, ["workers", "simulate", "--portal", service.portal_url, "--job", "sim-named",
                                 "--worker", "cat:pw-cat-123", "--answer-name", "droneBoxes", "--idle-timeout", "5",
                                 "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["submitted"] == 6
    assert _wait_done(service, "sim-named")["LabelingJobStatus"] == "Completed"
    answers = _stored_answers(service, "sim-named")
    assert len(answers) == 6 and all(list(a) == ["droneBoxes"] for a in answers)

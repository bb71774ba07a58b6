"""The seed facade (create_labeling_job_config, convert_ground_truth_to_yolo): the seed example on moto S3 + a
stubbed SageMaker client, and against the local service. The CLI's ``job build|validate`` and ``estimate``:
tests/cli/test_cli_jobs.py."""

from __future__ import annotations

import io
import json
import runpy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber
from jobs_helpers import ROLE, TEAM_ARN, team
from PIL import Image

from gtlabel import storage
from gtlabel.errors import BudgetExceeded, ConfigError, ValidationFailed
from gtlabel.ground_truth_utils import convert_ground_truth_to_yolo, create_labeling_job_config
from gtlabel.jobs.validate import validate_create_labeling_job

ROOT = Path(__file__).resolve().parents[2]
SEED_EXAMPLE = ROOT / "examples" / "seed_create_job.py"
LIST_TEAMS = {"MaxResults": 100, "SortBy": "Name"}


def _jpeg(w: int = 32, h: int = 24) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (w, h), (90, 120, 60)).save(buf, "JPEG")
    return buf.getvalue()


def _images(s3: Any, bucket: str, n: int, prefix: str = "raw/drone/") -> None:
    data = _jpeg()
    for i in range(n):
        s3.put_object(Bucket=bucket, Key=f"{prefix}flight-1/img-{i:03d}.jpg", Body=data)
    s3.put_object(Bucket=bucket, Key=f"{prefix}notes.txt", Body=b"not an image")


class _SageMaker:
    """Hands out one stubbed SageMaker client for every ``boto3.client("sagemaker", ...)`` call."""

    def __init__(self) -> None:
        self.client = boto3.client("sagemaker", region_name="us-east-1", aws_access_key_id="x",
                                   aws_secret_access_key="y")
        self.stub = Stubber(self.client)
        self.created: list[dict[str, Any]] = []
        self.client.meta.events.register("provide-client-params.sagemaker.CreateLabelingJob",
                                         lambda params, **_: self.created.append(dict(params)))


@pytest.fixture()
def fake_sm(monkeypatch: pytest.MonkeyPatch) -> Iterator[_SageMaker]:
    fake = _SageMaker()
    real = boto3.client

    def client(service: str, *args: Any, **kwargs: Any) -> Any:
        return fake.client if service == "sagemaker" else real(service, *args, **kwargs)

    monkeypatch.setattr(boto3, "client", client)
    with fake.stub:
        yield fake
        fake.stub.assert_no_pending_responses()


def _keys(s3: Any, bucket: str, prefix: str = "labels/") -> list[str]:
    return sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", []))


def test_seed_example_runs_unchanged(bucket: str, s3: Any, fake_sm: _SageMaker, role_env: str,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    _images(s3, bucket, 7)
    monkeypatch.setenv("GTLABEL_EXAMPLE_BUCKET", bucket)
    job = "drone-objects-2026-11-25"
    # the name is checked first, before anything is written under labels/<job>/
    fake_sm.stub.add_response("list_labeling_jobs", {"LabelingJobSummaryList": []},
                              {"NameContains": job, "MaxResults": 100})
    fake_sm.stub.add_response("list_workteams", {"Workteams": [team("drone-team", TEAM_ARN)]}, LIST_TEAMS)
    fake_sm.stub.add_response("create_labeling_job",
                              {"LabelingJobArn": f"arn:aws:sagemaker:us-east-1:123456789012:labeling-job/{job}"},
                              {k: ANY for k in ("LabelingJobName", "LabelAttributeName", "InputConfig",
                                                "OutputConfig", "RoleArn", "LabelCategoryConfigS3Uri",
                                                "HumanTaskConfig", "Tags")})
    runpy.run_path(str(SEED_EXAMPLE), run_name="__main__")

    (cfg,) = fake_sm.created
    base = f"labels/{job}/gtlabel/"
    assert _keys(s3, bucket) == [base + "input.manifest", base + "label-categories.json",
                                 base + "template.liquid.html"]
    lines = storage.read_text(f"s3://{bucket}/{base}input.manifest").splitlines()
    assert len(lines) == 7 and all(json.loads(x)["source-ref"].endswith(".jpg") for x in lines)
    assert cfg["InputConfig"]["DataSource"]["S3DataSource"]["ManifestS3Uri"] == f"s3://{bucket}/{base}input.manifest"
    assert cfg["RoleArn"] == ROLE and cfg["HumanTaskConfig"]["WorkteamArn"] == TEAM_ARN
    tags = {t["Key"]: t["Value"] for t in cfg["Tags"]}
    assert tags["gtlabel:max-budget-usd"] == "50" and tags["gtlabel:objects"] == "7"
    assert "Draw a tight box around every drone" in storage.read_text(f"s3://{bucket}/{base}template.liquid.html")
    assert validate_create_labeling_job(cfg, region="us-east-1",
                                        labels=["drone", "vehicle", "person", "building"]) == []


def test_budget_refusal_leaves_nothing(bucket: str, s3: Any, fake_sm: _SageMaker, role_env: str) -> None:
    _images(s3, bucket, 3)
    fake_sm.stub.add_response("list_labeling_jobs", {"LabelingJobSummaryList": []},
                              {"NameContains": "tiny-budget", "MaxResults": 100})
    fake_sm.stub.add_response("list_workteams", {"Workteams": [team("drone-team", TEAM_ARN)]}, LIST_TEAMS)
    with pytest.raises(BudgetExceeded) as ei:
        create_labeling_job_config("tiny-budget", f"s3://{bucket}/raw/drone/", f"s3://{bucket}/labels/",
                                   labels=["drone"], max_budget_usd=0.10)
    assert "$0.24" in str(ei.value)
    assert _keys(s3, bucket) == []  # the manifest built for the job was removed again


def test_public_workers_with_an_existing_manifest(bucket: str, s3: Any, fake_sm: _SageMaker,
                                                  role_env: str) -> None:
    body = "".join(json.dumps({"source-ref": f"s3://{bucket}/img/{i}.jpg"}) + "\n" for i in range(4))
    s3.put_object(Bucket=bucket, Key="in/input.manifest", Body=body.encode())
    fake_sm.stub.add_response("list_labeling_jobs", {"LabelingJobSummaryList": []},
                              {"NameContains": "mturk-1", "MaxResults": 100})
    cfg = create_labeling_job_config("mturk-1", f"s3://{bucket}/in/input.manifest", f"s3://{bucket}/labels/",
                                     worker_type="public", labels=["drone", "person"], public_price_usd=0.048,
                                     workers_per_object=3, max_budget_usd=5)
    htc = cfg["HumanTaskConfig"]
    assert htc["WorkteamArn"].endswith(":394669845002:workteam/public-crowd/default")
    assert htc["PublicWorkforceTaskPrice"]["AmountInUsd"] == {"Dollars": 0, "Cents": 4, "TenthFractionsOfACent": 8}
    assert cfg["InputConfig"]["DataAttributes"]["ContentClassifiers"] == ["FreeOfPersonallyIdentifiableInformation"]
    assert _keys(s3, bucket) == ["labels/mturk-1/gtlabel/label-categories.json",
                                 "labels/mturk-1/gtlabel/template.liquid.html"]
    with pytest.raises(ConfigError, match="allowed"):
        create_labeling_job_config("mturk-2", f"s3://{bucket}/in/input.manifest", f"s3://{bucket}/labels/",
                                   worker_type="public", public_price_usd=0.05, check_name=False)


def test_facade_errors(bucket: str, s3: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GTLABEL_ROLE_ARN", raising=False)
    _images(s3, bucket, 2)
    with pytest.raises(ConfigError, match="GTLABEL_ROLE_ARN"):
        create_labeling_job_config("j", f"s3://{bucket}/raw/drone/", f"s3://{bucket}/labels/")
    assert _keys(s3, bucket) == []
    monkeypatch.setenv("GTLABEL_ROLE_ARN", ROLE)
    with pytest.raises(ConfigError, match="worker_type"):
        create_labeling_job_config("j", f"s3://{bucket}/raw/drone/", f"s3://{bucket}/labels/", worker_type="crowd")
    with pytest.raises(ConfigError, match="s3://"):
        create_labeling_job_config("j", "/local/images", f"s3://{bucket}/labels/")
    with pytest.raises(ConfigError, match="no images"):
        create_labeling_job_config("j", f"s3://{bucket}/empty/", f"s3://{bucket}/labels/",
                                   workteam=TEAM_ARN, check_name=False)
    with pytest.raises(ValidationFailed, match="LabelAttributeName"):
        create_labeling_job_config("j", f"s3://{bucket}/raw/drone/", f"s3://{bucket}/labels/", workteam=TEAM_ARN,
                                   check_name=False, label_attribute_name="source-ref")
    assert _keys(s3, bucket) == []


def test_convert_facade_forwards_to_yolo(tmp_path: Path) -> None:
    img = tmp_path / "data" / "a.jpg"
    img.parent.mkdir()
    img.write_bytes(_jpeg(64, 48))
    manifest = tmp_path / "data" / "output.manifest"
    manifest.write_text(json.dumps({
        "source-ref": "a.jpg",
        "bb": {"image_size": [{"width": 64, "height": 48, "depth": 3}],
               "annotations": [{"class_id": 0, "left": 8, "top": 8, "width": 16, "height": 12}]},
        "bb-metadata": {"class-map": {"0": "drone"}, "type": "groundtruth/object-detection",
                        "human-annotated": "yes"}}) + "\n")
    report = convert_ground_truth_to_yolo(str(manifest), str(tmp_path / "ds"), ["drone"], progress=False)
    assert report.boxes_written == 1 and (tmp_path / "ds" / "data.yaml").is_file()


def test_seed_example_against_the_local_service(moto_server: str, s3_endpoint: str, bucket: str, s3: Any,
                                                tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same unmodified example, now with real SageMaker calls answered by ``gtlabel serve``'s service."""
    local = pytest.importorskip("gtlabel.local")
    _images(s3, bucket, 5)
    with local.LocalService(data_dir=tmp_path / "svc", s3_endpoint=moto_server, access_key="testing",
                            secret_key="testing", engine_interval=None) as svc:
        for key, value in svc.env().items():
            monkeypatch.setenv(key, value)
        monkeypatch.setenv("GTLABEL_EXAMPLE_BUCKET", bucket)
        storage.reset_clients()
        runpy.run_path(str(SEED_EXAMPLE), run_name="__main__")
        sm = svc.client("sagemaker")
        job = sm.describe_labeling_job(LabelingJobName="drone-objects-2026-11-25")
        assert job["LabelCategoryConfigS3Uri"].endswith("/drone-objects-2026-11-25/gtlabel/label-categories.json")
        assert {t["Key"]: t["Value"] for t in job["Tags"]}["gtlabel:max-budget-usd"] == "50"
        # a second run: the name is taken (case-insensitively) and nothing new is written
        before = _keys(s3, bucket)
        monkeypatch.setenv("GTLABEL_EXAMPLE_JOB_NAME", "DRONE-objects-2026-11-25")
        from gtlabel.errors import JobNameInUse

        with pytest.raises(JobNameInUse):
            runpy.run_path(str(SEED_EXAMPLE), run_name="__main__")
        assert _keys(s3, bucket) == before
        # the very same name: the running job's own input manifest is neither rewritten nor deleted
        manifest_key = "labels/drone-objects-2026-11-25/gtlabel/input.manifest"
        original = s3.get_object(Bucket=bucket, Key=manifest_key)
        monkeypatch.setenv("GTLABEL_EXAMPLE_JOB_NAME", "drone-objects-2026-11-25")
        _images(s3, bucket, 7)  # more images now: a rebuilt manifest would differ
        with pytest.raises(JobNameInUse):
            runpy.run_path(str(SEED_EXAMPLE), run_name="__main__")
        again = s3.get_object(Bucket=bucket, Key=manifest_key)
        assert again["ETag"] == original["ETag"] and again["LastModified"] == original["LastModified"]
    storage.reset_clients()


def _closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # nothing listens there once the socket is closed


def test_building_a_config_where_sagemaker_cannot_be_reached(bucket: str, s3: Any, role_env: str,
                                                             monkeypatch: pytest.MonkeyPatch,
                                                             caplog: pytest.LogCaptureFixture) -> None:
    """Offline: the name check warns that it could not ask and goes on (CreateLabelingJob checks the name again);
    a workteam that needs a lookup fails with our error saying to pass the ARN. No botocore error escapes."""
    import logging

    monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER", f"http://127.0.0.1:{_closed_port()}")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")  # one connection refused is enough; no retry back-off
    _images(s3, bucket, 3)
    with caplog.at_level(logging.WARNING, logger="gtlabel"):
        cfg = create_labeling_job_config("offline-job", f"s3://{bucket}/raw/drone/", f"s3://{bucket}/labels/",
                                         workteam=TEAM_ARN, labels=["drone"])
    assert cfg["LabelingJobName"] == "offline-job" and cfg["HumanTaskConfig"]["WorkteamArn"] == TEAM_ARN
    warned = [r.getMessage() for r in caplog.records if "could not check" in r.getMessage()]
    assert warned and "'offline-job'" in warned[0] and "check_name=False" in warned[0]
    with pytest.raises(ConfigError, match=r"could not look up the private workteam 'labelers'.*pass the workteam "
                                          r"ARN"):
        create_labeling_job_config("offline-job-2", f"s3://{bucket}/raw/drone/", f"s3://{bucket}/labels/",
                                   workteam="labelers", check_name=False)


def test_public_workers_without_a_price_name_the_parameter_and_the_prices(bucket: str, s3: Any,
                                                                          role_env: str) -> None:
    body = json.dumps({"source-ref": f"s3://{bucket}/img/0.jpg"}) + "\n"
    s3.put_object(Bucket=bucket, Key="in/input.manifest", Body=body.encode())
    for price, expected in ((None, r"needs a task price in USD \(public_price_usd=\.\.\.\); allowed for "
                                   r"BoundingBox: 0\.036, 0\.048, 0\.060, .*, 1\.200$"),
                            (0.05, r"public_price_usd \$0\.05 is not allowed for BoundingBox; allowed USD values: "
                                   r"0\.036, 0\.048")):
        with pytest.raises(ConfigError, match=expected):
            create_labeling_job_config("mturk-3", f"s3://{bucket}/in/input.manifest", f"s3://{bucket}/labels/",
                                       worker_type="public", public_price_usd=price, check_name=False)
    assert _keys(s3, bucket) == []  # nothing written for a job that cannot be built
    # a spec file without the price says the same, with the allowed prices
    from gtlabel.errors import InputError
    from gtlabel.jobs.spec import JobSpec

    with pytest.raises(InputError, match=r"workforce\.public: .*needs price_usd \(USD per task\); allowed for "
                                         r"bounding boxes: 0\.036, 0\.048"):
        JobSpec.from_dict({"input_manifest": f"s3://{bucket}/in/input.manifest", "output_path": f"s3://{bucket}/o/",
                           "labels": ["drone"], "workforce": {"type": "public"}})

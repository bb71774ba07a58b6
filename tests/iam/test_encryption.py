"""Encryption wired through: every object gtlabel.storage writes to S3 carries SSE-KMS with the configured key
(on the moto server), and the job builder maps the key to OutputConfig.KmsKeyId / VolumeKmsKeyId."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from gtlabel import storage


@pytest.fixture()
def kms_key(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    arn = boto3.client("kms", endpoint_url=s3_endpoint, region_name="us-east-1").create_key()["KeyMetadata"]["Arn"]
    monkeypatch.setenv("GTLABEL_KMS_KEY_ID", arn)
    storage.reset_clients()
    yield str(arn)
    monkeypatch.delenv("GTLABEL_KMS_KEY_ID")


def _sse(s3: Any, bucket: str, key: str) -> tuple[str | None, str | None]:
    h = s3.head_object(Bucket=bucket, Key=key)
    return h.get("ServerSideEncryption"), h.get("SSEKMSKeyId")


def test_every_storage_write_is_sse_kms_with_the_key(bucket: str, s3: Any, kms_key: str, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    base = f"s3://{bucket}"
    storage.write_bytes(f"{base}/a/one.json", b"{}")
    storage.write_text(f"{base}/a/two.txt", "hello")
    with storage.atomic_writer(f"{base}/a/three.bin", content_type="application/octet-stream") as fh:
        fh.write(b"x" * 1000)
    # a multipart upload (threshold lowered to its minimum, 5 MiB)
    monkeypatch.setenv("GTLABEL_MULTIPART_THRESHOLD_MB", "5")
    big = os.urandom(6 << 20)
    with storage.atomic_writer(f"{base}/a/big.bin") as fh:
        fh.write(big)
    assert "-" in str(s3.head_object(Bucket=bucket, Key="a/big.bin")["ETag"])  # really multipart
    # S3 -> S3 server-side copies, local -> S3 uploads, and the concurrent copier
    storage.copy(f"{base}/a/one.json", f"{base}/b/one.json")
    local = tmp_path / "local.jpg"
    local.write_bytes(b"\xff\xd8 jpeg")
    storage.copy(str(local), f"{base}/b/local.jpg")
    n = storage.copy_many([(f"{base}/a/two.txt", f"{base}/c/two.txt"), (str(local), f"{base}/c/local.jpg"),
                           (f"{base}/a/big.bin", f"{base}/c/big.bin")])
    assert n == 3
    keys = ["a/one.json", "a/two.txt", "a/three.bin", "a/big.bin", "b/one.json", "b/local.jpg",
            "c/two.txt", "c/local.jpg", "c/big.bin"]
    listed = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"])
    assert listed == sorted(keys)
    for key in keys:
        assert _sse(s3, bucket, key) == ("aws:kms", kms_key), key
    assert storage.read_bytes(f"{base}/a/big.bin") == big
    # (reading the server-side copy of a multipart object back trips botocore's checksum check on moto 5.2.5,
    # which keeps the source's composite checksum on the copy; its size is checked instead)
    assert s3.head_object(Bucket=bucket, Key="c/big.bin")["ContentLength"] == len(big)


def test_without_a_key_nothing_asks_for_sse_kms(bucket: str, s3: Any, s3_endpoint: str) -> None:
    storage.write_bytes(f"s3://{bucket}/plain.txt", b"x")
    storage.copy(f"s3://{bucket}/plain.txt", f"s3://{bucket}/plain-copy.txt")
    for key in ("plain.txt", "plain-copy.txt"):
        assert _sse(s3, bucket, key)[0] != "aws:kms"


def test_job_builder_maps_the_key_to_output_and_volume() -> None:
    """jobs.build (another area) puts the key in OutputConfig.KmsKeyId and, with automated labeling, in
    LabelingJobResourceConfig.VolumeKmsKeyId: the condition keys sagemaker:OutputKmsKey / VolumeKmsKey that
    the data scientist's guardrail (DenyLabelingJobsWithoutProjectKey) checks."""
    from gtlabel import iam
    from gtlabel.jobs.build import build_request
    from gtlabel.jobs.spec import JobSpec
    from gtlabel.jobs.validate import validate_params
    from gtlabel.jobs.workforce import ResolvedWorkforce

    key = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    team = ResolvedWorkforce(kind="private", workteam_arn="arn:aws:sagemaker:us-east-1:123456789012:workteam/private-crowd/drones")
    common: dict[str, Any] = {
        "job_name": "drones-1", "region": "us-east-1", "role_arn": "arn:aws:iam::123456789012:role/gt-exec",
        "workforce": team, "label_config_uri": "s3://bkt/proj/in/labels.json",
        "template_uri": "s3://bkt/proj/in/template.liquid.html",
    }
    spec = JobSpec(input_manifest="s3://bkt/proj/in/input.manifest", output_path="s3://bkt/proj/out",
                   labels=["car", "person"], kms_key_id=key, automated_labeling=True)
    req: dict[str, Any] = dict(build_request(spec, **common))
    assert req["OutputConfig"] == {"S3OutputPath": "s3://bkt/proj/out", "KmsKeyId": key}
    assert req["LabelingJobAlgorithmsConfig"]["LabelingJobResourceConfig"] == {"VolumeKmsKeyId": key}
    assert validate_params("CreateLabelingJob", req) == []
    # the guardrail's condition value is exactly what the request carries
    res = iam.project_resources(bucket="bkt", input_prefixes=["proj/in"], output_prefix="proj/out", kms_key_arn=key,
                                execution_role_arn=common["role_arn"])
    guard = next(s for s in iam.data_scientist_guardrails(res) if s["Sid"] == "DenyLabelingJobsWithoutProjectKey")
    assert guard["Condition"]["ArnNotEquals"]["sagemaker:OutputKmsKey"] == req["OutputConfig"]["KmsKeyId"]
    # without a key: no KmsKeyId, no volume key
    plain: dict[str, Any] = dict(build_request(spec.model_copy(update={"kms_key_id": None}), **common))
    assert "KmsKeyId" not in plain["OutputConfig"]
    assert "LabelingJobResourceConfig" not in plain["LabelingJobAlgorithmsConfig"]


def _build_job(bucket: str, s3: Any, name: str, **kw: Any) -> Any:
    from gtlabel.ground_truth_utils import build_labeling_job

    s3.put_object(Bucket=bucket, Key="raw/a.jpg", Body=b"\xff\xd8 jpeg")
    return build_labeling_job(name, f"s3://{bucket}/raw/", f"s3://{bucket}/labels/", labels=["drone"],
                              role_arn="arn:aws:iam::123456789012:role/gt-exec", region="us-east-1",
                              workteam="arn:aws:sagemaker:us-east-1:123456789012:workteam/private-crowd/t",
                              check_name=False, **kw)


def test_one_key_for_the_job_and_the_files_written_next_to_it(bucket: str, s3: Any, s3_endpoint: str,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """GTLABEL_KMS_KEY_ID alone also becomes the job's OutputConfig.KmsKeyId (the guardrail requires it), and a
    key given to the builder alone also encrypts the manifest, label categories and template it uploads (the
    bucket policy requires SSE-KMS on every upload)."""
    kms = boto3.client("kms", endpoint_url=s3_endpoint, region_name="us-east-1")
    env_key = kms.create_key()["KeyMetadata"]["Arn"]
    job_key = kms.create_key()["KeyMetadata"]["Arn"]
    files = ("input.manifest", "label-categories.json", "template.liquid.html")

    monkeypatch.setenv("GTLABEL_KMS_KEY_ID", env_key)
    built = _build_job(bucket, s3, "env-key-only")
    assert built.request["OutputConfig"]["KmsKeyId"] == env_key
    for f in files:
        assert _sse(s3, bucket, f"labels/env-key-only/gtlabel/{f}") == ("aws:kms", env_key), f

    monkeypatch.delenv("GTLABEL_KMS_KEY_ID")
    built = _build_job(bucket, s3, "job-key-only", kms_key_id=job_key)
    assert built.request["OutputConfig"]["KmsKeyId"] == job_key
    for f in files:
        assert _sse(s3, bucket, f"labels/job-key-only/gtlabel/{f}") == ("aws:kms", job_key), f
    # outside the job build, writes are back to the configured key (none here)
    storage.write_bytes(f"s3://{bucket}/after.txt", b"x")
    assert _sse(s3, bucket, "after.txt")[0] != "aws:kms"

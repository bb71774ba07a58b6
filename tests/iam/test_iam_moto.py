"""Proof, not lint: the generated policies on moto with IAM enforcement on.

An IAM user holding exactly the generated *grants* document runs the workflow's S3, SNS and KMS calls
(through gtlabel.storage where the package makes them) and every one succeeds; calls outside the project
(another bucket, another prefix, a delete, another topic, another key) are denied.

What moto 5.2.5 evaluates, and what it does not (details in docs/SECURITY.md):
- evaluated: Action and Resource of identity policies (S3 against bucket/object ARNs; SNS and KMS against
  the topic/key ARN thanks to the small hook in moto_iam_server.py), explicit Deny, implicit deny;
- NOT evaluated: any Condition. moto passes no request context to the evaluator, so an Allow with a
  condition acts as an unconditional Allow (``s3:prefix`` on ListBucket, ``iam:PassedToService``) and a
  Deny with a condition acts as an unconditional Deny (TLS-only, SSE-KMS required, public workforce);
  that is why the guardrails are a separate document and only the grants are attached here;
- NOT evaluated: bucket policies, KMS key policies, SNS topic policies; CopyObject's read of the source;
- NOT available: SageMaker labeling-job operations (moto has none), so sagemaker:* and iam:PassRole are
  covered by parliament and the unit tests only.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from gtlabel import iam, storage

BUCKET = "gtlabel-proof-data"
OTHER_BUCKET = "someone-elses-bucket"
IN, OUT = "proj/in", "proj/out"


def _denied(fn: Callable[[], Any]) -> str:
    with pytest.raises(ClientError) as ei:
        fn()
    code = str(ei.value.response["Error"]["Code"])
    assert code in {"AccessDenied", "AccessDeniedException", "403"}, ei.value
    return code


@pytest.fixture(scope="module")
def world(enforcing_moto: Any) -> dict[str, Any]:
    """Resources and users, created with the unauthenticated budget; then enforcement starts."""
    m = enforcing_moto
    s3, kms, sns, iam_c = (m.client(s) for s in ("s3", "kms", "sns", "iam"))
    for b in (BUCKET, OTHER_BUCKET):
        s3.create_bucket(Bucket=b)
    key = kms.create_key(Description="project")["KeyMetadata"]["Arn"]
    other_key = kms.create_key(Description="other")["KeyMetadata"]["Arn"]
    topic = sns.create_topic(Name="gtlabel-budget")["TopicArn"]
    other_topic = sns.create_topic(Name="other-alerts")["TopicArn"]
    sse = {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": key}
    s3.put_object(Bucket=BUCKET, Key=f"{IN}/images/a.jpg", Body=b"jpeg-a", **sse)
    s3.put_object(Bucket=BUCKET, Key=f"{OUT}/manifests/output/output.manifest", Body=b"{}\n", **sse)
    s3.put_object(Bucket=BUCKET, Key="secret/hr.csv", Body=b"salaries", **sse)
    s3.put_object(Bucket=OTHER_BUCKET, Key=f"{IN}/b.jpg", Body=b"jpeg-b")

    res = iam.project_resources(
        bucket=BUCKET, input_prefixes=[IN], output_prefix=OUT, kms_key_arn=key, topic_arn=topic,
        lambda_arns=["arn:aws:lambda:us-east-1:123456789012:function:gt-post"],
        execution_role_arn="arn:aws:iam::123456789012:role/gt-exec", forbid_public_workforce=True,
    )
    users: dict[str, dict[str, str]] = {}
    for name, role, part in (("data-scientist", "data-scientist", "grants"),
                             ("gt-exec", "execution-role", "grants"),
                             ("guarded", "data-scientist", "all")):
        iam_c.create_user(UserName=name)
        iam_c.put_user_policy(UserName=name, PolicyName="gtlabel",
                              PolicyDocument=json.dumps(iam.policy_document(role, res, part)))  # type: ignore[arg-type]
        ak = iam_c.create_access_key(UserName=name)["AccessKey"]
        users[name] = {"key": ak["AccessKeyId"], "secret": ak["SecretAccessKey"]}
    m.enforce_from_now()
    return {"m": m, "key": key, "other_key": other_key, "topic": topic, "other_topic": other_topic,
            "users": users, "res": res}


def _as(world: dict[str, Any], user: str, service: str) -> Any:
    u = world["users"][user]
    return world["m"].client(service, u["key"], u["secret"])


@pytest.fixture()
def as_data_scientist(world: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """gtlabel.storage running with the data scientist's keys and the project key configured."""
    u = world["users"]["data-scientist"]
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", world["m"].endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", u["key"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", u["secret"])
    monkeypatch.setenv("GTLABEL_KMS_KEY_ID", world["key"])
    storage.reset_clients()
    yield
    storage.reset_clients()
    monkeypatch.delenv("GTLABEL_KMS_KEY_ID")


def test_enforcement_is_on(world: dict[str, Any]) -> None:
    # the default "testing" keys belong to no IAM user once the unauthenticated budget is spent
    with pytest.raises(ClientError) as ei:
        world["m"].client("s3").list_buckets()
    assert ei.value.response["Error"]["Code"] == "InvalidAccessKeyId"


def test_data_scientist_workflow_calls_succeed(world: dict[str, Any], as_data_scientist: None) -> None:
    base = f"s3://{BUCKET}"
    # package calls: atomic writes, reads, heads, listings, server-side copies, all SSE-KMS
    storage.write_bytes(f"{base}/{IN}/manifests/input.manifest", b'{"source-ref": "s3://x/a.jpg"}\n')
    with storage.atomic_writer(f"{base}/{OUT}/datasets/v1/data.yaml") as fh:
        fh.write(b"names: {0: car}\n")
    assert storage.read_bytes(f"{base}/{IN}/images/a.jpg") == b"jpeg-a"
    assert storage.read_bytes(f"{base}/{OUT}/manifests/output/output.manifest") == b"{}\n"
    assert storage.head(f"{base}/{IN}/images/a.jpg").size == 6
    assert [o.uri for o in storage.list_objects(f"{base}/{IN}/images/")] == [f"{base}/{IN}/images/a.jpg"]
    assert any(o.uri.endswith("data.yaml") for o in storage.list_objects(f"{base}/{OUT}/"))
    storage.copy(f"{base}/{IN}/images/a.jpg", f"{base}/{OUT}/datasets/v1/images/train/a.jpg")
    assert storage.copy_many([(f"{base}/{IN}/images/a.jpg", f"{base}/{OUT}/datasets/v1/images/val/a.jpg")]) == 1
    # the workflow's own entry points, as this user: input manifest, the job's files, a dataset on S3
    from gtlabel.convert import convert_ground_truth_to_yolo
    from gtlabel.ground_truth_utils import build_labeling_job
    from gtlabel.jobs.validate import bucket_region

    assert bucket_region(BUCKET) is not None  # GetBucketLocation: the cross-region check is not skipped
    built = build_labeling_job("proof-job", f"{base}/{IN}/images/", f"{base}/{OUT}/", labels=["car"],
                               role_arn="arn:aws:iam::123456789012:role/gt-exec", region="us-east-1",
                               workteam="arn:aws:sagemaker:us-east-1:123456789012:workteam/private-crowd/t",
                               check_name=False)
    assert built.request["OutputConfig"]["KmsKeyId"] == world["key"]
    assert storage.exists(f"{base}/{OUT}/proof-job/gtlabel/template.liquid.html")
    line = json.dumps({
        "source-ref": f"{base}/{IN}/images/a.jpg",
        "b": {"image_size": [{"width": 64, "height": 48, "depth": 3}],
              "annotations": [{"class_id": 0, "left": 1, "top": 2, "width": 10, "height": 8}]},
        "b-metadata": {"class-map": {"0": "car"}, "type": "groundtruth/object-detection", "human-annotated": "yes",
                       "job-name": "labeling-job/proof-job"}}) + "\n"
    storage.write_bytes(f"{base}/{OUT}/proof-job/manifests/output/output.manifest", line.encode())
    rep = convert_ground_truth_to_yolo(f"{base}/{OUT}/proof-job/manifests/output/output.manifest",
                                       f"{base}/{OUT}/datasets/proof", ["car"], exif="ignore", progress=False)
    assert rep.images == 1 and storage.exists(f"{base}/{OUT}/datasets/proof/data.yaml")
    # replacing a dataset needs deletes, which this policy does not grant: a clear error, the old one stays whole
    from gtlabel.errors import StorageError

    old_yaml = storage.read_bytes(f"{base}/{OUT}/datasets/proof/data.yaml")
    with pytest.raises(StorageError, match=r"s3:DeleteObject"):
        convert_ground_truth_to_yolo(f"{base}/{OUT}/proof-job/manifests/output/output.manifest",
                                     f"{base}/{OUT}/datasets/proof", ["car"], exif="ignore", splits=(0.5, 0.5, 0),
                                     overwrite=True, progress=False)
    assert storage.read_bytes(f"{base}/{OUT}/datasets/proof/data.yaml") == old_yaml
    # budget alert and direct use of the project key
    sns = _as(world, "data-scientist", "sns")
    assert sns.publish(TopicArn=world["topic"], Subject="budget", Message="80% of budget")["MessageId"]
    kms = _as(world, "data-scientist", "kms")
    blob = kms.encrypt(KeyId=world["key"], Plaintext=b"secret")["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=blob, KeyId=world["key"])["Plaintext"] == b"secret"
    assert len(kms.generate_data_key(KeyId=world["key"], KeySpec="AES_256")["Plaintext"]) == 32


def test_data_scientist_calls_outside_the_project_are_denied(world: dict[str, Any]) -> None:
    s3 = _as(world, "data-scientist", "s3")
    sse = {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": world["key"]}
    # another bucket
    _denied(lambda: s3.get_object(Bucket=OTHER_BUCKET, Key=f"{IN}/b.jpg"))
    _denied(lambda: s3.put_object(Bucket=OTHER_BUCKET, Key=f"{IN}/x.jpg", Body=b"x", **sse))
    _denied(lambda: s3.list_objects_v2(Bucket=OTHER_BUCKET, Prefix=f"{IN}/"))
    # another prefix of the project bucket
    _denied(lambda: s3.get_object(Bucket=BUCKET, Key="secret/hr.csv"))
    _denied(lambda: s3.put_object(Bucket=BUCKET, Key="secret/x.csv", Body=b"x", **sse))
    _denied(lambda: s3.put_object(Bucket=BUCKET, Key="proj/input-not-the-prefix.txt", Body=b"x", **sse))
    # deletes, and bucket-level changes
    _denied(lambda: s3.delete_object(Bucket=BUCKET, Key=f"{IN}/images/a.jpg"))
    _denied(lambda: s3.put_bucket_policy(Bucket=BUCKET, Policy="{}"))
    _denied(lambda: s3.list_buckets())
    # another topic, another key
    _denied(lambda: _as(world, "data-scientist", "sns").publish(TopicArn=world["other_topic"], Message="x"))
    kms = _as(world, "data-scientist", "kms")
    _denied(lambda: kms.encrypt(KeyId=world["other_key"], Plaintext=b"x"))
    _denied(lambda: kms.create_key())
    _denied(lambda: kms.schedule_key_deletion(KeyId=world["key"]))
    # IAM itself
    _denied(lambda: _as(world, "data-scientist", "iam").create_user(UserName="backdoor"))


def test_execution_role_reads_inputs_writes_outputs_only(world: dict[str, Any]) -> None:
    s3 = _as(world, "gt-exec", "s3")
    sse = {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": world["key"]}
    assert s3.get_object(Bucket=BUCKET, Key=f"{IN}/images/a.jpg")["Body"].read() == b"jpeg-a"
    s3.put_object(Bucket=BUCKET, Key=f"{OUT}/job-1/annotations/worker-response/iteration-1/0/x.json",
                  Body=b"{}", **sse)
    assert s3.get_object(Bucket=BUCKET, Key=f"{OUT}/manifests/output/output.manifest")["Body"].read() == b"{}\n"
    kms = _as(world, "gt-exec", "kms")
    blob = kms.encrypt(KeyId=world["key"], Plaintext=b"x")["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"x"  # key found from the ciphertext
    assert kms.generate_data_key(KeyId=world["key"], NumberOfBytes=32)["Plaintext"]
    # GT never writes its inputs, never deletes, never leaves the project, never publishes
    _denied(lambda: s3.put_object(Bucket=BUCKET, Key=f"{IN}/images/evil.jpg", Body=b"x", **sse))
    _denied(lambda: s3.delete_object(Bucket=BUCKET, Key=f"{OUT}/manifests/output/output.manifest"))
    _denied(lambda: s3.get_object(Bucket=BUCKET, Key="secret/hr.csv"))
    _denied(lambda: s3.get_object(Bucket=OTHER_BUCKET, Key=f"{IN}/b.jpg"))
    _denied(lambda: kms.encrypt(KeyId=world["other_key"], Plaintext=b"x"))
    _denied(lambda: _as(world, "gt-exec", "sns").publish(TopicArn=world["topic"], Message="x"))


def test_moto_applies_conditional_denies_unconditionally(world: dict[str, Any]) -> None:
    """Pins the gap documented in docs/SECURITY.md: with the guardrails attached too, moto denies even a
    correct SSE-KMS upload (it does not evaluate ``Condition``), while a read (no guardrail applies to
    GetObject except TLS-only, which moto also applies unconditionally) is denied as well. If moto ever
    evaluates conditions this test fails: then attach the full document in the proof above."""
    s3 = _as(world, "guarded", "s3")
    _denied(lambda: s3.put_object(Bucket=BUCKET, Key=f"{IN}/ok.jpg", Body=b"x",
                                  ServerSideEncryption="aws:kms", SSEKMSKeyId=world["key"]))
    _denied(lambda: s3.get_object(Bucket=BUCKET, Key=f"{IN}/images/a.jpg"))
    # SNS has no guardrail, so the same user may still publish: the Deny above is the conditions, not the grants
    assert _as(world, "guarded", "sns").publish(TopicArn=world["topic"], Message="x")["MessageId"]

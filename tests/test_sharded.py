"""Sharded pre-annotation/ranking on SageMaker (gtlabel.sharded): the pipeline's optional sharded step built
offline (its JSON checked, zero network attempts), upserted and started against moto; the stand-alone job
created against moto's SageMaker and S3 (the request checked, the shards merged); the errors."""

from __future__ import annotations

import importlib.util
import json
import os
import socket
import subprocess
import sys
import textwrap
from importlib import resources
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from typer.testing import CliRunner

# found, not imported: every xdist worker collects this module, and importing the SDK costs ~2 CPU-s
if importlib.util.find_spec("sagemaker") is None:
    pytest.skip("could not import 'sagemaker': the pipeline extra", allow_module_level=True)

from gtlabel import storage
from gtlabel.cli import app
from gtlabel.errors import ConfigError, NotFound
from gtlabel.model.shards import ShardRecord
from gtlabel.pipeline import (
    PIPELINE_PARAMETERS,
    PipelineConfig,
    pipeline_definition,
    start_pipeline,
    upsert_pipeline,
)
from gtlabel.sharded import (
    SHARDED_PARAMETERS,
    ShardedJob,
    ShardedStep,
    ShardOptions,
    run_sharded,
    start_sharded,
)

ROLE = "arn:aws:iam::123456789012:role/gtlabel-pipeline"
IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/gtlabel:1"
RANK = ShardOptions(task="rank", top_k=50, strategy="margin", classes=("drone", "vehicle"), prelabels="prelabels")


def _config(**kw: Any) -> PipelineConfig:
    base: dict[str, Any] = {"role_arn": ROLE, "output_prefix": "s3://gtlabel-test/pipe", "region": "us-east-1",
                            "name": "gtlabel-sharded-test", "class_names": ("drone", "vehicle", "person"),
                            "training_image_uri": IMAGE,
                            "sharded": ShardedStep(images_uri="s3://gtlabel-test/new-images", instance_count=4,
                                                   options=RANK)}
    base.update(kw)
    return PipelineConfig(**base)


def _all_steps(defn: dict[str, Any]) -> dict[str, dict[str, Any]]:
    out = {}
    for s in defn["Steps"]:
        out[s["Name"]] = s
        for branch in ("IfSteps", "ElseSteps"):
            for sub in s.get("Arguments", {}).get(branch, []):
                out[sub["Name"]] = sub
    return out


def _arg(args: list[Any], name: str) -> Any:
    return args[args.index(name) + 1]


# ----------------------------------------------------------------------------------------------- pipeline step
@pytest.fixture(scope="module")
def definition() -> str:
    return pipeline_definition(_config())


def test_pipeline_sharded_step_definition(definition: str) -> None:
    defn = json.loads(definition)
    params = {p["Name"]: p for p in defn["Parameters"]}
    assert {n: p["Type"] for n, p in params.items()} == {**PIPELINE_PARAMETERS, **SHARDED_PARAMETERS}
    assert params["ShardInstanceCount"]["DefaultValue"] == 4
    assert params["ShardImagesUri"]["DefaultValue"] == "s3://gtlabel-test/new-images/"  # a folder, not a prefix
    steps = _all_steps(defn)
    cond = steps["CheckMap"]["Arguments"]
    assert [s["Name"] for s in cond["IfSteps"]] == ["RegisterYolo11-RegisterModel", "ShardedRank", "MergeShards"]
    shard = steps["ShardedRank"]["Arguments"]
    cluster = shard["ProcessingResources"]["ClusterConfig"]
    assert cluster["InstanceCount"] == {"Get": "Parameters.ShardInstanceCount"}
    assert cluster["InstanceType"] == {"Get": "Parameters.ShardInstanceType"}
    inputs = {i["InputName"]: i["S3Input"] for i in shard["ProcessingInputs"]}
    assert inputs["images"]["S3DataDistributionType"] == "ShardedByS3Key"
    assert inputs["images"]["S3Uri"] == {"Get": "Parameters.ShardImagesUri"}
    assert inputs["images"]["LocalPath"] == "/opt/ml/processing/input/images"
    assert inputs["model"]["S3DataDistributionType"] == "FullyReplicated"
    assert inputs["model"]["S3Uri"] == {"Get": "Steps.TrainYolo11.ModelArtifacts.S3ModelArtifacts"}
    app_spec = shard["AppSpecification"]
    assert app_spec["ContainerEntrypoint"] == ["python3", "-m", "gtlabel.pipeline_scripts.shard"]
    assert app_spec["ImageUri"] == {"Get": "Parameters.TrainingImageUri"}
    args = app_spec["ContainerArguments"]
    assert args[0] == "rank" and _arg(args, "--source-prefix") == {"Get": "Parameters.ShardImagesUri"}
    assert (_arg(args, "--top-k"), _arg(args, "--strategy"), _arg(args, "--classes"), _arg(args, "--prelabels")) \
        == ("50", "margin", "drone,vehicle", "prelabels")
    assert _arg(args, "--output") == "/opt/ml/processing/output/shards"
    out = shard["ProcessingOutputConfig"]["Outputs"][0]
    assert out["OutputName"] == "shards" and out["S3Output"]["LocalPath"] == "/opt/ml/processing/output/shards"
    assert "sharded" in json.dumps(out["S3Output"]["S3Uri"])

    merge = steps["MergeShards"]["Arguments"]
    assert merge["ProcessingResources"]["ClusterConfig"]["InstanceCount"] == 1
    assert merge["ProcessingResources"]["ClusterConfig"]["InstanceType"] == "ml.m5.large"  # ShardedStep's default
    assert merge["ProcessingInputs"][0]["S3Input"]["S3Uri"] == \
        {"Get": "Steps.ShardedRank.ProcessingOutputConfig.Outputs['shards'].S3Output.S3Uri"}
    margs = merge["AppSpecification"]["ContainerArguments"]
    assert margs[0] == "merge"
    assert _arg(margs, "--shards") == {"Std:Join": {"On": "", "Values": [{"Get": "Parameters.ShardInstanceCount"}]}}


def test_pipeline_without_sharded_step_is_unchanged() -> None:
    plain = pipeline_definition(_config(sharded=None))
    assert "Shard" not in plain
    defn = json.loads(plain)
    assert [p["Name"] for p in defn["Parameters"]] == list(PIPELINE_PARAMETERS)
    pre = json.loads(pipeline_definition(_config(sharded=ShardedStep())))
    steps = _all_steps(pre)
    assert "ShardedPreannotate" in steps and "ShardedRank" not in steps
    args = steps["ShardedPreannotate"]["Arguments"]["AppSpecification"]["ContainerArguments"]
    assert args[0] == "preannotate" and _arg(args, "--attribute") == "prelabels"


def test_sharded_pipeline_is_built_with_zero_network_attempts() -> None:
    code = textwrap.dedent("""
        import sys
        attempts = []
        sys.addaudithook(lambda e, a: attempts.append((e, repr(a)[:120])) if e in (
            "socket.connect", "socket.getaddrinfo", "socket.gethostbyname", "urllib.Request") else None)
        from gtlabel.pipeline import PipelineConfig, pipeline_definition
        from gtlabel.sharded import ShardedStep
        d = pipeline_definition(PipelineConfig(role_arn=ROLE_ARN, output_prefix="s3://bkt/p",
                                               sharded=ShardedStep(images_uri="s3://bkt/new/")))
        assert '"ShardedPreannotate"' in d and "ShardedByS3Key" in d
        print("ATTEMPTS", attempts)
    """).replace("ROLE_ARN", repr(ROLE))
    env = {k: v for k, v in os.environ.items() if not k.startswith("SAGEMAKER_")}
    env.update(AWS_ACCESS_KEY_ID="fake", AWS_SECRET_ACCESS_KEY="fake", AWS_DEFAULT_REGION="us-east-1")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "ATTEMPTS []" in proc.stdout


@pytest.mark.parametrize("step, text", [
    (ShardedStep(instance_count=0), "instance_count must be an integer >= 1"),
    (ShardedStep(images_uri="/local/images"), "s3:// prefix"),
    (ShardedStep(options=ShardOptions(task="segment")), "task must be one of preannotate, rank"),
    (ShardedStep(options=ShardOptions(task="rank", top_k=0)), "top_k must be >= 1"),
    (ShardedStep(options=ShardOptions(attribute="x-metadata")), "label attribute"),
    (ShardedStep(options=ShardOptions(slice=(640, 640), overlap=1.0)), r"overlap must be in \[0, 1\)"),
])
def test_bad_sharded_step_is_refused(step: ShardedStep, text: str) -> None:
    with pytest.raises(ConfigError, match=text):
        pipeline_definition(_config(sharded=step))


@pytest.fixture()
def sm(moto_server: str) -> Any:
    return boto3.client("sagemaker", endpoint_url=moto_server, region_name="us-east-1",
                        config=Config(retries={"max_attempts": 1}))


def test_sharded_pipeline_upsert_and_start_on_moto(sm: Any, definition: str) -> None:
    cfg = _config()
    upsert_pipeline(cfg, sagemaker_client=sm)
    got = json.loads(sm.describe_pipeline(PipelineName=cfg.name)["PipelineDefinition"])
    assert got == json.loads(definition)
    res = start_pipeline(cfg.name, parameters={"ShardInstanceCount": 8, "ShardImagesUri": "s3://b/batch-2/"},
                         sagemaker_client=sm)
    assert res["status"] in {"Executing", "Succeeded"}
    with pytest.raises(ConfigError, match="unknown pipeline parameter"):
        start_pipeline(cfg.name, parameters={"ShardCount": 8}, sagemaker_client=sm)


# ----------------------------------------------------------------------------------------------- one job
def _fake_shards(prefix: str, count: int, refs: list[str]) -> None:
    """What the instances would upload: each shard's part manifest (pre-annotation lines) and record."""
    for i in range(count):
        mine = [r for k, r in enumerate(refs) if k % count == i]
        rec = ShardRecord(task="preannotate", shard=i, shards=count, images=len(mine), lines=len(mine))
        body = "".join(json.dumps({"source-ref": r, "prelabels": {"annotations": []}}) + "\n" for r in sorted(mine))
        storage.write_text(f"{prefix}{rec.manifest_name}", body)
        storage.write_bytes(f"{prefix}{rec.record_name}", rec.dumps())


def _images(bucket: str, n: int = 5) -> list[str]:
    refs = [f"s3://{bucket}/raw/flight-{i % 2}/img-{i:03d}.jpg" for i in range(n)]
    for r in refs:
        storage.write_bytes(r, b"\xff\xd8 not decoded here")
    storage.write_bytes(f"s3://{bucket}/raw/notes.txt", b"not an image")
    return refs


def _record_requests(client: Any) -> list[dict[str, Any]]:
    seen: list[dict[str, Any]] = []
    client.meta.events.register("provide-client-params.sagemaker.CreateProcessingJob",
                                lambda params, **_: seen.append(json.loads(json.dumps(params))))
    return seen


def test_sharded_job_on_moto_is_created_waited_for_and_merged(bucket: str, sm: Any, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    refs = _images(bucket)
    weights = tmp_path / "best.pt"
    weights.write_bytes(b"weights")
    job = ShardedJob(model=str(weights), images=f"s3://{bucket}/raw", work_prefix=f"s3://{bucket}/work",
                     role_arn=ROLE, image_uri=IMAGE, instance_type="ml.g4dn.2xlarge", instance_count=3,
                     job_name="gtlabel-sharded-moto", options=ShardOptions(conf=0.3, classes=("drone", "vehicle"),
                                                                           slice=(640, 480), merge="nmm"))
    _fake_shards(f"s3://{bucket}/work/gtlabel-sharded-moto/shards/", 3, refs)
    requests = _record_requests(sm)
    out = f"s3://{bucket}/out/prelabeled.manifest"
    hosts: list[str] = []
    real = socket.getaddrinfo

    def getaddrinfo(host: Any, *args: Any, **kw: Any) -> Any:
        hosts.append(str(host))
        return real(host, *args, **kw)

    with monkeypatch.context() as mp:
        mp.setattr(socket, "getaddrinfo", getaddrinfo)
        res = run_sharded(job, out, sagemaker_client=sm, poll_s=0.01)
    assert hosts and set(hosts) == {"127.0.0.1"}  # moto only: no STS, no telemetry, no S3 outside it
    assert res.status == "Completed" and res.merged is not None
    assert (res.merged.shards, res.merged.lines, res.merged.images) == (3, 5, 5)
    merged = [json.loads(x)["source-ref"] for x in storage.read_text(out).splitlines()]
    assert merged == sorted(refs)

    (req,) = requests
    assert req["ProcessingResources"]["ClusterConfig"] == {"InstanceCount": 3, "InstanceType": "ml.g4dn.2xlarge",
                                                           "VolumeSizeInGB": 30}
    inputs = {i["InputName"]: i["S3Input"] for i in req["ProcessingInputs"]}
    assert inputs["images"]["S3Uri"] == f"s3://{bucket}/raw/"
    assert inputs["images"]["S3DataDistributionType"] == "ShardedByS3Key"
    assert inputs["model"]["S3Uri"] == f"s3://{bucket}/work/gtlabel-sharded-moto/model/best.pt"
    assert storage.read_bytes(inputs["model"]["S3Uri"]) == b"weights"
    # the step script is the job's code, uploaded as it is in the package
    assert inputs["code"]["S3Uri"] == f"s3://{bucket}/work/gtlabel-sharded-moto/code/shard.py"
    script = resources.files("gtlabel").joinpath("pipeline_scripts", "shard.py").read_bytes()
    assert storage.read_bytes(inputs["code"]["S3Uri"]) == script
    spec = req["AppSpecification"]
    assert spec["ImageUri"] == IMAGE
    assert spec["ContainerEntrypoint"] == ["python3", "/opt/ml/processing/input/code/shard.py"]
    args = spec["ContainerArguments"]
    assert args[0] == "preannotate" and _arg(args, "--source-prefix") == f"s3://{bucket}/raw/"
    assert (_arg(args, "--conf"), _arg(args, "--classes")) == ("0.3", "drone,vehicle")
    assert [_arg(args, k) for k in ("--slice", "--overlap", "--merge", "--match", "--match-threshold")] == \
        ["640x480", "0.2", "nmm", "ios", "0.5"]
    assert req["ProcessingOutputConfig"]["Outputs"][0]["S3Output"]["S3Uri"] == \
        f"s3://{bucket}/work/gtlabel-sharded-moto/shards/"
    got = sm.describe_processing_job(ProcessingJobName="gtlabel-sharded-moto")
    assert got["RoleArn"] == ROLE
    assert {i["InputName"]: i["S3Input"]["S3DataDistributionType"] for i in got["ProcessingInputs"]} == \
        {"images": "ShardedByS3Key", "model": "FullyReplicated", "code": "FullyReplicated"}


def test_sharded_job_errors(bucket: str, sm: Any, tmp_path: Path) -> None:
    weights = tmp_path / "best.pt"
    weights.write_bytes(b"weights")
    base = {"model": str(weights), "images": f"s3://{bucket}/raw/", "work_prefix": f"s3://{bucket}/work",
            "role_arn": ROLE, "image_uri": IMAGE}
    with pytest.raises(ConfigError, match="instance_count must be an integer >= 1"):
        start_sharded(ShardedJob(**base, instance_count=0), sagemaker_client=sm)
    with pytest.raises(NotFound, match=r"no images .* under this prefix"):  # nothing there yet
        start_sharded(ShardedJob(**base, job_name="gtlabel-empty"), sagemaker_client=sm)
    assert not list(storage.list_objects(f"s3://{bucket}/work/"))  # nothing uploaded, no job
    assert all(j["ProcessingJobName"] != "gtlabel-empty"
               for j in sm.list_processing_jobs()["ProcessingJobSummaries"])
    refs = _images(bucket, 4)
    shards = f"s3://{bucket}/work/gtlabel-lost-shard/shards/"
    _fake_shards(shards, 2, refs)
    storage.delete(f"{shards}part-00001-of-00002.json")  # one instance never finished
    out = f"s3://{bucket}/out.manifest"
    with pytest.raises(NotFound, match=r"shard 1 \(part-00001-of-00002.json\)"):
        run_sharded(ShardedJob(**base, instance_count=2, job_name="gtlabel-lost-shard"), out, sagemaker_client=sm,
                    poll_s=0.01)
    assert not storage.exists(out)


def test_cli_preannotate_and_rank_on_sagemaker(bucket: str, sm: Any, moto_server: str, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER", moto_server)  # the endpoint boto3 resolves
    refs = _images(bucket, 4)
    weights = tmp_path / "best.pt"
    weights.write_bytes(b"weights")
    _fake_shards(f"s3://{bucket}/work/cli-job/shards/", 2, refs)
    out = f"s3://{bucket}/prelabeled.manifest"
    common = ["--sagemaker", "--role", ROLE, "--image-uri", IMAGE, "--instance-type", "ml.c5.xlarge",
              "--work-prefix", f"s3://{bucket}/work", "--region", "us-east-1"]
    r = CliRunner().invoke(app, ["preannotate", str(weights), f"s3://{bucket}/raw/", "-o", out,
                                 "--instance-count", "2", "--processing-job-name", "cli-job", "--slice", "320",
                                 "--overlap", "0.1", *common])
    assert r.exit_code == 0, r.output
    args = sm.describe_processing_job(ProcessingJobName="cli-job")["AppSpecification"]["ContainerArguments"]
    assert (_arg(args, "--slice"), _arg(args, "--overlap")) == ("320x320", "0.1")
    assert "2 shard(s)" in r.output and "cli-job" in r.output
    assert [json.loads(x)["source-ref"] for x in storage.read_text(out).splitlines()] == sorted(refs)
    r = CliRunner().invoke(app, ["rank", str(weights), f"s3://{bucket}/raw/", "-o", out, "--instance-count", "0",
                                 *common])
    assert r.exit_code == 3 and "instance_count must be an integer >= 1" in r.output
    r = CliRunner().invoke(app, ["preannotate", str(weights), f"s3://{bucket}/empty/", "-o", out,
                                 "--processing-job-name", "cli-empty", *common])
    assert r.exit_code == 5 and "no images" in r.output
    r = CliRunner().invoke(app, ["preannotate", str(weights), f"s3://{bucket}/raw/", "-o", out, "--no-wait",
                                 "--processing-job-name", "cli-nowait", *common])
    assert r.exit_code == 0, r.output
    assert "cli-nowait" in r.output and f"s3://{bucket}/work/cli-nowait/shards/" in r.output
    # later, the shards there: the merge the command printed
    _fake_shards(f"s3://{bucket}/work/cli-nowait/shards/", 2, refs)
    later = f"s3://{bucket}/later.manifest"
    r = CliRunner().invoke(app, ["pipeline", "merge-shards", f"s3://{bucket}/work/cli-nowait/shards/", "-o", later,
                                 "--shards", "2"])
    assert r.exit_code == 0, r.output
    assert storage.read_bytes(later) == storage.read_bytes(out)
    r = CliRunner().invoke(app, ["pipeline", "merge-shards", f"s3://{bucket}/work/cli-nowait/shards/", "-o", later,
                                 "--shards", "3"])
    assert r.exit_code == 3 and "expected 3 shard(s)" in r.output


def test_cli_pipeline_build_with_a_sharded_step(tmp_path: Path) -> None:
    out = tmp_path / "pipeline.json"
    common = ["--role", ROLE, "--output-prefix", "s3://gtlabel-test/pipe", "--region", "us-east-1",
              "--classes", "drone,vehicle", "--training-image", IMAGE]
    r = CliRunner().invoke(app, ["pipeline", "build", "-o", str(out), *common, "--sharded", "rank",
                                 "--shard-images", "s3://gtlabel-test/batch-7", "--shard-instance-count", "3",
                                 "--shard-top-k", "7"])
    assert r.exit_code == 0, r.output
    defn = json.loads(out.read_text())
    params = {p["Name"]: p.get("DefaultValue") for p in defn["Parameters"]}
    assert (params["ShardInstanceCount"], params["ShardImagesUri"]) == (3, "s3://gtlabel-test/batch-7/")
    args = _all_steps(defn)["ShardedRank"]["Arguments"]["AppSpecification"]["ContainerArguments"]
    assert (_arg(args, "--top-k"), _arg(args, "--classes")) == ("7", "drone,vehicle")
    r = CliRunner().invoke(app, ["pipeline", "build", "-o", str(out), *common, "--sharded", "segment"])
    assert r.exit_code == 3 and "task must be one of preannotate, rank" in r.output

"""The SageMaker Pipeline: its definition built offline (contents checked), and the round trip against moto's
SageMaker (create/describe/update/start; moto runs no steps)."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from typer.testing import CliRunner

# found, not imported: every xdist worker collects this module, and importing the SDK costs ~2 CPU-s
if importlib.util.find_spec("sagemaker") is None:
    pytest.skip("could not import 'sagemaker': the pipeline extra", allow_module_level=True)

from gtlabel.cli import app
from gtlabel.errors import ConfigError
from gtlabel.pipeline import (
    PIPELINE_PARAMETERS,
    PipelineConfig,
    build_pipeline,
    pipeline_definition,
    start_pipeline,
    upsert_pipeline,
    validate_sdk_config,
)

ROLE = "arn:aws:iam::123456789012:role/gtlabel-pipeline"


def _config(**kw: Any) -> PipelineConfig:
    base: dict[str, Any] = {"role_arn": ROLE, "output_prefix": "s3://gtlabel-test/pipe", "region": "us-east-1",
                            "name": "gtlabel-yolo11-test", "class_names": ("drone", "vehicle", "person"),
                            "training_image_uri": "123456789012.dkr.ecr.us-east-1.amazonaws.com/gtlabel:1"}
    base.update(kw)
    return PipelineConfig(**base)


@pytest.fixture(scope="module")
def definition() -> dict[str, Any]:
    return dict(json.loads(pipeline_definition(_config())))


def _steps(defn: dict[str, Any]) -> dict[str, dict[str, Any]]:
    out = {}
    for s in defn["Steps"]:
        out[s["Name"]] = s
        for branch in ("IfSteps", "ElseSteps"):
            for sub in s.get("Arguments", {}).get(branch, []):
                out[sub["Name"]] = sub
    return out


def test_steps_and_parameters(definition: dict[str, Any]) -> None:
    steps = _steps(definition)
    assert [s["Name"] for s in definition["Steps"]] == ["ConvertToYolo", "TrainYolo11", "EvaluateYolo11", "CheckMap"]
    assert {n: s["Type"] for n, s in steps.items()} == {
        "ConvertToYolo": "Processing", "TrainYolo11": "Training", "EvaluateYolo11": "Processing",
        "CheckMap": "Condition", "RegisterYolo11-RegisterModel": "RegisterModel", "MapBelowThreshold": "Fail"}
    params = {p["Name"]: p for p in definition["Parameters"]}
    assert {n: p["Type"] for n, p in params.items()} == PIPELINE_PARAMETERS
    assert params["ClassNames"]["DefaultValue"] == "drone,vehicle,person"
    assert params["Epochs"]["DefaultValue"] == 50 and params["MapThreshold"]["DefaultValue"] == 0.25
    assert params["OutputPrefix"]["DefaultValue"] == "s3://gtlabel-test/pipe"


def test_steps_run_this_package(definition: dict[str, Any]) -> None:
    steps = _steps(definition)
    entry = {
        "ConvertToYolo": steps["ConvertToYolo"]["Arguments"]["AppSpecification"]["ContainerEntrypoint"],
        "TrainYolo11": steps["TrainYolo11"]["Arguments"]["AlgorithmSpecification"]["ContainerEntrypoint"],
        "EvaluateYolo11": steps["EvaluateYolo11"]["Arguments"]["AppSpecification"]["ContainerEntrypoint"],
    }
    for e in entry.values():
        assert e[:2] == ["python3", "-m"] and importlib.util.find_spec(e[2]) is not None
    assert entry["ConvertToYolo"][2] == "gtlabel.pipeline_scripts.convert"
    conv = steps["ConvertToYolo"]["Arguments"]
    assert conv["AppSpecification"]["ImageUri"] == {"Get": "Parameters.ProcessingImageUri"}
    assert conv["ProcessingInputs"][0]["S3Input"]["S3Uri"] == {"Get": "Parameters.InputManifestUri"}
    args = conv["AppSpecification"]["ContainerArguments"]
    assert args[args.index("--classes") + 1] == {"Get": "Parameters.ClassNames"}
    assert steps["TrainYolo11"]["Arguments"]["AlgorithmSpecification"]["TrainingImage"] == \
        {"Get": "Parameters.TrainingImageUri"}


def _is_string(v: Any) -> bool:
    if isinstance(v, str):
        return True
    if isinstance(v, dict) and "Std:Join" in v:
        return True
    if isinstance(v, dict) and "Get" in v and v["Get"].startswith("Parameters."):
        return PIPELINE_PARAMETERS[v["Get"].split(".", 1)[1]] == "String"
    return False


def test_property_references_hyperparameters_and_condition(definition: dict[str, Any]) -> None:
    steps = _steps(definition)
    train = steps["TrainYolo11"]["Arguments"]
    dataset_ref = {"Get": "Steps.ConvertToYolo.ProcessingOutputConfig.Outputs['yolo'].S3Output.S3Uri"}
    assert train["InputDataConfig"][0]["ChannelName"] == "dataset"
    assert train["InputDataConfig"][0]["DataSource"]["S3DataSource"]["S3Uri"] == dataset_ref
    hp = train["HyperParameters"]
    assert set(hp) == {"model", "epochs", "imgsz", "batch", "seed"}
    assert all(_is_string(v) for v in hp.values()), hp  # SageMaker wants strings: ints go through Std:Join
    assert hp["epochs"] == {"Std:Join": {"On": "", "Values": [{"Get": "Parameters.Epochs"}]}}
    assert train["ResourceConfig"]["InstanceType"] == {"Get": "Parameters.TrainingInstanceType"}
    ev = steps["EvaluateYolo11"]
    inputs = {i["InputName"]: i["S3Input"]["S3Uri"] for i in ev["Arguments"]["ProcessingInputs"]}
    assert inputs == {"model": {"Get": "Steps.TrainYolo11.ModelArtifacts.S3ModelArtifacts"}, "dataset": dataset_ref}
    assert ev["PropertyFiles"] == [{"PropertyFileName": "EvaluationReport", "OutputName": "evaluation",
                                    "FilePath": "evaluation.json"}]
    cond = steps["CheckMap"]["Arguments"]["Conditions"]
    assert cond == [{"Type": "GreaterThanOrEqualTo",
                     "LeftValue": {"Std:JsonGet": {
                         "PropertyFile": {"Get": "Steps.EvaluateYolo11.PropertyFiles.EvaluationReport"},
                         "Path": "metrics.map50_95.value"}},
                     "RightValue": {"Get": "Parameters.MapThreshold"}}]
    reg = steps["RegisterYolo11-RegisterModel"]["Arguments"]
    assert reg["ModelPackageGroupName"] == {"Get": "Parameters.ModelPackageGroupName"}
    assert reg["InferenceSpecification"]["Containers"][0]["ModelDataUrl"] == \
        {"Get": "Steps.TrainYolo11.ModelArtifacts.S3ModelArtifacts"}
    stats = reg["ModelMetrics"]["ModelQuality"]["Statistics"]
    assert stats["ContentType"] == "application/json" and "evaluation.json" in json.dumps(stats["S3Uri"])


def test_definition_is_built_with_zero_network_attempts() -> None:
    code = textwrap.dedent("""
        import sys
        attempts = []
        sys.addaudithook(lambda e, a: attempts.append((e, repr(a)[:120])) if e in (
            "socket.connect", "socket.getaddrinfo", "socket.gethostbyname", "urllib.Request") else None)
        from gtlabel.pipeline import PipelineConfig, pipeline_definition
        d = pipeline_definition(PipelineConfig(role_arn=ROLE_ARN, output_prefix="s3://bkt/p"))
        assert '"TrainYolo11"' in d
        print("ATTEMPTS", attempts)
    """).replace("ROLE_ARN", repr(ROLE))
    env = {k: v for k, v in os.environ.items() if not k.startswith("SAGEMAKER_")}
    env.update(AWS_ACCESS_KEY_ID="fake", AWS_SECRET_ACCESS_KEY="fake", AWS_DEFAULT_REGION="us-east-1")
    # ~4 CPU-seconds, nearly all the SageMaker SDK's import (the SDK's schema is checked once: see the test below).
    # On 2 cores shared by a loaded machine the wall time is many times that (one run hit 120 s): the limit only
    # catches a hang, so it is generous; the suite's own per-test limit (pyproject: timeout) stays above it.
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "ATTEMPTS []" in proc.stdout


def test_the_sdk_checks_its_config_with_its_schema_checked_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """The SDK validates its config at each of ~60 look-ups while a definition is built; gtlabel's check in its
    place raises the SDK's error for a bad config, and checks the SDK's own schema once per process, not each time
    (which was ~4.5 of a definition's ~5 CPU-seconds)."""
    import jsonschema
    import sagemaker.utils
    from sagemaker.config import validate_sagemaker_config
    from sagemaker.config.config_schema import SAGEMAKER_PYTHON_SDK_CONFIG_SCHEMA

    from gtlabel.model.offline import SAGEMAKER_OFFLINE_CONFIG

    pipeline_definition(_config())
    assert sagemaker.utils.validate_sagemaker_config is validate_sdk_config
    validate_sdk_config(SAGEMAKER_OFFLINE_CONFIG)
    for bad in ({"SchemaVersion": "1.0", "SageMaker": {"PythonSDK": {"Modules": {"TelemetryOptOut": "yes"}}}},
                {"SchemaVersion": "2.0"}, {"SageMaker": {"Nope": {}}, "SchemaVersion": "1.0"}):
        with pytest.raises(jsonschema.ValidationError) as ours:
            validate_sdk_config(bad)
        with pytest.raises(jsonschema.ValidationError) as sdks:
            validate_sagemaker_config(bad)
        assert ours.value.message == sdks.value.message
    schema_checks: list[int] = []
    cls = jsonschema.validators.validator_for(SAGEMAKER_PYTHON_SDK_CONFIG_SCHEMA)
    check_schema = cls.check_schema
    monkeypatch.setattr(cls, "check_schema",
                        classmethod(lambda c, schema, **kw: (schema_checks.append(1), check_schema(schema, **kw))[1]))
    pipeline_definition(_config())
    assert len(schema_checks) == 1  # the session's own check of the config it is given, at its creation


@pytest.mark.parametrize("kw, text", [
    ({"role_arn": "not-a-role"}, "role_arn"),
    ({"output_prefix": "/local/path"}, "output_prefix"),
    ({"class_names": ("a,b",)}, "class_names"),
    ({"map_threshold": 2.0}, "map_threshold"),
    ({"name": "bad name"}, "name"),
])
def test_bad_settings_are_refused(kw: dict[str, Any], text: str) -> None:
    with pytest.raises(ConfigError, match=text):
        build_pipeline(_config(**kw))


# ----------------------------------------------------------------------------------------------- moto round trip
@pytest.fixture()
def sm(moto_server: str) -> Any:
    return boto3.client("sagemaker", endpoint_url=moto_server, region_name="us-east-1",
                        config=Config(retries={"max_attempts": 1}))


def test_upsert_and_start_on_moto(sm: Any) -> None:
    cfg = _config(name="gtlabel-roundtrip")
    arn = upsert_pipeline(cfg, sagemaker_client=sm)
    assert arn.endswith(":pipeline/gtlabel-roundtrip")
    got = sm.describe_pipeline(PipelineName="gtlabel-roundtrip")
    assert json.loads(got["PipelineDefinition"]) == json.loads(pipeline_definition(cfg))
    assert got["RoleArn"] == ROLE
    # upsert again = update
    upsert_pipeline(_config(name="gtlabel-roundtrip", epochs=7), sagemaker_client=sm)
    params = {p["Name"]: p for p in json.loads(sm.describe_pipeline(PipelineName="gtlabel-roundtrip")
                                               ["PipelineDefinition"])["Parameters"]}
    assert params["Epochs"]["DefaultValue"] == 7
    res = start_pipeline("gtlabel-roundtrip", parameters={"Epochs": 3, "MapThreshold": 0.1}, sagemaker_client=sm)
    assert res["status"] in {"Executing", "Succeeded"}
    execs = sm.list_pipeline_executions(PipelineName="gtlabel-roundtrip")["PipelineExecutionSummaries"]
    assert [e["PipelineExecutionArn"] for e in execs] == [res["arn"]]
    with pytest.raises(ConfigError, match="unknown pipeline parameter"):
        start_pipeline("gtlabel-roundtrip", parameters={"Epoch": 3}, sagemaker_client=sm)


def test_cli_build_upsert_start(moto_server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sm: Any) -> None:
    out = tmp_path / "pipeline.json"
    common = ["--name", "gtlabel-cli", "--role", ROLE, "--output-prefix", "s3://gtlabel-test/pipe",
              "--region", "us-east-1", "--classes", "drone,vehicle,person", "--training-image",
              "123456789012.dkr.ecr.us-east-1.amazonaws.com/gtlabel:1"]
    r = CliRunner().invoke(app, ["pipeline", "build", "-o", str(out), *common])
    assert r.exit_code == 0, r.output
    assert json.loads(out.read_text()) == json.loads(pipeline_definition(_config(name="gtlabel-cli")))
    monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER", moto_server)  # the endpoint boto3 resolves
    r = CliRunner().invoke(app, ["pipeline", "upsert", *common])
    assert r.exit_code == 0, r.output
    assert "pipeline/gtlabel-cli" in r.output
    r = CliRunner().invoke(app, ["pipeline", "start", "--name", "gtlabel-cli", "--region", "us-east-1",
                                 "-p", "Epochs=2", "-p", "InputManifestUri=s3://b/out.manifest"])
    assert r.exit_code == 0, r.output
    assert "execution: arn:aws:sagemaker:" in r.output
    execs = sm.list_pipeline_executions(PipelineName="gtlabel-cli")["PipelineExecutionSummaries"]
    assert len(execs) == 1
    r = CliRunner().invoke(app, ["pipeline", "start", "--name", "gtlabel-cli", "-p", "Epochs"])
    assert r.exit_code == 3
    r = CliRunner().invoke(app, ["pipeline", "build", "--output-prefix", "s3://b/p"])
    if not os.environ.get("GTLABEL_ROLE_ARN"):
        assert r.exit_code == 3 and "role" in r.output

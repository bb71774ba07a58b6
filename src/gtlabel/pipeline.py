"""A SageMaker Pipeline (Python SDK v2, the ``pipeline`` extra): Ground Truth output -> YOLO11 -> model registry.

Steps::

    ConvertToYolo (Processing)  gtlabel.pipeline_scripts.convert: the output manifest -> YOLO11 dataset
          |  ProcessingOutputConfig.Outputs['yolo'].S3Output.S3Uri
    TrainYolo11 (Training)      gtlabel.pipeline_scripts.train: Ultralytics YOLO11, offline, best.pt + metrics.json
          |  ModelArtifacts.S3ModelArtifacts
    EvaluateYolo11 (Processing) gtlabel.pipeline_scripts.evaluate: test split -> evaluation.json (PropertyFile)
          |
    CheckMap (Condition)        metrics.map50_95.value >= MapThreshold
          ├── RegisterYolo11 (ModelStep: model package in ModelPackageGroupName, with the evaluation as metrics)
          │   [ShardedPreannotate | ShardedRank -> MergeShards, only with ``PipelineConfig.sharded``:
          │    gtlabel.sharded, the trained model over ShardImagesUri, ShardedByS3Key across instances]
          └── MapBelowThreshold (Fail)

The containers run this package: the processing and training images must have ``gtlabel[train]`` installed
(the entry points are ``python3 -m gtlabel.pipeline_scripts.<step>``), so nothing is uploaded when the
definition is built. Building is offline: telemetry is opted out through the SDK's config dict and a
default bucket is given, so :func:`build_pipeline` and ``Pipeline.definition()`` make no network call.
:func:`upsert_pipeline` / :func:`start_pipeline` call the SageMaker endpoint that boto3 resolves (AWS, or
any endpoint set with ``AWS_ENDPOINT_URL_SAGEMAKER``, e.g. moto's server in the tests).
"""

from __future__ import annotations

import functools
import logging
import re
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any, cast

from botocore.exceptions import BotoCoreError, ClientError

from gtlabel import storage
from gtlabel.errors import ConfigError, JobError, MissingExtra
from gtlabel.model.offline import SAGEMAKER_OFFLINE_CONFIG, ensure_sagemaker_offline
from gtlabel.settings import get_settings
from gtlabel.sharded import SHARDED_PARAMETERS, ShardedStep, pipeline_steps

if TYPE_CHECKING:
    import boto3  # lazy: ~0.2 s of import time, paid only where AWS is called

__all__ = [
    "PIPELINE_PARAMETERS",
    "STEP_NAMES",
    "PipelineConfig",
    "build_pipeline",
    "pipeline_definition",
    "pipeline_session",
    "start_pipeline",
    "upsert_pipeline",
]

#: Step names in the definition (the registration step gets ModelStep's ``-RegisterModel`` suffix).
STEP_NAMES = {
    "convert": "ConvertToYolo",
    "train": "TrainYolo11",
    "evaluate": "EvaluateYolo11",
    "condition": "CheckMap",
    "register": "RegisterYolo11",
    "fail": "MapBelowThreshold",
}
#: Pipeline parameters and their types (defaults come from :class:`PipelineConfig`).
PIPELINE_PARAMETERS = {
    "InputManifestUri": "String",
    "ClassNames": "String",
    "LabelAttribute": "String",
    "OutputPrefix": "String",
    "ModelConfig": "String",
    "Epochs": "Integer",
    "ImgSize": "Integer",
    "BatchSize": "Integer",
    "Seed": "Integer",
    "ProcessingInstanceType": "String",
    "TrainingInstanceType": "String",
    "EvaluationInstanceType": "String",
    "ProcessingImageUri": "String",
    "TrainingImageUri": "String",
    "InferenceImageUri": "String",
    "MapThreshold": "Float",
    "ModelPackageGroupName": "String",
    "ModelApprovalStatus": "String",
}
_NAME_RE = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,255}$")
_ROLE_RE = re.compile(r"^arn:aws[a-z\-]*:iam::\d{12}:role/?[a-zA-Z_0-9+=,.@\-_/]+$")

# paths inside the containers
_PROC = "/opt/ml/processing"
EVALUATION_FILE = "evaluation.json"


@dataclass
class PipelineConfig:
    """What the pipeline is built with. The fields named like the parameters are their *defaults*; every
    execution may override them (``start_pipeline(parameters=...)``)."""

    role_arn: str
    output_prefix: str  # s3://bucket/prefix: datasets, models and evaluations go under <prefix>/<execution id>/
    name: str = "gtlabel-yolo11"
    region: str | None = None
    input_manifest_uri: str = ""
    class_names: Sequence[str] = ("drone", "vehicle", "person", "building")
    label_attribute: str = ""
    model_config: str = "yolo11n.yaml"
    epochs: int = 50
    imgsz: int = 640
    batch: int = 16
    seed: int = 0
    processing_instance_type: str = "ml.m5.xlarge"
    training_instance_type: str = "ml.g5.xlarge"
    evaluation_instance_type: str = "ml.m5.xlarge"
    processing_image_uri: str = ""
    training_image_uri: str = ""
    inference_image_uri: str = ""
    map_threshold: float = 0.25
    model_package_group: str = "gtlabel-yolo11"
    approval_status: str = "PendingManualApproval"
    training_volume_gb: int = 50
    max_runtime_s: int = 24 * 3600
    description: str = "Ground Truth output manifest -> YOLO11 dataset -> train -> evaluate -> register"
    tags: Mapping[str, str] = field(default_factory=dict)
    #: pre-annotate or rank a prefix of new images with the model, sharded across instances (off: None)
    sharded: ShardedStep | None = None

    def check(self) -> None:
        problems = self.sharded.check() if self.sharded is not None else []
        if not _NAME_RE.match(self.name):
            problems.append(f"name {self.name!r} must match {_NAME_RE.pattern}")
        if not _ROLE_RE.match(self.role_arn):
            problems.append(f"role_arn {self.role_arn!r} is not an IAM role ARN (arn:aws:iam::<account>:role/...)")
        if not storage.is_s3(self.output_prefix) or not storage.parse_s3(self.output_prefix).bucket:
            problems.append(f"output_prefix must be s3://bucket[/prefix], got {self.output_prefix!r}")
        if self.input_manifest_uri and not storage.is_s3(self.input_manifest_uri):
            problems.append(f"input_manifest_uri must be an s3:// URI, got {self.input_manifest_uri!r}")
        if not self.class_names or any("," in n or not n.strip() for n in self.class_names):
            problems.append(f"class_names must be non-empty names without commas, got {list(self.class_names)}")
        for attr in ("epochs", "imgsz", "batch"):
            if int(getattr(self, attr)) < 1:
                problems.append(f"{attr} must be >= 1")
        if not 0.0 <= self.map_threshold <= 1.0:
            problems.append(f"map_threshold must be within 0..1, got {self.map_threshold}")
        if self.approval_status not in {"Approved", "Rejected", "PendingManualApproval"}:
            problems.append("approval_status must be Approved, Rejected or PendingManualApproval")
        if problems:
            raise ConfigError("pipeline settings are invalid:\n" + "\n".join(f"  - {p}" for p in problems))


def _default_image(region: str) -> str:
    # A placeholder that says what is needed: an image with gtlabel[train] installed, pushed to the user's ECR.
    return f"<account>.dkr.ecr.{region}.amazonaws.com/gtlabel-train:latest"


def _import_sdk() -> None:
    ensure_sagemaker_offline()
    for name in ("sagemaker.config", "sagemaker.workflow.utilities", "sagemaker.workflow._utils",
                 "sagemaker.telemetry.telemetry_logging"):
        logging.getLogger(name).setLevel(logging.ERROR)  # chatter about defaults; nothing the user must act on
    try:
        import sagemaker.utils
    except ImportError as exc:
        raise MissingExtra("pipeline", "sagemaker") from exc
    setattr(sagemaker.utils, "validate_sagemaker_config", validate_sdk_config)  # noqa: B010 (the SDK's name, replaced)


@functools.cache
def _sdk_config_validator() -> Any:
    import jsonschema  # type: ignore[import-untyped]  # lazy: the SDK's dependency, loaded with it
    from sagemaker.config.config_schema import SAGEMAKER_PYTHON_SDK_CONFIG_SCHEMA as SCHEMA

    cls = jsonschema.validators.validator_for(SCHEMA)
    cls.check_schema(SCHEMA)
    return cls(SCHEMA)


def validate_sdk_config(config: Any) -> None:
    """The SageMaker SDK's check of a config dict (``sagemaker.config.validate_sagemaker_config``: the
    same schema, the same error, ``jsonschema``'s best match), with the SDK's schema checked once per process.
    The SDK checks the config at each of its ~60 look-ups while a pipeline is built, and ``jsonschema.validate``
    checks the SDK's own large schema against the meta-schema every time: ~4.5 of a definition's ~5 CPU-seconds.
    :func:`_import_sdk` puts this check in the SDK's look-up (``sagemaker.utils``) in its place."""
    import jsonschema

    error = jsonschema.exceptions.best_match(_sdk_config_validator().iter_errors(config))
    if error is not None:
        raise error


def pipeline_session(*, region: str | None = None, default_bucket: str, sagemaker_client: Any = None,
                     boto_session: boto3.Session | None = None) -> Any:
    """A ``PipelineSession`` that makes no network call while a definition is built: telemetry opted out
    (:data:`~gtlabel.model.offline.SAGEMAKER_OFFLINE_CONFIG`), the default bucket given (the SDK would
    otherwise ask STS and S3 for one). ``sagemaker_client`` picks the endpoint for upsert/start."""
    _import_sdk()
    import boto3  # lazy: ~0.2 s of import time, paid only where AWS is called
    from sagemaker.workflow.pipeline_context import PipelineSession

    sess = boto_session or boto3.Session(region_name=region or boto3.Session().region_name or "us-east-1")
    return PipelineSession(boto_session=sess, sagemaker_client=sagemaker_client, default_bucket=default_bucket,
                           sagemaker_config=SAGEMAKER_OFFLINE_CONFIG)


def build_pipeline(config: PipelineConfig, *, session: Any = None, sagemaker_client: Any = None) -> Any:
    """The ``sagemaker.workflow.pipeline.Pipeline`` (see the module docstring for its steps)."""
    config.check()
    _import_sdk()
    with warnings.catch_warnings():
        # "Running within a PipelineSession, there will be No Wait, No Logs..." is the point here
        warnings.filterwarnings("ignore", message="Running within a PipelineSession")
        return _build(config, session, sagemaker_client)


def _build(config: PipelineConfig, session: Any, sagemaker_client: Any) -> Any:
    from sagemaker.workflow.pipeline import Pipeline

    bucket = storage.parse_s3(config.output_prefix).bucket
    if session is None:
        session = pipeline_session(region=config.region, default_bucket=bucket, sagemaker_client=sagemaker_client)
    region = config.region or session.boto_region_name or "us-east-1"
    p = _Parameters.of(config, bucket, config.training_image_uri or _default_image(region))
    step_convert = _convert_step(config, p, session)
    dataset_uri = step_convert.properties.ProcessingOutputConfig.Outputs["yolo"].S3Output.S3Uri
    step_train = _train_step(config, p, session, dataset_uri)
    model_data = step_train.properties.ModelArtifacts.S3ModelArtifacts
    step_eval, report, eval_uri = _evaluate_step(config, p, session, model_data, dataset_uri)
    extra_params: list[Any] = []
    extra_steps: list[Any] = []
    if config.sharded is not None:
        extra_params, extra_steps = pipeline_steps(config.sharded, role_arn=config.role_arn, session=session,
                                                   model_data=model_data, image_uri=p.train_image, under=p.under,
                                                   bucket=bucket)
    step_check = _register_or_fail_step(config, p, session, model_data, step_eval, report, eval_uri, extra_steps)
    return Pipeline(name=config.name, parameters=p.all() + extra_params,
                    steps=[step_convert, step_train, step_eval, step_check], sagemaker_session=session)


@dataclass(frozen=True)
class _Parameters:
    """The pipeline's parameters (overridable per execution), defaults from the config."""

    manifest: Any
    classes: Any
    attr: Any
    prefix: Any
    model: Any
    epochs: Any
    imgsz: Any
    batch: Any
    seed: Any
    proc_type: Any
    train_type: Any
    eval_type: Any
    proc_image: Any
    train_image: Any
    infer_image: Any
    threshold: Any
    group: Any
    approval: Any

    @classmethod
    def of(cls, config: PipelineConfig, bucket: str, image: str) -> _Parameters:
        from sagemaker.workflow.parameters import ParameterFloat, ParameterInteger, ParameterString

        return cls(
            manifest=ParameterString("InputManifestUri", default_value=config.input_manifest_uri
                                     or f"s3://{bucket}/labeling/output/manifests/output/output.manifest"),
            classes=ParameterString("ClassNames", default_value=",".join(config.class_names)),
            attr=ParameterString("LabelAttribute", default_value=config.label_attribute),
            prefix=ParameterString("OutputPrefix", default_value=config.output_prefix.rstrip("/")),
            model=ParameterString("ModelConfig", default_value=config.model_config),
            epochs=ParameterInteger("Epochs", default_value=int(config.epochs)),
            imgsz=ParameterInteger("ImgSize", default_value=int(config.imgsz)),
            batch=ParameterInteger("BatchSize", default_value=int(config.batch)),
            seed=ParameterInteger("Seed", default_value=int(config.seed)),
            proc_type=ParameterString("ProcessingInstanceType", default_value=config.processing_instance_type),
            train_type=ParameterString("TrainingInstanceType", default_value=config.training_instance_type),
            eval_type=ParameterString("EvaluationInstanceType", default_value=config.evaluation_instance_type),
            proc_image=ParameterString("ProcessingImageUri", default_value=config.processing_image_uri or image),
            train_image=ParameterString("TrainingImageUri", default_value=image),
            infer_image=ParameterString("InferenceImageUri", default_value=config.inference_image_uri or image),
            threshold=ParameterFloat("MapThreshold", default_value=float(config.map_threshold)),
            group=ParameterString("ModelPackageGroupName", default_value=config.model_package_group),
            approval=ParameterString("ModelApprovalStatus", default_value=config.approval_status),
        )

    def all(self) -> list[Any]:
        """In the order of the pipeline definition."""
        return [getattr(self, f.name) for f in fields(self)]

    def under(self, *parts: str) -> Any:
        """``<OutputPrefix>/<execution id>/<parts>``."""
        from sagemaker.workflow.execution_variables import ExecutionVariables
        from sagemaker.workflow.functions import Join

        return Join(on="/", values=[self.prefix, ExecutionVariables.PIPELINE_EXECUTION_ID, *parts])


def _convert_step(config: PipelineConfig, p: _Parameters, session: Any) -> Any:
    """1. convert the Ground Truth output manifest to a YOLO11 dataset, with this package."""
    from sagemaker.processing import ProcessingInput, ProcessingOutput, Processor
    from sagemaker.workflow.functions import Join
    from sagemaker.workflow.steps import ProcessingStep

    convert = Processor(role=config.role_arn, image_uri=p.proc_image, instance_count=1, instance_type=p.proc_type,
                        entrypoint=["python3", "-m", "gtlabel.pipeline_scripts.convert"],
                        volume_size_in_gb=config.training_volume_gb, sagemaker_session=session,
                        base_job_name="gtlabel-convert")
    return ProcessingStep(
        name=STEP_NAMES["convert"],
        description="Ground Truth output manifest -> YOLO11 dataset (gtlabel.convert.convert_ground_truth_to_yolo)",
        step_args=convert.run(
            inputs=[ProcessingInput(source=p.manifest, destination=f"{_PROC}/input/manifest",
                                    input_name="manifest", s3_data_type="S3Prefix")],
            outputs=[ProcessingOutput(output_name="yolo", source=f"{_PROC}/output/yolo",
                                      destination=p.under("dataset"))],
            arguments=["--manifest", f"{_PROC}/input/manifest", "--output", f"{_PROC}/output/yolo",
                       "--classes", p.classes, Join(on="", values=["--label-attribute=", p.attr]),
                       "--seed", _text(p.seed)],
        ),
    )


def _train_step(config: PipelineConfig, p: _Parameters, session: Any, dataset_uri: Any) -> Any:
    """2. train YOLO11 (hyperparameters are strings, as SageMaker requires)."""
    from sagemaker.estimator import Estimator
    from sagemaker.inputs import TrainingInput
    from sagemaker.workflow.steps import TrainingStep

    estimator = Estimator(
        role=config.role_arn, image_uri=p.train_image, instance_count=1, instance_type=p.train_type,
        volume_size=config.training_volume_gb, max_run=config.max_runtime_s, output_path=p.under("model"),
        container_entry_point=["python3", "-m", "gtlabel.pipeline_scripts.train"],
        hyperparameters={"model": p.model, "epochs": _text(p.epochs), "imgsz": _text(p.imgsz),
                         "batch": _text(p.batch), "seed": _text(p.seed)},
        metric_definitions=[
            {"Name": name, "Regex": rf"gtlabel-metric {re.escape(name)}=([0-9.eE+-]+)"}
            for name in ("precision", "recall", "mAP50", "mAP50-95")
        ],
        sagemaker_session=session, base_job_name="gtlabel-train", disable_profiler=True,
        debugger_hook_config=False,
    )
    return TrainingStep(
        name=STEP_NAMES["train"], description="Ultralytics YOLO11, fully offline (gtlabel.model.train_yolo)",
        step_args=estimator.fit(inputs={"dataset": TrainingInput(s3_data=dataset_uri, input_mode="File")}),
    )


def _evaluate_step(config: PipelineConfig, p: _Parameters, session: Any, model_data: Any,
                   dataset_uri: Any) -> tuple[Any, Any, Any]:
    """3. evaluate on the test split; evaluation.json is a PropertyFile for the condition.
    ``(step, property file, evaluation prefix)``."""
    from sagemaker.processing import ProcessingInput, ProcessingOutput, Processor
    from sagemaker.workflow.properties import PropertyFile
    from sagemaker.workflow.steps import ProcessingStep

    report = PropertyFile(name="EvaluationReport", output_name="evaluation", path=EVALUATION_FILE)
    evaluator = Processor(role=config.role_arn, image_uri=p.train_image, instance_count=1,
                          instance_type=p.eval_type, entrypoint=["python3", "-m", "gtlabel.pipeline_scripts.evaluate"],
                          sagemaker_session=session, base_job_name="gtlabel-evaluate")
    eval_uri = p.under("evaluation")
    step = ProcessingStep(
        name=STEP_NAMES["evaluate"], description="per-class metrics and confusion matrix on the test split",
        step_args=evaluator.run(
            inputs=[ProcessingInput(source=model_data, destination=f"{_PROC}/model", input_name="model"),
                    ProcessingInput(source=dataset_uri, destination=f"{_PROC}/dataset", input_name="dataset")],
            outputs=[ProcessingOutput(output_name="evaluation", source=f"{_PROC}/evaluation",
                                      destination=eval_uri)],
            arguments=["--model", f"{_PROC}/model", "--dataset", f"{_PROC}/dataset", "--output",
                       f"{_PROC}/evaluation", "--imgsz", _text(p.imgsz)],
        ),
        property_files=[report],
    )
    return step, report, eval_uri


def _register_or_fail_step(config: PipelineConfig, p: _Parameters, session: Any, model_data: Any, step_eval: Any,
                           report: Any, eval_uri: Any, then: Sequence[Any] = ()) -> Any:
    """4. register the model when mAP50-95 clears the threshold (and run ``then``); fail the execution
    otherwise."""
    from sagemaker.model import Model
    from sagemaker.model_metrics import MetricsSource, ModelMetrics
    from sagemaker.workflow.condition_step import ConditionStep
    from sagemaker.workflow.conditions import ConditionGreaterThanOrEqualTo
    from sagemaker.workflow.fail_step import FailStep
    from sagemaker.workflow.functions import Join, JsonGet
    from sagemaker.workflow.model_step import ModelStep

    model = Model(image_uri=p.infer_image, model_data=model_data, role=config.role_arn, sagemaker_session=session)
    metrics = ModelMetrics(model_statistics=MetricsSource(
        s3_uri=Join(on="/", values=[eval_uri, EVALUATION_FILE]), content_type="application/json"))
    step_register = ModelStep(
        name=STEP_NAMES["register"],
        step_args=model.register(
            content_types=["image/jpeg", "image/png"], response_types=["application/json"],
            inference_instances=["ml.m5.xlarge", "ml.g5.xlarge"], transform_instances=["ml.m5.xlarge"],
            model_package_group_name=p.group, approval_status=p.approval, model_metrics=metrics,
            description="YOLO11 trained by gtlabel on a Ground Truth labeled dataset",
        ),
    )
    step_fail = FailStep(name=STEP_NAMES["fail"], error_message=Join(
        on=" ", values=["mAP50-95 on the test split is below the threshold", p.threshold]))
    map_value = JsonGet(step_name=step_eval.name, property_file=report, json_path="metrics.map50_95.value")
    return ConditionStep(
        name=STEP_NAMES["condition"],
        conditions=[ConditionGreaterThanOrEqualTo(left=cast(Any, map_value), right=p.threshold)],
        if_steps=[step_register, *then], else_steps=[step_fail],
    )


def _text(param: Any) -> Any:
    """A numeric pipeline parameter as a string (``Std:Join``): hyperparameters and arguments are strings."""
    return param.to_string()


def pipeline_definition(config: PipelineConfig) -> str:
    """The pipeline's JSON definition, built offline."""
    return str(build_pipeline(config).definition())



def _tags(config: PipelineConfig) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in sorted({"gtlabel": "yolo11-pipeline", **config.tags}.items())]


def upsert_pipeline(config: PipelineConfig, *, sagemaker_client: Any = None) -> str:
    """Create or update the pipeline on the SageMaker endpoint boto3 resolves; returns its ARN."""
    import boto3  # lazy: ~0.2 s of import time, paid only where AWS is called

    client = sagemaker_client or boto3.client("sagemaker", region_name=config.region)
    pipe = build_pipeline(config, sagemaker_client=client)
    try:
        resp = pipe.upsert(role_arn=config.role_arn, description=config.description, tags=_tags(config))
    except (ClientError, BotoCoreError) as exc:
        raise JobError(f"could not create/update pipeline {config.name!r}: {exc}") from exc
    return str(resp["PipelineArn"])


def start_pipeline(name: str, *, parameters: Mapping[str, Any] | None = None, sagemaker_client: Any = None,
                   region: str | None = None, display_name: str | None = None) -> dict[str, Any]:
    """Start an execution (plain boto3; the SDK is not needed). Parameter names are checked against
    :data:`PIPELINE_PARAMETERS`. Returns ``{"arn", "status"}``."""
    import boto3  # lazy: ~0.2 s of import time, paid only where AWS is called

    valid = {**PIPELINE_PARAMETERS, **SHARDED_PARAMETERS}  # the sharded ones: with PipelineConfig.sharded
    unknown = sorted(set(parameters or {}) - set(valid))
    if unknown:
        raise ConfigError(f"unknown pipeline parameter(s) {', '.join(unknown)}; valid: {', '.join(valid)}")
    client = sagemaker_client or boto3.client("sagemaker", region_name=region)
    kwargs: dict[str, Any] = {"PipelineName": name}
    if parameters:
        kwargs["PipelineParameters"] = [{"Name": k, "Value": str(v)} for k, v in parameters.items()]
    if display_name:
        kwargs["PipelineExecutionDisplayName"] = display_name
    try:
        arn = client.start_pipeline_execution(**kwargs)["PipelineExecutionArn"]
        status = client.describe_pipeline_execution(PipelineExecutionArn=arn).get("PipelineExecutionStatus")
    except (ClientError, BotoCoreError) as exc:
        raise JobError(f"could not start pipeline {name!r}: {exc}") from exc
    return {"arn": str(arn), "status": str(status)}


def config_from_env(**overrides: Any) -> PipelineConfig:
    """A :class:`PipelineConfig` with ``role_arn`` from ``GTLABEL_ROLE_ARN`` and ``region`` from
    ``GTLABEL_REGION`` unless given."""
    settings = get_settings()
    overrides.setdefault("role_arn", settings.role_arn or "")
    overrides.setdefault("region", settings.region)
    return PipelineConfig(**overrides)

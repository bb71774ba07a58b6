"""Pre-annotation and ranking over a large S3 prefix as a SageMaker Processing job sharded across instances
(the SageMaker Python SDK: the ``pipeline`` extra, loaded when a job or step is built).

The images are the job's ``images`` input with ``S3DataDistributionType="ShardedByS3Key"``: each of the
``instance_count`` instances gets a disjoint share of the keys in ``/opt/ml/processing/input/images``, the
model (replicated) in ``/opt/ml/processing/input/model``, and runs ``gtlabel.pipeline_scripts.shard`` (which
leaves ``part-<i>-of-<n>.manifest`` + ``.json`` in ``/opt/ml/processing/output/shards``, uploaded to one S3
prefix); :func:`gtlabel.model.shards.merge_shards` then combines the parts (sorted, no duplicates, every shard
there or an error naming the missing one).

Two ways to run it:

- :func:`run_sharded` (``gtlabel preannotate|rank --sagemaker``): uploads the step script as the job's code
  and a local model beside it under ``<work_prefix>/<job name>/``, creates the job on the SageMaker endpoint
  boto3 resolves, waits, and merges the shards into the output manifest;
- :func:`pipeline_steps`: the same job as a step of the YOLO11 pipeline (:mod:`gtlabel.pipeline`, when
  ``PipelineConfig.sharded`` is set), on the trained model, followed by a ``MergeShards`` step.

Building either makes no network call (telemetry opted out, every S3 location given).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any, cast

from botocore.exceptions import BotoCoreError, ClientError

from gtlabel import facts, storage
from gtlabel.errors import ConfigError, JobError, MissingExtra, NotFound
from gtlabel.model.active import STRATEGIES
from gtlabel.model.offline import SAGEMAKER_OFFLINE_CONFIG, ensure_sagemaker_offline
from gtlabel.model.preannotate import validate_attribute
from gtlabel.model.shards import MERGED_MANIFEST, TASKS, MergeSummary, merge_shards
from gtlabel.model.sliced import slice_options

__all__ = [
    "DEFAULT_INSTANCE_TYPE",
    "MERGE_STEP",
    "SHARDED_PARAMETERS",
    "TASK_STEPS",
    "ShardOptions",
    "ShardedJob",
    "ShardedResult",
    "ShardedStep",
    "pipeline_steps",
    "run_sharded",
    "start_sharded",
    "wait_for_job",
]

#: The sharded step's name in the pipeline, by task; the merge step's.
TASK_STEPS = {"preannotate": "ShardedPreannotate", "rank": "ShardedRank"}
MERGE_STEP = "MergeShards"
#: The pipeline parameters the sharded step adds (only when it is on).
SHARDED_PARAMETERS = {"ShardImagesUri": "String", "ShardInstanceCount": "Integer", "ShardInstanceType": "String"}
#: A GPU instance for inference; its price is the user's to check (UNCONFIRMED here), so it is a setting.
DEFAULT_INSTANCE_TYPE = "ml.g4dn.xlarge"

_PROC = "/opt/ml/processing"
_IMAGES, _MODEL, _SHARDS = f"{_PROC}/input/images", f"{_PROC}/input/model", f"{_PROC}/output/shards"
_JOB_NAME_RE = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
_ROLE_RE = re.compile(r"^arn:aws[a-z\-]*:iam::\d{12}:role/?[a-zA-Z_0-9+=,.@\-_/]+$")
_ENTRY: list[Any] = ["python3", "-m", "gtlabel.pipeline_scripts.shard"]
_SCRIPT = ("pipeline_scripts", "shard.py")
_FAILED = {"Failed", "Stopped"}


@dataclass
class ShardOptions:
    """What every shard runs: the task and its options (those of :func:`~gtlabel.model.preannotate.preannotate`
    and :func:`~gtlabel.model.active.rank`, as the step script's arguments)."""

    task: str = "preannotate"
    classes: Sequence[str] | None = None  # the job's labels (default: the model's names)
    conf: float | None = None  # default: 0.25 for preannotate, 0.05 for rank (the functions' defaults)
    imgsz: int = 640
    batch: int = 8
    max_det: int = 100
    job_name: str | None = None  # job-name in the -metadata
    attribute: str = "prelabels"  # preannotate
    top_k: int = 100  # rank
    strategy: str = "entropy"
    threshold: float = 0.5
    score_key: str = "active-learning"
    prelabels: str | None = None  # rank: also write pre-annotations under this attribute
    prelabel_conf: float = 0.25
    # sliced inference on the full frame (gtlabel.model.sliced; None: whole frames at imgsz)
    slice: tuple[int, int] | None = None
    overlap: float = 0.2
    merge: str = "nms"
    match: str = "ios"
    match_threshold: float = 0.5

    def check(self) -> list[str]:
        problems = []
        try:
            slice_options(self.slice, overlap=self.overlap, merge=self.merge, match=self.match,
                          threshold=self.match_threshold)
        except ConfigError as exc:
            problems.append(str(exc))
        if self.task not in TASKS:
            problems.append(f"task must be one of {', '.join(TASKS)}, got {self.task!r}")
        if self.conf is not None and not 0.0 <= self.conf <= 1.0:
            problems.append(f"conf must be within 0..1, got {self.conf}")
        if self.imgsz < 32 or self.batch < 1 or self.max_det < 1:
            problems.append("imgsz must be >= 32, batch and max_det >= 1")
        if self.classes is not None and (not self.classes or any("," in c or not c.strip() for c in self.classes)):
            problems.append(f"classes must be non-empty names without commas, got {list(self.classes)}")
        try:
            validate_attribute(self.attribute)
            if self.prelabels:
                validate_attribute(self.prelabels)
        except ConfigError as exc:
            problems.append(str(exc))
        if self.task == "rank":
            if self.top_k < 1:
                problems.append(f"top_k must be >= 1, got {self.top_k}")
            if self.strategy not in STRATEGIES:
                problems.append(f"strategy must be one of {', '.join(STRATEGIES)}, got {self.strategy!r}")
            if not 0.0 < self.threshold < 1.0:
                problems.append(f"threshold must be within (0, 1), got {self.threshold}")
        return problems

    def arguments(self) -> list[str]:
        """The step script's task options (paths and the source prefix are added by the job)."""
        args = ["--imgsz", str(self.imgsz), "--batch", str(self.batch), "--max-det", str(self.max_det)]
        if self.classes:
            args += ["--classes", ",".join(self.classes)]
        if self.conf is not None:
            args += ["--conf", str(self.conf)]
        if self.job_name:
            args += ["--job-name", self.job_name]
        if self.slice is not None:
            args += ["--slice", f"{self.slice[0]}x{self.slice[1]}", "--overlap", str(self.overlap), "--merge",
                     self.merge, "--match", self.match, "--match-threshold", str(self.match_threshold)]
        if self.task == "preannotate":
            return [*args, "--attribute", self.attribute]
        args += ["--top-k", str(self.top_k), "--strategy", self.strategy, "--threshold", str(self.threshold),
                 "--score-key", self.score_key]
        if self.prelabels:
            args += ["--prelabels", self.prelabels, "--prelabel-conf", str(self.prelabel_conf)]
        return args


def _check_count(count: Any, problems: list[str]) -> None:
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        problems.append(f"instance_count must be an integer >= 1, got {count!r}")


def _raise(problems: list[str], what: str) -> None:
    if problems:
        raise ConfigError(f"{what} settings are invalid:\n" + "\n".join(f"  - {p}" for p in problems))


def _prefix(uri: str) -> str:
    """An S3 prefix as a folder (``ShardedByS3Key`` shares the keys under it; ``/`` keeps ``images2/`` out)."""
    return uri if uri.endswith("/") else uri + "/"


# ----------------------------------------------------------------------------------------------- SDK
def _import_sdk() -> None:
    ensure_sagemaker_offline()
    try:
        import sagemaker  # noqa: F401
    except ImportError as exc:
        raise MissingExtra("pipeline", "sagemaker") from exc


def _inputs(images: Any, model: Any) -> list[Any]:
    from sagemaker.processing import ProcessingInput

    return [ProcessingInput(source=images, destination=_IMAGES, input_name="images", s3_data_type="S3Prefix",
                            s3_input_mode="File", s3_data_distribution_type="ShardedByS3Key"),
            ProcessingInput(source=model, destination=_MODEL, input_name="model", s3_data_type="S3Prefix",
                            s3_input_mode="File", s3_data_distribution_type="FullyReplicated")]


def _arguments(options: ShardOptions, images: Any) -> list[Any]:
    return [options.task, "--images", _IMAGES, "--model", _MODEL, "--output", _SHARDS, "--source-prefix", images,
            *options.arguments()]


# ----------------------------------------------------------------------------------------------- pipeline step
@dataclass
class ShardedStep:
    """The sharded step of the YOLO11 pipeline (``PipelineConfig.sharded``): run after the model passed the
    mAP check, on the trained model. The fields named like the parameters are their defaults."""

    images_uri: str = ""  # ShardImagesUri: the S3 prefix of the images to pre-annotate or rank
    instance_type: str = DEFAULT_INSTANCE_TYPE  # ShardInstanceType
    instance_count: int = 2  # ShardInstanceCount
    options: ShardOptions = field(default_factory=ShardOptions)
    volume_gb: int = 30
    merge_instance_type: str = "ml.m5.large"  # the MergeShards step (one instance, a few minutes)

    def check(self) -> list[str]:
        problems = self.options.check()
        _check_count(self.instance_count, problems)
        if self.images_uri and (not storage.is_s3(self.images_uri) or not storage.parse_s3(self.images_uri).bucket):
            problems.append(f"sharded images_uri must be an s3:// prefix, got {self.images_uri!r}")
        return problems


def pipeline_steps(step: ShardedStep, *, role_arn: str, session: Any, model_data: Any, image_uri: Any,
                   under: Callable[..., Any], bucket: str) -> tuple[list[Any], list[Any]]:
    """``(parameters, [sharded step, merge step])`` for the pipeline. ``model_data``: the training step's
    model artifacts; ``under(*parts)``: a location under the execution's output prefix."""
    _raise(step.check(), "sharded step")
    _import_sdk()
    from sagemaker.processing import ProcessingInput, ProcessingOutput, Processor
    from sagemaker.workflow.parameters import ParameterInteger, ParameterString
    from sagemaker.workflow.steps import ProcessingStep

    images = ParameterString("ShardImagesUri", default_value=_prefix(step.images_uri or f"s3://{bucket}/unlabeled/"))
    count = ParameterInteger("ShardInstanceCount", default_value=int(step.instance_count))
    itype = ParameterString("ShardInstanceType", default_value=step.instance_type)
    task = step.options.task
    proc = Processor(role=role_arn, image_uri=image_uri, instance_count=count, instance_type=itype,
                     entrypoint=_ENTRY, volume_size_in_gb=step.volume_gb, sagemaker_session=session,
                     base_job_name=f"gtlabel-sharded-{task}")
    shards = ProcessingStep(
        name=TASK_STEPS[task], description=f"{task} over ShardImagesUri, sharded by S3 key across instances",
        step_args=proc.run(inputs=_inputs(images, model_data),
                           outputs=[ProcessingOutput(output_name="shards", source=_SHARDS,
                                                     destination=under("sharded", task, "shards"))],
                           arguments=_arguments(step.options, images)),
    )
    merger = Processor(role=role_arn, image_uri=image_uri, instance_count=1, instance_type=step.merge_instance_type,
                       entrypoint=_ENTRY, sagemaker_session=session, base_job_name="gtlabel-merge-shards")
    shards_uri = shards.properties.ProcessingOutputConfig.Outputs["shards"].S3Output.S3Uri
    merge = ProcessingStep(
        name=MERGE_STEP, description=f"merge the shards' outputs into {MERGED_MANIFEST}",
        step_args=merger.run(
            inputs=[ProcessingInput(source=shards_uri, destination=f"{_PROC}/input/shards", input_name="shards")],
            outputs=[ProcessingOutput(output_name="merged", source=f"{_PROC}/output/merged",
                                      destination=under("sharded", task, "merged"))],
            arguments=["merge", "--input", f"{_PROC}/input/shards", "--output", f"{_PROC}/output/merged",
                       "--shards", cast(Any, count).to_string()]),
    )
    return [images, count, itype], [shards, merge]


# ----------------------------------------------------------------------------------------------- one job
@dataclass
class ShardedJob:
    """A sharded Processing job of its own (``gtlabel preannotate|rank --sagemaker``)."""

    model: str  # weights: a local .pt (uploaded under the job's folder) or an s3:// .pt / model.tar.gz
    images: str  # the s3:// prefix of the images
    work_prefix: str  # s3://bucket/prefix: <job name>/code, /model and /shards go under it
    role_arn: str
    image_uri: str  # an image with gtlabel[train] installed (its python3 runs the uploaded script)
    instance_type: str = DEFAULT_INSTANCE_TYPE
    instance_count: int = 2
    options: ShardOptions = field(default_factory=ShardOptions)
    job_name: str | None = None  # default: gtlabel-<task>-<UTC time>
    region: str | None = None
    volume_gb: int = 30
    max_runtime_s: int = 24 * 3600
    tags: Mapping[str, str] = field(default_factory=dict)

    def name(self) -> str:
        return self.job_name or f"gtlabel-{self.options.task}-{datetime.now(UTC):%Y%m%d-%H%M%S}"

    def check(self) -> None:
        problems = self.options.check()
        _check_count(self.instance_count, problems)
        for attr in ("images", "work_prefix"):
            uri = getattr(self, attr)
            if not storage.is_s3(uri) or not storage.parse_s3(uri).bucket:
                problems.append(f"{attr} must be an s3:// prefix, got {uri!r}")
        if not _ROLE_RE.match(self.role_arn or ""):
            problems.append(f"role_arn {self.role_arn!r} is not an IAM role ARN (arn:aws:iam::<account>:role/...)")
        if not self.image_uri:
            problems.append("image_uri is needed: an image with gtlabel[train] installed (e.g. in your ECR)")
        if not _JOB_NAME_RE.match(self.name()):
            problems.append(f"job name {self.name()!r} must match {_JOB_NAME_RE.pattern}")
        if self.volume_gb < 1 or self.max_runtime_s < 1:
            problems.append("volume_gb and max_runtime_s must be >= 1")
        _raise(problems, "sharded job")


@dataclass
class ShardedResult:
    job_name: str
    job_arn: str
    shards_uri: str  # where the shards' parts are
    status: str
    merged: MergeSummary | None = None  # after waiting and merging
    seconds: float = 0.0


def _session(job: ShardedJob, client: Any) -> Any:
    import boto3  # lazy: ~0.2 s of import time, paid only where AWS is called
    from sagemaker.session import Session

    boto_session = boto3.Session(region_name=job.region or boto3.Session().region_name or "us-east-1")
    return Session(boto_session=boto_session, sagemaker_client=client,
                   default_bucket=storage.parse_s3(job.work_prefix).bucket, sagemaker_config=SAGEMAKER_OFFLINE_CONFIG)


def start_sharded(job: ShardedJob, *, sagemaker_client: Any = None) -> ShardedResult:
    """Check, upload the step script (and a local model) under ``<work_prefix>/<job name>/``, create the job.
    An image prefix with no images is an error before anything is uploaded."""
    job.check()
    _import_sdk()
    import boto3  # lazy: ~0.2 s of import time, paid only where AWS is called
    from sagemaker.processing import ProcessingOutput, ScriptProcessor

    name = job.name()
    images = _prefix(job.images)
    suffixes = facts.limits().image_suffixes
    if next(iter(storage.list_objects(images, suffixes=suffixes)), None) is None:
        raise NotFound(f"no images ({', '.join(suffixes)}) under this prefix", images)
    base = f"{job.work_prefix.rstrip('/')}/{name}"
    code = f"{base}/code/{_SCRIPT[-1]}"
    storage.write_bytes(code, resources.files("gtlabel").joinpath(*_SCRIPT).read_bytes(),
                        content_type="text/x-python")
    model = job.model
    if not storage.is_s3(model):
        model = f"{base}/model/{Path(model).name}"
        storage.copy(job.model, model)
    client = sagemaker_client or boto3.client("sagemaker", region_name=job.region)
    proc = ScriptProcessor(role=job.role_arn, image_uri=job.image_uri, command=["python3"],
                           instance_count=job.instance_count, instance_type=job.instance_type,
                           volume_size_in_gb=job.volume_gb, max_runtime_in_seconds=job.max_runtime_s,
                           sagemaker_session=_session(job, client),
                           tags=[{"Key": k, "Value": v} for k, v in sorted({"gtlabel": "sharded", **job.tags}.items())])
    shards_uri = f"{base}/shards/"
    try:
        proc.run(code=code, inputs=_inputs(images, model), arguments=_arguments(job.options, images),
                 outputs=[ProcessingOutput(output_name="shards", source=_SHARDS, destination=shards_uri)],
                 wait=False, logs=False, job_name=name)
        desc = client.describe_processing_job(ProcessingJobName=name)
    except (ClientError, BotoCoreError) as exc:
        raise JobError(f"could not create processing job {name!r}: {exc}") from exc
    return ShardedResult(job_name=name, job_arn=str(desc["ProcessingJobArn"]), shards_uri=shards_uri,
                         status=str(desc["ProcessingJobStatus"]))


def wait_for_job(name: str, *, sagemaker_client: Any = None, region: str | None = None, poll_s: float = 30.0,
                 timeout_s: float | None = None) -> dict[str, Any]:
    """Poll ``DescribeProcessingJob`` until the job ends; a failed or stopped job is a :class:`JobError`
    with its ``FailureReason``. Returns the last description."""
    import boto3  # lazy: ~0.2 s of import time, paid only where AWS is called

    client = sagemaker_client or boto3.client("sagemaker", region_name=region)
    t0 = time.monotonic()
    while True:
        try:
            desc: dict[str, Any] = dict(client.describe_processing_job(ProcessingJobName=name))
        except (ClientError, BotoCoreError) as exc:
            raise JobError(f"could not describe processing job {name!r}: {exc}") from exc
        status = desc.get("ProcessingJobStatus")
        if status == "Completed":
            return desc
        if status in _FAILED:
            raise JobError(f"processing job {name!r} {str(status).lower()}: "
                           f"{desc.get('FailureReason') or desc.get('ExitMessage') or 'no reason given'}")
        if timeout_s is not None and time.monotonic() - t0 > timeout_s:
            raise JobError(f"processing job {name!r} still {status} after {timeout_s:.0f} s")
        time.sleep(poll_s)


def run_sharded(job: ShardedJob, out_manifest: str, *, sagemaker_client: Any = None, wait: bool = True,
                poll_s: float = 30.0) -> ShardedResult:
    """Start the job; with ``wait``, wait for it and merge every shard's part into ``out_manifest``."""
    t0 = time.perf_counter()
    res = start_sharded(job, sagemaker_client=sagemaker_client)
    if wait:
        res.status = str(wait_for_job(res.job_name, sagemaker_client=sagemaker_client, region=job.region,
                                      poll_s=poll_s)["ProcessingJobStatus"])
        res.merged = merge_shards(res.shards_uri, out_manifest, shards=job.instance_count)
    res.seconds = time.perf_counter() - t0
    return res

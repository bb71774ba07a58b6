"""JobSpec -> ``CreateLabelingJob`` request (typed with ``mypy-boto3-sagemaker``), plus the files it points to.

- :func:`build_request` is pure: a spec and resolved values (name, region, role, workteam, URIs) in, the
  request dict out. The built-in PRE-/ACS- Lambda ARNs come from the facts data for the job's region.
- :func:`prepare_job` is the rim: it resolves region/role/workteam, estimates the cost and applies the budget
  guard, validates the request offline (every problem at once), checks the name is free, and only then writes
  the label category config and the worker template next to the job:
  ``<output>/<job>/gtlabel/label-categories.json`` and ``<output>/<job>/gtlabel/template.liquid.html``.
  Nothing is written when any check fails.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from gtlabel import cost, facts, storage
from gtlabel.errors import ConfigError, Problem, ValidationFailed
from gtlabel.formats.ground_truth import LABEL_CATEGORY_DOCUMENT_VERSION, LabelCategoryConfig
from gtlabel.jobs.names import check_job_name, default_job_name, ensure_name_available
from gtlabel.jobs.spec import JobSpec, PrivateWorkforce, PublicWorkforce
from gtlabel.jobs.template import render_worker_template
from gtlabel.jobs.validate import check_create_labeling_job, label_warnings, validate_or_raise
from gtlabel.jobs.workforce import (
    PII_CLASSIFIER,
    ResolvedWorkforce,
    price_struct,
    resolve_private,
    resolve_public,
    resolve_vendor,
)
from gtlabel.settings import get_settings

if TYPE_CHECKING:
    from mypy_boto3_sagemaker import SageMakerClient
    from mypy_boto3_sagemaker.type_defs import CreateLabelingJobRequestTypeDef, TagTypeDef

    from gtlabel.cost import CostEstimate

__all__ = [
    "LABEL_CATEGORY_DOCUMENT_VERSION",
    "BuiltJob",
    "artifact_uris",
    "build_request",
    "count_manifest_objects",
    "label_category_config",
    "prepare_job",
    "resolve_region",
    "resolve_role",
    "resolve_workforce",
]

ARTIFACT_DIR = "gtlabel"
LABEL_CONFIG_NAME = "label-categories.json"
TEMPLATE_FILE_NAME = "template.liquid.html"


def label_category_config(labels: Sequence[str]) -> dict[str, Any]:
    """The label category file: ``{"document-version": "2018-11-28", "labels": [{"label": ...}, ...]}``."""
    return LabelCategoryConfig(tuple(labels)).to_dict()


def artifact_uris(output_path: str, job_name: str) -> tuple[str, str]:
    """``(label_config_uri, template_uri)`` under ``<output>/<job>/gtlabel/``."""
    base = f"{output_path.rstrip('/')}/{job_name}/{ARTIFACT_DIR}"
    return f"{base}/{LABEL_CONFIG_NAME}", f"{base}/{TEMPLATE_FILE_NAME}"


def resolve_region(region: str | None = None) -> str:
    """The job's region: the argument, else ``GTLABEL_REGION``, else ``AWS_REGION``, else boto3's
    (``AWS_DEFAULT_REGION``, profile)."""
    region = region or get_settings().region or os.environ.get("AWS_REGION")
    if not region:
        import boto3  # lazy: ~0.2 s of import time, paid only where AWS is called

        region = boto3.session.Session().region_name
    if not region:
        raise ConfigError("no AWS region: pass region=..., or set GTLABEL_REGION or AWS_REGION")
    return region


def resolve_role(role_arn: str | None = None) -> str:
    """The execution role: the argument, else ``GTLABEL_ROLE_ARN``, else a ConfigError that says how to get one."""
    role = role_arn or get_settings().role_arn
    if not role:
        raise ConfigError("no execution role for the labeling job: pass role_arn=... or set GTLABEL_ROLE_ARN "
                          "(an IAM role Ground Truth can assume, with S3 access to the data and output; "
                          "`gtlabel iam` prints a policy and a CloudFormation template)")
    return role


def resolve_workforce(spec: JobSpec, region: str, sm_client: SageMakerClient | None) -> ResolvedWorkforce:
    wf = spec.workforce
    if isinstance(wf, PrivateWorkforce):
        return resolve_private(sm_client, region, wf.workteam)
    if isinstance(wf, PublicWorkforce):
        return resolve_public(region, wf.price_usd, spec.task_type)
    return resolve_vendor(region, wf.workteam_arn, wf.price_usd)


_TITLE_UNSAFE = re.compile("[^\t\n\r \u0020-\ud7ff\ue000-\ufffd]")


def _one_line(text: str, limit: int) -> str:
    """``text`` on one line, with only the characters the TaskTitle/TaskDescription patterns allow."""
    clean = re.sub(r"\s+", " ", _TITLE_UNSAFE.sub("", text)).strip()
    return clean if len(clean) <= limit else clean[: limit - 3].rstrip() + "..."


def _title(spec: JobSpec) -> str:
    if spec.task_title:
        return spec.task_title
    verb = {"BoundingBox": "Draw boxes", "AdjustmentBoundingBox": "Adjust boxes",
            "VerificationBoundingBox": "Verify boxes"}[spec.task_type]
    return _one_line(f"{verb}: {', '.join(spec.labels)}", 128)


def _description(spec: JobSpec) -> str:
    if spec.task_description:
        return spec.task_description
    what = {"BoundingBox": "Draw a tight box around every", "AdjustmentBoundingBox": "Correct the boxes of every",
            "VerificationBoundingBox": "Check the boxes of every"}[spec.task_type]
    return _one_line(f"{what} {', '.join(spec.labels)} in drone images", 255)


def build_request(
    spec: JobSpec,
    *,
    job_name: str,
    region: str,
    role_arn: str,
    workforce: ResolvedWorkforce,
    label_config_uri: str,
    template_uri: str,
    extra_tags: Sequence[TagTypeDef] = (),
) -> CreateLabelingJobRequestTypeDef:
    """The ``CreateLabelingJob`` request for ``spec``. Pure."""
    classifiers: list[Any] = list(dict.fromkeys(spec.content_classifiers))
    if workforce.kind == "public":
        if PII_CLASSIFIER not in classifiers:
            classifiers.insert(0, PII_CLASSIFIER)
        if isinstance(spec.workforce, PublicWorkforce) and spec.workforce.free_of_adult_content \
                and "FreeOfAdultContent" not in classifiers:
            classifiers.append("FreeOfAdultContent")
    htc: dict[str, Any] = {
        "WorkteamArn": workforce.workteam_arn,
        "UiConfig": {"UiTemplateS3Uri": template_uri},
        "PreHumanTaskLambdaArn": facts.pre_lambda_arn(region, spec.task_type),
        "TaskTitle": _title(spec),
        "TaskDescription": _description(spec),
        "NumberOfHumanWorkersPerDataObject": spec.workers_per_object,
        "TaskTimeLimitInSeconds": spec.task_time_limit_s,
        "AnnotationConsolidationConfig": {
            "AnnotationConsolidationLambdaArn": facts.acs_lambda_arn(region, spec.task_type)},
    }
    if spec.task_keywords:
        htc["TaskKeywords"] = list(spec.task_keywords)
    if spec.task_availability_lifetime_s is not None:
        htc["TaskAvailabilityLifetimeInSeconds"] = spec.task_availability_lifetime_s
    if spec.max_concurrent_tasks is not None:
        htc["MaxConcurrentTaskCount"] = spec.max_concurrent_tasks
    if workforce.kind == "public" and workforce.task_price_usd is not None:
        htc["PublicWorkforceTaskPrice"] = price_struct(workforce.task_price_usd)

    input_config: dict[str, Any] = {"DataSource": {"S3DataSource": {"ManifestS3Uri": spec.input_manifest}}}
    if classifiers:
        input_config["DataAttributes"] = {"ContentClassifiers": classifiers}
    output_config: dict[str, Any] = {"S3OutputPath": spec.output_path}
    if spec.kms_key_id:
        output_config["KmsKeyId"] = spec.kms_key_id

    request: dict[str, Any] = {
        "LabelingJobName": job_name,
        "LabelAttributeName": spec.resolved_label_attribute_name,
        "InputConfig": input_config,
        "OutputConfig": output_config,
        "RoleArn": role_arn,
        "LabelCategoryConfigS3Uri": label_config_uri,
        "HumanTaskConfig": htc,
    }
    stopping: dict[str, int] = {}
    if spec.stopping and spec.stopping.max_human_labeled_objects is not None:
        stopping["MaxHumanLabeledObjectCount"] = spec.stopping.max_human_labeled_objects
    if spec.stopping and spec.stopping.max_percentage_labeled is not None:
        stopping["MaxPercentageOfInputDatasetLabeled"] = spec.stopping.max_percentage_labeled
    if stopping:
        request["StoppingConditions"] = stopping
    if spec.automated_labeling:
        algo: dict[str, Any] = {"LabelingJobAlgorithmSpecificationArn": facts.adl_algorithm_arn(region)}
        if spec.kms_key_id:  # VolumeKmsKeyId exists only inside LabelingJobAlgorithmsConfig
            algo["LabelingJobResourceConfig"] = {"VolumeKmsKeyId": spec.kms_key_id}
        request["LabelingJobAlgorithmsConfig"] = algo
    tags: list[dict[str, str]] = [{"Key": k, "Value": v} for k, v in spec.tags.items()]
    ours = {str(t["Key"]) for t in extra_tags}
    tags = [t for t in tags if t["Key"] not in ours] + [{"Key": str(t["Key"]), "Value": str(t["Value"])}
                                                        for t in extra_tags]
    if tags:
        request["Tags"] = tags
    typed: CreateLabelingJobRequestTypeDef = request  # type: ignore[assignment]
    return typed


def count_manifest_objects(uri: str) -> int:
    """Non-empty lines of a manifest (streamed; a 1 GB manifest never sits in memory)."""
    return sum(1 for _ in storage.iter_lines(uri))


@dataclass(frozen=True)
class BuiltJob:
    """A validated request and what was (or would be) written next to the job."""

    request: CreateLabelingJobRequestTypeDef
    region: str
    workforce: ResolvedWorkforce
    label_config: dict[str, Any]
    label_config_uri: str
    template_html: str
    template_uri: str
    estimate: CostEstimate | None
    uploaded: bool
    warnings: list[str] = field(default_factory=list)


def prepare_job(
    spec: JobSpec,
    *,
    sm_client: SageMakerClient | None = None,
    upload: bool = True,
    check_name: bool = True,
    objects: int | None = None,
    count_objects: bool = True,
    job_name: str | None = None,
    workforce: ResolvedWorkforce | None = None,
    check_bucket_regions: bool = True,
) -> BuiltJob:
    """Resolve, estimate (budget guard), validate, check the name, then write the job's files (``upload``).

    ``check_bucket_regions``: look up the regions of the manifest/output buckets (``GetBucketLocation``; a
    bucket that cannot be looked up is skipped) so a bucket in another region is caught before the call.

    Raises :class:`~gtlabel.errors.ConfigError` (no role/region/workteam), :class:`~gtlabel.errors.BudgetExceeded`
    (over ``spec.max_budget_usd``), :class:`~gtlabel.errors.ValidationFailed` (every problem, with paths) or
    :class:`~gtlabel.errors.JobNameInUse`; in each case nothing was written.
    """
    region = resolve_region(spec.region)
    role = resolve_role(spec.role_arn)
    name = job_name or spec.name or default_job_name(spec.name_prefix)
    name_problems = check_job_name(name)
    if name_problems:
        raise ValidationFailed(name_problems)
    wf = workforce or resolve_workforce(spec, region, sm_client)

    n = objects if objects is not None else spec.objects
    if n is None and (count_objects or spec.max_budget_usd is not None):
        n = count_manifest_objects(spec.input_manifest)
    est = None
    if n is not None:
        est = cost.estimate(n, spec.workers_per_object, wf.kind, wf.task_price_usd, free_tier=spec.free_tier,
                            max_budget_usd=spec.max_budget_usd)
        cost.check_budget(est)

    # one key for the job and its files: the spec's, else GTLABEL_KMS_KEY_ID (the guardrail policy requires the
    # job's OutputConfig.KmsKeyId, the bucket policy SSE-KMS on every upload)
    kms = spec.kms_key_id or storage.configured_kms_key()
    if kms != spec.kms_key_id:
        spec = spec.model_copy(update={"kms_key_id": kms})
    label_uri, template_uri = artifact_uris(spec.output_path, name)
    request = build_request(spec, job_name=name, region=region, role_arn=role, workforce=wf,
                            label_config_uri=label_uri, template_uri=template_uri,
                            extra_tags=cost.budget_tags(est) if est is not None else ())
    problems: list[Problem] = check_create_labeling_job(
        request, region=region, labels=spec.labels, prior_label_attribute_name=spec.prior_label_attribute_name,
        read_label_config=False, lookup_bucket_regions=check_bucket_regions)
    validate_or_raise(problems)
    template = render_worker_template(
        header=spec.header, short_instructions=spec.short_instructions, full_instructions=spec.full_instructions,
        examples=[e.to_example() for e in spec.examples], task_type=spec.task_type,
        prior_label_attribute_name=spec.prior_label_attribute_name, labels=spec.labels)
    config = label_category_config(spec.labels)
    if check_name and sm_client is not None:
        ensure_name_available(sm_client, name)
    if upload:
        with storage.encrypt_with(kms):
            storage.write_bytes(label_uri, json.dumps(config, indent=2, allow_nan=False).encode("utf-8") + b"\n",
                                content_type="application/json")
            storage.write_bytes(template_uri, template.encode("utf-8"), content_type="text/html; charset=utf-8")
    warnings = label_warnings(spec.labels)
    if est is not None and est.notes:
        warnings += list(est.notes)
    if n is not None and n > facts.limits().objects_per_job:
        warnings.append(f"{n:,} objects is over the default quota of {facts.limits().objects_per_job:,} objects "
                        f"per job (raise it in Service Quotas or split the manifest)")
    return BuiltJob(request=request, region=region, workforce=wf, label_config=config, label_config_uri=label_uri,
                    template_html=template, template_uri=template_uri, estimate=est, uploaded=upload,
                    warnings=warnings)

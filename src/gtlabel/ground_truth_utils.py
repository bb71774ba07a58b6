"""The seed's API as a thin facade: the seed's examples run with only their import line changed.

```python
import boto3
from gtlabel.ground_truth_utils import create_labeling_job_config
cfg = create_labeling_job_config(
    job_name="drone-objects-2026-11-25", input_path="s3://my-bucket/raw/drone/",
    output_path="s3://my-bucket/labels/", task_type="BoundingBox", worker_type="private",
    labels=["drone", "vehicle", "person", "building"],
    instructions="Draw a tight box around every drone, vehicle, person and building.", max_budget_usd=50.0)
boto3.client("sagemaker").create_labeling_job(**cfg)
```

:func:`create_labeling_job_config` builds the input manifest when ``input_path`` is an S3 prefix, resolves the
workteam, estimates the cost and refuses over ``max_budget_usd`` (:class:`~gtlabel.errors.BudgetExceeded`),
validates the request offline (every problem at once), checks the job name is free, writes the label
category config and worker template next to the job, and returns the ``CreateLabelingJob`` kwargs.
:func:`convert_ground_truth_to_yolo` is :func:`gtlabel.convert.convert_ground_truth_to_yolo`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from gtlabel import storage
from gtlabel.convert import run
from gtlabel.errors import ConfigError, GtlabelError, ValidationFailed
from gtlabel.jobs.build import prepare_job, resolve_region, resolve_role
from gtlabel.jobs.names import check_job_name, default_job_name, ensure_name_available
from gtlabel.jobs.spec import JobSpec
from gtlabel.jobs.workforce import check_public_price
from gtlabel.manifests import build_input_manifest

if TYPE_CHECKING:
    from mypy_boto3_sagemaker import SageMakerClient

    from gtlabel.jobs.build import BuiltJob

__all__ = ["build_labeling_job", "convert_ground_truth_to_yolo", "create_labeling_job_config"]

log = logging.getLogger(__name__)

DEFAULT_LABELS = ("drone", "vehicle", "person", "building")
MANIFEST_SUFFIXES = (".manifest", ".jsonl", ".json")
_WORKER_TYPES = ("private", "public", "vendor")


def _is_manifest(path: str) -> bool:
    return path.lower().endswith(MANIFEST_SUFFIXES)


def build_labeling_job(
    job_name: str | None,
    input_path: str,
    output_path: str,
    task_type: str = "BoundingBox",
    worker_type: str = "private",
    labels: Sequence[str] | None = None,
    instructions: str | None = None,
    max_budget_usd: float | Decimal | None = None,
    *,
    role_arn: str | None = None,
    region: str | None = None,
    workteam: str | None = None,
    public_price_usd: float | Decimal | str | None = None,
    vendor_price_usd: float | Decimal | str | None = None,
    workers_per_object: int = 1,
    header: str = "Draw a tight box around each object",
    full_instructions: str | None = None,
    examples: Sequence[Mapping[str, str]] = (),
    sample: int | None = None,
    seed: int = 0,
    prior_label_attribute_name: str | None = None,
    label_attribute_name: str | None = None,
    task_time_limit_s: int = 600,
    task_availability_lifetime_s: int | None = None,
    max_concurrent_tasks: int | None = None,
    free_tier: bool = False,
    tags: Mapping[str, str] | None = None,
    kms_key_id: str | None = None,
    sm_client: SageMakerClient | None = None,
    check_name: bool = True,
    upload: bool = True,
) -> BuiltJob:
    """Everything :func:`create_labeling_job_config` does, returning the :class:`~gtlabel.jobs.build.BuiltJob`
    (request, estimate, written URIs, warnings) instead of only the request."""
    if worker_type not in _WORKER_TYPES:
        raise ConfigError(f"worker_type must be one of {', '.join(_WORKER_TYPES)}, got {worker_type!r}")
    if not storage.is_s3(input_path):
        raise ConfigError(f"input_path {input_path!r} must be an s3:// prefix or manifest (Ground Truth reads S3)")
    region = resolve_region(region)
    role_arn = resolve_role(role_arn)  # before any S3 write: a missing role leaves nothing behind
    name = job_name or default_job_name()
    workforce = _workforce(worker_type, workteam, public_price_usd, vendor_price_usd, task_type)
    needs_client = (worker_type == "private" and not (workteam or "").startswith("arn:")) or check_name
    client = sm_client if sm_client is not None or not needs_client else _sagemaker_client(region)
    if check_name and client is not None:
        _check_name_free(client, name)
    manifest, objects = _input_manifest(input_path, output_path, name, sample=sample, seed=seed,
                                        kms_key_id=kms_key_id)
    spec_data: dict[str, Any] = {
        "name": name, "task_type": task_type, "input_manifest": manifest, "output_path": output_path,
        "role_arn": role_arn, "region": region, "labels": list(labels or DEFAULT_LABELS), "header": header,
        "short_instructions": instructions, "full_instructions": full_instructions,
        "examples": [dict(e) for e in examples], "workforce": workforce,
        "workers_per_object": workers_per_object, "task_time_limit_s": task_time_limit_s,
        "task_availability_lifetime_s": task_availability_lifetime_s,
        "max_concurrent_tasks": max_concurrent_tasks, "label_attribute_name": label_attribute_name,
        "prior_label_attribute_name": prior_label_attribute_name, "tags": dict(tags or {}),
        "kms_key_id": kms_key_id, "max_budget_usd": max_budget_usd, "free_tier": free_tier,
    }
    built = _prepare(spec_data, client, objects=objects, upload=upload,
                     built_manifest=None if objects is None else manifest)
    if built.estimate is not None:
        log.info("cost estimate for %s:\n%s", name, built.estimate.to_text())
    for w in built.warnings:
        log.warning("%s", w)
    return built


def _workforce(worker_type: str, workteam: str | None, public_price_usd: float | Decimal | str | None,
               vendor_price_usd: float | Decimal | str | None, task_type: str) -> dict[str, Any]:
    """The ``workforce`` part of the job spec for ``worker_type`` (one of ``_WORKER_TYPES``)."""
    if worker_type == "private":
        return {"type": "private", "workteam": workteam}
    if worker_type == "public":
        # checked here, so that the message names this function's parameter and lists the allowed prices
        return {"type": "public",
                "price_usd": check_public_price(public_price_usd, task_type, param="public_price_usd")}
    if not workteam:
        raise ConfigError("worker_type='vendor' needs workteam=<the subscribed vendor workteam ARN>")
    return {"type": "vendor", "workteam_arn": workteam, "price_usd": vendor_price_usd}


def _sagemaker_client(region: str) -> SageMakerClient:
    import boto3  # lazy: ~0.2 s of import time, paid only where AWS is called

    return boto3.client("sagemaker", region_name=region)


def _check_name_free(client: SageMakerClient, name: str) -> None:
    """Before anything is written under <output>/<name>/: a taken name must not touch that job's files."""
    bad_name = check_job_name(name)
    if bad_name:
        raise ValidationFailed(bad_name)
    ensure_name_available(client, name)


def _input_manifest(input_path: str, output_path: str, name: str, *, sample: int | None, seed: int,
                    kms_key_id: str | None) -> tuple[str, int | None]:
    """The job's input manifest: ``input_path`` when it is one (and no sample is asked for), else one built from
    the prefix next to the job's other files; ``(manifest URI, objects written or None when given)``."""
    if _is_manifest(input_path) and sample is None:
        return input_path, None

    manifest = f"{output_path.rstrip('/')}/{name}/gtlabel/input.manifest"
    with storage.encrypt_with(kms_key_id):  # the job's own key, else GTLABEL_KMS_KEY_ID
        summary = build_input_manifest(input_path, manifest, sample=sample, seed=seed)
    log.info("input manifest %s: %d objects (%s skipped)", manifest, summary.written,
             sum(summary.skipped.values()))
    if summary.written == 0:
        _discard(manifest)
        raise ConfigError(f"no images (.jpg, .jpeg, .png up to 40 MB) found under {input_path}")
    return manifest, summary.written


def _prepare(spec_data: Mapping[str, Any], client: SageMakerClient | None, *, objects: int | None, upload: bool,
             built_manifest: str | None) -> BuiltJob:
    """The spec checked and the job prepared; a manifest built for it is removed if that fails."""
    try:
        spec = JobSpec.from_dict(dict(spec_data), source="create_labeling_job_config")
        return prepare_job(spec, sm_client=client, check_name=False, objects=objects, upload=upload)
    except GtlabelError:
        if built_manifest is not None:  # leave nothing behind for a job that will not be created
            _discard(built_manifest)
        raise


def _discard(uri: str) -> None:
    """Remove a manifest we wrote for a job that will not be created; a refused delete (a policy without
    s3:DeleteObject) is logged and must not replace the error that explains why there is no job."""
    try:
        storage.delete(uri)
    except GtlabelError as exc:
        log.warning("could not remove %s (%s); delete it by hand", uri, exc)


def create_labeling_job_config(
    job_name: str | None,
    input_path: str,
    output_path: str,
    task_type: str = "BoundingBox",
    worker_type: str = "private",
    labels: Sequence[str] | None = None,
    instructions: str | None = None,
    max_budget_usd: float | Decimal | None = None,
    **options: Any,
) -> dict[str, Any]:
    """kwargs for ``boto3.client("sagemaker").create_labeling_job(**cfg)``.

    ``input_path``: an S3 prefix of images (a manifest is built under ``<output>/<job>/gtlabel/input.manifest``;
    ``sample=N``/``seed=`` pick a deterministic subset) or an existing ``.manifest``/``.jsonl``.
    ``worker_type``: ``private`` (``workteam=`` name or ARN, else the only private workteam), ``public``
    (``public_price_usd=`` one of the allowed prices) or ``vendor`` (``workteam=`` vendor ARN).
    ``max_budget_usd``: refuse (:class:`~gtlabel.errors.BudgetExceeded`, with the breakdown) when the estimate
    is over it; the budget is recorded in the job's tags. ``role_arn``: else ``GTLABEL_ROLE_ARN``.
    Other options: see :func:`build_labeling_job`.
    """
    built = build_labeling_job(job_name, input_path, output_path, task_type, worker_type, labels, instructions,
                               max_budget_usd, **options)
    return dict(built.request)


def convert_ground_truth_to_yolo(
    input_manifest: Any, output_directory: Any, class_mapping: Any = None, **kwargs: Any
) -> Any:
    """The seed's converter: :func:`gtlabel.convert.convert_ground_truth_to_yolo`."""
    return run.convert_ground_truth_to_yolo(input_manifest, output_directory, class_mapping, **kwargs)

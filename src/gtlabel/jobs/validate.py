"""Offline validation of SageMaker requests, and the Ground Truth rules for ``CreateLabelingJob``.

Three layers, every problem collected with its dotted path (``HumanTaskConfig.TaskTitle``, ``Tags[3].Key``):

1. botocore's own ``ParamValidator`` against the SageMaker service model (required fields, types, unknown
   keys, ``min``): exactly what ``boto3`` checks before it sends anything;
2. a walker over the same model for what botocore skips: ``max`` (length, value, list size), ``pattern``
   (``re.fullmatch``; Java's ``\\p{L}``-style classes are translated, patterns Python cannot compile are
   skipped) and ``enum`` (1 and 2: :mod:`gtlabel.jobs.params`);
3. Ground Truth rules (:func:`ground_truth_problems`, :mod:`gtlabel.jobs.rules`): the PRE-/ACS- Lambda account
   matches the region and the function names match the task type, label attribute name rules, time limits, the
   Mechanical Turk price list and PII flag, label count/uniqueness/length, ``s3://`` URIs in the job's region.

:func:`validate_params` serves ANY SageMaker operation (the local service calls it for every request it
accepts, so a request is accepted or rejected the same way here and there). The pure functions here do no
I/O; :func:`check_create_labeling_job` is the rim that reads the label category file and looks up bucket
regions before calling them. :func:`validate_or_raise` raises one :class:`~gtlabel.errors.ValidationFailed`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from gtlabel import storage
from gtlabel.errors import GtlabelError, Problem, ValidationFailed
from gtlabel.formats.ground_truth import LABEL_CATEGORY_DOCUMENT_VERSION, LabelCategoryConfig
from gtlabel.jobs.params import validate_params, warm_up
from gtlabel.jobs.rules import (
    dig,
    ground_truth_problems,
    label_problems,
    label_warnings,
    request_uris,
    s3_bucket,
    task_type_of,
)

__all__ = [
    "Problem",
    "bucket_region",
    "check_create_labeling_job",
    "error_message",
    "ground_truth_problems",
    "label_problems",
    "label_warnings",
    "task_type_of",
    "validate_create_labeling_job",
    "validate_or_raise",
    "validate_params",
    "warm_up",
]


def validate_create_labeling_job(
    request: Mapping[str, Any],
    *,
    region: str | None = None,
    labels: Sequence[object] | None = None,
    prior_label_attribute_name: str | None = None,
    bucket_regions: Mapping[str, str] | None = None,
    preflight: bool = True,
) -> list[Problem]:
    """Every problem of a ``CreateLabelingJob`` request: :func:`validate_params` + :func:`ground_truth_problems`.

    Pure (no I/O). Problems at the same path with the same message are reported once.
    """
    problems = validate_params("CreateLabelingJob", request)
    if isinstance(request, Mapping):
        problems += ground_truth_problems(request, region=region, labels=labels,
                                          prior_label_attribute_name=prior_label_attribute_name,
                                          bucket_regions=bucket_regions, preflight=preflight)
    seen: set[tuple[str, str]] = set()
    unique = []
    for p in problems:
        if (p.path, p.message) not in seen:
            seen.add((p.path, p.message))
            unique.append(p)
    return unique


def error_message(problems: Sequence[Problem]) -> str:
    """One AWS-style message for a ``ValidationException`` reply: ``"2 validation errors detected: a; b"``."""
    n = len(problems)
    return f"{n} validation error{'s' if n != 1 else ''} detected: " + "; ".join(str(p) for p in problems)


def validate_or_raise(problems: Sequence[Problem], what: str = "CreateLabelingJob request") -> None:
    """Raise one :class:`~gtlabel.errors.ValidationFailed` listing every problem, if there are any."""
    if problems:
        raise ValidationFailed(problems, what)


# ------------------------------------------------------------------------------------------- the I/O rim
def _read_labels(uri: str) -> tuple[list[object] | None, Problem | None, str | None]:
    """``(labels, problem, unreadable_reason)`` for a label category file."""
    try:
        doc = json.loads(storage.read_text(uri))
    except (GtlabelError, BotoCoreError) as exc:
        return None, None, f"label category file not checked (cannot read it): {exc}"
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        return None, Problem("LabelCategoryConfigS3Uri", f"{uri}: not valid JSON ({exc})"), None
    labels = LabelCategoryConfig.label_entries(doc)
    if labels is None:
        return None, Problem("LabelCategoryConfigS3Uri",
                             f"{uri}: expected {{\"document-version\": \"{LABEL_CATEGORY_DOCUMENT_VERSION}\", "
                             f"\"labels\": [{{\"label\": ...}}]}}"), None
    return labels, None, None


def bucket_region(bucket: str) -> str | None:
    """The region of ``bucket`` (``GetBucketLocation``), or ``None`` when it cannot be found out."""
    try:
        loc = storage.s3_client().get_bucket_location(Bucket=bucket).get("LocationConstraint")
    except (ClientError, BotoCoreError):
        return None
    return str(loc) if loc else "us-east-1"


def check_create_labeling_job(
    request: Mapping[str, Any],
    *,
    region: str | None = None,
    labels: Sequence[object] | None = None,
    prior_label_attribute_name: str | None = None,
    read_label_config: bool = True,
    lookup_bucket_regions: bool = False,
    bucket_region_of: Callable[[str], str | None] = bucket_region,
    on_warning: Callable[[str], None] | None = None,
) -> list[Problem]:
    """:func:`validate_create_labeling_job` after the I/O it needs: the labels from ``LabelCategoryConfigS3Uri``
    (when ``labels`` is not given and ``read_label_config``) and the buckets' regions (``lookup_bucket_regions``).

    A label category file that cannot be read is not a problem here (the labels are then unknown); it is
    reported to ``on_warning``. One that is read but malformed is a problem.
    """
    extra: list[Problem] = []
    uri = dig(request, "LabelCategoryConfigS3Uri")
    if labels is None and read_label_config and isinstance(uri, str) and uri.startswith("s3://"):
        labels, problem, unreadable = _read_labels(uri)
        if problem:
            extra.append(problem)
        if unreadable and on_warning:
            on_warning(unreadable)
    regions: dict[str, str] = {}
    if lookup_bucket_regions and isinstance(request, Mapping):
        for b in {s3_bucket(u) for u in request_uris(request).values()} - {None}:
            r = bucket_region_of(str(b))
            if r:
                regions[str(b)] = r
    return validate_create_labeling_job(request, region=region, labels=labels,
                                        prior_label_attribute_name=prior_label_attribute_name,
                                        bucket_regions=regions) + extra

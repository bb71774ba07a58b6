"""Ground Truth's rules for a ``CreateLabelingJob`` request that the service model does not express.

The PRE-/ACS- Lambda account matches the region and the function names match the task type, the workteam
is in the job's region, label attribute name rules, time limits, the Mechanical Turk price list and PII flag,
label count/uniqueness/length, ``s3://`` URIs in the job's region. Pure: everything comes in as arguments;
every problem is collected with its dotted path.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from gtlabel import facts
from gtlabel.aws import Arn, is_public_workteam
from gtlabel.errors import ConfigError, Problem
from gtlabel.formats.ground_truth import METADATA_SUFFIX, metadata_key

__all__ = [
    "dig",
    "ground_truth_problems",
    "label_problems",
    "label_warnings",
    "request_uris",
    "s3_bucket",
    "task_type_of",
]

_LAMBDA_FIELDS = (
    ("HumanTaskConfig.PreHumanTaskLambdaArn", ("HumanTaskConfig", "PreHumanTaskLambdaArn"), "PRE-"),
    ("HumanTaskConfig.AnnotationConsolidationConfig.AnnotationConsolidationLambdaArn",
     ("HumanTaskConfig", "AnnotationConsolidationConfig", "AnnotationConsolidationLambdaArn"), "ACS-"),
)


def dig(obj: object, *keys: str) -> Any:
    """``obj[k1][k2]...`` or ``None`` where a level is missing or not a mapping (requests may be malformed)."""
    for k in keys:
        if not isinstance(obj, Mapping):
            return None
        obj = obj.get(k)
    return obj


def s3_bucket(uri: object) -> str | None:
    """The bucket of an ``s3://bucket/key`` URI, else ``None``."""
    if isinstance(uri, str) and uri.startswith("s3://"):
        return uri[5:].partition("/")[0] or None
    return None


def request_uris(request: Mapping[str, Any]) -> dict[str, object]:
    """The S3 URIs of a request by dotted path (``None`` where absent)."""
    return {
        "InputConfig.DataSource.S3DataSource.ManifestS3Uri":
            dig(request, "InputConfig", "DataSource", "S3DataSource", "ManifestS3Uri"),
        "OutputConfig.S3OutputPath": dig(request, "OutputConfig", "S3OutputPath"),
        "LabelCategoryConfigS3Uri": dig(request, "LabelCategoryConfigS3Uri"),
        "HumanTaskConfig.UiConfig.UiTemplateS3Uri": dig(request, "HumanTaskConfig", "UiConfig", "UiTemplateS3Uri"),
    }


def task_type_of(request: Mapping[str, Any]) -> str | None:
    """The built-in task type named by the request's PRE-/ACS- Lambdas (``"BoundingBox"``...), else ``None``."""
    for _, keys, prefix in _LAMBDA_FIELDS:
        parsed = Arn.parse(dig(request, *keys))
        name = parsed.function_name if parsed else None
        if name and name.startswith(prefix):
            return name[len(prefix):]
    return None


def label_problems(labels: Sequence[object], *, path: str = "LabelCategoryConfigS3Uri",
                   task_type: str | None = "BoundingBox") -> list[Problem]:
    """Label count (1..max from the limits file), uniqueness and length."""
    lim = facts.limits()
    out: list[Problem] = []
    if len(labels) < lim.min_labels:
        out.append(Problem(path, f"the job needs at least {lim.min_labels} label(s), got {len(labels)}"))
    if (task_type is None or task_type.endswith("BoundingBox")) and len(labels) > lim.labels_max:
        out.append(Problem(path, f"{len(labels)} labels: a bounding-box job allows at most {lim.labels_max} "
                                 f"(up to {lim.labels_safe_max} is the documented safe limit)"))
    seen: dict[str, int] = {}
    for i, label in enumerate(labels):
        where = f"{path}.labels[{i}]"
        if not isinstance(label, str):
            out.append(Problem(where, f"a label must be a string, got {type(label).__name__}"))
            continue
        if not label.strip():
            out.append(Problem(where, "a label must not be empty or blank"))
        if len(label) > lim.max_label_length:
            out.append(Problem(where, f"label is {len(label)} characters; at most {lim.max_label_length} allowed"))
        key = label.strip()
        if key in seen:
            out.append(Problem(where, f"duplicate label {label!r} (also at index {seen[key]}); labels must be unique"))
        else:
            seen[key] = i
    return out


def label_warnings(labels: Sequence[str]) -> list[str]:
    """Advice that is not an error: more labels than the documented safe 10, labels differing only by case."""
    lim = facts.limits()
    out = []
    if lim.labels_safe_max < len(labels) <= lim.labels_max:
        out.append(f"{len(labels)} labels: more than {lim.labels_safe_max} is UNCONFIRMED to work for bounding-box "
                   f"jobs (the crowd-bounding-box element documents a 10-label limit); test it first")
    lowered: dict[str, str] = {}
    for label in labels:
        other = lowered.setdefault(label.strip().lower(), label)
        if other != label:
            out.append(f"labels {other!r} and {label!r} differ only by case")
    return out


def ground_truth_problems(
    request: Mapping[str, Any],
    *,
    region: str | None = None,
    labels: Sequence[object] | None = None,
    prior_label_attribute_name: str | None = None,
    bucket_regions: Mapping[str, str] | None = None,
    preflight: bool = True,
) -> list[Problem]:
    """The Ground Truth rules the service model does not express. Pure: everything comes in as arguments.

    ``preflight``: also apply gtlabel's own checks for things CreateLabelingJob accepts but the job then fails
    on (a bounding-box job without a label category file). A server emulating the API passes ``False``.

    ``region``: the job's region (else taken from the Lambda/workteam ARNs). ``labels``: the label category
    config's labels when known. ``prior_label_attribute_name``: the attribute an adjustment/verification job
    starts from. ``bucket_regions``: bucket -> region for the buckets whose region is known.
    """
    htc = dig(request, "HumanTaskConfig")
    if not isinstance(htc, Mapping):
        htc = {}
    task_type = task_type_of(request)
    out, regions_seen = _lambda_problems(request, region)
    workteam = htc.get("WorkteamArn")
    public = is_public_workteam(workteam)
    wt = Arn.parse(workteam)
    out += _workteam_problems(wt, public, region)
    job_region = region or next(iter(sorted(regions_seen)), None) or (wt.region if wt else None)
    out += _label_attribute_problems(dig(request, "LabelAttributeName"), task_type, prior_label_attribute_name)
    out += _time_limit_problems(htc, public)
    if public:
        out += _public_workforce_problems(request, htc, task_type)
    if labels is not None:
        out.extend(label_problems(labels, task_type=task_type))
    out += _uri_problems(request, job_region, bucket_regions)
    out += _task_ui_problems(request, htc, task_type, preflight)
    return out


def _lambda_problems(request: Mapping[str, Any], region: str | None) -> tuple[list[Problem], set[str]]:
    """Built-in Lambdas: account matches the ARN's region, region matches the job, names match each other.
    ``(problems, the built-in Lambdas' regions)``."""
    out: list[Problem] = []
    regions_seen: set[str] = set()
    kinds: dict[str, str] = {}
    for path, keys, prefix in _LAMBDA_FIELDS:
        parts = Arn.parse(dig(request, *keys))
        name = parts.function_name if parts else None
        if not parts or not name:
            continue
        other = "ACS-" if prefix == "PRE-" else "PRE-"
        if name.startswith(other):
            out.append(Problem(path, f"{name} is a {other.rstrip('-')} function; this field needs a "
                                     f"{prefix.rstrip('-')} function ({prefix}<TaskType>)"))
            continue
        if not name.startswith(prefix):
            continue  # a custom Lambda in the user's own account
        kinds[prefix] = name[len(prefix):]
        arn_region = parts.region
        regions_seen.add(arn_region)
        try:
            want = facts.lambda_account(arn_region)
        except ConfigError as exc:
            out.append(Problem(path, str(exc)))
            continue
        if parts.account != want:
            out.append(Problem(path, f"built-in {name} in {arn_region} is owned by account {want}, not "
                                     f"{parts.account} (each region has its own account): use "
                                     f"arn:aws:lambda:{arn_region}:{want}:function:{name}"))
        if region and arn_region != region:
            out.append(Problem(path, f"the Lambda is in {arn_region} but the job runs in {region}"))
    if len(kinds) == 2 and kinds["PRE-"] != kinds["ACS-"]:
        out.append(Problem("HumanTaskConfig.AnnotationConsolidationConfig.AnnotationConsolidationLambdaArn",
                           f"PRE-{kinds['PRE-']} and ACS-{kinds['ACS-']} belong to different task types"))
    return out, regions_seen


def _workteam_problems(wt: Arn | None, public: bool, region: str | None) -> list[Problem]:
    out: list[Problem] = []
    if wt and wt.service == "sagemaker":
        if region and wt.region and wt.region != region:
            out.append(Problem("HumanTaskConfig.WorkteamArn",
                               f"the workteam is in {wt.region} but the job runs in {region}"))
        if public and wt.account != facts.public_workforce_account():
            out.append(Problem("HumanTaskConfig.WorkteamArn",
                               f"the public (Mechanical Turk) workteam belongs to account "
                               f"{facts.public_workforce_account()}, not {wt.account}"))
    return out


def _label_attribute_problems(attr: object, task_type: str | None, prior: str | None) -> list[Problem]:
    out: list[Problem] = []
    if not isinstance(attr, str) or not attr:
        return out
    lim = facts.limits()
    if attr.endswith(METADATA_SUFFIX):
        out.append(Problem("LabelAttributeName", f"{attr!r} must not end with '{METADATA_SUFFIX}' (Ground Truth "
                                                 f"adds '{metadata_key('<name>')}' itself)"))
    if attr in lim.reserved_label_attribute_names:
        out.append(Problem("LabelAttributeName", f"{attr!r} is reserved (reserved names: "
                                                 f"{', '.join(lim.reserved_label_attribute_names)})"))
    needs_ref = task_type is not None and task_type.endswith("SemanticSegmentation") \
        and not task_type.startswith("Verification")
    if task_type is not None and not needs_ref and attr.endswith("-ref"):
        out.append(Problem("LabelAttributeName", f"{attr!r} must not end with '-ref' for a {task_type} job"))
    if needs_ref and not attr.endswith("-ref"):
        out.append(Problem("LabelAttributeName", f"{attr!r} must end with '-ref' for a {task_type} job"))
    if task_type and task_type.startswith(("Adjustment", "Verification")) and prior \
            and attr.lower() == prior.lower():
        out.append(Problem("LabelAttributeName", f"an {task_type} job must use a new label attribute name, "
                                                 f"not the original job's {prior!r}"))
    return out


def _time_limit_problems(htc: Mapping[str, Any], public: bool) -> list[Problem]:
    """Time limits (the model has only the minimums)."""
    out: list[Problem] = []
    lim = facts.limits()
    ttl = htc.get("TaskTimeLimitInSeconds")
    if isinstance(ttl, int) and not isinstance(ttl, bool) and ttl > lim.task_time_max:
        out.append(Problem("HumanTaskConfig.TaskTimeLimitInSeconds",
                           f"{ttl} s is over the {lim.task_time_max} s (8 h) maximum for image tasks"))
    avail = htc.get("TaskAvailabilityLifetimeInSeconds")
    if isinstance(avail, int) and not isinstance(avail, bool):
        amax = lim.availability_max_public if public else lim.availability_max_private
        if avail > amax:
            who = "a public (Mechanical Turk) workforce" if public else "a private or vendor workforce"
            out.append(Problem("HumanTaskConfig.TaskAvailabilityLifetimeInSeconds",
                               f"{avail} s is over the {amax} s maximum for {who}"))
    return out


def _public_workforce_problems(request: Mapping[str, Any], htc: Mapping[str, Any],
                               task_type: str | None) -> list[Problem]:
    """Mechanical Turk: price from the allowed list, PII classifier."""
    out: list[Problem] = []
    price = htc.get("PublicWorkforceTaskPrice")
    allowed = facts.allowed_task_prices(task_type or "BoundingBox")
    if not price:
        out.append(Problem("HumanTaskConfig.PublicWorkforceTaskPrice",
                           "a public (Mechanical Turk) workforce needs PublicWorkforceTaskPrice; allowed USD "
                           f"values: {', '.join(str(p) for p in allowed)}"))
    else:
        usd = (price or {}).get("AmountInUsd") if isinstance(price, Mapping) else None
        if not isinstance(usd, Mapping):
            out.append(Problem("HumanTaskConfig.PublicWorkforceTaskPrice.AmountInUsd", "missing AmountInUsd"))
        else:
            try:
                value = (Decimal(int(usd.get("Dollars", 0))) + Decimal(int(usd.get("Cents", 0))) / 100
                         + Decimal(int(usd.get("TenthFractionsOfACent", 0))) / 1000)
            except (TypeError, ValueError):
                value = None
            if value is not None and value not in allowed:
                out.append(Problem("HumanTaskConfig.PublicWorkforceTaskPrice.AmountInUsd",
                                   f"${value} per task is not an allowed price; allowed USD values: "
                                   f"{', '.join(str(p) for p in allowed)}"))
    classifiers = dig(request, "InputConfig", "DataAttributes", "ContentClassifiers")
    if not isinstance(classifiers, list | tuple):
        classifiers = []
    if "FreeOfPersonallyIdentifiableInformation" not in classifiers:
        out.append(Problem("InputConfig.DataAttributes.ContentClassifiers",
                           "a public (Mechanical Turk) workforce needs the content classifier "
                           "'FreeOfPersonallyIdentifiableInformation' (without it the job fails)"))
    return out


def _uri_problems(request: Mapping[str, Any], job_region: str | None,
                  bucket_regions: Mapping[str, str] | None) -> list[Problem]:
    """URIs: s3:// and, where the bucket region is known, the job's region."""
    out: list[Problem] = []
    for path, uri in request_uris(request).items():
        if uri is None:
            continue
        bucket = s3_bucket(uri)
        if bucket is None:
            out.append(Problem(path, f"{uri!r} must be an s3://bucket/key URI"))
            continue
        bregion = (bucket_regions or {}).get(bucket)
        if bregion and job_region and bregion != job_region:
            out.append(Problem(path, f"bucket {bucket!r} is in {bregion} but the job runs in {job_region}; "
                                     f"Ground Truth needs its data in the job's region"))
    return out


def _task_ui_problems(request: Mapping[str, Any], htc: Mapping[str, Any], task_type: str | None,
                      preflight: bool) -> list[Problem]:
    """A bounding-box job's worker template and label category file."""
    out: list[Problem] = []
    ui = dig(htc, "UiConfig")
    if task_type and task_type.endswith("BoundingBox") and isinstance(ui, Mapping) and ui.get("HumanTaskUiArn"):
        out.append(Problem("HumanTaskConfig.UiConfig.HumanTaskUiArn",
                           "bounding-box jobs take a worker template in UiTemplateS3Uri, not HumanTaskUiArn"))
    if preflight and task_type and task_type.endswith("BoundingBox") and "LabelCategoryConfigS3Uri" not in request:
        out.append(Problem("LabelCategoryConfigS3Uri",
                           "a bounding-box job needs a label category file (the template reads task.input.labels)"))
    return out

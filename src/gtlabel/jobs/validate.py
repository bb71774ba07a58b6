"""Offline validation of SageMaker requests, and the Ground Truth rules for ``CreateLabelingJob``.

Three layers, every problem collected with its dotted path (``HumanTaskConfig.TaskTitle``, ``Tags[3].Key``):

1. botocore's own ``ParamValidator`` against the SageMaker service model (required fields, types, unknown
   keys, ``min``): exactly what ``boto3`` checks before it sends anything;
2. a walker over the same model for what botocore skips: ``max`` (length, value, list size), ``pattern``
   (``re.fullmatch``; Java's ``\\p{L}``-style classes are translated, patterns Python cannot compile are
   skipped) and ``enum``;
3. Ground Truth rules (:func:`ground_truth_problems`): the PRE-/ACS- Lambda account matches the region and
   the function names match the task type, label attribute name rules, time limits, the Mechanical Turk
   price list and PII flag, label count/uniqueness/length, ``s3://`` URIs in the job's region.

:func:`validate_params` serves ANY SageMaker operation (the local service calls it for every request it
accepts, so a request is accepted or rejected the same way here and there). The pure functions here do no
I/O; :func:`check_create_labeling_job` is the rim that reads the label category file and looks up bucket
regions before calling them. :func:`validate_or_raise` raises one :class:`~gtlabel.errors.ValidationFailed`.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from gtlabel.aws import Arn, is_public_workteam
from gtlabel.errors import ConfigError, GtlabelError, Problem, ValidationFailed
from gtlabel.formats.ground_truth import (
    LABEL_CATEGORY_DOCUMENT_VERSION,
    METADATA_SUFFIX,
    LabelCategoryConfig,
    metadata_key,
)
from gtlabel.jobs import facts

if TYPE_CHECKING:
    from botocore.model import OperationModel, ServiceModel, Shape

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

_MAX_PROBLEMS_PER_LIST = 50  # a 10,000-item list with the same mistake yields a readable report


# --------------------------------------------------------------------------------------------- the model
@lru_cache(maxsize=1)
def _service_model() -> ServiceModel:
    import botocore.session

    return botocore.session.get_session().get_service_model("sagemaker")


def _operation_model(operation: str) -> OperationModel | None:
    from botocore.model import OperationNotFoundError

    try:
        return _service_model().operation_model(operation)
    except OperationNotFoundError:
        return None


# ------------------------------------------------------------------------- Java regex -> Python regex
@lru_cache(maxsize=1)
def _category_runs() -> dict[str, list[tuple[int, int]]]:
    """Code-point runs per Unicode major category (L, M, N, P, S, Z, C); built once, about 0.2 s."""
    runs: dict[str, list[tuple[int, int]]] = {}
    cat = unicodedata.category
    prev, start = "", 0
    for cp in range(0x110000):
        c = cat(chr(cp))[0]
        if c != prev:
            if prev:
                runs.setdefault(prev, []).append((start, cp - 1))
            prev, start = c, cp
    runs.setdefault(prev, []).append((start, 0x10FFFF))
    return runs


def _class_body(categories: str) -> str:
    runs = _category_runs()
    out = []
    for c in categories:
        for a, b in runs.get(c, []):
            out.append(f"\\U{a:08x}" if a == b else f"\\U{a:08x}-\\U{b:08x}")
    return "".join(out)


_POSIX = {"Alnum": "a-zA-Z0-9", "Alpha": "a-zA-Z", "Digit": "0-9", "Upper": "A-Z", "Lower": "a-z"}


def _translate(pattern: str) -> str:
    """Translate the Java ``\\p{..}`` classes used in the SageMaker model (they sit inside ``[...]``)."""

    def repl(m: re.Match[str]) -> str:
        name = m.group(1)
        if name in _POSIX:
            return _POSIX[name]
        if len(name) == 1 and name in "LMNPSZC":
            return _class_body(name)
        raise ValueError(f"unsupported class \\p{{{name}}}")

    return re.sub(r"\\p\{(\w+)\}", repl, pattern)


@lru_cache(maxsize=512)
def _compile(pattern: str) -> re.Pattern[str] | None:
    """A Python regex for a model pattern, or ``None`` where Python cannot express it (then it is skipped)."""
    try:
        # no DOTALL: in Java (the service's regex engine) "." does not match a line break either
        return re.compile(_translate(pattern) if "\\p{" in pattern else pattern)
    except (re.error, ValueError, OverflowError):
        return None


# ------------------------------------------------------------------------------------------ layer 1 + 2
def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _botocore_problems(params: Mapping[str, Any], shape: Shape) -> list[Problem]:
    from botocore.validate import ParamValidator

    report = ParamValidator().validate(dict(params), shape)
    problems: list[Problem] = []
    for err in getattr(report, "_errors", []):
        kind, name, extra = err
        message = report._format_error(err)
        if kind == "missing required field":
            path = _join(name, extra["required_name"])
        elif kind == "unknown field":
            path = _join(name, extra["unknown_param"])
        else:
            path = name
        problems.append(Problem(path.lstrip("."), message))
    if report.has_errors() and not problems:  # a future botocore changed its internals: keep the text
        problems = [Problem("", line) for line in report.generate_report().splitlines()]
    return problems


def _walk(value: Any, shape: Shape, path: str, out: list[Problem]) -> None:
    """What botocore skips: ``max``, ``pattern`` and ``enum``. Wrong types were reported by botocore."""
    meta = shape.metadata
    t = shape.type_name
    if t == "structure":
        if not isinstance(value, Mapping):
            return
        for key, sub in value.items():
            member = shape.members.get(key)  # type: ignore[attr-defined]
            if member is not None and sub is not None:
                _walk(sub, member, _join(path, key), out)
    elif t == "list":
        if not isinstance(value, list | tuple):
            return
        if "max" in meta and len(value) > meta["max"]:
            out.append(Problem(path, f"Invalid length for parameter {path}, value: {len(value)}, "
                                     f"valid max length: {meta['max']}"))
        before = len(out)
        for i, item in enumerate(value):
            _walk(item, shape.member, f"{path}[{i}]", out)  # type: ignore[attr-defined]
            if len(out) - before >= _MAX_PROBLEMS_PER_LIST:
                break
    elif t == "map":
        if not isinstance(value, Mapping):
            return
        if "max" in meta and len(value) > meta["max"]:
            out.append(Problem(path, f"Invalid length for parameter {path}, value: {len(value)}, "
                                     f"valid max length: {meta['max']}"))
        for k, v in value.items():
            _walk(k, shape.key, f"{path}.{k}(key)", out)  # type: ignore[attr-defined]
            _walk(v, shape.value, f"{path}.{k}", out)  # type: ignore[attr-defined]
    elif t == "string":
        if not isinstance(value, str):
            return
        if "max" in meta and len(value) > meta["max"]:
            out.append(Problem(path, f"Invalid length for parameter {path}, value: {len(value)}, "
                                     f"valid max length: {meta['max']}"))
        enum: list[str] = getattr(shape, "enum", None) or []
        if enum and value not in enum:
            out.append(Problem(path, f"Value {value!r} at {path!r} failed to satisfy constraint: Member must "
                                     f"satisfy enum value set: [{', '.join(enum)}]"))
        pattern = meta.get("pattern")
        if pattern and not enum:
            rx = _compile(pattern)
            if rx is not None and rx.fullmatch(value) is None:
                shown = value if len(value) <= 80 else value[:77] + "..."
                out.append(Problem(path, f"Value {shown!r} at {path!r} failed to satisfy constraint: Member "
                                         f"must satisfy regular expression pattern: {pattern}"))
    elif t in ("integer", "long", "float", "double"):
        if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
            return
        if "max" in meta and value > meta["max"]:
            out.append(Problem(path, f"Invalid value for parameter {path}, value: {value}, "
                                     f"valid max value: {meta['max']}"))


def validate_params(operation: str, params: Mapping[str, Any]) -> list[Problem]:
    """Every problem of ``params`` for SageMaker ``operation`` (e.g. ``"CreateLabelingJob"``), offline.

    botocore's ``ParamValidator`` first (what boto3 itself rejects), then the model's ``max``, ``pattern`` and
    ``enum``, which botocore does not check but the service does. An unknown operation gives one problem with
    code ``UnknownOperationException``. Pure apart from loading the botocore model once (about 0.25 s).
    """
    op = _operation_model(operation)
    if op is None:
        return [Problem("", f"unknown SageMaker operation {operation!r}", code="UnknownOperationException")]
    shape = op.input_shape
    if shape is None:
        return [] if not params else [Problem("", f"{operation} takes no parameters")]
    if not isinstance(params, Mapping):
        return [Problem("", f"parameters must be a JSON object, not {type(params).__name__}")]
    problems = _botocore_problems(params, shape)
    _walk(params, shape, "", problems)
    return problems


def warm_up(operations: Sequence[str] = ("CreateLabelingJob",)) -> None:
    """Load the service model and compile the patterns of ``operations`` now (about 0.4 s), so that the first
    request a server validates is as fast as the rest."""
    for op in operations:
        model = _operation_model(op)
        if model is not None and model.input_shape is not None:
            _compile_all(model.input_shape, set())


def _compile_all(shape: Shape, seen: set[str]) -> None:
    if shape.name in seen:
        return
    seen.add(shape.name)
    if shape.metadata.get("pattern"):
        _compile(shape.metadata["pattern"])
    if shape.type_name == "structure":
        for member in shape.members.values():  # type: ignore[attr-defined]
            _compile_all(member, seen)
    elif shape.type_name == "list":
        _compile_all(shape.member, seen)  # type: ignore[attr-defined]
    elif shape.type_name == "map":
        _compile_all(shape.key, seen)  # type: ignore[attr-defined]
        _compile_all(shape.value, seen)  # type: ignore[attr-defined]


# ---------------------------------------------------------------------------------------- layer 3: GT
def task_type_of(request: Mapping[str, Any]) -> str | None:
    """The built-in task type named by the request's PRE-/ACS- Lambdas (``"BoundingBox"``...), else ``None``."""
    for arn, prefix in (
        (_dig(request, "HumanTaskConfig", "PreHumanTaskLambdaArn"), "PRE-"),
        (_dig(request, "HumanTaskConfig", "AnnotationConsolidationConfig", "AnnotationConsolidationLambdaArn"),
         "ACS-"),
    ):
        parsed = Arn.parse(arn)
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


def _dig(obj: object, *keys: str) -> Any:
    """``obj[k1][k2]...`` or ``None`` where a level is missing or not a mapping (requests may be malformed)."""
    for k in keys:
        if not isinstance(obj, Mapping):
            return None
        obj = obj.get(k)
    return obj


def _s3_bucket(uri: object) -> str | None:
    if isinstance(uri, str) and uri.startswith("s3://"):
        return uri[5:].partition("/")[0] or None
    return None


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
    out: list[Problem] = []
    htc = _dig(request, "HumanTaskConfig")
    if not isinstance(htc, Mapping):
        htc = {}
    lim = facts.limits()
    task_type = task_type_of(request)
    regions_seen: set[str] = set()

    # --- built-in Lambdas: account matches the ARN's region, region matches the job, names match each other
    pre = htc.get("PreHumanTaskLambdaArn")
    acs = _dig(htc, "AnnotationConsolidationConfig", "AnnotationConsolidationLambdaArn")
    kinds: dict[str, str] = {}
    for path, arn, prefix in (
        ("HumanTaskConfig.PreHumanTaskLambdaArn", pre, "PRE-"),
        ("HumanTaskConfig.AnnotationConsolidationConfig.AnnotationConsolidationLambdaArn", acs, "ACS-"),
    ):
        parts = Arn.parse(arn)
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

    # --- workteam
    workteam = htc.get("WorkteamArn")
    public = is_public_workteam(workteam)
    wt = Arn.parse(workteam)
    if wt and wt.service == "sagemaker":
        if region and wt.region and wt.region != region:
            out.append(Problem("HumanTaskConfig.WorkteamArn",
                               f"the workteam is in {wt.region} but the job runs in {region}"))
        if public and wt.account != facts.public_workforce_account():
            out.append(Problem("HumanTaskConfig.WorkteamArn",
                               f"the public (Mechanical Turk) workteam belongs to account "
                               f"{facts.public_workforce_account()}, not {wt.account}"))
    job_region = region or next(iter(sorted(regions_seen)), None) or (wt.region if wt else None)

    # --- label attribute name
    attr = _dig(request, "LabelAttributeName")
    if isinstance(attr, str) and attr:
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
        if task_type and task_type.startswith(("Adjustment", "Verification")) and prior_label_attribute_name \
                and attr.lower() == prior_label_attribute_name.lower():
            out.append(Problem("LabelAttributeName", f"an {task_type} job must use a new label attribute name, "
                                                     f"not the original job's {prior_label_attribute_name!r}"))

    # --- time limits (the model has only the minimums)
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

    # --- Mechanical Turk: price from the allowed list, PII classifier
    if public:
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
        classifiers = _dig(request, "InputConfig", "DataAttributes", "ContentClassifiers")
        if not isinstance(classifiers, list | tuple):
            classifiers = []
        if "FreeOfPersonallyIdentifiableInformation" not in classifiers:
            out.append(Problem("InputConfig.DataAttributes.ContentClassifiers",
                               "a public (Mechanical Turk) workforce needs the content classifier "
                               "'FreeOfPersonallyIdentifiableInformation' (without it the job fails)"))

    # --- labels
    if labels is not None:
        out.extend(label_problems(labels, task_type=task_type))

    # --- URIs: s3:// and, where the bucket region is known, the job's region
    ui = _dig(htc, "UiConfig")
    for path, uri in _uris(request).items():
        if uri is None:
            continue
        bucket = _s3_bucket(uri)
        if bucket is None:
            out.append(Problem(path, f"{uri!r} must be an s3://bucket/key URI"))
            continue
        bregion = (bucket_regions or {}).get(bucket)
        if bregion and job_region and bregion != job_region:
            out.append(Problem(path, f"bucket {bucket!r} is in {bregion} but the job runs in {job_region}; "
                                     f"Ground Truth needs its data in the job's region"))
    if task_type and task_type.endswith("BoundingBox") and isinstance(ui, Mapping) and ui.get("HumanTaskUiArn"):
        out.append(Problem("HumanTaskConfig.UiConfig.HumanTaskUiArn",
                           "bounding-box jobs take a worker template in UiTemplateS3Uri, not HumanTaskUiArn"))
    if preflight and task_type and task_type.endswith("BoundingBox") and "LabelCategoryConfigS3Uri" not in request:
        out.append(Problem("LabelCategoryConfigS3Uri",
                           "a bounding-box job needs a label category file (the template reads task.input.labels)"))
    return out


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
    import json

    from botocore.exceptions import BotoCoreError

    from gtlabel import storage

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
    from botocore.exceptions import BotoCoreError, ClientError

    from gtlabel import storage

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
    uri = _dig(request, "LabelCategoryConfigS3Uri")
    if labels is None and read_label_config and isinstance(uri, str) and uri.startswith("s3://"):
        labels, problem, unreadable = _read_labels(uri)
        if problem:
            extra.append(problem)
        if unreadable and on_warning:
            on_warning(unreadable)
    regions: dict[str, str] = {}
    if lookup_bucket_regions and isinstance(request, Mapping):
        for b in {_s3_bucket(u) for u in _uris(request).values()} - {None}:
            r = bucket_region_of(str(b))
            if r:
                regions[str(b)] = r
    return validate_create_labeling_job(request, region=region, labels=labels,
                                        prior_label_attribute_name=prior_label_attribute_name,
                                        bucket_regions=regions) + extra


def _uris(request: Mapping[str, Any]) -> dict[str, object]:
    """The S3 URIs of a request by dotted path (``None`` where absent)."""
    return {
        "InputConfig.DataSource.S3DataSource.ManifestS3Uri":
            _dig(request, "InputConfig", "DataSource", "S3DataSource", "ManifestS3Uri"),
        "OutputConfig.S3OutputPath": _dig(request, "OutputConfig", "S3OutputPath"),
        "LabelCategoryConfigS3Uri": _dig(request, "LabelCategoryConfigS3Uri"),
        "HumanTaskConfig.UiConfig.UiTemplateS3Uri": _dig(request, "HumanTaskConfig", "UiConfig", "UiTemplateS3Uri"),
    }

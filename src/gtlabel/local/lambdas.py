"""The Lambdas the local service runs: Ground Truth's built-in pre-annotation (``PRE-*``) and consolidation
(``ACS-*``) Lambdas for bounding boxes, done here in Python, and any other Lambda ARN mapped to a local callable.

- :data:`BUILTIN_PRE` / :data:`BUILTIN_ACS`: the built-in function names and the job kind each one means;
  :func:`job_kind` reads a job's kind from its two ARNs (``bbox``, ``adjust``, ``verify``, ``passthrough``,
  ``custom``).
- :class:`LambdaRegistry`: ``{"<ARN or function name>": "package.module:function" | callable}``; a mapped
  callable gets the documented Lambda event and returns the documented reply (reference/ground-truth.md 4.3/4.4).
- The built-in behaviours: :func:`builtin_task_input` (what ``PRE-*`` gives the worker template),
  :func:`consolidate_boxes` (``ACS-BoundingBox`` / ``ACS-AdjustmentBoundingBox``, with
  :func:`adjustment_status`) and :func:`consolidate_verification` (``ACS-VerificationBoundingBox``).
"""

from __future__ import annotations

import importlib
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from gtlabel.aws import Arn
from gtlabel.errors import JobFailure, ServiceValidationError
from gtlabel.formats.ground_truth import (
    CLASS_MAP,
    LAMBDA_EVENT_VERSION,
    METADATA_SUFFIX,
    OBJECT_DETECTION,
    SOURCE,
    SOURCE_REF,
)
from gtlabel.local.state.records import JobRequest
from gtlabel.local.unsupported import LOCAL_BUILTINS, lambda_problem
from gtlabel.quality.consolidate import consolidate_bounding_boxes

__all__ = [
    "BOX_KINDS",
    "BUILTIN_ACS",
    "BUILTIN_PRE",
    "LambdaFn",
    "LambdaRegistry",
    "adjustment_status",
    "builtin_task_input",
    "consolidate_boxes",
    "consolidate_verification",
    "function_name",
    "job_kind",
]

LambdaFn = Callable[[dict[str, Any], Any], Any]
BUILTIN_PRE = {"PRE-BoundingBox": "bbox", "PRE-AdjustmentBoundingBox": "adjust",
               "PRE-VerificationBoundingBox": "verify", "PRE-PassThrough": "passthrough"}
#: job kinds whose answers are crowd-bounding-box results, consolidated box by box
BOX_KINDS = frozenset({"bbox", "adjust"})
BUILTIN_ACS = {"ACS-BoundingBox": "bbox", "ACS-AdjustmentBoundingBox": "adjust",
               "ACS-VerificationBoundingBox": "verify", "ACS-PassThrough": "passthrough"}


def function_name(arn: str) -> str:
    """The function name of a Lambda ARN (without a version or alias); a bare function name as it is."""
    parsed = Arn.parse(arn)
    return (parsed.function_name or arn) if parsed else arn


def job_kind(request: JobRequest) -> str:
    """``bbox`` | ``adjust`` | ``verify`` | ``passthrough`` | ``custom`` from the job's Lambda ARNs."""
    acs = request.acs_lambda
    if acs and function_name(acs) in BUILTIN_ACS:
        return BUILTIN_ACS[function_name(acs)]
    pre = request.pre_lambda
    if not acs and pre and function_name(pre) in BUILTIN_PRE:
        return BUILTIN_PRE[function_name(pre)]
    return "custom"


class LambdaRegistry:
    """Maps Lambda ARNs (or bare function names) to local callables ``fn(event, context)``."""

    def __init__(self, mapping: Mapping[str, str | LambdaFn] | None = None) -> None:
        self._map: dict[str, str | LambdaFn] = dict(mapping or {})
        self._cache: dict[str, LambdaFn] = {}

    def __contains__(self, arn: object) -> bool:
        return isinstance(arn, str) and (arn in self._map or function_name(arn) in self._map)

    def resolve(self, arn: str) -> LambdaFn:
        target = self._map.get(arn, self._map.get(function_name(arn)))
        if target is None:
            raise JobFailure(f"ClientError: Lambda {arn} is not available to the local service; map it to a "
                             "Python callable (gtlabel serve --lambda ARN=module:function).")
        if callable(target):
            return target
        if target not in self._cache:
            mod_name, _, attr = target.partition(":")
            try:
                fn = getattr(importlib.import_module(mod_name), attr)
            except (ImportError, AttributeError) as exc:
                raise JobFailure(f"ClientError: cannot load {target!r} for Lambda {arn}: {exc}") from exc
            self._cache[target] = fn
        return self._cache[target]

    def check(self, request: JobRequest) -> None:
        """Raise ``ValidationException`` for a Lambda ARN that is neither built in nor mapped."""
        for field, arn, builtin in (("HumanTaskConfig.PreHumanTaskLambdaArn", request.pre_lambda, BUILTIN_PRE),
                                    ("HumanTaskConfig.AnnotationConsolidationConfig.AnnotationConsolidationLambdaArn",
                                     request.acs_lambda, BUILTIN_ACS)):
            if arn and function_name(arn) not in builtin and arn not in self:
                other_builtin = lambda_problem(field, arn)
                if other_builtin is not None:
                    raise ServiceValidationError(str(other_builtin))
                raise ServiceValidationError(f"{field}: {arn} is not mapped to a local callable (gtlabel serve "
                                             "--lambda ARN=module:function), and the local service runs only the "
                                             f"built-in {', '.join(LOCAL_BUILTINS)} Lambdas itself.")
        if request.template_uri is None:
            raise ServiceValidationError("HumanTaskConfig.UiConfig: the local service renders UiTemplateS3Uri "
                                         "templates only (HumanTaskUiArn is for NER, video and 3D jobs).")

    def task_input(self, request: JobRequest, line: dict[str, Any], labels: list[str],
                   job_arn: str) -> tuple[Any, bool]:
        """``(taskInput, isHumanAnnotationRequired)`` for one manifest line: the built-in ``PRE-*`` behaviour, the
        line itself without a pre-annotation Lambda (or with ``PRE-PassThrough``), else the mapped callable's
        reply."""
        pre = request.pre_lambda
        name = function_name(pre) if pre else ""
        builtin = builtin_task_input(name, line, labels)
        if builtin is not None:
            return builtin, True
        if not pre or name == "PRE-PassThrough":
            return dict(line), True
        reply = self.resolve(pre)({"version": LAMBDA_EVENT_VERSION, "labelingJobArn": job_arn, "dataObject": line}, None)
        if not isinstance(reply, Mapping) or "taskInput" not in reply:
            raise ValueError("the pre-annotation Lambda must return {'taskInput': ..., 'isHumanAnnotationRequired': ...}")
        required = reply.get("isHumanAnnotationRequired", reply.get("humanAnnotationRequired", True))
        if isinstance(required, str):
            required = required.strip().lower() != "false"
        return reply["taskInput"], bool(required)

    def consolidate(self, request: JobRequest, *, job_arn: str, labels: list[str],
                    request_uri: str) -> dict[str, Any]:
        """Call the job's mapped consolidation Lambda (the documented event: the consolidation request file is at
        ``request_uri``); ``{datasetObjectId: consolidatedAnnotation.content}`` of its reply."""
        assert request.acs_lambda is not None
        fn = self.resolve(request.acs_lambda)
        event = {"version": LAMBDA_EVENT_VERSION, "labelingJobArn": job_arn, "labelCategories": labels,
                 "labelAttributeName": request.label_attribute, "roleArn": request.role_arn,
                 "payload": {"s3Uri": request_uri}}
        reply = fn(event, None)
        return {str(r["datasetObjectId"]): r["consolidatedAnnotation"]["content"] for r in reply}


# ----------------------------------------------------------------------------------------------- built-in PRE
def builtin_task_input(name: str, line: Mapping[str, Any], labels: list[str]) -> dict[str, Any] | None:
    """The ``taskInput`` the built-in bounding-box ``PRE-*`` Lambda ``name`` gives (``None`` for other names)."""
    if name not in ("PRE-BoundingBox", "PRE-AdjustmentBoundingBox", "PRE-VerificationBoundingBox"):
        return None
    ti: dict[str, Any] = {"taskObject": line.get(SOURCE_REF, line.get(SOURCE)), "labels": labels}
    if name != "PRE-BoundingBox":
        ti["manifestLine"] = line
    return ti


# ----------------------------------------------------------------------------------------------- built-in ACS
def _prior_boxes(line: Mapping[str, Any], attr: str) -> list[tuple[str, float, float, float, float]] | None:
    """Boxes of an earlier object-detection attribute in the manifest line (what an adjustment job starts from)."""
    for key, meta in line.items():
        if not key.endswith(METADATA_SUFFIX) or not isinstance(meta, Mapping):
            continue
        base = key[: -len(METADATA_SUFFIX)]
        if base == attr or meta.get("type") != OBJECT_DETECTION or not isinstance(line.get(base), Mapping):
            continue
        cmap = meta.get(CLASS_MAP, {})
        return sorted((str(cmap.get(str(b.get("class_id")), b.get("class_id"))), float(b["left"]), float(b["top"]),
                       float(b["width"]), float(b["height"])) for b in line[base].get("annotations", []))
    return None


def adjustment_status(elements: Sequence[Mapping[str, Any]], line: Mapping[str, Any], attr: str) -> str:
    """``adjusted`` if at least one worker changed the initial boxes (``initialValueModified`` when the element
    reports it, else a comparison with the earlier attribute's boxes)."""
    flags = [el.get("initialValueModified") for el in elements if "initialValueModified" in el]
    if flags:
        return "adjusted" if any(flags) else "unadjusted"
    prior = _prior_boxes(line, attr)
    for el in elements:
        boxes = sorted((str(b.get("label")), float(b["left"]), float(b["top"]), float(b["width"]), float(b["height"]))
                       for b in el.get("boundingBoxes", []))
        if prior is None or boxes != prior:
            return "adjusted"
    return "unadjusted"


def consolidate_boxes(elements: Sequence[Mapping[str, Any]], labels: Sequence[str]) -> tuple[Any, list[Any], dict[str, str]]:
    res = consolidate_bounding_boxes(elements, labels)
    return res.label, list(res.objects), {str(k): str(v) for k, v in res.class_map.items()}


def consolidate_verification(contents: Sequence[Mapping[str, Any]], labels: Sequence[str]) -> tuple[str, dict[str, Any]]:
    votes: Counter[str] = Counter()
    feedback = []
    for c in contents:
        for v in c.values():
            if isinstance(v, Mapping) and "label" in v:
                votes[str(v["label"])] += 1
            if isinstance(v, Mapping) and v.get("comment"):
                feedback.append({"comment": str(v["comment"])})
    if not votes:
        raise ValueError("no worker answer has a 'label'")
    top = max(votes.items(), key=lambda kv: (kv[1], -labels.index(kv[0]) if kv[0] in labels else -999))[0]
    idx = labels.index(top) if top in labels else -1
    meta: dict[str, Any] = {"class-name": top, "confidence": round(votes[top] / sum(votes.values()), 2)}
    if feedback:
        meta["worker-feedback"] = feedback
    return str(idx), meta

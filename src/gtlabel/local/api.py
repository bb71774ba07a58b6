"""Wire handlers: the labeling subset of the SageMaker JSON 1.1 API (``X-Amz-Target: SageMaker.<Operation>``).

Each handler takes the decoded request parameters and returns the response dict; it validates the request
(:func:`gtlabel.jobs.validate.validate_params`, plus :func:`validate_create_labeling_job` for CreateLabelingJob)
and calls the backend. Timestamps are epoch seconds (numbers), which botocore's JSON parser reads as datetimes.
Errors are :class:`gtlabel.errors.ServiceError` with the AWS code; the server turns them into
``{"__type": code, "message": ...}`` with HTTP 400 so boto3 raises its modelled exceptions.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from gtlabel.errors import GtlabelError, Problem, ServiceError, ServiceValidationError, UnknownOperation
from gtlabel.formats.ground_truth import LabelCategoryConfig
from gtlabel.jobs.validate import validate_create_labeling_job, validate_params
from gtlabel.local.backend import Backend
from gtlabel.local.lambdas import LambdaRegistry
from gtlabel.local.liquid_env import CROWD_JS_LOCAL, make_environment, render_template
from gtlabel.local.scope import ReadScope, problems_for_job
from gtlabel.local.state.records import JobRequest
from gtlabel.local.unsupported import request_problems

__all__ = ["OPERATIONS", "Api"]

Handler = Callable[[Mapping[str, Any]], dict[str, Any]]


def _raise_problems(problems: list[Problem]) -> None:
    if not problems:
        return
    for code in ("ResourceLimitExceeded", "ResourceInUse", "ResourceNotFound"):
        if any(p.code == code for p in problems):
            raise ServiceError.for_code(code, "; ".join(str(p) for p in problems if p.code == code))
    n = len(problems)
    raise ServiceValidationError(f"{n} validation error{'s' if n > 1 else ''} detected: " + "; ".join(str(p) for p in problems))


class Api:
    """Dispatches an operation name to its handler."""

    def __init__(self, backend: Backend, *, lambdas: LambdaRegistry | None = None,
                 presign: Callable[[str], str] | None = None, read_bytes: Callable[[str], bytes] | None = None,
                 allowed_prefixes: Sequence[str] = ()) -> None:
        self.backend = backend
        self.allowed_prefixes = tuple(allowed_prefixes)
        self.read_bytes = read_bytes
        self.lambdas = lambdas or LambdaRegistry()
        self.liquid = make_environment(presign or (lambda uri: uri))
        self.handlers: dict[str, Handler] = {
            "CreateLabelingJob": self.create_labeling_job,
            "DescribeLabelingJob": self.describe_labeling_job,
            "ListLabelingJobs": self.list_labeling_jobs,
            "StopLabelingJob": self.stop_labeling_job,
            "ListLabelingJobsForWorkteam": self.list_labeling_jobs_for_workteam,
            "CreateWorkteam": self.create_workteam,
            "DescribeWorkteam": self.describe_workteam,
            "ListWorkteams": self.list_workteams,
            "UpdateWorkteam": self.update_workteam,
            "DeleteWorkteam": self.delete_workteam,
            "RenderUiTemplate": self.render_ui_template,
        }

    def dispatch(self, operation: str, params: Mapping[str, Any]) -> dict[str, Any]:
        handler = self.handlers.get(operation)
        if handler is None:
            raise UnknownOperation(f"Operation {operation!r} is not supported by the local Ground Truth service; "
                                   f"supported: {', '.join(sorted(self.handlers))}.")
        if operation != "CreateLabelingJob":
            _raise_problems(validate_params(operation, params))
        return handler(params)

    # ------------------------------------------------------------------ labeling jobs
    def create_labeling_job(self, params: Mapping[str, Any]) -> dict[str, Any]:
        # before anything is read: the service reads S3 with its own identity (gtlabel.local.scope)
        _raise_problems(problems_for_job(params, self.allowed_prefixes))
        _raise_problems(validate_create_labeling_job(params, region=self.backend.region,
                                                     labels=self._labels(params)))
        _raise_problems(request_problems(params))  # what AWS runs but this service does not: refused, not ignored
        request = JobRequest.parse(params)
        self.lambdas.check(request)
        return {"LabelingJobArn": self.backend.create_labeling_job(request)}

    def _labels(self, params: Mapping[str, Any]) -> list[object] | None:
        """The label category file's labels when it can be read now (so label rules are checked at create, as
        on AWS); ``None`` when it cannot (the engine then fails the job with the reason)."""
        uri = params.get("LabelCategoryConfigS3Uri")
        if not self.read_bytes or not isinstance(uri, str) or not uri.startswith("s3://"):
            return None
        try:
            doc = json.loads(self.read_bytes(uri))
        except (GtlabelError, ValueError):
            return None
        return LabelCategoryConfig.label_entries(doc)

    def describe_labeling_job(self, params: Mapping[str, Any]) -> dict[str, Any]:
        return self.backend.describe_labeling_job(str(params["LabelingJobName"]))

    def list_labeling_jobs(self, params: Mapping[str, Any]) -> dict[str, Any]:
        items, nxt = self.backend.list_labeling_jobs(params)
        out: dict[str, Any] = {"LabelingJobSummaryList": items}
        if nxt:
            out["NextToken"] = nxt
        return out

    def stop_labeling_job(self, params: Mapping[str, Any]) -> dict[str, Any]:
        self.backend.stop_labeling_job(str(params["LabelingJobName"]))
        return {}

    def list_labeling_jobs_for_workteam(self, params: Mapping[str, Any]) -> dict[str, Any]:
        items, nxt = self.backend.list_labeling_jobs_for_workteam(params)
        out: dict[str, Any] = {"LabelingJobSummaryList": items}
        if nxt:
            out["NextToken"] = nxt
        return out

    # ------------------------------------------------------------------ workteams
    def create_workteam(self, params: Mapping[str, Any]) -> dict[str, Any]:
        return {"WorkteamArn": self.backend.create_workteam(params)}

    def describe_workteam(self, params: Mapping[str, Any]) -> dict[str, Any]:
        return {"Workteam": self.backend.describe_workteam(str(params["WorkteamName"]))}

    def list_workteams(self, params: Mapping[str, Any]) -> dict[str, Any]:
        items, nxt = self.backend.list_workteams(params)
        out: dict[str, Any] = {"Workteams": items}
        if nxt:
            out["NextToken"] = nxt
        return out

    def update_workteam(self, params: Mapping[str, Any]) -> dict[str, Any]:
        return {"Workteam": self.backend.update_workteam(params)}

    def delete_workteam(self, params: Mapping[str, Any]) -> dict[str, Any]:
        self.backend.delete_workteam(str(params["WorkteamName"]))
        return {"Success": True}

    # ------------------------------------------------------------------ templates
    def render_ui_template(self, params: Mapping[str, Any]) -> dict[str, Any]:
        content = (params.get("UiTemplate") or {}).get("Content")
        if content is None:
            raise ServiceValidationError("UiTemplate.Content is required by the local service "
                                         "(HumanTaskUiArn templates are not available locally).")
        raw_input = params["Task"]["Input"]
        try:
            task_input = json.loads(raw_input)
        except ValueError as exc:
            raise ServiceValidationError(f"Task.Input is not valid JSON: {exc}") from None
        try:
            # no job, so no job locations: only the configured prefixes are presigned (gtlabel.local.scope)
            html = render_template(self.liquid, str(content), task_input, ReadScope(self.allowed_prefixes))
        except Exception as exc:  # Liquid syntax / render errors are reported in Errors, as AWS does
            return {"RenderedContent": "", "Errors": [{"Code": type(exc).__name__, "Message": str(exc)}]}
        if self.backend.portal_url:  # a preview is shown outside the portal (a notebook, a file): absolute URL
            html = html.replace(f'src="{CROWD_JS_LOCAL}"', f'src="{self.backend.portal_url.rstrip("/")}{CROWD_JS_LOCAL}"')
        return {"RenderedContent": html, "Errors": []}


OPERATIONS = (
    "CreateLabelingJob", "CreateWorkteam", "DeleteWorkteam", "DescribeLabelingJob", "DescribeWorkteam",
    "ListLabelingJobs", "ListLabelingJobsForWorkteam", "ListWorkteams", "RenderUiTemplate", "StopLabelingJob",
    "UpdateWorkteam",
)

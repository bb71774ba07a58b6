"""Labeling job names: a timestamped default, the pattern check, case-insensitive uniqueness, and the
``CreateLabelingJob`` call that explains ``ResourceInUse``.

Job names are permanent: there is no ``DeleteLabelingJob``, and ``Example-job`` and ``example-job`` are the
same name. So every default name carries a UTC timestamp, and the name is checked before the call.

The check before the call is a courtesy: ``CreateLabelingJob`` itself refuses a name in use. So when SageMaker
cannot be asked (offline, no route to the endpoint, no credentials, a role without ``ListLabelingJobs``), the
check logs a warning that it could not ask and lets the build go on; pass ``check_name=False`` to skip it.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from gtlabel.aws import error_code, error_message, paginate
from gtlabel.errors import JobError, JobNameInUse, Problem

if TYPE_CHECKING:
    from mypy_boto3_sagemaker import SageMakerClient

__all__ = [
    "NAME_MAX",
    "NAME_PATTERN",
    "check_job_name",
    "create_labeling_job",
    "default_job_name",
    "ensure_name_available",
    "find_same_name",
]

log = logging.getLogger(__name__)

NAME_MAX = 63
NAME_PATTERN = re.compile(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}")
# ListLabelingJobs refused for want of permission: the name could not be checked (the create call checks it)
_NOT_ALLOWED = ("AccessDenied", "AccessDeniedException", "UnauthorizedOperation")


def _slug(text: str) -> str:
    s = re.sub(r"[^a-zA-Z0-9]+", "-", text).strip("-")
    return re.sub(r"-{2,}", "-", s)


def default_job_name(prefix: str = "gtlabel-bbox", now: datetime | None = None) -> str:
    """``<prefix>-YYYYmmdd-HHMMSS`` in UTC; the prefix is reduced to letters, digits and single hyphens and
    shortened so that the whole name fits the 63-character limit. Always matches :data:`NAME_PATTERN`."""
    stamp = (now or datetime.now(UTC)).astimezone(UTC).strftime("%Y%m%d-%H%M%S")
    slug = _slug(prefix)[: NAME_MAX - len(stamp) - 1].strip("-")
    return f"{slug}-{stamp}" if slug else f"job-{stamp}"


def check_job_name(name: object, path: str = "LabelingJobName") -> list[Problem]:
    """Problems with a job name: type, length 1..63, letters/digits/hyphens, no leading/trailing hyphen."""
    if not isinstance(name, str):
        return [Problem(path, f"the job name must be a string, got {type(name).__name__}")]
    if not 1 <= len(name) <= NAME_MAX:
        return [Problem(path, f"the job name must be 1 to {NAME_MAX} characters, got {len(name)}")]
    if NAME_PATTERN.fullmatch(name) is None:
        return [Problem(path, f"job name {name!r} may hold only letters, digits and hyphens, and must start and "
                              f"end with a letter or digit (pattern {NAME_PATTERN.pattern}); e.g. "
                              f"{default_job_name(name)!r}")]
    return []


def find_same_name(sm_client: SageMakerClient, name: str) -> str | None:
    """The existing job whose name equals ``name`` ignoring case (``ListLabelingJobs(NameContains=...)``)."""
    # bounded: 100,000 near-matches at most
    for summary in paginate(sm_client, "list_labeling_jobs", "LabelingJobSummaryList", page_size=100,
                            max_pages=1000, NameContains=name):
        existing = str(summary.get("LabelingJobName", ""))
        if existing.lower() == name.lower():
            return existing
    return None


def _in_use_message(name: str, existing: str | None) -> str:
    same = f" (as {existing!r})" if existing and existing != name else ""
    return (f"labeling job name {name!r} is already used in this account and region{same}. Job names are unique "
            f"ignoring case and permanent (a labeling job can never be deleted), so pick a new name, e.g. "
            f"{default_job_name(name)!r}")


def ensure_name_available(sm_client: SageMakerClient, name: str) -> bool:
    """Raise :class:`~gtlabel.errors.JobNameInUse` when a job with the same name (any case) exists.

    Returns True when SageMaker said the name is free. When it could not be asked (no connection to the endpoint,
    a time-out, no credentials, ``ListLabelingJobs`` not allowed), logs a warning saying so and returns False:
    ``CreateLabelingJob`` checks the name again."""
    try:
        existing = find_same_name(sm_client, name)
    except (BotoCoreError, ClientError) as exc:
        if isinstance(exc, ClientError) and error_code(exc) not in _NOT_ALLOWED:
            raise JobError(f"checking that job name {name!r} is free (ListLabelingJobs) failed: {exc}") from exc
        log.warning("could not check that labeling job name %r is free (%s); going on: CreateLabelingJob checks "
                    "it again (check_name=False skips this check)", name, exc)
        return False
    if existing is not None:
        raise JobNameInUse(_in_use_message(name, existing))
    return True


def create_labeling_job(sm_client: SageMakerClient, request: Mapping[str, Any]) -> str:
    """Call ``CreateLabelingJob`` and return the job ARN; ``ResourceInUse`` becomes
    :class:`~gtlabel.errors.JobNameInUse` with an explanation, other service errors :class:`~gtlabel.errors.JobError`."""
    name = str(request.get("LabelingJobName", ""))
    try:
        resp = sm_client.create_labeling_job(**request)
    except ClientError as exc:
        code, msg = error_code(exc), error_message(exc)
        if code in ("ResourceInUse", "ResourceInUseException"):
            raise JobNameInUse(_in_use_message(name, None) + f" [service said: {msg}]") from exc
        raise JobError(f"CreateLabelingJob {name!r} failed: {code}: {msg}") from exc
    return resp["LabelingJobArn"]

"""AWS conventions, defined once: ARNs, service error codes, labeling-job statuses, pagination.

- :class:`Arn`: the one ARN parser (``arn:<partition>:<service>:<region>:<account>:<resource>``).
- :func:`error_code` / :func:`error_message` of a botocore ``ClientError``; :func:`is_not_found` for every
  "does not exist" answer of S3 (:data:`S3_NOT_FOUND_CODES`) and SageMaker (:data:`SAGEMAKER_NOT_FOUND_CODES`).
- :class:`JobStatus` (``LabelingJobStatus``, reference/ground-truth.md 1.4) and :data:`TERMINAL`.
- :func:`paginate`: every item of a list operation through boto3's own paginators (no hand-written
  ``NextToken`` loops), bounded.
- :func:`is_public_workteam`: the Mechanical Turk workteam ARN (2.3).
- :func:`boto3_session`: a boto3 session whose parsed botocore data (service models, endpoints) is shared by
  every session made through it.

Imports only :mod:`gtlabel.errors` and botocore (boto3 when a session is made), so any layer may use it.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

__all__ = [
    "S3_NOT_FOUND_CODES",
    "SAGEMAKER_NOT_FOUND_CODES",
    "TERMINAL",
    "Arn",
    "JobStatus",
    "boto3_session",
    "error_code",
    "error_message",
    "is_not_found",
    "is_public_workteam",
    "paginate",
]

# ----------------------------------------------------------------------------------------------- ARNs
_ARN = re.compile(r"arn:(?P<partition>aws[a-z\-]*):(?P<service>[a-z0-9\-]+):(?P<region>[a-z0-9\-]*):"
                  r"(?P<account>\d{12})?:(?P<resource>.*)")


@dataclass(frozen=True)
class Arn:
    """A parsed ARN. ``region`` and ``account`` are ``""`` where the ARN has none (S3 buckets, IAM)."""

    partition: str
    service: str
    region: str
    account: str
    resource: str

    @classmethod
    def parse(cls, text: object) -> Arn | None:
        """The parts of ``text``, or ``None`` when it is not an ARN (partition ``aws*``, a 12-digit or empty
        account)."""
        m = _ARN.fullmatch(text) if isinstance(text, str) else None
        if m is None:
            return None
        g = m.groupdict()
        return cls(g["partition"], g["service"], g["region"], g["account"] or "", g["resource"])

    def __str__(self) -> str:
        return f"arn:{self.partition}:{self.service}:{self.region}:{self.account}:{self.resource}"

    @property
    def resource_type(self) -> str:
        """``workteam`` of ``workteam/private-crowd/x``, ``function`` of ``function:name``."""
        return re.split(r"[/:]", self.resource, maxsplit=1)[0]

    @property
    def resource_id(self) -> str:
        """The resource after its type: ``private-crowd/x`` of ``workteam/private-crowd/x``."""
        parts = re.split(r"[/:]", self.resource, maxsplit=1)
        return parts[1] if len(parts) > 1 else ""

    @property
    def resource_name(self) -> str:
        """The last segment of the resource: a job's, team's, topic's or function's name."""
        return self.resource.split("/")[-1].split(":")[-1]

    @property
    def function_name(self) -> str | None:
        """A Lambda ARN's function name (without a version or alias), else ``None``."""
        if self.service != "lambda" or not self.resource.startswith("function:"):
            return None
        return self.resource.split(":")[1]


PUBLIC_WORKTEAM_RESOURCE = "workteam/public-crowd/default"


def is_public_workteam(workteam_arn: object) -> bool:
    """Whether ``workteam_arn`` is the public (Mechanical Turk) workforce (reference 2.3)."""
    return isinstance(workteam_arn, str) and workteam_arn.endswith(":" + PUBLIC_WORKTEAM_RESOURCE)


# ----------------------------------------------------------------------------------------------- errors
#: S3's codes for "no such object / bucket / version" (a HEAD has no body, so only the HTTP status "404")
S3_NOT_FOUND_CODES = frozenset({"404", "NotFound", "NoSuchKey", "NoSuchBucket", "NoSuchVersion"})
#: SageMaker's code for an unknown job, team... (botocore's modelled ``ResourceNotFound``; some clients say
#: ``ResourceNotFoundException``)
SAGEMAKER_NOT_FOUND_CODES = frozenset({"ResourceNotFound", "ResourceNotFoundException"})


def error_code(exc: BaseException) -> str:
    """The AWS error code of a botocore ``ClientError`` (``""`` for anything else)."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", ""))
    return ""


def error_message(exc: BaseException) -> str:
    """The AWS error message of a botocore ``ClientError`` (``str(exc)`` where there is none)."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        msg = response.get("Error", {}).get("Message")
        if msg:
            return str(msg)
    return str(exc)


def is_not_found(exc: BaseException) -> bool:
    """Whether a service error says the thing asked for does not exist: an S3 or SageMaker not-found code, or
    SageMaker's ``ValidationException`` worded "not found" / "does not exist" (some operations answer so)."""
    code = error_code(exc)
    if code in S3_NOT_FOUND_CODES or code in SAGEMAKER_NOT_FOUND_CODES:
        return True
    msg = error_message(exc).lower()
    return code == "ValidationException" and ("not found" in msg or "does not exist" in msg)


# ----------------------------------------------------------------------------------------------- statuses
class JobStatus(StrEnum):
    """``LabelingJobStatus`` (reference 1.4). Members are strings: ``JobStatus.COMPLETED == "Completed"``."""

    INITIALIZING = "Initializing"
    IN_PROGRESS = "InProgress"
    COMPLETED = "Completed"
    FAILED = "Failed"
    STOPPING = "Stopping"
    STOPPED = "Stopped"


#: the statuses a labeling job never leaves
TERMINAL: frozenset[JobStatus] = frozenset({JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.STOPPED})


# ----------------------------------------------------------------------------------------------- pagination
def paginate(client: Any, operation: str, result_key: str, *, page_size: int | None = None,
             max_pages: int | None = None, **params: Any) -> Iterator[Any]:
    """Every item under ``result_key`` of every page of ``operation`` (boto3's paginator follows ``NextToken``),
    fetched lazily: stop iterating and no further page is asked for. ``page_size`` becomes ``MaxResults``;
    ``max_pages`` bounds the pages read."""
    config: dict[str, int] = {}
    if page_size is not None:
        config["PageSize"] = page_size
    pages = client.get_paginator(operation).paginate(**params, PaginationConfig=config)
    for n, page in enumerate(pages, start=1):
        yield from page.get(result_key, [])
        if max_pages is not None and n >= max_pages:
            return


# ----------------------------------------------------------------------------------------------- sessions
_loader_lock = threading.Lock()
_loader: Any = None  # botocore's data loader of the first session made here, shared by every later one


def boto3_session(**kwargs: Any) -> Any:
    """``boto3.session.Session(**kwargs)`` (keys, token, region, profile), with the botocore data loader shared by
    every session made here. Each new session otherwise reads and parses botocore's JSON files again (service
    model, endpoints, partitions, defaults) for its first client of a service: 115-185 ms of CPU for an S3 or
    SageMaker client, ~15 ms with the parsed data shared (measured, 10 clients each). Credentials, region and
    configuration stay the session's own; the loader's search path is the first session's (``AWS_DATA_PATH``
    is read once per process)."""
    global _loader
    import boto3.session  # on first use: boto3 is most of gtlabel's import time (gtlabel.storage.s3's docstring)
    import botocore.session  # with boto3 (same reason)

    core = botocore.session.Session()
    with _loader_lock:
        if _loader is not None:
            core.register_component("data_loader", _loader)
        session = boto3.session.Session(botocore_session=core, **kwargs)
        if _loader is None:
            _loader = core.get_component("data_loader")
        paths = _loader.search_paths  # boto3 appends its own data folder for every session: once is enough
        paths[:] = list(dict.fromkeys(paths))
    return session

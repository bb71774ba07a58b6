"""One exception tree for gtlabel.

    GtlabelError                      base of everything raised on purpose
    ├── ConfigError                   bad settings / arguments given by the user (or a broken facts file)
    ├── StorageError                  S3 or local file I/O failed (names the URI)
    │   └── NotFound                  object, file or prefix does not exist
    ├── InputError                    bad input data: names the file, line and field
    │   ├── ManifestError             a manifest line is malformed
    │   └── LabelError                a label / box / class is invalid
    ├── ValidationFailed              a labeling-job request breaks one or more rules (all listed)
    ├── BudgetExceeded                the cost estimate is over the user's budget (carries the breakdown)
    ├── JobError                      a labeling job could not be created / found / stopped
    │   ├── JobNameInUse              the (case-insensitive) job name is taken
    │   ├── JobFailure                a job cannot go on in the local service (message = FailureReason)
    │   └── WatchTimeout              watching gave up before a terminal state (carries the last response)
    ├── DatasetExists                 a dataset version already exists and versions are immutable
    ├── LineageError                  lineage record missing or verification failed
    ├── IllegalTransition             a local-service record asked to move from -> to where its lifecycle forbids
    ├── MissingExtra                  an optional extra is not installed (names the extra)
    ├── ServiceError                  the local service refuses an API call: AWS error ``code`` + HTTP ``status``
    │   ├── ServiceValidationError    ValidationException (400)
    │   ├── ResourceInUse             ResourceInUse (400)
    │   ├── ResourceNotFound          ResourceNotFound (400)
    │   ├── ResourceLimitExceeded     ResourceLimitExceeded (400)
    │   ├── UnknownOperation          UnknownOperationException (400)
    │   ├── AuthFailure               the request is not signed right (403; code e.g. InvalidSignatureException)
    │   └── RequestTooLarge           a request body passed its route's size limit (413; carries the limit)
    ├── PortalError                   the worker portal refuses a worker's request (HTTP ``status``)
    │   ├── SessionEnded              the session was ended (logout, ``workers remove``) or expired (401)
    │   ├── PortalNotFound            not your team's job / not your task / no such worker (404)
    │   └── TaskConflict              the task timed out, was returned, or the job is not running (409)
    └── WorkforceError                a simulated worker could not log in or talk to the portal

The local service's wire layer turns a :class:`ServiceError` into ``{"__type": code, "message"}``, so boto3
raises its modelled exceptions (``client.exceptions.ResourceNotFound`` ...) exactly as against AWS.
:class:`PortalError` never reaches the SageMaker API: the portal answers ``{"error": message}`` with ``status``.

Every message says what was expected, what came, and, where it helps, the valid options. An exception used as
control flow inside one package and never raised to a caller (``gtlabel.convert.lanes.Conflict``: redo a block
in one pass) is not an error and stays beside its code. Errors that cross
process boundaries (worker processes of the converter and the local service) keep their parts when pickled.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any


class GtlabelError(Exception):
    """Base class of every error gtlabel raises on purpose."""


class ConfigError(GtlabelError):
    """A setting or argument is wrong."""


class StorageError(GtlabelError):
    """Reading or writing an S3 object or local file failed."""

    def __init__(self, message: str, uri: str | None = None) -> None:
        super().__init__(f"{uri}: {message}" if uri else message)
        self.uri = uri
        self.message = message

    def __reduce__(self) -> tuple[Any, ...]:  # keep the parts across pickling (worker processes send errors)
        return type(self), (self.message, self.uri)


class NotFound(StorageError):
    """The object, file or prefix does not exist."""


class InputError(GtlabelError):
    """Bad input data. ``where`` is ``file:line`` and ``field`` a dotted path, when known."""

    def __init__(self, message: str, *, file: str | None = None, line: int | None = None,
                 field: str | None = None) -> None:
        self.file, self.line, self.field, self.reason = file, line, field, message
        loc = file or ""
        if line is not None:
            loc = f"{loc}:{line}" if loc else f"line {line}"
        parts = [p for p in (loc, f"field {field!r}" if field else "") if p]
        super().__init__(f"{', '.join(parts)}: {message}" if parts else message)

    def __reduce__(self) -> tuple[Any, ...]:  # keep file, line and field across pickling (see StorageError)
        return _rebuild_input_error, (type(self), self.reason, self.file, self.line, self.field)


def _rebuild_input_error(cls: type[InputError], reason: str, file: str | None, line: int | None,
                         fld: str | None) -> InputError:
    return cls(reason, file=file, line=line, field=fld)


class ManifestError(InputError):
    """A manifest line is malformed."""


class LabelError(InputError):
    """A label, box or class is invalid."""


@dataclass(frozen=True)
class Problem:
    """One rule a request breaks: a dotted path into the request and what is wrong there."""

    path: str
    message: str
    code: str = "ValidationException"

    def __str__(self) -> str:
        return f"{self.path or '<request>'}: {self.message}"


class ValidationFailed(GtlabelError):
    """A request breaks one or more rules; ``problems`` lists every one of them."""

    def __init__(self, problems: Sequence[Problem], what: str = "CreateLabelingJob request") -> None:
        self.problems = list(problems)
        self.what = what
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"{what} is invalid ({len(self.problems)} problem(s)):\n{lines}")

    def __reduce__(self) -> tuple[Any, ...]:
        return type(self), (self.problems, self.what)


class BudgetExceeded(GtlabelError):
    """The estimated cost is over the budget. ``estimate`` holds the breakdown."""

    def __init__(self, message: str, estimate: object | None = None) -> None:
        super().__init__(message)
        self.estimate = estimate

    def __reduce__(self) -> tuple[Any, ...]:
        return type(self), (str(self), self.estimate)


class JobError(GtlabelError):
    """A labeling job could not be created, found or stopped."""


class JobNameInUse(JobError):
    """The labeling job name is already used (names are unique case-insensitively and permanent)."""


class JobFailure(JobError):
    """The job cannot go on; the message becomes ``FailureReason`` (``output_uri``: results written so far)."""

    def __init__(self, message: str, output_uri: str | None = None) -> None:
        super().__init__(message)
        self.output_uri = output_uri

    def __reduce__(self) -> tuple[Any, ...]:
        return type(self), (str(self), self.output_uri)


class WatchTimeout(JobError):
    """The job did not reach a terminal state within ``max_wait_seconds``.

    ``last_response`` is the last ``DescribeLabelingJob`` response; ``summary`` what was seen so far (a
    :class:`gtlabel.monitor.WatchSummary`).
    """

    def __init__(self, message: str, last_response: Mapping[str, Any], summary: Any) -> None:
        super().__init__(message)
        self.last_response = last_response
        self.summary = summary

    def __reduce__(self) -> tuple[Any, ...]:
        return type(self), (str(self), self.last_response, self.summary)


class DatasetExists(GtlabelError):
    """A dataset version already exists; versions are immutable."""


class LineageError(GtlabelError):
    """A lineage record is missing, or verification found a difference."""


class IllegalTransition(GtlabelError):
    """A job, data object or task of the local service was asked to move between states its lifecycle
    (:mod:`gtlabel.local.lifecycle`) does not allow; ``frm`` and ``to`` name the states."""

    def __init__(self, message: str, frm: str = "", to: str = "") -> None:
        super().__init__(message)
        self.message, self.frm, self.to = message, frm, to

    def __reduce__(self) -> tuple[Any, ...]:
        return type(self), (self.message, self.frm, self.to)


class MissingExtra(GtlabelError, ImportError):
    """An optional extra is not installed."""

    def __init__(self, extra: str, module: str) -> None:
        super().__init__(f"{module} is needed for this; install it with: pip install 'gtlabel[{extra}]'")
        self.extra, self.module = extra, module

    def __reduce__(self) -> tuple[Any, ...]:
        return type(self), (self.extra, self.module)



# ----------------------------------------------------------------------------------------------- local service
class ServiceError(GtlabelError):
    """The local service refuses an API call. ``code`` is the AWS error code, ``status`` the HTTP status.

    The subclasses fix the code; ``ServiceError(message, code=...)`` (or :meth:`for_code`) gives any other.
    """

    code: str = "InternalFailure"
    status: int = 400

    def __init__(self, message: str, *, code: str | None = None, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status

    def __reduce__(self) -> tuple[Any, ...]:
        return _rebuild_service_error, (type(self), self.message, self.code, self.status)

    @staticmethod
    def for_code(code: str, message: str) -> ServiceError:
        """The family member for an AWS error code (a plain :class:`ServiceError` for a code without one)."""
        cls = _BY_CODE.get(code)
        return cls(message) if cls is not None else ServiceError(message, code=code)


def _rebuild_service_error(cls: type[ServiceError], message: str, code: str, status: int) -> ServiceError:
    return cls(message, code=code, status=status)


class ServiceValidationError(ServiceError):
    """``ValidationException``: the request breaks a rule."""

    code = "ValidationException"


class ResourceInUse(ServiceError):
    """``ResourceInUse``: the name is taken, or the resource is busy."""

    code = "ResourceInUse"


class ResourceNotFound(ServiceError):
    """``ResourceNotFound``: no such labeling job, workteam, ..."""

    code = "ResourceNotFound"


class ResourceLimitExceeded(ServiceError):
    """``ResourceLimitExceeded``: a quota of the account is used up."""

    code = "ResourceLimitExceeded"


class UnknownOperation(ServiceError):
    """``UnknownOperationException``: the operation is not one the service implements."""

    code = "UnknownOperationException"


class AuthFailure(ServiceError):
    """A request is not signed correctly (HTTP 403); ``code`` names why, e.g. ``InvalidSignatureException``."""

    code = "InvalidSignatureException"
    status = 403


class RequestTooLarge(ServiceError):
    """A request body is larger than its route accepts (HTTP 413); ``limit`` is that size in bytes."""

    code = "RequestEntityTooLargeException"
    status = 413

    def __init__(self, limit: int, *, code: str | None = None, status: int | None = None) -> None:
        super().__init__(f"the request body is larger than {limit} bytes", code=code, status=status)
        self.limit = limit

    def __reduce__(self) -> tuple[Any, ...]:
        return type(self), (self.limit,)


_BY_CODE: dict[str, type[ServiceError]] = {c.code: c for c in (ServiceValidationError, ResourceInUse,
                                                                 ResourceNotFound, ResourceLimitExceeded,
                                                                 UnknownOperation)}


class PortalError(GtlabelError):
    """The worker portal refuses a worker's request; ``status`` is the HTTP status it answers with."""

    status: int = 400

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status

    def __reduce__(self) -> tuple[Any, ...]:
        return _rebuild_portal_error, (type(self), self.message, self.status)


def _rebuild_portal_error(cls: type[PortalError], message: str, status: int) -> PortalError:
    return cls(message, status=status)


class SessionEnded(PortalError):
    """The request's session is no longer valid (logged out, ended by ``gtlabel workers remove``, expired)."""

    status = 401

    def __init__(self, message: str = "login required", *, status: int | None = None) -> None:
        super().__init__(message, status=status)


class PortalNotFound(PortalError):
    """Not the worker's team's job, not their task, or no such worker (nothing about others is revealed)."""

    status = 404


class TaskConflict(PortalError):
    """The task is no longer the worker's (timed out, returned, declined) or the job is not running."""

    status = 409


class WorkforceError(GtlabelError):
    """A simulated worker could not log in or talk to the portal (names the worker and the HTTP reply)."""

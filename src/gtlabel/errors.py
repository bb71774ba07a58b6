"""One exception tree for gtlabel.

    GtlabelError                      base of everything raised on purpose
    ├── ConfigError                   bad settings / arguments given by the user
    ├── StorageError                  S3 or local file I/O failed (names the URI)
    │   └── NotFound                  object, file or prefix does not exist
    ├── InputError                    bad input data: names the file, line and field
    │   ├── ManifestError             a manifest line is malformed
    │   └── LabelError                a label / box / class is invalid
    ├── ValidationFailed              a labeling-job request breaks one or more rules (all listed)
    ├── BudgetExceeded                the cost estimate is over the user's budget (carries the breakdown)
    ├── JobError                      a labeling job could not be created / found / stopped
    │   └── JobNameInUse              the (case-insensitive) job name is taken
    ├── DatasetExists                 a dataset version already exists and versions are immutable
    ├── LineageError                  lineage record missing or verification failed
    └── MissingExtra                  an optional extra is not installed (names the extra)

Every message says what was expected, what came, and, where it helps, the valid options.
"""

from __future__ import annotations

from collections.abc import Sequence
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
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"{what} is invalid ({len(self.problems)} problem(s)):\n{lines}")


class BudgetExceeded(GtlabelError):
    """The estimated cost is over the budget. ``estimate`` holds the breakdown."""

    def __init__(self, message: str, estimate: object | None = None) -> None:
        super().__init__(message)
        self.estimate = estimate


class JobError(GtlabelError):
    """A labeling job could not be created, found or stopped."""


class JobNameInUse(JobError):
    """The labeling job name is already used (names are unique case-insensitively and permanent)."""


class DatasetExists(GtlabelError):
    """A dataset version already exists; versions are immutable."""


class LineageError(GtlabelError):
    """A lineage record is missing, or verification found a difference."""


class MissingExtra(GtlabelError, ImportError):
    """An optional extra is not installed."""

    def __init__(self, extra: str, module: str) -> None:
        super().__init__(f"{module} is needed for this; install it with: pip install 'gtlabel[{extra}]'")
        self.extra = extra

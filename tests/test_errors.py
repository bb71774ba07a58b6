"""The one exception tree: every error class lives in gtlabel.errors, the docstring draws it as it is, and
errors that cross process boundaries keep their parts when pickled."""

from __future__ import annotations

import importlib
import inspect
import pickle
import pkgutil
import re
from typing import Any

import pytest

import gtlabel
from gtlabel import errors
from gtlabel.errors import (
    AuthFailure,
    BudgetExceeded,
    ConfigError,
    GtlabelError,
    IllegalTransition,
    InputError,
    JobFailure,
    LabelError,
    ManifestError,
    MissingExtra,
    NotFound,
    PortalError,
    PortalNotFound,
    Problem,
    ResourceInUse,
    ResourceLimitExceeded,
    ResourceNotFound,
    ServiceError,
    ServiceValidationError,
    SessionEnded,
    StorageError,
    TaskConflict,
    UnknownOperation,
    ValidationFailed,
    WatchTimeout,
    WorkforceError,
)

#: Exceptions that are control flow inside one package, never raised to a caller: not errors, so not in the tree.
#: (The converter's repeated-source-ref signal is private to convert/lanes.py, where Lane.run_block catches it.)
SIGNALS: dict[str, str] = {}

ERROR_CLASSES = [c for _, c in inspect.getmembers(errors, inspect.isclass)
                 if issubclass(c, BaseException) and c.__module__ == errors.__name__]


def _drawn_tree() -> dict[str, str | None]:
    """``{class name: parent name}`` as the module docstring draws it."""
    doc = errors.__doc__ or ""
    parents: dict[str, str | None] = {}
    stack: list[tuple[int, str]] = []
    for line in doc.splitlines():
        m = re.match(r"^(\s*)((?:[│ ]   )*)(?:[├└]── )?(\w+)\s{2,}\S", line)
        if not m or not (m.group(3)[0].isupper()):
            continue
        depth = len(m.group(2)) // 4 + (1 if "──" in line else 0)
        while stack and stack[-1][0] >= depth:
            stack.pop()
        parents[m.group(3)] = stack[-1][1] if stack else None
        stack.append((depth, m.group(3)))
    return parents


def test_docstring_draws_every_class_with_its_real_parent() -> None:
    drawn = _drawn_tree()
    assert drawn["GtlabelError"] is None
    assert set(drawn) == {c.__name__ for c in ERROR_CLASSES}
    for cls in ERROR_CLASSES:
        parent = drawn[cls.__name__]
        if parent is not None:
            assert parent in {b.__name__ for b in cls.__bases__}, f"{cls.__name__} drawn under {parent}"


def test_every_error_class_in_the_package_is_in_the_tree() -> None:
    """No module defines its own public exception class: they all live in gtlabel.errors, under GtlabelError."""
    outside = []
    for info in pkgutil.walk_packages(gtlabel.__path__, "gtlabel."):
        if ".pipeline_scripts" in info.name or info.name.endswith("__main__"):
            continue
        try:
            mod = importlib.import_module(info.name)
        except ImportError:  # an optional extra that is not installed here
            continue
        for name, obj in vars(mod).items():
            if (inspect.isclass(obj) and issubclass(obj, BaseException) and obj.__module__ == mod.__name__
                    and not name.startswith("_") and mod.__name__ != errors.__name__):
                outside.append(f"{mod.__name__}.{name}")
    assert sorted(outside) == sorted(SIGNALS)
    assert all(issubclass(c, GtlabelError) for c in ERROR_CLASSES)


def test_service_errors_carry_the_aws_code_and_status() -> None:
    assert (ResourceNotFound("x").code, ResourceNotFound("x").status) == ("ResourceNotFound", 400)
    assert ServiceValidationError("x").code == "ValidationException"
    assert ResourceInUse("x").code == "ResourceInUse"
    assert ResourceLimitExceeded("x").code == "ResourceLimitExceeded"
    assert UnknownOperation("x").code == "UnknownOperationException"
    auth = AuthFailure("no token", code="MissingAuthenticationTokenException")
    assert (auth.code, auth.status, auth.message) == ("MissingAuthenticationTokenException", 403, "no token")
    assert AuthFailure("bad").code == "InvalidSignatureException"
    for code, cls in [("ResourceNotFound", ResourceNotFound), ("ResourceInUse", ResourceInUse),
                      ("ResourceLimitExceeded", ResourceLimitExceeded),
                      ("ValidationException", ServiceValidationError)]:
        e = ServiceError.for_code(code, "m")
        assert type(e) is cls and e.code == code and str(e) == "m"
    other = ServiceError.for_code("ThrottlingException", "slow down")
    assert type(other) is ServiceError and other.code == "ThrottlingException"


def test_portal_errors_are_not_service_errors() -> None:
    """Worker-facing refusals never pass for SageMaker API errors (the API would answer them as 400s)."""
    assert (PortalNotFound("no such task").status, TaskConflict("late").status) == (404, 409)
    assert not issubclass(PortalError, ServiceError) and not issubclass(ServiceError, PortalError)
    assert PortalError("gone", status=410).status == 410
    assert (SessionEnded().status, SessionEnded().message) == (401, "login required")


@pytest.mark.parametrize("err", [
    StorageError("denied", "s3://b/k"),
    NotFound("does not exist", "s3://b/k"),
    InputError("bad", file="m.manifest", line=3, field="a"),
    ManifestError("bad line", file="m.manifest", line=7),
    LabelError("bad box", file="m.manifest", line=7, field="a.b"),
    ValidationFailed([Problem("A.B", "too long"), Problem("C", "missing", code="ResourceNotFound")]),
    BudgetExceeded("over budget", {"total": 12.5}),
    JobFailure("ClientError: no objects", "s3://b/out/manifest"),
    WatchTimeout("gave up", {"LabelingJobStatus": "InProgress"}, {"seen": 3}),
    MissingExtra("train", "ultralytics"),
    ConfigError("bad setting"),
    ResourceNotFound("Could not find labeling job 'x'."),
    AuthFailure("expired", code="InvalidSignatureException"),
    ServiceError("slow down", code="ThrottlingException", status=400),
    TaskConflict("this task is no longer yours"),
    PortalError("gone", status=410),
    WorkforceError("ann: login failed"),
    IllegalTransition("labeling job 'j': Stopping -> Completed is not allowed", "Stopping", "Completed"),
])
def test_errors_survive_pickling(err: GtlabelError) -> None:
    """Worker processes (the converter's lanes, the service's writers) send errors back by pickling."""
    back = pickle.loads(pickle.dumps(err))
    assert type(back) is type(err)
    assert str(back) == str(err)
    parts: dict[str, Any] = {k: v for k, v in vars(err).items() if not k.startswith("__")}
    assert {k: getattr(back, k) for k in parts} == parts
    for attr in ("code", "status"):
        if hasattr(err, attr):
            assert getattr(back, attr) == getattr(err, attr)

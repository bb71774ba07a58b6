"""Offline validation of the parameters of ANY SageMaker operation against botocore's service model.

1. botocore's own ``ParamValidator`` (required fields, types, unknown keys, ``min``): exactly what ``boto3``
   checks before it sends anything;
2. a walker over the same model for what botocore skips: ``max`` (length, value, list size), ``pattern``
   (``re.fullmatch``; Java's ``\\p{L}``-style classes are translated, patterns Python cannot compile are
   skipped) and ``enum``.

Every problem is collected with its dotted path (``HumanTaskConfig.TaskTitle``, ``Tags[3].Key``).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from decimal import Decimal
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from gtlabel.errors import Problem

if TYPE_CHECKING:
    from botocore.model import OperationModel, ServiceModel, Shape

__all__ = ["compile_pattern", "validate_params", "warm_up"]

_MAX_PROBLEMS_PER_LIST = 50  # a 10,000-item list with the same mistake yields a readable report


# --------------------------------------------------------------------------------------------- the model
@lru_cache(maxsize=1)
def _service_model() -> ServiceModel:
    # lazy, as the other botocore modules below: botocore.session/model load urllib3 and the auth stack,
    # +0.3 s of import time (every `gtlabel` command), paid by the first validation only
    import botocore.session

    return botocore.session.get_session().get_service_model("sagemaker")


def _operation_model(operation: str) -> OperationModel | None:
    from botocore.model import OperationNotFoundError  # lazy: see _service_model

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
def compile_pattern(pattern: str) -> re.Pattern[str] | None:
    """A Python regex for a model pattern, or ``None`` where Python cannot express it (then it is skipped).
    Cached: :func:`warm_up` compiles an operation's patterns ahead of the first request."""
    try:
        # no DOTALL: in Java (the service's regex engine) "." does not match a line break either
        return re.compile(_translate(pattern) if "\\p{" in pattern else pattern)
    except (re.error, ValueError, OverflowError):
        return None


# ------------------------------------------------------------------------------------------ layer 1 + 2
def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _botocore_problems(params: Mapping[str, Any], shape: Shape) -> list[Problem]:
    from botocore.validate import ParamValidator  # lazy: see _service_model

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
            rx = compile_pattern(pattern)
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
        compile_pattern(shape.metadata["pattern"])
    if shape.type_name == "structure":
        for member in shape.members.values():  # type: ignore[attr-defined]
            _compile_all(member, seen)
    elif shape.type_name == "list":
        _compile_all(shape.member, seen)  # type: ignore[attr-defined]
    elif shape.type_name == "map":
        _compile_all(shape.key, seen)  # type: ignore[attr-defined]
        _compile_all(shape.value, seen)  # type: ignore[attr-defined]


"""Strict JSON: what gtlabel reads and writes is RFC 8259 JSON, never ``NaN`` / ``Infinity``.

Python's :mod:`json` reads and writes the bare tokens ``NaN``, ``Infinity`` and ``-Infinity`` by default (not
JSON: orjson, ``JSON.parse`` and jq refuse them), and orjson writes a non-finite float as ``null`` without a word.
gtlabel's rule, everywhere: **a non-finite number is refused**, on the way in and on the way out.

- :func:`dumps` / :func:`dumps_text`: serialise, raising :class:`ValueError` naming the path of the first
  non-finite float (orjson underneath; the check costs a byte search unless the output holds a ``null``);
- :func:`loads`: parse with orjson, which refuses ``NaN``/``Infinity``, numbers that overflow a double and
  nesting deeper than 1024, as :class:`ValueError` (``orjson.JSONDecodeError``);
- :func:`nesting_depth`: how deep a parsed value nests (iterative: no recursion on hostile input).

The standard library's ``json.dumps`` stays where its output format matters (``ensure_ascii``, separators);
those calls pass ``allow_nan=False``, which refuses the same values.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import orjson

__all__ = ["dumps", "dumps_text", "first_non_finite", "loads", "nesting_depth"]


def first_non_finite(value: Any) -> str | None:
    """The path (``$.a[2].b``) of the first NaN or infinite float in ``value``, ``None`` when there is none."""
    stack: list[tuple[Any, str]] = [(value, "$")]
    while stack:
        v, path = stack.pop()
        if isinstance(v, float):
            if not math.isfinite(v):
                return path
        elif isinstance(v, Mapping):
            stack.extend((x, f"{path}.{k}") for k, x in reversed(list(v.items())))
        elif isinstance(v, list | tuple):
            stack.extend((x, f"{path}[{i}]") for i, x in reversed(list(enumerate(v))))
    return None


def dumps(value: Any, *, option: int = 0, default: Callable[[Any], Any] | None = None) -> bytes:
    """``orjson.dumps`` that refuses NaN and infinities (:class:`ValueError` naming where) instead of writing
    ``null``. orjson writes a non-finite float as ``null``, so output without ``null`` needs no further check."""
    out = orjson.dumps(value, option=option, default=default)
    if b"null" in out:
        where = first_non_finite(value)
        if where is not None:
            raise ValueError(f"refusing to write a non-finite number (NaN or Infinity) as JSON at {where}")
    return out


def dumps_text(value: Any, *, option: int = 0, default: Callable[[Any], Any] | None = None) -> str:
    """:func:`dumps` as text."""
    return dumps(value, option=option, default=default).decode("utf-8")


def loads(data: bytes | bytearray | memoryview | str) -> Any:
    """Parse strict JSON (orjson): ``NaN``, ``Infinity``, numbers beyond a double and nesting deeper than 1024
    raise ``orjson.JSONDecodeError`` (a :class:`ValueError`)."""
    return orjson.loads(data)


def nesting_depth(value: Any, limit: int | None = None) -> int:
    """How deeply containers nest in ``value`` (a scalar is 0, ``[]`` is 1). With ``limit``, stops as soon as
    the depth passes it and returns ``limit + 1``."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        v, d = stack.pop()
        if isinstance(v, Mapping):
            children: Any = v.values()
        elif isinstance(v, list | tuple):
            children = v
        else:
            continue
        d += 1
        if d > deepest:
            deepest = d
            if limit is not None and deepest > limit:
                return limit + 1
        stack.extend((c, d) for c in children if isinstance(c, Mapping | list | tuple))
    return deepest

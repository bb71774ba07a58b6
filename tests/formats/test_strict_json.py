"""gtlabel.formats.strict_json: NaN and infinities are refused on the way in and on the way out."""

from __future__ import annotations

import math
from typing import Any

import orjson
import pytest

from gtlabel.formats.strict_json import dumps, dumps_text, first_non_finite, loads, nesting_depth


def test_dumps_refuses_non_finite_numbers_where_orjson_writes_null() -> None:
    assert orjson.dumps({"a": math.nan}) == b'{"a":null}'  # what this module exists for
    for bad, where in (({"a": [1, {"b": math.nan}]}, "$.a[1].b"), ([math.inf], "$[0]"), (-math.inf, "$")):
        with pytest.raises(ValueError, match=r"non-finite .* at " + where.replace("$", r"\$").replace("[", r"\[")):
            dumps(bad)
    assert dumps({"a": None, "b": 1.5}) == b'{"a":null,"b":1.5}'
    assert dumps_text({"b": 1, "a": 2}, option=orjson.OPT_SORT_KEYS) == '{"a":2,"b":1}'
    assert first_non_finite({"x": (1.0, 2)}) is None


@pytest.mark.parametrize("raw", [b"NaN", b"[Infinity]", b"-Infinity", b"1e400", b"[" * 2000 + b"]" * 2000])
def test_loads_refuses_what_is_not_json(raw: bytes) -> None:
    with pytest.raises(ValueError):
        loads(raw)


def test_nesting_depth_is_iterative() -> None:
    deep: Any = 0
    for _ in range(200_000):  # far beyond the recursion limit
        deep = [deep]
    assert nesting_depth(deep) == 200_000
    assert nesting_depth(deep, limit=10) == 11
    assert nesting_depth({"a": [1, {"b": []}]}) == 4 and nesting_depth(5) == 0

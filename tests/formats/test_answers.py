"""gtlabel.formats.answers: one worker answer checked against its job before it is stored (pure)."""

from __future__ import annotations

from typing import Any

import pytest

from gtlabel.errors import LabelError
from gtlabel.formats.answers import (
    DEFAULT_MAX_BOXES,
    MAX_COORDINATE,
    AnswerLimits,
    bounding_box_element,
    check_answer,
    load_answer,
    parse_answer,
)

LABELS = ["drone", "vehicle"]
BOX = {"label": "drone", "left": 10, "top": 12, "width": 20, "height": 8}


def answer(*boxes: dict[str, Any], props: Any = None, **extra: Any) -> dict[str, Any]:
    el: dict[str, Any] = {"boundingBoxes": list(boxes),
                          "inputImageProperties": props if props is not None else {"width": 64, "height": 48}}
    el.update(extra)
    return {"boundingBox": el}


def nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


def test_well_formed_answers_pass() -> None:
    check_answer(answer(BOX, dict(BOX, label="vehicle", left=0.5)), labels=LABELS, bounding_box=True)
    check_answer(answer(), labels=LABELS, bounding_box=True)  # nothing in the image
    check_answer({"boundingBox": {"boundingBoxes": []}}, labels=LABELS, bounding_box=True)  # no image properties
    check_answer(answer(BOX, initialValueModified=True), labels=LABELS, bounding_box=True)  # adjustment jobs
    check_answer(answer(dict(BOX, width=0)), labels=LABELS, bounding_box=True)  # a click is harmless
    # a verification / custom answer is not a box answer: only the generic checks apply
    check_answer({"verify": {"label": "good", "comment": "ok"}}, labels=LABELS)


HOSTILE: list[tuple[str, dict[str, Any], str, str]] = [
    ("400-digit integer", answer(dict(BOX, left=10**400)), "boundingBox.boundingBoxes[0].left", "digits"),
    ("1e308 + 1e308", answer(dict(BOX, left=1e308, width=1e308)), "boundingBoxes[0].left", "from -1e+08 to 1e+08"),
    ("NaN", answer(dict(BOX, top=float("nan"))), "boundingBoxes[0].top", "finite"),
    ("Infinity", answer(dict(BOX, height=float("inf"))), "boundingBoxes[0].height", "finite"),
    ("string number", answer(dict(BOX, left="10")), "boundingBoxes[0].left", "expected a number"),
    ("boolean", answer(dict(BOX, width=True)), "boundingBoxes[0].width", "expected a number"),
    ("negative width", answer(dict(BOX, width=-5)), "boundingBoxes[0].width", "from 0 to"),
    ("missing field", answer({"label": "drone", "left": 1, "top": 1, "width": 2}), "boundingBoxes[0].height",
     "expected a number"),
    ("unknown label", answer(dict(BOX, label="tank")), "boundingBoxes[0].label", "not one of the job's labels"),
    ("label not a string", answer(dict(BOX, label=["drone"])), "boundingBoxes[0].label", "label string"),
    ("box not an object", answer("drone"), "boundingBoxes[0]", "box object"),  # type: ignore[arg-type]
    ("boxes not a list", {"boundingBox": {"boundingBoxes": {"0": BOX}}}, "boundingBox.boundingBoxes", "list"),
    ("NaN image width", answer(BOX, props={"width": float("nan"), "height": 48}),
     "inputImageProperties.width", "finite"),
    ("zero image height", answer(BOX, props={"width": 64, "height": 0}), "inputImageProperties.height",
     "positive"),
    ("negative image width", answer(BOX, props={"width": -64, "height": 48}), "inputImageProperties.width",
     "from 0 to"),
    ("huge image", answer(BOX, props={"width": 1e12, "height": 48}), "inputImageProperties.width", "from 0 to"),
    ("image properties not an object", answer(BOX, props=[64, 48]), "inputImageProperties", "object"),
    ("no crowd-bounding-box result", {"boundingBox": {"boxes": [BOX]}}, "answer", "no crowd-bounding-box"),
    ("70,000 boxes", answer(*[BOX] * 70_000), "boundingBox.boundingBoxes", f"at most {DEFAULT_MAX_BOXES}"),
    ("deep nesting", answer(BOX, junk=nested(100)), "answer", "deeper than 32"),
    ("NaN elsewhere", answer(BOX, junk={"x": float("nan")}), "boundingBox.junk.x", "finite"),
    ("long integer elsewhere", {**answer(BOX), "other": 2**64}, "answer.other", "digits"),
]


@pytest.mark.parametrize(("case", "value", "field", "message"), HOSTILE, ids=[h[0] for h in HOSTILE])
def test_hostile_answers_are_refused_naming_the_field(case: str, value: dict[str, Any], field: str,
                                                      message: str) -> None:
    with pytest.raises(LabelError) as ei:
        check_answer(value, labels=LABELS, bounding_box=True)
    assert ei.value.field is not None and ei.value.field.endswith(field), ei.value.field
    assert message in ei.value.reason


def test_the_box_cap_is_configurable() -> None:
    five = answer(*[BOX] * 5)
    check_answer(five, labels=LABELS, bounding_box=True, limits=AnswerLimits(max_boxes=5))
    with pytest.raises(LabelError, match="6 boxes in one answer; at most 5"):
        check_answer(answer(*[BOX] * 6), labels=LABELS, bounding_box=True, limits=AnswerLimits(max_boxes=5))
    with pytest.raises(ValueError):
        AnswerLimits(max_boxes=0)


def test_every_box_element_is_checked() -> None:
    two = {"boundingBox": {"boundingBoxes": [BOX]}, "second": {"boundingBoxes": [dict(BOX, label="tank")]}}
    with pytest.raises(LabelError) as ei:
        check_answer(two, labels=LABELS, bounding_box=True)
    assert ei.value.field == "answer.second.boundingBoxes[0].label"
    assert bounding_box_element(two) == two["boundingBox"]
    assert bounding_box_element({"boundingBoxes": []}) == {"boundingBoxes": []}
    assert bounding_box_element({"other": 1}) is None


def test_generic_checks_apply_to_every_job_kind() -> None:
    with pytest.raises(LabelError, match="finite"):
        check_answer({"verify": {"label": "good", "score": float("inf")}})
    with pytest.raises(LabelError, match="deeper"):
        check_answer({"verify": nested(40)})


RAW: list[tuple[str, bytes, str]] = [
    ("bare NaN", b'{"boundingBox": {"boundingBoxes": [{"label": "drone", "left": NaN}]}}', "not valid JSON"),
    ("bare Infinity", b'{"a": Infinity}', "not valid JSON"),
    ("overflowing number", b'{"a": 1e400}', "not valid JSON"),
    ("400-digit integer", b'{"a": ' + b"9" * 400 + b"}", "not valid JSON"),
    ("100,000 nested lists", b'{"a": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", "not valid JSON"),
    ("not JSON", b"{oops", "not valid JSON"),
    ("a list", b"[1, 2]", "must be a JSON object"),
    ("a string", b'"x"', "must be a JSON object"),
    ("nested 40 deep", b'{"a": ' + b"[" * 40 + b"]" * 40 + b"}", "deeper than 32"),
    ("20-digit integer", b'{"a": 12345678901234567890}', "digits"),
]


@pytest.mark.parametrize(("case", "raw", "message"), RAW, ids=[r[0] for r in RAW])
def test_load_answer_is_strict_json(case: str, raw: bytes, message: str) -> None:
    with pytest.raises(LabelError, match=message):
        check_answer(load_answer(raw))


def test_load_answer_returns_the_object() -> None:
    assert load_answer(b'{"boundingBox": {"boundingBoxes": [], "inputImageProperties": {"width": 4, "height": 3}}}') \
        == {"boundingBox": {"boundingBoxes": [], "inputImageProperties": {"width": 4, "height": 3}}}


def test_parse_answer_refuses_out_of_range_numbers_as_label_errors() -> None:
    boxes, size = parse_answer(answer(BOX))
    assert [b.label for b in boxes] == ["drone"] and size == (64, 48)
    for bad in (10**400, 1e308, -MAX_COORDINATE * 2, float("nan")):
        with pytest.raises(LabelError) as ei:  # never OverflowError / a silent inf
            parse_answer(answer(dict(BOX, left=bad)), "w")
        assert ei.value.field == "w.boundingBoxes[0].left"


# ----------------------------------------------------------------------------------------------- one walk
def _old_check_values(answer: Any, limits: AnswerLimits, where: str) -> None:
    """check_values as it was before it became one walk (two walks, every path spelled out): the oracle."""
    import math
    from collections.abc import Mapping

    from gtlabel.formats.answers import MAX_INTEGER
    from gtlabel.formats.strict_json import nesting_depth

    if nesting_depth(answer, limits.max_depth) > limits.max_depth:
        raise LabelError(f"the answer nests deeper than {limits.max_depth} levels", field=where)
    stack: list[tuple[Any, str]] = [(answer, where)]
    while stack:
        v, path = stack.pop()
        if isinstance(v, bool) or v is None or isinstance(v, str):
            continue
        if isinstance(v, int):
            if not -MAX_INTEGER <= v <= MAX_INTEGER:
                raise LabelError(f"an integer of {len(str(abs(v)))} digits is not a pixel value or a count",
                                 field=path)
        elif isinstance(v, float):
            if not math.isfinite(v):
                raise LabelError(f"expected a finite number, got {v!r}", field=path)
        elif isinstance(v, Mapping):
            stack.extend((x, f"{path}.{k}") for k, x in v.items())
        elif isinstance(v, list | tuple):
            stack.extend((x, f"{path}[{i}]") for i, x in enumerate(v))
        else:
            raise LabelError(f"not a JSON value: {type(v).__name__}", field=path)


def _outcome(fn: Any, value: Any, limits: AnswerLimits) -> tuple[str, str | None] | None:
    try:
        fn(value, limits, "answer")
    except LabelError as exc:
        return str(exc), exc.field
    return None


def test_the_one_walk_refuses_exactly_what_the_two_walks_refused() -> None:
    """Same verdict and the same message and field as before, for hostile and odd values (subclasses, tuples,
    sets, non-string keys, a bad value and too much depth in one answer) and for random JSON-ish trees."""
    from enum import IntEnum

    from hypothesis import given, settings
    from hypothesis import strategies as st

    from gtlabel.formats.answers import check_values

    class Small(IntEnum):
        A = 3

    class Wide(int):
        pass

    limits = AnswerLimits(max_depth=6)
    fixed = [answer(BOX), {"a": [1, 2.5, None, True, "x"]}, {"a": float("nan")}, {"a": [1, {"b": 10**400}]},
             {"a": {1, 2}}, {1: [float("inf")], None: 2, (3, 4): -1}, ({"a": Small.A}, [Wide(10**30)]),
             {"deep": nested(7), "bad": float("nan")}, {"bad": float("-inf"), "deep": nested(7)}, nested(6),
             nested(7), [[], {}, ()], {"a": b"bytes"}, [1.0, [2.0, [float("nan"), [10**20]]]]]
    for value in fixed:
        assert _outcome(check_values, value, limits) == _outcome(_old_check_values, value, limits), value

    scalars = (st.none() | st.booleans() | st.integers(-(2**60), 2**60) | st.floats(allow_nan=True)
               | st.text(max_size=3) | st.sampled_from([Small.A, Wide(5), Wide(2**60)]))
    trees = st.recursive(scalars, lambda kids: st.lists(kids, max_size=4) | st.tuples(kids, kids)
                         | st.dictionaries(st.text(max_size=2) | st.integers(0, 3), kids, max_size=4), max_leaves=30)

    @settings(max_examples=300)
    @given(trees)
    def same(value: Any) -> None:
        assert _outcome(check_values, value, limits) == _outcome(_old_check_values, value, limits)

    same()

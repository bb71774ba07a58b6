"""A worker's answer: the crowd-form output, with the ``crowd-bounding-box`` element's result in it.

Shape (reference/ground-truth.md 4.1)::

    {"<element name>": {"boundingBoxes": [{"label", "left", "top", "width", "height"}],
                        "inputImageProperties": {"width", "height"}[, "initialValueModified": bool]}}

pixels from the top-left of the image as displayed. :func:`parse_answer` reads the boxes of one answer
(consolidation and the worker metrics use it); :func:`load_answer` and :func:`check_answer` are what the local
service applies to an answer *before* storing it, so that nothing a worker sends can break consolidation later:

- strict JSON (:mod:`gtlabel.formats.strict_json`): no ``NaN``/``Infinity``, no number beyond a double;
- nesting at most :attr:`AnswerLimits.max_depth` deep; integers at most ``2**53`` in magnitude (JavaScript's
  exact range) and every number finite, anywhere in the answer;
- for bounding-box jobs: a ``crowd-bounding-box`` result is present; each box is an object with a label of the
  job and four numbers, ``width``/``height`` not negative and all four within ``max_coordinate``;
  ``inputImageProperties`` (optional) holds a positive ``width`` and ``height`` within it; at most
  :attr:`AnswerLimits.max_boxes` boxes per answer.

Every refusal is a :class:`gtlabel.errors.LabelError` naming the field (``answer.boundingBox.boundingBoxes[3].left``).
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from gtlabel.errors import LabelError
from gtlabel.formats import strict_json

__all__ = [
    "DEFAULT_MAX_BOXES",
    "DEFAULT_MAX_DEPTH",
    "MAX_COORDINATE",
    "MAX_INTEGER",
    "AnswerBox",
    "AnswerLimits",
    "bounding_box_element",
    "check_answer",
    "check_values",
    "load_answer",
    "parse_answer",
]

#: boxes one worker may draw in one answer, unless the service is told otherwise (``--max-boxes-per-answer``)
DEFAULT_MAX_BOXES = 1000
#: how deeply an answer may nest (the crowd-form output of the built-in template nests 4 deep)
DEFAULT_MAX_DEPTH = 32
#: no coordinate of a Ground Truth image can be larger: images hold at most 100 million pixels (limits fact
#: ``images.max_pixels``), so no side is longer; anything beyond is not a pixel position
MAX_COORDINATE = 100_000_000.0
#: integers beyond this are not exact in the worker's browser (JavaScript numbers), so no answer holds one
MAX_INTEGER = 2**53


@dataclass(frozen=True, slots=True)
class AnswerBox:
    """One box of one worker's answer (pixels, top-left origin)."""

    label: str
    left: float
    top: float
    width: float
    height: float


@dataclass(frozen=True, slots=True)
class AnswerLimits:
    """What one answer may hold (see the module docstring)."""

    max_boxes: int = DEFAULT_MAX_BOXES
    max_depth: int = DEFAULT_MAX_DEPTH
    max_coordinate: float = MAX_COORDINATE

    def __post_init__(self) -> None:
        if self.max_boxes < 1 or self.max_depth < 4 or not 0 < self.max_coordinate <= MAX_COORDINATE:
            raise ValueError(f"answer limits out of range: {self}")


def bounding_box_element(answer: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The ``crowd-bounding-box`` result in a crowd-form answer: the answer itself when it has
    ``boundingBoxes``, else its ``boundingBox`` element, else the first element that has ``boundingBoxes``."""
    if "boundingBoxes" in answer:
        return answer
    inner = answer.get("boundingBox")
    if isinstance(inner, Mapping) and "boundingBoxes" in inner:
        return inner
    for value in answer.values():
        if isinstance(value, Mapping) and "boundingBoxes" in value:
            return value
    return None


def _elements(answer: Mapping[str, Any], where: str) -> Iterator[tuple[Mapping[str, Any], str]]:
    """Every ``crowd-bounding-box`` result of an answer, with its path."""
    if "boundingBoxes" in answer:
        yield answer, where
    for key, value in answer.items():
        if isinstance(value, Mapping) and "boundingBoxes" in value:
            yield value, f"{where}.{key}"


def _num(value: Any, where: str, low: float = -MAX_COORDINATE, high: float = MAX_COORDINATE) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise LabelError(f"expected a number, got {_show(value)}", field=where)
    if isinstance(value, float) and not math.isfinite(value):
        raise LabelError(f"expected a finite number, got {value!r}", field=where)
    if not low <= value <= high:  # compared as given: a 400-digit int never becomes a float
        raise LabelError(f"expected a number from {low:g} to {high:g}, got {_show(value)}", field=where)
    return float(value)


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else f"{text[:30]}... ({len(text)} characters)"


def parse_answer(answer: Mapping[str, Any], where: str = "answer") -> tuple[list[AnswerBox], tuple[int, int] | None]:
    """One worker answer -> its boxes and the ``(width, height)`` the worker saw (``None`` when absent).

    ``answer`` is ``{"boundingBoxes": [...], "inputImageProperties": {...}}`` or the crowd-form output that
    wraps it (``{"boundingBox": {...}}``). Raises :class:`LabelError` naming the field that is wrong (a value
    that is not a finite number within :data:`MAX_COORDINATE` included).
    """
    if not isinstance(answer, Mapping):
        raise LabelError(f"expected an object, got {type(answer).__name__}", field=where)
    ans = bounding_box_element(answer) or answer
    raw_boxes = ans.get("boundingBoxes", [])
    if raw_boxes is None:
        raw_boxes = []
    if not isinstance(raw_boxes, list):
        raise LabelError(f"expected a list, got {type(raw_boxes).__name__}", field=f"{where}.boundingBoxes")
    boxes: list[AnswerBox] = []
    for j, b in enumerate(raw_boxes):
        bw = f"{where}.boundingBoxes[{j}]"
        if not isinstance(b, Mapping):
            raise LabelError(f"expected an object, got {type(b).__name__}", field=bw)
        label = b.get("label")
        if not isinstance(label, str):
            raise LabelError(f"expected a label string, got {_show(label)}", field=f"{bw}.label")
        boxes.append(AnswerBox(label, _num(b.get("left"), f"{bw}.left"), _num(b.get("top"), f"{bw}.top"),
                               _num(b.get("width"), f"{bw}.width"), _num(b.get("height"), f"{bw}.height")))
    size: tuple[int, int] | None = None
    props = ans.get("inputImageProperties")
    if isinstance(props, Mapping) and "width" in props and "height" in props:
        w = _num(props["width"], f"{where}.inputImageProperties.width")
        h = _num(props["height"], f"{where}.inputImageProperties.height")
        if w > 0 and h > 0:
            size = (round(w), round(h))
    return boxes, size


# ----------------------------------------------------------------------------------------------- before storing
def load_answer(raw: bytes | str) -> dict[str, Any]:
    """Parse a submitted answer: strict JSON (no NaN/Infinity, no number beyond a double, nesting under 1024), a
    JSON object; :class:`LabelError` says what is wrong. :func:`check_answer` does the rest."""
    try:
        answer = strict_json.loads(raw)
    except ValueError as exc:
        raise LabelError(f"the answer is not valid JSON (numbers must be finite): {exc}", field="answer") from None
    if not isinstance(answer, dict):
        raise LabelError(f"the answer must be a JSON object (the crowd-form output), got {type(answer).__name__}",
                         field="answer")
    return answer


def check_values(answer: Any, limits: AnswerLimits, where: str) -> None:
    """Depth, finite numbers and integer size anywhere in the answer (iterative: no recursion).

    One walk does both checks (a depth over ``limits.max_depth`` is the error whenever there is one, else the
    first bad value in the walk's order), and a value's path (``answer.boundingBox.boundingBoxes[3].left``) is
    spelled out only for the error: every submitted answer goes through here, on the service's hot path."""
    max_depth = limits.max_depth
    bad: LabelError | None = None
    # (value, depth of the container holding it, that container's path, the value's key or index in it, whether
    # that container is a list or tuple)
    stack: list[tuple[Any, int, str, Any, bool]] = [(answer, 0, where, _ROOT, False)]
    pop, extend = stack.pop, stack.extend
    while stack:
        v, depth, parent, key, indexed = pop()
        t = type(v)
        if t is str or t is bool or v is None:
            continue
        if t is dict or t is list:
            container = True
        elif t is int or t is float:
            container = False
        else:  # the exact-type checks above are a shortcut only: subclasses take the same path as before
            if isinstance(v, bool | str) or v is None:
                continue
            container = isinstance(v, Mapping | list | tuple)
        if container:
            depth += 1
            if depth > max_depth:
                raise LabelError(f"the answer nests deeper than {max_depth} levels", field=where)
            path = _child_path(parent, key, indexed)
            if isinstance(v, Mapping):
                extend((x, depth, path, k, False) for k, x in v.items())
            else:
                extend((x, depth, path, i, True) for i, x in enumerate(v))
        elif bad is None:
            if t is int:
                if -MAX_INTEGER <= v <= MAX_INTEGER:
                    continue
            elif t is float and math.isfinite(v):
                continue
            bad = _bad_value(v, _child_path(parent, key, indexed))
    if bad is not None:
        raise bad


_ROOT = object()  # the key of the answer itself in check_values's walk


def _child_path(parent: str, key: Any, indexed: bool) -> str:
    if key is _ROOT:
        return parent
    return f"{parent}[{key}]" if indexed else f"{parent}.{key}"


def _bad_value(v: Any, path: str) -> LabelError | None:
    """The error for a scalar that is not allowed (``path`` is its field), None for a good number."""
    if isinstance(v, int):
        if not -MAX_INTEGER <= v <= MAX_INTEGER:
            return LabelError(f"an integer of {len(str(abs(v)))} digits is not a pixel value or a count", field=path)
        return None
    if isinstance(v, float):
        return None if math.isfinite(v) else LabelError(f"expected a finite number, got {v!r}", field=path)
    return LabelError(f"not a JSON value: {type(v).__name__}", field=path)


def check_answer(answer: Mapping[str, Any], *, labels: Collection[str] = (), bounding_box: bool = False,
                 limits: AnswerLimits | None = None, where: str = "answer") -> None:
    """Refuse (:class:`LabelError`) an answer that would break or poison its job's consolidation.

    Every answer: depth, finite numbers, integer size. ``bounding_box`` (the job consolidates boxes): a
    ``crowd-bounding-box`` result is present and well-formed, labels are among ``labels`` (when given), at most
    ``limits.max_boxes`` boxes."""
    limits = limits or AnswerLimits()
    elements = list(_elements(answer, where)) if bounding_box else []
    for element, path in elements:  # the cheap refusal first: a 1 MB answer of boxes is not walked
        raw = element.get("boundingBoxes")
        if isinstance(raw, list) and len(raw) > limits.max_boxes:
            raise LabelError(f"{len(raw)} boxes in one answer; at most {limits.max_boxes} are accepted",
                             field=f"{path}.boundingBoxes")
    check_values(answer, limits, where)
    if not bounding_box:
        return
    if not elements:
        raise LabelError("the answer holds no crowd-bounding-box result (boundingBoxes)", field=where)
    known = set(labels)
    for element, path in elements:
        raw = element.get("boundingBoxes")
        if not isinstance(raw, list):
            raise LabelError(f"expected a list of boxes, got {type(raw).__name__}", field=f"{path}.boundingBoxes")
        high = limits.max_coordinate
        for j, b in enumerate(raw):
            bw = f"{path}.boundingBoxes[{j}]"
            if not isinstance(b, Mapping):
                raise LabelError(f"expected a box object, got {type(b).__name__}", field=bw)
            label = b.get("label")
            if not isinstance(label, str):
                raise LabelError(f"expected a label string, got {_show(label)}", field=f"{bw}.label")
            if known and label not in known:
                raise LabelError(f"label {_show(label)} is not one of the job's labels {sorted(known)}",
                                 field=f"{bw}.label")
            _num(b.get("left"), f"{bw}.left", -high, high)
            _num(b.get("top"), f"{bw}.top", -high, high)
            _num(b.get("width"), f"{bw}.width", 0.0, high)
            _num(b.get("height"), f"{bw}.height", 0.0, high)
        props = element.get("inputImageProperties")
        if props is not None:
            if not isinstance(props, Mapping):
                raise LabelError(f"expected an object, got {type(props).__name__}",
                                 field=f"{path}.inputImageProperties")
            for key in ("width", "height"):
                value = _num(props.get(key), f"{path}.inputImageProperties.{key}", 0.0, high)
                if value <= 0:
                    raise LabelError(f"expected a positive image {key}, got {_show(props.get(key))}",
                                     field=f"{path}.inputImageProperties.{key}")

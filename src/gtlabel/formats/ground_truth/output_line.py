"""An output-manifest line of a bounding-box job (reference/ground-truth.md 3.2): read (records, the parser,
the streaming reader) and written (the label, the ``-metadata`` block, the line, a custom consolidation's content)."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple, NoReturn

import orjson

from gtlabel.errors import ManifestError
from gtlabel.formats import strict_json
from gtlabel.formats.ground_truth.input_line import check_source_ref
from gtlabel.formats.ground_truth.names import (
    BOUNDING_BOX_TYPES,
    CLASS_MAP,
    CUSTOM,
    LABEL_VERIFICATION,
    METADATA_SUFFIX,
    OBJECT_DETECTION,
    RESERVED_KEYS,
    metadata_key,
)


# ----------------------------------------------------------------------------------------------- output: records
class OutputBox(NamedTuple):
    """One box in pixels of the frame the worker saw; ``confidence`` from ``-metadata.objects`` if given.
    (A named tuple: a manifest of a million lines has millions of them.)"""

    class_id: int
    left: float
    top: float
    width: float
    height: float
    confidence: float | None = None


@dataclass(slots=True)
class OutputRecord:
    """One output-manifest line, typed. ``extra`` holds the pass-through keys (other attributes included)."""

    file: str
    line: int
    source_ref: str
    label_attribute: str
    image_size: tuple[int, int, int] | None
    boxes: list[OutputBox]
    class_map: dict[int, str]
    human_annotated: bool | None
    failure_reason: str | None
    adjustment_status: str | None
    job_name: str | None
    creation_date: str | None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def failed(self) -> bool:
        return self.failure_reason is not None

    @property
    def labeled(self) -> bool:
        return self.image_size is not None



# ----------------------------------------------------------------------------------------------- output: read
def detect_label_attributes(obj: dict[str, Any]) -> list[str]:
    """Label attributes on one line: names ``X`` with an ``X-metadata`` dict beside them (or only the metadata,
    as on failed lines) whose ``type`` is a bounding-box/custom type or missing. Sorted."""
    out = []
    for key, meta in obj.items():
        if not key.endswith(METADATA_SUFFIX) or not isinstance(meta, dict):
            continue
        name = key[: -len(METADATA_SUFFIX)]
        if not name or name in RESERVED_KEYS:
            continue
        typ = meta.get("type")
        if typ is None or (isinstance(typ, str) and typ.lower().startswith(BOUNDING_BOX_TYPES)):
            out.append(name)
    return sorted(out)


def _num(v: object, file: str, line: int, fld: str) -> float:
    if type(v) is int or type(v) is float:
        if type(v) is float and not math.isfinite(v):
            raise ManifestError(f"expected a finite number, got {v!r}", file=file, line=line, field=fld)
        return v
    raise ManifestError(f"expected a number, got {type(v).__name__} {v!r}", file=file, line=line, field=fld)


def _int(v: object, file: str, line: int, fld: str) -> int:
    if type(v) is int:
        return v
    if type(v) is float and v.is_integer():
        return int(v)
    raise ManifestError(f"expected an integer, got {type(v).__name__} {v!r}", file=file, line=line, field=fld)


_NUMBER = frozenset({int, float})
_LO, _HI = -1e300, 1e300  # finite (NaN fails every comparison)


def _bad_box(a: object, file: str, line: int, p: str) -> NoReturn:
    """Raise the precise error for a box that failed the fast path."""
    if not isinstance(a, dict):
        raise ManifestError(f"expected an object, got {type(a).__name__}", file=file, line=line, field=p)
    cid = _int(a.get("class_id"), file, line, p + ".class_id")
    if cid < 0:
        raise ManifestError(f"must be >= 0, got {cid}", file=file, line=line, field=p + ".class_id")
    _num(a.get("left"), file, line, p + ".left")
    _num(a.get("top"), file, line, p + ".top")
    bw = _num(a.get("width"), file, line, p + ".width")
    bh = _num(a.get("height"), file, line, p + ".height")
    if bw < 0 or bh < 0:
        raise ManifestError(f"width and height must be >= 0, got {bw} x {bh}", file=file, line=line, field=p)
    raise ManifestError("is out of range", file=file, line=line, field=p)  # pragma: no cover - values > 1e300


def parse_output_line(obj: object, *, file: str, line: int, label_attribute: str) -> OutputRecord:
    """One decoded output-manifest line -> :class:`OutputRecord` (pure; raises :class:`ManifestError`)."""
    if not isinstance(obj, dict):
        raise ManifestError(f"expected a JSON object, got {type(obj).__name__}", file=file, line=line)
    attr = label_attribute
    mkey = metadata_key(attr)
    source_ref = check_source_ref(obj.get("source-ref"), file=file, line=line) if "source-ref" in obj else None
    if source_ref is None:
        hint = " (this line has 'source': text, not an image)" if "source" in obj else ""
        raise ManifestError(f"missing{hint}", file=file, line=line, field="source-ref")
    meta = obj.get(mkey)
    if meta is None:
        meta = {}
    elif not isinstance(meta, dict):
        raise ManifestError(f"expected an object, got {type(meta).__name__}", file=file, line=line, field=mkey)
    failure = meta.get("failure-reason")
    if failure is not None and not isinstance(failure, str):
        failure = strict_json.dumps(failure).decode()
    extra = {k: v for k, v in obj.items() if k != "source-ref" and k != attr and k != mkey}
    label = obj.get(attr)
    image_size: tuple[int, int, int] | None = None
    boxes: list[OutputBox] = []
    if label is None:
        if failure is None:
            raise ManifestError(f"no label attribute {attr!r} on this line (unlabeled object?)",
                                file=file, line=line, field=attr)
    elif not isinstance(label, dict):
        raise ManifestError(f"expected an object, got {type(label).__name__}", file=file, line=line, field=attr)
    elif not label and str(meta.get("type", "")).lower() == BOUNDING_BOX_TYPES[1]:
        pass  # a custom workflow without a consolidation Lambda writes {}: a line with no label, not an error
    elif failure is None or "image_size" in label:
        sizes = label.get("image_size")
        if sizes is None:
            raise ManifestError("missing", file=file, line=line, field=f"{attr}.image_size")
        if not isinstance(sizes, list) or not sizes or not isinstance(sizes[0], dict):
            raise ManifestError(f"expected a list with one {{width, height, depth}} object, got {sizes!r}"[:300],
                                file=file, line=line, field=f"{attr}.image_size")
        s0 = sizes[0]
        w = _int(s0.get("width"), file, line, f"{attr}.image_size[0].width")
        h = _int(s0.get("height"), file, line, f"{attr}.image_size[0].height")
        d = _int(s0.get("depth", 3), file, line, f"{attr}.image_size[0].depth")
        if w <= 0 or h <= 0:
            raise ManifestError(f"width and height must be > 0, got {w}x{h}", file=file, line=line,
                                field=f"{attr}.image_size[0]")
        image_size = (w, h, d)
        anns = label.get("annotations", [])
        if not isinstance(anns, list):
            raise ManifestError(f"expected a list, got {type(anns).__name__}", file=file, line=line,
                                field=f"{attr}.annotations")
        # built-in jobs keep objects/class-map in -metadata; a custom workflow's consolidation Lambda (ours
        # included) returns them inside the label, because Ground Truth writes the custom job's metadata itself
        objects = meta.get("objects", label.get("objects"))
        confs = objects if isinstance(objects, list) and len(objects) == len(anns) else None
        new_box = tuple.__new__  # OutputBox(...) without the keyword-handling __new__ (hot loop)
        append = boxes.append
        number = _NUMBER
        for i, a in enumerate(anns):
            # fast path: well-formed boxes (what Ground Truth writes); anything else gets the precise error below
            try:
                cid: Any = a["class_id"]
                left: Any = a["left"]
                top: Any = a["top"]
                bw: Any = a["width"]
                bh: Any = a["height"]
            except (KeyError, TypeError, IndexError):  # not an object, or a key missing: the precise error below
                cid = left = top = bw = bh = None
            if (type(cid) is int and type(left) in number and type(top) in number and type(bw) in number
                    and type(bh) in number and cid >= 0 and _LO < left < _HI and _LO < top < _HI
                    and 0 <= bw < _HI and 0 <= bh < _HI and type(a) is dict):
                conf: float | None = None
                if confs is not None:
                    ci = confs[i]
                    c: Any = ci.get("confidence") if type(ci) is dict else None
                    if type(c) in number and _LO < c < _HI:
                        conf = float(c)
                append(new_box(OutputBox, (cid, left, top, bw, bh, conf)))
                continue
            _bad_box(a, file, line, f"{attr}.annotations[{i}]")
    cmap_raw = meta.get(CLASS_MAP)
    if cmap_raw is None and isinstance(label, dict):
        cmap_raw = label.get(CLASS_MAP)
    class_map: dict[int, str] = {}
    if cmap_raw is not None:
        if not isinstance(cmap_raw, dict):
            raise ManifestError(f"expected an object, got {type(cmap_raw).__name__}", file=file, line=line,
                                field=f"{mkey}.class-map")
        for k, v in cmap_raw.items():
            try:
                ik = int(k)
            except ValueError:
                raise ManifestError(f"keys must be class ids, got {k!r}", file=file, line=line,
                                    field=f"{mkey}.class-map") from None
            if not isinstance(v, str):
                raise ManifestError(f"names must be strings, got {v!r}", file=file, line=line,
                                    field=f"{mkey}.class-map.{k}")
            class_map[ik] = v
    ha = meta.get("human-annotated")
    human = True if ha == "yes" or ha is True else False if ha == "no" or ha is False else None
    adj = meta.get("adjustment-status")
    job = meta.get("job-name", meta.get("job_name"))
    created = meta.get("creation-date", meta.get("creation_date"))
    return OutputRecord(
        file=file, line=line, source_ref=source_ref, label_attribute=attr, image_size=image_size, boxes=boxes,
        class_map=class_map, human_annotated=human, failure_reason=failure,
        adjustment_status=adj if isinstance(adj, str) else None,
        job_name=job if isinstance(job, str) else None,
        creation_date=created if isinstance(created, str) else None,
        extra=extra,
    )



def iter_output_lines(
    lines: Iterable[tuple[int, bytes]],
    *,
    file: str,
    label_attribute: str | None = None,
    strict: bool = True,
    on_skip: Callable[[ManifestError], None] | None = None,
) -> Iterator[OutputRecord]:
    """The streaming output-manifest parser over ``(line_number, raw_line)`` pairs of ``file`` (e.g. one block of it,
    from :func:`gtlabel.storage.iter_line_blocks`); :func:`gtlabel.manifests.iter_output_manifest` reads a URI."""
    attr = label_attribute
    loads = orjson.loads
    for lineno, raw in lines:
        try:
            try:
                obj = loads(raw)
            except orjson.JSONDecodeError as exc:
                raise ManifestError(f"malformed JSON: {exc}", file=file, line=lineno) from None
            if attr is None:
                if not isinstance(obj, dict):
                    raise ManifestError(f"expected a JSON object, got {type(obj).__name__}", file=file,
                                        line=lineno)
                found = detect_label_attributes(obj)
                if len(found) > 1:
                    raise ManifestError(
                        f"several label attributes on this line: {', '.join(found)}; choose one with "
                        f"label_attribute= (CLI: --label-attribute)", file=file, line=lineno)
                if not found:
                    raise ManifestError(
                        "no label attribute found (no '<name>' with a '<name>-metadata' object of type "
                        "groundtruth/object-detection); is this an input manifest?", file=file, line=lineno)
                attr = found[0]
            yield parse_output_line(obj, file=file, line=lineno, label_attribute=attr)
        except ManifestError as exc:
            if strict or (attr is None and "several label attributes" in exc.reason):
                raise
            if on_skip is not None:
                on_skip(exc)


# ----------------------------------------------------------------------------------------------- output: write
def bbox_label(width: int, height: int, annotations: Iterable[Mapping[str, Any]], *, depth: int = 3
               ) -> dict[str, Any]:
    """The value of a bounding-box label attribute: ``{"image_size": [{"width", "height", "depth"}],
    "annotations": [{"class_id", "left", "top", "width", "height"}, ...]}`` (3.2)."""
    return {"image_size": [{"width": width, "height": height, "depth": depth}],
            "annotations": [dict(a) for a in annotations]}


def output_metadata(objects: Iterable[Mapping[str, Any]], class_map: Mapping[str, str], *,
                    job_name: str | None = None, created: str | None = None, human_annotated: bool = True,
                    adjustment_status: str | None = None, label_type: str = OBJECT_DETECTION) -> dict[str, Any]:
    """The ``<attr>-metadata`` block of a labeled bounding-box line (3.2), keys in the documented order:
    ``objects`` (one ``{"confidence"}`` per box), ``class-map`` (``{"<id>": "<label>"}`` of the classes present),
    ``type``, ``human-annotated``, then ``creation-date`` and ``job-name`` when given (``job_name`` is written as
    given: pass :func:`labeling_job_name` for the ``labeling-job/<name>`` form), ``adjustment-status`` for
    adjustment jobs."""
    meta: dict[str, Any] = {
        "objects": [dict(o) for o in objects],
        CLASS_MAP: dict(class_map),
        "type": label_type,
        "human-annotated": "yes" if human_annotated else "no",
    }
    if created is not None:
        meta["creation-date"] = created
    if job_name is not None:
        meta["job-name"] = job_name
    if adjustment_status is not None:
        meta["adjustment-status"] = adjustment_status
    return meta


def failed_metadata(reason: str, *, job_name: str, created: str, label_type: str = OBJECT_DETECTION
                    ) -> dict[str, Any]:
    """The ``<attr>-metadata`` block of an object that failed (3.2: ``failure-reason`` and no label)."""
    return {"failure-reason": reason, "type": label_type, "human-annotated": "yes", "creation-date": created,
            "job-name": job_name}


def verification_metadata(fields: Mapping[str, Any], *, job_name: str, created: str) -> dict[str, Any]:
    """The ``<attr>-metadata`` block of a verification job's line (3.2): ``fields`` (``class-name``,
    ``confidence``, ``worker-feedback``...) then ``type``, ``human-annotated``, ``creation-date``, ``job-name``."""
    return {**fields, "type": LABEL_VERIFICATION, "human-annotated": "yes", "creation-date": created,
            "job-name": job_name}


def custom_metadata(*, job_name: str, created: str, human_annotated: bool,
                    worker_response_ref: str | None = None) -> dict[str, Any]:
    """What Ground Truth writes into a custom workflow's ``<attr>-metadata`` (3.2, 4.4): note the underscore keys
    ``job_name`` / ``creation_date``; ``worker-response-ref`` when no consolidation Lambda ran."""
    meta: dict[str, Any] = {"job_name": job_name, "type": CUSTOM, "creation_date": created,
                            "human-annotated": "yes" if human_annotated else "no"}
    if worker_response_ref is not None:
        meta["worker-response-ref"] = worker_response_ref
    return meta


def output_line(line: Mapping[str, Any], label_attribute: str, label: Any, metadata: Mapping[str, Any]
                ) -> dict[str, Any]:
    """An output-manifest line: the input line's keys first and unchanged, then ``<attr>`` (left out when
    ``label`` is ``None``, as on failed lines) and ``<attr>-metadata``. The label replaces what the input line
    held under those two keys (3.2: it "overwrites any existing JSON data"); they always come last."""
    mkey = metadata_key(label_attribute)
    out = {k: v for k, v in line.items() if k != label_attribute and k != mkey}
    if label is not None:
        out[label_attribute] = label
    out[mkey] = dict(metadata)
    return out


def consolidated_content(label: Mapping[str, Any], objects: Sequence[Mapping[str, Any]],
                         class_map: Mapping[str, str]) -> dict[str, Any]:
    """A custom workflow's consolidated label (what our post-annotation Lambda returns under
    ``consolidatedAnnotation.content.<attr>``, 4.4): the label with ``objects`` and ``class-map`` inside it,
    because Ground Truth writes the custom job's metadata itself (:func:`parse_output_line` reads both forms)."""
    value = dict(label)
    value["objects"] = [dict(o) for o in objects]
    value[CLASS_MAP] = dict(class_map)
    return value

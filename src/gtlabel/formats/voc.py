"""Pascal VOC annotation XML (one file per image), pure: bytes -> a checked :class:`VocAnnotation`, and back.

The shape (the VOC2012 devkit's ``Annotations/*.xml``)::

    <annotation><folder/><filename>a.jpg</filename>
      <size><width>W</width><height>H</height><depth>3</depth></size>
      <object><name>car</name><truncated>0</truncated><difficult>0</difficult>
        <bndbox><xmin>1</xmin><ymin>1</ymin><xmax>W</xmax><ymax>H</ymax></bndbox></object>...
    </annotation>

**Coordinates are 1-based pixel indices, both corners inclusive** (the devkit's convention: the top-left pixel
is (1, 1), a box over the whole image is ``1 1 W H``). In the continuous pixel frame of Ground Truth and COCO
(origin 0 at the image's top-left corner) a box ``left, top, width, height`` is therefore ``xmin = left + 1``,
``ymin = top + 1``, ``xmax = left + width``, ``ymax = top + height`` (:func:`to_voc`), and back
``left = xmin - 1``, ``width = xmax - xmin + 1`` (:func:`from_voc`): detectron2's ``pascal_voc.py`` and
py-faster-rcnn read VOC the same way (``xmin - 1``, ``ymin - 1``; the max corners as they are). Values are
written as integers when whole, else with 3 decimals (some tools read them with ``int()``; ours reads both).

Hostile input: the XML is parsed with the standard expat parser, refusing any ``<!DOCTYPE``, so there is no
entity expansion (no "billion laughs") and nothing external is fetched; files over :data:`MAX_VOC_BYTES` are
refused before parsing.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import NoReturn
from xml.parsers import expat

from gtlabel.errors import LabelError
from gtlabel.geometry import pixel

__all__ = ["MAX_VOC_BYTES", "VocAnnotation", "VocObject", "from_voc", "parse_voc", "render_voc", "to_voc"]

#: a VOC file larger than this is refused unread (a real one is a few KB)
MAX_VOC_BYTES = 8 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class VocObject:
    """One ``<object>``: its class name and ``bndbox`` (1-based, inclusive)."""

    name: str
    xmin: float
    ymin: float
    xmax: float
    ymax: float
    difficult: bool = False
    truncated: bool = False


@dataclass(frozen=True, slots=True)
class VocAnnotation:
    """One annotation file: the image's ``filename``, ``size`` (width, height, depth; 0 x 0: not given) and its
    objects."""

    filename: str
    width: int
    height: int
    depth: int
    objects: tuple[VocObject, ...]
    folder: str = ""
    path: str = ""  # ``<path>``: where the image is (LabelImg writes it; our export: the ``source-ref``)


def to_voc(left: float, top: float, width: float, height: float) -> tuple[float, float, float, float]:
    """A box in the continuous pixel frame (origin 0) -> VOC ``(xmin, ymin, xmax, ymax)`` (1-based, inclusive)."""
    return left + 1, top + 1, left + width, top + height


def from_voc(xmin: float, ymin: float, xmax: float, ymax: float) -> tuple[float, float, float, float]:
    """VOC ``(xmin, ymin, xmax, ymax)`` -> ``(left, top, width, height)`` in the continuous pixel frame."""
    return xmin - 1, ymin - 1, xmax - xmin + 1, ymax - ymin + 1


def _refuse_dtd(*_: object) -> NoReturn:
    raise ValueError("a DOCTYPE is not allowed (entity expansion is refused)")


def _parse_xml(data: bytes) -> ET.Element:
    """The element tree of ``data`` from expat directly (ElementTree's C parser hides expat's handlers): a
    DOCTYPE, and so any entity declaration, is refused."""
    tb = ET.TreeBuilder()
    p = expat.ParserCreate()
    p.StartDoctypeDeclHandler = _refuse_dtd
    p.EntityDeclHandler = _refuse_dtd
    p.ExternalEntityRefHandler = _refuse_dtd
    p.StartElementHandler = tb.start
    p.EndElementHandler = tb.end
    p.CharacterDataHandler = tb.data
    p.Parse(data, True)
    return tb.close()


def _text(el: ET.Element, path: str, file: str, fld: str, *, required: bool = True) -> str | None:
    node = el.find(path)
    if node is None or node.text is None or not node.text.strip():
        if required:
            raise LabelError("missing", file=file, field=fld)
        return None
    return node.text.strip()


def _number(el: ET.Element, path: str, file: str, fld: str) -> float:
    raw = _text(el, path, file, fld)
    try:
        v = float(raw or "")
    except ValueError:
        raise LabelError(f"expected a number, got {raw!r}"[:200], file=file, field=fld) from None
    if not math.isfinite(v):
        raise LabelError(f"expected a finite number, got {raw!r}", file=file, field=fld)
    return v


def _whole(el: ET.Element, path: str, file: str, fld: str) -> int:
    v = _number(el, path, file, fld)
    if not v.is_integer() or v <= 0:
        raise LabelError(f"expected a positive integer, got {v:g}", file=file, field=fld)
    return int(v)


def _flag(el: ET.Element, path: str, file: str, fld: str) -> bool:
    raw = _text(el, path, file, fld, required=False)
    if raw is None:
        return False
    if raw not in ("0", "1"):
        raise LabelError(f"expected 0 or 1, got {raw!r}"[:200], file=file, field=fld)
    return raw == "1"


def parse_voc(data: bytes, *, file: str) -> VocAnnotation:
    """A VOC XML file -> :class:`VocAnnotation`, checked: :class:`~gtlabel.errors.LabelError` naming the file and
    field (``object[2].bndbox.xmax``) for malformed XML, a DOCTYPE, a missing or non-numeric value, a box with
    ``xmax < xmin`` or outside the image (``xmin``/``ymin`` below 0 or the max corner beyond the size). A file without
    ``<size>`` (or with 0 x 0) gives width and height 0: the caller reads them from the image."""
    if len(data) > MAX_VOC_BYTES:
        raise LabelError(f"{len(data)} bytes: larger than {MAX_VOC_BYTES} (not a VOC annotation?)", file=file)
    try:
        root = _parse_xml(data)
    except (expat.ExpatError, ValueError) as exc:
        raise LabelError(f"not valid VOC XML ({exc})", file=file) from None
    if root.tag != "annotation":
        raise LabelError(f"expected an <annotation> root element, got <{root.tag}>", file=file)
    filename = _text(root, "filename", file, "filename") or ""
    # no <size> (or 0 x 0, as some tools write when they do not know it): width and height 0, the reader probes
    size = root.find("size")
    unknown = size is None or (_text(root, "size/width", file, "size.width", required=False) in ("0", None)
                               and _text(root, "size/height", file, "size.height", required=False) in ("0", None))
    width = 0 if unknown else _whole(root, "size/width", file, "size.width")
    height = 0 if unknown else _whole(root, "size/height", file, "size.height")
    depth_raw = _text(root, "size/depth", file, "size.depth", required=False)
    depth = _whole(root, "size/depth", file, "size.depth") if depth_raw is not None else 3
    objects = []
    for i, ob in enumerate(root.iterfind("object")):
        p = f"object[{i}]"
        name = _text(ob, "name", file, p + ".name") or ""
        if ob.find("bndbox") is None:
            raise LabelError("missing", file=file, field=p + ".bndbox")
        xmin, ymin, xmax, ymax = (_number(ob, f"bndbox/{k}", file, f"{p}.bndbox.{k}")
                                  for k in ("xmin", "ymin", "xmax", "ymax"))
        if xmax < xmin or ymax < ymin:
            raise LabelError(f"xmax/ymax ({xmax:g}, {ymax:g}) below xmin/ymin ({xmin:g}, {ymin:g})", file=file,
                             field=p + ".bndbox")
        if xmin < 0 or ymin < 0 or (width and (xmax > width or ymax > height)):
            raise LabelError(f"box ({xmin:g}, {ymin:g}, {xmax:g}, {ymax:g}) is outside the image "
                             f"(1..{width}, 1..{height})", file=file, field=p + ".bndbox")
        objects.append(VocObject(name, xmin, ymin, xmax, ymax, _flag(ob, "difficult", file, p + ".difficult"),
                                 _flag(ob, "truncated", file, p + ".truncated")))
    folder = _text(root, "folder", file, "folder", required=False) or ""
    path = _text(root, "path", file, "path", required=False) or ""
    return VocAnnotation(filename, width, height, depth, tuple(objects), folder, path)


def _fmt(v: float) -> str:
    return str(pixel(v))


def render_voc(ann: VocAnnotation) -> bytes:
    """The XML file of an annotation (UTF-8, indented, the same bytes for the same annotation)."""
    root = ET.Element("annotation")
    ET.SubElement(root, "folder").text = ann.folder
    ET.SubElement(root, "filename").text = ann.filename
    if ann.path:
        ET.SubElement(root, "path").text = ann.path
    size = ET.SubElement(root, "size")
    for k, v in (("width", ann.width), ("height", ann.height), ("depth", ann.depth)):
        ET.SubElement(size, k).text = str(v)
    ET.SubElement(root, "segmented").text = "0"
    for ob in ann.objects:
        o = ET.SubElement(root, "object")
        ET.SubElement(o, "name").text = ob.name
        ET.SubElement(o, "pose").text = "Unspecified"
        ET.SubElement(o, "truncated").text = "1" if ob.truncated else "0"
        ET.SubElement(o, "difficult").text = "1" if ob.difficult else "0"
        bb = ET.SubElement(o, "bndbox")
        for k, c in (("xmin", ob.xmin), ("ymin", ob.ymin), ("xmax", ob.xmax), ("ymax", ob.ymax)):
            ET.SubElement(bb, k).text = _fmt(c)
    ET.indent(root)
    data: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return data + b"\n"

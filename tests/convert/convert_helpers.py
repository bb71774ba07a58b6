"""Helpers for the YOLO conversion tests (no tests here): images and Ground Truth output lines."""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import orjson
from PIL import Image

ATTR = "drone-boxes"
GT_ORDER = ["drone", "vehicle", "person", "building"]  # the job's label category config order


def jpeg_bytes(size: tuple[int, int] = (64, 48), *, orientation: int | None = None, color: int = 90,
               fmt: str = "JPEG") -> bytes:
    img = Image.new("RGB", size, (color % 256, 120, 60))
    buf = io.BytesIO()
    if orientation is not None:
        exif = Image.Exif()
        exif[0x0112] = orientation
        img.save(buf, fmt, exif=exif)
    else:
        img.save(buf, fmt)
    return buf.getvalue()


def make_image(path: Path, size: tuple[int, int] = (64, 48), **kw: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(jpeg_bytes(size, **kw))
    return path


def gt_line(source_ref: str, size: tuple[int, int], boxes: Sequence[tuple[str, float, float, float, float]] = (),
            *, attr: str = ATTR, failure: str | None = None, **extra: Any) -> dict[str, Any]:
    """One output-manifest line as Ground Truth writes it: class_id = index in the job's label list, a
    class-map with only the classes present, confidences aligned with the annotations."""
    meta: dict[str, Any] = {"type": "groundtruth/object-detection", "human-annotated": "yes",
                            "creation-date": "2026-11-25T10:00:00.000000", "job-name": "labeling-job/drone-objects"}
    line: dict[str, Any] = {"source-ref": source_ref, **extra}
    if failure is not None:
        meta["failure-reason"] = failure
        line[f"{attr}-metadata"] = meta
        return line
    anns = [{"class_id": GT_ORDER.index(c), "left": l_, "top": t, "width": w, "height": h}
            for c, l_, t, w, h in boxes]
    meta["objects"] = [{"confidence": 0.0} for _ in boxes]
    meta["class-map"] = {str(GT_ORDER.index(c)): c for c, *_ in boxes}
    line[attr] = {"image_size": [{"width": size[0], "height": size[1], "depth": 3}], "annotations": anns}
    line[f"{attr}-metadata"] = meta
    return line


def write_manifest(path: Path | str, lines: Iterable[dict[str, Any] | bytes]) -> str:
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(b"".join((x if isinstance(x, bytes) else orjson.dumps(x)) + b"\n" for x in lines))
    return str(p)


def tree_bytes(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` (relative posix path -> bytes)."""
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def siblings(path: Path) -> list[str]:
    """Names beside ``path`` that belong to it (partial/old leftovers included)."""
    return sorted(p.name for p in path.parent.iterdir() if p.name.lstrip(".").startswith(path.name))

"""Helpers for the import/export tests (no tests here): images and Ground Truth output lines."""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import orjson
from PIL import Image

ATTR = "drone-boxes"
LABELS = ["drone", "vehicle", "person", "building"]  # the job's label category config order


def make_image(path: Path, size: tuple[int, int] = (64, 48), *, orientation: int | None = None) -> Path:
    """A JPEG of ``size`` (stored pixels), with an EXIF orientation when given."""
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    img = Image.new("RGB", size, (90, 120, 60))
    if orientation is not None:
        exif = Image.Exif()
        exif[0x0112] = orientation
        img.save(buf, "JPEG", exif=exif)
    else:
        img.save(buf, "JPEG")
    path.write_bytes(buf.getvalue())
    return path


def gt_line(source_ref: str, size: tuple[int, int], boxes: Sequence[tuple[str, float, float, float, float]] = (),
            *, attr: str = ATTR, confidence: float = 0.9) -> dict[str, Any]:
    """One output-manifest line as Ground Truth writes it (class_id = index in LABELS, class-map of the present)."""
    anns = [{"class_id": LABELS.index(c), "left": x, "top": y, "width": w, "height": h} for c, x, y, w, h in boxes]
    return {"source-ref": source_ref,
            attr: {"image_size": [{"width": size[0], "height": size[1], "depth": 3}], "annotations": anns},
            f"{attr}-metadata": {"objects": [{"confidence": confidence} for _ in boxes],
                                 "class-map": {str(LABELS.index(c)): c for c, *_ in boxes},
                                 "type": "groundtruth/object-detection", "human-annotated": "yes",
                                 "creation-date": "2026-12-06T10:00:00.000000",
                                 "job-name": "labeling-job/drone-objects"}}


def write_manifest(path: Path, lines: Iterable[dict[str, Any] | bytes]) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"".join((x if isinstance(x, bytes) else orjson.dumps(x)) + b"\n" for x in lines))
    return str(path)

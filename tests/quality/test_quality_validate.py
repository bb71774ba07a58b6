"""Dataset validation on crafted bad data: every rule fires where it should and names image and box."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

from gtlabel.manifests import iter_output_manifest
from gtlabel.quality.validate import ValidationConfig, validate_records

NAMES = ["drone", "vehicle", "person", "building"]


def line(ref: str, boxes: list[tuple[int, float, float, float, float]], *, conf: list[float] | None = None,
         size: tuple[int, int] = (640, 480), cmap: dict[str, str] | None = None) -> dict[str, Any]:
    anns = [{"class_id": c, "left": x, "top": y, "width": w, "height": h} for c, x, y, w, h in boxes]
    return {"source-ref": ref,
            "lab": {"image_size": [{"width": size[0], "height": size[1], "depth": 3}], "annotations": anns},
            "lab-metadata": {"objects": [{"confidence": c} for c in (conf or [0.9] * len(boxes))],
                             "class-map": cmap if cmap is not None else {str(c): NAMES[c] if c < 4 else f"x{c}"
                                                                         for c, *_ in boxes},
                             "type": "groundtruth/object-detection", "human-annotated": "yes"}}


def normal_lines(n: int, seed: int = 0) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        boxes = []
        for c in (0, 1, 2):  # typical sizes: drones ~40x40, vehicles ~80x40, persons ~20x50
            bw, bh = {0: (40, 40), 1: (80, 40), 2: (20, 50)}[c]
            boxes.append((c, rng.randint(0, 500), rng.randint(0, 400), bw * rng.uniform(0.85, 1.15),
                          bh * rng.uniform(0.85, 1.15)))
        out.append(line(f"s3://b/ok/{i}.jpg", boxes))
    return out


def write(tmp: Path, lines: list[dict[str, Any]]) -> str:
    p = tmp / "output.manifest"
    p.write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    return str(p)


def codes_for(report: Any, ref: str) -> dict[tuple[str, int | None], str]:
    return {(f.code, f.box): f.severity for f in report.findings if f.source_ref == ref}


def test_crafted_bad_data(tmp_path: Path) -> None:
    bad = [
        line("s3://b/bad/oob.jpg", [(0, 610, 10, 40, 40)]),                       # leaves the image
        line("s3://b/bad/dup.jpg", [(1, 10, 10, 80, 40), (1, 10, 10, 80, 40)]),  # exact duplicate
        line("s3://b/bad/overlap.jpg", [(2, 100, 100, 20, 50), (2, 102, 101, 20, 50)]),
        line("s3://b/bad/tiny.jpg", [(0, 5, 5, 2, 3)]),
        line("s3://b/bad/huge.jpg", [(3, 0, 0, 630, 470)]),
        line("s3://b/bad/undefined.jpg", [(7, 10, 10, 30, 30)]),
        line("s3://b/bad/mismatch.jpg", [(1, 10, 10, 80, 40)], cmap={"1": "person"}),
        line("s3://b/bad/lowconf.jpg", [(0, 10, 10, 40, 40)], conf=[0.21]),
        line("s3://b/bad/oneworker.jpg", [(0, 10, 10, 40, 40)], conf=[0.0]),
        line("s3://b/bad/empty.jpg", []),
        line("s3://b/bad/small.jpg", [], size=(8, 8)),
        line("s3://b/bad/doc.gif", []),
        line("s3://b/bad/aspect.jpg", [(2, 10, 10, 200, 12)]),                    # a "person" 200x12
        line("s3://b/bad/bigvehicle.jpg", [(1, 10, 10, 320, 160)]),               # a vehicle 16x the usual area
        line("s3://b/bad/flat.jpg", [(0, 10, 10, 0, 30)]),                        # zero width
        {"source-ref": "s3://b/bad/failed.jpg", "lab-metadata": {"failure-reason": "ClientError: expired",
                                                                   "type": "groundtruth/object-detection"}},
    ]
    uri = write(tmp_path, normal_lines(30) + bad)
    rep = validate_records(iter_output_manifest(uri, label_attribute="lab"), class_names=NAMES)
    c = lambda ref: codes_for(rep, f"s3://b/bad/{ref}")  # noqa: E731
    assert c("oob.jpg") == {("yolo.out_of_bounds", 0): "warning"}
    assert c("dup.jpg") == {("yolo.duplicate", 1): "warning"}
    assert c("overlap.jpg") == {("box.overlap", 1): "warning"}
    assert ("box.tiny", 0) in c("tiny.jpg")
    assert c("huge.jpg")[("box.huge", 0)] == "warning"
    assert c("undefined.jpg") == {("class.undefined", 0): "error", ("yolo.class_out_of_range", 0): "error"}
    mm = [f for f in rep.findings if f.code == "class.name_mismatch"]
    assert len(mm) == 1 and mm[0].box == 0 and "'person'" in mm[0].message and "class 2" in mm[0].message
    assert c("lowconf.jpg") == {("box.low_confidence", 0): "warning"}
    assert c("oneworker.jpg") == {("image.single_worker", None): "warning"}
    assert c("empty.jpg") == {("image.no_boxes", None): "info"}
    assert c("small.jpg")[("yolo.image_too_small", None)] == "error"
    assert c("doc.gif")[("yolo.image_format", None)] == "error"
    assert c("aspect.jpg")[("box.aspect_outlier", 0)] == "info"
    size = [f for f in rep.findings if f.code == "box.size_outlier" and f.source_ref == "s3://b/bad/bigvehicle.jpg"]
    assert len(size) == 1 and size[0].severity == "info" and "vehicle" in size[0].message
    assert ("box.aspect_outlier", 0) not in c("bigvehicle.jpg")  # same shape as a vehicle, only bigger
    assert c("flat.jpg")[("yolo.zero_area", 0)] == "error"
    assert c("failed.jpg") == {("image.failed", None): "error"}
    # the normal images raise nothing but the odd outlier info
    normal = [f for f in rep.findings if f.source_ref and "/ok/" in f.source_ref]
    assert all(f.severity == "info" for f in normal) and len(normal) <= 3
    # findings name the manifest file and line
    f = next(f for f in rep.findings if f.code == "yolo.duplicate")
    assert f.file == uri and f.line == 32 and "s3://b/bad/dup.jpg box 1" in str(f)
    # dataset level: building has 1 box vs ~30 of the others -> imbalance; no class is unused
    assert [x.class_name for x in rep.findings if x.code == "class.imbalance"] == ["building"]
    assert rep.count(code="class.unused") == 0
    s = rep.summary()
    assert s["images"] == 46 and s["failed_images"] == 1 and s["errors"] == rep.count("error") >= 5
    assert not rep.ok
    assert rep.findings[0].severity == "error"  # sorted by severity
    assert rep.classes[2].boxes == 33 and rep.classes[2].name == "person"
    json.dumps(rep.as_dict())


def test_unused_class_workers_and_no_clip(tmp_path: Path) -> None:
    lines = [line("s3://b/a.jpg", [(0, 600, 10, 80, 40)]), line("s3://b/b.jpg", [(0, 10, 10, 40, 40)])]
    uri = write(tmp_path, lines)
    rep = validate_records(iter_output_manifest(uri), class_names={0: "drone", 1: "vehicle"},
                           workers_per_image={"s3://b/a.jpg": 3, "s3://b/b.jpg": 1},
                           config=ValidationConfig(clip=False))
    assert [(f.code, f.class_name) for f in rep.findings if f.code == "class.unused"] == [("class.unused", "vehicle")]
    assert codes_for(rep, "s3://b/a.jpg") == {("yolo.out_of_bounds", 0): "error"}
    assert codes_for(rep, "s3://b/b.jpg") == {("image.single_worker", None): "warning"}
    assert rep.images[1].workers == 1


def test_without_class_names_conflicting_class_maps(tmp_path: Path) -> None:
    lines = [line("s3://b/a.jpg", [(0, 10, 10, 40, 40)], cmap={"0": "drone"}),
             line("s3://b/b.jpg", [(0, 10, 10, 40, 40)], cmap={"0": "bird"})]
    rep = validate_records(iter_output_manifest(write(tmp_path, lines)))
    f = [x for x in rep.findings if x.code == "class.name_mismatch"]
    assert len(f) == 1 and f[0].source_ref == "s3://b/b.jpg" and "'drone'" in f[0].message
    assert rep.ok is False

"""A tiled dataset from S3 images to an S3 prefix (moto's server): the same tiles and lineage as the same
conversion into a local folder, a rerun is a no-op, a missing image fails with nothing published."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from convert_helpers import gt_line, jpeg_bytes

from gtlabel import TileSpec
from gtlabel.convert import convert_ground_truth_to_yolo
from gtlabel.errors import LabelError

NAMES = ["drone", "vehicle", "person", "building"]
SPEC = TileSpec(64, overlap=0.2, keep_empty=0.5, with_frames=True)


def keys(s3: Any, bucket: str, prefix: str) -> list[str]:
    out: list[str] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        out += [o["Key"] for o in page.get("Contents", [])]
    return sorted(out)


def scene(s3: Any, bucket: str, n: int = 6) -> str:
    """Frames on S3 (one EXIF-rotated) and their output manifest."""
    lines = []
    for i in range(n):
        body = jpeg_bytes((150, 100), color=i * 30, orientation=6 if i == 0 else None)
        size = (100, 150) if i == 0 else (150, 100)  # displayed size (stored 150x100 rotated for i == 0)
        s3.put_object(Bucket=bucket, Key=f"raw/f{i}.jpg", Body=body)
        boxes = [("vehicle", 10 + i, 20, 30, 25), ("person", 55, 45, 12, 12)] if i % 3 else []
        lines.append(gt_line(f"s3://{bucket}/raw/f{i}.jpg", size, boxes))
    s3.put_object(Bucket=bucket, Key="job/output.manifest", Body=b"".join(orjson.dumps(x) + b"\n" for x in lines))
    return f"s3://{bucket}/job/output.manifest"


def test_s3_tiles_match_a_local_output(s3: Any, bucket: str, tmp_path: Path) -> None:
    manifest = scene(s3, bucket)
    rep = convert_ground_truth_to_yolo(manifest, f"s3://{bucket}/ds", NAMES, tile=SPEC, progress=False)
    local = convert_ground_truth_to_yolo(manifest, tmp_path / "ds", NAMES, tile=SPEC, progress=False)
    assert rep.frames_tiled == 6 and rep.frames_whole == 6 and rep.images == local.images
    assert rep.as_dict()["tiles"] == local.as_dict()["tiles"] and rep.version == local.version
    assert rep.exif["rotated"] == 0 and rep.exif["displayed"] == 6  # f0: image_size is its displayed size
    ks = keys(s3, bucket, "ds/")
    files = sorted(p.relative_to(tmp_path / "ds").as_posix() for p in (tmp_path / "ds").rglob("*") if p.is_file())
    assert [k[3:] for k in ks] == files
    for rel in files:
        if rel.startswith(("images/", "labels/")):
            body = s3.get_object(Bucket=bucket, Key=f"ds/{rel}")["Body"].read()
            assert body == (tmp_path / "ds" / rel).read_bytes(), rel  # the same pixels and rows
    lineage = orjson.loads(s3.get_object(Bucket=bucket, Key="ds/lineage.json")["Body"].read())
    assert {e["source_ref"] for e in lineage["images"]} == {f"s3://{bucket}/raw/f{i}.jpg" for i in range(6)}
    assert all(e["frame"] == ([100, 150] if e["source_ref"].endswith("f0.jpg") else [150, 100])
               for e in lineage["images"])
    again = convert_ground_truth_to_yolo(manifest, f"s3://{bucket}/ds", NAMES, tile=SPEC, progress=False)
    assert again.noop and again.version == rep.version


def test_s3_missing_image_publishes_nothing(s3: Any, bucket: str) -> None:
    manifest = scene(s3, bucket, 4)
    s3.delete_object(Bucket=bucket, Key="raw/f2.jpg")
    with pytest.raises(LabelError, match=rf"image not found: s3://{bucket}/raw/f2\.jpg"):
        convert_ground_truth_to_yolo(manifest, f"s3://{bucket}/ds", NAMES, tile=SPEC, progress=False)
    assert keys(s3, bucket, "ds/") == []

"""gtlabel.interchange.export to S3 (moto's server): VOC published through a staging prefix (a failure while
uploading or while copying into place leaves the destination as it was), COCO as one object that appears whole
or not at all."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from interchange_helpers import ATTR, LABELS, gt_line, make_image, write_manifest

from gtlabel import storage
from gtlabel.errors import DatasetExists, InputError, StorageError
from gtlabel.formats.voc import parse_voc
from gtlabel.interchange import export_coco, export_voc
from gtlabel.storage.s3 import S3Backend


def _keys(s3: Any, bucket: str, prefix: str = "") -> list[str]:
    out: list[str] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        out += [o["Key"] for o in page.get("Contents", [])]
    return sorted(out)


def _manifest(tmp: Path, n: int = 6) -> str:
    lines = []
    for i in range(n):
        make_image(tmp / "imgs" / f"f{i}.jpg", (64, 48))
        lines.append(gt_line(f"imgs/f{i}.jpg", (64, 48), [("drone", 1 + i, 2, 10, 20)]))
    return write_manifest(tmp / "out.manifest", lines)


def test_voc_to_s3_is_published_whole_and_overwrite_replaces_the_set(tmp_path: Path, s3: Any, bucket: str) -> None:
    m = _manifest(tmp_path)
    dest = f"s3://{bucket}/exports/voc"
    rep = export_voc(m, dest, class_mapping=LABELS)
    keys = _keys(s3, bucket)
    assert rep.images == 6 and len(keys) == 6 and all(k.startswith("exports/voc/f") for k in keys)  # no staging left
    body = s3.get_object(Bucket=bucket, Key=keys[0])
    assert body["ContentType"] == "application/xml"
    ann = parse_voc(body["Body"].read(), file=keys[0])
    assert (ann.filename, ann.objects[0].xmin) == ("f0.jpg", 2)
    with pytest.raises(DatasetExists, match="not empty"):
        export_voc(m, dest, class_mapping=LABELS)
    # overwrite with a smaller set: the old files the new set does not have go
    small = write_manifest(tmp_path / "small.manifest", [gt_line("imgs/f0.jpg", (64, 48), [("person", 0, 0, 5, 5)])])
    export_voc(small, dest, class_mapping=LABELS, overwrite=True)
    assert _keys(s3, bucket) == keys[:1]
    s3.put_object(Bucket=bucket, Key="exports/voc/notes.txt", Body=b"mine")
    with pytest.raises(DatasetExists, match="more than VOC"):
        export_voc(m, dest, class_mapping=LABELS, overwrite=True)
    assert "exports/voc/notes.txt" in _keys(s3, bucket)


def test_voc_to_s3_failing_midway_leaves_nothing(tmp_path: Path, s3: Any, bucket: str,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    m = _manifest(tmp_path)
    dest = f"s3://{bucket}/voc"
    real_write, real_copy = storage.write_bytes, S3Backend.copy
    calls = {"write": 0, "copy": 0}

    def write_fails_at_4(uri: Any, data: bytes, **kw: Any) -> None:
        calls["write"] += 1
        if calls["write"] == 4:
            raise StorageError("injected upload failure", str(uri))
        real_write(uri, data, **kw)

    monkeypatch.setattr(storage, "write_bytes", write_fails_at_4)
    with pytest.raises(StorageError, match="injected upload"):
        export_voc(m, dest, class_mapping=LABELS)
    assert _keys(s3, bucket) == []  # the staging prefix went too
    monkeypatch.setattr(storage, "write_bytes", real_write)

    def copy_fails_at_4(self: S3Backend, src: str, dst: str, *, atomic: bool) -> None:
        calls["copy"] += 1
        if calls["copy"] == 4:
            raise StorageError("injected copy failure", dst)
        real_copy(self, src, dst, atomic=atomic)

    monkeypatch.setattr(S3Backend, "copy", copy_fails_at_4)
    with pytest.raises(StorageError, match="injected copy"):
        export_voc(m, dest, class_mapping=LABELS)
    assert _keys(s3, bucket) == []  # the copies already made were taken back
    # an overwrite that fails while publishing keeps the old export's files
    monkeypatch.setattr(S3Backend, "copy", real_copy)
    export_voc(m, dest, class_mapping=LABELS)
    old = {k: s3.get_object(Bucket=bucket, Key=k)["Body"].read() for k in _keys(s3, bucket)}
    bad = write_manifest(tmp_path / "bad.manifest", [gt_line("imgs/f0.jpg", (64, 48), [("drone", 1, 2, 10, 20)]),
                                                     b'{"source-ref": "imgs/f1.jpg", "' + ATTR.encode() + b'": 3}'])
    with pytest.raises(InputError):
        export_voc(bad, dest, class_mapping=LABELS, overwrite=True)
    assert {k: s3.get_object(Bucket=bucket, Key=k)["Body"].read() for k in _keys(s3, bucket)} == old


def test_coco_to_s3_appears_whole_or_not_at_all(tmp_path: Path, s3: Any, bucket: str) -> None:
    m = _manifest(tmp_path)
    dest = f"s3://{bucket}/coco/labels.json"
    rep = export_coco(m, dest, class_mapping=LABELS)
    first = s3.get_object(Bucket=bucket, Key="coco/labels.json")["Body"].read()
    assert rep.boxes == 6 and first.count(b'"image_id"') == 6
    good = gt_line("imgs/f0.jpg", (64, 48), [("drone", 1, 2, 10, 20)])
    bad = gt_line("imgs/f1.jpg", (64, 48), [("drone", 1, 2, 10, 20)])
    bad[ATTR]["annotations"][0]["width"] = "wide"
    broken = write_manifest(tmp_path / "bad.manifest", [good] * 3 + [bad])
    with pytest.raises(InputError, match="width"):
        export_coco(broken, dest, class_mapping=LABELS)
    assert s3.get_object(Bucket=bucket, Key="coco/labels.json")["Body"].read() == first  # the old file, whole
    with pytest.raises(InputError, match="width"):
        export_coco(broken, f"s3://{bucket}/coco/new.json", class_mapping=LABELS)
    assert _keys(s3, bucket) == ["coco/labels.json"]

"""gtlabel.convert against a real S3 API (moto's server): S3 in/out, server-side copies, ranged EXIF reads,
versions on S3, and the seed's example 2."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import boto3
import orjson
import pytest
import yaml
from convert_helpers import gt_line, jpeg_bytes, make_image, write_manifest

from gtlabel import storage
from gtlabel.convert import convert_ground_truth_to_yolo, pool
from gtlabel.errors import DatasetExists, StorageError

ROOT = Path(__file__).resolve().parents[2]
CLASSES = {"drone": 0, "vehicle": 1, "person": 2, "building": 3}


def keys(s3: Any, bucket: str, prefix: str) -> list[str]:
    out: list[str] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        out += [o["Key"] for o in page.get("Contents", [])]
    return sorted(out)


def s3_scene(s3: Any, bucket: str, n: int = 12) -> str:
    """Images on S3 (two 'img.jpg' in different prefixes, one EXIF-rotated JPEG) and the output manifest."""
    lines = []
    for i in range(n):
        key = f"raw/site-{i % 2}/img{i // 2}.jpg"
        s3.put_object(Bucket=bucket, Key=key, Body=jpeg_bytes((64, 48), color=i))
        lines.append(gt_line(f"s3://{bucket}/{key}", (64, 48), [("drone", 4, 4, 20, 10)] if i % 3 else []))
    s3.put_object(Bucket=bucket, Key="raw/site-0/img.jpg", Body=jpeg_bytes((64, 48)))
    s3.put_object(Bucket=bucket, Key="raw/site-1/img.jpg", Body=jpeg_bytes((64, 48), color=5))
    lines.append(gt_line(f"s3://{bucket}/raw/site-0/img.jpg", (64, 48), [("vehicle", 1, 1, 5, 5)]))
    lines.append(gt_line(f"s3://{bucket}/raw/site-1/img.jpg", (64, 48), [("person", 1, 1, 5, 5)]))
    # stored 200x100 with orientation 6, GT reported the raw size, box drawn in the displayed frame
    s3.put_object(Bucket=bucket, Key="raw/rot.jpg", Body=jpeg_bytes((200, 100), orientation=6))
    lines.append(gt_line(f"s3://{bucket}/raw/rot.jpg", (200, 100), [("building", 10, 150, 50, 40)]))
    body = b"".join(orjson.dumps(x) + b"\n" for x in lines)
    s3.put_object(Bucket=bucket, Key="job/manifests/output/output.manifest", Body=body)
    return f"s3://{bucket}/job/manifests/output/output.manifest"


def test_s3_to_s3_server_side_copies_and_data_yaml_last(s3: Any, bucket: str) -> None:
    manifest = s3_scene(s3, bucket)
    out = f"s3://{bucket}/datasets/drone-v1"
    rep = convert_ground_truth_to_yolo(manifest, out, CLASSES, progress=False)
    assert rep.images == 15 and rep.images_copied == 15 and rep.exif["rotated"] == 1
    ks = keys(s3, bucket, "datasets/drone-v1/")
    assert {"datasets/drone-v1/data.yaml", "datasets/drone-v1/lineage.json",
            "datasets/drone-v1/conversion-report.json"} <= set(ks)
    imgs = [k for k in ks if "/images/" in k]
    lbls = [k for k in ks if "/labels/" in k]
    assert len(imgs) == len(lbls) == 15
    assert len({k.rsplit("/", 1)[-1] for k in imgs if "/img-" in k}) == 2  # two img.jpg, two names
    doc = yaml.safe_load(s3.get_object(Bucket=bucket, Key="datasets/drone-v1/data.yaml")["Body"].read())
    assert "path" not in doc and doc["train"] == "images/train" and doc["names"][3] == "building"
    lin = orjson.loads(s3.get_object(Bucket=bucket, Key="datasets/drone-v1/lineage.json")["Body"].read())
    assert lin["manifest"]["etag"] == s3.head_object(Bucket=bucket, Key="job/manifests/output/output.manifest")[
        "ETag"].strip('"')
    for e in lin["images"]:
        src_key = e["source_ref"].split("/", 3)[3]
        src = s3.get_object(Bucket=bucket, Key=src_key)
        assert e["source_etag"] == src["ETag"].strip('"')  # from the ranged header GET
        copied = s3.get_object(Bucket=bucket, Key=f"datasets/drone-v1/{e['image']}")["Body"].read()
        assert copied == src["Body"].read()
        if src_key == "raw/rot.jpg":
            label = s3.get_object(Bucket=bucket, Key=f"datasets/drone-v1/{e['label']}")["Body"].read()
            assert label == b"3 0.350000 0.850000 0.500000 0.200000\n"


def test_a_conversion_to_s3_under_encrypt_with_encrypts_every_object(s3: Any, bucket: str, s3_endpoint: str) -> None:
    """The copied images and uploaded labels too (the copies run on the copier's threads; the key of the
    caller's ``storage.encrypt_with`` block reaches them), not only what is written from this thread."""
    key = boto3.client("kms", endpoint_url=s3_endpoint, region_name="us-east-1").create_key()["KeyMetadata"]["Arn"]
    manifest = s3_scene(s3, bucket, n=4)
    out = f"s3://{bucket}/enc"
    with storage.encrypt_with(key):
        rep = convert_ground_truth_to_yolo(manifest, out, CLASSES, progress=False)
    assert rep.images_copied == 7
    ks = keys(s3, bucket, "enc/")
    assert sum("/images/" in k for k in ks) == sum("/labels/" in k for k in ks) == 7
    for k in ks:
        h = s3.head_object(Bucket=bucket, Key=k)
        assert (h.get("ServerSideEncryption"), h.get("SSEKMSKeyId")) == ("aws:kms", key), k
    assert s3.head_object(Bucket=bucket, Key="raw/rot.jpg").get("ServerSideEncryption") != "aws:kms"


def test_s3_versions_noop_exists_overwrite_and_interrupted_runs(s3: Any, bucket: str) -> None:
    manifest = s3_scene(s3, bucket, n=6)
    out = f"s3://{bucket}/ds"
    rep = convert_ground_truth_to_yolo(manifest, out, CLASSES, progress=False)
    yaml_before = s3.get_object(Bucket=bucket, Key="ds/data.yaml")["Body"].read()
    s3.put_object(Bucket=bucket, Key="ds/labels/train.cache", Body=b"stale")
    again = convert_ground_truth_to_yolo(manifest, out, CLASSES, progress=False)
    assert again.noop and again.version == rep.version and again.stale_caches_removed == 1
    with pytest.raises(DatasetExists):
        convert_ground_truth_to_yolo(manifest, out, CLASSES, seed=99, progress=False)
    assert s3.get_object(Bucket=bucket, Key="ds/data.yaml")["Body"].read() == yaml_before
    old_keys = set(keys(s3, bucket, "ds/"))
    rep2 = convert_ground_truth_to_yolo(manifest, out, CLASSES, seed=99, overwrite=True, progress=False)
    new_keys = set(keys(s3, bucket, "ds/"))
    lin = orjson.loads(s3.get_object(Bucket=bucket, Key="ds/lineage.json")["Body"].read())
    assert lin["version"] == rep2.version != rep.version
    expected = {f"ds/{e[k]}" for e in lin["images"] for k in ("image", "label")}
    assert new_keys == expected | {"ds/data.yaml", "ds/lineage.json", "ds/conversion-report.json"}
    assert old_keys != new_keys  # images moved between splits; nothing stale stays behind
    # an interrupted run (lineage.json written, data.yaml not yet) is replaced without overwrite=True
    s3.delete_object(Bucket=bucket, Key="ds/data.yaml")
    rep3 = convert_ground_truth_to_yolo(manifest, out, CLASSES, progress=False)
    assert rep3.version == rep.version and not rep3.noop
    assert s3.get_object(Bucket=bucket, Key="ds/data.yaml")["Body"].read() == yaml_before


def test_missing_s3_image_fails_before_anything_is_published(s3: Any, bucket: str) -> None:
    manifest_lines = [gt_line(f"s3://{bucket}/raw/missing.jpg", (64, 48))]
    s3.put_object(Bucket=bucket, Key="m.manifest", Body=b"".join(orjson.dumps(x) + b"\n" for x in manifest_lines))
    from gtlabel.errors import LabelError

    with pytest.raises(LabelError, match=r"m\.manifest:1, field 'source-ref': image not found"):
        convert_ground_truth_to_yolo(f"s3://{bucket}/m.manifest", f"s3://{bucket}/out", CLASSES, progress=False)
    assert keys(s3, bucket, "out/") == []
    # no header reads (exif="ignore"): the source fingerprint (a HEAD) finds it missing, nothing is published
    with pytest.raises(LabelError, match=r"image not found: s3://.*missing\.jpg"):
        convert_ground_truth_to_yolo(f"s3://{bucket}/m.manifest", f"s3://{bucket}/out", CLASSES, exif="ignore",
                                     progress=False)
    assert keys(s3, bucket, "out/") == []
    # labels only (no image touched at all): the copy fails, so data.yaml is never written
    with pytest.raises(StorageError, match=r"missing\.jpg"):
        convert_ground_truth_to_yolo(f"s3://{bucket}/m.manifest", f"s3://{bucket}/out", CLASSES, exif="ignore",
                                     fingerprint_sources=False, progress=False)
    assert "out/data.yaml" not in keys(s3, bucket, "out/")


def test_s3_in_local_out_and_local_in_s3_out(s3: Any, bucket: str, tmp_path: Path) -> None:
    manifest = s3_scene(s3, bucket, n=4)
    rep = convert_ground_truth_to_yolo(manifest, tmp_path / "local-ds", CLASSES, progress=False)
    assert rep.images == 7 and len(list((tmp_path / "local-ds/images").rglob("*.jpg"))) == 7
    doc = yaml.safe_load((tmp_path / "local-ds/data.yaml").read_text())
    assert doc["path"] == str(tmp_path / "local-ds")
    # local images -> S3 dataset
    make_image(tmp_path / "imgs/a.jpg", (40, 40))
    m = write_manifest(tmp_path / "m.manifest", [gt_line("imgs/a.jpg", (40, 40), [("drone", 1, 1, 9, 9)])])
    convert_ground_truth_to_yolo(m, f"s3://{bucket}/from-local", CLASSES, splits=(1, 0, 0), progress=False)
    ks = keys(s3, bucket, "from-local/")
    img = [k for k in ks if k.startswith("from-local/images/train/a-")]
    assert len(img) == 1
    assert s3.get_object(Bucket=bucket, Key=img[0])["Body"].read() == (tmp_path / "imgs/a.jpg").read_bytes()


def test_seed_example_2_runs_against_the_s3_endpoint(s3: Any, s3_endpoint: str, tmp_path: Path) -> None:
    import botocore.exceptions

    try:
        s3.create_bucket(Bucket="my-bucket")
    except botocore.exceptions.ClientError as exc:  # created by another test in this session
        if "BucketAlready" not in str(exc):
            raise
    prefix = "labels/drone-objects-2026-11-25"
    lines = []
    for i, cls in enumerate(["drone", "vehicle", "person", "building"] * 3):
        key = f"raw/flight-{i % 3}/frame{i:04d}.jpg"
        s3.put_object(Bucket="my-bucket", Key=key, Body=jpeg_bytes((96, 64), color=i))
        lines.append(gt_line(f"s3://my-bucket/{key}", (96, 64), [(cls, 10, 10, 30, 20)]))
    s3.put_object(Bucket="my-bucket", Key=f"{prefix}/manifests/output/output.manifest",
                  Body=b"".join(orjson.dumps(x) + b"\n" for x in lines))
    example = (ROOT / "examples" / "seed_convert.py").read_text()
    assert "from gtlabel.ground_truth_utils import convert_ground_truth_to_yolo" in example
    env = {**os.environ, "AWS_ENDPOINT_URL_S3": s3_endpoint, "GTLABEL_PROGRESS": "0"}
    for variant, code in (("as shipped", example),
                          ("direct", example.replace("gtlabel.ground_truth_utils", "gtlabel.convert"))):
        cwd = tmp_path / variant.replace(" ", "-")
        cwd.mkdir()
        (cwd / "example.py").write_text(code)
        proc = subprocess.run([sys.executable, "example.py"], cwd=cwd, env=env, capture_output=True, text=True,
                              timeout=300)
        assert proc.returncode == 0, proc.stderr[-3000:]
        ds = cwd / "datasets" / "drone-yolo"
        doc = yaml.safe_load((ds / "data.yaml").read_text())
        assert doc["names"] == {0: "drone", 1: "vehicle", 2: "person", 3: "building"}
        assert doc["path"] == str(ds.resolve())
        assert len(list((ds / "labels").rglob("*.txt"))) == 12 == len(list((ds / "images").rglob("*.jpg")))


def test_worker_processes_read_an_s3_manifest_and_s3_images(s3: Any, bucket: str, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """processes=3: the blocks of an S3 manifest go to worker processes, which read the S3 image headers
    (EXIF) themselves, through the same endpoint (the environment); the dataset is the one-process one."""
    monkeypatch.setattr(pool, "BLOCK_BYTES", 1024)
    monkeypatch.setattr(pool, "MAIN_LANE", False)  # every block to the workers
    manifest = s3_scene(s3, bucket, n=40)
    one = convert_ground_truth_to_yolo(manifest, tmp_path / "a", CLASSES, progress=False, processes=1)
    three = convert_ground_truth_to_yolo(manifest, tmp_path / "b", CLASSES, progress=False, processes=3)
    assert three.exif == one.exif and three.exif["rotated"] == 1
    assert three.version == one.version and three.images == one.images == 43
    assert (tmp_path / "a" / "lineage.json").read_bytes() == (tmp_path / "b" / "lineage.json").read_bytes()
    labels = sorted(p.relative_to(tmp_path / "b").as_posix() for p in (tmp_path / "b" / "labels").rglob("*.txt"))
    assert len(labels) == 43

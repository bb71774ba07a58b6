"""Hostile paths: a symlink in a local image folder is not followed out of it; `convert --overwrite` replaces only a
dataset gtlabel wrote (its lineage.json), never the inputs, and on S3 deletes only the keys that lineage lists."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from gtlabel import storage
from gtlabel.convert import convert_ground_truth_to_yolo
from gtlabel.errors import ConfigError, DatasetExists
from gtlabel.manifests import build_input_manifest


def _jpeg() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (32, 32), (10, 20, 30)).save(buf, format="JPEG")
    return buf.getvalue()


def test_symlinks_out_of_an_image_folder_are_not_followed(tmp_path: Path) -> None:
    root, outside = tmp_path / "images", tmp_path / "private"
    (root / "sub").mkdir(parents=True)
    (outside / "deep").mkdir(parents=True)
    (outside / "secret.jpg").write_bytes(_jpeg())
    (outside / "deep" / "d.jpg").write_bytes(_jpeg())
    (root / "sub" / "ok.jpg").write_bytes(_jpeg())
    (root / "inside-link.jpg").symlink_to(root / "sub" / "ok.jpg")
    (root / "link.jpg").symlink_to(outside / "secret.jpg")  # on main: listed, read, put in the manifest
    (root / "dirlink").symlink_to(outside, target_is_directory=True)
    listed = sorted(Path(i.uri).relative_to(root).as_posix() for i in storage.list_objects(str(root)))
    assert listed == ["inside-link.jpg", "sub/ok.jpg"]
    manifest = root / "input.manifest"
    build_input_manifest(str(root), str(manifest))
    text = manifest.read_text()
    assert "secret" not in text and "dirlink" not in text and "sub/ok.jpg" in text


# ------------------------------------------------------------------------------------------- convert --overwrite
def _scene(folder: Path, n: int = 3) -> str:
    """n images and a Ground Truth output manifest beside them (relative source-refs)."""
    folder.mkdir(parents=True, exist_ok=True)
    lines = []
    for i in range(n):
        (folder / f"img{i}.jpg").write_bytes(_jpeg())
        lines.append({"source-ref": f"img{i}.jpg",
                      "boxes": {"image_size": [{"width": 32, "height": 32, "depth": 3}],
                                "annotations": [{"class_id": 0, "left": 1, "top": 1, "width": 4, "height": 4}]},
                      "boxes-metadata": {"class-map": {"0": "drone"}, "objects": [{"confidence": 0.9}],
                                         "type": "groundtruth/object-detection", "human-annotated": "yes",
                                         "creation-date": "2026-11-25T10:00:00.000000",
                                         "job-name": "labeling-job/paths"}})
    manifest = folder / "output.manifest"
    manifest.write_text("".join(json.dumps(x) + "\n" for x in lines))
    return str(manifest)


def test_overwrite_never_deletes_what_is_not_our_dataset(tmp_path: Path) -> None:
    manifest = _scene(tmp_path / "job")
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "thesis.tex").write_text("keep me")
    with pytest.raises(DatasetExists, match="not a gtlabel dataset"):  # on main: the folder was replaced
        convert_ground_truth_to_yolo(manifest, mine, ["drone"], overwrite=True, progress=False)
    assert (mine / "thesis.tex").read_text() == "keep me"
    # a dataset of ours with someone's file inside: still not replaced
    ds = tmp_path / "ds"
    convert_ground_truth_to_yolo(manifest, ds, ["drone"], progress=False)
    (ds / "notes.txt").write_text("mine")
    with pytest.raises(DatasetExists, match=r"notes\.txt"):
        convert_ground_truth_to_yolo(manifest, ds, ["drone"], seed=5, overwrite=True, progress=False)
    assert (ds / "notes.txt").read_text() == "mine"
    (ds / "notes.txt").unlink()
    rep = convert_ground_truth_to_yolo(manifest, ds, ["drone"], seed=5, overwrite=True, progress=False)
    assert rep.version and (ds / "data.yaml").exists()


@pytest.mark.parametrize("where", ["job", "."])
def test_output_that_is_or_contains_the_inputs_is_refused(tmp_path: Path, where: str) -> None:
    manifest = _scene(tmp_path / "job")
    out = tmp_path / where
    with pytest.raises(ConfigError, match="is or contains the manifest's folder"):  # on main: images deleted
        convert_ground_truth_to_yolo(manifest, out, ["drone"], overwrite=True, progress=False)
    assert sorted(p.name for p in (tmp_path / "job").iterdir()) == ["img0.jpg", "img1.jpg", "img2.jpg",
                                                                     "output.manifest"]
    with pytest.raises(ConfigError, match="the image root"):
        convert_ground_truth_to_yolo(manifest, tmp_path / "images-too", ["drone"], progress=False,
                                     image_root=str(tmp_path / "images-too" / "raw"))


def test_overwrite_on_s3_deletes_only_what_the_lineage_lists(s3: Any, bucket: str) -> None:
    for i in range(3):
        s3.put_object(Bucket=bucket, Key=f"raw/img{i}.jpg", Body=_jpeg())
    lines = [json.dumps({"source-ref": f"s3://{bucket}/raw/img{i}.jpg",
                         "boxes": {"image_size": [{"width": 32, "height": 32, "depth": 3}],
                                   "annotations": [{"class_id": 0, "left": 1, "top": 1, "width": 4, "height": 4}]},
                         "boxes-metadata": {"class-map": {"0": "drone"}, "objects": [{"confidence": 0.9}],
                                            "type": "groundtruth/object-detection", "human-annotated": "yes",
                                            "creation-date": "2026-11-25T10:00:00.000000",
                                            "job-name": "labeling-job/paths"}}) for i in range(3)]
    s3.put_object(Bucket=bucket, Key="jobs/out.manifest", Body="\n".join(lines).encode())
    manifest = f"s3://{bucket}/jobs/out.manifest"
    with pytest.raises(ConfigError, match="is or contains"):  # the bucket root holds the manifest: refused
        convert_ground_truth_to_yolo(manifest, f"s3://{bucket}", ["drone"], overwrite=True, progress=False)
    out = f"s3://{bucket}/datasets/v"
    convert_ground_truth_to_yolo(manifest, out, ["drone"], progress=False)
    s3.put_object(Bucket=bucket, Key="datasets/v/other-team/results.csv", Body=b"keep")
    convert_ground_truth_to_yolo(manifest, out, ["drone"], seed=9, overwrite=True, progress=False)
    # on main: every key under the prefix was deleted, the other team's file with them
    assert s3.get_object(Bucket=bucket, Key="datasets/v/other-team/results.csv")["Body"].read() == b"keep"
    assert sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="raw/")["Contents"]) == [
        "raw/img0.jpg", "raw/img1.jpg", "raw/img2.jpg"]
    s3.put_object(Bucket=bucket, Key="foreign/data.yaml", Body=b"names: {}")
    with pytest.raises(DatasetExists):
        convert_ground_truth_to_yolo(manifest, f"s3://{bucket}/foreign", ["drone"], overwrite=True, progress=False)
    assert s3.get_object(Bucket=bucket, Key="foreign/data.yaml")["Body"].read() == b"names: {}"

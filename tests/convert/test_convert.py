"""gtlabel.convert on local files: formats (golden), classes, boxes, splits, names, EXIF, atomicity, versions."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from convert_helpers import ATTR, GT_ORDER, gt_line, make_image, siblings, tree_bytes, write_manifest

from gtlabel.convert import (
    convert_ground_truth_to_yolo,
    dataset_name,
    preflight_dataset,
    resolve_class_names,
    split_for,
)
from gtlabel.errors import ConfigError, DatasetExists, LabelError, ManifestError
from gtlabel.lineage import version_id

GOLDEN = Path(__file__).parent / "golden" / "yolo_basic"
CLASSES = {"drone": 0, "vehicle": 1, "person": 2, "building": 3}


def basic_scene(root: Path) -> str:
    """A small fixed scene touching every rule: clip, zero-area, duplicates, failed, empty, collisions."""
    make_image(root / "imgs/a/img.jpg", (64, 48))
    make_image(root / "imgs/b/img.jpg", (64, 48), color=10)
    make_image(root / "imgs/c/empty.jpg", (32, 32))
    make_image(root / "imgs/c/edge.jpg", (100, 50))
    lines = [
        gt_line("imgs/a/img.jpg", (64, 48), [("drone", 10, 8, 20, 10), ("building", 30, 20, 30, 20)]),
        # same file name in another folder; a duplicate box; a box past the right/bottom edge
        gt_line("imgs/b/img.jpg", (64, 48), [("vehicle", 1, 1, 10, 10), ("vehicle", 1, 1, 10, 10),
                                             ("person", 50, 40, 30, 30)]),
        gt_line("imgs/c/empty.jpg", (32, 32), []),
        # negative origin (clipped), a box fully outside (zero area after clip), a zero-width box
        gt_line("imgs/c/edge.jpg", (100, 50), [("drone", -10, -5, 30, 20), ("person", 120, 10, 5, 5),
                                               ("vehicle", 10, 10, 0, 5)]),
        gt_line("imgs/c/failed.jpg", (1, 1), failure="ClientError: worker task expired"),
    ]
    return write_manifest(root / "out" / "output.manifest", lines)


def _normalized(tree: dict[str, bytes], root: Path) -> dict[str, bytes]:
    """Label files, data.yaml and the report; the root folder and the version id (it covers the source images'
    MD5s, which depend on the JPEG encoder) are replaced by placeholders."""
    import re

    out = {}
    for k, v in tree.items():
        if k.startswith("images/") or k == "lineage.json":
            continue
        out[k] = re.sub(rb"v-[0-9a-f]{16}", b"<VERSION>", v.replace(str(root).encode(), b"<ROOT>"))
    return out


def test_golden_dataset_format(tmp_path: Path) -> None:
    manifest = basic_scene(tmp_path)
    # the manifest's folder is the base of relative source-refs; point it at the scene root
    rep = convert_ground_truth_to_yolo(manifest, tmp_path / "ds", CLASSES, image_root=str(tmp_path),
                                       splits=(1, 0, 0), progress=False)
    got = _normalized(tree_bytes(tmp_path / "ds"), tmp_path)
    if os.environ.get("GTLABEL_UPDATE_GOLDEN"):
        for k, v in got.items():
            (GOLDEN / k).parent.mkdir(parents=True, exist_ok=True)
            (GOLDEN / k).write_bytes(v)
    want = {p.relative_to(GOLDEN).as_posix(): p.read_bytes() for p in sorted(GOLDEN.rglob("*")) if p.is_file()}
    assert got == want
    # and the numbers behind it
    assert rep.images == 4 and rep.empty_images == 1
    assert rep.boxes_in == 8 and rep.boxes_written == 5
    assert (rep.boxes_clipped, rep.boxes_zero_area, rep.boxes_duplicate) == (2, 2, 1)
    assert rep.skipped == {"failed (failure-reason)": 1}
    assert rep.class_counts == {"drone": 2, "vehicle": 1, "person": 1, "building": 1}


def test_data_yaml_is_what_ultralytics_needs(tmp_path: Path) -> None:
    manifest = basic_scene(tmp_path)
    rep = convert_ground_truth_to_yolo(manifest, tmp_path / "ds", CLASSES, image_root=str(tmp_path), progress=False)
    doc = yaml.safe_load((tmp_path / "ds" / "data.yaml").read_text())
    assert doc["path"] == str((tmp_path / "ds").resolve()) and Path(doc["path"]).is_absolute()
    assert doc["train"] == "images/train" and doc["val"] == "images/val"
    assert doc["names"] == {0: "drone", 1: "vehicle", 2: "person", 3: "building"}
    assert ("test" in doc) == (rep.splits["test"] > 0)
    for split, n in rep.splits.items():
        imgs = sorted(p.stem for p in (tmp_path / "ds" / "images" / split).glob("*")) if n else []
        lbls = sorted(p.stem for p in (tmp_path / "ds" / "labels" / split).glob("*.txt")) if n else []
        assert imgs == lbls and len(imgs) == n  # every image has a label file, same stem, sibling folders
    assert preflight_dataset(tmp_path / "ds", 4) == []


def test_class_mapping_forms_agree_and_never_come_from_class_map() -> None:
    names = ["drone", "vehicle", "person", "building"]
    assert resolve_class_names(CLASSES) == names
    assert resolve_class_names({0: "drone", 1: "vehicle", 2: "person", 3: "building"}) == names
    assert resolve_class_names({"0": "drone", "1": "vehicle", "2": "person", "3": "building"}) == names
    assert resolve_class_names(names) == names
    cfg = {"document-version": "2018-11-28", "labels": [{"label": n} for n in names]}
    assert resolve_class_names(None, cfg) == names
    with pytest.raises(ConfigError, match=r"exactly 0\.\.1"):
        resolve_class_names({"drone": 0, "vehicle": 2})
    with pytest.raises(ConfigError, match="repeated: drone"):
        resolve_class_names(["drone", "drone"])
    with pytest.raises(ConfigError, match="class_mapping"):
        resolve_class_names(None, None)


def test_global_ids_come_from_the_mapping_via_each_lines_class_map(tmp_path: Path) -> None:
    make_image(tmp_path / "a.jpg", (100, 100))
    make_image(tmp_path / "b.jpg", (100, 100))
    # line a only has "building" (GT class_id 3); line b only has "drone" (class_id 0)
    m = write_manifest(tmp_path / "m.manifest", [gt_line("a.jpg", (100, 100), [("building", 0, 0, 50, 50)]),
                                                 gt_line("b.jpg", (100, 100), [("drone", 0, 0, 50, 50)])])
    # the user's YOLO order differs from the job's order
    convert_ground_truth_to_yolo(m, tmp_path / "ds", ["building", "drone"], splits=(1, 0, 0), progress=False)
    lab = {p.name.split("-")[0]: p.read_text() for p in (tmp_path / "ds/labels/train").glob("*.txt")}
    assert lab["a"].startswith("0 ") and lab["b"].startswith("1 ")


def test_label_config_maps_ids_missing_from_the_class_map(tmp_path: Path) -> None:
    make_image(tmp_path / "a.jpg", (100, 100))
    line = gt_line("a.jpg", (100, 100), [("person", 0, 0, 50, 50)])
    line[f"{ATTR}-metadata"]["class-map"] = {}
    m = write_manifest(tmp_path / "m.manifest", [line])
    with pytest.raises(LabelError, match=r"m\.manifest:1, field 'drone-boxes\.annotations\[0\]\.class_id'"):
        convert_ground_truth_to_yolo(m, tmp_path / "ds", CLASSES, progress=False)
    cfg = tmp_path / "labels.json"
    cfg.write_bytes(orjson.dumps({"document-version": "2018-11-28", "labels": [{"label": n} for n in GT_ORDER]}))
    rep = convert_ground_truth_to_yolo(m, tmp_path / "ds", label_category_config=str(cfg), splits=(1, 0, 0),
                                       progress=False)
    assert rep.names == GT_ORDER and rep.class_counts["person"] == 1


def test_unknown_class_fails_naming_the_line_and_writes_nothing(tmp_path: Path) -> None:
    make_image(tmp_path / "a.jpg", (100, 100))
    make_image(tmp_path / "b.jpg", (100, 100))
    m = write_manifest(tmp_path / "m.manifest", [gt_line("a.jpg", (100, 100), [("drone", 0, 0, 5, 5)]),
                                                 gt_line("b.jpg", (100, 100), [("person", 0, 0, 5, 5)])])
    out = tmp_path / "ds"
    with pytest.raises(LabelError) as ei:
        convert_ground_truth_to_yolo(m, out, ["drone", "vehicle"], progress=False)
    assert f"{m}:2" in str(ei.value) and "'person'" in str(ei.value) and "drop_unknown_classes" in str(ei.value)
    assert not out.exists() and siblings(out) == []  # nothing half-written, no partial folder left
    rep = convert_ground_truth_to_yolo(m, out, ["drone", "vehicle"], drop_unknown_classes=True, progress=False)
    assert rep.boxes_unknown_class == 1 and rep.boxes_written == 1 and rep.empty_images == 1


def test_failure_midway_leaves_nothing_that_looks_complete(tmp_path: Path) -> None:
    lines: list[Any] = []
    for i in range(30):
        make_image(tmp_path / f"i{i}.jpg", (40, 40))
        lines.append(gt_line(f"i{i}.jpg", (40, 40), [("drone", 1, 1, 5, 5)]))
    lines.append(b'{"source-ref": "i0.jpg", "drone-boxes": ')  # truncated last line
    m = write_manifest(tmp_path / "m.manifest", lines)
    with pytest.raises(ManifestError, match=r"m\.manifest:31: malformed JSON"):
        convert_ground_truth_to_yolo(m, tmp_path / "ds", CLASSES, progress=False)
    assert not (tmp_path / "ds").exists() and siblings(tmp_path / "ds") == []
    # lenient mode: counted skip, dataset written
    rep = convert_ground_truth_to_yolo(m, tmp_path / "ds", CLASSES, strict=False, progress=False)
    assert rep.images == 30 and rep.skipped == {"invalid line (json)": 1}
    assert any("m.manifest:31" in e for e in rep.examples)


def test_empty_manifest_is_an_error(tmp_path: Path) -> None:
    m = write_manifest(tmp_path / "m.manifest", [])
    with pytest.raises(ManifestError, match="no records"):
        convert_ground_truth_to_yolo(m, tmp_path / "ds", CLASSES, progress=False)
    assert not (tmp_path / "ds").exists()


def test_bad_source_refs_and_missing_images(tmp_path: Path) -> None:
    make_image(tmp_path / "ok.jpg", (40, 40))
    lines = [gt_line("ok.jpg", (40, 40)), gt_line("../escape.jpg", (40, 40)), gt_line("/etc/x.jpg", (40, 40)),
             gt_line("missing.jpg", (40, 40)), gt_line("tiny.jpg", (8, 40)), gt_line("anim.gif", (40, 40))]
    make_image(tmp_path / "tiny.jpg", (8, 40))
    m = write_manifest(tmp_path / "m.manifest", lines)
    with pytest.raises(ManifestError, match=r"m\.manifest:2, field 'source-ref': '\.\.' segments"):
        convert_ground_truth_to_yolo(m, tmp_path / "ds", CLASSES, progress=False)
    rep = convert_ground_truth_to_yolo(m, tmp_path / "ds", CLASSES, strict=False, splits=(1, 0, 0),
                                       progress=False)
    assert rep.images == 1
    assert rep.skipped == {"invalid line (source-ref)": 2, "image not found": 1,
                           "image smaller than 10 px (Ultralytics drops it)": 1,
                           "image suffix not readable by Ultralytics": 1}
    m2 = write_manifest(tmp_path / "m2.manifest", [gt_line("ok.jpg", (40, 40)), gt_line("missing.jpg", (40, 40))])
    with pytest.raises(LabelError, match=r"m2\.manifest:2, field 'source-ref': image not found"):
        convert_ground_truth_to_yolo(m2, tmp_path / "ds2", CLASSES, progress=False)


def test_collision_free_names() -> None:
    a = dataset_name("s3://bkt/site-a/img.jpg")
    b = dataset_name("s3://bkt/site-b/img.jpg")
    assert a != b and a[0].startswith("img-") and a[0].endswith(".jpg") and a[1].endswith(".txt")
    assert a[0][:-4] == a[1][:-4]
    assert dataset_name("s3://b/we ird näme.v2.JPG")[0].endswith(".JPG")
    assert dataset_name("s3://b/we ird näme.v2.JPG") == dataset_name("s3://b/we ird näme.v2.JPG")


def test_splits_are_deterministic_stable_and_rerun_gives_the_same_bytes(tmp_path: Path) -> None:
    lines = []
    for i in range(200):
        make_image(tmp_path / "imgs" / f"{i:03d}.jpg", (32, 32), color=i)
        lines.append(gt_line(f"imgs/{i:03d}.jpg", (32, 32), [("drone", 1, 1, 8, 8)] if i % 3 else []))
    m = write_manifest(tmp_path / "m.manifest", lines)
    out = tmp_path / "ds"
    rep = convert_ground_truth_to_yolo(m, out, CLASSES, seed=7, progress=False)
    first = tree_bytes(out)
    assert 140 <= rep.splits["train"] <= 180 and rep.splits["val"] > 5 and rep.splits["test"] > 5
    lineage = orjson.loads(first["lineage.json"])
    for e in lineage["images"]:
        assert e["split"] == split_for(e["source_ref"], (0.8, 0.1, 0.1), 7)
        assert e["image"].startswith(f"images/{e['split']}/")
    # rerun from scratch: the same bytes, file for file
    import shutil

    shutil.rmtree(out)
    rep2 = convert_ground_truth_to_yolo(m, out, CLASSES, seed=7, progress=False)
    assert tree_bytes(out) == first and rep2.version == rep.version
    # adding images moves none of the old ones
    more = [*lines, gt_line("imgs/new.jpg", (32, 32))]
    make_image(tmp_path / "imgs" / "new.jpg", (32, 32))
    m2 = write_manifest(tmp_path / "m2.manifest", more)
    convert_ground_truth_to_yolo(m2, tmp_path / "ds2", CLASSES, seed=7, progress=False)
    lin2 = {e["source_ref"]: e["split"] for e in orjson.loads((tmp_path / "ds2/lineage.json").read_bytes())["images"]}
    assert all(lin2[e["source_ref"]] == e["split"] for e in lineage["images"])


def test_stratified_splits_keep_rare_classes_in_every_split(tmp_path: Path) -> None:
    lines = []
    for i in range(100):
        make_image(tmp_path / f"{i}.jpg", (32, 32))
        cls = "person" if i < 20 else "drone"  # person is rare
        lines.append(gt_line(f"{i}.jpg", (32, 32), [(cls, 1, 1, 8, 8)]))
    m = write_manifest(tmp_path / "m.manifest", lines)
    rep = convert_ground_truth_to_yolo(m, tmp_path / "ds", CLASSES, stratify=True, copy_images=False,
                                       exif="ignore", progress=False)
    assert rep.splits == {"train": 80, "val": 10, "test": 10}
    per_split: dict[str, list[str]] = {"train": [], "val": [], "test": []}
    for e in orjson.loads((tmp_path / "ds/lineage.json").read_bytes())["images"]:
        per_split[e["split"]].append(e["source_ref"])
    persons = {s: sum(int(r.split(".")[0]) < 20 for r in refs) for s, refs in per_split.items()}
    assert persons == {"train": 16, "val": 2, "test": 2}
    rep2 = convert_ground_truth_to_yolo(m, tmp_path / "ds", CLASSES, stratify=True, copy_images=False,
                                        exif="ignore", progress=False)
    assert rep2.noop and rep2.version == rep.version


def test_tiny_sets_still_get_a_val_image(tmp_path: Path) -> None:
    for i in range(3):
        make_image(tmp_path / f"{i}.jpg", (32, 32))
    m = write_manifest(tmp_path / "m.manifest", [gt_line(f"{i}.jpg", (32, 32)) for i in range(3)])
    rep = convert_ground_truth_to_yolo(m, tmp_path / "ds", CLASSES, splits=(0.9, 0.1, 0), progress=False)
    assert rep.splits == {"train": 2, "val": 1, "test": 0}
    assert any("moved" in w for w in rep.warnings)  # none hashed into val: the highest-hash train image moved
    doc = yaml.safe_load((tmp_path / "ds/data.yaml").read_text())
    assert doc["val"] == "images/val" and "test" not in doc
    assert len(list((tmp_path / "ds/images/val").iterdir())) == rep.splits["val"]
    assert len(list((tmp_path / "ds/labels/val").iterdir())) == rep.splits["val"]


def test_exif_rotated_jpeg_is_normalized_by_the_displayed_size(tmp_path: Path) -> None:
    # stored 200x100 pixels with orientation 6: the browser (and the worker) see it 100 wide, 200 tall
    make_image(tmp_path / "rot.jpg", (200, 100), orientation=6)
    make_image(tmp_path / "rot_reported_displayed.jpg", (200, 100), orientation=6)
    box = ("drone", 10, 150, 50, 40)  # drawn in the displayed frame (x < 100, y < 200)
    m = write_manifest(tmp_path / "m.manifest", [
        gt_line("rot.jpg", (200, 100), [box]),  # image_size = raw stored size
        gt_line("rot_reported_displayed.jpg", (100, 200), [box]),  # image_size = displayed size
    ])
    rep = convert_ground_truth_to_yolo(m, tmp_path / "ds", CLASSES, splits=(1, 0, 0), progress=False)
    assert rep.exif == {"rotated": 1, "displayed": 1}
    rows = {p.name.split("-")[0]: p.read_text() for p in (tmp_path / "ds/labels/train").glob("*.txt")}
    expect = "0 0.350000 0.850000 0.500000 0.200000\n"  # (10+25)/100, (150+20)/200, 50/100, 40/200
    assert rows["rot"] == expect and rows["rot_reported_displayed"] == expect
    # exif="ignore" trusts image_size: the raw size gives the wrong (unrotated) frame
    rep2 = convert_ground_truth_to_yolo(m, tmp_path / "ds_ignore", CLASSES, splits=(1, 0, 0), exif="ignore",
                                        progress=False)
    assert rep2.exif == {}
    rows2 = {p.name.split("-")[0]: p.read_text() for p in (tmp_path / "ds_ignore/labels/train").glob("*.txt")}
    assert rows2["rot"] != expect


def test_existing_dataset_is_protected_same_content_is_a_noop(tmp_path: Path) -> None:
    manifest = basic_scene(tmp_path)
    out = tmp_path / "ds"
    rep = convert_ground_truth_to_yolo(manifest, out, CLASSES, image_root=str(tmp_path), progress=False)
    before = tree_bytes(out)
    (out / "labels" / "train.cache").write_bytes(b"stale")
    again = convert_ground_truth_to_yolo(manifest, out, CLASSES, image_root=str(tmp_path), progress=False)
    assert again.noop and again.version == rep.version and again.stale_caches_removed == 1
    assert tree_bytes(out) == before
    with pytest.raises(DatasetExists, match="overwrite=True"):
        convert_ground_truth_to_yolo(manifest, out, CLASSES, image_root=str(tmp_path), seed=1, progress=False)
    assert tree_bytes(out) == before  # untouched
    rep3 = convert_ground_truth_to_yolo(manifest, out, CLASSES, image_root=str(tmp_path), seed=1, overwrite=True,
                                        progress=False)
    assert rep3.version != rep.version
    assert orjson.loads((out / "lineage.json").read_bytes())["version"] == rep3.version
    assert siblings(out) == ["ds"]
    # a foreign non-empty folder is never replaced silently
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    with pytest.raises(DatasetExists, match="not a gtlabel dataset"):
        convert_ground_truth_to_yolo(manifest, foreign, CLASSES, image_root=str(tmp_path), progress=False)
    assert (foreign / "notes.txt").read_text() == "keep me"


def test_lineage_record(tmp_path: Path) -> None:
    manifest = basic_scene(tmp_path)
    rep = convert_ground_truth_to_yolo(manifest, tmp_path / "ds", CLASSES, image_root=str(tmp_path),
                                       progress=False)
    lin = orjson.loads((tmp_path / "ds/lineage.json").read_bytes())
    assert lin["version"] == rep.version and rep.version.startswith("v-")
    assert lin["manifest"]["uri"] == manifest and len(lin["manifest"]["etag"]) == 32
    assert lin["jobs"] == ["labeling-job/drone-objects"] and lin["label_attribute"] == ATTR
    assert lin["settings"]["splits"] == {"train": 0.8, "val": 0.1, "test": 0.1}
    assert lin["package_version"] and lin["names"] == {"0": "drone", "1": "vehicle", "2": "person", "3": "building"}
    import hashlib

    from gtlabel.storage import md5_file

    assert len(lin["images"]) == 4
    for e in lin["images"]:
        label = (tmp_path / "ds" / e["label"]).read_bytes()
        assert hashlib.sha256(label).hexdigest() == e["label_sha256"]
        assert (tmp_path / "ds" / e["image"]).is_file()
        assert e["source_etag"] == md5_file(tmp_path / e["source_ref"])
        assert set(e) == {"image", "label", "source_ref", "source_etag", "source_version_id", "split", "label_sha256"}
    # the version is gtlabel.lineage.version_id of a content payload: names and settings change it
    assert version_id({"x": 1}) != rep.version


def test_config_errors(tmp_path: Path) -> None:
    m = write_manifest(tmp_path / "m.manifest", [gt_line("a.jpg", (10, 10))])
    with pytest.raises(ConfigError, match="splits"):
        convert_ground_truth_to_yolo(m, tmp_path / "ds", CLASSES, splits=(0.5, 0.5, 0.5, 0.5), progress=False)
    with pytest.raises(ConfigError, match="train ratio"):
        convert_ground_truth_to_yolo(m, tmp_path / "ds", CLASSES, splits={"val": 1.0}, progress=False)
    with pytest.raises(ConfigError, match="exif"):
        convert_ground_truth_to_yolo(m, tmp_path / "ds", CLASSES, exif="bake", progress=False)  # type: ignore[arg-type]


def test_labels_only_without_reading_images(tmp_path: Path) -> None:
    # exif="ignore" + copy_images=False + fingerprint_sources=False: no image is touched (these do not exist)
    m = write_manifest(tmp_path / "m.manifest", [gt_line(f"s3x/{i}.jpg", (640, 480), [("drone", 1, 1, 8, 8)])
                                                 for i in range(20)])
    rep = convert_ground_truth_to_yolo(m, tmp_path / "ds", CLASSES, exif="ignore", copy_images=False,
                                       fingerprint_sources=False, progress=True)
    assert rep.images == 20 and rep.images_copied == 0 and not (tmp_path / "ds/images").exists()
    # fingerprinting (the default) needs the sources: a missing one is named, nothing is written
    with pytest.raises(LabelError, match=r"m\.manifest:1, field 'source-ref': image not found"):
        convert_ground_truth_to_yolo(m, tmp_path / "ds2", CLASSES, exif="ignore", copy_images=False, progress=False)
    assert not (tmp_path / "ds2").exists()


def test_exif_ignore_still_fingerprints_the_sources(tmp_path: Path) -> None:
    """exif="ignore" reads no header but records each source's MD5: the version id sees a changed image and
    lineage verify can check the sources."""
    from gtlabel import lineage

    for i in range(4):
        make_image(tmp_path / f"img{i}.jpg", (64, 48), color=10 * i + 5)
    m = write_manifest(tmp_path / "m.manifest", [gt_line(f"img{i}.jpg", (64, 48), [("drone", 1, 1, 8, 8)])
                                                 for i in range(4)])
    a = convert_ground_truth_to_yolo(m, tmp_path / "a", CLASSES, exif="ignore", progress=False)
    lin = lineage.load(tmp_path / "a")
    assert all(r.source_etag for r in lin.images)
    assert lineage.verify(tmp_path / "a").ok
    make_image(tmp_path / "img2.jpg", (64, 48), color=250)  # the source changes
    b = convert_ground_truth_to_yolo(m, tmp_path / "b", CLASSES, exif="ignore", progress=False)
    assert b.version != a.version
    labels_only = convert_ground_truth_to_yolo(m, tmp_path / "c", CLASSES, exif="ignore",
                                               fingerprint_sources=False, progress=False)
    assert labels_only.version not in (a.version, b.version)
    problems = lineage.verify(tmp_path / "c").problems
    unverifiable = [p for p in problems if p.kind == "unverifiable"]
    assert len(unverifiable) == 4 and all("no source fingerprint was recorded" in p.detail for p in unverifiable)


def test_unreadable_images_auto_labels_and_adjustment_status_are_counted(tmp_path: Path) -> None:
    make_image(tmp_path / "ok.jpg", (40, 40))
    make_image(tmp_path / "auto.jpg", (40, 40))
    (tmp_path / "broken.jpg").write_bytes(b"not an image at all")
    auto = gt_line("auto.jpg", (40, 40), [("drone", 1, 1, 5, 5)])
    auto[f"{ATTR}-metadata"]["human-annotated"] = "no"
    ok = gt_line("ok.jpg", (40, 40), [("drone", 1, 1, 5, 5)])
    ok[f"{ATTR}-metadata"]["adjustment-status"] = "unadjusted"
    m = write_manifest(tmp_path / "m.manifest", [ok, auto, gt_line("broken.jpg", (40, 40))])
    with pytest.raises(LabelError, match=r"m\.manifest:3, field 'source-ref': not a readable image \("):
        convert_ground_truth_to_yolo(m, tmp_path / "ds", CLASSES, progress=False)
    rep = convert_ground_truth_to_yolo(m, tmp_path / "ds", CLASSES, strict=False, progress=False)
    assert rep.skipped == {"not a readable image": 1}
    assert rep.labeled_by == {"human": 1, "auto": 1} and rep.adjustment == {"unadjusted": 1}


def test_a_repeated_source_ref_is_skipped_and_not_counted_in_the_classes(tmp_path: Path) -> None:
    make_image(tmp_path / "a.jpg", (64, 48))
    line = gt_line("a.jpg", (64, 48), [("drone", 1, 1, 8, 8), ("person", 20, 20, 8, 8)])
    m = write_manifest(tmp_path / "m.manifest", [line, line])
    rep = convert_ground_truth_to_yolo(m, tmp_path / "ds", CLASSES, progress=False)
    assert rep.images == 1 and rep.boxes_written == 2 and rep.skipped["duplicate source-ref"] == 1
    assert rep.class_counts["drone"] == 1 and rep.class_counts["person"] == 1
    assert sum(rep.class_counts.values()) == rep.boxes_written

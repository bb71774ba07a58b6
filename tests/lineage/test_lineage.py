"""gtlabel.lineage on datasets built here by a small builder that follows the lineage.json contract
(docs/ARCHITECTURE.md "yolo + lineage"); the same tests run on local disk and on S3 (moto)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import orjson
import pytest
from typer.testing import CliRunner

from gtlabel import lineage, storage
from gtlabel.cli import app
from gtlabel.errors import LineageError

SETTINGS = {"splits": {"train": 0.8, "val": 0.1, "test": 0.1}, "stratify": False, "seed": 0,
            "drop_unknown_classes": False, "copy_images": True, "exif": "normalize", "label_attribute": None,
            "strict": True, "precision": 6}


@dataclass
class Img:
    name: str
    data: bytes
    label: str
    split: str = "train"


def build_dataset(root: str, src_root: str, images: list[Img], *, names: list[str] | None = None,
                  settings: dict[str, Any] | None = None, quality: dict[str, Any] | None = None,
                  jobs: list[str] | None = None) -> str:
    """Write source images under ``src_root`` and a dataset under ``root`` the way gtlabel.convert does:
    images/, labels/, lineage.json (version from the same payload), then data.yaml. Returns the version."""
    names = names or ["car", "person"]
    settings = settings or SETTINGS
    entries: list[dict[str, Any]] = []
    for im in images:
        src = storage.join(src_root, im.name)
        storage.write_bytes(src, im.data)
        info = storage.head(src, hash_local=True)
        stem = im.name.rsplit(".", 1)[0]
        label = im.label.encode()
        e: dict[str, Any] = {"image": f"images/{im.split}/{im.name}", "label": f"labels/{im.split}/{stem}.txt",
             "source_ref": src, "source_etag": info.etag, "source_version_id": info.version_id,
             "split": im.split, "label_sha256": hashlib.sha256(label).hexdigest()}
        storage.write_bytes(storage.join(root, *e["label"].split("/")), label)
        storage.copy(src, storage.join(root, *e["image"].split("/")))
        entries.append(e)
    total = sum(int.from_bytes(hashlib.sha256(orjson.dumps(e)).digest(), "big") for e in entries) % (1 << 256)
    version = lineage.version_id({"format": "gtlabel-yolo/1", "names": names, "settings": settings,
                                  "entries": f"{total:064x}", "count": len(entries), "moved_to_val": []})
    manifest = storage.join(src_root, "output.manifest")
    storage.write_bytes(manifest, b"\n".join(json.dumps({"source-ref": e["source_ref"]}).encode() for e in entries))
    head: dict[str, Any] = {
        "version": version, "format": "gtlabel-yolo/1", "package_version": "0.1.0",
        "manifest": {"uri": manifest, "etag": storage.head(manifest, hash_local=True).etag},
        "jobs": jobs if jobs is not None else ["labeling-job/drone-2026-11-25"], "label_attribute": "boxes",
        "settings": settings, "names": {str(i): n for i, n in enumerate(names)},
        "splits": {s: sum(e["split"] == s for e in entries) for s in ("train", "val", "test")},
    }
    if quality is not None:
        head["quality"] = quality
    storage.write_bytes(storage.join(root, "lineage.json"),
                        orjson.dumps({**head, "images": entries}, option=orjson.OPT_INDENT_2))
    yaml_text = f"# gtlabel YOLO11 detect dataset {version} (lineage.json beside this file)\n" \
                "train: images/train\nval: images/val\nnames:\n" + \
                "".join(f"  {i}: {n}\n" for i, n in enumerate(names))
    storage.write_bytes(storage.join(root, "data.yaml"), yaml_text.encode())
    return version


IMAGES = [
    Img("a.jpg", b"\xff\xd8 image a", "0 0.5 0.5 0.2 0.2\n"),
    Img("b.jpg", b"\xff\xd8 image b", "1 0.25 0.25 0.1 0.3\n", "val"),
    Img("c.jpg", b"\xff\xd8 image c", ""),
    Img("d.jpg", b"\xff\xd8 image d", "0 0.1 0.1 0.05 0.05\n1 0.9 0.9 0.05 0.05\n", "test"),
]
QUALITY = {"images_flagged": 1, "mean_worker_iou": 0.81, "report": "quality/report.html"}


@pytest.fixture(params=["local", "s3"])
def where(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """(dataset root, source root) on local disk or in a fresh bucket on the moto server."""
    if request.param == "local":
        yield str(tmp_path / "ds"), str(tmp_path / "src")
    else:
        b = request.getfixturevalue("bucket")
        yield f"s3://{b}/datasets/v1", f"s3://{b}/raw"


def _tamper(uri: str, data: bytes) -> None:
    storage.write_bytes(uri, data)


# ------------------------------------------------------------------------------------------------ show
def test_show_one_image_answers_where_the_label_came_from(where: tuple[str, str]) -> None:
    root, src = where
    version = build_dataset(root, src, IMAGES, quality=QUALITY)
    lin = lineage.load(root)
    assert lin.version == version and len(lin.images) == 4
    for query in ("b.jpg", "b", "labels/val/b.txt", storage.join(src, "b.jpg")):
        [rec] = lineage.find_images(lin, query)
        assert rec.source_ref == storage.join(src, "b.jpg")
    p = lineage.provenance(lin, lineage.find_images(lin, "b.jpg")[0])
    assert p["source"] == {"uri": storage.join(src, "b.jpg"), "ref": storage.join(src, "b.jpg"),
                           "etag": storage.head(storage.join(src, "b.jpg"), hash_local=True).etag,
                           "version_id": None}
    assert p["source"]["etag"] == hashlib.md5(b"\xff\xd8 image b").hexdigest()
    assert p["jobs"] == ["labeling-job/drone-2026-11-25"]
    assert p["manifest"]["uri"] == storage.join(src, "output.manifest") and p["manifest"]["etag"]
    assert p["settings"]["seed"] == 0 and p["package_version"] == "0.1.0"
    assert p["quality"] == QUALITY and p["split"] == "val" and p["version"] == version
    assert p["label"] == storage.join(root, "labels", "val", "b.txt")
    # data.yaml and lineage.json paths lead to the same record
    assert lineage.load(storage.join(root, "data.yaml")).version == version
    assert lineage.load(storage.join(root, "lineage.json")).version == version


def test_show_cli(where: tuple[str, str]) -> None:
    root, src = where
    build_dataset(root, src, IMAGES, quality=QUALITY)
    r = CliRunner().invoke(app, ["lineage", "show", root, "--image", "d.jpg", "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert out["source"]["uri"] == storage.join(src, "d.jpg") and out["split"] == "test"
    r = CliRunner().invoke(app, ["lineage", "show", root, "--image", "d.jpg"])
    assert r.exit_code == 0 and "labeling-job/drone-2026-11-25" in r.output and "d.jpg" in r.output
    r = CliRunner().invoke(app, ["lineage", "show", root])
    assert r.exit_code == 0 and "4" in r.output
    r = CliRunner().invoke(app, ["lineage", "show", root, "--image", "nope.jpg"])
    assert r.exit_code == 5 and "nope.jpg" in r.output


def test_missing_or_broken_lineage_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(LineageError, match="no lineage record"):
        lineage.load(tmp_path)
    (tmp_path / "lineage.json").write_text("{not json")
    with pytest.raises(LineageError, match=r"lineage.json: not valid JSON"):
        lineage.load(tmp_path)
    (tmp_path / "lineage.json").write_text(json.dumps({"version": "v-1", "images": [{"image": "x.jpg"}]}))
    with pytest.raises(LineageError, match=r"images\[0\] lacks string field\(s\) label, source_ref"):
        lineage.load(tmp_path)
    (tmp_path / "lineage.json").write_text(json.dumps({"version": "v-1", "images": [
        {"image": "../../etc/passwd", "label": "l.txt", "source_ref": "s", "split": "train", "label_sha256": "x"}]}))
    with pytest.raises(LineageError, match="inside the dataset"):
        lineage.load(tmp_path)
    r = CliRunner().invoke(app, ["lineage", "show", str(tmp_path / "nothing-here")])
    assert r.exit_code == 3 and "no lineage record" in r.output


def test_stream_gives_what_load_gives_read_in_chunks(where: tuple[str, str], tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    root, src = where
    build_dataset(root, src, IMAGES, quality=QUALITY)
    whole = lineage.load(root)
    from gtlabel.formats import json_stream
    real = json_stream.iter_object
    monkeypatch.setattr("gtlabel.lineage.record.iter_object",
                        lambda read, **kw: real(read, **{**kw, "chunk": 64}))  # many chunks for a small file
    lin, records = lineage.stream(root)
    assert lin.head == whole.head and lin.images == [] and list(records) == whole.images
    # images before the head (not as the converter writes it): read whole, same answer
    doc = json.loads(storage.read_bytes(whole.uri))
    local = tmp_path / "reordered"
    local.mkdir()
    (local / "lineage.json").write_bytes(orjson.dumps({"images": doc["images"], **whole.head}))
    lin2, records2 = lineage.stream(local)
    assert lin2.head == whole.head and list(records2) == whole.images
    (local / "lineage.json").write_bytes(orjson.dumps({**whole.head, "images": doc["images"] + [{"image": "x"}]}))
    _, records3 = lineage.stream(local)
    with pytest.raises(LineageError, match=r"images\[4\] lacks string field"):
        list(records3)
    (local / "lineage.json").write_bytes(b'{"version": "v-1", "images": [{"image": ')
    with pytest.raises(LineageError, match="not valid JSON"):
        lineage.stream(local)[1].__next__()
    with pytest.raises(LineageError, match="no lineage record"):
        lineage.stream(tmp_path / "nothing")


# ------------------------------------------------------------------------------------------------ diff
def test_diff_lists_added_removed_changed_and_classes_settings(tmp_path: Path) -> None:
    a, b, src_a, src_b = (str(tmp_path / n) for n in ("a", "b", "src", "src"))
    build_dataset(a, src_a, IMAGES)
    a_lin = lineage.load(a)
    v2 = [
        IMAGES[0],                                                        # same
        Img("b.jpg", IMAGES[1].data, "1 0.3 0.3 0.1 0.3\n", "val"),       # label changed
        Img("c.jpg", IMAGES[2].data, "", "val"),                          # split changed
        Img("e.jpg", b"\xff\xd8 image e", "2 0.5 0.5 0.5 0.5\n"),         # added (d removed)
    ]
    build_dataset(b, src_b, v2, names=["car", "person", "truck"], settings={**SETTINGS, "seed": 7},
                  jobs=["labeling-job/drone-2026-11-25", "labeling-job/drone-adjust-1"])
    d = lineage.diff(a_lin, lineage.load(b))
    assert d.added == [str(tmp_path / "src" / "e.jpg")]
    assert d.removed == [str(tmp_path / "src" / "d.jpg")]
    changed = {c.source_ref.rsplit("/", 1)[-1]: c for c in d.changed}
    assert set(changed) == {"b.jpg", "c.jpg"}
    assert changed["b.jpg"].what == ["label"] and changed["c.jpg"].what == ["split"]
    assert changed["c.jpg"].before == {"split": "train"} and changed["c.jpg"].after == {"split": "val"}
    assert d.classes["added"] == ["truck"] and d.classes["removed"] == []
    assert d.settings == {"seed": {"before": 0, "after": 7}}
    assert d.other["jobs"]["after"][-1] == "labeling-job/drone-adjust-1"
    assert not d.same and lineage.diff(a_lin, a_lin).same

    r = CliRunner().invoke(app, ["lineage", "diff", a, b])
    assert r.exit_code == 0, r.output
    assert "1 added, 1 removed, 2 changed" in r.output and "+ " in r.output and "truck" in r.output
    assert "setting seed: 0 -> 7" in r.output
    r = CliRunner().invoke(app, ["lineage", "diff", a, b, "--json"])
    assert json.loads(r.output)["removed"] == [str(tmp_path / "src" / "d.jpg")]


# ------------------------------------------------------------------------------------------------ verify
def test_verify_clean_dataset(where: tuple[str, str]) -> None:
    root, src = where
    version = build_dataset(root, src, IMAGES)
    rep = lineage.verify(root)
    assert rep.ok, rep.summary()
    assert rep.version_recomputed == version
    assert (rep.labels_checked, rep.images_checked, rep.sources_checked) == (4, 4, 4)
    r = CliRunner().invoke(app, ["lineage", "verify", root])
    assert r.exit_code == 0 and "all match the lineage" in r.output


@pytest.mark.parametrize("what", ["label", "image", "source", "extra", "lineage", "missing-label", "data-yaml"])
def test_verify_detects_tampering(where: tuple[str, str], what: str) -> None:
    root, src = where
    build_dataset(root, src, IMAGES)
    label_b = storage.join(root, "labels", "val", "b.txt")
    image_a = storage.join(root, "images", "train", "a.jpg")
    expected: tuple[str, str]
    if what == "label":
        _tamper(label_b, b"1 0.9 0.9 0.1 0.1\n")
        expected = ("label-changed", label_b)
    elif what == "image":
        _tamper(image_a, b"\xff\xd8 a different picture")
        expected = ("image-changed", image_a)
    elif what == "source":
        _tamper(storage.join(src, "c.jpg"), b"\xff\xd8 replaced in the input bucket")
        expected = ("source-changed", storage.join(src, "c.jpg"))
    elif what == "extra":
        extra = storage.join(root, "labels", "train", "sneaky.txt")
        _tamper(extra, b"0 0.5 0.5 0.5 0.5\n")
        expected = ("unexpected-file", extra)
    elif what == "lineage":
        # tamper a label AND rewrite its hash in lineage.json: the recomputed version id gives it away
        _tamper(label_b, b"1 0.9 0.9 0.1 0.1\n")
        lin_uri = storage.join(root, "lineage.json")
        doc = orjson.loads(storage.read_bytes(lin_uri))
        for e in doc["images"]:
            if e["label"] == "labels/val/b.txt":
                e["label_sha256"] = hashlib.sha256(b"1 0.9 0.9 0.1 0.1\n").hexdigest()
        _tamper(lin_uri, orjson.dumps(doc))
        expected = ("lineage-edited", lin_uri)
    elif what == "missing-label":
        storage.delete(label_b)
        expected = ("label-missing", label_b)
    else:
        yaml_uri = storage.join(root, "data.yaml")
        _tamper(yaml_uri, storage.read_bytes(yaml_uri).replace(b"1: person", b"1: pedestrian"))
        expected = ("data-yaml", yaml_uri)
    rep = lineage.verify(root)
    assert not rep.ok
    assert expected in {(p.kind, p.file) for p in rep.problems}, rep.summary()
    assert len(rep.problems) == 1, rep.summary()  # nothing else is flagged
    r = CliRunner().invoke(app, ["lineage", "verify", root])
    assert r.exit_code == 3
    assert expected[1] in r.output.replace("\n", "")
    r = CliRunner().invoke(app, ["lineage", "verify", root, "--json"])
    assert r.exit_code == 3 and json.loads(r.output)["ok"] is False


def test_verify_without_source_checks(tmp_path: Path) -> None:
    root, src = str(tmp_path / "ds"), str(tmp_path / "src")
    build_dataset(root, src, IMAGES)
    storage.write_bytes(str(tmp_path / "src" / "a.jpg"), b"replaced")
    assert not lineage.verify(root).ok
    rep = lineage.verify(root, sources=False)
    assert rep.ok and rep.sources_checked == 0 and rep.images_checked == 4


# ------------------------------------------------------------------------------------------------ S3 specifics
def test_verify_s3_versioned_and_sse_kms(bucket: str, s3: Any, s3_endpoint: str,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """Versioned source bucket (source_version_id recorded) and SSE-KMS everywhere, where an ETag is not
    an MD5 of the bytes on AWS: the copy is compared with the bytes of the recorded source version."""
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    key = boto3.client("kms", endpoint_url=s3_endpoint, region_name="us-east-1").create_key()["KeyMetadata"]["Arn"]
    monkeypatch.setenv("GTLABEL_KMS_KEY_ID", key)
    try:
        root, src = f"s3://{bucket}/datasets/v1", f"s3://{bucket}/raw"
        build_dataset(root, src, IMAGES)
        lin = lineage.load(root)
        assert all(r.source_version_id for r in lin.images)
        head = s3.head_object(Bucket=bucket, Key="datasets/v1/images/train/a.jpg")
        assert head["ServerSideEncryption"] == "aws:kms"
        assert lineage.verify(root).ok
        # a new version of a source: the current object changed, the recorded version still matches the copy
        storage.write_bytes(f"{src}/a.jpg", b"\xff\xd8 re-uploaded")
        rep = lineage.verify(root)
        assert [(p.kind, p.file) for p in rep.problems] == [("source-changed", f"{src}/a.jpg")]
        assert rep.images_checked == 4
        # and the dataset copy itself altered
        storage.write_bytes(f"{root}/images/val/b.jpg", b"\xff\xd8 swapped")
        kinds = {(p.kind, p.file) for p in lineage.verify(root).problems}
        assert ("image-changed", f"{root}/images/val/b.jpg") in kinds
        # a deleted source version
        vid = next(r.source_version_id for r in lin.images if r.name == "c.jpg")
        s3.delete_object(Bucket=bucket, Key="raw/c.jpg", VersionId=vid)
        kinds = {(p.kind, p.file) for p in lineage.verify(root).problems}
        assert ("source-missing", f"{src}/c.jpg") in kinds
    finally:
        monkeypatch.delenv("GTLABEL_KMS_KEY_ID")


# ------------------------------------------------------------------------------------------------ properties
_hex = "0123456789abcdef"


def _lin_from(entries: list[dict[str, Any]], names: list[str]) -> lineage.Lineage:
    total = sum(int.from_bytes(hashlib.sha256(orjson.dumps(e)).digest(), "big") for e in entries) % (1 << 256)
    version = lineage.version_id({"format": "gtlabel-yolo/1", "names": names, "settings": SETTINGS,
                                  "entries": f"{total:064x}", "count": len(entries), "moved_to_val": []})
    doc = {"version": version, "format": "gtlabel-yolo/1", "settings": SETTINGS,
           "names": {str(i): n for i, n in enumerate(names)}, "manifest": {"uri": "s3://b/m", "etag": "e"},
           "images": entries}
    head, recs = lineage.parse(orjson.dumps(doc))
    return lineage.Lineage("s3://b/ds/lineage.json", "s3://b/ds", head, recs)


def _entries_strategy() -> Any:
    from hypothesis import strategies as st

    entry = st.fixed_dictionaries({
        "n": st.integers(0, 30), "split": st.sampled_from(["train", "val", "test"]),
        "sha": st.text(_hex, min_size=64, max_size=64), "etag": st.text(_hex, min_size=32, max_size=32)})

    def build(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        seen: dict[int, dict[str, Any]] = {}
        for it in items:
            n = it["n"]
            seen[n] = {"image": f"images/{it['split']}/i{n}.jpg", "label": f"labels/{it['split']}/i{n}.txt",
                       "source_ref": f"s3://b/raw/i{n}.jpg", "source_etag": it["etag"], "source_version_id": None,
                       "split": it["split"], "label_sha256": it["sha"]}
        return list(seen.values())

    return st.lists(entry, max_size=12).map(build)


def test_diff_and_version_properties() -> None:
    from hypothesis import given, settings

    @settings(max_examples=60, deadline=None)
    @given(_entries_strategy(), _entries_strategy())
    def check(ea: list[dict[str, Any]], eb: list[dict[str, Any]]) -> None:
        a, b = _lin_from(ea, ["car"]), _lin_from(eb, ["car"])
        assert lineage.recompute_version(a) == a.version
        d = lineage.diff(a, b)
        ra, rb = {e["source_ref"] for e in ea}, {e["source_ref"] for e in eb}
        assert set(d.added) == rb - ra and set(d.removed) == ra - rb
        same = {e["source_ref"]: e for e in ea}
        changed = {e["source_ref"] for e in eb if e["source_ref"] in same and
                   (e["label_sha256"], e["split"], e["source_etag"]) != (same[e["source_ref"]]["label_sha256"],
                                                                         same[e["source_ref"]]["split"],
                                                                         same[e["source_ref"]]["source_etag"])}
        assert {c.source_ref for c in d.changed} == changed
        assert d.same == (a.version == b.version)
        assert lineage.diff(a, a).same
        if ea:  # any edit of one record changes the recomputed version
            edited = [dict(e) for e in ea]
            edited[0]["label_sha256"] = "0" * 64 if edited[0]["label_sha256"] != "0" * 64 else "1" * 64
            doc_lin = lineage.Lineage(a.uri, a.base, a.head, lineage.parse(orjson.dumps({**a.head, "images": edited}))[1])
            assert lineage.recompute_version(doc_lin) != a.version

    check()

"""gtlabel.manifests: output-manifest reading (typed records, bad-input corpus) and input-manifest building."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
import pytest

from gtlabel.errors import ConfigError, ManifestError
from gtlabel.formats.ground_truth import check_source_ref
from gtlabel.manifests import ManifestSummary, build_input_manifest, iter_output_manifest

# the documented bounding-box output line (ground-truth.md 3.2)
DOC_LINE: dict[str, Any] = {
    "source-ref": "s3://bucket/example_image.png",
    "bounding-box-attribute-name": {
        "image_size": [{"width": 500, "height": 400, "depth": 3}],
        "annotations": [
            {"class_id": 0, "left": 111, "top": 134, "width": 61, "height": 128},
            {"class_id": 5, "left": 161, "top": 250, "width": 30, "height": 30},
        ],
    },
    "bounding-box-attribute-name-metadata": {
        "objects": [{"confidence": 0.8}, {"confidence": 0.9}],
        "class-map": {"0": "dog", "5": "bone"},
        "type": "groundtruth/object-detection",
        "human-annotated": "yes",
        "creation-date": "2018-10-18T22:18:13.527256",
        "job-name": "identify-dogs-and-toys",
    },
}


def write_lines(path: Path, lines: list[Any], *, raw: bytes | None = None) -> str:
    path.write_bytes(raw if raw is not None else b"".join(orjson.dumps(x) + b"\n" for x in lines))
    return str(path)


def test_documented_line_parses_into_a_typed_record(tmp_path: Path) -> None:
    uri = write_lines(tmp_path / "out.manifest", [{**DOC_LINE, "camera": "dji-m3"}])
    [rec] = list(iter_output_manifest(uri))
    assert rec.file == uri and rec.line == 1
    assert rec.source_ref == "s3://bucket/example_image.png"
    assert rec.label_attribute == "bounding-box-attribute-name"
    assert rec.image_size == (500, 400, 3)
    assert [(b.class_id, b.left, b.top, b.width, b.height, b.confidence) for b in rec.boxes] == [
        (0, 111, 134, 61, 128, 0.8), (5, 161, 250, 30, 30, 0.9)]
    assert rec.class_map == {0: "dog", 5: "bone"}
    assert rec.human_annotated is True
    assert rec.failure_reason is None and rec.adjustment_status is None
    assert rec.job_name == "identify-dogs-and-toys"
    assert rec.creation_date == "2018-10-18T22:18:13.527256"
    assert rec.extra == {"camera": "dji-m3"}  # pass-through keys


def test_chained_jobs_need_a_choice_and_the_error_lists_the_candidates(tmp_path: Path) -> None:
    adjusted = {
        **DOC_LINE,
        "adjusted": {"image_size": [{"width": 500, "height": 400, "depth": 3}],
                     "annotations": [{"class_id": 0, "left": 100, "top": 130, "width": 70, "height": 130}]},
        "adjusted-metadata": {"class-map": {"0": "dog"}, "type": "groundtruth/object-detection",
                              "human-annotated": "yes", "adjustment-status": "adjusted",
                              "job-name": "labeling-job/adjust-dogs"},
        # a verification job's attribute is not a bounding-box attribute and is never a candidate
        "verified": "1",
        "verified-metadata": {"class-name": "good", "type": "groundtruth/label-verification"},
    }
    uri = write_lines(tmp_path / "chained.manifest", [adjusted])
    with pytest.raises(ManifestError) as ei:
        list(iter_output_manifest(uri))
    msg = str(ei.value)
    assert f"{uri}:1" in msg and "adjusted, bounding-box-attribute-name" in msg and "label_attribute" in msg
    [rec] = list(iter_output_manifest(uri, label_attribute="adjusted"))
    assert rec.adjustment_status == "adjusted" and rec.job_name == "labeling-job/adjust-dogs"
    assert len(rec.boxes) == 1 and rec.boxes[0].confidence is None
    assert "bounding-box-attribute-name" in rec.extra and "verified" in rec.extra  # other attributes pass through


def test_custom_job_underscore_keys_and_failed_and_auto_labeled_lines(tmp_path: Path) -> None:
    custom = {"source-ref": "s3://b/c.jpg",
              "box": {"image_size": [{"width": 10, "height": 10}], "annotations": []},
              "box-metadata": {"type": "groundTruth/custom", "job_name": "custom-job", "creation_date": "2026-11-25",
                               "worker-response-ref": "s3://b/out/annotations/worker-response/iteration-1/0/x.json"}}
    failed = {"source-ref": "s3://b/f.jpg", "box-metadata": {"failure-reason": "ClientError: timed out",
                                                              "type": "groundtruth/object-detection"}}
    auto = {"source-ref": "s3://b/a.jpg", "box": {"image_size": [{"width": 10, "height": 10, "depth": 3}],
                                                 "annotations": []},
            "box-metadata": {"type": "groundtruth/object-detection", "human-annotated": "no"}}
    uri = write_lines(tmp_path / "m.manifest", [custom, failed, auto])
    c, f, a = list(iter_output_manifest(uri))
    assert (c.job_name, c.creation_date, c.image_size) == ("custom-job", "2026-11-25", (10, 10, 3))
    assert f.failed and f.failure_reason == "ClientError: timed out" and f.boxes == [] and f.image_size is None
    assert a.human_annotated is False and a.boxes == []


def test_bom_and_crlf_are_accepted(tmp_path: Path) -> None:
    body = b"\xef\xbb\xbf" + orjson.dumps(DOC_LINE) + b"\r\n" + orjson.dumps(DOC_LINE) + b"\r\n"
    uri = write_lines(tmp_path / "bom.manifest", [], raw=body)
    recs = list(iter_output_manifest(uri))
    assert [r.line for r in recs] == [1, 2] and all(r.image_size == (500, 400, 3) for r in recs)


def test_empty_manifest_yields_nothing(tmp_path: Path) -> None:
    uri = write_lines(tmp_path / "empty.manifest", [], raw=b"\n\n")
    assert list(iter_output_manifest(uri)) == []


def _with(**label_changes: Any) -> dict[str, Any]:
    line = orjson.loads(orjson.dumps(DOC_LINE))
    line["bounding-box-attribute-name"].update(label_changes)
    return line


def _ann(**changes: Any) -> dict[str, Any]:
    a = {"class_id": 0, "left": 1, "top": 1, "width": 5, "height": 5}
    a.update(changes)
    return _with(annotations=[a])


BAD_CORPUS: list[tuple[str, bytes, str]] = [
    # (name, raw line, text the error must contain)
    ("malformed json", b'{"source-ref": "s3://b/x.jpg", ', "malformed JSON"),
    ("nan literal", orjson.dumps(_ann()).replace(b'"left":1', b'"left":NaN'), "malformed JSON"),
    ("not an object", b"[1, 2, 3]", "expected a JSON object"),
    ("missing source-ref", orjson.dumps({k: v for k, v in DOC_LINE.items() if k != "source-ref"}), "'source-ref'"),
    ("source-ref wrong type", orjson.dumps({**DOC_LINE, "source-ref": 7}), "'source-ref': expected a string"),
    ("dotdot in s3 key", orjson.dumps({**DOC_LINE, "source-ref": "s3://b/a/../../etc/x.jpg"}), "'..'"),
    ("dotdot relative", orjson.dumps({**DOC_LINE, "source-ref": "imgs/../../secret.jpg"}), "'..'"),
    ("absolute path", orjson.dumps({**DOC_LINE, "source-ref": "/etc/passwd"}), "absolute paths"),
    ("windows absolute", orjson.dumps({**DOC_LINE, "source-ref": "C:\\x\\y.jpg"}), "absolute paths"),
    ("other scheme", orjson.dumps({**DOC_LINE, "source-ref": "https://evil/x.jpg"}), "only s3://"),
    ("missing image_size", orjson.dumps({**DOC_LINE, "bounding-box-attribute-name": {"annotations": []}}),
     "'bounding-box-attribute-name.image_size': missing"),
    ("image_size not a list", orjson.dumps(_with(image_size={"width": 5, "height": 5})), "image_size"),
    ("image_size zero", orjson.dumps(_with(image_size=[{"width": 0, "height": 5}])), "must be > 0"),
    ("width string", orjson.dumps(_with(image_size=[{"width": "500", "height": 5}])), "image_size[0].width"),
    ("annotations not a list", orjson.dumps(_with(annotations={"a": 1})), ".annotations': expected a list"),
    ("class_id string", orjson.dumps(_ann(class_id="0")), "annotations[0].class_id"),
    ("class_id bool", orjson.dumps(_ann(class_id=True)), "annotations[0].class_id"),
    ("class_id negative", orjson.dumps(_ann(class_id=-1)), "must be >= 0"),
    ("left string", orjson.dumps(_ann(left="1")), "annotations[0].left"),
    ("left null", orjson.dumps(_ann(left=None)), "annotations[0].left"),
    ("negative width", orjson.dumps(_ann(width=-5)), "width and height must be >= 0"),
    ("huge number", orjson.dumps(_ann()).replace(b'"top":1', b'"top":1e400'), "malformed JSON"),
    ("metadata not object", orjson.dumps({**DOC_LINE, "bounding-box-attribute-name-metadata": [1]}),
     "-metadata': expected an object"),
    ("class-map bad key", orjson.dumps({**DOC_LINE, "bounding-box-attribute-name-metadata": {
        **DOC_LINE["bounding-box-attribute-name-metadata"], "class-map": {"dog": "0"}}}), "class-map"),
    ("label not object", orjson.dumps({**DOC_LINE, "bounding-box-attribute-name": [1]}), "expected an object"),
]


@pytest.mark.parametrize(("name", "raw", "expect"), BAD_CORPUS, ids=[c[0] for c in BAD_CORPUS])
def test_bad_corpus_gives_a_clear_error_naming_file_and_line(tmp_path: Path, name: str, raw: bytes,
                                                             expect: str) -> None:
    good = orjson.dumps(DOC_LINE)
    uri = write_lines(tmp_path / "bad.manifest", [], raw=good + b"\n" + raw + b"\n" + good + b"\n")
    with pytest.raises(ManifestError) as ei:
        list(iter_output_manifest(uri, label_attribute="bounding-box-attribute-name"))
    msg = str(ei.value)
    assert f"{uri}:2" in msg, msg
    assert expect in msg, msg
    # lenient mode: the bad line is skipped and counted, the good ones come through
    skipped: list[ManifestError] = []
    recs = list(iter_output_manifest(uri, label_attribute="bounding-box-attribute-name", strict=False,
                                     on_skip=skipped.append))
    assert [r.line for r in recs] == [1, 3]
    assert len(skipped) == 1 and skipped[0].line == 2


def test_label_attribute_detection_without_any_candidate(tmp_path: Path) -> None:
    uri = write_lines(tmp_path / "input.manifest", [{"source-ref": "s3://b/x.jpg"}])
    with pytest.raises(ManifestError, match=r"input\.manifest:1: no label attribute found"):
        list(iter_output_manifest(uri))


def test_unlabeled_line_is_an_error_naming_the_attribute(tmp_path: Path) -> None:
    uri = write_lines(tmp_path / "m.manifest", [DOC_LINE, {"source-ref": "s3://b/y.jpg"}])
    with pytest.raises(ManifestError, match=r"m\.manifest:2, field 'bounding-box-attribute-name': no label"):
        list(iter_output_manifest(uri))


def test_check_source_ref() -> None:
    assert check_source_ref("s3://b/k/x.jpg") == "s3://b/k/x.jpg"
    assert check_source_ref("imgs/a.jpg") == "imgs/a.jpg"
    for bad in ("s3://b", "s3:///k.jpg", "", "  ", "a/../b.jpg", "/abs.jpg", "file:///x.jpg", "\\\\srv\\x.jpg"):
        with pytest.raises(ManifestError):
            check_source_ref(bad)


# ------------------------------------------------------------------------------------------- input manifests
def _images(root: Path, names: list[str], size: int = 10) -> None:
    for n in names:
        p = root / n
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(b"\xff\xd8" + b"x" * size)


def _refs(path: str) -> list[str]:
    return [orjson.loads(x)["source-ref"] for x in Path(path).read_bytes().splitlines()]


def test_build_from_local_folder_filters_sorts_and_counts(tmp_path: Path) -> None:
    _images(tmp_path / "imgs", ["b.JPG", "a.jpeg", "sub/c.png", "notes.txt", "d.gif", "empty.jpg"])
    (tmp_path / "imgs" / "empty.jpg").write_bytes(b"")
    _images(tmp_path / "imgs", ["big.jpg"], size=5000)
    s = build_input_manifest(tmp_path / "imgs", tmp_path / "in.manifest", max_bytes=1000)
    assert isinstance(s, ManifestSummary)
    assert _refs(str(tmp_path / "in.manifest")) == ["imgs/a.jpeg", "imgs/b.JPG", "imgs/sub/c.png"]
    assert s.written == 3 and s.seen == 7
    assert sum(s.skipped.values()) == 4
    assert any("larger than" in k for k in s.skipped) and s.skipped["empty file"] == 1
    d = s.as_dict()
    assert d["written"] == 3 and len(d["examples"]) == 4


def test_local_images_outside_the_manifest_folder_are_refused(tmp_path: Path) -> None:
    _images(tmp_path / "imgs", ["a.jpg"])
    (tmp_path / "m").mkdir()
    with pytest.raises(ConfigError, match="inside the manifest's folder"):
        build_input_manifest(tmp_path / "imgs", tmp_path / "m" / "in.manifest")
    assert not (tmp_path / "m" / "in.manifest").exists()


def test_sampling_is_seeded_deterministic_and_in_key_order(tmp_path: Path) -> None:
    _images(tmp_path / "imgs", [f"{i:03d}.jpg" for i in range(50)])
    a = build_input_manifest(tmp_path / "imgs", tmp_path / "a.manifest", sample=10, seed=1)
    b = build_input_manifest(tmp_path / "imgs", tmp_path / "b.manifest", sample=10, seed=1)
    c = build_input_manifest(tmp_path / "imgs", tmp_path / "c.manifest", sample=10, seed=2)
    ra, rb, rc = (_refs(str(tmp_path / f"{x}.manifest")) for x in "abc")
    assert ra == rb and ra != rc and len(ra) == 10 and ra == sorted(ra)
    assert (tmp_path / "a.manifest").read_bytes() == (tmp_path / "b.manifest").read_bytes()
    assert a.skipped["not sampled"] == 40 and b.written == 10 and c.written == 10


def test_build_from_existing_manifest_passes_lines_through(tmp_path: Path) -> None:
    lines = [b'{"source-ref":"s3://b/x.jpg","prelabel":{"annotations":[]},"z":1}',
             b'{"source-ref":"s3://b/y.txt"}',
             b'{"source":"some text"}',
             b'{"source-ref":"s3://b/Z.PNG","extra":"\xc3\xa9"}']
    src = tmp_path / "src.manifest"
    src.write_bytes(b"\xef\xbb\xbf" + b"\r\n".join(lines) + b"\r\n")
    s = build_input_manifest(src, tmp_path / "out.manifest")
    out = (tmp_path / "out.manifest").read_bytes().splitlines()
    assert out == [lines[0], lines[2], lines[3]]  # byte for byte, BOM/CRLF normalized, .txt skipped
    assert s.written == 3 and s.skipped["suffix not allowed"] == 1


def test_existing_manifest_limits_and_bad_lines(tmp_path: Path) -> None:
    long_attr = {"source-ref": "s3://b/x.jpg", "note": "y" * 20_001}
    long_line = {"source-ref": "s3://b/x.jpg", **{f"k{i}": "z" * 19_000 for i in range(6)}}
    src = write_lines(tmp_path / "src.manifest", [{"source-ref": "s3://b/ok.jpg"}, long_attr, long_line])
    with pytest.raises(ManifestError, match=r"src\.manifest:2, field 'note': attribute has 20\d\d\d characters"):
        build_input_manifest(src, tmp_path / "out.manifest")
    assert not (tmp_path / "out.manifest").exists()  # nothing half-written
    s = build_input_manifest(src, tmp_path / "out.manifest", strict=False)
    assert s.written == 1 and sum(s.skipped.values()) == 2
    assert any("100000" in k for k in s.skipped)
    bad = tmp_path / "bad.manifest"
    bad.write_bytes(b'{"source-ref": "s3://b/ok.jpg"}\n{oops\n{"source-ref": "/etc/x.jpg"}\n')
    with pytest.raises(ManifestError, match=r"bad\.manifest:2: malformed JSON"):
        build_input_manifest(bad, tmp_path / "o2.manifest")
    s2 = build_input_manifest(bad, tmp_path / "o2.manifest", strict=False)
    assert s2.written == 1 and sum(s2.skipped.values()) == 2


def test_build_from_s3_prefix(s3: Any, bucket: str) -> None:
    for key, size in [("raw/a.jpg", 10), ("raw/B.PNG", 10), ("raw/c.txt", 10), ("raw/sub/d.jpeg", 10),
                      ("other/e.jpg", 10), ("raw/huge.jpg", 3000)]:
        s3.put_object(Bucket=bucket, Key=key, Body=b"x" * size)
    s = build_input_manifest(f"s3://{bucket}/raw/", f"s3://{bucket}/manifests/in.manifest", max_bytes=2000)
    body = s3.get_object(Bucket=bucket, Key="manifests/in.manifest")["Body"].read()
    refs = [orjson.loads(x)["source-ref"] for x in body.splitlines()]
    assert refs == [f"s3://{bucket}/raw/B.PNG", f"s3://{bucket}/raw/a.jpg", f"s3://{bucket}/raw/sub/d.jpeg"]
    assert s.written == 3 and s.seen == 5


def test_local_folder_to_s3_manifest_is_refused(tmp_path: Path, bucket: str) -> None:
    _images(tmp_path / "imgs", ["a.jpg"])
    with pytest.raises(ConfigError, match="cannot point at local images"):
        build_input_manifest(tmp_path / "imgs", f"s3://{bucket}/in.manifest")


def test_custom_workflow_line_without_a_label_is_no_label(tmp_path: Path) -> None:
    """A custom workflow without a post-annotation Lambda writes ``<attr>: {}`` with groundTruth/custom metadata
    (reference 3.2): read as a line with no label (the converter skips and counts it), not as a broken line."""
    from gtlabel.convert import convert_ground_truth_to_yolo

    line = {"source-ref": "s3://b/a.jpg", "c": {}, "c-metadata": {
        "type": "groundTruth/custom", "job_name": "labeling-job/custom-1", "creation_date": "2026-11-25T05:00:00",
        "human-annotated": "yes", "worker-response-ref": "s3://b/out/annotations/worker-response/x.json"}}
    m = tmp_path / "out.manifest"
    m.write_text(json.dumps(line) + "\n" + json.dumps({**line, "source-ref": "s3://b/b.jpg"}) + "\n")
    (rec, _) = list(iter_output_manifest(str(m), label_attribute="c"))
    assert rec.image_size is None and rec.boxes == [] and rec.failure_reason is None
    assert rec.job_name == "labeling-job/custom-1"
    with pytest.raises(ManifestError, match="no image could be converted"):
        convert_ground_truth_to_yolo(str(m), tmp_path / "ds", ["drone"], label_attribute="c", progress=False)
    assert not (tmp_path / "ds").exists()

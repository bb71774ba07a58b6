"""gtlabel.formats.ground_truth: the one definition of Ground Truth's files (golden lines, round trips, and the
rules where the old copies differed)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gtlabel.errors import InputError, LabelError, ManifestError
from gtlabel.formats.ground_truth import (
    CUSTOM,
    LABEL_ATTRIBUTE_PATTERN,
    LABEL_CATEGORY_DOCUMENT_VERSION,
    OBJECT_DETECTION,
    InputLine,
    LabelCategoryConfig,
    OutputBox,
    bare_job_name,
    bbox_label,
    check_source_ref,
    consolidated_content,
    creation_date,
    custom_metadata,
    detect_label_attributes,
    failed_metadata,
    iter_output_lines,
    labeling_job_name,
    metadata_key,
    output_line,
    output_metadata,
    parse_output_line,
    verification_metadata,
)

# the documented bounding-box output line (reference/ground-truth.md 3.2), as one compact JSON line
DOC_LINE = (
    b'{"source-ref":"s3://bucket/example_image.png",'
    b'"bounding-box-attribute-name":{"image_size":[{"width":500,"height":400,"depth":3}],'
    b'"annotations":[{"class_id":0,"left":111,"top":134,"width":61,"height":128},'
    b'{"class_id":5,"left":161,"top":250,"width":30,"height":30}]},'
    b'"bounding-box-attribute-name-metadata":{"objects":[{"confidence":0.8},{"confidence":0.9}],'
    b'"class-map":{"0":"dog","5":"bone"},"type":"groundtruth/object-detection","human-annotated":"yes",'
    b'"creation-date":"2018-10-18T22:18:13.527256","job-name":"identify-dogs-and-toys"}}'
)
ATTR = "bounding-box-attribute-name"


# ----------------------------------------------------------------------------------------------- output lines
def test_the_builders_write_the_documented_line_byte_for_byte() -> None:
    label = bbox_label(500, 400, [{"class_id": 0, "left": 111, "top": 134, "width": 61, "height": 128},
                                  {"class_id": 5, "left": 161, "top": 250, "width": 30, "height": 30}])
    meta = output_metadata([{"confidence": 0.8}, {"confidence": 0.9}], {"0": "dog", "5": "bone"},
                           job_name="identify-dogs-and-toys", created="2018-10-18T22:18:13.527256")
    line = output_line({"source-ref": "s3://bucket/example_image.png"}, ATTR, label, meta)
    assert orjson.dumps(line) == DOC_LINE


def test_the_documented_line_parses_into_a_typed_record() -> None:
    rec = parse_output_line(orjson.loads(DOC_LINE), file="m", line=1, label_attribute=ATTR)
    assert rec.source_ref == "s3://bucket/example_image.png"
    assert rec.image_size == (500, 400, 3)
    assert rec.boxes == [OutputBox(0, 111, 134, 61, 128, 0.8), OutputBox(5, 161, 250, 30, 30, 0.9)]
    assert rec.class_map == {0: "dog", 5: "bone"}
    assert rec.human_annotated is True and rec.job_name == "identify-dogs-and-toys"
    assert rec.labeled and not rec.failed and rec.extra == {}


def test_metadata_keys_come_in_the_documented_order_and_optional_ones_only_when_given() -> None:
    meta = output_metadata([], {}, human_annotated=False)
    assert list(meta) == ["objects", "class-map", "type", "human-annotated"]
    assert meta["human-annotated"] == "no" and meta["type"] == OBJECT_DETECTION
    full = output_metadata([], {}, job_name="labeling-job/j", created="c", adjustment_status="adjusted")
    assert list(full)[-3:] == ["creation-date", "job-name", "adjustment-status"]


def test_failed_line_has_a_failure_reason_and_no_label() -> None:
    meta = failed_metadata("ClientError: timed out", job_name=labeling_job_name("j"), created="2020-01-01T00:00:00")
    line = output_line({"source-ref": "s3://b/a.jpg", "note": 1}, "boxes", None, meta)
    assert list(line) == ["source-ref", "note", "boxes-metadata"]
    rec = parse_output_line(line, file="m", line=3, label_attribute="boxes")
    assert rec.failed and rec.failure_reason == "ClientError: timed out" and rec.boxes == []
    assert rec.job_name == "labeling-job/j" and rec.extra == {"note": 1}


def test_verification_and_custom_metadata() -> None:
    meta = verification_metadata({"class-name": "bad", "confidence": 0.5}, job_name="labeling-job/v", created="c")
    assert meta == {"class-name": "bad", "confidence": 0.5, "type": "groundtruth/label-verification",
                    "human-annotated": "yes", "creation-date": "c", "job-name": "labeling-job/v"}
    # custom workflows: underscore keys job_name / creation_date (3.2), the type as Ground Truth spells it
    custom = custom_metadata(job_name="labeling-job/c", created="d", human_annotated=False, worker_response_ref="s3://x")
    assert list(custom) == ["job_name", "type", "creation_date", "human-annotated", "worker-response-ref"]
    assert custom["type"] == "groundTruth/custom" and custom["human-annotated"] == "no"
    assert "worker-response-ref" not in custom_metadata(job_name="j", created="d", human_annotated=True)


def test_the_new_label_replaces_what_the_input_line_held_under_its_keys_and_comes_last() -> None:
    # the old copies differed: the service kept an existing key's place, pre-annotation moved it last. Ground
    # Truth's rule (3.2): the label "overwrites any existing JSON data"; we always write it last.
    line = {"source-ref": "s3://b/a.jpg", "boxes": {"stale": True}, "boxes-metadata": {"failure-reason": "x"},
            "keep": "me"}
    out = output_line(line, "boxes", {"image_size": [], "annotations": []}, {"type": OBJECT_DETECTION})
    assert list(out) == ["source-ref", "keep", "boxes", "boxes-metadata"]
    assert out["boxes"] == {"image_size": [], "annotations": []} and "failure-reason" not in out["boxes-metadata"]
    assert line["boxes"] == {"stale": True}  # the input is not changed


def test_custom_workflow_content_carries_objects_and_class_map_inside_the_label() -> None:
    label = bbox_label(10, 20, [{"class_id": 1, "left": 1, "top": 2, "width": 3, "height": 4}])
    content = consolidated_content(label, [{"confidence": 0.5}], {"1": "car"})
    line = {"source-ref": "s3://b/a.jpg", "x": content,
            "x-metadata": {"type": CUSTOM, "job_name": "labeling-job/c", "creation_date": "d"}}
    rec = parse_output_line(line, file="m", line=1, label_attribute="x")
    assert rec.boxes == [OutputBox(1, 1, 2, 3, 4, 0.5)] and rec.class_map == {1: "car"}
    assert rec.job_name == "labeling-job/c" and rec.creation_date == "d"
    assert label == bbox_label(10, 20, [{"class_id": 1, "left": 1, "top": 2, "width": 3, "height": 4}])


_box = st.fixed_dictionaries({
    "class_id": st.integers(0, 20), "left": st.integers(-5, 4000), "top": st.integers(-5, 3000),
    "width": st.integers(0, 4000), "height": st.integers(0, 3000)})


@given(w=st.integers(1, 10_000), h=st.integers(1, 10_000), boxes=st.lists(_box, max_size=12),
       confs=st.floats(0, 1), human=st.booleans(), attr=st.from_regex(r"a[a-z0-9]{0,8}", fullmatch=True),
       extra=st.dictionaries(st.from_regex(r"k[a-z]{0,5}", fullmatch=True), st.integers(-2**40, 2**40), max_size=3))
def test_build_then_parse_round_trips(w: int, h: int, boxes: list[dict[str, int]], confs: float, human: bool,
                                      attr: str, extra: dict[str, int]) -> None:
    cmap = {str(b["class_id"]): f"c{b['class_id']}" for b in boxes}
    meta = output_metadata([{"confidence": confs} for _ in boxes], cmap, job_name=labeling_job_name("job"),
                           created=creation_date(0), human_annotated=human)
    line = output_line({"source-ref": "s3://b/img.png", **extra}, attr, bbox_label(w, h, boxes), meta)
    raw = orjson.dumps(line)
    [rec] = list(iter_output_lines([(7, raw)], file="f"))
    assert rec.label_attribute == attr and rec.line == 7 and rec.image_size == (w, h, 3)
    assert rec.boxes == [OutputBox(b["class_id"], b["left"], b["top"], b["width"], b["height"], confs)
                         for b in boxes]
    assert rec.class_map == {int(k): v for k, v in cmap.items()}
    assert rec.human_annotated is human and rec.extra == extra
    assert bare_job_name(str(rec.job_name)) == "job"


def test_label_attribute_detection_by_metadata_pairing() -> None:
    line = orjson.loads(DOC_LINE)
    line["verify-metadata"] = {"type": "groundtruth/label-verification"}
    line["other-metadata"] = {"type": "groundTruth/custom"}
    assert detect_label_attributes(line) == [ATTR, "other"]
    with pytest.raises(ManifestError, match="several label attributes"):
        list(iter_output_lines([(1, orjson.dumps(line))], file="f"))


def test_bad_output_line_names_file_line_and_field() -> None:
    line = orjson.loads(DOC_LINE)
    line[ATTR]["annotations"][1]["width"] = -1
    with pytest.raises(ManifestError) as err:
        parse_output_line(line, file="out.manifest", line=9, label_attribute=ATTR)
    assert err.value.file == "out.manifest" and err.value.line == 9
    assert err.value.field == f"{ATTR}.annotations[1]"


@pytest.mark.parametrize(("name", "ok"), [
    ("bounding-box", True), ("a", True), ("a--b", True), ("A1" * 63 + "a", True),
    ("", False), ("-a", False), ("a-", False), ("a_b", False), ("a" * 128, False),
])
def test_label_attribute_pattern(name: str, ok: bool) -> None:
    assert (LABEL_ATTRIBUTE_PATTERN.fullmatch(name) is not None) is ok


def test_names_and_dates() -> None:
    assert metadata_key("boxes") == "boxes-metadata"
    assert labeling_job_name("j") == labeling_job_name("labeling-job/j") == "labeling-job/j"
    assert bare_job_name("labeling-job/j") == bare_job_name("j") == "j"
    assert creation_date(1539901093.527256) == "2018-10-18T22:18:13.527256"
    assert creation_date(datetime(2018, 10, 18, 22, 18, 13, 527256, tzinfo=UTC)) == "2018-10-18T22:18:13.527256"
    assert len(creation_date()) == len("2018-10-18T22:18:13.527256")


# ----------------------------------------------------------------------------------------------- label config
def test_label_category_config_golden_and_round_trip() -> None:
    cfg = LabelCategoryConfig(("drone", "vehicle"))
    assert cfg.dumps() == (b'{"document-version":"2018-11-28","labels":[{"label":"drone"},{"label":"vehicle"}]}')
    assert LabelCategoryConfig.loads(cfg.dumps()) == cfg
    assert cfg.document_version == LABEL_CATEGORY_DOCUMENT_VERSION


@given(st.lists(st.text(min_size=1, max_size=20), min_size=1, max_size=12),
       st.none() | st.fixed_dictionaries({"shortInstruction": st.text(), "fullInstruction": st.text()}))
def test_label_category_config_round_trips(labels: list[str], instructions: dict[str, str] | None) -> None:
    cfg = LabelCategoryConfig(tuple(labels), instructions=instructions)
    assert LabelCategoryConfig.parse(orjson.loads(cfg.dumps())) == cfg


def test_label_category_config_keeps_other_keys_and_accepts_no_document_version() -> None:
    # the AWS object-detection tutorial uploads {"labels": [...]} with no document-version (1.3)
    cfg = LabelCategoryConfig.parse({"labels": [{"label": "a"}], "auditLabelAttributeName": "prior"})
    assert cfg.document_version is None and cfg.extra == {"auditLabelAttributeName": "prior"}
    assert cfg.to_dict() == {"labels": [{"label": "a"}], "auditLabelAttributeName": "prior"}


@pytest.mark.parametrize(("doc", "field"), [
    ({"labels": []}, "labels"),  # at least one label (1.3); the service's copy used to accept none
    ({"labels": "drone"}, "labels"),
    ({}, "labels"),
    ({"labels": [{"label": "a"}, {"label": ""}]}, "labels[1].label"),
    ({"labels": [{"label": "a"}, "b"]}, "labels[1].label"),
    ({"labels": [{"label": "a"}], "document-version": 2018}, "document-version"),
    ({"labels": [{"label": "a"}], "instructions": "read me"}, "instructions"),
])
def test_label_category_config_errors_name_the_field(doc: dict[str, Any], field: str) -> None:
    with pytest.raises(LabelError) as err:
        LabelCategoryConfig.parse(doc, file="labels.json")
    assert err.value.field == field and err.value.file == "labels.json"


def test_label_category_config_malformed() -> None:
    with pytest.raises(LabelError, match="expected a JSON object"):
        LabelCategoryConfig.parse(["a"])
    with pytest.raises(LabelError, match="not valid JSON"):
        LabelCategoryConfig.loads(b"{", file="x.json")


def test_label_entries_give_each_label_as_written_for_validators() -> None:
    assert LabelCategoryConfig.label_entries({"labels": [{"label": "a"}, {"label": 3}, "b", {}]}) == ["a", 3, "b",
                                                                                                      None]
    assert LabelCategoryConfig.label_entries({"labels": {}}) is None
    assert LabelCategoryConfig.label_entries([1]) is None


# ----------------------------------------------------------------------------------------------- input lines
def test_input_line_image_text_and_pass_through() -> None:
    item = InputLine.loads(b'{"source-ref":"s3://b/a.jpg","prior":{"x":1},"prior-metadata":{"t":1},"k":2}',
                           file="in.manifest", line=4)
    assert item.source_ref == "s3://b/a.jpg" and item.source is None and item.data_object == "s3://b/a.jpg"
    assert item.pass_through() == {"prior": {"x": 1}, "prior-metadata": {"t": 1}, "k": 2}
    assert item.pass_through(drop=["prior", "prior-metadata"]) == {"k": 2}
    assert item.prior_label("prior") == ({"x": 1}, {"t": 1})
    assert item.prior_label("none") == (None, None)
    assert item.line == 4
    text = InputLine.parse({"source": "a sentence"})
    assert text.source == "a sentence" and text.source_ref is None and text.data_object == "a sentence"


@pytest.mark.parametrize(("raw", "kwargs", "field", "message"), [
    (b"{", {}, None, "malformed JSON"),
    (b"[1]", {}, None, "expected a JSON object"),
    (b'{"k":1}', {}, "source-ref", "needs 'source-ref'"),
    (b'{"source":1}', {}, "source", "expected a string"),
    (b'{"source":"t"}', {"image": True}, "source-ref", "each line needs an image"),
    (b'{"source-ref":"../a.jpg"}', {}, "source-ref", "'..' segments"),
    (b'{"source-ref":"imgs/a.jpg"}', {"s3_only": True}, "source-ref", "expected an s3://bucket/key URI"),
    # the service's copy accepted an empty key (it only looked for "s3://" and a "/")
    (b'{"source-ref":"s3://b/"}', {"s3_only": True}, "source-ref", "expected an s3://bucket/key URI"),
    (b'{"source-ref":"s3:///k.jpg"}', {"s3_only": True}, "source-ref", "expected an s3://bucket/key URI"),
    (b'{"source-ref":7}', {"s3_only": True}, "source-ref", "expected an s3://bucket/key URI"),
])
def test_input_line_errors_name_file_line_and_field(raw: bytes, kwargs: dict[str, bool], field: str | None,
                                                    message: str) -> None:
    with pytest.raises(ManifestError, match=message) as err:
        InputLine.loads(raw, file="in.manifest", line=2, **kwargs)
    assert err.value.file == "in.manifest" and err.value.line == 2 and err.value.field == field


def test_a_labeling_job_takes_s3_keys_as_they_are() -> None:
    # Ground Truth reads any s3://bucket/key: ".." is no parent in S3; the dataset tools refuse it (local paths)
    ref = "s3://b/x/../a.jpg"
    assert InputLine.parse({"source-ref": ref}, s3_only=True).source_ref == ref
    with pytest.raises(ManifestError, match=r"'\.\.' segments"):
        InputLine.parse({"source-ref": ref})


def test_relative_source_refs_are_fine_for_local_datasets() -> None:
    assert InputLine.parse({"source-ref": "imgs/a.jpg"}).source_ref == "imgs/a.jpg"
    assert check_source_ref("s3://b/k/x.jpg") == "s3://b/k/x.jpg"
    for bad in ("/etc/passwd", "C:/x.jpg", "http://h/x.jpg", "", "a\x00b"):
        with pytest.raises(InputError):
            check_source_ref(bad)

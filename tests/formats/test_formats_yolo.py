"""gtlabel.formats.yolo: label-file bytes, data.yaml and Ultralytics' label rules, on values (no disk)."""

from __future__ import annotations

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from gtlabel.formats.yolo import (
    MIN_NORMALIZED_SIZE,
    SPLITS,
    check_label_text,
    format_label,
    label_bytes,
    render_data_yaml,
)

NAMES = ["drone", "vehicle", "person", "building"]


def test_label_bytes_one_row_a_line_and_nothing_for_no_rows() -> None:
    assert label_bytes([]) == b""
    assert label_bytes(["0 0.5 0.5 0.1 0.1", "1 0.2 0.2 0.1 0.1"]) == b"0 0.5 0.5 0.1 0.1\n1 0.2 0.2 0.1 0.1\n"
    assert format_label([]) == b""
    assert format_label([(3, 0.35, 0.85, 0.5, 0.2), (0, 1 / 3, 2 / 3, 1e-7, 1.0)]) == \
        b"3 0.350000 0.850000 0.500000 0.200000\n0 0.333333 0.666667 0.000000 1.000000\n"


def test_min_normalized_size_is_where_six_decimals_reach_zero() -> None:
    below = MIN_NORMALIZED_SIZE * (1 - 1e-9)
    above = MIN_NORMALIZED_SIZE * (1 + 1e-9)
    assert format_label([(0, 0.5, 0.5, below, 0.5)]).split()[3] == b"0.000000"
    assert format_label([(0, 0.5, 0.5, above, 0.5)]).split()[3] == b"0.000001"


def test_check_label_text_mirrors_ultralytics_rules() -> None:
    assert check_label_text("0 0.5 0.5 0.1 0.1\n", 1) == []
    assert check_label_text("", 1) == [] and check_label_text("\n\n", 1) == []
    assert "5 columns" in check_label_text("0 0.5 0.5 0.1 0.1 0.9\n", 1)[0]
    assert "exceeds" in check_label_text("3 0.5 0.5 0.1 0.1\n", 3)[0]
    assert "out of [0, 1]" in check_label_text("0 1.2 0.5 0.1 0.1\n", 1)[0]
    assert "not numeric" in check_label_text("0 a 0.5 0.1 0.1\n", 1)[0]
    assert "non-negative integer" in check_label_text("1.5 0.5 0.5 0.1 0.1\n", 2)[0]
    assert check_label_text("0 0.5 0.5 0.1 0.1\n0 0.5 0.5 0.1\n", 1) == ["row 2: labels require 5 columns, "
                                                                        "4 columns detected"]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3), *[st.floats(0, 1, allow_nan=False)] * 4), max_size=20))
def test_formatted_rows_pass_the_rules(rows: list[tuple[int, float, float, float, float]]) -> None:
    data = format_label(rows)
    assert check_label_text(data.decode(), len(NAMES)) == []
    assert data.count(b"\n") == len(rows)


def test_data_yaml_local_with_every_split() -> None:
    data = render_data_yaml(NAMES, path="/data/ds", splits_present=SPLITS, version="v-0123456789abcdef")
    text = data.decode()
    assert text.startswith("# gtlabel YOLO11 detect dataset v-0123456789abcdef (lineage.json beside this file)\n")
    assert yaml.safe_load(text) == {"path": "/data/ds", "train": "images/train", "val": "images/val",
                                    "test": "images/test", "names": dict(enumerate(NAMES))}
    assert list(yaml.safe_load(text)) == ["path", "train", "val", "test", "names"]  # the order written


def test_data_yaml_on_s3_without_val_or_test() -> None:
    text = render_data_yaml(["drône"], path=None, splits_present={"train"}, version="v-1").decode()
    assert "# no image fell into 'val': val points at the train images\n" in text
    doc = yaml.safe_load(text)
    assert doc == {"train": "images/train", "val": "images/train", "names": {0: "drône"}}
    assert "drône" in text  # unicode names as they are, not escaped

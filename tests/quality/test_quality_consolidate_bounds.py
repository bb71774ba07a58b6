"""Consolidation is bounded: hostile numbers are LabelErrors, many boxes never build an all-pairs matrix, and
images with too many overlapping boxes are refused (that image only), quickly."""

from __future__ import annotations

import random
import time
import tracemalloc
from typing import Any

import pytest

from gtlabel.errors import LabelError
from gtlabel.quality.consolidate import MAX_CANDIDATE_PAIRS, consolidate_bounding_boxes

LABELS = ["drone", "vehicle"]


def ans(boxes: list[dict[str, Any]], w: int = 4000, h: int = 3000) -> dict[str, Any]:
    return {"boundingBox": {"boundingBoxes": boxes, "inputImageProperties": {"width": w, "height": h}}}


def scattered(n: int, rng: random.Random) -> list[dict[str, Any]]:
    return [{"label": rng.choice(LABELS), "left": rng.randint(0, 3900), "top": rng.randint(0, 2900),
             "width": rng.randint(5, 100), "height": rng.randint(5, 100)} for _ in range(n)]


@pytest.mark.parametrize("bad", [{"left": 10**400}, {"left": 1e308, "width": 1e308}, {"top": float("nan")},
                                 {"height": float("inf")}, {"inputImageProperties": True}])
def test_hostile_numbers_are_label_errors_not_crashes(bad: dict[str, Any]) -> None:
    honest = ans([{"label": "drone", "left": 10, "top": 10, "width": 20, "height": 20}])
    box = {"label": "drone", "left": 10, "top": 10, "width": 20, "height": 20}
    if "inputImageProperties" in bad:
        hostile = {"boundingBox": {"boundingBoxes": [box], "inputImageProperties": {"width": 1e308, "height": 1}}}
    else:
        hostile = ans([{**box, **bad}])
    with pytest.raises(LabelError) as ei:  # on main: OverflowError, or an inf box written out
        consolidate_bounding_boxes([honest, hostile], LABELS)
    assert ei.value.field is not None and ei.value.field.startswith("worker_answers[1]")


def test_many_boxes_use_bounded_memory() -> None:
    rng = random.Random(1)
    answers = [ans(scattered(4000, rng)), ans(scattered(4000, rng))]
    tracemalloc.start()
    try:
        res = consolidate_bounding_boxes(answers, LABELS)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # an 8,000 x 8,000 IoU matrix alone is 512 MB (main built several)
    assert peak < 120 * 2**20, f"peak {peak / 2**20:.0f} MB"
    assert res.worker_count == 2 and len(res.label["annotations"]) > 7000  # quorum 1 of 2 keeps every box


def test_stacked_boxes_over_the_bound_are_refused_quickly() -> None:
    same = [{"label": "drone", "left": 10, "top": 10, "width": 100, "height": 100}] * 2500
    start = time.monotonic()
    with pytest.raises(LabelError, match=f"more than {MAX_CANDIDATE_PAIRS} pairs"):
        consolidate_bounding_boxes([ans(same), ans(same), ans(same)], LABELS)
    assert time.monotonic() - start < 20  # generous for a shared machine; about 0.3 s alone


def test_spatial_search_finds_the_same_groups_as_all_pairs() -> None:
    import gtlabel.quality.consolidate as c

    rng = random.Random(7)
    truth = scattered(40, rng)
    answers = []
    for _ in range(3):
        boxes = [dict(b, left=b["left"] + rng.randint(-2, 2), top=b["top"] + rng.randint(-2, 2)) for b in truth]
        answers.append(ans(boxes + scattered(5, rng)))
    old = c.SMALL_IMAGE_BOXES
    try:
        c.SMALL_IMAGE_BOXES = 10**9
        py = c.consolidate_bounding_boxes(answers, LABELS)
        c.SMALL_IMAGE_BOXES = -1
        swept = c.consolidate_bounding_boxes(answers, LABELS)
    finally:
        c.SMALL_IMAGE_BOXES = old
    assert (py.label, py.objects, py.members) == (swept.label, swept.objects, swept.members)
    assert len(py.label["annotations"]) >= 40

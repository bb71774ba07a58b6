"""Active learning: uncertainty scores, top-K ordering, and the ranked input manifest."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gtlabel.cli import app
from gtlabel.errors import ConfigError
from gtlabel.manifests import iter_output_manifest
from gtlabel.model.active import STRATEGIES, Ranked, rank, rank_predictions, score_confidences, select_diverse
from gtlabel.model.common import ImageItem
from gtlabel.model.preannotate import Detection, Prediction


def _pred(*confs: float) -> Prediction:
    return Prediction(64, 64, tuple(Detection(0, "drone", c, 1, 1, 20, 20) for c in confs))


def test_scores() -> None:
    assert score_confidences([0.5], "entropy") == 1.0
    assert score_confidences([0.9, 0.2], "entropy") == round(-(0.2 * math.log2(0.2) + 0.8 * math.log2(0.8)), 6)
    assert score_confidences([], "entropy") == 0.0
    assert score_confidences([0.9, 0.3], "least_confidence") == 0.1
    assert score_confidences([], "least_confidence") == 1.0
    assert score_confidences([0.5, 0.95], "margin") == 1.0
    assert score_confidences([0.75], "margin", threshold=0.5) == 0.5
    assert score_confidences([0.1, 0.3, 0.6, 0.9], "low_confidence_count") == 2.0
    with pytest.raises(ConfigError, match="choose one of"):
        score_confidences([0.5], "random")


def test_rank_orders_by_uncertainty_ties_in_input_order() -> None:
    confs = {"a": (0.99,), "b": (0.5,), "c": (0.7,), "d": (0.5,), "e": (), "f": (0.6, 0.98)}
    pairs = [(ImageItem(uri=k, source_ref=k), _pred(*v)) for k, v in confs.items()]
    ranked = rank_predictions(iter(pairs), top_k=4, strategy="entropy")
    assert [r.item.source_ref for r in ranked] == ["b", "d", "f", "c"]
    assert [r.score for r in ranked] == sorted((r.score for r in ranked), reverse=True)
    full = rank_predictions(iter(pairs), top_k=100, strategy="entropy")
    assert [r.item.source_ref for r in full][:4] == ["b", "d", "f", "c"] and len(full) == 6
    lc = rank_predictions(iter(pairs), top_k=2, strategy="least_confidence")
    assert [r.item.source_ref for r in lc] == ["e", "b"]  # nothing found = least confident
    with pytest.raises(ConfigError):
        rank_predictions(iter(pairs), top_k=0)


@pytest.mark.parametrize("strategy", sorted(STRATEGIES))
def test_bounded_heap_matches_full_sort(strategy: str) -> None:
    import random

    rng = random.Random(7)
    pairs = [(ImageItem(uri=str(i), source_ref=str(i)), _pred(*(round(rng.random(), 2) for _ in range(rng.randint(0, 4)))))
             for i in range(300)]
    top = rank_predictions(iter(pairs), top_k=25, strategy=strategy)
    scored = sorted(((score_confidences([d.confidence for d in p.detections], strategy), -i) for i, (_, p) in
                     enumerate(pairs)), reverse=True)[:25]
    assert [int(r.item.source_ref) for r in top] == [-i for _, i in scored]


def test_rank_with_the_model_writes_top_k_manifest(trained: dict[str, object], yolo_dataset: Path,
                                                   tmp_path: Path) -> None:
    imgs = sorted((yolo_dataset.parent / "images" / "val").glob("*.jpg"))
    manifest = tmp_path / "pool.manifest"
    for p in imgs:
        (tmp_path / p.name).write_bytes(p.read_bytes())
    manifest.write_text("".join(json.dumps({"source-ref": p.name, "pool": "val", "active-learning": "old"}) + "\n"
                                for p in imgs))
    full = rank(str(trained["weights"]), manifest, tmp_path / "all.manifest", top_k=len(imgs), conf=0.0001,
                imgsz=160, strategy="least_confidence")
    top = rank(str(trained["weights"]), manifest, tmp_path / "top.manifest", top_k=3, conf=0.0001, imgsz=160,
               strategy="least_confidence", prelabel_attribute="model-boxes", prelabel_conf=0.0001,
               class_names=["drone", "vehicle", "person"])
    assert full.scored == len(imgs) == top.scored and top.written == 3
    scores = [s for _, s in full.top]
    assert scores == sorted(scores, reverse=True)
    assert top.top == full.top[:3]
    lines = [json.loads(x) for x in (tmp_path / "top.manifest").read_text().splitlines()]
    assert [ln["source-ref"] for ln in lines] == [r for r, _ in full.top[:3]]
    assert [ln["active-learning"]["rank"] for ln in lines] == [1, 2, 3]
    assert all(ln["pool"] == "val" and ln["active-learning"]["strategy"] == "least_confidence" for ln in lines)
    recs = list(iter_output_manifest(tmp_path / "top.manifest", label_attribute="model-boxes"))
    assert len(recs) == 3 and all(r.human_annotated is False for r in recs)
    assert recs[0].extra["active-learning"]["score"] == scores[0]


def test_cli_rank(trained: dict[str, object], yolo_dataset: Path, tmp_path: Path) -> None:
    imgs = tmp_path / "imgs"
    imgs.mkdir()
    for p in sorted((yolo_dataset.parent / "images" / "test").glob("*.jpg"))[:4]:
        (imgs / p.name).write_bytes(p.read_bytes())
    out = tmp_path / "ranked.manifest"
    r = CliRunner().invoke(app, ["rank", str(trained["weights"]), str(imgs), "-o", str(out), "-k", "2",
                                 "--conf", "0.0001", "--imgsz", "160"])
    assert r.exit_code == 0, r.output
    assert "top 2 of 4 by entropy" in r.output
    assert len(out.read_text().splitlines()) == 2
    r = CliRunner().invoke(app, ["rank", str(trained["weights"]), str(imgs), "-o", str(out), "--strategy", "dice"])
    assert r.exit_code == 3


def test_select_diverse_spreads_a_burst_out() -> None:
    # six images in score order: a burst of four near-identical frames (hashes a few bits apart) on top
    burst = [0xF0F0_F0F0_F0F0_F0F0, 0xF0F0_F0F0_F0F0_F0F1, 0xF0F0_F0F0_F0F0_F0F3, 0xF0F0_F0F0_F0F0_F0F7]
    others = [0x0123_4567_89AB_CDEF, 0xFEDC_BA98_7654_3210]
    hashes: list[int | None] = [*burst, *others, None]
    ranked = [Ranked(ImageItem(uri=str(i), source_ref=f"img{i}"), _pred(0.5), 1.0 - i / 10, i) for i in range(7)]
    got = select_diverse(ranked, hashes, 4, 8)
    assert [(r.item.source_ref, near.item.source_ref if near else None) for r, near in got] == \
        [("img0", None), ("img4", None), ("img5", None), ("img6", None)]  # unreadable (None) counts as distinct
    got = select_diverse(ranked, hashes, 6, 8)
    assert [r.item.source_ref for r, _ in got] == ["img0", "img4", "img5", "img6", "img1", "img2"]
    assert [near.item.source_ref for _, near in got[4:] if near] == ["img0", "img0"]
    assert select_diverse(ranked, hashes, 6, 8) == got  # deterministic
    assert [r.item.source_ref for r, _ in select_diverse(ranked, hashes, 4, 0)] == ["img0", "img1", "img2", "img3"]
    with pytest.raises(ConfigError, match="distance"):
        select_diverse(ranked, hashes, 4, 17)


def test_rank_with_diversity_spreads_a_burst_of_uncertain_frames(trained: dict[str, object], yolo_dataset: Path,
                                                                 tmp_path: Path) -> None:
    imgs = sorted((yolo_dataset.parent / "images" / "val").glob("*.jpg"))
    for p in imgs:
        (tmp_path / p.name).write_bytes(p.read_bytes())
    weights = str(trained["weights"])

    def manifest(name: str, refs: list[str]) -> Path:
        path = tmp_path / name
        path.write_text("".join(json.dumps({"source-ref": r}) + "\n" for r in refs))
        return path

    plain = rank(weights, manifest("pool.manifest", [p.name for p in imgs]), tmp_path / "plain.manifest",
                 top_k=1, conf=0.0001, imgsz=160)
    hardest = plain.top[0][0]
    # the drone hovered: the hardest frame, four times more (the same scene, so the same uncertainty)
    for i in range(4):
        (tmp_path / f"burst{i}.jpg").write_bytes((tmp_path / hardest).read_bytes())
    refs = [hardest, *(f"burst{i}.jpg" for i in range(4)), *(p.name for p in imgs if p.name != hardest)]
    pool = manifest("burst.manifest", refs)
    burst = {hardest, *(f"burst{i}.jpg" for i in range(4))}
    top = rank(weights, pool, tmp_path / "top.manifest", top_k=4, conf=0.0001, imgsz=160)
    assert {ref for ref, _ in top.top} <= burst  # by uncertainty alone: four neighbours of one hard frame
    diverse = rank(weights, pool, tmp_path / "diverse.manifest", top_k=4, conf=0.0001, imgsz=160, diversity=8)
    picked = [ref for ref, _ in diverse.top]
    assert len(picked) == 4 and len(set(picked) & burst) == 1 and diverse.near_duplicates == 0
    lines = [json.loads(x) for x in (tmp_path / "diverse.manifest").read_text().splitlines()]
    assert [ln["active-learning"]["rank"] for ln in lines] == [1, 2, 3, 4]
    # asked for more than the distinct ones: the rest of the burst comes last, each naming the frame it repeats
    more = rank(weights, pool, tmp_path / "more.manifest", top_k=len(imgs) + 2, conf=0.0001, imgsz=160,
                diversity=8)
    tail = [json.loads(x) for x in (tmp_path / "more.manifest").read_text().splitlines()][len(imgs):]
    assert len(tail) == 2 and all(t["source-ref"] in burst for t in tail)
    assert all(t["active-learning"]["near_duplicate_of"] in burst for t in tail) and more.near_duplicates == 2
    r = CliRunner().invoke(app, ["rank", weights, str(pool), "-o", str(tmp_path / "cli.manifest"), "-k", "4",
                                 "--conf", "0.0001", "--imgsz", "160", "--diversity", "8"])
    assert r.exit_code == 0, r.output
    assert [json.loads(x)["source-ref"] for x in (tmp_path / "cli.manifest").read_text().splitlines()] == picked

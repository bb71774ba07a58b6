"""model/sliced.py's pure core against SAHI itself: the tile grid (sahi.slicing.get_slice_bboxes) and the merge
(sahi.postprocess.combine's NMSPostprocess / GreedyNMMPostprocess) on random clustered boxes."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gtlabel.errors import ConfigError
from gtlabel.model.sliced import SAHI_NAMES, SliceOptions, merge_boxes, slice_options, windows

sahi_slicing = pytest.importorskip("sahi.slicing")
from sahi.postprocess.combine import GreedyNMMPostprocess, NMSPostprocess  # noqa: E402
from sahi.prediction import ObjectPrediction  # noqa: E402


@given(w=st.integers(1, 5000), h=st.integers(1, 5000), sw=st.integers(32, 1200), sh=st.integers(32, 1200),
       ov=st.floats(0.0, 0.95))
def test_windows_are_sahis_grid(w: int, h: int, sw: int, sh: int, ov: float) -> None:
    if (w // max(1, sw - int(ov * sw))) * (h // max(1, sh - int(ov * sh))) > 20_000:
        return  # a grid this fine is legal but slow to compare
    ours = windows(w, h, SliceOptions(width=sw, height=sh, overlap=ov))
    theirs = sahi_slicing.get_slice_bboxes(h, w, slice_height=sh, slice_width=sw, overlap_height_ratio=ov,
                                           overlap_width_ratio=ov)
    assert ours == [tuple(b) for b in theirs]


def test_windows_of_a_drone_frame() -> None:
    wins = windows(4000, 3000, SliceOptions())
    assert len(wins) == 8 * 6
    assert wins[0] == (0, 0, 640, 640) and wins[1] == (512, 0, 1152, 640)
    assert wins[7] == (3360, 0, 4000, 640) and wins[-1] == (3360, 2360, 4000, 3000)  # edges shifted inward
    assert all(x1 - x0 == 640 and y1 - y0 == 640 for x0, y0, x1, y1 in wins)
    assert windows(300, 200, SliceOptions()) == [(0, 0, 300, 200)]  # smaller than a tile: the frame


def _clustered(seed: int, n_objects: int, copies: int, classes: int = 3
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Objects seen several times with jitter (as overlapping tiles see them), clipped copies among them,
    scores on a coarse grid so that ties happen."""
    rng = np.random.default_rng(seed)
    boxes, scores, cls = [], [], []
    for _ in range(n_objects):
        x, y = rng.uniform(0, 3000, 2)
        w, h = rng.uniform(4, 80, 2)
        c = int(rng.integers(classes))
        for _ in range(int(rng.integers(1, copies + 1))):
            j = rng.normal(0, 0.15, 4) * [w, h, w, h]
            b = np.array([x, y, x + w, y + h]) + j
            if rng.random() < 0.3:  # a copy cut at a tile border
                b[2] = b[0] + (b[2] - b[0]) * rng.uniform(0.3, 0.9)
            b = np.maximum(b, 0)
            if b[2] <= b[0] or b[3] <= b[1]:
                continue
            boxes.append(b)
            scores.append(np.float32(np.round(rng.uniform(0.05, 1.0), 2)))
            cls.append(c if rng.random() < 0.9 else int(rng.integers(classes)))
    return np.array(boxes, dtype=np.float64).reshape(-1, 4), np.array(scores, np.float32), np.array(cls, np.int64)


def _sahi(boxes: np.ndarray, scores: np.ndarray, cls: np.ndarray, merge: str, match: str, thr: float,
          agnostic: bool) -> list[tuple[float, ...]]:
    preds = [ObjectPrediction(bbox=b.tolist(), category_id=int(c), score=s, category_name=str(int(c)),
                              shift_amount=[0, 0], full_shape=None) for b, s, c in zip(boxes, scores, cls, strict=True)]
    post = (NMSPostprocess if merge == "nms" else GreedyNMMPostprocess)(
        match_threshold=thr, match_metric=SAHI_NAMES[match], class_agnostic=agnostic)
    out = post(preds) if len(preds) > 1 else preds
    return sorted((*p.bbox.to_xyxy(), float(p.score.value), float(p.category.id)) for p in out)


def _ours(boxes: np.ndarray, scores: np.ndarray, cls: np.ndarray, merge: str, match: str, thr: float,
          agnostic: bool) -> list[tuple[float, ...]]:
    r = merge_boxes(boxes, scores, cls, merge=merge, match=match, threshold=thr, class_agnostic=agnostic)
    assert list(r.conf) == sorted(r.conf, reverse=True)
    return sorted((*map(float, b), float(s), float(c)) for b, s, c in zip(r.xyxy, r.conf, r.cls, strict=True))


@pytest.mark.parametrize("merge", ["nms", "nmm"])
@pytest.mark.parametrize("match", ["iou", "ios"])
@pytest.mark.parametrize("agnostic", [False, True])
def test_merge_equals_sahis_postprocess(merge: str, match: str, agnostic: bool) -> None:
    for seed, thr in ((0, 0.5), (1, 0.3), (2, 0.7), (3, 0.1)):
        boxes, scores, cls = _clustered(seed, 150, 5)
        assert len(boxes) > 200
        ours = _ours(boxes, scores, cls, merge, match, thr, agnostic)
        theirs = _sahi(boxes, scores, cls, merge, match, thr, agnostic)
        assert len(ours) < len(boxes)  # something was merged
        assert ours == theirs, (seed, thr)


@given(seed=st.integers(0, 2**32 - 1), n=st.integers(0, 12), copies=st.integers(1, 6),
       merge=st.sampled_from(["nms", "nmm"]), match=st.sampled_from(["iou", "ios"]),
       thr=st.sampled_from([0.05, 0.3, 0.5, 0.9, 1.0]), agnostic=st.booleans())
def test_merge_equals_sahi_property(seed: int, n: int, copies: int, merge: str, match: str, thr: float,
                                    agnostic: bool) -> None:
    boxes, scores, cls = _clustered(seed, n, copies, classes=2)
    assert _ours(boxes, scores, cls, merge, match, thr, agnostic) == _sahi(boxes, scores, cls, merge, match, thr,
                                                                          agnostic)


def test_merge_many_boxes_in_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Past SAHI's sparse switch (2000 boxes) and through several pair chunks: still SAHI's answer."""
    import gtlabel.model.sliced as sliced

    monkeypatch.setattr(sliced, "_PAIR_CHUNK", 500)
    boxes, scores, cls = _clustered(7, 900, 4)
    assert len(boxes) > 2000
    for merge in ("nms", "nmm"):
        assert _ours(boxes, scores, cls, merge, "ios", 0.5, False) == _sahi(boxes, scores, cls, merge, "ios", 0.5,
                                                                            False)


def test_nmm_merges_clipped_copies_into_one_box() -> None:
    # one vehicle seen whole by one tile (0.9) and cut by the next (0.6): IOS 1.0, IOU 0.5
    boxes = np.array([[100, 100, 120, 110], [110, 100, 120, 110], [300, 300, 310, 310]], dtype=float)
    scores = np.array([0.9, 0.6, 0.4], np.float32)
    r = merge_boxes(boxes, scores, np.zeros(3, np.int64), merge="nmm", match="ios", threshold=0.5)
    assert r.xyxy.tolist() == [[100, 100, 120, 110], [300, 300, 310, 310]]
    r = merge_boxes(boxes, scores, np.zeros(3, np.int64), merge="nms", match="iou", threshold=0.6)
    assert len(r) == 3  # IOU 0.5 < 0.6: both copies stay
    r = merge_boxes(boxes, scores, np.array([0, 1, 0]), merge="nms", match="ios", threshold=0.5)
    assert len(r) == 3  # other class: kept
    assert len(merge_boxes(np.zeros((0, 4)), np.zeros(0), np.zeros(0), merge="nmm")) == 0


@pytest.mark.parametrize("kwargs, msg", [
    ({"overlap": 1.0}, "overlap"), ({"overlap": -0.1}, "overlap"), ({"merge": "wbf"}, "merge"),
    ({"match": "giou"}, "match"), ({"threshold": 0.0}, "threshold"), ({"width": 16}, "32x32"),
    ({"batch": 0}, "batch"), ({"workers": 0}, "workers"), ({"workers": True}, "workers"), ({"workers": 2.0}, "workers"),
])
def test_bad_options_are_config_errors(kwargs: dict[str, object], msg: str) -> None:
    with pytest.raises(ConfigError, match=msg):
        SliceOptions(**kwargs)  # type: ignore[arg-type]


def test_slice_options_forms() -> None:
    assert slice_options(None) is None
    assert slice_options(640) == SliceOptions()
    o = slice_options((1024, 768), overlap=0.25, merge="nmm", match="iou")
    assert o is not None and (o.width, o.height, o.overlap, o.merge, o.match) == (1024, 768, 0.25, "nmm", "iou")
    assert slice_options(o) is o
    with pytest.raises(ConfigError, match="slice"):
        slice_options("big")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="slice"):
        slice_options(True)


class _FakeYolo:
    """Records the predict calls; every tile 'sees' one box at its centre (tile pixels)."""

    def __init__(self) -> None:
        self.calls: list[list[tuple[int, int]]] = []

    def predict(self, images: object, **_kw: object) -> list[object]:
        import torch

        batch = images if isinstance(images, list) else [images]
        self.calls.append([im.shape[:2] for im in batch])  # type: ignore[attr-defined]
        out = []
        for im in batch:
            h, w = im.shape[:2]  # type: ignore[attr-defined]
            data = torch.tensor([[w / 2 - 5, h / 2 - 5, w / 2 + 5, h / 2 + 5, 0.9, 1.0]])
            out.append(type("R", (), {"boxes": type("B", (), {"data": data})()})())
        return out


@pytest.mark.parametrize("device, batch, calls", [("cpu", None, 48 + 1), ("cuda:0", None, 1 + 1), ("cpu", 10, 5 + 1),
                                                  ("cpu", 1000, 1 + 1)])
def test_tiles_per_call(device: str, batch: int | None, calls: int) -> None:
    from gtlabel.model.sliced import predict_tiles

    fake = _FakeYolo()
    frame = np.zeros((3000, 4000, 3), np.uint8)
    raw = predict_tiles(fake, frame, SliceOptions(batch=batch), device=device)
    assert len(fake.calls) == calls and fake.calls[-1] == [(3000, 4000)]  # the whole frame on its own
    assert sum(len(c) for c in fake.calls) == 48 + 1
    wins = windows(4000, 3000, SliceOptions())
    centres = [*(((x0 + x1) / 2, (y0 + y1) / 2) for x0, y0, x1, y1 in wins), (2000.0, 1500.0)]
    got = sorted(((a + c) / 2, (b + d) / 2) for a, b, c, d in raw.xyxy.tolist())
    assert got == sorted(centres)  # each tile's box shifted to the tile's place in the frame

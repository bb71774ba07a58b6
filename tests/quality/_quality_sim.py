"""A simulated workforce with known truth, for the quality tests (not a test module).

Truth boxes are drawn at random on images of known size; each simulated worker redraws every truth box with
Gaussian edge noise (``noise`` x box size), misses some (``miss``), adds some false boxes (``extra``) and may
mislabel (``swap``). A "bad" worker has large noise, many misses and many false boxes.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

LABELS = ["drone", "vehicle", "person", "building"]


@dataclass
class SimWorker:
    worker_id: str
    noise: float = 0.04
    miss: float = 0.05
    extra: float = 0.05
    swap: float = 0.0
    seconds: float = 20.0


@dataclass
class SimImage:
    object_id: str
    source_ref: str
    width: int
    height: int
    truth: list[dict[str, Any]] = field(default_factory=list)


GOOD = [SimWorker("w-alice", 0.03), SimWorker("w-bob", 0.04), SimWorker("w-carol", 0.035),
        SimWorker("w-dave", 0.04), SimWorker("w-erin", 0.03)]
BAD = SimWorker("w-mallory", noise=0.35, miss=0.45, extra=0.8, swap=0.3, seconds=3.0)


def make_images(n: int, seed: int = 0, bucket: str = "data") -> list[SimImage]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        w, h = rng.choice([(640, 480), (800, 600), (1024, 768)])
        img = SimImage(f"{i}", f"s3://{bucket}/images/img_{i:04d}.jpg", w, h)
        for _ in range(rng.randint(0, 6)):
            bw, bh = rng.randint(30, 160), rng.randint(30, 160)
            img.truth.append({"label": rng.choice(LABELS), "left": rng.randint(0, w - bw),
                              "top": rng.randint(0, h - bh), "width": bw, "height": bh})
        out.append(img)
    return out


def answer(worker: SimWorker, img: SimImage, rng: random.Random) -> dict[str, Any]:
    """The crowd-bounding-box answer this worker gives for the image."""
    boxes = []
    for t in img.truth:
        if rng.random() < worker.miss:
            continue
        s = worker.noise
        x0 = t["left"] + rng.gauss(0, s * t["width"])
        y0 = t["top"] + rng.gauss(0, s * t["height"])
        x1 = t["left"] + t["width"] + rng.gauss(0, s * t["width"])
        y1 = t["top"] + t["height"] + rng.gauss(0, s * t["height"])
        x0, y0 = max(0, min(img.width - 2, round(x0))), max(0, min(img.height - 2, round(y0)))
        x1, y1 = max(x0 + 2, min(img.width, round(x1))), max(y0 + 2, min(img.height, round(y1)))
        label = t["label"] if rng.random() >= worker.swap else rng.choice([x for x in LABELS if x != t["label"]])
        boxes.append({"label": label, "left": x0, "top": y0, "width": x1 - x0, "height": y1 - y0})
    while rng.random() < worker.extra:
        bw, bh = rng.randint(20, 120), rng.randint(20, 120)
        boxes.append({"label": rng.choice(LABELS), "left": rng.randint(0, img.width - bw),
                      "top": rng.randint(0, img.height - bh), "width": bw, "height": bh})
    return {"boundingBoxes": boxes, "inputImageProperties": {"width": img.width, "height": img.height}}


def iou(a: dict[str, Any], b: dict[str, Any]) -> float:
    ax1, ay1 = a["left"] + a["width"], a["top"] + a["height"]
    bx1, by1 = b["left"] + b["width"], b["top"] + b["height"]
    iw = min(ax1, bx1) - max(a["left"], b["left"])
    ih = min(ay1, by1) - max(a["top"], b["top"])
    if iw <= 0 or ih <= 0:
        return 0.0
    inter = iw * ih
    return inter / (a["width"] * a["height"] + b["width"] * b["height"] - inter)


def truth_error(pred: list[dict[str, Any]], truth: list[dict[str, Any]]) -> float:
    """Mean over truth boxes of (1 - best IoU with a same-label predicted box): 0 is perfect, misses cost 1.
    False positives cost 1 each too (normalized by truth+fp)."""
    used: set[int] = set()
    cost = 0.0
    for t in truth:
        best, bi = 0.0, -1
        for i, p in enumerate(pred):
            if i in used or p["label"] != t["label"]:
                continue
            v = iou(p, t)
            if v > best:
                best, bi = v, i
        if bi >= 0 and best >= 0.3:
            used.add(bi)
            cost += 1.0 - best
        else:
            cost += 1.0
    fp = len(pred) - len(used)
    denom = len(truth) + fp
    return (cost + fp) / denom if denom else 0.0

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


# ------------------------------------------------------------------------------------------ a job's output files
def write_job(root: str, images: list[SimImage], workers: list[SimWorker], *, per_image: int = 3, seed: int = 0,
              attr: str = "drones", gold_every: int = 4, id_offset: int = 1000, iteration_size: int = 25,
              identity: dict[str, tuple[str, str]] | None = None) -> dict[str, Any]:
    """Write a Ground-Truth-layout job output under ``root`` (local path or s3://) from simulated answers.

    Worker-response files carry no source-ref (as the local service and AWS write them); the consolidation-
    request files map the (deliberately non-line-number) datasetObjectIds to images. Returns the paths and the
    per-image answers. Every ``gold_every``-th image goes into a truth manifest. ``identity``: worker id ->
    (Cognito sub, issuer), written as the answers' ``workerMetadata`` (private workforces).
    """
    import json

    from gtlabel import storage
    from gtlabel.quality.consolidate import consolidate_bounding_boxes

    rng = random.Random(seed)
    order = list(range(len(images)))
    rng.shuffle(order)
    lines: list[str] = []
    truth_lines: list[str] = []
    requests: dict[int, list[dict[str, Any]]] = {}
    answered: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    for line_no, img in enumerate(images):
        object_id = str(id_offset + order[line_no])  # an opaque id, NOT the line number
        iteration = 1 + line_no // iteration_size
        team = rng.sample(workers, per_image)
        answers = [(w.worker_id, answer(w, img, rng)) for w in team]
        answered[img.source_ref] = answers
        t0 = 1_700_000_000 + line_no * 100
        doc = {"answers": [{
            "workerId": wid, "acceptanceTime": _iso(t0), "submissionTime": _iso(t0 + w.seconds),
            "timeSpentInSeconds": round(w.seconds * rng.uniform(0.7, 1.3), 3),
            "answerContent": {"boundingBox": a},
            **({"workerMetadata": {"identityData": {"identityProviderType": "Cognito", "sub": identity[wid][0],
                                                    "issuer": identity[wid][1]}}}
               if identity and wid in identity else {})} for (wid, a), w in zip(answers, team, strict=True)]}
        storage.write_bytes(f"{root}/annotations/worker-response/iteration-{iteration}/{object_id}/"
                            f"2023-11-14_22:13:{line_no % 60:02d}.json", json.dumps(doc).encode())
        requests.setdefault(iteration, []).append({
            "datasetObjectId": object_id, "dataObject": {"s3Uri": img.source_ref},
            "annotations": [{"workerId": wid, "annotationData": {"content": json.dumps({"boundingBox": a})}}
                            for wid, a in answers]})
        r = consolidate_bounding_boxes([a for _, a in answers], LABELS)
        lines.append(json.dumps({"source-ref": img.source_ref, attr: r.label,
                                 f"{attr}-metadata": r.metadata(job_name="labeling-job/sim",
                                                                creation_date="2023-11-14T22:13:20.000000")}))
        if gold_every and line_no % gold_every == 0:
            tl = {"image_size": [{"width": img.width, "height": img.height, "depth": 3}],
                  "annotations": [{"class_id": LABELS.index(t["label"]), **{k: t[k] for k in
                                   ("left", "top", "width", "height")}} for t in img.truth]}
            cmap = {str(LABELS.index(t["label"])): t["label"] for t in img.truth}
            truth_lines.append(json.dumps({"source-ref": img.source_ref, "truth": tl, "truth-metadata": {
                "objects": [{"confidence": 1.0} for _ in img.truth], "class-map": cmap,
                "type": "groundtruth/object-detection", "human-annotated": "yes"}}))
    for iteration, items in requests.items():
        storage.write_bytes(f"{root}/annotations/consolidated-annotation/consolidation-request/"
                            f"iteration-{iteration}/2023-11-14_22:14:00.json", json.dumps(items).encode())
    out = f"{root}/manifests/output/output.manifest"
    storage.write_bytes(out, ("\n".join(lines) + "\n").encode())
    truth = f"{root}/truth.manifest"
    storage.write_bytes(truth, ("\n".join(truth_lines) + "\n").encode())
    return {"output": out, "truth": truth, "answers": answered}


def _iso(t: float) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"

"""Benchmark: bounding-box consolidation (gtlabel.quality.consolidate) beside a naive pure-Python matcher.

    .venv/bin/python bench/bench_consolidate.py                       # 100,000 objects x 3 workers x ~6 boxes
    .venv/bin/python bench/bench_consolidate.py --objects 10000       # a quick run while developing

What is measured (same run, same machine, same generated answers):

- **gtlabel**: ``consolidate_bounding_boxes(answers, labels)`` per object: parse the crowd-bounding-box answers,
  IoU matrix (numpy), average-linkage clustering with one box per worker, quorum vote, averaging, clipping,
  per-box confidence, output dicts. Input answers are generated in chunks (not timed) so memory stays flat.
- **naive**: the textbook per-image matcher in pure Python: all-pairs IoU with nested loops (O(n^2) in the boxes
  of one image), greedy single-linkage merge with the same one-box-per-worker and quorum rules, mean boxes. It
  runs on the first ``--naive-objects`` objects (it is much slower) and is reported as boxes/s.

Boxes/s counts every worker box given to consolidation (objects x workers x boxes per answer). Target: gtlabel
>= 50,000 boxes/s. Prints a markdown table; ``--json`` also writes the figures.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import random
import sys
import time
from typing import Any

LABELS = ["drone", "vehicle", "person", "building"]


def make_objects(n: int, workers: int, boxes: float, rng: random.Random) -> list[list[dict[str, Any]]]:
    """``n`` objects; each has ~``boxes`` true boxes (uniform 3..2*boxes-3) redrawn by every worker with 4 %
    edge noise, a 5 % miss rate and a 5 % chance of one extra box."""
    out = []
    lo, hi = max(1, round(boxes) - 3), round(boxes) + 3
    for _ in range(n):
        w, h = 1280, 720
        truth = []
        for _ in range(rng.randint(lo, hi)):
            bw, bh = rng.randint(20, 200), rng.randint(20, 200)
            truth.append((rng.choice(LABELS), rng.randint(0, w - bw), rng.randint(0, h - bh), bw, bh))
        answers = []
        for _ in range(workers):
            bxs = []
            for label, x, y, bw, bh in truth:
                if rng.random() < 0.05:
                    continue
                x0 = x + rng.gauss(0, 0.04 * bw)
                y0 = y + rng.gauss(0, 0.04 * bh)
                x1 = x + bw + rng.gauss(0, 0.04 * bw)
                y1 = y + bh + rng.gauss(0, 0.04 * bh)
                bxs.append({"label": label, "left": round(x0), "top": round(y0), "width": max(1, round(x1 - x0)),
                            "height": max(1, round(y1 - y0))})
            if rng.random() < 0.05:
                bxs.append({"label": rng.choice(LABELS), "left": rng.randint(0, 1200), "top": rng.randint(0, 650),
                            "width": rng.randint(10, 80), "height": rng.randint(10, 70)})
            answers.append({"boundingBoxes": bxs, "inputImageProperties": {"width": w, "height": h}})
        out.append(answers)
    return out


# --------------------------------------------------------------------------------------------- the naive matcher
def _iou(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> float:
    iw = min(a[2], b[2]) - max(a[0], b[0])
    ih = min(a[3], b[3]) - max(a[1], b[1])
    if iw <= 0 or ih <= 0:
        return 0.0
    inter = iw * ih
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def naive_consolidate(answers: list[dict[str, Any]], labels: list[str], thr: float = 0.5) -> list[dict[str, Any]]:
    boxes = []
    for w, a in enumerate(answers):
        for b in a["boundingBoxes"]:
            boxes.append((w, labels.index(b["label"]),
                          (b["left"], b["top"], b["left"] + b["width"], b["top"] + b["height"])))
    pairs = []
    for i in range(len(boxes)):
        for j in range(i + 1, len(boxes)):
            if boxes[i][0] != boxes[j][0] and boxes[i][1] == boxes[j][1]:
                v = _iou(boxes[i][2], boxes[j][2])
                if v >= thr:
                    pairs.append((v, i, j))
    pairs.sort(reverse=True)
    group = list(range(len(boxes)))
    members = {i: [i] for i in range(len(boxes))}
    for _, i, j in pairs:
        gi, gj = group[i], group[j]
        if gi == gj or {boxes[k][0] for k in members[gi]} & {boxes[k][0] for k in members[gj]}:
            continue
        members[gi].extend(members.pop(gj))
        for k in members[gi]:
            group[k] = gi
    quorum = max(1, math.ceil(len(answers) / 2))
    out = []
    for m in members.values():
        if len(m) < quorum:
            continue
        xs = [boxes[k][2] for k in m]
        x0 = sum(b[0] for b in xs) / len(xs)
        y0 = sum(b[1] for b in xs) / len(xs)
        x1 = sum(b[2] for b in xs) / len(xs)
        y1 = sum(b[3] for b in xs) / len(xs)
        out.append({"class_id": boxes[m[0]][1], "left": round(x0), "top": round(y0), "width": round(x1 - x0),
                    "height": round(y1 - y0)})
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--objects", type=int, default=100_000)
    ap.add_argument("--workers", type=int, default=3)
    ap.add_argument("--boxes", type=float, default=6.0, help="mean true boxes per object")
    ap.add_argument("--naive-objects", type=int, default=5_000)
    ap.add_argument("--chunk", type=int, default=5_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", help="write the figures here")
    args = ap.parse_args(argv)

    from gtlabel.quality.consolidate import consolidate_bounding_boxes

    rng = random.Random(args.seed)
    total_boxes = 0
    out_boxes = 0
    t_ours = 0.0
    t_naive = 0.0
    naive_boxes = 0
    naive_left = args.naive_objects
    done = 0
    while done < args.objects:
        n = min(args.chunk, args.objects - done)
        objs = make_objects(n, args.workers, args.boxes, rng)
        nb = sum(len(a["boundingBoxes"]) for o in objs for a in o)
        t0 = time.perf_counter()
        for o in objs:
            out_boxes += len(consolidate_bounding_boxes(o, LABELS).objects)
        t_ours += time.perf_counter() - t0
        total_boxes += nb
        if naive_left > 0:
            sub = objs[:naive_left]
            t0 = time.perf_counter()
            for o in sub:
                naive_consolidate(o, LABELS)
            t_naive += time.perf_counter() - t0
            naive_boxes += sum(len(a["boundingBoxes"]) for o in sub for a in o)
            naive_left -= len(sub)
        done += n
        print(f"  {done:,}/{args.objects:,} objects, {total_boxes / t_ours:,.0f} boxes/s so far", file=sys.stderr)

    ours = total_boxes / t_ours
    naive = naive_boxes / t_naive if t_naive else float("nan")
    figures = {
        "objects": args.objects, "workers": args.workers, "input_boxes": total_boxes,
        "boxes_per_answer": round(total_boxes / (args.objects * args.workers), 2),
        "consolidated_boxes": out_boxes, "gtlabel_seconds": round(t_ours, 3), "gtlabel_boxes_per_s": round(ours),
        "naive_objects": min(args.naive_objects, args.objects), "naive_boxes": naive_boxes,
        "naive_seconds": round(t_naive, 3), "naive_boxes_per_s": round(naive) if naive == naive else None,
        "speedup": round(ours / naive, 2) if naive == naive else None, "target_boxes_per_s": 50_000,
        "python": platform.python_version(), "machine": platform.machine(),
    }
    print("| matcher | objects | input boxes | seconds | boxes/s |")
    print("| --- | ---: | ---: | ---: | ---: |")
    print(f"| gtlabel consolidate_bounding_boxes | {args.objects:,} | {total_boxes:,} | {t_ours:.2f} | {ours:,.0f} |")
    print(f"| naive pure-Python O(n^2) | {figures['naive_objects']:,} | {naive_boxes:,} | {t_naive:.2f} | "
          f"{naive:,.0f} |")
    print(f"\ngtlabel / naive: {figures['speedup']}x; target >= 50,000 boxes/s: "
          f"{'met' if ours >= 50_000 else 'NOT met'}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(figures, fh, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

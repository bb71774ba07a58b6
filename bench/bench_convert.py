"""Benchmark: Ground Truth output manifest -> YOLO label files (gtlabel.convert), beside a floor.

    .venv/bin/python bench/bench_convert.py                      # 100,000 images (~650,000 boxes) + memory check
    .venv/bin/python bench/bench_convert.py --images 20000 --mem-large 100000   # a quick run while developing

What is measured (all in this run, same machine, same files):

- **gtlabel**: ``convert_ground_truth_to_yolo(manifest, out, names, exif="ignore", copy_images=False,
  fingerprint_sources=False)`` (labels only: no image is touched, the images do not exist here): the
  whole conversion: streamed parse into typed records, validation, class mapping, clipping, de-duplication,
  splits, one label file per image in a staging folder renamed into place, lineage.json (per-image sha256),
  conversion-report.json, data.yaml. With its default ``processes`` (one more than the CPUs, at most 8, for a
  manifest of 16 MiB or more) the manifest's blocks are shared by this process and worker processes; the run with
  ``processes=1`` is timed too.
- **floor**: the least any converter must do: ``orjson.loads`` of every line of the same manifest and writing
  the same label files (same paths, same bytes, precomputed) with no other work.
- Target: gtlabel's speed >= 0.7 x the floor's.
- Memory: peak RSS of a fresh process converting a 10,000-line and a 1,000,000-line manifest (same line
  generator); target: the large one within 50 MB of the small one. The largest worker process's peak is shown
  beside it (each worker holds one block at a time).
- Before every timed run ``os.sync()`` writes back what earlier runs left dirty (on a disk, a run would else
  pay for the previous run's writes).

Prints a markdown table. The manifest is generated with a fixed seed (boxes per image uniform 0..13, mean 6.5;
~3 % of boxes cross the image border and get clipped; ~1 % exact duplicates).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson

NAMES = ["drone", "vehicle", "person", "building"]
ATTR = "drone-boxes"


def gen_manifest(path: Path, n: int, seed: int = 0) -> int:
    """Write ``n`` output-manifest lines; returns the number of boxes."""
    rng = random.Random(seed)
    boxes_total = 0
    with open(path, "wb", buffering=1 << 20) as fh:
        for i in range(n):
            w, h = (4000, 3000) if i % 3 else (1920, 1080)
            k = rng.randint(0, 13)
            anns = []
            for _ in range(k):
                c = rng.randrange(4)
                bw, bh = rng.randint(8, 400), rng.randint(8, 300)
                left = rng.randint(-20, w - bw + 20) if rng.random() < 0.03 else rng.randint(0, w - bw)
                top = rng.randint(0, h - bh)
                anns.append({"class_id": c, "left": left, "top": top, "width": bw, "height": bh})
            if anns and rng.random() < 0.07:
                anns.append(dict(anns[0]))
            boxes_total += len(anns)
            present = sorted({a["class_id"] for a in anns})
            line = {
                "source-ref": f"s3://drone-bucket/flights/f{i % 97:03d}/img_{i:07d}.jpg",
                ATTR: {"image_size": [{"width": w, "height": h, "depth": 3}], "annotations": anns},
                f"{ATTR}-metadata": {
                    "objects": [{"confidence": round(rng.random(), 2)} for _ in anns],
                    "class-map": {str(c): NAMES[c] for c in present},
                    "type": "groundtruth/object-detection", "human-annotated": "yes",
                    "creation-date": "2026-11-25T10:00:00.000000", "job-name": "labeling-job/drone-objects"},
            }
            fh.write(orjson.dumps(line))
            fh.write(b"\n")
    return boxes_total


def default_lanes(manifest: str) -> int:
    """How many processes gtlabel's default uses for this manifest."""
    from gtlabel.convert.pool import lanes_for
    from gtlabel.settings import get_settings

    return lanes_for(manifest, get_settings().convert_processes)


def settle() -> None:
    """Before each timed run: write back what earlier runs left dirty, so no run pays for another's writes."""
    os.sync()
    gc.collect()


def run_gtlabel(manifest: Path, out: Path, processes: int | None = None) -> tuple[float, object]:
    from gtlabel.convert import convert_ground_truth_to_yolo

    if out.exists():
        shutil.rmtree(out)
    settle()
    t0 = time.perf_counter()
    rep = convert_ground_truth_to_yolo(manifest, out, NAMES, exif="ignore", copy_images=False,
                                       fingerprint_sources=False, progress=False, processes=processes)
    return time.perf_counter() - t0, rep


def collect_labels(out: Path) -> list[tuple[str, bytes]]:
    lin = orjson.loads((out / "lineage.json").read_bytes())
    return [(e["label"], (out / e["label"]).read_bytes()) for e in lin["images"]]


def run_floor(manifest: Path, out: Path, labels: list[tuple[str, bytes]]) -> float:
    """orjson parse of every line + writing the same label files (no other work)."""
    if out.exists():
        shutil.rmtree(out)
    for d in {str(Path(p).parent) for p, _ in labels}:
        (out / d).mkdir(parents=True, exist_ok=True)
    paths = [(str(out / p), data) for p, data in labels]
    loads = orjson.loads
    settle()
    t0 = time.perf_counter()
    it = iter(paths)
    with open(manifest, "rb", buffering=1 << 20) as fh:
        for line in fh:
            loads(line)
            p, data = next(it)
            with open(p, "wb") as f:
                f.write(data)
    return time.perf_counter() - t0


def child(manifest: str, out: str) -> None:
    """Run one conversion in this (fresh) process and print the peak RSS."""
    from gtlabel.convert import convert_ground_truth_to_yolo

    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    rep = convert_ground_truth_to_yolo(manifest, out, NAMES, exif="ignore", copy_images=False,
                                       fingerprint_sources=False, progress=False)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    workers = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # the largest worker process
    print(json.dumps({"peak_rss_mb": peak / 1024, "after_import_mb": base / 1024, "images": rep.images,
                      "worker_peak_rss_mb": workers / 1024, "processes": default_lanes(manifest)}))


def measure_rss(tmp: Path, n: int) -> dict[str, float]:
    manifest = tmp / f"mem-{n}.manifest"
    gen_manifest(manifest, n, seed=1)
    out = tmp / f"mem-{n}-ds"
    env = {**os.environ, "GTLABEL_PROGRESS": "0"}
    proc = subprocess.run([sys.executable, __file__, "--child", str(manifest), str(out)], capture_output=True,
                          text=True, env=env, check=True)
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    shutil.rmtree(out, ignore_errors=True)
    manifest.unlink()
    return res  # type: ignore[no-any-return]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=3, help="runs of each side; the best is reported")
    ap.add_argument("--mem-small", type=int, default=10_000)
    ap.add_argument("--mem-large", type=int, default=1_000_000)
    ap.add_argument("--skip-mem", action="store_true")
    ap.add_argument("--skip-single", action="store_true", help="do not also time processes=1")
    ap.add_argument("--tmp", default=None, help="work folder (default: a temp dir)")
    ap.add_argument("--child", nargs=2, metavar=("MANIFEST", "OUT"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(*args.child)
        return

    tmp = Path(tempfile.mkdtemp(prefix="gtlabel-bench-", dir=args.tmp))
    try:
        manifest = tmp / "output.manifest"
        t0 = time.perf_counter()
        boxes = gen_manifest(manifest, args.images)
        print(f"generated {args.images} lines, {boxes} boxes, {manifest.stat().st_size / 1e6:.0f} MB "
              f"in {time.perf_counter() - t0:.1f}s", file=sys.stderr)
        lanes = default_lanes(str(manifest))
        ours: list[float] = []
        single: list[float] = []
        floor: list[float] = []
        labels: list[tuple[str, bytes]] | None = None
        rep = None
        for r in range(args.repeat):
            # every run writes into a folder never used before (file creation in a reused path is faster)
            t, rep = run_gtlabel(manifest, tmp / f"ds-{r}")
            ours.append(t)
            if labels is None:
                labels = collect_labels(tmp / f"ds-{r}")
            shutil.rmtree(tmp / f"ds-{r}")
            floor.append(run_floor(manifest, tmp / f"floor-{r}", labels))
            shutil.rmtree(tmp / f"floor-{r}")
            if lanes > 1 and not args.skip_single:
                single.append(run_gtlabel(manifest, tmp / f"one-{r}", processes=1)[0])
                shutil.rmtree(tmp / f"one-{r}")
        assert rep is not None and labels is not None
        written = rep.boxes_written  # type: ignore[attr-defined]
        best, fbest = min(ours), min(floor)
        ratio = fbest / best
        rows = [(f"gtlabel convert ({lanes} process{'es' if lanes > 1 else ''}, the default here)", best)]
        if single:
            rows.append(("gtlabel convert (processes=1)", min(single)))
        rows.append(("floor (orjson parse + write same files)", fbest))
        print(f"\n### Conversion: {args.images:,} images, {boxes:,} boxes in ({written:,} written), local labels, "
              f"{len(os.sched_getaffinity(0))} CPUs, {args.tmp or tempfile.gettempdir()}\n")
        print(f"| run | seconds (best of {args.repeat}) | images/s | boxes/s |")
        print("| --- | ---: | ---: | ---: |")
        for name, sec in rows:
            print(f"| {name} | {sec:.2f} | {args.images / sec:,.0f} | {boxes / sec:,.0f} |")
        print(f"\nspeed ratio gtlabel/floor: **{ratio:.2f}** (target >= 0.70: {'met' if ratio >= 0.7 else 'NOT met'})")
        print(f"all runs: gtlabel {[round(x, 2) for x in ours]}, processes=1 {[round(x, 2) for x in single]}, "
              f"floor {[round(x, 2) for x in floor]}")
        if not args.skip_mem:
            small = measure_rss(tmp, args.mem_small)
            large = measure_rss(tmp, args.mem_large)
            diff = large["peak_rss_mb"] - small["peak_rss_mb"]
            print("\n### Peak memory (fresh process per run, ru_maxrss)\n")
            print("| manifest lines | processes | peak RSS MB | RSS after imports MB | largest worker's peak RSS MB |")
            print("| ---: | ---: | ---: | ---: | ---: |")
            for n, r in ((args.mem_small, small), (args.mem_large, large)):
                wk = f"{r['worker_peak_rss_mb']:.1f}" if r["processes"] > 1 else "-"
                print(f"| {n:,} | {r['processes']} | {r['peak_rss_mb']:.1f} | {r['after_import_mb']:.1f} | {wk} |")
            print(f"\ngrowth {args.mem_small:,} -> {args.mem_large:,} lines: **{diff:+.1f} MB** "
                  f"(target within 50 MB: {'met' if diff <= 50 else 'NOT met'})")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()

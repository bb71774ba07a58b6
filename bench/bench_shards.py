"""Benchmark: merging the shards of a sharded pre-annotation job (gtlabel.model.shards.merge_shards).

    .venv/bin/python bench/bench_shards.py                      # 8 shards, 100,000 and 400,000 lines in all
    .venv/bin/python bench/bench_shards.py --lines 20000        # a quick run

What is measured, each merge in a fresh process (so its peak RSS is its own), local files:

- **gtlabel**: ``merge_shards(folder, out)``: every shard's record checked, the parts streamed in a k-way merge
  by ``source-ref`` (each part checked for order), duplicates dropped, the output written atomically;
- **naive**: every line of every part read into one list, ``sorted`` by ``source-ref`` (``orjson`` parse), written.

The parts are pre-annotation lines as the step script writes them (an S3 ``source-ref``, 3 boxes with their
``-metadata``, ~560 bytes), split over the shards as ``ShardedByS3Key`` would (key ``k`` to shard ``k % n``).
CPU time is user+sys of the merging process (``resource.getrusage``), not wall time, since the machine is
shared. Target: peak RSS flat in the number of lines (the 4x larger merge within +10 MiB of the smaller).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

CHILD = r"""
import json, resource, sys, time
import orjson
from pathlib import Path
mode, src, out = sys.argv[1], sys.argv[2], sys.argv[3]
try:  # Linux: reset the peak RSS (a child's ru_maxrss can start at its parent's, inherited through fork)
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")
except OSError:
    pass
r0 = resource.getrusage(resource.RUSAGE_SELF)
if mode == "gtlabel":
    from gtlabel.model.shards import merge_shards
    merge_shards(src, out)
else:
    lines = []
    for p in sorted(Path(src).glob("part-*.manifest")):
        with open(p, "rb") as fh:
            lines.extend(fh.read().splitlines())
    lines.sort(key=lambda raw: orjson.loads(raw)["source-ref"])
    with open(out, "wb") as fh:
        for raw in lines:
            fh.write(raw + b"\n")
r1 = resource.getrusage(resource.RUSAGE_SELF)
peak = r1.ru_maxrss
try:
    peak = int(next(x for x in open("/proc/self/status") if x.startswith("VmHWM:")).split()[1])
except (OSError, StopIteration):
    pass
print(json.dumps({"cpu": r1.ru_utime + r1.ru_stime - r0.ru_utime - r0.ru_stime, "maxrss_kib": peak}))
"""


def make_parts(folder: Path, lines: int, shards: int) -> None:
    from gtlabel.model.shards import ShardRecord

    handles = [open(folder / f"part-{i:05d}-of-{shards:05d}.manifest", "wb") for i in range(shards)]  # noqa: SIM115
    counts = [0] * shards
    meta = {"objects": [{"confidence": 0.91}, {"confidence": 0.5}, {"confidence": 0.33}],
            "class-map": {"0": "drone", "1": "vehicle"}, "type": "groundtruth/object-detection",
            "human-annotated": "no", "creation-date": "2026-12-06T00:00:00.000000", "job-name": "gtlabel-preannotate"}
    for k in range(lines):  # keys in sorted order, dealt round-robin: each part is in source-ref order
        line = {"source-ref": f"s3://drone-bucket/raw/2026-12-06/flight-{k // 1000:04d}/frame-{k:08d}.jpg",
                "prelabels": {"image_size": [{"width": 4000, "height": 3000, "depth": 3}], "annotations": [
                    {"class_id": 0, "left": 10 + k % 97, "top": 20, "width": 31, "height": 18},
                    {"class_id": 1, "left": 400, "top": 220 + k % 13, "width": 22, "height": 40},
                    {"class_id": 1, "left": 1400, "top": 2220, "width": 12, "height": 9}]},
                "prelabels-metadata": meta}
        handles[k % shards].write(json.dumps(line, separators=(",", ":")).encode() + b"\n")
        counts[k % shards] += 1
    for i, fh in enumerate(handles):
        fh.close()
        rec = ShardRecord(task="preannotate", shard=i, shards=shards, images=counts[i], lines=counts[i],
                          boxes=3 * counts[i], source_prefix="s3://drone-bucket/raw/2026-12-06/")
        (folder / rec.record_name).write_bytes(rec.dumps())


def run(mode: str, src: Path, out: Path, repeats: int) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")}
    runs = []
    for _ in range(repeats):
        proc = subprocess.run([sys.executable, "-c", CHILD, mode, str(src), str(out)], env=env, check=True,
                              capture_output=True, text=True)
        runs.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    return {"cpu": min(r["cpu"] for r in runs), "maxrss_kib": max(r["maxrss_kib"] for r in runs)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lines", type=int, nargs="*", default=[100_000, 400_000])
    ap.add_argument("--shards", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="gtlabel-bench-shards-") as tmp:
        for n in args.lines:
            src = Path(tmp) / f"parts-{n}"
            src.mkdir()
            make_parts(src, n, args.shards)
            size = sum(p.stat().st_size for p in src.glob("*.manifest"))
            for mode in ("gtlabel", "naive"):
                out = Path(tmp) / f"{mode}-{n}.manifest"
                res = run(mode, src, out, args.repeats)
                rows.append((n, mode, size, res["cpu"], n / res["cpu"], res["maxrss_kib"] / 1024))
            a, b = (Path(tmp) / f"{m}-{n}.manifest" for m in ("gtlabel", "naive"))
            assert a.read_bytes() == b.read_bytes(), "the merges differ"
    print(f"machine: {platform.platform()}, {os.cpu_count()} CPUs, Python {platform.python_version()}; "
          f"{args.shards} shards; {args.repeats} runs each: the least CPU time, the largest peak RSS")
    print("\n| lines | merge | MB of parts | CPU s | lines/CPU-s | peak RSS MiB |\n|---:|---|---:|---:|---:|---:|")
    for n, mode, size, cpu, rate, rss in rows:
        print(f"| {n:,} | {mode} | {size / 1e6:.0f} | {cpu:.2f} | {rate:,.0f} | {rss:.0f} |")
    ours = [r for r in rows if r[1] == "gtlabel"]
    flat = max(r[5] for r in ours) - min(r[5] for r in ours) <= 10
    print(f"\ntarget (gtlabel's peak RSS flat in the lines, within 10 MiB): {'met' if flat else 'NOT met'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Benchmark: frames from a 1080p video (issue 15): gtlabel's decode + sample + JPEG + manifest beside PyAV's bare
decode loop.

    .venv/bin/python bench/bench_video.py                   # 20 s of 1080p30 H.264, 3 runs each
    .venv/bin/python bench/bench_video.py --seconds 5 --runs 1   # quick

The video is made here with PyAV (libx264, yuv420p, 1920x1080, 30 fps, a moving textured scene: every frame
differs, so no frame is a near-duplicate). Each measurement runs in a fresh process (imports not timed) and
reports wall time, CPU time (user + sys of the process and its threads: the comparable figure on a shared
machine) and peak RSS:

- ``bare``: ``for frame in container.decode(stream): pass`` with ``stream.thread_type = "AUTO"`` (what gtlabel
  sets too): the floor, nothing converted or written;
- ``gtlabel fps=2``: ``build_input_manifest(video, dest, fps=2)``: every frame decoded, 2 per second converted to
  RGB, JPEG-encoded (q90) and written atomically beside the manifest, the manifest written;
- ``gtlabel fps=30``: the same with every frame written (the worst case);
- ``gtlabel fps=2 dedupe``: with ``dedupe_distance=8`` (each kept frame hashed).

Frames/s = decoded frames / wall seconds. Target: gtlabel fps=2 within 1.5x of the bare loop's time.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

MEASURE = r"""
import json, os, resource, sys, time
mode, video, out, fps = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
import av
from gtlabel.manifests import build_input_manifest
os.sync()
r0 = resource.getrusage(resource.RUSAGE_SELF)
t0 = time.perf_counter()
frames = 0
written = 0
if mode == "bare":
    with av.open(video) as c:
        s = c.streams.video[0]
        s.thread_type = "AUTO"
        for _f in c.decode(s):
            frames += 1
else:
    summary = build_input_manifest(video, os.path.join(out, "in.manifest"), fps=fps, progress=False,
                                   dedupe_distance=8 if mode == "dedupe" else None)
    written = summary.written
wall = time.perf_counter() - t0
r1 = resource.getrusage(resource.RUSAGE_SELF)
if mode != "bare":
    with av.open(video) as c:  # counted after the clock stopped
        frames = c.streams.video[0].frames
cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
print(json.dumps({"wall": wall, "cpu": cpu, "frames": frames, "written": written,
                  "rss_mb": r1.ru_maxrss / 1024}))
"""


def make_video(path: Path, seconds: int, width: int = 1920, height: int = 1080, rate: int = 30) -> None:
    import av
    import numpy as np

    rng = np.random.default_rng(0)
    tile = rng.integers(0, 255, (height // 4 + 64, width // 4 + 64, 3), dtype=np.uint8)
    base = tile.repeat(4, 0).repeat(4, 1)  # a coarse texture, 4 px grain (ground seen from the air)
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=rate, options={"preset": "veryfast", "crf": "23"})
        s.width, s.height, s.pix_fmt = width, height, "yuv420p"
        for i in range(seconds * rate):
            dx, dy = (i * 3) % 256, (i * 2) % 256  # the drone flies: the scene slides
            frame = np.ascontiguousarray(base[dy:dy + height, dx:dx + width])
            for pkt in s.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                c.mux(pkt)
        for pkt in s.encode():
            c.mux(pkt)


def measure(mode: str, video: Path, fps: float) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="bench-video-") as out:
        res = subprocess.run([sys.executable, "-c", MEASURE, mode, str(video), out, str(fps)], check=True,
                             capture_output=True, text=True)
        return dict(json.loads(res.stdout.strip().splitlines()[-1]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=int, default=20, help="length of the 1080p30 test video")
    ap.add_argument("--runs", type=int, default=3, help="runs of each; the best wall time is reported")
    ap.add_argument("--modes", default="bare,fps2,fps30,dedupe")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-video-src-") as tmp:
        video = Path(tmp) / "flight.mp4"
        make_video(video, args.seconds)
        size_mb = video.stat().st_size / 1e6
        plan = {"bare": ("bare", 0.0), "fps2": ("gtlabel", 2.0), "fps30": ("gtlabel", 30.0),
                "dedupe": ("dedupe", 2.0)}
        names = {"bare": "PyAV bare decode loop", "fps2": "gtlabel fps=2", "fps30": "gtlabel fps=30 (every frame)",
                 "dedupe": "gtlabel fps=2, dedupe 8"}
        rows: dict[str, list[dict[str, float]]] = {m: [] for m in args.modes.split(",")}
        for _ in range(args.runs):  # interleaved, so that a burst of load hits every mode alike
            for m in rows:
                rows[m].append(measure(plan[m][0], video, plan[m][1]))
        print(f"video: {args.seconds} s, 1920x1080, 30 fps, H.264 (libx264 veryfast crf 23), {size_mb:.1f} MB; "
              f"best of {args.runs}; load average {os.getloadavg()[0]:.1f} at the end\n")
        print("| run | frames decoded | JPEGs written | wall s | frames/s | CPU s | CPU ms / frame | peak RSS MB |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|")
        best = {m: min(rs, key=lambda r: r["wall"]) for m, rs in rows.items()}
        for m, r in best.items():
            print(f"| {names[m]} | {r['frames']:.0f} | {r['written']:.0f} | {r['wall']:.2f} | "
                  f"{r['frames'] / r['wall']:.1f} | {r['cpu']:.2f} | {1000 * r['cpu'] / r['frames']:.2f} | "
                  f"{r['rss_mb']:.0f} |")
        if "bare" in best and "fps2" in best:
            wall = best["fps2"]["wall"] / best["bare"]["wall"]
            cpu = min(r["cpu"] for r in rows["fps2"]) / min(r["cpu"] for r in rows["bare"])
            print(f"\ngtlabel fps=2 / bare: wall {wall:.2f}x, CPU {cpu:.2f}x (best CPU of each); target <= 1.5x: "
                  f"{'met' if max(wall, cpu) <= 1.5 else 'NOT met'}")


if __name__ == "__main__":
    main()

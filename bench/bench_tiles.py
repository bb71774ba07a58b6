"""Benchmark: small objects at drone scale (issue 14), in parts.

    .venv/bin/python bench/bench_tiles.py --part tiler                 # 12 frames of 4000x3000, tiles of 1024
    .venv/bin/python bench/bench_tiles.py --part tiler --frames 4      # a quick run while developing
    .venv/bin/python bench/bench_tiles.py --part accuracy              # full frames at 640 vs tiles + sliced
    .venv/bin/python bench/bench_tiles.py --part all                   # every part

Part ``tiler``: our tiled conversion vs SAHI's dataset slicer on the same frames and parameters.

- Frames: ``gtlabel.synth.make_frame`` drone-scale JPEGs (4000x3000 by default, 20-60 objects of 8-40 px, every
  7th frame empty, every 9th stored rotated with an EXIF orientation), written once into a work folder, with the
  Ground Truth output manifest (for us) and the COCO file (for SAHI) of the same boxes.
- **gtlabel**: ``convert_ground_truth_to_yolo(manifest, out, names, tile=TileSpec(size, overlap, min_visibility,
  keep_empty=1.0), splits=(1, 0, 0))``: the whole conversion (header probe, decode, EXIF turn, crop, JPEG encode
  at quality 95 (its default; also timed at 75, SAHI's quality: ``TileSpec(jpeg_quality=75)``), label files,
  lineage.json with each tile's MD5, report, atomic publication).
- **SAHI**: ``sahi.slicing.slice_coco(coco, image_dir, ..., slice_height=size, slice_width=size,
  overlap_*_ratio=overlap, min_area_ratio=min_visibility, out_ext=".jpg")`` (PIL's default JPEG quality, 75) and
  its sliced COCO file. SAHI's own default writes PNG slices for JPEG input; ``--sahi-png`` times that too.
  ``--negatives`` also times both with tiles without boxes left out (``keep_empty=0`` /
  ``ignore_negative_samples=True``: SAHI still writes those slices' images, its COCO file just omits them).
- Checked before any figure is printed: the same tile grid (every frame's tiles, by offset and size) and the
  same number of boxes kept (``keep_empty=1.0``: every tile is written, as SAHI writes every slice).
- Each run is a fresh process; reported: wall time, tiles/s, CPU time (user + sys, the process and its
  children) per tile, and peak RSS. The machine may be shared: CPU time per tile is the figure that load does
  not change much. Memory: peak RSS at ``--frames`` and at a third of it (flat = about the same).
- Target: gtlabel >= 2x SAHI's tiles/s, the same tiles and boxes, flat memory.

Part ``accuracy``: what tiles buy on small objects, on the demo's drone set (``gtlabel.demo``: 24 frames of
1600x1200, 50-90 objects each, most of them 8-40 px) split by frame as the demo splits (``DEMO_SPLITS``), YOLO11n from yaml, the demo's
training settings. (a) trains on the full frames at ``imgsz=640`` and predicts whole frames at 640; (b) trains
on tiles of 320 px (the demo's) at ``imgsz=320`` and predicts the full test frames with sliced inference. Both
see the same pixels per run (epochs of (a) = epochs of (b) x tiles x 320^2 / (frames x 640^2)), and the CPU time
of each training is measured (user + sys); both are scored by the same code (``gtlabel.model.evaluate``'s frame
metrics: Ultralytics' matching and AP, COCO sizes). Target: mAP50 on small objects (b) >= 2x (a).

Parts are functions in :data:`PARTS` (``--part NAME``; ``all`` runs them in order).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

NAMES = ["drone", "vehicle", "person", "building"]
ATTR = "drone-boxes"


# ------------------------------------------------------------------------------------------------ the frames
def make_scene(work: Path, frames: int, width: int, height: int) -> tuple[Path, Path, Path]:
    """JPEG frames, the Ground Truth output manifest and the COCO file of the same boxes (kept between runs)."""
    from gtlabel.synth import FrameSpec, make_frame

    images = work / "frames"
    manifest, coco = work / "output.manifest", work / "coco.json"
    stamp = work / f"scene-{frames}-{width}x{height}.done"
    if stamp.exists():
        return images, manifest, coco
    shutil.rmtree(images, ignore_errors=True)
    images.mkdir(parents=True)
    spec = FrameSpec(width=width, height=height)
    lines: list[bytes] = []
    coco_doc: dict[str, Any] = {"images": [], "annotations": [],
                                "categories": [{"id": i + 1, "name": n} for i, n in enumerate(NAMES)]}
    for i in range(frames):
        f = make_frame(i, spec, seed=0)
        (images / f.name).write_bytes(f.jpeg)
        anns = [{"class_id": NAMES.index(b.label), "left": b.left, "top": b.top, "width": b.width,
                 "height": b.height} for b in f.boxes]
        meta = {"type": "groundtruth/object-detection", "human-annotated": "yes", "job-name": "labeling-job/bench",
                "creation-date": "2026-12-06T00:00:00.000000", "objects": [{"confidence": 0.0} for _ in anns],
                "class-map": {str(i): n for i, n in enumerate(NAMES)}}
        lines.append(orjson.dumps({"source-ref": f"frames/{f.name}", ATTR: {
            "image_size": [{"width": f.width, "height": f.height, "depth": 3}], "annotations": anns},
            f"{ATTR}-metadata": meta}))
        coco_doc["images"].append({"id": i + 1, "file_name": f.name, "width": f.width, "height": f.height})
        for b in f.boxes:
            coco_doc["annotations"].append({
                "id": len(coco_doc["annotations"]) + 1, "image_id": i + 1, "category_id": NAMES.index(b.label) + 1,
                "bbox": [b.left, b.top, b.width, b.height], "area": b.width * b.height, "iscrowd": 0})
    manifest.write_bytes(b"\n".join(lines) + b"\n")
    coco.write_bytes(orjson.dumps(coco_doc))
    for old in work.glob("scene-*.done"):
        old.unlink()
    stamp.touch()
    return images, manifest, coco


# ------------------------------------------------------------------------------------------------ one run
def _usage() -> dict[str, float]:
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return {"cpu_s": me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime,
            "peak_rss_mb": max(me.ru_maxrss, kids.ru_maxrss) / 1024}


def child(side: str, work: str, out: str, size: int, overlap: float, min_vis: float, fmt: str,
          keep_empty: float, quality: int) -> None:
    """One timed run in this (fresh) process; prints its figures and what it cut, as JSON."""
    w = Path(work)
    # the imports are not timed (either side's start-up would dominate a short run); each side imports only its
    # own code, so that its peak RSS is its own
    import PIL.Image  # noqa: F401

    if side == "gtlabel":
        import gtlabel.convert.lanes
        import gtlabel.convert.tiles  # noqa: F401
        from gtlabel import TileSpec, convert_ground_truth_to_yolo
    else:
        from sahi.slicing import slice_coco

    before = _usage()
    t0 = time.perf_counter()
    grid: dict[str, list[list[int]]] = {}
    if side == "gtlabel":
        rep = convert_ground_truth_to_yolo(w / "output.manifest", out, NAMES, splits=(1, 0, 0), progress=False,
                                           tile=TileSpec(size, overlap=overlap, min_visibility=min_vis,
                                                         keep_empty=keep_empty, jpeg_quality=quality))
        wall = time.perf_counter() - t0
        tiles, boxes = rep.tiles, rep.boxes_written
        for e in orjson.loads(Path(out, "lineage.json").read_bytes())["images"]:
            t = e["tile"]
            grid.setdefault(e["source_ref"].rsplit("/", 1)[-1], []).append([t["left"], t["top"], t["width"], t["height"]])
    else:
        coco_dict, _ = slice_coco(str(w / "coco.json"), str(w / "frames"), "sliced", out, slice_height=size,
                                  slice_width=size, overlap_height_ratio=overlap, overlap_width_ratio=overlap,
                                  min_area_ratio=min_vis, out_ext=fmt, verbose=False,
                                  ignore_negative_samples=keep_empty == 0.0)
        wall = time.perf_counter() - t0
        tiles, boxes = len(coco_dict["images"]), len(coco_dict["annotations"])
        for im in coco_dict["images"]:  # <stem>_<index>_<x0>_<y0>_<x1>_<y1><ext>
            parts = Path(im["file_name"]).stem.split("_")
            x0, y0, x1, y1 = (int(p) for p in parts[-4:])
            grid.setdefault("_".join(parts[:-5]) + ".jpg", []).append([x0, y0, x1 - x0, y1 - y0])
    after = _usage()
    print(json.dumps({"wall_s": wall, "cpu_s": after["cpu_s"] - before["cpu_s"], "peak_rss_mb": after["peak_rss_mb"],
                      "tiles": tiles, "boxes": boxes, "grid": {k: sorted(v) for k, v in grid.items()}}))


def run_side(side: str, work: Path, size: int, overlap: float, min_vis: float, fmt: str = ".jpg",
             keep_empty: float = 1.0, quality: int = 95) -> dict[str, Any]:
    out = work / f"out-{side}"
    shutil.rmtree(out, ignore_errors=True)
    os.sync()  # what earlier runs left dirty is written back before this one is timed
    env = {**os.environ, "GTLABEL_PROGRESS": "0"}
    proc = subprocess.run([sys.executable, __file__, "--child", side, str(work), str(out), str(size), str(overlap),
                           str(min_vis), fmt, str(keep_empty), str(quality)], capture_output=True, text=True, env=env, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"{side} failed:\n{proc.stderr[-3000:]}")
    res: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    shutil.rmtree(out, ignore_errors=True)
    return res


# ------------------------------------------------------------------------------------------------ part: tiler
def part_tiler(args: argparse.Namespace) -> None:
    work = Path(args.tmp or tempfile.mkdtemp(prefix="gtlabel-bench-tiles-"))
    work.mkdir(parents=True, exist_ok=True)
    t0 = time.process_time()
    make_scene(work, args.frames, args.width, args.height)
    print(f"scene: {args.frames} frames {args.width}x{args.height} in {work} ({time.process_time() - t0:.1f} CPU-s)")
    load_before = os.getloadavg()
    p = (args.tile, args.overlap, args.min_visibility)
    rows: list[tuple[str, dict[str, Any]]] = []
    ours = min((run_side("gtlabel", work, *p) for _ in range(args.repeat)), key=lambda r: r["wall_s"])
    theirs = min((run_side("sahi", work, *p) for _ in range(args.repeat)), key=lambda r: r["wall_s"])
    # the same work, or no figures
    assert ours["grid"] == theirs["grid"], "tile grids differ"
    assert ours["tiles"] == theirs["tiles"] and ours["boxes"] == theirs["boxes"], \
        f"tiles/boxes differ: gtlabel {ours['tiles']}/{ours['boxes']}, SAHI {theirs['tiles']}/{theirs['boxes']}"
    rows += [("gtlabel (JPEG q95, its default)", ours), ("SAHI slice_coco (JPEG q75)", theirs)]
    ours75 = min((run_side("gtlabel", work, *p, quality=75) for _ in range(args.repeat)), key=lambda r: r["wall_s"])
    assert ours75["grid"] == theirs["grid"] and ours75["boxes"] == theirs["boxes"], "q75: tiles or boxes differ"
    rows.insert(1, ("gtlabel (JPEG q75, SAHI's quality)", ours75))
    if args.sahi_png:
        rows.append(("SAHI slice_coco (PNG, its default)", run_side("sahi", work, *p, fmt=".png")))
    if args.negatives:  # tiles without boxes left out: SAHI still writes their images, only its COCO file drops them
        ours_neg, theirs_neg = run_side("gtlabel", work, *p, keep_empty=0.0), run_side("sahi", work, *p, keep_empty=0.0)
        assert ours_neg["grid"] == theirs_neg["grid"] and ours_neg["boxes"] == theirs_neg["boxes"], \
            "without empty tiles: tiles or boxes differ"
        rows += [("gtlabel, keep_empty=0 (empty tiles not written)", ours_neg),
                 ("SAHI, ignore_negative_samples=True (their slices still written)", theirs_neg)]
    small = None
    if not args.skip_mem and args.frames >= 3:
        sub = work / "small"
        make_scene(sub, max(1, args.frames // 3), args.width, args.height)
        small = run_side("gtlabel", sub, *p)
        shutil.rmtree(sub, ignore_errors=True)
    print(f"\ntile {args.tile}, overlap {args.overlap}, min_visibility {args.min_visibility}: "
          f"{ours['tiles']} tiles, {ours['boxes']} boxes kept (same grid and boxes on both sides); "
          f"best of {args.repeat}; {os.cpu_count()} CPUs, load average (1/5/15 min) "
          f"{'/'.join(f'{v:.2f}' for v in load_before)} before, {'/'.join(f'{v:.2f}' for v in os.getloadavg())} after\n")
    print("| run | wall s | tiles/s | CPU ms / tile | peak RSS MB |")
    print("|---|---:|---:|---:|---:|")
    for name, r in rows:
        print(f"| {name} | {r['wall_s']:.2f} | {r['tiles'] / r['wall_s']:.1f} | {1000 * r['cpu_s'] / r['tiles']:.1f} "
              f"| {r['peak_rss_mb']:.0f} |")
    for name, r in (("q95", ours), ("q75", ours75)):
        print(f"\nspeed-up (tiles/s), gtlabel {name}: {theirs['wall_s'] / r['wall_s']:.2f}x; "
              f"CPU per tile: {theirs['cpu_s'] / r['cpu_s']:.2f}x less")
    if small is not None:
        print(f"memory: gtlabel peak RSS {small['peak_rss_mb']:.0f} MB at {max(1, args.frames // 3)} frames, "
              f"{ours['peak_rss_mb']:.0f} MB at {args.frames}")
    if not args.tmp:
        shutil.rmtree(work, ignore_errors=True)


# ------------------------------------------------------------------------------------------------ accuracy
def _cpu_s() -> float:
    me = resource.getrusage(resource.RUSAGE_SELF)
    return me.ru_utime + me.ru_stime


def _accuracy_scene(work: Path, frames: int, seed: int) -> tuple[Path, Path]:
    """The demo's drone set (``gtlabel.demo``'s frame size and objects): frames + their truth manifest."""
    from gtlabel.demo import frame_spec, truth_manifest_lines
    from gtlabel.synth import DEFAULT_CLASSES, make_frame

    images = work / "frames"
    images.mkdir(parents=True, exist_ok=True)
    spec = frame_spec()
    made = [make_frame(i, spec, seed=seed) for i in range(frames)]
    for f in made:
        (images / f.name).write_bytes(f.jpeg)
    manifest = work / "truth.manifest"
    lines = truth_manifest_lines(made, [f"frames/{f.name}" for f in made], DEFAULT_CLASSES)
    manifest.write_bytes(b"\n".join(lines) + b"\n")
    return images, manifest


def part_accuracy(args: argparse.Namespace) -> None:
    """(a) full frames, train and predict at 640, vs (b) tiles + sliced inference, same CPU-time budget."""
    from gtlabel.convert import convert_ground_truth_to_yolo
    from gtlabel.demo import DEMO_BATCH, DEMO_OVERLAP, DEMO_SPLITS, DEMO_TILE, DEMO_TRAIN_ARGS
    from gtlabel.model.common import load_model, resolve_dataset
    from gtlabel.model.console import ultralytics_log
    from gtlabel.model.evaluate import evaluate, frame_metrics
    from gtlabel.model.train import train_yolo
    from gtlabel.synth import DEFAULT_CLASSES
    from gtlabel.tiling import TileSpec

    work = Path(args.tmp or tempfile.mkdtemp(prefix="bench-accuracy-")) / "accuracy"
    seed = 7
    _images, manifest = _accuracy_scene(work, args.acc_frames, seed)
    names = list(DEFAULT_CLASSES)
    common: dict[str, Any] = {"splits": DEMO_SPLITS, "seed": seed, "progress": False, "overwrite": True}
    convert_ground_truth_to_yolo(str(manifest), str(work / "ds-frames"), names, **common)
    tiles_rep = convert_ground_truth_to_yolo(str(manifest), str(work / "ds-tiles"), names,
                                             tile=TileSpec(size=DEMO_TILE, overlap=DEMO_OVERLAP, seed=seed),
                                             **common)
    tiles_train = len(list((work / "ds-tiles" / "images" / "train").glob("*.jpg")))
    frames_train = len(list((work / "ds-frames" / "images" / "train").glob("*.jpg")))
    # the same budget: (a) sees as many pixels per run as (b) (imgsz^2 per image), so about the same CPU time
    epochs_b = args.acc_epochs
    epochs_a = max(1, round(epochs_b * tiles_train * DEMO_TILE**2 / (frames_train * 640**2)))
    log = work / "ultralytics.log"
    runs: dict[str, Any] = {}
    for side, data, imgsz, epochs in (("b_tiles_sliced", "ds-tiles", DEMO_TILE, epochs_b),
                                      ("a_full_frame_640", "ds-frames", 640, epochs_a)):
        c0 = _cpu_s()
        with ultralytics_log(log):
            tr = train_yolo(work / data, "yolo11n.yaml", epochs=epochs, imgsz=imgsz, batch=DEMO_BATCH, seed=seed,
                            project=work / "runs", name=side, exist_ok=True, verbose=False, plots=False,
                            extra_args=DEMO_TRAIN_ARGS)
        train_cpu = _cpu_s() - c0
        c0 = _cpu_s()
        if side.startswith("b"):
            ev = evaluate(tr.weights, work / "ds-frames", split="test", imgsz=imgsz, slice=DEMO_TILE,
                          overlap=DEMO_OVERLAP, project=work / "runs", name=f"{side}-eval", exist_ok=True,
                          verbose=False)
            overall, by_size = ev.metrics, ev.by_size
        else:  # whole frames at 640, scored by the same code as the sliced side
            fm = frame_metrics(load_model(tr.weights), resolve_dataset(work / "ds-frames"), "test", None, imgsz=640)
            overall, _per_class, by_size = fm.results()
        runs[side] = {"epochs": epochs, "imgsz": imgsz, "train_images": tiles_train if side.startswith("b")
                      else frames_train, "train_cpu_s": round(train_cpu, 1),
                      "eval_cpu_s": round(_cpu_s() - c0, 1), "mAP50": round(float(overall["mAP50"]), 4),
                      "mAP50_small": by_size.get("small", {}).get("mAP50"),
                      "small_instances": by_size.get("small", {}).get("instances")}
        print(json.dumps({side: runs[side]}), flush=True)
    a, b = runs["a_full_frame_640"]["mAP50_small"] or 0.0, runs["b_tiles_sliced"]["mAP50_small"] or 0.0
    print(json.dumps({"part": "accuracy", "frames": args.acc_frames, "tiles": tiles_rep.tiles,
                      "test_frames": len(list((work / "ds-frames" / "images" / "test").glob("*.jpg"))),
                      "runs": runs, "small_mAP50_ratio_b_over_a": round(b / a, 2) if a else None,
                      "target": "b >= 2x a"}, indent=2), flush=True)


#: the benchmark's parts, run in this order by ``--part all``
PARTS: dict[str, Callable[[argparse.Namespace], None]] = {"tiler": part_tiler, "accuracy": part_accuracy}


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        side, work, out, size, overlap, min_vis, fmt, keep_empty, quality = sys.argv[2:11]
        child(side, work, out, int(size), float(overlap), float(min_vis), fmt, float(keep_empty), int(quality))
        return
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--part", choices=[*PARTS, "all"], default="all")
    ap.add_argument("--frames", type=int, default=12)
    ap.add_argument("--width", type=int, default=4000)
    ap.add_argument("--height", type=int, default=3000)
    ap.add_argument("--tile", type=int, default=1024)
    ap.add_argument("--overlap", type=float, default=0.2)
    ap.add_argument("--min-visibility", type=float, default=0.3)
    ap.add_argument("--repeat", type=int, default=1, help="runs of each side; the fastest is reported")
    ap.add_argument("--sahi-png", action="store_true", help="also time SAHI writing PNG slices (its default)")
    ap.add_argument("--negatives", action="store_true",
                    help="also time both with tiles without boxes left out of the dataset (keep_empty=0 / "
                         "ignore_negative_samples=True)")
    ap.add_argument("--skip-mem", action="store_true", help="no second, smaller run for the memory check")
    ap.add_argument("--acc-frames", type=int, default=24, help="accuracy: frames of the demo's size")
    ap.add_argument("--acc-epochs", type=int, default=10, help="accuracy: epochs on tiles (full frames: the same "
                    "pixels per run)")
    ap.add_argument("--tmp", default=None, help="work folder, kept (default: a temp dir, removed)")
    args = ap.parse_args()
    for name, part in PARTS.items():
        if args.part in (name, "all"):
            part(args)


if __name__ == "__main__":
    main()

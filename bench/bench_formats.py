"""Labels in and out (issue 15): COCO <-> YOLO with gtlabel beside globox, on the same data in the same run.

    .venv/bin/python bench/bench_formats.py                    # 100,000 images / ~650,000 boxes
    .venv/bin/python bench/bench_formats.py --images 20000     # a scaled run (say so when you quote it)
    .venv/bin/python bench/bench_formats.py --cores all        # steps not pinned to one core

Each step is pinned to one core by default (``--cores 1``): globox's threads contend for the GIL, and on 2 idle
cores its COCO -> YOLO took 28.5 s of wall and 34.6 s of CPU against 16.6 s (both) on one core, so unpinned CPU
seconds overstate its work.

Data (generated here, seeded): N images of drone-camera sizes (4000x3000, 3840x2160, 5472x3648, 1920x1080), 0-13
boxes each (mean 6.5) of 4 classes, as one COCO file; tiny JPEG files whose headers declare those sizes (both
tools read image sizes from headers for YOLO input). Each step runs in a fresh process that reports its CPU
seconds (user+sys: the machine is shared, wall time depends on the others' load) and its peak RSS (VmHWM).

Steps (same input for both tools):

- COCO -> YOLO. globox: ``AnnotationSet.from_coco`` + ``save_yolo_v5``. gtlabel: ``coco_to_yolo`` (the direct path,
  like for like: label files, split lists, data.yaml, lineage.json, the images linked), ``import_labels("coco")``
  (COCO -> a Ground Truth output manifest) + ``convert_ground_truth_to_yolo`` (labels only: ``exif="ignore"``,
  ``fingerprint_sources=False``, ``copy_images=False``, ``processes=1``), and the import alone.
- YOLO -> COCO. globox: ``AnnotationSet.from_yolo_v5`` (its labels from the step above, sizes from the image
  headers) + ``save_coco``. gtlabel: ``export_coco`` of the direct path's dataset and of the converter's (sizes from
  the image headers, EXIF-aware), and ``export_coco`` of the output manifest (sizes from ``image_size``, no image
  read).

Target (issue 15): boxes/s at least 3x globox's (CPU), memory that does not grow with the file: the peak RSS of
each gtlabel step at N/5 and N images is printed side by side.
"""

from __future__ import annotations

import argparse
import io
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
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parents[1]
LABELS = ["drone", "vehicle", "person", "building"]
SIZES = [(4000, 3000), (3840, 2160), (5472, 3648), (1920, 1080)]


def _jpeg_with_size(w: int, h: int) -> bytes:
    """A tiny valid JPEG whose SOF0 header declares w x h (what header readers see; no decoder runs)."""
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buf, "JPEG", quality=10)
    data = bytearray(buf.getvalue())
    i = data.index(b"\xff\xc0")
    data[i + 5:i + 7] = h.to_bytes(2, "big")
    data[i + 7:i + 9] = w.to_bytes(2, "big")
    return bytes(data)


def generate(root: Path, n: int, seed: int = 0) -> int:
    rng = random.Random(seed)
    (root / "images").mkdir(parents=True)
    heads = {s: _jpeg_with_size(*s) for s in SIZES}
    images, anns = [], []
    for i in range(n):
        w, h = SIZES[rng.randrange(len(SIZES))]
        name = f"f{i // 1000:03d}_{i:06d}.jpg"
        (root / "images" / name).write_bytes(heads[(w, h)])
        images.append({"id": i + 1, "file_name": name, "width": w, "height": h})
        for _ in range(rng.randrange(14)):
            bw, bh = rng.randint(8, w // 8), rng.randint(8, h // 8)
            x, y = rng.randint(0, w - bw), rng.randint(0, h - bh)
            anns.append({"id": len(anns) + 1, "image_id": i + 1, "category_id": rng.randrange(4) + 1,
                         "bbox": [x, y, bw, bh], "area": bw * bh, "iscrowd": 0})
    cats = [{"id": k + 1, "name": name, "supercategory": "object"} for k, name in enumerate(LABELS)]
    (root / "coco.json").write_bytes(orjson.dumps({"info": {}, "licenses": [], "images": images,
                                                   "annotations": anns, "categories": cats}))
    return len(anns)


# ----------------------------------------------------------------------------------------------- steps (child)
def step(name: str, root: Path) -> None:
    """One measured step, in this (fresh) process; nothing it needs is imported before the clock starts."""
    import warnings

    warnings.filterwarnings("ignore")
    if os.environ.get("BENCH_ONE_CORE") == "1" and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    t0, c0 = time.perf_counter(), time.process_time()
    if name == "globox_coco_to_yolo":
        from globox import AnnotationSet

        s = AnnotationSet.from_coco(root / "coco.json")
        s.save_yolo_v5(root / "gb_yolo", label_to_id={n: i for i, n in enumerate(LABELS)})
    elif name == "globox_yolo_to_coco":
        from globox import AnnotationSet

        s = AnnotationSet.from_yolo_v5(root / "gb_yolo", image_folder=root / "images")
        s = s.map_labels({str(i): n for i, n in enumerate(LABELS)})
        s.save_coco(root / "gb_coco.json", label_to_id={n: i + 1 for i, n in enumerate(LABELS)}, auto_ids=True)
    elif name in ("ours_coco_to_yolo", "ours_import"):
        from gtlabel.convert import convert_ground_truth_to_yolo
        from gtlabel.interchange import import_labels

        import_labels("coco", root / "coco.json", root / "gt.manifest", labels=LABELS,
                      images=str(root / "images"))
        if name == "ours_coco_to_yolo":
            convert_ground_truth_to_yolo(root / "gt.manifest", root / "ds", LABELS, exif="ignore",
                                         fingerprint_sources=False, copy_images=False, processes=1,
                                         progress=False, overwrite=True)
    elif name == "ours_coco_to_yolo_direct":
        from gtlabel.interchange import coco_to_yolo

        coco_to_yolo(root / "coco.json", root / "direct", images=root / "images", labels=LABELS)
    elif name == "ours_export_direct":
        from gtlabel.interchange import export_coco

        export_coco(root / "direct", root / "ours_direct.json")
    elif name == "ours_export_dataset":
        from gtlabel.interchange import export_coco

        export_coco(root / "ds", root / "ours_ds.json")
    elif name == "ours_export_manifest":
        from gtlabel.interchange import export_coco

        export_coco(root / "gt.manifest", root / "ours_m.json", class_mapping=LABELS)
    else:
        raise SystemExit(f"unknown step {name}")
    print(json.dumps({"wall": time.perf_counter() - t0, "cpu": time.process_time() - c0, "rss_mb": _peak_rss_mb()}))


def _peak_rss_mb() -> float:
    """This process's peak RSS: VmHWM (Linux; ru_maxrss would also count the parent's RSS at fork, which Linux
    carries across exec), else ru_maxrss."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_step(name: str, root: Path, *, one_core: bool = True) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "GTLABEL_PROGRESS": "0",
           "BENCH_ONE_CORE": "1" if one_core else "0"}
    out = subprocess.run([sys.executable, __file__, "--step", name, "--dir", str(root)], capture_output=True,
                         text=True, env=env, check=False)
    if out.returncode != 0:
        raise SystemExit(f"{name} failed:\n{out.stderr[-3000:]}")
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def _boxes(path: Path) -> list[tuple[Any, ...]]:
    doc = orjson.loads(path.read_bytes())
    files = {i["id"]: i["file_name"].rsplit("/", 1)[-1].split("-")[0].split(".")[0] for i in doc["images"]}
    return sorted((files[a["image_id"]], *(round(v) for v in a["bbox"])) for a in doc["annotations"])


def measure(n: int, tmp: Path, one_core: bool = True) -> tuple[int, dict[str, dict[str, float]]]:
    root = tmp / f"n{n}"
    boxes = generate(root, n)
    order = ["globox_coco_to_yolo", "ours_coco_to_yolo_direct", "ours_import", "ours_coco_to_yolo",
             "globox_yolo_to_coco", "ours_export_direct", "ours_export_dataset", "ours_export_manifest"]
    res = {name: run_step(name, root, one_core=one_core) for name in order}
    # the same boxes came out of both tools (pixels rounded: YOLO keeps 6 decimals; classes are numbered differently)
    theirs, ours, direct = (_boxes(root / f) for f in ("gb_coco.json", "ours_m.json", "ours_direct.json"))
    same = len(theirs) == len(ours) == len(direct) == boxes and \
        sum(a != b for a, b in zip(theirs, ours, strict=True)) <= boxes // 1000 and \
        sum(a != b for a, b in zip(theirs, direct, strict=True)) <= boxes // 1000
    print(f"n={n}: {boxes} boxes; globox and gtlabel COCO outputs agree: {same}; "
          + json.dumps({k: {m: round(v, 2) for m, v in r.items()} for k, r in res.items()}), flush=True)
    shutil.rmtree(root)
    return boxes, res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--images", type=int, default=100_000)
    ap.add_argument("--tmp", default=None, help="working folder (default: a temp dir)")
    ap.add_argument("--cores", choices=["1", "all"], default="1", help="pin each step to one core (default)")
    ap.add_argument("--step", help=argparse.SUPPRESS)
    ap.add_argument("--dir", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.step:
        step(args.step, Path(args.dir))
        return
    tmp = Path(tempfile.mkdtemp(prefix="bench-formats-", dir=args.tmp))
    try:
        small_n = max(1000, args.images // 5)
        _, small = measure(small_n, tmp, args.cores == "1")
        boxes, big = measure(args.images, tmp, args.cores == "1")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"\n{args.images:,} images, {boxes:,} boxes; CPU = user+sys of the step's process\n")
    print(f"| step | CPU s | wall s | boxes/s (CPU) | peak RSS MB at {args.images:,} | at {small_n:,} |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for name, r in big.items():
        print(f"| {name} | {r['cpu']:.2f} | {r['wall']:.2f} | {boxes / r['cpu']:,.0f} | {r['rss_mb']:.0f} | "
              f"{small[name]['rss_mb']:.0f} |")
    imp = big["globox_coco_to_yolo"]["cpu"] / big["ours_import"]["cpu"]
    direct = big["globox_coco_to_yolo"]["cpu"] / big["ours_coco_to_yolo_direct"]["cpu"]
    chain = big["globox_coco_to_yolo"]["cpu"] / big["ours_coco_to_yolo"]["cpu"]
    back = big["globox_yolo_to_coco"]["cpu"] / big["ours_export_direct"]["cpu"]
    rev = big["globox_yolo_to_coco"]["cpu"] / big["ours_export_dataset"]["cpu"]
    print(f"\nvs globox (CPU): COCO -> YOLO direct {direct:.2f}x, import {imp:.2f}x, import + convert to YOLO "
          f"{chain:.2f}x; YOLO -> COCO from the direct dataset {back:.2f}x, from the converter's {rev:.2f}x; "
          f"target 3x (COCO -> YOLO, YOLO -> COCO): {'met' if min(direct, back) >= 3 else 'not met'}", flush=True)


if __name__ == "__main__":
    main()

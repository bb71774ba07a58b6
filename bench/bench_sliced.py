"""Benchmark: sliced inference (issue 14), gtlabel's predict_frame vs SAHI's get_sliced_prediction.

    .venv/bin/python bench/bench_sliced.py                       # 3 frames of 4000x3000, slices of 640
    .venv/bin/python bench/bench_sliced.py --frames 1 --conf 0.25 0.001
    .venv/bin/python bench/bench_sliced.py --weights runs/x/weights/best.pt
    .venv/bin/python bench/bench_sliced.py --merge-only 1000 5000 14400   # the merge alone

- Frames: ``gtlabel.synth.make_frame`` drone-scale frames (4000x3000, 20-60 objects of 8-40 px), decoded
  upright once per side.
- Model: ``--weights``, else a YOLO11n trained here for 3 epochs at 320 on 40 ``gtlabel.synth`` images (cached
  in the work folder as weights.pt). It is weak: at conf 0.25 it finds nothing (the run is then the tiles'
  forward passes and the per-call overhead), at conf 0.001 (``evaluate``'s) it gives hundreds of boxes per
  frame for the merge.
- Same parameters on both sides: slice 640x640, overlap 0.2, the whole frame too (``perform_standard_pred``),
  GREEDYNMM (our ``nmm``) with IOS >= 0.5 (SAHI's defaults), ``imgsz`` 640, ``conf`` per run, Ultralytics'
  ``iou`` 0.7 and ``max_det`` 300 per tile, ``force_postprocess_type=True`` (SAHI would switch to NMS/IOU
  below conf 0.1).
- Sides, each in a fresh process: ``sahi`` (one predict call per slice, its default), ``gtlabel`` (the CPU
  default: one tile per call, after the first straight through Ultralytics' predictor on one thread per CPU
  with one PyTorch thread each; vectorised merge), ``gtlabel-serial`` (the same on one thread, ``workers=1``:
  the default before the tile threads), ``sahi-allcores`` (not run by default: SAHI with PyTorch on one thread per
  CPU; Ultralytics' ``select_device`` leaves one core idle, ``torch_utils.NUM_THREADS`` = cores - 1),
  ``gtlabel-batched`` (all tiles of a frame in one call, the accelerator default; not run by default), and
  ``gtlabel@onnx`` / ``gtlabel@openvino`` (``runtime="onnx"|"openvino"``: the same weights exported once by
  Ultralytics' exporter, cached in the work folder, OpenVINO pinned to float32) with their twins ``sahi@onnx`` /
  ``sahi@openvino`` (SAHI given the same exported model): ours-with-a-runtime vs ``sahi`` is what a user of SAHI
  on the ``.pt`` gains; vs its twin, what our tile path and merge add on top of the runtime. Reported per side: frames/s,
  the CPU that other processes used while it ran (machine-wide /proc/stat less this process: a run where it is
  not ~0 was shared),
  CPU seconds per frame (user + sys of the process: the figure that other load changes least; torch runs its
  default threads, 2 on the project machine), peak RSS.
- Checked before any figure is printed: every frame's boxes of each gtlabel side pair one-to-one with SAHI's
  (same class, IoU >= 0.99, confidence within 1e-3).

``--profile``: instead of timing, one frame per side under cProfile with a CPU-time clock
(``time.process_time``), the CPU seconds of the frame split into the forward pass (``_predict_once``: the model
both sides run), preprocessing, NMS, ``Results`` objects, SAHI's slicing / object lists / postprocess, gtlabel's
merge, and the rest (cProfile's own per-call cost inflates the Python-heavy parts a little).

``--merge-only N...``: the merge alone, ``merge_boxes`` vs SAHI's ``GreedyNMMPostprocess`` / ``NMSPostprocess``
(IOS 0.5, per class) on N boxes of one frame (objects seen 1-4 times by overlapping tiles, as at
``evaluate``'s conf 0.001 with ``max_det`` 300 per tile: up to 48 x 300 = 14,400 boxes); SAHI's input
``ObjectPrediction`` list is built before the timing; the outputs are asserted equal.
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
from pathlib import Path
from typing import Any

RUNTIMES = ("onnx", "openvino")
SIDES = ("sahi", "sahi-allcores", "gtlabel", "gtlabel-serial", "gtlabel-batched", *(f"{side}@{rt}" for rt in RUNTIMES for side in ("gtlabel", "sahi")))
DEFAULT_SIDES = ("sahi", "gtlabel", "gtlabel-serial", *(f"{side}@{rt}" for rt in RUNTIMES for side in ("gtlabel", "sahi")))
SLICE, OVERLAP, IMGSZ = 640, 0.2, 640


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _machine_busy() -> float:
    """CPU seconds the whole machine has spent busy (all processes), from /proc/stat."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(fields) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")  # less idle and iowait


def train_model(work: Path) -> Path:
    """A weak YOLO11n trained on 48 synthetic 640x480 images for 3 epochs at 320 (cached)."""
    weights = work / "weights.pt"
    if weights.is_file():
        return weights
    from gtlabel import synth
    from gtlabel.model.train import train_yolo

    ds = work / "train-ds"
    names = list(synth.DEFAULT_CLASSES)
    for split, count, offset in (("train", 40, 0), ("val", 8, 1000)):
        (ds / "images" / split).mkdir(parents=True, exist_ok=True)
        (ds / "labels" / split).mkdir(parents=True, exist_ok=True)
        for i in range(count):
            im = synth.make_image(offset + i, seed=1, exif_every=0)
            (ds / "images" / split / f"{im.name}.jpg").write_bytes(im.jpeg)
            rows = [f"{names.index(b.label)} {(b.left + b.width / 2) / im.width:.6f} "
                    f"{(b.top + b.height / 2) / im.height:.6f} {b.width / im.width:.6f} {b.height / im.height:.6f}"
                    for b in im.boxes]
            (ds / "labels" / split / f"{im.name}.txt").write_text("\n".join(rows) + ("\n" if rows else ""))
    (ds / "data.yaml").write_text(f"path: {ds}\ntrain: images/train\nval: images/val\nnames: {names}\n")
    res = train_yolo(ds, epochs=3, imgsz=320, batch=8, project=work, name="model", exist_ok=True, plots=False,
                     verbose=False)
    shutil.copyfile(res.weights, weights)
    return weights


def _peak_rss_mb() -> float:
    """This process's peak RSS (VmHWM: unlike ru_maxrss it does not carry the parent's peak across exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


#: (file suffix, function) -> profile row; cumulative CPU time of each (none of them nests in another listed one,
#: except the forward pass inside SAHI's get_prediction, which is why that is not listed).
PROFILE_ROWS = {
    ("ultralytics/nn/tasks.py", "_predict_once"): "forward pass (model)",
    ("ultralytics/engine/predictor.py", "preprocess"): "Ultralytics preprocess (letterbox, tensor)",
    ("ultralytics/utils/nms.py", "non_max_suppression"): "Ultralytics NMS per tile",
    ("ultralytics/models/yolo/detect/predict.py", "construct_results"): "Ultralytics Results objects",
    ("sahi/slicing.py", "slice_image"): "SAHI slicing",
    ("sahi/models/base.py", "convert_original_predictions"): "SAHI ObjectPrediction lists",
    ("sahi/postprocess/combine.py", "__call__"): "merge (SAHI postprocess)",
    ("gtlabel/model/sliced.py", "merge_boxes"): "merge (gtlabel merge_boxes)",
}


def profile_rows(prof: Any, total: float) -> list[tuple[str, float]]:
    """The CPU seconds of :data:`PROFILE_ROWS` in a ``cProfile.Profile`` run, plus the rest."""
    import pstats

    stats = pstats.Stats(prof).stats  # type: ignore[attr-defined]
    rows: dict[str, float] = {}
    for (fname, _line, func), (_cc, _nc, _tt, ct, _callers) in stats.items():
        for (suffix, name), label in PROFILE_ROWS.items():
            if func == name and fname.replace("\\", "/").endswith(suffix):
                rows[label] = rows.get(label, 0.0) + ct
    rows["other (Python glue, tensor building, copies)"] = total - sum(rows.values())
    return sorted(rows.items(), key=lambda kv: -kv[1])


def child(side: str, weights: str, frames: int, width: int, height: int, conf: float, out: str,
          profile: bool = False, batch: int | None = None) -> None:
    """One side in this process: decode the frames, predict each, time only the predictions (``profile``: the
    first frame under cProfile with a CPU clock instead, its rows printed)."""
    import numpy as np

    from gtlabel import synth
    from gtlabel.model.common import display_image, load_model
    from gtlabel.model.sliced import SAHI_NAMES, SliceOptions, boxes_from_sahi, predict_frame

    spec = synth.FrameSpec(width=width, height=height, empty_every=0, exif_every=0)
    imgs = [display_image(synth.make_frame(i, spec, seed=3).jpeg, f"frame{i}") for i in range(frames)]
    base, _, runtime = side.partition("@")
    runtime = runtime or "torch"

    def model() -> Any:
        return load_model(weights, runtime=runtime, imgsz=IMGSZ, cache_dir=Path(out).parent)  # <work>/exports/

    opts = SliceOptions(width=SLICE, height=SLICE, overlap=OVERLAP, merge="nmm", match="ios", threshold=0.5,
                        batch=1000 if base == "gtlabel-batched" else batch,
                        workers=1 if base == "gtlabel-serial" else None)
    if base == "sahi-allcores":  # Ultralytics' select_device sets torch to cores - 1 threads at every set-up
        from ultralytics.utils import torch_utils

        torch_utils.NUM_THREADS = len(os.sched_getaffinity(0))
    if base.startswith("sahi"):
        from sahi import AutoDetectionModel
        from sahi.predict import get_sliced_prediction

        ref = AutoDetectionModel.from_pretrained(model_type="ultralytics", model=model(),
                                                 confidence_threshold=conf, device="cpu", image_size=IMGSZ)

        def run(frame: Any) -> Any:
            r = get_sliced_prediction(np.ascontiguousarray(frame[:, :, ::-1]), ref, slice_height=SLICE,
                                      slice_width=SLICE, overlap_height_ratio=OVERLAP, overlap_width_ratio=OVERLAP,
                                      perform_standard_pred=True, postprocess_type=SAHI_NAMES[opts.merge],
                                      postprocess_match_metric=SAHI_NAMES[opts.match],
                                      postprocess_match_threshold=opts.threshold, verbose=0,
                                      force_postprocess_type=True)
            return boxes_from_sahi(r.object_prediction_list)
        warm = ref.model
    else:
        yolo = model()

        def run(frame: Any) -> Any:
            return predict_frame(yolo, frame, opts, conf=conf, imgsz=IMGSZ, device="cpu")
        warm = yolo
    warm.predict(imgs[0][:SLICE, :SLICE], imgsz=IMGSZ, verbose=False)  # model set-up outside the timing
    if profile:
        import cProfile

        run(imgs[0])  # the predictor's set-up with these settings, outside the profile
        prof = cProfile.Profile(time.process_time)
        c0 = time.process_time()
        prof.runcall(run, imgs[0])
        total = time.process_time() - c0
        print(f"\n{side} (conf {conf}), one {width}x{height} frame: {total:.2f} CPU s under cProfile; "
              f"load average {os.getloadavg()[0]:.1f}")
        print("| part | CPU s | share |\n|---|---:|---:|")
        for label, sec in profile_rows(prof, total):
            print(f"| {label} | {sec:.2f} | {sec / total:.0%} |", flush=True)
        return
    results, cpu, wall, others = [], 0.0, 0.0, 0.0
    for frame in imgs:
        m0, c0, t0 = _machine_busy(), _cpu(), time.perf_counter()
        fb = run(frame)
        c1 = _cpu()
        others += _machine_busy() - m0 - (c1 - c0)
        cpu += c1 - c0
        wall += time.perf_counter() - t0
        results.append({"xyxy": fb.xyxy.tolist(), "conf": fb.conf.tolist(), "cls": fb.cls.tolist()})
    Path(out).write_text(json.dumps({"side": side, "cpu": cpu, "wall": wall, "frames": frames, "others": others,
                                     "rss_mb": _peak_rss_mb(),
                                     "boxes": results}))


def run_side(side: str, weights: Path, args: argparse.Namespace, conf: float, work: Path) -> dict[str, Any]:
    out = work / f"{side.replace('@', '-')}-{conf}.json"
    cmd = [sys.executable, __file__, "--child", side, "--weights", str(weights), "--frames", str(args.frames),
           *(["--batch", str(args.batch)] if args.batch else []),
           "--width", str(args.width), "--height", str(args.height), "--conf", str(conf), "--out", str(out)]
    subprocess.run(cmd + (["--profile"] if args.profile else []), check=True,
                   env={**os.environ, "GTLABEL_PROGRESS": "0"})
    if args.profile:
        return {}
    data: dict[str, Any] = json.loads(out.read_text())
    return data


def merge_only(counts: list[int]) -> None:
    import numpy as np
    from sahi.postprocess.combine import GreedyNMMPostprocess, NMSPostprocess
    from sahi.prediction import ObjectPrediction

    from gtlabel.model.sliced import FrameBoxes, agreement, boxes_from_sahi, merge_boxes

    print("| boxes in | merge | kept | gtlabel CPU ms | SAHI CPU ms | speed-up | equal |")
    print("|---:|---|---:|---:|---:|---:|---|")
    for n in counts:
        rng = np.random.default_rng(n)
        centres = rng.uniform(0, [4000, 3000], (n // 2, 2))
        sizes = rng.uniform(8, 60, (n // 2, 2))
        pick = rng.integers(0, n // 2, n)
        jitter = rng.normal(0, 0.1, (n, 4)) * np.repeat(sizes[pick], 2, axis=1)
        xyxy = np.maximum(np.concatenate([centres[pick], centres[pick] + sizes[pick]], 1) + jitter, 0)
        xyxy[:, 2:] = np.maximum(xyxy[:, 2:], xyxy[:, :2] + 1)
        conf = rng.uniform(0.001, 1, n).astype(np.float32)
        cls = rng.integers(0, 3, n)
        preds = [ObjectPrediction(bbox=b.tolist(), category_id=int(c), score=s, category_name=str(int(c)),
                                  shift_amount=[0, 0]) for b, s, c in zip(xyxy, conf, cls, strict=True)]
        for merge, post in (("nmm", GreedyNMMPostprocess), ("nms", NMSPostprocess)):
            sahi = post(match_threshold=0.5, match_metric="IOS", class_agnostic=False)
            sahi(list(preds[:50]))  # SAHI imports its backend on first use: not timed
            t_ours = t_sahi = float("inf")
            for _ in range(3):  # best of 3 (the machine is shared)
                c0 = _cpu()
                ours = merge_boxes(xyxy, conf, cls, merge=merge, match="ios", threshold=0.5)
                t_ours = min(t_ours, _cpu() - c0)
                c0 = _cpu()
                theirs = sahi(list(preds))
                t_sahi = min(t_sahi, _cpu() - c0)
            ag = agreement(ours, boxes_from_sahi(theirs))
            assert ag.same(conf_tol=0.0), (n, merge, ag)
            assert isinstance(ours, FrameBoxes)
            print(f"| {n} | {merge} | {len(ours)} | {t_ours * 1e3:.1f} | {t_sahi * 1e3:.1f} | "
                  f"{t_sahi / max(t_ours, 1e-9):.1f}x | yes |", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=3)
    ap.add_argument("--width", type=int, default=4000)
    ap.add_argument("--height", type=int, default=3000)
    ap.add_argument("--conf", type=float, nargs="+", default=[0.25, 0.001])
    ap.add_argument("--weights", default=None)
    ap.add_argument("--work", default=None, help="work folder (kept; default: a temporary one)")
    ap.add_argument("--sides", nargs="+", choices=SIDES, default=list(DEFAULT_SIDES),
                    help="side@runtime: the same weights exported for ONNX Runtime / OpenVINO (cached in the work "
                         "folder); sahi@runtime is SAHI given that same exported model")
    ap.add_argument("--profile", action="store_true", help="profile one frame per side (CPU time by part)")
    ap.add_argument("--merge-only", type=int, nargs="+", metavar="N", help="time the merge alone on N boxes")
    ap.add_argument("--batch", type=int, default=None,
                    help="tiles per call on the gtlabel sides (default: predict_frame's auto, one on CPU)")
    ap.add_argument("--child", choices=SIDES, help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    args = ap.parse_args()
    os.environ.setdefault("YOLO_OFFLINE", "1")
    from gtlabel.model.offline import ensure_ultralytics_offline

    work = Path(args.work or tempfile.mkdtemp(prefix="bench-sliced-"))
    work.mkdir(parents=True, exist_ok=True)
    ensure_ultralytics_offline(work / "yolo-config")
    if args.child:
        child(args.child, args.weights, args.frames, args.width, args.height, args.conf[0], args.out, args.profile,
              args.batch)
        return
    if args.merge_only:
        merge_only(args.merge_only)
        return
    weights = Path(args.weights) if args.weights else train_model(work)
    if args.profile:
        for conf in args.conf:
            for side in args.sides:
                run_side(side, weights, args, conf, work)
        return
    import numpy as np

    from gtlabel.model.sliced import FrameBoxes, agreement

    def boxes(rec: dict[str, Any]) -> FrameBoxes:
        return FrameBoxes(np.array(rec["xyxy"], float).reshape(-1, 4), np.array(rec["conf"], np.float32),
                          np.array(rec["cls"], np.int64))

    print(f"# {args.frames} frame(s) {args.width}x{args.height}, slice {SLICE} overlap {OVERLAP} + whole frame, "
          f"GREEDYNMM/IOS 0.5, imgsz {IMGSZ}, weights {weights}; load average {os.getloadavg()[0]:.1f}")
    print("| conf | side | boxes/frame | frames/s | CPU s/frame | peak RSS MB | vs SAHI on the .pt: frames/s, CPU "
          "| vs SAHI on the same runtime: frames/s, CPU | boxes equal | other processes' CPU |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---|---:|")

    def ratios(r: dict[str, Any], ref: dict[str, Any] | None) -> str:
        if ref is None or ref is r:
            return "-"
        return f"{ref['wall'] / ref['frames'] / (r['wall'] / r['frames']):.2f}x, {ref['cpu'] / r['cpu']:.2f}x"

    for conf in args.conf:
        res = {side: run_side(side, weights, args, conf, work) for side in args.sides}
        ref = res.get("sahi")
        for side, r in res.items():
            same = "reference"
            if ref is not None and side != "sahi":  # every side against SAHI on the .pt, as users run it
                ag = [agreement(boxes(a), boxes(b)) for a, b in zip(r["boxes"], ref["boxes"], strict=True)]
                bad = [a for a in ag if not a.same(conf_tol=1e-3)]
                assert not bad, f"{side} at conf {conf}: boxes differ from SAHI's: {bad}"
                same = f"yes (min IoU {min(a.min_iou for a in ag):.6f})"
            n = sum(len(b["conf"]) for b in r["boxes"]) / r["frames"]
            runtime = side.partition("@")[2]
            twin = res.get(f"sahi@{runtime}") if runtime and side.startswith("gtlabel") else None
            print(f"| {conf} | {side} | {n:.0f} | {r['frames'] / r['wall']:.3f} | {r['cpu'] / r['frames']:.2f} | "
                  f"{r['rss_mb']:.0f} | {ratios(r, ref)} | {ratios(r, twin)} | {same} | "
                  f"{max(r['others'], 0.0) / r['wall']:.2f} cores |", flush=True)

if __name__ == "__main__":
    main()

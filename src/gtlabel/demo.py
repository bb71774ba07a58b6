"""``gtlabel demo``: the seed's whole workflow, end to end, on the local Ground-Truth-compatible service.

1. make drone-scale frames with small objects (8-40 px; some frames empty, a few EXIF-rotated) and upload them;
2. build the labeling job with ``create_labeling_job_config`` (budget guard on) and launch it with boto3;
3. run simulated workers (3 per image) through the worker portal, and watch the job with a progress bar;
4. write the quality report (consolidation, worker agreement against the known truth, validation);
5. convert the output manifest to a YOLO11 dataset of full frames (version id, lineage) and to a tiled one;
6. train YOLO11n on the tiles and evaluate it on the full test frames with sliced inference (when the
   ``train`` extra is installed). Ultralytics' console output goes to ``ultralytics.log`` in the run folder;
   the demo shows one progress bar per stage and a final table (mAP50 overall and on small objects, timings).

The defaults (:data:`DEMO_FRAME`, :data:`DEMO_TILE`, :data:`DEMO_TRAIN_ARGS`) were chosen by measurement so
that the default run ends with a model that has learned (README: what it reaches, on what machine).

With ``interactive=True`` the simulated workers are replaced by a person: the portal URL and a login are
printed, and the demo waits for the job to finish.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import threading
import time
import webbrowser
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from gtlabel import local, storage
from gtlabel.formats.ground_truth import (
    SOURCE_REF,
    bbox_label,
    creation_date,
    labeling_job_name,
    output_line,
    output_metadata,
)
from gtlabel.ground_truth_utils import convert_ground_truth_to_yolo, create_labeling_job_config
from gtlabel.local.workforce import NoiseConfig, WorkerProfile, simulate
from gtlabel.model.console import ultralytics_log
from gtlabel.model.evaluate import evaluate
from gtlabel.model.train import train_yolo
from gtlabel.monitor import watch_labeling_job
from gtlabel.progress import AmountColumn
from gtlabel.quality.report import write_report
from gtlabel.synth import DEFAULT_CLASSES, FrameSpec, SynthImage, make_frame
from gtlabel.tiling import TileSpec

if TYPE_CHECKING:
    from gtlabel.local import LocalService
    from gtlabel.monitor.summary import WatchSummary

BUCKET = "gtlabel-demo"  # + the seed: each run has its own embedded S3, and the split hash of a source-ref (its
# bucket included) must not change from run to run, so the same --seed gives the same splits
RAW_PREFIX = "raw/drone/"
WORKERS = (("alice", "alice-password-1", 2.0), ("bob", "bob-password-1", 1.0),
           ("carol", "carol-password-1", 1.0), ("dave", "dave-password-1", 0.2))
INSTRUCTIONS = ("Draw a tight box around every drone, vehicle, person and building you can see. "
                "Zoom in for small objects; include partly visible objects at the image border.")

#: The demo's drone-scale frames: (width, height) and objects per frame (vehicles, people, drones 8-40 px) at
#: that size; other frame sizes get as many objects per pixel (:func:`frame_spec`).
DEMO_FRAME = (1600, 1200)
DEMO_OBJECTS = (50, 90)
MAX_OBJECTS = 400  # per frame, whatever its size (a labeling task stays a task a person could do)
#: Tile side of the training set (the model trains at imgsz = the tile side: objects keep their pixels) and
#: the overlap of neighbouring tiles, in training and in sliced inference.
DEMO_TILE = 320
DEMO_OVERLAP = 0.1
DEMO_EPOCHS = 6
DEMO_BATCH = 8
#: Ultralytics settings for a short CPU run from scratch: an optimizer step per batch (``nbs`` = the batch;
#: Ultralytics' default accumulates to 64 images), a one-epoch warm-up, milder scale jitter (a 8 px person
#: scaled by 0.5 is 4 px).
DEMO_TRAIN_ARGS: dict[str, Any] = {"nbs": DEMO_BATCH, "warmup_epochs": 1, "scale": 0.25}
#: train / val / test shares of the frames (tiles inherit their frame's split).
DEMO_SPLITS = (0.7, 0.1, 0.2)
LOG_FILE = "ultralytics.log"


@dataclass
class DemoResult:
    out_dir: Path
    job_name: str
    images: int
    status: str
    output_manifest: str
    report_html: Path
    dataset_dir: Path
    dataset_version: str | None
    job_output: Path | None = None  # a local copy of the job's S3 output (manifests/, annotations/)
    tiles_dir: Path | None = None  # the tiled dataset the model trains on
    train_dir: Path | None = None
    log_file: Path | None = None  # Ultralytics' console output
    metrics: dict[str, Any] = field(default_factory=dict)  # the test split's, full frames, sliced inference
    by_size: dict[str, dict[str, Any]] = field(default_factory=dict)  # the same by COCO object size
    settings: dict[str, Any] = field(default_factory=dict)
    timings_s: dict[str, float] = field(default_factory=dict)


def _upload(images: list[SynthImage], bucket: str) -> list[str]:
    def put(img: SynthImage) -> str:
        uri = f"s3://{bucket}/{RAW_PREFIX}{img.name}"
        storage.write_bytes(uri, img.jpeg, content_type="image/jpeg")
        return uri

    with ThreadPoolExecutor(max_workers=8) as pool:
        return list(pool.map(put, images))


def worker_accounts(workers_per_object: int) -> list[tuple[str, str, float]]:
    """The simulated team: :data:`WORKERS` (one of them deliberately bad), plus more average workers so that
    there is always one more account than workers per object (each object needs that many distinct workers)."""
    accounts = list(WORKERS)
    while len(accounts) < workers_per_object + 1:
        n = len(accounts) + 1
        accounts.append((f"worker{n}", f"worker{n}-password-1", 1.0))
    return accounts


def truth_manifest_lines(images: list[SynthImage], uris: list[str], labels: tuple[str, ...]) -> list[bytes]:
    """The known truth as Ground Truth output-manifest lines (attribute ``truth``), for gold-standard metrics."""
    ids = {name: i for i, name in enumerate(labels)}
    now = creation_date()
    lines = []
    for img, uri in zip(images, uris, strict=True):
        present = sorted({b.label for b in img.boxes})
        label = bbox_label(img.width, img.height, ({"class_id": ids[b.label], "left": b.left, "top": b.top,
                                                      "width": b.width, "height": b.height} for b in img.boxes))
        meta = output_metadata([{"confidence": 1.0} for _ in img.boxes], {str(ids[c]): c for c in present},
                               job_name=labeling_job_name("synthetic-truth"), created=now)
        line = output_line({SOURCE_REF: uri}, "truth", label, meta)
        lines.append(json.dumps(line, separators=(",", ":"), allow_nan=False).encode())
    return lines


def _open_portal(url: str, con: Console) -> None:
    """Open the portal in the user's browser where there is a desktop to show it (never a text browser in the
    terminal the demo is printing to)."""
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        return  # a server or container: the URL above is the way in
    try:
        if webbrowser.open(url, new=2):
            con.print(f"(opened {url} in your browser)")
    except webbrowser.Error:
        pass


def frame_spec(frame: tuple[int, int] = DEMO_FRAME, classes: tuple[str, ...] = DEFAULT_CLASSES) -> FrameSpec:
    """The demo's frames at ``frame`` = (width, height): :data:`DEMO_OBJECTS` per :data:`DEMO_FRAME` area."""
    scale = frame[0] * frame[1] / (DEMO_FRAME[0] * DEMO_FRAME[1])
    lo, hi = (min(MAX_OBJECTS, max(2, round(n * scale))) for n in DEMO_OBJECTS)
    return FrameSpec(frame[0], frame[1], objects=(lo, hi), classes=classes)


def train_available() -> bool:
    return importlib.util.find_spec("ultralytics") is not None


def run_demo(
    out_dir: str | os.PathLike[str] = "demo-output",
    *,
    images: int = 24,
    frame: tuple[int, int] = DEMO_FRAME,
    tile: int = DEMO_TILE,
    overlap: float = DEMO_OVERLAP,
    workers_per_object: int = 3,
    seed: int = 7,
    train: bool | None = None,
    epochs: int = DEMO_EPOCHS,
    imgsz: int | None = None,
    interactive: bool = False,
    open_browser: bool = True,
    max_budget_usd: float = 25.0,
    console: Console | None = None,
    progress: bool = True,
) -> DemoResult:
    """Run the whole workflow on a fresh local service. Returns where everything is.

    ``images`` drone-scale frames of ``frame`` = (width, height) pixels are labeled, converted to a full-frame
    dataset and to tiles of ``tile`` px (``overlap``); the model trains on the tiles at ``imgsz`` (default: the
    tile side) for ``epochs`` and is evaluated on the full test frames with sliced inference.
    """
    out = Path(out_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    want_train = train_available() if train is None else train
    spec = frame_spec(frame)
    tiles = TileSpec(size=tile, overlap=overlap, seed=seed)
    # bound to the terminal now: while Ultralytics runs, sys.stdout is its log file (model.console)
    run = _Demo(out, console or Console(file=sys.stdout), images=images, workers_per_object=workers_per_object,
                seed=seed, interactive=interactive, open_browser=open_browser, max_budget_usd=max_budget_usd,
                progress=progress, frames=spec, tiles=tiles)
    t_all = time.perf_counter()
    with local.LocalService(data_dir=out / "service") as svc, \
            storage.use_endpoint(svc.s3_endpoint, (svc.access_key, svc.secret_key), region=svc.region):
        # gtlabel.storage (every thread) reaches the service's S3; SageMaker clients are passed explicitly
        run.con.rule("[bold]gtlabel demo[/] on the local Ground-Truth-compatible service")
        run.con.print(f"SageMaker API  {svc.sagemaker_endpoint}\nS3             {svc.s3_endpoint}\n"
                      f"Worker portal  {svc.portal_url}")
        bucket, n_images, truth_uri = run.upload_images(svc)
        job_name = run.create_job(svc, bucket)
        summary = run.label(svc, job_name, truth_uri)
        output_manifest = str(summary.output_manifest)
        job_files = run.keep_job_output(bucket, job_name)
        report_html = run.report(output_manifest, truth_uri, svc)
        dataset_dir, version = run.convert(output_manifest)
        tiles_dir = run.tile(output_manifest)

    # 6. train + evaluate (outside the service: it no longer needs S3) ------------------------------------
    result = DemoResult(out, job_name, n_images, summary.final_status, output_manifest, report_html,
                        dataset_dir, version, timings_s=run.timings, job_output=job_files, tiles_dir=tiles_dir,
                        settings={"frame": list(frame), "objects": list(spec.objects), "tile": tile,
                                  "overlap": overlap, "epochs": epochs, "imgsz": imgsz or tile,
                                  "batch": DEMO_BATCH, "train_args": DEMO_TRAIN_ARGS, "splits": list(DEMO_SPLITS)})
    if want_train:
        run.train(result, epochs=epochs, imgsz=imgsz or tile)
    else:
        run.con.print("[yellow]training skipped[/]: install the train extra (pip install 'gtlabel\\[train]')")
    run.timings["total"] = time.perf_counter() - t_all
    run.write_summary(result)
    _print_summary(run.con, result)
    return result


@dataclass
class _Demo:
    """One demo run: its options, console, output folder and timings; one method per step."""

    out: Path
    con: Console
    images: int
    workers_per_object: int
    seed: int
    interactive: bool
    open_browser: bool
    max_budget_usd: float
    progress: bool
    frames: FrameSpec
    tiles: TileSpec
    timings: dict[str, float] = field(default_factory=dict)
    sim_result: dict[str, Any] = field(default_factory=dict)

    def upload_images(self, svc: LocalService) -> tuple[str, int, str]:
        """1. images -> S3, with the known truth beside them; ``(bucket, images, truth manifest URI)``."""
        t = time.perf_counter()
        s3 = svc.client("s3")
        bucket = f"{BUCKET}-seed-{abs(self.seed)}"
        s3.create_bucket(Bucket=bucket)
        s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": [
            {"AllowedMethods": ["GET"], "AllowedOrigins": ["*"], "ExposeHeaders": ["Access-Control-Allow-Origin"]}]})
        with self._bar("drawing drone-scale frames", self.images) as advance:
            synth = []
            for i in range(self.images):
                synth.append(make_frame(i, self.frames, seed=self.seed))
                advance(1)
        uris = _upload(synth, bucket)
        truth_uri = f"s3://{bucket}/truth/truth.manifest"
        storage.write_bytes(truth_uri, b"\n".join(truth_manifest_lines(synth, uris, DEFAULT_CLASSES)) + b"\n")
        self.timings["images"] = time.perf_counter() - t
        n_rot = sum(1 for s in synth if s.exif_orientation != 1)
        self.con.print(f"[green]✓[/] {len(synth)} aerial frames ({self.frames.width}x{self.frames.height}, "
                       f"{sum(len(s.boxes) for s in synth)} objects) uploaded to s3://{bucket}/{RAW_PREFIX} "
                       f"({sum(1 for s in synth if not s.boxes)} without objects, {n_rot} EXIF-rotated)")
        return bucket, len(synth), truth_uri

    def create_job(self, svc: LocalService, bucket: str) -> str:
        """2. job request, validated offline, budget guard on; launched with boto3. The job's name."""
        job_name = "drone-demo-" + datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
        cfg = create_labeling_job_config(
            job_name=job_name, input_path=f"s3://{bucket}/{RAW_PREFIX}", output_path=f"s3://{bucket}/labels/",
            task_type="BoundingBox", worker_type="private", labels=list(DEFAULT_CLASSES), instructions=INSTRUCTIONS,
            max_budget_usd=self.max_budget_usd, workers_per_object=1 if self.interactive else self.workers_per_object,
            role_arn=svc.role_arn, region=svc.region, max_concurrent_tasks=1000, task_time_limit_s=600,
            sm_client=svc.client("sagemaker"),
        )
        arn = svc.client("sagemaker").create_labeling_job(**cfg)["LabelingJobArn"]
        self.con.print(f"[green]✓[/] labeling job created: {arn}")
        return job_name

    def label(self, svc: LocalService, job_name: str, truth_uri: str) -> WatchSummary:
        """3. workers (simulated, or a person at the portal) + watch until the job completes."""
        t = time.perf_counter()
        sim_thread: threading.Thread | None = None
        if self.interactive:
            self._open_to_person(svc)
        else:
            sim_thread = self._start_workers(svc, job_name, truth_uri)
        summary = watch_labeling_job(job_name, sm_client=svc.client("sagemaker"), poll_seconds=0.5,
                                     max_poll_seconds=2.0, max_wait_seconds=24 * 3600 if self.interactive else 900,
                                     progress=self.progress, stall_after_seconds=3600 if self.interactive else 120,
                                     s3_client=svc.client("s3"))
        if sim_thread is not None:
            sim_thread.join(timeout=60)
        self.timings["labeling"] = time.perf_counter() - t
        if not summary.completed:
            raise RuntimeError(f"the labeling job ended {summary.final_status}: {summary.failure_reason}")
        cost = summary.cost
        c = summary.counters
        self.con.print(f"[green]✓[/] job {summary.final_status}: {c.total_labeled} labeled ({c.human_labeled} by "
                       f"people, {c.machine_labeled} by machine), {c.failed} failed, cost so far "
                       f"${getattr(cost, 'total_usd', 0):,.2f}")
        (self.out / "watch-summary.json").write_text(json.dumps(summary.to_dict(), indent=2, default=str, allow_nan=False))
        return summary

    def _open_to_person(self, svc: LocalService) -> None:
        svc.add_worker(svc.default_team or "default", "labeler", "labeler-password")
        self.con.print(f"\n[bold]Open {svc.portal_url} and log in as [cyan]labeler[/] / [cyan]labeler-password[/],"
                       " then label the images. The demo continues when the job completes.[/]\n")
        if self.open_browser:
            _open_portal(svc.portal_url, self.con)

    def _start_workers(self, svc: LocalService, job_name: str, truth_uri: str) -> threading.Thread:
        accounts = worker_accounts(self.workers_per_object)
        for user, pw, _skill in accounts:
            svc.add_worker(svc.default_team or "default", user, pw)
        profiles = [WorkerProfile(u, p, s) for u, p, s in accounts]

        def run_workers() -> None:
            res = simulate(svc.portal_url, job_name, profiles, truth=truth_uri, seed=self.seed,
                           noise=NoiseConfig(), idle_timeout_s=20.0)
            self.sim_result["summary"] = res.summary()

        sim_thread = threading.Thread(target=run_workers, name="simulated-workers", daemon=True)
        sim_thread.start()
        return sim_thread

    def keep_job_output(self, bucket: str, job_name: str) -> Path:
        """The job's Ground Truth output files (manifests/, annotations/), kept after the embedded S3 is gone."""
        job_prefix = f"s3://{bucket}/labels/{job_name}/"
        job_files = self.out / "job-output"
        storage.copy_many((o.uri, str(job_files / o.uri[len(job_prefix):])) for o in storage.list_objects(job_prefix))
        return job_files

    def report(self, output_manifest: str, truth_uri: str, svc: LocalService) -> Path:
        """4. quality report."""
        t = time.perf_counter()
        report_html = self.out / "quality-report.html"
        write_report(output_manifest, str(report_html), json_out=str(self.out / "quality-report.json"),
                     truth=truth_uri, class_names=list(DEFAULT_CLASSES), progress=self.progress,
                     sm_client=svc.client("sagemaker"), cognito_client=svc.client("cognito-idp"))
        self.timings["report"] = time.perf_counter() - t
        self.con.print(f"[green]✓[/] quality report: {report_html}")
        return report_html

    def convert(self, output_manifest: str) -> tuple[Path, str | None]:
        """5. YOLO11 dataset with lineage; ``(dataset folder, version id)``."""
        t = time.perf_counter()
        dataset_dir = self.out / "dataset"
        conv = convert_ground_truth_to_yolo(output_manifest, str(dataset_dir),
                                            {n: i for i, n in enumerate(DEFAULT_CLASSES)}, splits=DEMO_SPLITS,
                                            seed=self.seed, progress=self.progress, overwrite=True)
        self.timings["convert"] = time.perf_counter() - t
        version = getattr(conv, "version", None)
        self.con.print(f"[green]✓[/] YOLO11 dataset {version}: {dataset_dir / 'data.yaml'}")
        return dataset_dir, version

    def tile(self, output_manifest: str) -> Path:
        """5b. the same frames cut into tiles (each tile in its frame's split): the training set."""
        t = time.perf_counter()
        tiles_dir = self.out / "dataset-tiles"
        conv = convert_ground_truth_to_yolo(output_manifest, str(tiles_dir),
                                            {n: i for i, n in enumerate(DEFAULT_CLASSES)}, splits=DEMO_SPLITS,
                                            seed=self.seed, progress=self.progress, overwrite=True, tile=self.tiles)
        self.timings["tile"] = time.perf_counter() - t
        self.con.print(f"[green]✓[/] tiled dataset {conv.version}: {conv.tiles} tiles of {self.tiles.size} px from "
                       f"{conv.frames_tiled} frames ({conv.tile_boxes_slivers} slivers dropped): "
                       f"{tiles_dir / 'data.yaml'}")
        return tiles_dir

    @contextmanager
    def _bar(self, description: str, total: int) -> Iterator[Callable[[int], None]]:
        """One progress bar for a stage; yields ``advance(n)``. Bound to the demo's console (never sys.stdout,
        which is Ultralytics' log file while it runs)."""
        if not self.progress:
            yield lambda n: None
            return
        with Progress(TextColumn("{task.description}"), BarColumn(), AmountColumn(), TimeElapsedColumn(),
                      console=self.con, redirect_stdout=False, redirect_stderr=False, transient=False) as bar:
            task = bar.add_task(description, total=total)
            yield lambda n: bar.advance(task, n)

    def train(self, result: DemoResult, *, epochs: int, imgsz: int) -> None:
        """6. train YOLO11n on the tiles, evaluate it on the test split; Ultralytics' output into its log file."""
        assert result.tiles_dir is not None
        log = result.log_file = self.out / LOG_FILE
        t, cpu = time.perf_counter(), time.process_time()
        with self._bar("training YOLO11n on the tiles (epochs)", epochs) as advance, ultralytics_log(log):
            tr = train_yolo(result.tiles_dir, "yolo11n.yaml", epochs=epochs, imgsz=imgsz, batch=DEMO_BATCH,
                            seed=self.seed, project=self.out / "runs", name="train", exist_ok=True, verbose=False,
                            plots=True, extra_args=DEMO_TRAIN_ARGS, on_epoch=lambda done, total: advance(1))
        self.timings["train"] = time.perf_counter() - t
        self.timings["train_cpu"] = time.process_time() - cpu  # user + sys of every thread: load-independent
        t = time.perf_counter()
        # the full test frames, sliced into tiles of the training size (model.evaluate draws its own bar)
        ev = evaluate(tr.weights, result.dataset_dir, split="test", imgsz=imgsz, slice=self.tiles.tile_size,
                      overlap=self.tiles.overlap, project=self.out / "runs", name="evaluate", exist_ok=True,
                      verbose=False)
        self.timings["evaluate"] = time.perf_counter() - t
        result.train_dir = Path(tr.run_dir)
        small = ev.by_size.get("small", {})
        result.metrics = {**ev.metrics, "mAP50_small": small.get("mAP50"), "small_instances": small.get("instances"),
                          "evaluated_on": f"{ev.split} split, full frames, sliced {self.tiles.tile_size[0]} px"}
        result.by_size = ev.by_size

    def write_summary(self, result: DemoResult) -> None:
        (self.out / "demo-summary.json").write_text(json.dumps({
            "job_name": result.job_name, "status": result.status, "images": result.images,
            "output_manifest": result.output_manifest, "job_output": str(result.job_output),
            "dataset": str(result.dataset_dir), "dataset_version": result.dataset_version,
            "tiles": str(result.tiles_dir), "log": str(result.log_file) if result.log_file else None,
            "settings": result.settings,
            "metrics": result.metrics, "by_size": result.by_size, "timings_s": {k: round(v, 1) for k, v in self.timings.items()},
            "simulated_workers": self.sim_result.get("summary"),
        }, indent=2, default=str, allow_nan=False))


def _print_summary(con: Console, r: DemoResult) -> None:
    tab = Table(title="gtlabel demo: where everything is", show_header=False)
    tab.add_column(no_wrap=True)
    tab.add_column(overflow="fold")  # paths are folded onto the next line, never cut with an ellipsis
    tab.add_row("labeling job", f"{r.job_name} ({r.status}, {r.images} images)")
    if r.job_output is not None:
        tab.add_row("job output", f"{r.job_output}  (Ground Truth's files: manifests/output/output.manifest, "
                                  "annotations/worker-response/..., copied from the demo's embedded S3)")
    else:
        tab.add_row("output manifest", r.output_manifest)
    tab.add_row("quality report", str(r.report_html))
    tab.add_row("YOLO11 dataset", f"{r.dataset_dir / 'data.yaml'}  version {r.dataset_version}")
    tab.add_row("lineage", str(r.dataset_dir / "lineage.json"))
    if r.tiles_dir:
        tab.add_row("tiled dataset", str(r.tiles_dir / "data.yaml"))
    if r.train_dir:
        tab.add_row("trained model", str(r.train_dir / "weights" / "best.pt"))
    if r.log_file:
        tab.add_row("Ultralytics' log", str(r.log_file))
    con.print(tab)
    res = Table(title="gtlabel demo: results")
    res.add_column("measure", no_wrap=True)
    res.add_column("value", justify="right")
    labels = {"mAP50": "test mAP50 (full frames, sliced)", "mAP50_small": "test mAP50, small objects (< 32x32 px)",
              "mAP50-95": "test mAP50-95", "precision": "test precision", "recall": "test recall"}
    for key, label in labels.items():
        value = r.metrics.get(key)
        if isinstance(value, float):
            res.add_row(label, f"{value:.3f}")
    for stage, seconds in r.timings_s.items():
        res.add_row("train (CPU s, all threads)" if stage == "train_cpu" else f"{stage} (s)", f"{seconds:.1f}")
    con.print(res)

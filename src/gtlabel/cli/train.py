"""``gtlabel train | evaluate | preannotate | rank | pipeline build|upsert|start``: the model side.

Thin: parse, call :mod:`gtlabel.model` / :mod:`gtlabel.pipeline`, render. Ultralytics and the SageMaker SDK
load only when a command runs; without them the command exits 8 naming the extra to install.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

import typer
from rich.table import Table

from gtlabel import pipeline, storage
from gtlabel.cli._common import console, handle_errors
from gtlabel.cli._sharded import (
    ImageUri,
    InstanceCount,
    InstanceType,
    JobName,
    Region,
    Role,
    SageMaker,
    ShardCount,
    Sharded,
    ShardImages,
    ShardTopK,
    ShardType,
    Wait,
    WorkPrefix,
    pipeline_step,
    run_on_sagemaker,
)
from gtlabel.errors import ConfigError
from gtlabel.model.active import rank as rank_images
from gtlabel.model.evaluate import evaluate as evaluate_model
from gtlabel.model.preannotate import preannotate as preannotate_images
from gtlabel.model.shards import merge_shards
from gtlabel.model.tiled import train_on_tiles
from gtlabel.model.train import train_yolo
from gtlabel.sharded import DEFAULT_INSTANCE_TYPE, ShardOptions
from gtlabel.tiling import DEFAULT_TILE, TileSpec, parse_size


def _names(classes: str | None) -> list[str] | None:
    if classes is None:
        return None
    names = [c.strip() for c in classes.split(",") if c.strip()]
    if not names:
        raise ConfigError(f"--classes: expected names like drone,vehicle,person; got {classes!r}")
    return names


# sliced inference (gtlabel.model.sliced): the same four options on evaluate, preannotate and rank
SliceOpt = Annotated[str | None, typer.Option(
    "--slice", help="Sliced inference on the full frame: tile size in pixels, 640 or 640x480 (default: whole "
                    "frames at --imgsz). Use --imgsz equal to the tile size for native resolution.")]
OverlapOpt = Annotated[float, typer.Option(help="Share of a tile its neighbours overlap, in [0, 1) (--slice).")]
MergeOpt = Annotated[str, typer.Option(help="How tile boxes merge: nms (keep the best) or nmm (greedy merge, "
                                            "SAHI's GREEDYNMM) (--slice).")]
MatchOpt = Annotated[str, typer.Option(help="Overlap measure for merging: ios (intersection over the smaller "
                                            "box) or iou (--slice).")]
MatchThresholdOpt = Annotated[float, typer.Option(help="Boxes whose --match is >= this merge (--slice).")]
RuntimeOpt = Annotated[str, typer.Option(
    help="Inference runtime: torch (the .pt as it is), onnx (ONNX Runtime) or openvino: the same weights exported "
         "once and cached, a faster forward pass on CPU (needs the 'runtime' extra).")]


def _sliced(slice_: str | None, overlap: float, merge: str, match: str, match_threshold: float) -> dict[str, Any]:
    """The sliced-inference keywords of evaluate, preannotate, rank and ShardOptions, from the four options."""
    return {"slice": None if slice_ is None else parse_size(slice_, "--slice"), "overlap": overlap, "merge": merge,
            "match": match, "match_threshold": match_threshold}


def _local_runtime(runtime: str, sagemaker: bool) -> None:
    """--runtime other than torch runs on this machine only (the SageMaker shards run the .pt)."""
    if sagemaker and runtime != "torch":
        raise ConfigError("--runtime runs on this machine only; with --sagemaker the shards run the .pt (torch)")


def _fmt(v: Any) -> str:
    return "-" if v is None else f"{v:.4f}" if isinstance(v, float) else str(v)


def _metrics_table(title: str, overall: Mapping[str, float], per_class: Mapping[str, Mapping[str, Any]]) -> Table:
    cols = ("instances", "precision", "recall", "mAP50", "mAP50-95")
    t = Table(title=title)
    t.add_column("class")
    for c in cols:
        t.add_column(c, justify="right")
    t.add_row("all", str(sum(int(r.get("instances") or 0) for r in per_class.values())),
              *(_fmt(overall.get(c)) for c in cols[1:]), style="bold")
    for name, row in per_class.items():
        t.add_row(name, *(_fmt(row.get(c)) for c in cols))
    return t


# ----------------------------------------------------------------------------------------------- train
@handle_errors
def train(
    dataset: Annotated[str, typer.Argument(help="data.yaml or the dataset folder (local or s3://); with --tile, a "
                                           "Ground Truth output manifest (converted to tiles first).")],
    model: Annotated[str, typer.Option(help="Model yaml to train from scratch, or local/s3:// .pt weights.")]
    = "yolo11n.yaml",
    epochs: Annotated[int, typer.Option(min=1)] = 50,
    imgsz: Annotated[int | None, typer.Option(min=32, help="Image size (multiple of 32); default 640, with --tile "
                                              "the tile side.")] = None,
    batch: Annotated[int, typer.Option(help="Batch size.")] = 16,
    device: Annotated[str, typer.Option(help="cpu, 0, 0,1 ...")] = "cpu",
    seed: Annotated[int, typer.Option()] = 0,
    project: Annotated[str, typer.Option(help="Folder of runs.")] = "runs/gtlabel",
    name: Annotated[str, typer.Option(help="Run name (numbered when it exists, unless --exist-ok).")] = "train",
    exist_ok: Annotated[bool, typer.Option("--exist-ok", help="Reuse project/name.")] = False,
    workers: Annotated[int, typer.Option(min=0, help="Dataloader workers.")] = 0,
    patience: Annotated[int, typer.Option(min=1, help="Early-stopping patience (epochs).")] = 100,
    tile: Annotated[int | None, typer.Option(min=32, help="Convert the manifest DATASET into tiles of this side "
                                             "(px), train on them at imgsz = the tile side, and evaluate on the "
                                             "full test frames with sliced inference.")] = None,
    overlap: Annotated[float, typer.Option(help="With --tile: overlap of neighbouring tiles, in [0, 1).")]
    = DEFAULT_TILE["overlap"],
    classes: Annotated[str | None, typer.Option(help="With --tile: class names in id order, comma-separated "
                                                "(needed: a line's class-map lists only the classes on it).")]
    = None,
) -> None:
    """Train Ultralytics YOLO11 offline; writes weights, plots and metrics.json (with the dataset version).

    With --tile: a Ground Truth output manifest in; a tiled and a full-frame dataset (split by the same --seed),
    training on the tiles and evaluation on the full test frames (sliced), all under PROJECT/NAME."""
    if tile is not None:
        _train_on_tiles(dataset, tile=tile, overlap=overlap, classes=classes, model=model, epochs=epochs,
                        imgsz=imgsz, batch=batch, device=device, seed=seed,
                        out=f"{project}/{name}", overwrite=exist_ok)
        return
    res = train_yolo(dataset, model, epochs=epochs, imgsz=imgsz or 640, batch=batch, device=device, seed=seed,
                     project=project, name=name, exist_ok=exist_ok, workers=workers, patience=patience)
    console.print(_metrics_table(f"validation after {res.epochs} epoch(s)", res.metrics, res.per_class))
    console.print(f"dataset version: {res.dataset_version or '-'}", highlight=False, markup=False)
    console.print(f"weights: {res.weights}", highlight=False, markup=False, soft_wrap=True)
    console.print(f"metrics: {res.metrics_path}", highlight=False, markup=False, soft_wrap=True)


def _train_on_tiles(manifest: str, *, tile: int, overlap: float, classes: str | None, model: str, epochs: int,
                    imgsz: int | None, batch: int, device: str, seed: int, out: str, overwrite: bool) -> None:
    run = train_on_tiles(manifest, out, _names(classes), tile=TileSpec(size=tile, overlap=overlap, seed=seed),
                         model=model, epochs=epochs, imgsz=imgsz, batch=batch, device=device, seed=seed,
                         overwrite=overwrite)
    console.print(f"tiles: {run.tiles.tiles} of {tile} px from {run.tiles.frames_tiled} frame(s) -> {run.tiles_dir}",
                  highlight=False, markup=False, soft_wrap=True)
    console.print(_metrics_table(f"validation (tiles) after {run.train.epochs} epoch(s)", run.train.metrics,
                                 run.train.per_class))
    ev = run.evaluation
    console.print(_metrics_table(f"{ev.split} split, full frames, sliced {tile} px", ev.metrics, ev.per_class))
    console.print(f"weights: {run.train.weights}", highlight=False, markup=False, soft_wrap=True)
    console.print(f"metrics: {run.train.metrics_path}, {ev.metrics_path}", highlight=False, markup=False,
                  soft_wrap=True)


@handle_errors
def evaluate(
    model: Annotated[str, typer.Argument(help="Trained weights (.pt, local or s3://).")],
    dataset: Annotated[str, typer.Argument(help="data.yaml or the dataset folder (local or s3://).")],
    split: Annotated[str, typer.Option(help="test (falls back to val when absent), val or train.")] = "test",
    imgsz: Annotated[int, typer.Option(min=32)] = 640,
    batch: Annotated[int, typer.Option(min=1)] = 16,
    device: Annotated[str, typer.Option()] = "cpu",
    project: Annotated[str, typer.Option()] = "runs/gtlabel",
    name: Annotated[str, typer.Option()] = "evaluate",
    exist_ok: Annotated[bool, typer.Option("--exist-ok")] = False,
    slice_: SliceOpt = None,
    overlap: OverlapOpt = 0.2,
    merge: MergeOpt = "nms",
    match: MatchOpt = "ios",
    match_threshold: MatchThresholdOpt = 0.5,
    runtime: RuntimeOpt = "torch",
) -> None:
    """Evaluate a model on the labeled test split: per-class metrics, confusion matrix PNG, metrics.json.
    With --slice: on full frames with sliced inference, also by object size (small/medium/large)."""
    res = evaluate_model(model, dataset, split=split, imgsz=imgsz, batch=batch, device=device, project=project,
                   name=name, exist_ok=exist_ok, runtime=runtime,
                   **_sliced(slice_, overlap, merge, match, match_threshold))
    console.print(_metrics_table(f"{res.split} split", res.metrics, res.per_class))
    if res.by_size:
        t = Table(title="by object size (COCO areas, frame pixels)")
        for c in ("size", "instances", "precision", "recall", "mAP50", "mAP50-95"):
            t.add_column(c, justify="left" if c == "size" else "right")
        for size, row in res.by_size.items():
            t.add_row(size, *(_fmt(row.get(c)) for c in ("instances", "precision", "recall", "mAP50", "mAP50-95")))
        console.print(t)
    if res.split != split:
        console.print(f"note: the dataset has no {split} split; evaluated on {res.split}")
    console.print(f"confusion matrix: {res.confusion_matrix_png}", highlight=False, markup=False, soft_wrap=True)
    console.print(f"metrics: {res.metrics_path}", highlight=False, markup=False, soft_wrap=True)


# ----------------------------------------------------------------------------------------------- selection
@handle_errors
def preannotate(
    model: Annotated[str, typer.Argument(help="Trained weights (.pt, local or s3://).")],
    images: Annotated[str, typer.Argument(help="Input manifest, image folder or s3:// prefix.")],
    out: Annotated[str, typer.Option("--out", "-o", help="Input manifest to write (local or s3://).")],
    attribute: Annotated[str, typer.Option(help="Label attribute for the model's boxes.")] = "prelabels",
    conf: Annotated[float, typer.Option(min=0.0, max=1.0, help="Keep boxes with confidence >= this.")] = 0.25,
    classes: Annotated[str | None, typer.Option(
        help="The adjustment job's labels, comma-separated (default: the model's names).")] = None,
    job_name: Annotated[str, typer.Option(help="job-name written in the -metadata.")] = "gtlabel-preannotate",
    imgsz: Annotated[int, typer.Option(min=32)] = 640,
    device: Annotated[str, typer.Option()] = "cpu",
    sagemaker: SageMaker = False, role: Role = None, image_uri: ImageUri = None,
    instance_type: InstanceType = DEFAULT_INSTANCE_TYPE, instance_count: InstanceCount = 2,
    work_prefix: WorkPrefix = None, processing_job_name: JobName = None, region: Region = None,
    wait: Wait = True,
    slice_: SliceOpt = None,
    overlap: OverlapOpt = 0.2,
    merge: MergeOpt = "nms",
    match: MatchOpt = "ios",
    match_threshold: MatchThresholdOpt = 0.5,
    runtime: RuntimeOpt = "torch",
) -> None:
    """Write model boxes into an input manifest, in Ground Truth format, for an AdjustmentBoundingBox job."""
    _local_runtime(runtime, sagemaker)
    if sagemaker:
        opts = ShardOptions(task="preannotate", attribute=attribute, conf=conf, classes=_names(classes),
                            job_name=job_name, imgsz=imgsz, **_sliced(slice_, overlap, merge, match, match_threshold))
        run_on_sagemaker(opts, model, images, out, role=role, image_uri=image_uri, instance_type=instance_type,
                         instance_count=instance_count, work_prefix=work_prefix, job_name=processing_job_name,
                         region=region, wait=wait)
        return
    s = preannotate_images(model, images, out, attribute=attribute, conf=conf, class_names=_names(classes),
                           job_name=job_name,
            imgsz=imgsz, device=device, runtime=runtime, **_sliced(slice_, overlap, merge, match, match_threshold))
    console.print(f"{s.images} image(s), {s.boxes} box(es) under '{attribute}' -> {s.out_manifest}",
                  highlight=False, markup=False, soft_wrap=True)
    if s.unmapped_boxes:
        console.print(f"{s.unmapped_boxes} box(es) of model classes not in --classes were left out")
    if s.trimmed_boxes:
        console.print(f"{s.trimmed_boxes} lowest-confidence box(es) left out to stay within the manifest limit")
    console.print(f"use a label attribute other than '{attribute}' for the adjustment job")


@handle_errors
def rank(
    model: Annotated[str, typer.Argument(help="Trained weights (.pt, local or s3://).")],
    images: Annotated[str, typer.Argument(help="Input manifest, image folder or s3:// prefix.")],
    out: Annotated[str, typer.Option("--out", "-o", help="Input manifest of the top-K images.")],
    top_k: Annotated[int, typer.Option("--top-k", "-k", min=1, help="How many images to keep.")] = 100,
    strategy: Annotated[str, typer.Option(
        help="entropy, least_confidence, margin or low_confidence_count.")] = "entropy",
    conf: Annotated[float, typer.Option(min=0.0, max=1.0, help="Floor for detections that count.")] = 0.05,
    threshold: Annotated[float, typer.Option(help="Decision threshold for margin / low_confidence_count.")] = 0.5,
    score_key: Annotated[str, typer.Option(help="Pass-through key that holds the score.")] = "active-learning",
    prelabels: Annotated[str | None, typer.Option(
        help="Also write the model's boxes under this label attribute (for an adjustment job).")] = None,
    classes: Annotated[str | None, typer.Option(help="Job labels for --prelabels, comma-separated.")] = None,
    imgsz: Annotated[int, typer.Option(min=32)] = 640,
    device: Annotated[str, typer.Option()] = "cpu",
    diversity: Annotated[int | None, typer.Option(
        "--diversity", metavar="BITS", min=0, max=16,
        help="Keep the top-K from being a burst of near-identical frames: an image within BITS bits (perceptual "
             "hash; 8 suits drone bursts) of a higher-ranked one goes after the distinct ones.")] = None,
    sagemaker: SageMaker = False, role: Role = None, image_uri: ImageUri = None,
    instance_type: InstanceType = DEFAULT_INSTANCE_TYPE, instance_count: InstanceCount = 2,
    work_prefix: WorkPrefix = None, processing_job_name: JobName = None, region: Region = None,
    wait: Wait = True,
    slice_: SliceOpt = None,
    overlap: OverlapOpt = 0.2,
    merge: MergeOpt = "nms",
    match: MatchOpt = "ios",
    match_threshold: MatchThresholdOpt = 0.5,
    runtime: RuntimeOpt = "torch",
) -> None:
    """Active learning: rank images by model uncertainty and write the top-K as an input manifest."""
    if sagemaker and diversity is not None:
        raise ConfigError("--diversity runs on this machine only (the shards' merge ranks by score alone)")
    _local_runtime(runtime, sagemaker)
    if sagemaker:
        opts = ShardOptions(task="rank", top_k=top_k, strategy=strategy, conf=conf, threshold=threshold,
                            score_key=score_key, prelabels=prelabels, classes=_names(classes), imgsz=imgsz,
                            **_sliced(slice_, overlap, merge, match, match_threshold))
        run_on_sagemaker(opts, model, images, out, role=role, image_uri=image_uri, instance_type=instance_type,
                         instance_count=instance_count, work_prefix=work_prefix, job_name=processing_job_name,
                         region=region, wait=wait)
        return
    s = rank_images(model, images, out, top_k=top_k, strategy=strategy, conf=conf, threshold=threshold,
            score_key=score_key, prelabel_attribute=prelabels, class_names=_names(classes), imgsz=imgsz,
            device=device, **_sliced(slice_, overlap, merge, match, match_threshold), diversity=diversity,
            runtime=runtime)
    t = Table(title=f"top {s.written} of {s.scored} by {s.strategy}")
    t.add_column("#", justify="right")
    t.add_column("source-ref")
    t.add_column("score", justify="right")
    for i, (ref, score) in enumerate(s.top[:20], start=1):
        t.add_row(str(i), ref, f"{score:.4f}")
    console.print(t)
    console.print(f"manifest: {s.out_manifest}", highlight=False, markup=False, soft_wrap=True)


# ----------------------------------------------------------------------------------------------- pipeline
pipeline_app = typer.Typer(help="SageMaker Pipeline: convert -> train YOLO11 -> evaluate -> register.",
                           no_args_is_help=True)


def _config(name: str, role: str | None, output_prefix: str, region: str | None, input_manifest: str | None,
            classes: str | None, epochs: int, imgsz: int, batch: int, processing_image: str | None,
            training_image: str | None, inference_image: str | None, map_threshold: float,
            model_package_group: str, training_instance: str,
            sharded: tuple[str | None, str | None, int, str, int] | None = None) -> Any:
    kwargs: dict[str, Any] = {
        "name": name, "output_prefix": output_prefix, "region": region, "epochs": epochs, "imgsz": imgsz,
        "batch": batch, "map_threshold": map_threshold, "model_package_group": model_package_group,
        "training_instance_type": training_instance,
        "input_manifest_uri": input_manifest or "", "processing_image_uri": processing_image or "",
        "training_image_uri": training_image or "", "inference_image_uri": inference_image or "",
    }
    if role:
        kwargs["role_arn"] = role
    names = _names(classes)
    if names:
        kwargs["class_names"] = tuple(names)
    kwargs["sharded"] = pipeline_step(*sharded, names) if sharded else None
    cfg = pipeline.config_from_env(**kwargs)
    if not cfg.role_arn:
        raise ConfigError("give the pipeline's execution role: --role ARN (or GTLABEL_ROLE_ARN)")
    return cfg


_Name = Annotated[str, typer.Option(help="Pipeline name.")]
_Role = Annotated[str | None, typer.Option(help="Execution role ARN (default: GTLABEL_ROLE_ARN).")]
_Prefix = Annotated[str, typer.Option(help="s3://bucket/prefix for datasets, models and evaluations.")]
_Region = Annotated[str | None, typer.Option(help="Region (default: GTLABEL_REGION or boto3's).")]
_Manifest = Annotated[str | None, typer.Option(help="Default InputManifestUri (a GT output manifest).")]
_Classes = Annotated[str | None, typer.Option(help="Default ClassNames, comma-separated.")]
_Image = Annotated[str | None, typer.Option(help="Image URI with gtlabel[train] installed.")]


@handle_errors
def pipeline_build(
    output_prefix: _Prefix,
    out: Annotated[str, typer.Option("--out", "-o", help="Where to write the JSON definition ('-': stdout).")]
    = "-",
    name: _Name = "gtlabel-yolo11", role: _Role = None,
    region: _Region = None, input_manifest: _Manifest = None, classes: _Classes = None,
    epochs: Annotated[int, typer.Option(min=1)] = 50, imgsz: Annotated[int, typer.Option(min=32)] = 640,
    batch: Annotated[int, typer.Option(min=1)] = 16,
    processing_image: _Image = None, training_image: _Image = None, inference_image: _Image = None,
    map_threshold: Annotated[float, typer.Option(min=0.0, max=1.0, help="Register when mAP50-95 >= this.")]
    = 0.25,
    model_package_group: Annotated[str, typer.Option()] = "gtlabel-yolo11",
    training_instance: Annotated[str, typer.Option()] = "ml.g5.xlarge",
    sharded: Sharded = None, shard_images: ShardImages = None, shard_instance_count: ShardCount = 2,
    shard_instance_type: ShardType = DEFAULT_INSTANCE_TYPE, shard_top_k: ShardTopK = 100,
) -> None:
    """Build the pipeline definition offline (no AWS call) and write it as JSON."""
    cfg = _config(name, role, output_prefix, region, input_manifest, classes, epochs, imgsz, batch,
                  processing_image, training_image, inference_image, map_threshold, model_package_group,
                  training_instance, (sharded, shard_images, shard_instance_count, shard_instance_type, shard_top_k))
    definition = pipeline.pipeline_definition(cfg)
    if out == "-":
        typer.echo(definition)
        return
    storage.write_text(out, definition + "\n", content_type="application/json")
    console.print(f"pipeline definition: {out}", highlight=False, markup=False, soft_wrap=True)


@handle_errors
def pipeline_upsert(
    output_prefix: _Prefix,
    name: _Name = "gtlabel-yolo11", role: _Role = None,
    region: _Region = None, input_manifest: _Manifest = None, classes: _Classes = None,
    epochs: Annotated[int, typer.Option(min=1)] = 50, imgsz: Annotated[int, typer.Option(min=32)] = 640,
    batch: Annotated[int, typer.Option(min=1)] = 16,
    processing_image: _Image = None, training_image: _Image = None, inference_image: _Image = None,
    map_threshold: Annotated[float, typer.Option(min=0.0, max=1.0)] = 0.25,
    model_package_group: Annotated[str, typer.Option()] = "gtlabel-yolo11",
    training_instance: Annotated[str, typer.Option()] = "ml.g5.xlarge",
    sharded: Sharded = None, shard_images: ShardImages = None, shard_instance_count: ShardCount = 2,
    shard_instance_type: ShardType = DEFAULT_INSTANCE_TYPE, shard_top_k: ShardTopK = 100,
) -> None:
    """Create or update the pipeline on the SageMaker endpoint boto3 resolves (AWS_ENDPOINT_URL_SAGEMAKER)."""
    cfg = _config(name, role, output_prefix, region, input_manifest, classes, epochs, imgsz, batch,
                  processing_image, training_image, inference_image, map_threshold, model_package_group,
                  training_instance, (sharded, shard_images, shard_instance_count, shard_instance_type, shard_top_k))
    arn = pipeline.upsert_pipeline(cfg)
    console.print(f"pipeline: {arn}", highlight=False, markup=False, soft_wrap=True)


@handle_errors
def pipeline_start(
    name: _Name = "gtlabel-yolo11", region: _Region = None,
    param: Annotated[list[str] | None, typer.Option(
        "--param", "-p", help="Parameter override Name=Value (repeatable), e.g. -p Epochs=10.")] = None,
) -> None:
    """Start a pipeline execution; prints its ARN and status."""
    params: dict[str, str] = {}
    for item in param or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"--param: expected Name=Value, got {item!r}")
        params[key.strip()] = value
    res = pipeline.start_pipeline(name, parameters=params, region=region)
    console.print(f"execution: {res['arn']}\nstatus: {res['status']}", highlight=False, markup=False,
                  soft_wrap=True)


@handle_errors
def pipeline_merge_shards(
    shards: Annotated[str, typer.Argument(help="The shards' outputs: an s3:// prefix or a local folder.")],
    out: Annotated[str, typer.Option("--out", "-o", help="Merged manifest to write (local or s3://).")],
    count: Annotated[int | None, typer.Option("--shards", help="How many shards there must be.")] = None,
) -> None:
    """Merge the outputs of a sharded preannotate/rank job (every shard present; sorted, no duplicates)."""
    s = merge_shards(shards, out, shards=count)
    console.print(f"{s.shards} shard(s), {s.images} image(s), {s.lines} line(s) -> {s.out_manifest}",
                  highlight=False, markup=False, soft_wrap=True)


pipeline_app.command("build")(pipeline_build)
pipeline_app.command("upsert")(pipeline_upsert)
pipeline_app.command("start")(pipeline_start)
pipeline_app.command("merge-shards")(pipeline_merge_shards)


def register(app: typer.Typer) -> None:
    """Add this area's commands to the root app."""
    app.command("train")(train)
    app.command("evaluate")(evaluate)
    app.command("preannotate")(preannotate)
    app.command("rank")(rank)
    app.add_typer(pipeline_app, name="pipeline")

"""Processing step: pre-annotate or rank one shard of images; or merge the shards' outputs.

``shard.py preannotate|rank`` runs on every instance of a Processing job whose image input is
``ShardedByS3Key``: SageMaker copies this instance's share of the S3 prefix into ``--images``, the model into
``--model`` (a ``.pt``, or the training step's ``model.tar.gz``), and uploads ``--output`` at the end. The
shard's index and count come from ``/opt/ml/config/resourceconfig.json`` (``current_host`` in ``hosts``), or
from ``--shard I --shards N``. It runs :func:`gtlabel.model.preannotate.preannotate` /
:func:`gtlabel.model.active.rank` on the shard's images, rebases each ``source-ref`` onto ``--source-prefix``
(the S3 prefix the images came from) and writes ``part-<i>-of-<n>.manifest`` + ``part-<i>-of-<n>.json``
(:mod:`gtlabel.model.shards`). A shard with no images writes an empty part, so the merge can tell it from a
shard that never finished.

``shard.py merge --input DIR --output DIR [--shards N]`` merges the parts into ``<output>/merged.manifest``
(:func:`gtlabel.model.shards.merge_shards`).

This file is also what ``gtlabel preannotate --sagemaker`` uploads as the job's code; the container needs
``gtlabel[train]`` installed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson

from gtlabel import facts, storage
from gtlabel.errors import ConfigError, GtlabelError, InputError, NotFound
from gtlabel.formats import strict_json
from gtlabel.formats.ground_truth import SOURCE_REF
from gtlabel.model.active import rank
from gtlabel.model.preannotate import preannotate
from gtlabel.model.shards import MERGED_MANIFEST, TASKS, ShardRecord, merge_shards, rebase_source_ref
from gtlabel.pipeline_scripts.evaluate import unpack_model
from gtlabel.tiling import parse_size

PROC = Path(os.environ.get("SM_PROCESSING_ROOT", "/opt/ml/processing"))
RESOURCE_CONFIG = os.environ.get("SM_RESOURCE_CONFIG", "/opt/ml/config/resourceconfig.json")


def shard_of(resource_config: str | os.PathLike[str], shard: int | None = None, shards: int | None = None
             ) -> tuple[int, int]:
    """``(index, count)`` of this instance: given, or from SageMaker's resource config (``current_host``'s
    position in ``hosts``); one shard of one when neither is there."""
    if shard is not None or shards is not None:
        if shard is None or shards is None or not 0 <= shard < shards:
            raise ConfigError(f"--shard/--shards: need 0 <= shard < shards, got {shard} of {shards}")
        return shard, shards
    path = Path(resource_config)
    if not path.is_file():
        return 0, 1
    try:
        doc = json.loads(path.read_text())
        hosts = list(doc["hosts"])
        return hosts.index(doc["current_host"]), len(hosts)
    except (ValueError, KeyError, TypeError) as exc:
        raise InputError(f"expected current_host listed in hosts: {exc}", file=str(path)) from None


def find_weights(model: Path, work: Path) -> Path:
    """The weights: ``model`` itself, the one ``.pt`` in the folder, or ``best.pt`` from ``model.tar.gz``."""
    if model.is_file() and model.suffix == ".pt":
        return model
    if model.is_dir():
        pts = sorted(model.rglob("*.pt"))
        if len(pts) == 1:
            return pts[0]
        if len(pts) > 1:
            raise InputError(f"expected one .pt file, found {len(pts)}: {', '.join(p.name for p in pts[:5])}",
                             file=str(model))
        return unpack_model(model, work)
    raise NotFound("no model weights (.pt or model.tar.gz) here", str(model))


def _options(args: argparse.Namespace) -> dict[str, Any]:
    classes = [c.strip() for c in args.classes.split(",") if c.strip()] if args.classes else None
    common: dict[str, Any] = {"class_names": classes, "job_name": args.job_name, "imgsz": args.imgsz,
                              "iou": args.iou, "device": args.device, "batch": args.batch, "max_det": args.max_det}
    if args.task == "preannotate":
        common.update(attribute=args.attribute, conf=args.conf if args.conf is not None else 0.25,
                      creation_date=args.creation_date or None)
    else:
        common.update(top_k=args.top_k, strategy=args.strategy, conf=args.conf if args.conf is not None else 0.05,
                      threshold=args.threshold, score_key=args.score_key, prelabel_attribute=args.prelabels or None,
                      prelabel_conf=args.prelabel_conf)
    if args.slice:
        common.update(slice=parse_size(args.slice, "--slice"), overlap=args.overlap, merge=args.merge, match=args.match,
                      match_threshold=args.match_threshold)
    return {k: v for k, v in common.items() if v is not None or k == "class_names"}


def run_shard(args: argparse.Namespace) -> ShardRecord:
    """Run the task on this shard's images and write its part files; returns its record."""
    index, count = shard_of(args.resource_config, args.shard, args.shards)
    if not storage.is_s3(args.source_prefix):
        raise ConfigError(f"--source-prefix must be the images' s3:// prefix, got {args.source_prefix!r}")
    images, out = Path(args.images), Path(args.output)
    rec = ShardRecord(task=args.task, shard=index, shards=count, source_prefix=args.source_prefix,
                      score_key=args.score_key if args.task == "rank" else None,
                      top_k=args.top_k if args.task == "rank" else None)
    out.mkdir(parents=True, exist_ok=True)
    has_images = images.is_dir() and any(storage.list_objects(images, suffixes=facts.limits().image_suffixes))
    with storage.atomic_writer(out / rec.manifest_name, content_type="application/x-ndjson") as fh:
        if has_images:
            _predict(args, images, rec, fh)
    storage.write_bytes(out / rec.record_name, rec.dumps() + b"\n", content_type="application/json")
    return rec


def _predict(args: argparse.Namespace, images: Path, rec: ShardRecord, fh: Any) -> None:
    device = args.device
    if device is None:
        import torch

        device = "0" if torch.cuda.is_available() else "cpu"
    args.device = device
    with tempfile.TemporaryDirectory(prefix="gtlabel-shard-") as work:
        weights = find_weights(Path(args.model), Path(work) / "model")
        # the library writes source-refs relative to its manifest's folder: a manifest inside the image folder
        # holds paths relative to it, which rebase onto the S3 prefix the images came from
        local = images / f".gtlabel-part-{rec.shard:05d}.manifest"
        try:
            if args.task == "preannotate":
                s = preannotate(weights, images, local, **_options(args))
                rec.images, rec.boxes = s.images, s.boxes
            else:
                r = rank(weights, images, local, **_options(args))
                rec.images = r.scored
            for _lineno, raw in storage.iter_lines(local):
                doc = orjson.loads(raw)
                doc[SOURCE_REF] = rebase_source_ref(doc[SOURCE_REF], args.source_prefix)
                if args.task == "rank" and args.prelabels:
                    rec.boxes += len(doc.get(args.prelabels, {}).get("annotations", []))
                fh.write(strict_json.dumps(doc) + b"\n")
                rec.lines += 1
        finally:
            local.unlink(missing_ok=True)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="gtlabel.pipeline_scripts.shard", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="task", required=True)
    for task in TASKS:
        p = sub.add_parser(task, help=f"{task} this instance's shard of the images")
        p.add_argument("--images", default=str(PROC / "input/images"))
        p.add_argument("--model", default=str(PROC / "input/model"))
        p.add_argument("--output", default=str(PROC / "output/shards"))
        p.add_argument("--source-prefix", required=True, help="the s3:// prefix the images were copied from")
        p.add_argument("--resource-config", default=RESOURCE_CONFIG)
        p.add_argument("--shard", type=int, default=None, help="this shard's index (default: resource config)")
        p.add_argument("--shards", type=int, default=None, help="the shard count (default: resource config)")
        p.add_argument("--classes", default="", help="the job's labels, comma-separated (default: the model's)")
        p.add_argument("--job-name", default=f"gtlabel-{'preannotate' if task == 'preannotate' else 'active-learning'}")
        p.add_argument("--conf", type=float, default=None)
        p.add_argument("--iou", type=float, default=0.7)
        p.add_argument("--imgsz", type=int, default=640)
        p.add_argument("--batch", type=int, default=8)
        p.add_argument("--max-det", type=int, default=100)
        p.add_argument("--device", default=None, help="default: GPU 0 when CUDA is available, else cpu")
        p.add_argument("--slice", default="", help="sliced inference: tile size, 640 or 640x480 (default: whole "
                       "frames)")
        p.add_argument("--overlap", type=float, default=0.2)
        p.add_argument("--merge", default="nms", help="nms or nmm")
        p.add_argument("--match", default="ios", help="ios or iou")
        p.add_argument("--match-threshold", type=float, default=0.5)
        if task == "preannotate":
            p.add_argument("--attribute", default="prelabels")
            p.add_argument("--creation-date", default="")
        else:
            p.add_argument("--top-k", type=int, required=True)
            p.add_argument("--strategy", default="entropy")
            p.add_argument("--threshold", type=float, default=0.5)
            p.add_argument("--score-key", default="active-learning")
            p.add_argument("--prelabels", default="")
            p.add_argument("--prelabel-conf", type=float, default=0.25)
    m = sub.add_parser("merge", help="merge the shards' outputs")
    m.add_argument("--input", default=str(PROC / "input/shards"))
    m.add_argument("--output", default=str(PROC / "output/merged"))
    m.add_argument("--shards", default="", help="how many shards there must be (default: what the parts say)")
    return ap.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        if args.task == "merge":
            s = merge_shards(args.input, Path(args.output) / MERGED_MANIFEST,
                             shards=int(args.shards) if args.shards else None)
            print(f"gtlabel merge: {s.shards} shard(s), {s.images} image(s), {s.lines} line(s) -> {s.out_manifest}")
            return 0
        rec = run_shard(args)
    except (GtlabelError, ValueError) as exc:
        print(f"gtlabel shard {args.task} failed: {exc}", file=sys.stderr)
        return 1
    print(f"gtlabel {rec.task}: shard {rec.shard} of {rec.shards}, {rec.images} image(s), {rec.lines} line(s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""The ``--sagemaker`` options that ``gtlabel preannotate`` and ``gtlabel rank`` share, and the run they start
(:func:`gtlabel.sharded.run_sharded`: a Processing job sharded across instances, then the merge)."""

from __future__ import annotations

from typing import Annotated

import typer

from gtlabel import storage
from gtlabel.cli._common import console
from gtlabel.errors import ConfigError
from gtlabel.settings import get_settings
from gtlabel.sharded import ShardedJob, ShardedStep, ShardOptions, run_sharded

_HELP = "SageMaker (--sagemaker)"
_STEP = "Sharded step (--sharded)"

SageMaker = Annotated[bool, typer.Option(
    "--sagemaker", help="Run as a SageMaker Processing job sharded across instances by S3 key (IMAGES: an s3:// "
    "prefix; extra: pipeline); the shards' outputs are merged into --out.", rich_help_panel=_HELP)]
Role = Annotated[str | None, typer.Option(help="The job's execution role ARN (default: GTLABEL_ROLE_ARN).",
                                          rich_help_panel=_HELP)]
ImageUri = Annotated[str | None, typer.Option(help="Container image with gtlabel[train] installed.",
                                              rich_help_panel=_HELP)]
InstanceType = Annotated[str, typer.Option(help="Instance type (check its price: not in gtlabel's facts).",
                                           rich_help_panel=_HELP)]
InstanceCount = Annotated[int, typer.Option(help="Instances = shards.", rich_help_panel=_HELP)]
WorkPrefix = Annotated[str | None, typer.Option(
    help="s3:// prefix for the job's code, model and shard outputs (default: gtlabel-sharded/ beside an s3:// "
    "--out).", rich_help_panel=_HELP)]
JobName = Annotated[str | None, typer.Option(help="Processing job name (default: gtlabel-<task>-<UTC time>).",
                                             rich_help_panel=_HELP)]
Region = Annotated[str | None, typer.Option(help="Region (default: boto3's).", rich_help_panel=_HELP)]
Wait = Annotated[bool, typer.Option("--wait/--no-wait", help="Wait for the job and merge its shards.",
                                    rich_help_panel=_HELP)]


def run_on_sagemaker(options: ShardOptions, model: str, images: str, out: str, *, role: str | None,
                     image_uri: str | None, instance_type: str, instance_count: int, work_prefix: str | None,
                     job_name: str | None, region: str | None, wait: bool) -> None:
    """Start the sharded job; with ``wait``, wait and merge into ``out``; print what happened."""
    role = role or get_settings().role_arn
    if not role:
        raise ConfigError("--sagemaker needs the job's execution role: --role ARN (or GTLABEL_ROLE_ARN)")
    if not image_uri:
        raise ConfigError("--sagemaker needs --image-uri: a container image with gtlabel[train] installed")
    if work_prefix is None:
        if not storage.is_s3(out):
            raise ConfigError("--sagemaker needs --work-prefix s3://bucket/prefix (or an s3:// --out, beside which "
                              "the job's files go)")
        work_prefix = out.rsplit("/", 1)[0] + "/gtlabel-sharded"
    job = ShardedJob(model=model, images=images, work_prefix=work_prefix, role_arn=role, image_uri=image_uri,
                     instance_type=instance_type, instance_count=instance_count, options=options,
                     job_name=job_name, region=region)
    res = run_sharded(job, out, wait=wait)
    console.print(f"processing job {res.job_name}: {res.status} ({instance_count} x {instance_type})",
                  highlight=False, markup=False, soft_wrap=True)
    if res.merged is None:
        console.print(f"its shards go to {res.shards_uri}; when it has completed, merge them with\n"
                      f"  gtlabel pipeline merge-shards {res.shards_uri} -o {out} --shards {instance_count}",
                      highlight=False, markup=False, soft_wrap=True)
        return
    m = res.merged
    console.print(f"{m.shards} shard(s), {m.images} image(s), {m.lines} line(s)"
                  f"{f', {m.boxes} box(es)' if m.task == 'preannotate' else ''} -> {m.out_manifest}",
                  highlight=False, markup=False, soft_wrap=True)
    if m.duplicates:
        console.print(f"{m.duplicates} line(s) of a source-ref another shard also gave were left out")


# ----------------------------------------------------------------------------------------------- pipeline step
Sharded = Annotated[str | None, typer.Option(
    "--sharded", help="Add a step that runs preannotate or rank with the trained model over ShardImagesUri, "
    "sharded across instances, after the model is registered (then MergeShards).", rich_help_panel=_STEP)]
ShardImages = Annotated[str | None, typer.Option(help="Default ShardImagesUri (an s3:// prefix).",
                                                 rich_help_panel=_STEP)]
ShardCount = Annotated[int, typer.Option(help="Default ShardInstanceCount.", rich_help_panel=_STEP)]
ShardType = Annotated[str, typer.Option(help="Default ShardInstanceType.", rich_help_panel=_STEP)]
ShardTopK = Annotated[int, typer.Option(help="--sharded rank: how many images to keep.", rich_help_panel=_STEP)]


def pipeline_step(task: str | None, images: str | None, count: int, instance_type: str, top_k: int,
                  classes: list[str] | None) -> ShardedStep | None:
    """The pipeline's sharded step from the ``--sharded`` options (``None`` without ``--sharded``)."""
    if task is None:
        return None
    return ShardedStep(images_uri=images or "", instance_count=count, instance_type=instance_type,
                       options=ShardOptions(task=task, top_k=top_k, classes=classes))

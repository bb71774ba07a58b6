"""``gtlabel report``: the label-quality report (HTML + JSON) of a job's output; ``gtlabel audit``: a
verification/adjustment job for a sample of it."""

from __future__ import annotations

import json
from typing import Annotated

import orjson
import typer

from gtlabel import storage
from gtlabel.cli._common import Exit, console, handle_errors
from gtlabel.convert.classes import label_config_names
from gtlabel.errors import ConfigError, InputError
from gtlabel.quality.audit import audit
from gtlabel.quality.report import resolve_output, write_report


def _class_names(labels: str | None, label_categories: str | None) -> list[str] | None:
    if labels and label_categories:
        raise ConfigError("give --labels or --label-categories, not both")
    if labels:
        names = [x.strip() for x in labels.split(",") if x.strip()]
        if not names:
            raise ConfigError(f"--labels: expected comma-separated class names, got {labels!r}")
        return names
    if label_categories:
        try:
            cfg = orjson.loads(storage.read_bytes(label_categories))
        except orjson.JSONDecodeError as exc:
            raise InputError(f"not valid JSON: {exc}", file=label_categories) from exc
        return label_config_names(cfg)
    return None


@handle_errors
def report_cmd(
    target: Annotated[str, typer.Argument(help="Output manifest (s3:// or path) or the job output prefix "
                                                "<S3OutputPath>/<job-name>.")],
    output: Annotated[str, typer.Option("-o", "--output", help="HTML report to write (s3:// or path).")] = "report.html",
    json_out: Annotated[str | None, typer.Option("--json", help="Also write the data as JSON here "
                                                              "(default: the HTML path with .json).")] = None,
    truth: Annotated[str | None, typer.Option(help="Reference labels for gold-standard images (an output manifest "
                                                    "with the true boxes).")] = None,
    label_attribute: Annotated[str | None, typer.Option(help="Label attribute to read (default: detected).")] = None,
    labels: Annotated[str | None, typer.Option(help="The job's classes in class-id order, comma-separated.")] = None,
    label_categories: Annotated[str | None, typer.Option(help="The job's label category config JSON "
                                                              "(LabelCategoryConfigS3Uri).")] = None,
    iou_threshold: Annotated[float, typer.Option(help="IoU for matching a worker's box to a consolidated one.")] = 0.5,
    worst: Annotated[int, typer.Option(help="How many worst images to show.")] = 12,
    thumbnails: Annotated[bool, typer.Option(help="Draw thumbnails of the worst images (reads the images).")] = True,
    fail_on: Annotated[str | None, typer.Option(help="Exit 3 when there are findings of this severity "
                                                     "(error or warning).")] = None,
    usernames: Annotated[bool, typer.Option(help="Show workers' usernames beside their ids where the workteam's "
                                                 "Cognito user pool can be read (cognito-idp ListUsers).")] = True,
) -> None:
    """Validate a job's labels, measure its workers and write a self-contained HTML quality report."""
    if fail_on not in (None, "error", "warning"):
        raise ConfigError(f"--fail-on: expected error or warning, got {fail_on!r}")
    if json_out is None:
        json_out = (output[:-5] if output.endswith(".html") else output) + ".json"
    rep = write_report(target, output, json_out=json_out, truth=truth, label_attribute=label_attribute,
                       class_names=_class_names(labels, label_categories), thumbnails=thumbnails, worst=worst,
                       iou_threshold=iou_threshold, usernames=usernames)
    s = rep.data["summary"]
    names = {w["worker_id"]: w.get("username") for w in (rep.data["workers"] or {}).get("workers", [])}
    flagged = [f"{w} ({names[w]})" if names.get(w) else w for w in s.get("flagged_workers", [])]
    console.print(f"[bold]{s['images']}[/] images, {s['boxes']} boxes, {s['errors']} errors, "
                  f"{s['warnings']} warnings, {s['failed_images']} failed"
                  + (f", flagged workers: {', '.join(flagged) or 'none'}" if "workers" in s else ""),
                  highlight=False, soft_wrap=True)  # worker ids are never broken across lines
    console.print(f"report: {output}\njson:   {json_out}")
    if (fail_on == "error" and s["errors"]) or (fail_on == "warning" and (s["errors"] or s["warnings"])):
        raise typer.Exit(int(Exit.INVALID))


@handle_errors
def audit_cmd(
    target: Annotated[str, typer.Argument(help="Output manifest (s3:// or path) or the job output prefix.")],
    manifest_out: Annotated[str, typer.Option("--manifest-out", help="Where to write the sample manifest "
                                                                     "(s3:// for a real job).")],
    output_path: Annotated[str, typer.Option(help="S3OutputPath of the audit job.")],
    sample: Annotated[int | None, typer.Option(help="Number of images to audit.")] = None,
    fraction: Annotated[float | None, typer.Option(help="Fraction of the images to audit (0..1].")] = None,
    strategy: Annotated[str, typer.Option(help="lowest-confidence or random.")] = "lowest-confidence",
    seed: Annotated[int, typer.Option(help="Seed of the random sample.")] = 0,
    kind: Annotated[str, typer.Option(help="adjustment or verification.")] = "adjustment",
    labels: Annotated[str | None, typer.Option(help="The job's classes in class-id order, comma-separated.")] = None,
    label_categories: Annotated[str | None, typer.Option(help="The job's label category config JSON.")] = None,
    label_attribute: Annotated[str | None, typer.Option(help="Label attribute to read (default: detected).")] = None,
    workers_per_object: Annotated[int, typer.Option(help="Reviewers per image.")] = 1,
    name: Annotated[str | None, typer.Option(help="Audit job name (default: gtlabel-audit-<kind>-<time>).")] = None,
    workteam: Annotated[str | None, typer.Option(help="Private workteam name or ARN.")] = None,
    create: Annotated[bool, typer.Option("--create", help="Call CreateLabelingJob (else print the request).")] = False,
) -> None:
    """Sample labeled images (lowest confidence first, or random) and build a verification/adjustment job."""
    if strategy not in ("lowest-confidence", "random"):
        raise ConfigError(f"--strategy: expected lowest-confidence or random, got {strategy!r}")
    if kind not in ("adjustment", "verification"):
        raise ConfigError(f"--kind: expected adjustment or verification, got {kind!r}")
    manifest, _ = resolve_output(target)
    overrides: dict[str, object] = {}
    if name:
        overrides["name"] = name
    if workteam:
        overrides["workforce"] = {"type": "private", "workteam": workteam}
    sm = None
    if create or workteam is None:
        import boto3  # lazy: ~0.2 s of import time, paid only where AWS is called

        sm = boto3.client("sagemaker")
    res = audit(manifest, manifest_out, output_path=output_path, kind=kind, n=sample,  # type: ignore[arg-type]
                fraction=fraction, strategy=strategy, seed=seed,  # type: ignore[arg-type]
                labels=_class_names(labels, label_categories), label_attribute=label_attribute,
                workers_per_object=workers_per_object, spec_overrides=overrides, sm_client=sm, check_name=create)
    for it in res.items:
        console.print(f"{it.source_ref}  [dim]{it.reason}[/]", highlight=False)
    console.print(f"sample manifest: {res.manifest_uri} ({len(res.items)} images)")
    if res.built is None:
        return
    if not create:
        console.print_json(json.dumps(res.built.request, default=str, allow_nan=False))
        console.print("dry run: add --create to start the job")
        return
    assert sm is not None
    arn = sm.create_labeling_job(**res.built.request)["LabelingJobArn"]
    console.print(f"created {arn}")


def register(app: typer.Typer) -> None:
    """Add this area's commands to the root app."""
    app.command("report", help="Label-quality report (HTML + JSON) of a job's output.")(report_cmd)
    app.command("audit", help="Build a verification/adjustment job for a sample of a job's labels.")(audit_cmd)

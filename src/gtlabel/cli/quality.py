"""``gtlabel report``: the label-quality report (HTML + JSON) of a job's output; ``gtlabel audit``: a
verification/adjustment job for a sample of it."""

from __future__ import annotations

from typing import Annotated

import typer

from gtlabel.cli._common import Exit, console, handle_errors
from gtlabel.errors import ConfigError


def _class_names(labels: str | None, label_categories: str | None) -> list[str] | None:
    if labels and label_categories:
        raise ConfigError("give --labels or --label-categories, not both")
    if labels:
        names = [x.strip() for x in labels.split(",") if x.strip()]
        if not names:
            raise ConfigError(f"--labels: expected comma-separated class names, got {labels!r}")
        return names
    if label_categories:
        import orjson

        from gtlabel import storage
        from gtlabel.errors import InputError
        from gtlabel.yolo import label_config_names

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
) -> None:
    """Validate a job's labels, measure its workers and write a self-contained HTML quality report."""
    from gtlabel.quality.report import write_report

    if fail_on not in (None, "error", "warning"):
        raise ConfigError(f"--fail-on: expected error or warning, got {fail_on!r}")
    if json_out is None:
        json_out = (output[:-5] if output.endswith(".html") else output) + ".json"
    rep = write_report(target, output, json_out=json_out, truth=truth, label_attribute=label_attribute,
                       class_names=_class_names(labels, label_categories), thumbnails=thumbnails, worst=worst,
                       iou_threshold=iou_threshold)
    s = rep.data["summary"]
    console.print(f"[bold]{s['images']}[/] images, {s['boxes']} boxes, {s['errors']} errors, "
                  f"{s['warnings']} warnings, {s['failed_images']} failed"
                  + (f", flagged workers: {', '.join(s['flagged_workers']) or 'none'}" if "workers" in s else ""))
    console.print(f"report: {output}\njson:   {json_out}")
    if (fail_on == "error" and s["errors"]) or (fail_on == "warning" and (s["errors"] or s["warnings"])):
        raise typer.Exit(int(Exit.INVALID))


def register(app: typer.Typer) -> None:
    """Add this area's commands to the root app."""
    app.command("report", help="Label-quality report (HTML + JSON) of a job's output.")(report_cmd)

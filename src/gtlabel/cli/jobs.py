"""``gtlabel job build`` / ``gtlabel job validate`` / ``gtlabel estimate``: parse, call the library, render.

Exit codes (gtlabel.cli._common.Exit): 3 invalid request or spec, 4 over budget, 5 a file/object not found,
6 job name in use.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from gtlabel import cost, storage
from gtlabel.cli._common import Exit, console, err_console, handle_errors
from gtlabel.errors import ConfigError, InputError
from gtlabel.formats.ground_truth import LabelCategoryConfig
from gtlabel.jobs.build import count_manifest_objects, prepare_job, resolve_region
from gtlabel.jobs.spec import JobSpec, load_spec_data
from gtlabel.jobs.validate import check_create_labeling_job, label_warnings
from gtlabel.jobs.workforce import check_public_price

JOB_GROUP = "job"


def _job_group(app: typer.Typer) -> typer.Typer:
    for info in app.registered_groups:
        name = getattr(info, "name", None) or getattr(getattr(info.typer_instance, "info", None), "name", None)
        if name == JOB_GROUP and info.typer_instance is not None:
            return info.typer_instance
    group = typer.Typer(name=JOB_GROUP, help="Labeling jobs: build and validate requests; watch and list jobs.",
                        no_args_is_help=True)
    app.add_typer(group, name=JOB_GROUP)
    return group


def _read_json(path: str) -> Any:
    text = storage.read_text(path)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"not valid JSON: {exc.msg} (column {exc.colno})", file=path, line=exc.lineno) from None


def _sm_client(region: str) -> Any:
    import boto3  # lazy: ~0.2 s of import time, paid only where AWS is called

    return boto3.client("sagemaker", region_name=region)


def build(
    spec_file: Annotated[str | None, typer.Argument(help="job spec (YAML/JSON); options below override it")] = None,
    output: Annotated[str, typer.Option("-o", "--output", help="where to write the request JSON ('-' = stdout)")] = "-",
    input_manifest: Annotated[str | None, typer.Option("--input", help="s3:// input manifest")] = None,
    output_path: Annotated[str | None, typer.Option("--output-path", help="s3:// output prefix of the job")] = None,
    label: Annotated[list[str] | None, typer.Option("--label", "-l", help="a label (repeat)")] = None,
    name: Annotated[str | None, typer.Option(help="job name (default: timestamped)")] = None,
    task_type: Annotated[str | None, typer.Option(help="BoundingBox|AdjustmentBoundingBox|VerificationBoundingBox")]
    = None,
    prior_attr: Annotated[str | None, typer.Option(help="adjustment/verification: prior label attribute")] = None,
    role_arn: Annotated[str | None, typer.Option(help="execution role (else GTLABEL_ROLE_ARN)")] = None,
    region: Annotated[str | None, typer.Option(help="region (else GTLABEL_REGION / AWS_REGION)")] = None,
    workforce: Annotated[str | None, typer.Option(help="private|public|vendor")] = None,
    workteam: Annotated[str | None, typer.Option(help="private team name/ARN, or the vendor team ARN")] = None,
    price: Annotated[str | None, typer.Option(help="USD per task (public; vendor for the estimate)")] = None,
    workers: Annotated[int | None, typer.Option(help="workers per object (1..9)")] = None,
    header: Annotated[str | None, typer.Option(help="the header above the image")] = None,
    instructions: Annotated[str | None, typer.Option(help="short instructions (plain text)")] = None,
    budget: Annotated[float | None, typer.Option(help="max budget in USD: refuse when the estimate is over")] = None,
    objects: Annotated[int | None, typer.Option(help="object count for the estimate (else counted)")] = None,
    upload: Annotated[bool, typer.Option(help="write the label config + template to S3")] = True,
    name_check: Annotated[bool, typer.Option(help="check the name is free (ListLabelingJobs)")] = True,
) -> None:
    """Build and validate a CreateLabelingJob request from a spec and/or options."""
    data: dict[str, Any] = load_spec_data(spec_file) if spec_file else {}
    overrides = {"input_manifest": input_manifest, "output_path": output_path, "name": name,
                 "task_type": task_type, "prior_label_attribute_name": prior_attr, "role_arn": role_arn,
                 "region": region, "workers_per_object": workers, "header": header,
                 "short_instructions": instructions, "max_budget_usd": budget}
    data.update({k: v for k, v in overrides.items() if v is not None})
    if label:
        data["labels"] = label
    if workforce or workteam or price:
        kind = workforce or (data.get("workforce") or {}).get("type", "private")
        if kind == "private":
            data["workforce"] = {"type": "private", "workteam": workteam}
        elif kind == "public":
            data["workforce"] = {"type": "public", "price_usd": price}
        elif kind == "vendor":
            data["workforce"] = {"type": "vendor", "workteam_arn": workteam, "price_usd": price}
        else:
            raise ConfigError(f"--workforce must be private, public or vendor, got {kind!r}")
    spec = JobSpec.from_dict(data, source=spec_file or "options")
    wf = spec.workforce
    needs_client = name_check or (wf.type == "private" and not (wf.workteam or "").startswith("arn:"))
    client = _sm_client(resolve_region(spec.region)) if needs_client else None
    built = prepare_job(spec, sm_client=client, upload=upload, check_name=name_check, objects=objects,
                        count_objects=objects is None, check_bucket_regions=upload)
    if built.estimate is not None:
        err_console.print(built.estimate.table())
    for w in built.warnings:
        err_console.print(f"[yellow]warning:[/] {w}", highlight=False)
    text = json.dumps(built.request, indent=2, allow_nan=False) + "\n"
    if output == "-":
        typer.echo(text, nl=False)
    else:
        storage.write_text(output, text, content_type="application/json")
        err_console.print(f"request written to {output}", highlight=False)
    if built.uploaded:
        err_console.print(f"label config: {built.label_config_uri}\ntemplate:     {built.template_uri}",
                          highlight=False)


def validate(
    request_file: Annotated[str, typer.Argument(help="CreateLabelingJob request JSON (file or s3://)")],
    region: Annotated[str | None, typer.Option(help="the job's region (else from the request's ARNs)")] = None,
    prior_attr: Annotated[str | None, typer.Option(help="adjustment/verification: prior label attribute")] = None,
    read_labels: Annotated[bool, typer.Option(help="read the label category file to check labels")] = True,
    labels_file: Annotated[Path | None, typer.Option(help="a local label category file to check instead")] = None,
) -> None:
    """Validate a request offline: botocore's model, max/pattern/enum, Ground Truth rules. Exit 3 if invalid."""
    request = _read_json(request_file)
    if not isinstance(request, dict):
        raise InputError("a request must be a JSON object", file=request_file)
    labels = None
    if labels_file is not None:
        labels = LabelCategoryConfig.label_entries(_read_json(str(labels_file)))
        if labels is None:
            raise InputError("expected {\"labels\": [{\"label\": ...}]}", file=str(labels_file), field="labels")
    warnings: list[str] = []
    problems = check_create_labeling_job(request, region=region, labels=labels,
                                         prior_label_attribute_name=prior_attr, read_label_config=read_labels,
                                         on_warning=warnings.append)
    if labels:
        warnings += label_warnings([str(x) for x in labels])
    for w in warnings:
        err_console.print(f"[yellow]warning:[/] {w}", highlight=False)
    if problems:
        err_console.print(f"[bold red]{request_file}: {len(problems)} problem(s)[/]", highlight=False)
        for p in problems:
            console.print(f"  {p.path or '<request>'}: {p.message}", highlight=False, markup=False, soft_wrap=True)
        raise typer.Exit(int(Exit.INVALID))
    console.print(f"{request_file}: valid", highlight=False)


def estimate(
    objects: Annotated[int | None, typer.Option(help="data objects (images) in the job")] = None,
    manifest: Annotated[str | None, typer.Option(help="count the objects of this manifest instead")] = None,
    workers: Annotated[int, typer.Option(help="workers per object (1..9)")] = 1,
    workforce: Annotated[str, typer.Option(help="private|public|vendor")] = "private",
    price: Annotated[str | None, typer.Option(help="USD per task (public: an allowed value; vendor: theirs)")]
    = None,
    budget: Annotated[float | None, typer.Option(help="max budget in USD; exit 4 when over")] = None,
    free_tier: Annotated[bool, typer.Option(help="deduct the free tier (500 objects/month, 2 months)")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON instead of a table")] = False,
) -> None:
    """Estimate a labeling job's cost, with the breakdown."""
    if (objects is None) == (manifest is None):
        raise ConfigError("give exactly one of --objects N or --manifest URI")
    n = objects if objects is not None else count_manifest_objects(str(manifest))
    if workforce == "public":
        check_public_price(price)
    est = cost.estimate(n, workers, workforce, price, free_tier=free_tier, max_budget_usd=budget)
    if as_json:
        typer.echo(json.dumps(est.to_dict(), indent=2, allow_nan=False))
    else:
        console.print(est.table())
        for note in est.notes:
            console.print(f"note: {note}", highlight=False)
    if est.over_budget:
        err_console.print(f"[bold red]over budget:[/] the estimate {est.total_usd:.2f} USD is over the budget of "
                          f"{est.max_budget_usd} USD", highlight=False)
        raise typer.Exit(int(Exit.BUDGET))


def register(app: typer.Typer) -> None:
    """Add ``job build``, ``job validate`` and the top-level ``estimate``."""
    group = _job_group(app)
    group.command("build")(handle_errors(build))
    group.command("validate")(handle_errors(validate))
    app.command("estimate")(handle_errors(estimate))

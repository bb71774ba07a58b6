"""``gtlabel import yolo|coco|voc`` (other tools' labels -> a Ground Truth output manifest) and ``gtlabel export
coco|voc`` (an output manifest or a dataset -> COCO JSON / Pascal VOC XML)."""

from __future__ import annotations

from typing import Annotated

import orjson
import typer

from gtlabel.cli._common import console, handle_errors, parse_split
from gtlabel.errors import ConfigError
from gtlabel.formats import strict_json
from gtlabel.interchange import coco_to_yolo, export_coco, export_voc, import_labels
from gtlabel.interchange.importer import DEFAULT_ATTRIBUTE, DEFAULT_JOB, ImportFormat
from gtlabel.jobs.spec import load_spec

IMPORT_HELP = ("Import existing labels (YOLO, COCO, Pascal VOC) as a Ground Truth output manifest: the prior label "
               "of an adjustment/verification job, or a dataset to convert like any job's output.")
EXPORT_HELP = "Export an output manifest or a gtlabel dataset to other tools' formats."

Aliases = Annotated[list[str] | None, typer.Option(
    "--alias", help="Rename a class first, NAME=TARGET (repeatable): --alias car=vehicle --alias truck=vehicle.")]
LabelConfig = Annotated[str | None, typer.Option(
    help="The job's label category config JSON (s3:// or local): its label order gives the class ids.")]
Json = Annotated[bool, typer.Option("--json", help="Print the report as JSON.")]


def _split(text: str | None) -> list[str] | None:
    return [c.strip() for c in text.split(",") if c.strip()] if text else None


def _render(report_dict: dict[str, object], summary: str, json_out: bool) -> None:
    if json_out:
        typer.echo(strict_json.dumps(report_dict, option=orjson.OPT_INDENT_2).decode())
    else:
        console.print(summary, highlight=False, markup=False, soft_wrap=True)


def _job_labels(labels: str | None, label_config: str | None, job_config: str | None) -> list[str] | None:
    """The job's labels of ``--labels`` or ``--job-config`` (``None``: ``--label-config``'s, else the source's);
    given more than once is a ConfigError."""
    names = _split(labels)
    if job_config is not None:
        if names is not None or label_config is not None:
            raise ConfigError("give the job's labels once: --job-config, --labels or --label-config")
        names = load_spec(job_config).labels
    return names


def _import(fmt: ImportFormat, source: str, to: str, label_attribute: str, labels: str | None,
            label_config: str | None, job_config: str | None, drop_unknown: bool, alias: list[str] | None,
            images: str | None, classes: str | None, predictions: bool | None, job_name: str, json_out: bool,
            results_of: str | None = None) -> None:
    names = _job_labels(labels, label_config, job_config)
    report = import_labels(fmt, source, to, label_attribute=label_attribute, labels=names,
                           label_category_config=label_config, drop_unknown=drop_unknown, aliases=alias,
                           images=images, classes=_split(classes), human_annotated=None if predictions is None
                           else not predictions, job_name=job_name, results_of=results_of)
    _render(report.as_dict(), report.summary(), json_out)


def _to_yolo(fmt: ImportFormat, source: str, dest: str, labels: str | None, label_config: str | None,
             job_config: str | None, drop_unknown: bool, alias: list[str] | None, images: str | None,
             results_of: str | None, split: tuple[tuple[float, ...], int, str | None, bool], json_out: bool) -> None:
    """``import coco SOURCE --to-yolo DIR``: :func:`gtlabel.interchange.coco_to_yolo`."""
    if fmt != "coco" or results_of is not None:
        raise ConfigError("--to-yolo reads a COCO file (not a results list); for YOLO or VOC labels import --to a "
                          "manifest, then `gtlabel convert` it")
    names = _job_labels(labels, label_config, job_config)
    ratios, seed, split_by, overwrite = split
    rep = coco_to_yolo(source, dest, images=images, labels=names, label_category_config=label_config, aliases=alias,
                       drop_unknown=drop_unknown, splits=ratios, seed=seed, split_by=split_by, overwrite=overwrite)
    _render(rep.as_dict(), rep.summary(), json_out)


_SOURCES = {
    "yolo": "a YOLO dataset folder or s3:// prefix (data.yaml, images/, labels/; a 6th column is a confidence)",
    "coco": "a COCO detection JSON file (s3:// or local; a 'score' per box is kept as its confidence), or a COCO "
            "results list (a detector's [{image_id, category_id, bbox, score}], with --results-of GT.json)",
    "voc": "a folder or s3:// prefix of Pascal VOC XML files, or one file",
}


@handle_errors
def _import_command(
    ctx: typer.Context,
    source: Annotated[str, typer.Argument(help="What to import (see the command's help).")],
    to: Annotated[str | None, typer.Option("--to", help="The output manifest to write (s3:// or local).")] = None,
    to_yolo: Annotated[str | None, typer.Option(
        "--to-yolo", help="COCO only, instead of --to: write a YOLO11 dataset into this local folder, the images "
                          "linked (not copied) from --images (default: the COCO file's folder): data.yaml, "
                          "train/val/test.txt lists, labels/, lineage.json. Train on it with Ultralytics as it is.")
    ] = None,
    split: Annotated[str, typer.Option(help="With --to-yolo: train,val[,test] ratios.")] = "0.8,0.1,0.1",
    seed: Annotated[int, typer.Option(help="With --to-yolo: salt of the split hash (of each file name).")] = 0,
    split_by: Annotated[str | None, typer.Option(
        help="With --to-yolo: prefix:N keeps the images of one folder (the first N folders of file_name: a flight) "
             "in one split.")] = None,
    overwrite: Annotated[bool, typer.Option(
        "--overwrite", help="With --to-yolo: replace a different dataset gtlabel wrote there.")] = False,
    label_attribute: Annotated[str, typer.Option(
        help="The label attribute the labels go under (the prior attribute of an adjustment job).")
    ] = DEFAULT_ATTRIBUTE,
    labels: Annotated[str | None, typer.Option(
        help="The job's labels in order, comma-separated (class_id = position). Default: the source's.")] = None,
    label_config: LabelConfig = None,
    job_config: Annotated[str | None, typer.Option(help="A job spec (YAML/JSON): its labels.")] = None,
    drop_unknown: Annotated[bool, typer.Option(
        "--drop-unknown", help="Drop (and count) boxes of classes not among the labels instead of failing.")
    ] = False,
    alias: Aliases = None,
    images: Annotated[str | None, typer.Option(
        help="Where the images are: an s3:// prefix or a folder inside the manifest's folder; each source-ref "
             "is this + the source's file name. With --to-yolo: the local folder the COCO file names are "
             "relative to (default: the COCO file's folder).")] = None,
    classes: Annotated[str | None, typer.Option(
        help="YOLO only: the class names in id order when the source has no data.yaml.")] = None,
    predictions: Annotated[bool | None, typer.Option(
        "--predictions/--human", help="Mark every line human-annotated no/yes (default: no where boxes carry "
                                      "a confidence).")] = None,
    job_name: Annotated[str, typer.Option(help="The job-name written into the metadata.")] = DEFAULT_JOB,
    results_of: Annotated[str | None, typer.Option(
        help="COCO only, when SOURCE is a results list (detections): the COCO ground-truth file holding their "
             "images and categories. Every image of it becomes a line (human-annotated no), scores kept as "
             "confidences.")] = None,
    json_out: Json = False,
) -> None:
    fmt: ImportFormat = "yolo" if ctx.info_name == "yolo" else "coco" if ctx.info_name == "coco" else "voc"
    if to_yolo is not None and to is None:
        _to_yolo(fmt, source, to_yolo, labels, label_config, job_config, drop_unknown, alias, images, results_of,
                 (parse_split(split), seed, split_by, overwrite), json_out)
        return
    if to is None or to_yolo is not None:
        raise ConfigError("give one destination: --to MANIFEST (a Ground Truth output manifest) or, for COCO, "
                          "--to-yolo DIR (a YOLO dataset)")
    _import(fmt, source, to, label_attribute, labels, label_config, job_config, drop_unknown, alias, images,
            classes, predictions, job_name, json_out, results_of)



Source = Annotated[str, typer.Argument(help="An output manifest, or a gtlabel dataset folder (with lineage.json).")]
Classes = Annotated[str | None, typer.Option(
    help="Manifest only: the class names in id order (default: the label config's, else the class-maps').")]
Attr = Annotated[str | None, typer.Option(help="Manifest only: the label attribute to read.")]


@handle_errors
def coco(
    source: Source,
    dest: Annotated[str, typer.Argument(help="The COCO JSON file to write (s3:// or local).")],
    classes: Classes = None,
    label_config: LabelConfig = None,
    label_attribute: Attr = None,
    alias: Aliases = None,
    scores: Annotated[bool, typer.Option("--scores", help="Write each box's confidence as 'score'.")] = False,
    json_out: Json = False,
) -> None:
    """Write COCO detection JSON: categories in the dataset's order (id = YOLO id + 1), bbox in pixels."""
    report = export_coco(source, dest, aliases=alias, label_attribute=label_attribute, class_mapping=_split(classes),
                         label_category_config=label_config, scores=scores)
    _render(report.as_dict(), report.summary(), json_out)


@handle_errors
def voc(
    source: Source,
    dest: Annotated[str, typer.Argument(help="The folder (or s3:// prefix) for one VOC XML per image.")],
    classes: Classes = None,
    label_config: LabelConfig = None,
    label_attribute: Attr = None,
    alias: Aliases = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace a folder of VOC files there.")] = False,
    json_out: Json = False,
) -> None:
    """Write Pascal VOC XML, one file per image (1-based inclusive pixel corners)."""
    report = export_voc(source, dest, aliases=alias, label_attribute=label_attribute, class_mapping=_split(classes),
                        label_category_config=label_config, overwrite=overwrite)
    _render(report.as_dict(), report.summary(), json_out)


def group(app: typer.Typer, name: str, help_text: str) -> typer.Typer:
    """The group ``name`` of ``app``: the one another area made already (``export`` is shared), else a new one."""
    for info in app.registered_groups:
        if info.name == name and info.typer_instance is not None:
            return info.typer_instance
    sub = typer.Typer(name=name, help=help_text, no_args_is_help=True)
    app.add_typer(sub, name=name)
    return sub


def register(app: typer.Typer) -> None:
    """Add ``import yolo|coco|voc`` and ``export coco|voc`` (``export`` is a group other areas add to)."""
    imports = group(app, "import", IMPORT_HELP)
    for fmt, what in _SOURCES.items():
        extra = " Or, with --to-yolo DIR, straight to a YOLO11 dataset, the images linked." if fmt == "coco" else ""
        imports.command(fmt, help=f"Import {fmt.upper()} labels as a Ground Truth output manifest (--to).{extra} "
                                  f"SOURCE: {what}.")(_import_command)
    exports = group(app, "export", EXPORT_HELP)
    exports.command("coco")(coco)
    exports.command("voc")(voc)

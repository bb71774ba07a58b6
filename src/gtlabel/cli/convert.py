"""``gtlabel convert``: a Ground Truth output manifest -> an Ultralytics YOLO11 dataset."""

from __future__ import annotations

from typing import Annotated

import orjson
import typer

from gtlabel.cli._common import console, handle_errors, parse_split
from gtlabel.convert import convert_ground_truth_to_yolo
from gtlabel.errors import ConfigError
from gtlabel.formats import strict_json
from gtlabel.tiling import DEFAULT_TILE, TileSpec, parse_size

__all__ = ["convert", "register", "tile_spec"]


def tile_spec(tile: str | None, overlap: float, min_visibility: float, keep_empty: float, with_frames: bool,
              seed: int) -> TileSpec | None:
    """The :class:`TileSpec` of ``--tile SIZE|WxH`` and its companion options (``None`` without ``--tile``)."""
    if tile is None:
        if with_frames:
            raise ConfigError("--tile-with-frames needs --tile SIZE")
        return None
    w, h = parse_size(tile, "--tile")
    size: int | tuple[int, int] = w if w == h else (w, h)
    return TileSpec(size, overlap=overlap, min_visibility=min_visibility, keep_empty=keep_empty,
                    with_frames=with_frames, seed=seed)


@handle_errors
def convert(
    manifest: Annotated[str, typer.Argument(help="Output manifest (s3:// or local), e.g. .../manifests/output/output.manifest")],
    out: Annotated[str, typer.Argument(help="Dataset folder or s3:// prefix to write.")],
    classes: Annotated[str | None, typer.Option(
        help="Class names in YOLO id order, comma-separated (e.g. drone,vehicle,person,building).")] = None,
    label_config: Annotated[str | None, typer.Option(
        help="The job's label category config JSON (s3:// or local); its label order gives the names.")] = None,
    label_attribute: Annotated[str | None, typer.Option(
        help="Label attribute to read (needed when chained jobs left several).")] = None,
    split: Annotated[str, typer.Option(help="train,val,test ratios.")] = "0.8,0.1,0.1",
    stratify: Annotated[bool, typer.Option("--stratify", help="Keep class proportions in every split.")] = False,
    seed: Annotated[int, typer.Option(help="Salt of the split hash.")] = 0,
    split_by: Annotated[str | None, typer.Option(
        "--split-by", metavar="KEY|prefix:N",
        help="Keep groups in one split: a pass-through key of the lines (video: the frames of one video; or e.g. "
             "a flight id) or prefix:N (the first N folders of the source-ref). Ratios are met by whole groups; "
             "a line without the key is a group of its own.")] = None,
    drop_unknown: Annotated[bool, typer.Option(
        "--drop-unknown", help="Drop (and count) boxes of classes not in the names instead of failing.")] = False,
    alias: Annotated[list[str] | None, typer.Option(
        "--alias", help="Rename a class of the manifest first, NAME=TARGET (repeatable): --alias car=vehicle; "
                        "recorded in lineage.json and the version id.")] = None,
    copy_images: Annotated[bool, typer.Option(help="Copy the images into the dataset.")] = True,
    strip_gps: Annotated[bool, typer.Option(
        "--strip-gps", help="Remove GPS (EXIF, DJI XMP) from the copied JPEGs, losslessly (needs gtlabel[geo]).")] = False,
    exif: Annotated[str, typer.Option(
        help="normalize: read image headers and normalize by the EXIF-displayed size; ignore: trust image_size.")] = "normalize",
    fingerprint_sources: Annotated[bool, typer.Option(
        help="With --exif ignore, still record each source's ETag/MD5 (version id, lineage verify); "
             "--no-fingerprint-sources touches no image (labels only).")] = True,
    lenient: Annotated[bool, typer.Option("--lenient", help="Skip and count malformed lines.")] = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace a different dataset at OUT.")] = False,
    image_root: Annotated[str | None, typer.Option(help="Base for relative source-refs (default: the manifest's folder).")] = None,
    quality: Annotated[str | None, typer.Option(
        help="The quality report JSON (`gtlabel report --json`): its summary goes into lineage.json.")] = None,
    describe_jobs: Annotated[bool, typer.Option(
        "--describe-jobs", help="Record each labeling job's ARN and settings in lineage.json (DescribeLabelingJob).")] = False,
    processes: Annotated[int | None, typer.Option(
        min=1, max=64, help="Processes sharing the conversion (default: one more than the CPUs, at most 8, for a "
                            "manifest of 16 MiB or more; GTLABEL_CONVERT_PROCESSES). Same bytes whatever the number.")] = None,
    tile: Annotated[str | None, typer.Option(
        metavar="SIZE|WxH", help="Cut each frame into tiles of this size (pixels), cropped from the upright "
                                 "(EXIF-rotated) image; every tile stays in its frame's split. See docs/tiling.md.")] = None,
    overlap: Annotated[float, typer.Option(
        help="With --tile: share of the tile size neighbouring tiles overlap, in [0, 1).")] = DEFAULT_TILE["overlap"],
    min_visibility: Annotated[float, typer.Option(
        help="With --tile: keep a box cut by a tile edge when at least this share of its area is inside, "
             "in (0, 1]; smaller slivers are dropped and counted.")] = DEFAULT_TILE["min_visibility"],
    keep_empty: Annotated[float, typer.Option(
        help="With --tile: share of tiles without boxes kept as background (seeded by --seed), in [0, 1].")
    ] = DEFAULT_TILE["keep_empty"],
    tile_with_frames: Annotated[bool, typer.Option(
        "--tile-with-frames", help="With --tile: also add each whole frame, downscaled to the tile size.")] = False,
    progress: Annotated[bool, typer.Option(help="Show progress bars.")] = True,
    json_out: Annotated[bool, typer.Option("--json", help="Print the conversion report as JSON.")] = False,
) -> None:
    """Convert a Ground Truth bounding-box output manifest into images/, labels/, data.yaml, lineage.json."""
    if classes is None and label_config is None:
        raise ConfigError("give the class names: --classes drone,vehicle,... or --label-config URI")
    names = [c.strip() for c in classes.split(",")] if classes else None
    if exif not in ("normalize", "ignore"):
        raise ConfigError(f"--exif must be normalize or ignore, got {exif!r}")
    tiling = tile_spec(tile, overlap, min_visibility, keep_empty, tile_with_frames, seed)
    report = convert_ground_truth_to_yolo(
        manifest, out, names, label_attribute=label_attribute, label_category_config=label_config,
        splits=parse_split(split), stratify=stratify, seed=seed, split_by=split_by, drop_unknown_classes=drop_unknown, aliases=alias,
        copy_images=copy_images, exif="normalize" if exif == "normalize" else "ignore", strict=not lenient,
        overwrite=overwrite, image_root=image_root, progress=progress and not json_out, quality=quality,
        describe_jobs=describe_jobs, fingerprint_sources=fingerprint_sources, processes=processes,
        tile=tiling, strip_gps=strip_gps)
    if json_out:
        typer.echo(strict_json.dumps(report.as_dict(), option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS).decode())
        return
    console.print(report.summary(), highlight=False, markup=False, soft_wrap=True)
    console.print(f"data.yaml: {report.data_yaml}", highlight=False, markup=False, soft_wrap=True)


def register(app: typer.Typer) -> None:
    """Add this area's commands to the root app."""
    app.command("convert")(convert)

"""``gtlabel manifest build``: an input manifest from an S3 prefix, a local folder or an existing manifest."""

from __future__ import annotations

from typing import Annotated

import orjson
import typer

from gtlabel.cli._common import console, handle_errors
from gtlabel.formats import strict_json
from gtlabel.manifests import build_input_manifest

manifest_app = typer.Typer(help="Input manifests for labeling jobs.", no_args_is_help=True)


@manifest_app.command("build")
@handle_errors
def build(
    source: Annotated[str, typer.Argument(help="S3 prefix, local folder, or an existing manifest to filter.")],
    dest: Annotated[str, typer.Argument(help="Where to write the manifest (s3:// or local).")],
    sample: Annotated[int | None, typer.Option(help="Keep this many images, chosen by a seeded hash.")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the sampling hash.")] = 0,
    suffix: Annotated[list[str] | None, typer.Option(
        help="Image suffix to keep (repeatable; default .jpg .jpeg .png, case-insensitive).")] = None,
    max_mb: Annotated[int | None, typer.Option(
        help="Skip images larger than this many MiB (default: Ground Truth's limit, from its facts file).")] = None,
    dedupe: Annotated[int | None, typer.Option(
        "--dedupe", metavar="BITS",
        help="Drop near-duplicate images: perceptual hashes within BITS bits (8 suits drone bursts; reads every "
             "candidate image once).")] = None,
    lenient: Annotated[bool, typer.Option(
        "--lenient", help="Skip and count bad lines of an existing manifest instead of failing.")] = False,
    fps: Annotated[float | None, typer.Option(
        min=0.001, help="SOURCE is a video or a folder/prefix of videos: keep this many frames per second, written "
                        "as JPEG beside DEST (frames/), each line with video, frame, timestamp_s (needs gtlabel[video]).")] = None,
    frames_dir: Annotated[str | None, typer.Option(
        help="With --fps: where the frames go (default: frames/ in DEST's folder).")] = None,
    geo: Annotated[bool, typer.Option(
        "--geo", help="Read each image's EXIF GPS and DJI XMP tags (gimbal, relative altitude) into a 'geo' key "
                      "(needs gtlabel[geo]); with --fps, each frame's from the DJI flight record (.SRT) beside "
                      "its video.")] = False,
    json_out: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Write a Ground Truth input manifest (one {"source-ref": ...} line per image, sorted; with --fps, per frame of
    the videos)."""
    summary = build_input_manifest(source, dest, suffixes=suffix or None,
                                   max_bytes=max_mb * 1024 * 1024 if max_mb is not None else None,
                                   sample=sample, seed=seed, strict=not lenient,
                                   dedupe_distance=dedupe, fps=fps, frames_dir=frames_dir, geo=geo)
    if json_out:
        typer.echo(strict_json.dumps(summary.as_dict(), option=orjson.OPT_INDENT_2).decode())
        return
    skipped = ", ".join(f"{k}: {v}" for k, v in sorted(summary.skipped.items())) or "none"
    console.print(f"wrote {summary.written} line(s) to {summary.dest} (seen {summary.seen}; skipped: {skipped})",
                  highlight=False, markup=False, soft_wrap=True)
    if geo:
        console.print(f"  with a GPS/camera position: {summary.with_geo}", highlight=False, markup=False)
    for warning in summary.warnings[:20]:
        console.print(f"  warning: {warning}", highlight=False, markup=False, soft_wrap=True)
    for example in summary.examples:
        if "not a readable video" in example:
            console.print(f"  skipped: {example}", highlight=False, markup=False, soft_wrap=True)
    for dropped, kept in summary.near_duplicates[:20]:
        console.print(f"  near-duplicate: {dropped} ~ {kept}", highlight=False, markup=False, soft_wrap=True)
    if len(summary.near_duplicates) > 20:
        console.print(f"  ... and {len(summary.near_duplicates) - 20} more (--json lists them all)")


def register(app: typer.Typer) -> None:
    """Add this area's commands to the root app."""
    app.add_typer(manifest_app, name="manifest")

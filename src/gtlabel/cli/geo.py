"""``gtlabel export geojson``: a dataset's images on a map (one GeoJSON point per image with a GPS position,
its labels per class)."""

from __future__ import annotations

import sys
from typing import Annotated

import orjson
import typer

from gtlabel.cli._common import console, err_console, handle_errors
from gtlabel.cli.interchange import EXPORT_HELP, group
from gtlabel.formats import strict_json
from gtlabel.geo import export_geojson


@handle_errors
def geojson(
    dataset: Annotated[str, typer.Argument(help="A gtlabel dataset (folder or s3:// prefix with lineage.json).")],
    out: Annotated[str | None, typer.Option(
        "--out", "-o", help="Where to write the GeoJSON (s3:// or local; default: standard output).")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the summary as JSON (with --out).")] = False,
) -> None:
    """Write one GeoJSON Point ([lon, lat, alt], RFC 7946) per image that has a GPS position in the dataset's
    lineage (manifest build --geo), with its split and its boxes per class; images without one are counted."""
    if out is None:
        summary = export_geojson(dataset, stream=sys.stdout.buffer)
        sys.stdout.flush()
        err_console.print(f"{summary.features} point(s); {summary.without_position} image(s) without a position",
                          highlight=False, markup=False)
        return
    summary = export_geojson(dataset, out)
    if json_out:
        typer.echo(strict_json.dumps(summary.as_dict(), option=orjson.OPT_INDENT_2).decode())
        return
    console.print(f"wrote {summary.features} point(s) to {out}; {summary.without_position} image(s) without a "
                  f"position", highlight=False, markup=False, soft_wrap=True)


def register(app: typer.Typer) -> None:
    """Add ``export geojson`` to the ``export`` group (made by :mod:`gtlabel.cli.interchange`, or here)."""
    group(app, "export", EXPORT_HELP).command("geojson")(geojson)

"""``gtlabel lineage``: where a label came from, what changed between versions, and tamper checks."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.table import Table

from gtlabel import lineage
from gtlabel.cli._common import Exit, console, err_console, handle_errors
from gtlabel.settings import get_settings

lineage_app = typer.Typer(name="lineage", help="Dataset versions: show, diff and verify lineage.",
                          no_args_is_help=True)


def _print_json(obj: Any) -> None:
    console.out(json.dumps(obj, indent=2, default=str, allow_nan=False), highlight=False)


def _render_provenance(p: dict[str, Any]) -> None:
    t = Table(show_header=False, box=None, pad_edge=False)
    t.add_column(style="bold")
    t.add_column(overflow="fold")
    if "image" in p:
        src = p["source"]
        t.add_row("image", p["image"])
        t.add_row("label", f"{p['label']}  (sha256 {p['label_sha256'][:16]}..., split {p['split']})")
        t.add_row("source", src["uri"])
        t.add_row("source ETag", str(src["etag"]))
        t.add_row("source version", str(src["version_id"]))
    else:
        t.add_row("images", f"{p['images']}  {p.get('splits')}")
    t.add_row("dataset", f"{p['dataset']}  ({p['version']})")
    t.add_row("labeling jobs", ", ".join(p["jobs"]) or "-")
    for name, d in sorted((p.get("job_details") or {}).items()):
        if d:
            hc = d.get("HumanTaskConfig") or {}
            t.add_row(f"job {name}", f"{d.get('LabelingJobArn')}  workteam {hc.get('WorkteamArn')}, "
                                     f"{hc.get('NumberOfHumanWorkersPerDataObject')} worker(s)/object")
    t.add_row("label attribute", str(p.get("label_attribute")))
    t.add_row("manifest", f"{p['manifest'].get('uri')}  (ETag {p['manifest'].get('etag')})")
    t.add_row("classes", ", ".join(f"{k}={v}" for k, v in p["names"].items()))
    t.add_row("settings", json.dumps(p["settings"], sort_keys=True, allow_nan=False))
    t.add_row("package version", str(p.get("package_version")))
    t.add_row("quality", json.dumps(p["quality"], sort_keys=True, allow_nan=False) if p.get("quality") else "-")
    console.print(t)


@lineage_app.command("show")
@handle_errors
def show(
    dataset: Annotated[str, typer.Argument(help="Dataset folder or s3:// prefix (or its data.yaml / lineage.json)")],
    image: Annotated[str | None, typer.Option("--image", help="Image/label name or path, or a source-ref")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
) -> None:
    """Where did this label come from? Without --image: the dataset's summary."""
    lin = lineage.load(dataset)
    if image is None:
        p = lineage.provenance(lin)
        _print_json(p) if as_json else _render_provenance(p)
        return
    found = lineage.find_images(lin, image)
    if not found:
        err_console.print(f"error: {image!r} is not in {lin.uri} ({len(lin.images)} images); give the image "
                          "or label file name, its path in the dataset, or its source-ref", highlight=False, markup=False, soft_wrap=True)
        raise typer.Exit(int(Exit.NOT_FOUND))
    out = [lineage.provenance(lin, r) for r in found]
    if as_json:
        _print_json(out[0] if len(out) == 1 else out)
        return
    for p in out:
        _render_provenance(p)


@lineage_app.command("diff")
@handle_errors
def diff(
    a: Annotated[str, typer.Argument(help="Older dataset version (folder, s3:// prefix, data.yaml or lineage.json)")],
    b: Annotated[str, typer.Argument(help="Newer dataset version")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
    limit: Annotated[int, typer.Option("--limit", help="Show at most this many images per section")] = 50,
) -> None:
    """What changed between two dataset versions: images, labels, splits, sources, classes, settings."""
    d = lineage.diff(lineage.load(a), lineage.load(b))
    if as_json:
        _print_json(d.as_dict())
        return
    console.print(f"{d.version_a} -> {d.version_b}: {len(d.added)} added, {len(d.removed)} removed, "
                  f"{len(d.changed)} changed", highlight=False, markup=False, soft_wrap=True)
    for title, items in (("added", d.added), ("removed", d.removed)):
        for ref in items[:limit]:
            console.print(f"  {'+' if title == 'added' else '-'} {ref}", highlight=False, markup=False, soft_wrap=True)
        if len(items) > limit:
            console.print(f"  ... {len(items) - limit} more {title}", highlight=False, markup=False, soft_wrap=True)
    for c in d.changed[:limit]:
        parts = [f"{k}: {c.before[k]} -> {c.after[k]}" if k != "label_sha256"
                 else f"label sha256 {str(c.before[k])[:12]} -> {str(c.after[k])[:12]}" for k in c.before]
        console.print(f"  ~ {c.source_ref}: {'; '.join(parts)}", highlight=False, markup=False, soft_wrap=True)
    if len(d.changed) > limit:
        console.print(f"  ... {len(d.changed) - limit} more changed", highlight=False, markup=False, soft_wrap=True)
    if d.classes:
        console.print(f"classes: added {d.classes['added']}, removed {d.classes['removed']}, renumbered "
                      f"{d.classes['renumbered']}", highlight=False, markup=False, soft_wrap=True)
    for k, v in d.settings.items():
        console.print(f"setting {k}: {v['before']} -> {v['after']}", highlight=False, markup=False, soft_wrap=True)
    for k, v in d.other.items():
        console.print(f"{k}: {v['before']} -> {v['after']}", highlight=False, markup=False, soft_wrap=True)
    if d.same:
        console.print("no differences", highlight=False, markup=False, soft_wrap=True)


@lineage_app.command("verify")
@handle_errors
def verify(
    dataset: Annotated[str, typer.Argument(help="Dataset folder or s3:// prefix (or its data.yaml / lineage.json)")],
    sources: Annotated[bool, typer.Option("--sources/--no-sources", help="Also re-check the source images")] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON")] = False,
) -> None:
    """Recompute label hashes and image hashes/ETags; exit 3 naming every file changed after conversion."""
    rep = lineage.verify(dataset, sources=sources,
                         progress=get_settings().progress and not as_json and err_console.is_terminal)
    if as_json:
        _print_json(rep.as_dict())
    elif rep.ok:
        console.out(rep.summary(), highlight=False)
    if not rep.ok:
        if not as_json:
            err_console.out(rep.summary(), highlight=False)
        raise typer.Exit(int(Exit.INVALID))


def register(app: typer.Typer) -> None:
    """Add this area's commands to the root app."""
    app.add_typer(lineage_app, name="lineage")

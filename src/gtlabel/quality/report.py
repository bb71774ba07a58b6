"""The quality report: one self-contained HTML page (inline CSS, plots and thumbnails as base64 PNG, no external
assets, no script) plus the same data as JSON.

Sections: summary, plots (class histogram, box size and aspect distributions, confidence distribution, worker
agreement), per-class table, per-worker table (flagged workers highlighted), the worst images as thumbnails
with their boxes drawn, and the validation findings.

Pure part: :func:`build_report` (records, worker answers, truth -> :class:`QualityReport`) and
:func:`render_html`. I/O rim: :func:`write_report` (reads the manifest, worker responses and images through
:mod:`gtlabel.storage`, writes the HTML/JSON atomically). matplotlib (Agg) is imported only here, lazily.
"""

from __future__ import annotations

import base64
import html
import io
import math
import statistics
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import orjson

from gtlabel.errors import MissingExtra, NotFound, StorageError
from gtlabel.formats.ground_truth import bare_job_name
from gtlabel.progress import AmountColumn
from gtlabel.quality.identities import job_pools, lookup_client, lookup_usernames
from gtlabel.quality.validate import ValidationConfig, ValidationReport, validate_records
from gtlabel.quality.workers import WorkerAnswer, WorkerReport, compute_worker_metrics

if TYPE_CHECKING:
    from PIL import Image

    from gtlabel.manifests import OutputRecord

__all__ = ["QualityReport", "build_report", "render_html", "write_report"]

PALETTE = ["#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#42d4f4", "#f032e6", "#bfef45",
           "#fabed4", "#469990", "#dcbeff", "#9a6324"]
THUMB_W = 360
SIZE_BINS = [10 ** (-3 + i / 8) for i in range(25)]  # relative side length 0.001 .. 1, log-spaced


@dataclass
class QualityReport:
    """Everything in the report. ``data`` is what the JSON holds; ``plots`` and ``thumbnails`` are PNG bytes."""

    data: dict[str, Any]
    validation: ValidationReport
    workers: WorkerReport | None
    plots: dict[str, bytes] = field(default_factory=dict)
    thumbnails: dict[str, bytes] = field(default_factory=dict)  # source_ref -> PNG

    def json_bytes(self) -> bytes:
        return orjson.dumps(self.data, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS)


# ============================================================================================ pure: data
def _hist(values: Sequence[float], bins: Sequence[float]) -> dict[str, list[float]]:
    import numpy as np

    counts, edges = np.histogram(np.asarray(values, dtype=float), bins=np.asarray(bins, dtype=float))
    return {"edges": [round(float(e), 6) for e in edges], "counts": [int(c) for c in counts]}


def _worst(records: Sequence[OutputRecord], validation: ValidationReport, n: int) -> list[dict[str, Any]]:
    """The ``n`` images most in need of a look: errors, then warnings, then the lowest confidence."""
    by_ref: dict[str, list[str]] = {}
    for f in validation.findings:
        if f.source_ref is not None:
            by_ref.setdefault(f.source_ref, []).append(f"{f.code}" + (f" (box {f.box})" if f.box is not None else ""))
    ranked = []
    for img, rec in zip(validation.images, records, strict=True):
        if img.failed:
            continue
        conf = img.min_confidence if img.min_confidence is not None else 1.0
        badness = 3.0 * img.errors + 1.0 * img.warnings + 2.0 * (1.0 - conf)
        if badness <= 0:
            continue
        ranked.append((badness, img, rec))
    ranked.sort(key=lambda t: (-t[0], t[1].source_ref))
    out = []
    for badness, img, rec in ranked[:n]:
        out.append({"source_ref": img.source_ref, "file": img.file, "line": img.line, "badness": round(badness, 3),
                    "width": img.width, "height": img.height, "min_confidence": img.min_confidence,
                    "errors": img.errors, "warnings": img.warnings, "findings": by_ref.get(img.source_ref, []),
                    "boxes": [{"class_id": b.class_id, "class": rec.class_map.get(b.class_id),
                               "left": b.left, "top": b.top, "width": b.width, "height": b.height,
                               "confidence": b.confidence} for b in rec.boxes]})
    return out


def build_report(records: Iterable[OutputRecord], *, answers: Iterable[WorkerAnswer] | None = None,
                 truth: Iterable[OutputRecord] | None = None,
                 class_names: Sequence[str] | Mapping[int, str] | None = None, title: str = "Label quality",
                 source: str | None = None, worst: int = 12, iou_threshold: float = 0.5,
                 config: ValidationConfig | None = None, plots: bool = True,
                 usernames: Mapping[str, str] | None = None) -> QualityReport:
    """Validation + worker metrics + plot data for one job's output (no I/O; thumbnails are added by
    :func:`add_thumbnails`). ``usernames``: worker id -> username, shown beside the ids."""
    recs = list(records)
    workers: WorkerReport | None = None
    if answers is not None:
        workers = compute_worker_metrics(answers, recs, truth=truth, iou_threshold=iou_threshold,
                                         class_names=dict(class_names) if isinstance(class_names, Mapping)
                                         else dict(enumerate(class_names)) if class_names is not None else None)
    validation = validate_records(recs, class_names=class_names,
                                  workers_per_image=workers.workers_per_image if workers and
                                  workers.workers_per_image else None, config=config)
    classes = validation.classes
    areas = [math.sqrt(a) for s in classes.values() for a in s.area_fracs]
    aspects = [math.log2(a) for s in classes.values() for a in s.aspects]
    confs = [c for s in classes.values() for c in s.confidences]
    data: dict[str, Any] = {
        "title": title, "source": source, "generated": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "summary": validation.summary(),
        "classes": [{"id": cid, **s.as_dict()} for cid, s in sorted(classes.items())],
        "workers": workers.as_dict() if workers is not None else None,
        "distributions": {
            "box_side_fraction": _hist(areas, SIZE_BINS) if areas else None,
            "log2_aspect": _hist(aspects, [i / 4 for i in range(-16, 17)]) if aspects else None,
            "confidence": _hist(confs, [i / 20 for i in range(21)]) if confs else None,
        },
        "worst_images": _worst(recs, validation, worst),
        "findings": [f.as_dict() for f in validation.findings],
    }
    if workers is not None:
        data["summary"]["workers"] = len(workers.workers)
        data["summary"]["flagged_workers"] = [w.worker_id for w in workers.flagged]
        for wk in data["workers"]["workers"]:
            wk["username"] = (usernames or {}).get(wk["worker_id"])
    rep = QualityReport(data=data, validation=validation, workers=workers)
    if plots:
        rep.plots = make_plots(rep)
    return rep


# ============================================================================================ plots
def _mpl() -> Any:
    try:
        import matplotlib
    except ImportError as exc:  # pragma: no cover - the quality/local extras bring it
        raise MissingExtra("quality", "matplotlib") from exc
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _png(fig: Any) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=96, bbox_inches="tight")
    _mpl().close(fig)
    return buf.getvalue()


def make_plots(rep: QualityReport) -> dict[str, bytes]:
    """Class histogram, box size and aspect distributions, confidence distribution, worker agreement."""
    plt = _mpl()
    out: dict[str, bytes] = {}
    classes = rep.data["classes"]
    color = {c["id"]: PALETTE[c["id"] % len(PALETTE)] for c in classes}

    fig, ax = plt.subplots(figsize=(5.2, 3.2))
    if classes:
        ax.bar([c["name"] for c in classes], [c["boxes"] for c in classes], color=[color[c["id"]] for c in classes])
        ax.tick_params(axis="x", rotation=30)
    ax.set_title("Boxes per class")
    ax.set_ylabel("boxes")
    out["class_histogram"] = _png(fig)

    val = rep.validation
    fig, ax = plt.subplots(figsize=(5.2, 3.2))
    for cid, s in sorted(val.classes.items()):
        if s.area_fracs:
            ax.hist([math.sqrt(a) for a in s.area_fracs], bins=SIZE_BINS, alpha=0.55, label=s.name,
                    color=color.get(cid))
    ax.set_xscale("log")
    ax.set_title("Box size (sqrt of box area / image area)")
    ax.set_xlabel("relative side length (log scale)")
    ax.set_ylabel("boxes")
    if val.classes:
        ax.legend(fontsize=8)
    out["box_size"] = _png(fig)

    fig, ax = plt.subplots(figsize=(5.2, 3.2))
    for cid, s in sorted(val.classes.items()):
        if s.aspects:
            ax.hist([math.log2(a) for a in s.aspects], bins=[i / 4 for i in range(-16, 17)], alpha=0.55,
                    label=s.name, color=color.get(cid))
    ax.set_title("Box aspect (log2 width / height)")
    ax.set_xlabel("log2(w / h): 0 square, 1 twice as wide")
    ax.set_ylabel("boxes")
    if val.classes:
        ax.legend(fontsize=8)
    out["box_aspect"] = _png(fig)

    fig, ax = plt.subplots(figsize=(5.2, 3.2))
    confs = [c for s in val.classes.values() for c in s.confidences]
    if confs:
        ax.hist(confs, bins=[i / 20 for i in range(21)], color="#4363d8")
        ax.axvline(val.config.low_confidence, color="#e6194b", linestyle="--", label="low-confidence threshold")
        ax.legend(fontsize=8)
    else:
        ax.text(0.5, 0.5, "no confidences\n(one worker per image, or none recorded)", ha="center", va="center",
                transform=ax.transAxes)
    ax.set_title("Box confidence")
    ax.set_xlabel("confidence")
    ax.set_ylabel("boxes")
    out["confidence"] = _png(fig)

    if rep.workers is not None and rep.workers.workers:
        ws = rep.workers.workers
        fig, ax = plt.subplots(figsize=(5.2, 3.2))
        ids = [w.worker_id for w in ws]
        scores = [w.score or 0.0 for w in ws]
        ax.barh(ids, scores, color=["#e6194b" if w.flagged else "#3cb44b" for w in ws])
        if rep.workers.team_median_score is not None:
            ax.axvline(rep.workers.team_median_score, color="#333", linestyle="--", label="team median")
            ax.legend(fontsize=8, loc="lower right")
        ax.set_xlim(0, 1)
        ax.invert_yaxis()
        ax.set_title("Worker agreement (F1 x mean IoU vs consolidated)")
        ax.set_xlabel("score (red: flagged)")
        out["worker_agreement"] = _png(fig)
    return out


# ============================================================================================ thumbnails
def draw_thumbnail(image: Image.Image | None, size: tuple[int, int], boxes: Sequence[Mapping[str, Any]],
                   width: int = THUMB_W) -> bytes:
    """A PNG of the image (a grey canvas when it could not be read) scaled to ``width``, boxes drawn."""
    from PIL import Image as PILImage
    from PIL import ImageDraw, ImageOps

    w, h = size
    if image is None:
        im = PILImage.new("RGB", (w, h), (200, 200, 200))
        ImageDraw.Draw(im).text((8, 8), "image not readable", fill=(90, 90, 90))
    else:
        im = ImageOps.exif_transpose(image).convert("RGB")  # boxes are in the displayed frame
        if im.size != (w, h):
            im = im.resize((w, h))
    scale = width / w
    th = max(1, round(h * scale))
    im = im.resize((width, th))
    d = ImageDraw.Draw(im)
    for b in boxes:
        c = PALETTE[int(b["class_id"]) % len(PALETTE)]
        x0, y0 = b["left"] * scale, b["top"] * scale
        x1, y1 = (b["left"] + b["width"]) * scale, (b["top"] + b["height"]) * scale
        d.rectangle([x0, y0, x1, y1], outline=c, width=2)
        conf = b.get("confidence")
        tag = f"{b.get('class') or b['class_id']}" + (f" {conf:.2f}" if isinstance(conf, float) else "")
        tw = 6 * len(tag) + 4
        tx = max(0.0, min(x0, width - tw))  # keep the tag inside the thumbnail
        ty = y0 - 11 if y0 >= 11 else min(y1 + 1, th - 11)
        d.rectangle([tx, ty, tx + tw, ty + 11], fill=c)
        d.text((tx + 2, ty), tag, fill=(255, 255, 255))
    buf = io.BytesIO()
    im.save(buf, format="PNG", optimize=True)
    return buf.getvalue()


def add_thumbnails(rep: QualityReport, read: Callable[[str], bytes],
                   on_progress: Callable[[], None] | None = None) -> None:
    """Draw a thumbnail for each worst image; ``read(uri)`` returns the image bytes (errors -> grey canvas)."""
    from botocore.exceptions import BotoCoreError
    from PIL import Image as PILImage

    for item in rep.data["worst_images"]:
        img = None
        try:
            img = PILImage.open(io.BytesIO(read(item["source_ref"])))
            img.load()
            item["thumbnail_note"] = None
        except (StorageError, OSError, ValueError, BotoCoreError) as exc:
            item["thumbnail_note"] = f"image not readable: {exc}"[:200]
        if item["width"] and item["height"]:
            rep.thumbnails[item["source_ref"]] = draw_thumbnail(img, (item["width"], item["height"]), item["boxes"])
        if on_progress is not None:
            on_progress()


# ============================================================================================ HTML
_CSS = """
:root{--fg:#1d2430;--muted:#5b6575;--line:#d9dee6;--bg:#f6f7f9;--bad:#c62828;--warn:#b26a00;--ok:#2e7d32}
*{box-sizing:border-box}body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;
color:var(--fg);background:var(--bg)}header{background:#1d2430;color:#fff;padding:18px 28px}
header h1{margin:0 0 4px;font-size:22px}header p{margin:0;color:#c9d1dc;font-size:13px;word-break:break-all}
nav{padding:8px 28px;background:#fff;border-bottom:1px solid var(--line);position:sticky;top:0;z-index:2}
nav a{margin-right:16px;color:#2456a6;text-decoration:none;font-weight:600}
main{padding:8px 28px 40px;max-width:1400px}section{background:#fff;border:1px solid var(--line);border-radius:8px;
padding:14px 18px;margin:16px 0}h2{margin:0 0 12px;font-size:18px}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(150px,1fr));gap:10px}
.card{border:1px solid var(--line);border-radius:6px;padding:10px 12px;background:#fbfcfd}
.card .v{font-size:22px;font-weight:700}.card .k{color:var(--muted);font-size:12px;text-transform:uppercase}
.card.bad .v{color:var(--bad)}.card.warn .v{color:var(--warn)}.card.ok .v{color:var(--ok)}
table{border-collapse:collapse;width:100%;font-size:13px}th,td{border-bottom:1px solid var(--line);
padding:5px 8px;text-align:left;vertical-align:top}th{background:#eef1f5;position:sticky;top:38px}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}tr.flagged td{background:#fdecea}
.sev-error{color:var(--bad);font-weight:700}.sev-warning{color:var(--warn);font-weight:700}.sev-info{color:var(--muted)}
.plots{display:grid;grid-template-columns:repeat(auto-fill,minmax(420px,1fr));gap:12px}
.plots figure{margin:0;border:1px solid var(--line);border-radius:6px;padding:6px;background:#fff}
.plots img{width:100%;height:auto}figcaption{color:var(--muted);font-size:12px}
.thumbs{display:grid;grid-template-columns:repeat(auto-fill,minmax(370px,1fr));gap:12px}
.thumb{border:1px solid var(--line);border-radius:6px;padding:6px;background:#fbfcfd}.thumb img{width:100%;height:auto;
display:block}.thumb .ref{font-family:ui-monospace,monospace;font-size:12px;word-break:break-all}
.thumb ul{margin:4px 0 0;padding-left:18px;font-size:12px;color:var(--muted)}.tag{display:inline-block;padding:0 6px;
border-radius:9px;background:#fdecea;color:var(--bad);font-size:11px;font-weight:700}
.muted{color:var(--muted)}code{font-size:12px}td.id{white-space:nowrap;font-family:ui-monospace,monospace;font-size:12px}
"""


def _e(v: Any) -> str:
    return html.escape("" if v is None else str(v))


def _fmt(v: Any, nd: int = 3) -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:.{nd}f}"
    return _e(v)


def _b64(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def render_html(rep: QualityReport, *, max_findings: int = 500) -> str:
    """The report as one HTML document with everything inline."""
    d = rep.data
    parts = [*_html_head(d), *_summary_section(d), *_plots_section(rep), *_classes_section(d),
             *_workers_section(d), *_worst_section(rep), *_findings_section(d, max_findings)]
    return "\n".join(parts)


def _html_head(d: Mapping[str, Any]) -> list[str]:
    return [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        "<meta name='viewport' content='width=device-width, initial-scale=1'>",
        f"<title>{_e(d['title'])}</title><style>{_CSS}</style></head><body>",
        f"<header><h1>{_e(d['title'])}</h1><p>{_e(d.get('source') or '')} &middot; generated {_e(d['generated'])}"
        "</p></header>",
        "<nav><a href='#summary'>Summary</a><a href='#plots'>Plots</a><a href='#classes'>Classes</a>"
        "<a href='#workers'>Workers</a><a href='#worst'>Worst images</a><a href='#findings'>Findings</a></nav><main>",
    ]


def _summary_section(d: Mapping[str, Any]) -> list[str]:
    s = d["summary"]
    cards = [("images", s["images"], ""), ("labeled", s["labeled_images"], ""),
             ("failed", s["failed_images"], "bad" if s["failed_images"] else "ok"),
             ("empty", s["empty_images"], ""), ("boxes", s["boxes"], ""),
             ("boxes / image", s["boxes_per_image"], ""),
             ("mean confidence", _fmt(s["mean_confidence"], 2), ""),
             ("errors", s["errors"], "bad" if s["errors"] else "ok"),
             ("warnings", s["warnings"], "warn" if s["warnings"] else "ok")]
    if "workers" in s:
        cards.append(("workers", s["workers"], ""))
        cards.append(("flagged workers", len(s["flagged_workers"]), "bad" if s["flagged_workers"] else "ok"))
    parts = [
        "<section id='summary'><h2>Summary</h2><div class='cards'>",
        *(f"<div class='card {cls}'><div class='v'>{_e(v)}</div><div class='k'>{_e(k)}</div></div>"
          for k, v, cls in cards),
        "</div>",
    ]
    if s["findings_by_code"]:
        parts.append("<p class='muted'>Findings by rule: " + ", ".join(
            f"<code>{_e(k)}</code> {v}" for k, v in s["findings_by_code"].items()) + "</p>")
    parts.append("</section>")
    return parts


def _plots_section(rep: QualityReport) -> list[str]:
    captions = {"class_histogram": "Boxes per class", "box_size": "Box size distribution",
                "box_aspect": "Box aspect distribution", "confidence": "Confidence distribution",
                "worker_agreement": "Worker agreement"}
    parts = ["<section id='plots'><h2>Plots</h2><div class='plots'>"]
    for key, png in rep.plots.items():
        parts.append(f"<figure id='plot-{_e(key)}'><img alt='{_e(captions.get(key, key))}' src='{_b64(png)}'>"
                     f"<figcaption>{_e(captions.get(key, key))}</figcaption></figure>")
    parts.append("</div></section>")
    return parts


def _classes_section(d: Mapping[str, Any]) -> list[str]:
    parts = ["<section id='classes'><h2>Per class</h2><table><thead><tr><th>id</th><th>class</th>"
             "<th class='n'>boxes</th><th class='n'>images</th><th class='n'>median area</th>"
             "<th class='n'>median aspect w/h</th><th class='n'>mean confidence</th></tr></thead><tbody>"]
    for c in d["classes"]:
        parts.append(f"<tr><td>{c['id']}</td><td>{_e(c['name'])}</td><td class='n'>{c['boxes']}</td>"
                     f"<td class='n'>{c['images']}</td><td class='n'>{_fmt(c['median_area_fraction'], 4)}</td>"
                     f"<td class='n'>{_fmt(c['median_aspect'], 2)}</td>"
                     f"<td class='n'>{_fmt(c['mean_confidence'], 2)}</td></tr>")
    parts.append("</tbody></table></section>")
    return parts


def _workers_section(d: Mapping[str, Any]) -> list[str]:
    parts = ["<section id='workers'><h2>Per worker</h2>"]
    w = d.get("workers")
    if not w:
        parts.append("<p class='muted'>No worker responses found (annotations/worker-response/ under the job "
                     "output), so there are no worker metrics.</p>")
    else:
        parts.append(f"<p class='muted'>Agreement with the consolidated labels (IoU &ge; "
                     f"{w['settings']['iou_threshold']}); team median score {_fmt(w['team_median_score'], 2)}, "
                     f"median time per task {_fmt(w['team_median_seconds'], 1)} s. Unresolved answers: "
                     f"{w['unresolved_answers']}.</p>")
        parts += _worker_table(w["workers"])
        parts += _worker_class_table(w["workers"])
    parts.append("</section>")
    return parts


def _worker_cell(wk: Mapping[str, Any]) -> str:
    """The worker's id, with the username beside it where the workforce knows it."""
    name = wk.get("username")
    user = f" <span class='user'>({_e(name)})</span>" if name else ""
    return f"<td class='id'>{_e(wk['worker_id'])}{user}</td>"


def _worker_table(workers: Sequence[Mapping[str, Any]]) -> list[str]:
    parts = ["<table><thead><tr><th>worker</th><th class='n'>tasks</th><th class='n'>median s/task</th>"
             "<th class='n'>boxes/task</th><th class='n'>mean IoU</th><th class='n'>precision</th>"
             "<th class='n'>recall</th><th class='n'>score</th><th class='n'>robust z</th>"
             "<th class='n'>gold F1</th><th>flags and notes</th></tr></thead><tbody>"]
    for wk in workers:
        a = wk["agreement"]
        g = wk["gold"] or {}
        flag = "<span class='tag'>FLAGGED</span> " if wk["flagged"] else ""
        notes = "; ".join(wk["reasons"] + wk["notes"])
        parts.append(
            f"<tr class='{'flagged' if wk['flagged'] else ''}'>{_worker_cell(wk)}"
            f"<td class='n'>{wk['tasks']}</td><td class='n'>{_fmt(wk['median_seconds'], 1)}</td>"
            f"<td class='n'>{_fmt(wk['boxes_per_task'], 2)}</td><td class='n'>{_fmt(a['mean_iou'], 2)}</td>"
            f"<td class='n'>{_fmt(a['precision'], 2)}</td><td class='n'>{_fmt(a['recall'], 2)}</td>"
            f"<td class='n'>{_fmt(wk['score'], 2)}</td><td class='n'>{_fmt(wk['z_score'], 1)}</td>"
            f"<td class='n'>{_fmt(g.get('f1'), 2)}</td><td>{flag}{_e(notes)}</td></tr>")
    parts.append("</tbody></table>")
    return parts


def _worker_class_table(workers: Sequence[Mapping[str, Any]]) -> list[str]:
    classes = sorted({k for wk in workers for k in wk["per_class"]})
    if not classes:
        return []
    parts = ["<h3>Per worker and class (precision / recall)</h3><table><thead><tr><th>worker</th>"
             + "".join(f"<th class='n'>{_e(c)}</th>" for c in classes) + "</tr></thead><tbody>"]
    for wk in workers:
        cells = []
        for c in classes:
            pc = wk["per_class"].get(c)
            cells.append(f"<td class='n'>{_fmt(pc['precision'], 2)} / {_fmt(pc['recall'], 2)}</td>"
                         if pc else "<td class='n'>–</td>")
        parts.append(f"<tr class='{'flagged' if wk['flagged'] else ''}'>{_worker_cell(wk)}" + "".join(cells)
                     + "</tr>")
    parts.append("</tbody></table>")
    return parts


def _worst_section(rep: QualityReport) -> list[str]:
    d = rep.data
    parts = ["<section id='worst'><h2>Worst images</h2>"]
    if not d["worst_images"]:
        parts.append("<p class='muted'>No image has a finding or a low-confidence box.</p>")
    parts.append("<div class='thumbs'>")
    for item in d["worst_images"]:
        thumb = rep.thumbnails.get(item["source_ref"])
        img = f"<img alt='{_e(item['source_ref'])}' src='{_b64(thumb)}'>" if thumb else ""
        finds = "".join(f"<li>{_e(f)}</li>" for f in item["findings"][:8])
        more = f"<li>… {len(item['findings']) - 8} more</li>" if len(item["findings"]) > 8 else ""
        parts.append(f"<div class='thumb'>{img}<div class='ref'>{_e(item['source_ref'])}</div>"
                     f"<div class='muted'>line {item['line']} &middot; {len(item['boxes'])} boxes &middot; min "
                     f"confidence {_fmt(item['min_confidence'], 2)}</div><ul>{finds}{more}</ul></div>")
    parts.append("</div></section>")
    return parts


def _findings_section(d: Mapping[str, Any], max_findings: int) -> list[str]:
    findings = d["findings"]
    parts = [f"<section id='findings'><h2>Findings ({len(findings)})</h2>"]
    if len(findings) > max_findings:
        parts.append(f"<p class='muted'>The first {max_findings} are listed; the JSON report has all.</p>")
    parts.append("<table><thead><tr><th>severity</th><th>rule</th><th>image</th><th class='n'>line</th>"
                 "<th class='n'>box</th><th>class</th><th>message</th></tr></thead><tbody>")
    for f in findings[:max_findings]:
        parts.append(f"<tr><td class='sev-{_e(f['severity'])}'>{_e(f['severity'])}</td><td><code>{_e(f['code'])}"
                     f"</code></td><td>{_e(f['source_ref'] or '(dataset)')}</td><td class='n'>{_fmt(f['line'])}</td>"
                     f"<td class='n'>{_fmt(f['box'])}</td><td>{_e(f['class'])}</td><td>{_e(f['message'])}</td></tr>")
    parts.append("</tbody></table></section></main></body></html>")
    return parts


# ============================================================================================ I/O rim
def resolve_output(target: str) -> tuple[str, str]:
    """``(output manifest URI, job root)`` from an output manifest or a job output prefix."""
    from gtlabel import storage
    from gtlabel.quality.workers import job_root

    t = str(target).rstrip("/")
    if t.endswith(".manifest") or t.endswith(".jsonl"):
        return t, job_root(t)
    candidate = f"{t}/manifests/output/output.manifest"
    if storage.exists(candidate):
        return candidate, t
    if storage.exists(t):
        return t, job_root(t)
    raise NotFound("neither an output manifest nor a job output prefix (expected "
                   "<prefix>/manifests/output/output.manifest)", t)


def write_report(target: str, html_out: str | None, *, json_out: str | None = None, truth: str | None = None,
                 label_attribute: str | None = None,
                 class_names: Sequence[str] | Mapping[int, str] | None = None, workers: bool = True,
                 thumbnails: bool = True, worst: int = 12, iou_threshold: float = 0.5,
                 title: str | None = None, progress: bool | None = None, usernames: bool = True,
                 sm_client: Any | None = None, cognito_client: Any | None = None) -> QualityReport:
    """Read a job's output (manifest + worker responses), build the report, write HTML and/or JSON atomically.

    ``usernames``: name the workers whose answers carry identity data (private workforces) by their username
    from the workteam's Cognito user pool (:mod:`gtlabel.quality.identities`; the job's workteam is found with
    ``sm_client``, default clients where not given). Failures leave worker ids only."""
    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn

    from gtlabel import storage
    from gtlabel.manifests import iter_output_lines, iter_output_manifest
    from gtlabel.quality.workers import iter_worker_answers
    from gtlabel.settings import get_settings

    manifest, root = resolve_output(target)
    show = get_settings().progress if progress is None else progress
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), AmountColumn(),
                  transient=True, disable=not show) as bar:
        # every bar has its total: the manifest's size in bytes (its lines are not known before they are read),
        # the number of worker-response files once listed, the number of thumbnails
        size = storage.head(manifest).size
        t = bar.add_task("reading the output manifest", total=size or None, unit="bytes")

        def counted(lines: Iterable[tuple[int, bytes]]) -> Iterator[tuple[int, bytes]]:
            for item in lines:
                yield item
                bar.advance(t, len(item[1]) + 1)

        records = list(iter_output_lines(counted(storage.iter_lines(manifest)), file=manifest,
                                         label_attribute=label_attribute))
        bar.update(t, completed=size)
        answers: list[WorkerAnswer] | None = None
        if workers:
            files_bar: list[Any] = []  # the bar appears once the files are listed, with their number

            def on_file(done: int, total: int) -> None:
                if not files_bar:
                    files_bar.append(bar.add_task("reading worker responses", total=total, unit="files"))
                bar.update(files_bar[0], completed=done)

            answers = list(iter_worker_answers(root, on_file=on_file))
            if not answers:
                answers = None
        truth_records = list(iter_output_manifest(truth)) if truth else None
        names = None
        if usernames and answers:
            jobs = [bare_job_name(r.job_name) for r in records if r.job_name]
            names = lookup_usernames(answers, cognito_client=cognito_client, find_pools=lambda: job_pools(
                sm_client or lookup_client("sagemaker"), jobs))
        rep = build_report(records, answers=answers, truth=truth_records, class_names=class_names,
                           title=title or f"Label quality: {root.rsplit('/', 1)[-1]}", source=manifest,
                           worst=worst, iou_threshold=iou_threshold, usernames=names)
        if thumbnails and rep.data["worst_images"]:
            t = bar.add_task("drawing thumbnails", total=len(rep.data["worst_images"]))
            add_thumbnails(rep, storage.read_bytes, on_progress=lambda: bar.advance(t))
    if truth:
        rep.data["truth"] = truth
    if json_out:
        storage.write_bytes(json_out, rep.json_bytes(), content_type="application/json")
    if html_out:
        storage.write_bytes(html_out, render_html(rep).encode("utf-8"), content_type="text/html; charset=utf-8")
    return rep


def quality_summary(rep: QualityReport) -> dict[str, Any]:
    """A short summary for lineage records (``lineage.json``'s optional ``quality``)."""
    s = dict(rep.data["summary"])
    s.pop("findings_by_code", None)
    if rep.workers is not None:
        s["team_median_score"] = rep.workers.team_median_score
    s["median_confidence"] = statistics.median(
        [c for st in rep.validation.classes.values() for c in st.confidences] or [0.0])
    return s

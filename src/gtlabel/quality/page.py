"""The quality report as one self-contained HTML page (inline CSS, plots and thumbnails as base64 PNG, no
external assets, no script). Pure: a :class:`~gtlabel.quality.report.QualityReport` in, a string out."""

from __future__ import annotations

import base64
import html
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gtlabel.quality.report import QualityReport

__all__ = ["render_html"]


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

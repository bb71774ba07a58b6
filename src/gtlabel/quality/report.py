"""The quality report: one self-contained HTML page (inline CSS, plots and thumbnails as base64 PNG, no external
assets, no script) plus the same data as JSON.

Sections: summary, plots (class histogram, box size and aspect distributions, confidence distribution, worker
agreement), per-class table, per-worker table (flagged workers highlighted), the worst images as thumbnails
with their boxes drawn, and the validation findings.

Pure part: :func:`build_report` (records, worker answers, truth -> :class:`QualityReport`) and
:func:`~gtlabel.quality.page.render_html` (the page, :mod:`gtlabel.quality.page`). I/O rim: :func:`write_report`
(reads the manifest, worker responses and images through :mod:`gtlabel.storage`, writes the HTML/JSON
atomically). The plots are drawn by :mod:`gtlabel.quality.plots`, the one module that loads matplotlib (lazily).
"""

from __future__ import annotations

import io
import math
import statistics
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import orjson
from botocore.exceptions import BotoCoreError
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn

from gtlabel import storage
from gtlabel.errors import NotFound, StorageError
from gtlabel.formats import strict_json
from gtlabel.formats.ground_truth import bare_job_name, iter_output_lines
from gtlabel.manifests import iter_output_manifest
from gtlabel.progress import AmountColumn
from gtlabel.quality.identities import job_pools, lookup_client, lookup_usernames
from gtlabel.quality.page import render_html
from gtlabel.quality.plots import PALETTE, SIZE_BINS, make_plots
from gtlabel.quality.validate import ValidationConfig, ValidationReport, validate_records
from gtlabel.quality.workers import (
    WorkerAnswer,
    WorkerReport,
    compute_worker_metrics,
    iter_worker_answers,
    job_root,
)
from gtlabel.settings import get_settings

if TYPE_CHECKING:
    from PIL import Image

    from gtlabel.formats.ground_truth import OutputRecord

__all__ = ["QualityReport", "build_report", "render_html", "write_report"]

THUMB_W = 360


@dataclass
class QualityReport:
    """Everything in the report. ``data`` is what the JSON holds; ``plots`` and ``thumbnails`` are PNG bytes."""

    data: dict[str, Any]
    validation: ValidationReport
    workers: WorkerReport | None
    plots: dict[str, bytes] = field(default_factory=dict)
    thumbnails: dict[str, bytes] = field(default_factory=dict)  # source_ref -> PNG

    def json_bytes(self) -> bytes:
        return strict_json.dumps(self.data, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS)


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


# ============================================================================================ I/O rim
def resolve_output(target: str) -> tuple[str, str]:
    """``(output manifest URI, job root)`` from an output manifest or a job output prefix."""
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

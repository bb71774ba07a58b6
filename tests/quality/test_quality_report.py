"""The quality report: data, JSON, the CLI on moto S3, and the HTML rendered in Debian's chromium."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from _quality_sim import BAD, GOOD, SimImage, write_job
from typer.testing import CliRunner

from gtlabel import storage
from gtlabel.cli import app
from gtlabel.manifests import iter_output_manifest
from gtlabel.quality.report import build_report, render_html, write_report
from gtlabel.quality.workers import load_worker_answers
from gtlabel.synth import make_image

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]


def _upload_images(bucket: str, n: int) -> list[SimImage]:
    out = []
    for i in range(n):
        im = make_image(i, seed=4)
        ref = f"s3://{bucket}/raw/{im.name}"
        storage.write_bytes(ref, im.jpeg, content_type="image/jpeg")
        out.append(SimImage(str(i), ref, im.width, im.height,
                            [{"label": b.label, "left": b.left, "top": b.top, "width": b.width, "height": b.height}
                             for b in im.boxes]))
    return out


@pytest.fixture()
def sim_job(bucket: str) -> dict[str, Any]:
    images = _upload_images(bucket, 24)
    job = write_job(f"s3://{bucket}/out/drone-job", images, [*GOOD[:3], BAD], per_image=3, seed=9, gold_every=3)
    job["root"] = f"s3://{bucket}/out/drone-job"
    return job


def test_build_report_data(sim_job: dict[str, Any]) -> None:
    records = list(iter_output_manifest(sim_job["output"]))
    rep = build_report(records, answers=load_worker_answers(sim_job["root"]),
                       truth=list(iter_output_manifest(sim_job["truth"])),
                       class_names=["drone", "vehicle", "person", "building"])
    d = rep.data
    assert d["summary"]["images"] == 24 and d["summary"]["flagged_workers"] == [BAD.worker_id]
    assert {c["name"] for c in d["classes"]} <= {"drone", "vehicle", "person", "building"}
    assert sum(c["boxes"] for c in d["classes"]) == d["summary"]["boxes"]
    assert d["distributions"]["confidence"] and sum(d["distributions"]["confidence"]["counts"]) > 0
    assert set(rep.plots) == {"class_histogram", "box_size", "box_aspect", "confidence", "worker_agreement"}
    assert all(p.startswith(b"\x89PNG") for p in rep.plots.values())
    assert 0 < len(d["worst_images"]) <= 12
    bads = [w for w in d["workers"]["workers"] if w["worker_id"] == BAD.worker_id]
    assert bads[0]["gold"] is not None and bads[0]["flagged"]
    json.loads(rep.json_bytes())
    page = render_html(rep)
    assert "https://" not in page and "http://" not in page  # nothing external
    assert page.count("data:image/png;base64,") == 5


def test_report_cli_and_browser(sim_job: dict[str, Any], tmp_path: Path, artifacts_dir: Path) -> None:
    out = tmp_path / "report.html"
    r = CliRunner().invoke(app, ["report", sim_job["root"], "-o", str(out), "--truth", sim_job["truth"],
                                 "--labels", "drone,vehicle,person,building"])
    assert r.exit_code == 0, r.output
    assert "flagged workers: w-mallory" in r.output
    data = json.loads((tmp_path / "report.json").read_text())
    assert data["summary"]["flagged_workers"] == [BAD.worker_id]
    assert all(w["thumbnail_note"] is None for w in data["worst_images"])  # every image was read from S3
    shutil.copy(out, artifacts_dir / "report.html")
    shutil.copy(tmp_path / "report.json", artifacts_dir / "report.json")

    if not Path(CHROMIUM).exists():
        pytest.skip("Debian chromium is not installed")
    from playwright.sync_api import sync_playwright

    external: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.on("request", lambda req: external.append(req.url)
                    if not req.url.startswith(("file:", "data:")) else None)
            page.goto(out.as_uri())
            for sec in ("summary", "plots", "classes", "workers", "worst", "findings"):
                assert page.locator(f"section#{sec}").is_visible(), sec
            assert page.locator("section#workers tr.flagged").count() == 2  # main table + per-class table
            assert BAD.worker_id in page.locator("section#workers tr.flagged").first.inner_text()
            assert page.locator("section#classes tbody tr").count() == len(data["classes"])
            # every plot and thumbnail decoded (natural width > 0)
            widths = page.eval_on_selector_all("img", "els => els.map(e => e.naturalWidth)")
            assert len(widths) == 5 + len(data["worst_images"]) and all(w > 0 for w in widths)
            assert page.locator(".thumb").count() == len(data["worst_images"])
            page.screenshot(path=str(artifacts_dir / "report.png"), full_page=True)
            page.locator("section#workers").screenshot(path=str(artifacts_dir / "report-workers.png"))
            page.locator("section#worst").screenshot(path=str(artifacts_dir / "report-worst.png"))
        finally:
            browser.close()
    assert external == []
    assert (artifacts_dir / "report.png").stat().st_size > 50_000


def test_report_without_workers_and_bad_target(tmp_path: Path, s3_endpoint: str) -> None:
    m = tmp_path / "job" / "manifests" / "output" / "output.manifest"
    m.parent.mkdir(parents=True)
    m.write_text(json.dumps({"source-ref": "s3://nope/a.jpg", "lab": {
        "image_size": [{"width": 100, "height": 80, "depth": 3}],
        "annotations": [{"class_id": 0, "left": 1, "top": 1, "width": 2, "height": 2}]},
        "lab-metadata": {"objects": [{"confidence": 0.3}], "class-map": {"0": "drone"},
                         "type": "groundtruth/object-detection"}}) + "\n")
    rep = write_report(str(tmp_path / "job"), str(tmp_path / "r.html"), json_out=str(tmp_path / "r.json"),
                       progress=False)
    assert rep.workers is None and rep.data["workers"] is None
    assert rep.data["worst_images"][0]["thumbnail_note"].startswith("image not readable")
    assert "No worker responses found" in (tmp_path / "r.html").read_text()
    r = CliRunner().invoke(app, ["report", str(tmp_path / "missing"), "-o", str(tmp_path / "x.html")])
    assert r.exit_code == 5 and "job output prefix" in r.output
    r = CliRunner().invoke(app, ["report", str(m), "-o", str(tmp_path / "y.html"), "--fail-on", "warning"])
    assert r.exit_code == 3


def test_report_progress_bars_know_their_totals(sim_job: dict[str, Any], tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """Every bar has a total (the demo showed ``24/?`` and ``72/?``): the manifest in bytes, the worker-response
    files once listed, the thumbnails."""
    import io
    import re

    import rich
    from rich.console import Console

    buf = io.StringIO()
    monkeypatch.setattr(rich, "_console", Console(file=buf, force_terminal=True, width=100, color_system=None))
    write_report(sim_job["root"], str(tmp_path / "r.html"), truth=sim_job["truth"], progress=True)
    shown = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", buf.getvalue())
    assert "reading the output manifest" in shown and "reading worker responses" in shown
    assert "/?" not in shown
    size = storage.head(sim_job["output"]).size
    assert re.search(rf"reading the output manifest .*{size / 1000:.1f}/{size / 1000:.1f} kB", shown), shown[-2000:]
    assert re.search(r"reading worker responses .* 24/24", shown)  # one file per image

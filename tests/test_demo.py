"""The main job end to end: `gtlabel demo` on the local service, training on (small size)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from gtlabel.cli import app


@pytest.mark.slow
@pytest.mark.train
def test_demo_runs_end_to_end_with_training(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    # small frames, one epoch at 64 px on the 320 px tiles: the mechanics (the default run, which trains at the
    # tile side, has its accuracy measured by bench/bench_tiles.py; its default imgsz is checked below)
    res = CliRunner().invoke(app, ["demo", "--out", str(out), "--images", "16", "--frame", "800x600", "--epochs", "1",
                                   "--imgsz", "64", "--seed", "3"])
    assert res.exit_code == 0, res.output

    summary = json.loads((out / "demo-summary.json").read_text())
    assert summary["status"] == "Completed"
    assert summary["images"] == 16
    sims = summary["simulated_workers"]
    assert sims["submitted"] == 16 * 3 and sims["errors"] == 0  # 3 distinct workers per image

    # quality: consolidated labels agree with the known truth; the deliberately bad worker (skill 0.2: its F1
    # against gold is under the 0.5 floor however few tasks the race gives it) is the one flagged
    rep = json.loads((out / "quality-report.json").read_text())
    assert rep["summary"]["images"] == 16
    workers = rep["workers"]["workers"]
    flagged = [w for w in workers if w["flagged"]]
    assert len(flagged) == 1, [(w["worker_id"][-8:], w["gold_score"], w["z_score"], w["reasons"]) for w in workers]
    assert flagged[0]["gold_score"] == min(w["gold_score"] for w in workers if w["gold_score"] is not None)
    # workers named through the local service's Cognito ListUsers (never AWS's endpoint)
    assert flagged[0]["username"] == "dave"
    assert {w["username"] for w in workers} == {"alice", "bob", "carol", "dave"}
    assert (out / "quality-report.html").read_text().count("<table") >= 2

    # dataset: YOLO11 layout, every image has a label file, lineage with the version id
    data = yaml.safe_load((out / "dataset" / "data.yaml").read_text())
    assert data["names"] == {0: "drone", 1: "vehicle", 2: "person", 3: "building"}
    assert Path(data["path"]).is_absolute()
    images = sorted((out / "dataset" / "images").rglob("*.jpg"))
    labels = sorted((out / "dataset" / "labels").rglob("*.txt"))
    assert len(images) == 16 and len(labels) == 16
    lineage = json.loads((out / "dataset" / "lineage.json").read_text())
    assert lineage["version"] == summary["dataset_version"]
    assert len(lineage["images"]) == 16

    # the job's own Ground Truth files, copied out of the embedded S3
    job_out = out / "job-output"
    assert len((job_out / "manifests" / "output" / "output.manifest").read_text().splitlines()) == 16
    responses = sorted((job_out / "annotations" / "worker-response").rglob("*.json"))
    assert len(responses) == 16 and all(len(json.loads(p.read_text())["answers"]) == 3 for p in responses)
    assert summary["job_output"] == str(job_out)

    # the same frames cut into tiles, each tile in its frame's split
    tiles = json.loads((out / "dataset-tiles" / "lineage.json").read_text())
    assert len(tiles["images"]) > 16
    frame_split = {img["source_ref"]: img["split"] for img in lineage["images"]}
    assert all(t["split"] == frame_split[t["source_ref"]] for t in tiles["images"])  # no frame straddles splits
    test_frames = {ref for ref, split in frame_split.items() if split == "test"}
    tiled_test = {t["source_ref"] for t in tiles["images"] if t["split"] == "test"}
    # every test frame with an object is tiled (an empty frame may keep no tile: keep_empty samples them)
    labeled = {img["source_ref"] for img in lineage["images"]
               if (out / "dataset" / img["label"]).read_text().strip()}
    assert tiled_test and test_frames & labeled <= tiled_test <= test_frames
    assert summary["settings"]["frame"] == [800, 600] and summary["settings"]["tile"] == 320
    assert summary["settings"]["imgsz"] == 64 and summary["settings"]["epochs"] == 1

    # training + evaluation ran; metrics are finite and in range (one epoch: mechanics, not accuracy)
    metrics = summary["metrics"]
    for key in ("precision", "recall", "mAP50", "mAP50-95"):
        assert 0.0 <= metrics[key] <= 1.0
    # evaluated on the full test frames with sliced inference, by object size too
    assert metrics["evaluated_on"].startswith("test split, full frames, sliced 320")
    assert summary["by_size"]["small"]["instances"] > 0 and 0.0 <= metrics["mAP50_small"] <= 1.0
    # Ultralytics' console output is in the run's log file, not on the demo's console
    log = (out / "ultralytics.log").read_text()
    assert "Ultralytics" in log and "Epoch" in log
    assert "Epoch" not in res.output and "training YOLO11n on the tiles" in res.output
    assert "test mAP50" in res.output
    assert (out / "runs" / "train" / "weights" / "best.pt").is_file()
    assert (out / "runs" / "train" / "metrics.json").is_file()
    assert (out / "runs" / "evaluate" / "confusion_matrix.png").is_file()


@pytest.mark.slow
def test_demo_with_more_workers_per_image_than_the_default_team_leaves_the_environment_alone(tmp_path: Path) -> None:
    """More workers per image than the default team has (the team grows); and the demo reaches its service's S3
    through a storage target and passes SageMaker clients explicitly: nothing in os.environ changes, not even for
    the length of the run, and no target is left behind. One demo run for both (each costs ~5 CPU-s)."""
    import os
    import threading

    from gtlabel import storage
    from gtlabel.demo import run_demo, worker_accounts

    assert len(worker_accounts(3)) == 4 and len(worker_accounts(7)) == 8
    before = dict(os.environ)
    seen: list[dict[str, str]] = []
    stop = threading.Event()

    def watch() -> None:
        while not stop.wait(0.2):
            seen.append(dict(os.environ))

    t = threading.Thread(target=watch, daemon=True)
    t.start()
    try:
        res = run_demo(tmp_path / "demo5", images=5, workers_per_object=5, train=False, progress=False)
    finally:
        stop.set()
        t.join()
    assert res.status == "Completed" and (res.dataset_dir / "data.yaml").is_file()
    summary = json.loads((tmp_path / "demo5" / "demo-summary.json").read_text())
    assert summary["simulated_workers"]["submitted"] == 5 * 5 and summary["simulated_workers"]["errors"] == 0
    assert summary["settings"]["imgsz"] == summary["settings"]["tile"] == 320  # by default it trains at the tile side
    assert seen and all(env == before for env in seen)
    assert storage.current_target() is None


@pytest.mark.slow
def test_interactive_demo_waits_for_a_person_in_the_portal(tmp_path: Path) -> None:
    """--interactive: the demo prints the portal and a login, and goes on once that person has labeled the job
    (here the person is a scripted worker on the same portal endpoints the browser uses)."""
    import io
    import re
    import threading
    import time

    from rich.console import Console

    from gtlabel.demo import run_demo
    from gtlabel.local.workforce import simulate

    buf = io.StringIO()
    result: dict[str, object] = {}

    def run() -> None:
        try:
            result["res"] = run_demo(tmp_path / "interactive", images=4, train=False, interactive=True,
                                     open_browser=False, progress=False,
                                     console=Console(file=buf, width=300, force_terminal=False))
        except BaseException as exc:  # surfaced below
            result["error"] = exc

    t = threading.Thread(target=run, daemon=True)
    t.start()
    deadline = time.monotonic() + 120
    portal = job = None
    while time.monotonic() < deadline and not (portal and job):
        text = buf.getvalue()
        m_portal = re.search(r"Open (http://127\.0\.0\.1:\d+/) and log in as labeler / labeler-password", text)
        m_job = re.search(r"labeling-job/(drone-demo-[0-9-]+)", text)
        portal, job = (m_portal.group(1) if m_portal else None), (m_job.group(1) if m_job else None)
        time.sleep(0.1)
    assert portal and job, buf.getvalue()
    person = simulate(portal, job, [("labeler", "labeler-password")], idle_timeout_s=30.0)
    assert person.submitted == 4 and person.errors == 0  # one worker per image in interactive mode
    t.join(timeout=120)
    assert "error" not in result, result.get("error")
    assert result["res"].status == "Completed"  # type: ignore[attr-defined]


def _run_in_terminal(args: list[str], columns: int, timeout_s: float) -> tuple[int, str]:
    """Run a command on a pseudo-terminal ``columns`` wide, as a person sees it; returns (exit code, screen text
    without escape codes, every frame of the live bars included)."""
    import fcntl
    import os
    import pty
    import re
    import select
    import struct
    import subprocess
    import termios
    import time

    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, columns, 0, 0))
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES", "CI", "NO_COLOR")}
    env["TERM"] = "xterm-256color"
    proc = subprocess.Popen(args, stdin=slave, stdout=slave, stderr=slave, env=env, close_fds=True)
    os.close(slave)
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.5)
            if ready:
                try:
                    data = os.read(master, 65536)
                except OSError:  # the terminal closed: the command ended
                    break
                if not data:
                    break
                chunks.append(data)
            elif proc.poll() is not None:
                break
    finally:
        if proc.poll() is None:
            proc.kill()
        rc = proc.wait(30)
        os.close(master)
    text = b"".join(chunks).decode("utf-8", "replace")
    return rc, re.sub(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07", "", text).replace("\r", "\n")


@pytest.mark.slow
def test_demo_in_an_80_column_terminal_cuts_no_value(tmp_path: Path) -> None:
    """The demo's live status line was cut at 80 columns ("Comp…", "$1.92 of $2…") and its bars showed ``24/?``
    where the total was known; here it runs on an 80-column terminal."""
    import sys

    exe = str(Path(sys.executable).with_name("gtlabel"))
    rc, screen = _run_in_terminal([exe, "demo", "--no-train", "--images", "6", "--workers", "1", "--out",
                                   str(tmp_path / "demo")], columns=80, timeout_s=300)
    assert rc == 0, screen[-3000:]
    summary = json.loads((tmp_path / "demo" / "demo-summary.json").read_text())
    lines = screen.splitlines()
    assert "…" not in screen, [line for line in lines if "…" in line]
    assert f"{summary['job_name']} Completed" in lines  # the job's status line, whole
    assert any(line.startswith("human 6 · machine 0 · failed 0 · $0.48 of $25.00") for line in lines), screen[-3000:]
    for bar in ("reading the output manifest", "reading worker responses", "drawing thumbnails", "converting",
                "copying images"):
        assert [line for line in lines if bar in line], bar
    assert "/?" not in screen, [line for line in lines if "/?" in line]  # every bar knows its total
    assert "pip install 'gtlabel[train]'" in screen

"""Fixtures of the model tests: a tiny synthetic YOLO dataset (made here, not by the converter) and one
YOLO11n trained on it once per session, in a subprocess that records every network attempt."""

from __future__ import annotations

import importlib.util
import json
import os
import random
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

# skipped without the train extra; found, not imported: every xdist worker collects this folder, and importing
# ultralytics (torch) costs seconds in the one that does not run it
if importlib.util.find_spec("ultralytics") is None:
    pytest.skip("could not import 'ultralytics': the train extra", allow_module_level=True)

#: the fixtures worth keeping their users on one xdist worker (tests/conftest.py's work units): the trained model
#: (~15 CPU-s); the test files that do not use it run on any worker
ONE_WORKER_FIXTURES = ("trained",)

CLASSES = ("drone", "vehicle", "person")
COLORS = {0: (230, 40, 40), 1: (40, 200, 60), 2: (50, 80, 230)}
SPLITS = {"train": 24, "val": 8, "test": 8}


def make_yolo_dataset(root: Path, *, seed: int = 0, splits: dict[str, int] | None = None,
                      version: str | None = "v-synthetic0001") -> Path:
    """Write images/{split} + labels/{split} + data.yaml (+ lineage.json when ``version``). Returns data.yaml."""
    rng = random.Random(seed)
    splits = splits or SPLITS
    for split, count in splits.items():
        (root / "images" / split).mkdir(parents=True, exist_ok=True)
        (root / "labels" / split).mkdir(parents=True, exist_ok=True)
        for i in range(count):
            w, h = rng.choice((160, 224, 256, 320)), rng.choice((160, 192, 256, 320))
            im = Image.new("RGB", (w, h), (rng.randint(90, 140),) * 3)
            d = ImageDraw.Draw(im)
            rows = []
            for _ in range(rng.randint(1, 3)):
                cid = rng.randrange(len(CLASSES))
                bw, bh = rng.randint(w // 8, w // 3), rng.randint(h // 8, h // 3)
                x, y = rng.randint(0, w - bw - 1), rng.randint(0, h - bh - 1)
                d.rectangle((x, y, x + bw, y + bh), fill=COLORS[cid])
                rows.append(f"{cid} {(x + bw / 2) / w:.6f} {(y + bh / 2) / h:.6f} {bw / w:.6f} {bh / h:.6f}")
            im.save(root / "images" / split / f"{split}_{i:03d}.jpg", quality=90)
            (root / "labels" / split / f"{split}_{i:03d}.txt").write_text("\n".join(rows) + "\n")
    lines = [f"path: {root.resolve()}"] + [f"{s}: images/{s}" for s in splits] + ["names:"]
    lines += [f"  {i}: {n}" for i, n in enumerate(CLASSES)]
    (root / "data.yaml").write_text("\n".join(lines) + "\n")
    if version:
        (root / "lineage.json").write_text(json.dumps({"version": version, "images": [], "jobs": ["synthetic-job"],
                                                       "manifest": {"uri": "s3://b/out.manifest", "etag": "x"}}))
    return root / "data.yaml"


@pytest.fixture(scope="session")
def yolo_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_yolo_dataset(tmp_path_factory.mktemp("yolo-ds"))


@pytest.fixture(scope="session", autouse=True)
def yolo_config_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Ultralytics settings + fonts for this test session (set before ultralytics is imported)."""
    d = tmp_path_factory.mktemp("yolo-config")
    from gtlabel.model.offline import ensure_ultralytics_offline

    ensure_ultralytics_offline(d)
    return d


# A training run in a fresh interpreter with an audit hook that records socket/URL activity. Loopback is
# not expected either (nothing of ours runs a server here), so every attempt counts.
_TRAIN_SCRIPT = textwrap.dedent(
    """
    import json, sys, time
    attempts = []
    def hook(event, args):
        if event in ("socket.connect", "socket.getaddrinfo", "socket.gethostbyname", "urllib.Request",
                     "http.client.connect"):
            attempts.append([event, repr(args)[:200]])
    sys.addaudithook(hook)
    from gtlabel.model.train import train_yolo
    t0 = time.perf_counter()
    res = train_yolo(sys.argv[1], epochs=2, imgsz=160, batch=8, project=sys.argv[2], name="run", seed=0,
                     exist_ok=True)
    out = {"attempts": attempts, "wall": time.perf_counter() - t0, "run_dir": str(res.run_dir),
           "weights": str(res.weights), "metrics_path": str(res.metrics_path), "version": res.dataset_version}
    with open(sys.argv[3], "w") as fh:
        json.dump(out, fh)
    """
)


@pytest.fixture(scope="session")
def trained(yolo_dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """Train YOLO11n from scratch for 2 epochs at 160 px in a subprocess; returns its report
    (``attempts``: network attempts seen by the audit hook, ``weights``, ``run_dir``, ``metrics_path``)."""
    work = tmp_path_factory.mktemp("yolo-train")
    report = work / "report.json"
    # an empty settings dir: gtlabel itself must place the fonts and set the offline switches
    env = {**os.environ, "YOLO_CONFIG_DIR": str(work / "yolo-config"), "GTLABEL_PROGRESS": "0"}
    env.pop("YOLO_OFFLINE", None)  # gtlabel must set it itself
    proc = subprocess.run([sys.executable, "-c", _TRAIN_SCRIPT, str(yolo_dataset), str(work / "runs"), str(report)],
                          env=env, capture_output=True, text=True, timeout=600)  # a hang guard: ~215 s wall seen on 2 loaded cores
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    data: dict[str, object] = json.loads(report.read_text())
    data["log"] = proc.stdout + proc.stderr
    data["config_dir"] = str(work / "yolo-config")
    return data

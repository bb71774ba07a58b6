"""evaluate(): per-class metrics, a confusion matrix PNG and metrics.json from the real Ultralytics validator."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gtlabel.cli import app
from gtlabel.model.evaluate import evaluate, plot_confusion_matrix

PNG = b"\x89PNG\r\n\x1a\n"


def _instances(ds_root: Path, split: str) -> dict[int, int]:
    counts: dict[int, int] = {}
    for p in (ds_root / "labels" / split).glob("*.txt"):
        for row in p.read_text().split("\n"):
            if row.strip():
                cid = int(row.split()[0])
                counts[cid] = counts.get(cid, 0) + 1
    return counts


def test_evaluate_test_split(trained: dict[str, object], yolo_dataset: Path, tmp_path: Path) -> None:
    res = evaluate(str(trained["weights"]), yolo_dataset, imgsz=160, batch=8, project=tmp_path, name="ev",
                   verbose=False)
    assert res.split == "test" and res.save_dir == tmp_path / "ev"
    truth = _instances(yolo_dataset.parent, "test")
    assert {row["class_id"]: row["instances"] for row in res.per_class.values()} == {0: truth.get(0, 0),
                                                                                  1: truth.get(1, 0),
                                                                                  2: truth.get(2, 0)}
    for k in ("precision", "recall", "mAP50", "mAP50-95"):
        assert 0.0 <= res.metrics[k] <= 1.0
    assert res.confusion_matrix_png.read_bytes()[:8] == PNG
    # Ultralytics' layout: (nc+1) x (nc+1), the true-class columns add up to the labeled instances
    cm = res.confusion_matrix
    assert len(cm) == 4 and all(len(r) == 4 for r in cm)
    for cid in range(3):
        assert sum(row[cid] for row in cm) == truth.get(cid, 0)
    rec = json.loads(res.metrics_path.read_text())
    assert rec["split"] == "test" and rec["dataset"]["version"] == "v-synthetic0001"
    assert rec["confusion_matrix"]["labels"] == ["drone", "vehicle", "person", "background"]
    assert [r["class"] for r in res.table()] == ["drone", "vehicle", "person"]


def test_evaluate_falls_back_to_val(trained: dict[str, object], yolo_dataset: Path, tmp_path: Path) -> None:
    text = yolo_dataset.read_text().replace("test: images/test\n", "")
    alt = yolo_dataset.parent / "no-test.yaml"
    alt.write_text(text)
    res = evaluate(str(trained["weights"]), alt, imgsz=160, project=tmp_path, name="ev", verbose=False)
    assert res.split == "val"
    assert "no test split" in json.loads(res.metrics_path.read_text())["note"]
    assert sum(r["instances"] for r in res.per_class.values()) == sum(_instances(yolo_dataset.parent, "val").values())


def test_plot_confusion_matrix_draws_a_png(tmp_path: Path) -> None:
    out = plot_confusion_matrix([[1, 0, 2], [0, 3, 0], [1, 0, 0]], ["a", "b"], tmp_path / "cm.png")
    assert out.read_bytes()[:8] == PNG and out.stat().st_size > 2000


def test_cli_evaluate(trained: dict[str, object], yolo_dataset: Path, tmp_path: Path) -> None:
    r = CliRunner().invoke(app, ["evaluate", str(trained["weights"]), str(yolo_dataset), "--imgsz", "160",
                                 "--project", str(tmp_path), "--name", "cli"])
    assert r.exit_code == 0, r.output
    assert "test split" in r.output and "vehicle" in r.output
    assert (tmp_path / "cli" / "confusion_matrix.png").is_file()
    assert (tmp_path / "cli" / "metrics.json").is_file()


def test_evaluate_rejects_unknown_split(trained: dict[str, object], yolo_dataset: Path) -> None:
    from gtlabel.errors import ConfigError

    with pytest.raises(ConfigError, match="split"):
        evaluate(str(trained["weights"]), yolo_dataset, split="holdout")

"""train_yolo: real Ultralytics YOLO11n from scratch on a tiny synthetic dataset, fully offline.

From-scratch accuracy on 24 images is ~0: these tests check the mechanics (files, keys, ranges, lineage,
zero network attempts), not the accuracy."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gtlabel import errors
from gtlabel.cli import app
from gtlabel.model.common import lineage_ref, resolve_dataset

METRIC_KEYS = {"precision", "recall", "mAP50", "mAP50-95"}


def test_training_makes_no_network_attempt(trained: dict[str, object]) -> None:
    assert trained["attempts"] == [], trained["attempts"]
    fonts = Path(str(trained["config_dir"])) / "Ultralytics"
    assert (fonts / "Arial.ttf").is_file() and (fonts / "Arial.Unicode.ttf").is_file()
    assert Path(str(trained["weights"])).name == "best.pt" and Path(str(trained["weights"])).is_file()


def test_metrics_json_has_results_version_and_lineage(trained: dict[str, object], yolo_dataset: Path) -> None:
    rec = json.loads(Path(str(trained["metrics_path"])).read_text())
    assert Path(str(trained["metrics_path"])).parent == Path(str(trained["run_dir"]))
    assert set(rec["metrics"]) >= METRIC_KEYS
    for k in METRIC_KEYS:
        assert 0.0 <= rec["metrics"][k] <= 1.0
    assert set(rec["per_class"]) == {"drone", "vehicle", "person"}
    val_instances = sum(len(p.read_text().split("\n")) - 1 for p in (yolo_dataset.parent / "labels/val").glob("*.txt"))
    assert sum(r["instances"] for r in rec["per_class"].values()) == val_instances
    for row in rec["per_class"].values():
        assert {"class_id", "instances", "images", *METRIC_KEYS} <= set(row)
        for k in METRIC_KEYS:
            assert row[k] is None or 0.0 <= row[k] <= 1.0
    assert rec["dataset"]["version"] == "v-synthetic0001" == trained["version"]
    assert rec["dataset"]["lineage"] == str(yolo_dataset.parent / "lineage.json")
    assert rec["dataset"]["jobs"] == ["synthetic-job"]
    assert rec["settings"]["epochs"] == 2 and rec["settings"]["imgsz"] == 160
    assert rec["timing"]["epochs_run"] == 2 and rec["timing"]["seconds"] > 0
    assert rec["versions"]["ultralytics"]
    # Ultralytics' own outputs are there too
    run = Path(str(trained["run_dir"]))
    assert (run / "results.csv").is_file() and (run / "weights" / "last.pt").is_file()


def test_cli_train_one_epoch(yolo_dataset: Path, tmp_path: Path) -> None:
    r = CliRunner().invoke(app, ["train", str(yolo_dataset.parent), "--epochs", "1", "--imgsz", "64", "--batch", "8",
                                 "--project", str(tmp_path), "--name", "cli", "--exist-ok"])
    assert r.exit_code == 0, r.output
    assert "dataset version: v-synthetic0001" in r.output
    rec = json.loads((tmp_path / "cli" / "metrics.json").read_text())
    assert rec["timing"]["epochs_run"] == 1 and rec["model"] == "yolo11n.yaml"
    assert (tmp_path / "cli" / "weights" / "best.pt").is_file()


@pytest.mark.parametrize("args, code, text", [
    (["train", "/nonexistent/ds"], 5, "dataset not found"),
    (["train", "{ds}", "--model", "/nonexistent/yolo11n.pt"], 5, "never downloads weights"),
    (["train", "{ds}", "--imgsz", "100"], 3, "multiple of 32"),
])
def test_cli_train_errors(args: list[str], code: int, text: str, yolo_dataset: Path) -> None:
    r = CliRunner().invoke(app, [a.format(ds=yolo_dataset) for a in args])
    assert r.exit_code == code, r.output
    assert text in " ".join(r.output.split())


def test_bad_data_yaml_names_the_file_and_field(tmp_path: Path) -> None:
    (tmp_path / "data.yaml").write_text("train: images/train\nval: images/val\n")
    with pytest.raises(errors.InputError) as ei:
        resolve_dataset(tmp_path)
    assert ei.value.field == "names" and str(tmp_path / "data.yaml") in str(ei.value)
    (tmp_path / "data.yaml").write_text("train: a\nval: b\nnames: {0: x, 2: y}\n")
    with pytest.raises(errors.InputError, match="contiguous"):
        resolve_dataset(tmp_path)
    (tmp_path / "lineage.json").write_text("{not json")
    with pytest.raises(errors.InputError, match="malformed JSON"):
        lineage_ref(tmp_path)


def test_dataset_moved_elsewhere_gets_a_resolved_yaml(yolo_dataset: Path, tmp_path: Path) -> None:
    moved = tmp_path / "moved"
    shutil.copytree(yolo_dataset.parent, moved, ignore=shutil.ignore_patterns("*.cache"))
    (moved / "data.yaml").write_text((moved / "data.yaml").read_text().replace(str(yolo_dataset.parent),
                                                                                "/opt/ml/input/data/dataset"))
    before = (moved / "data.yaml").read_bytes()
    ds = resolve_dataset(moved, cache_dir=tmp_path / "cache")
    assert ds.root == moved.resolve() and ds.data_yaml.parent == tmp_path / "cache" / "resolved-yaml"
    assert f"path: {moved.resolve()}" in ds.data_yaml.read_text()
    assert (moved / "data.yaml").read_bytes() == before  # the dataset itself is not touched
    assert ds.names == {0: "drone", 1: "vehicle", 2: "person"} and set(ds.splits) == {"train", "val", "test"}


def test_s3_dataset_is_mirrored_to_the_cache(yolo_dataset: Path, bucket: str, s3: object, tmp_path: Path) -> None:
    from gtlabel import storage

    root = yolo_dataset.parent
    files = [p for p in root.rglob("*") if p.is_file() and not p.name.endswith(".cache")]
    for p in files:
        storage.copy(str(p), f"s3://{bucket}/ds/{p.relative_to(root).as_posix()}")
    ds = resolve_dataset(f"s3://{bucket}/ds/data.yaml", cache_dir=tmp_path / "cache")
    assert ds.root.is_relative_to(tmp_path / "cache" / "datasets")
    assert len(list((ds.root / "images" / "train").glob("*.jpg"))) == 24
    assert lineage_ref(ds.root)["version"] == "v-synthetic0001"
    # a second resolve downloads nothing new (same size + ETag)
    marker = ds.root / "images" / "train" / "train_000.jpg"
    mtime = marker.stat().st_mtime_ns
    again = resolve_dataset(f"s3://{bucket}/ds/", cache_dir=tmp_path / "cache")
    assert again.root == ds.root and marker.stat().st_mtime_ns == mtime


def test_fine_tune_from_existing_weights(trained: dict[str, object], yolo_dataset: Path, tmp_path: Path) -> None:
    """``model=`` a .pt (the weights of an earlier run) fine-tunes instead of starting from scratch."""
    from gtlabel.model.train import train_yolo

    res = train_yolo(yolo_dataset, str(trained["weights"]), epochs=1, imgsz=64, batch=4, project=tmp_path,
                     name="ft", verbose=False, plots=False)
    assert res.weights.is_file() and res.epochs == 1
    record = json.loads(res.metrics_path.read_text())
    assert str(trained["weights"]) in json.dumps(record)  # the starting weights are recorded with the run
    assert all(0.0 <= v <= 1.0 for v in res.metrics.values() if isinstance(v, float))


def test_epoch_callback_and_ultralytics_output_in_a_log_file(trained: dict[str, object], yolo_dataset: Path,
                                                             tmp_path: Path, capfd: pytest.CaptureFixture[str]
                                                             ) -> None:
    """``on_epoch`` reports each epoch; inside ``ultralytics_log`` Ultralytics prints nothing to the console
    (its logger and its bars go to the file), and afterwards its logger writes where it wrote before."""
    import logging

    from gtlabel.model.console import ultralytics_log
    from gtlabel.model.train import train_yolo

    seen: list[tuple[int, int]] = []
    log = tmp_path / "run" / "ultralytics.log"
    before = [h.stream for h in logging.getLogger("ultralytics").handlers if type(h) is logging.StreamHandler]
    capfd.readouterr()
    with ultralytics_log(log):
        train_yolo(yolo_dataset, str(trained["weights"]), epochs=2, imgsz=64, batch=4, project=tmp_path,
                   name="quiet", verbose=True, plots=False, on_epoch=lambda d, t: seen.append((d, t)))
    out, err = capfd.readouterr()
    assert seen == [(1, 2), (2, 2)]
    assert "Epoch" not in out + err and "Ultralytics" not in out + err, (out + err)[-2000:]
    assert "Ultralytics" in log.read_text() and "Epoch" in log.read_text()
    after = [h.stream for h in logging.getLogger("ultralytics").handlers if type(h) is logging.StreamHandler]
    assert after == before

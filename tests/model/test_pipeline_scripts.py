"""The SageMaker Pipeline's step scripts, run here as the containers would run them: the training step on a
tiny dataset (hyperparameters as SageMaker's strings, outputs in the model dir), then the evaluation step on
the packed model.tar.gz, whose evaluation.json must answer the condition step's JsonGet path."""

from __future__ import annotations

import importlib.util
import json
import tarfile
from pathlib import Path

import pytest

# found, not imported: every xdist worker collects this module, and importing ultralytics (torch) costs ~2 CPU-s
if importlib.util.find_spec("ultralytics") is None:
    pytest.skip("could not import 'ultralytics': the train extra", allow_module_level=True)

pytestmark = pytest.mark.train


def _json_get(doc: dict, path: str) -> object:  # type: ignore[type-arg]
    """The pipeline's JsonGet (a dotted JSONPath) on evaluation.json."""
    node: object = doc
    for part in path.split("."):
        assert isinstance(node, dict) and part in node, f"{path}: no {part!r}"
        node = node[part]
    return node


def test_train_then_evaluate_step_scripts(yolo_dataset: Path, tmp_path: Path) -> None:
    from gtlabel.pipeline_scripts import evaluate as eval_step
    from gtlabel.pipeline_scripts import train as train_step

    hp = tmp_path / "hyperparameters.json"
    hp.write_text(json.dumps({"model": "yolo11n.yaml", "epochs": "1", "imgsz": "64", "batch": "4",
                              "seed": "0", "workers": "0"}))
    model_dir = tmp_path / "opt/ml/model"
    rc = train_step.main(["--hyperparameters", str(hp), "--dataset", str(yolo_dataset.parent),
                          "--model-dir", str(model_dir), "--work-dir", str(tmp_path / "work"),
                          "--failure-file", str(tmp_path / "failure"), "--device", "cpu"])
    assert rc == 0 and not (tmp_path / "failure").exists()
    assert (model_dir / "best.pt").stat().st_size > 100_000
    record = json.loads((model_dir / "metrics.json").read_text())
    assert set(record["metrics"]) >= {"precision", "recall", "mAP50", "mAP50-95"}

    # SageMaker packs the model dir into model.tar.gz for the next step
    artifact = tmp_path / "processing/model"
    artifact.mkdir(parents=True)
    with tarfile.open(artifact / "model.tar.gz", "w:gz") as tf:
        for f in model_dir.iterdir():
            tf.add(f, arcname=f.name)
    out = tmp_path / "processing/evaluation"
    rc = eval_step.main(["--model", str(artifact), "--dataset", str(yolo_dataset.parent), "--output", str(out),
                         "--imgsz", "64", "--device", "cpu"])
    assert rc == 0
    report = json.loads((out / "evaluation.json").read_text())
    value = _json_get(report, "metrics.map50_95.value")  # the CheckMap condition's path in the definition
    assert isinstance(value, float) and 0.0 <= value <= 1.0
    assert (out / "confusion_matrix.png").exists() and (out / "metrics.json").exists()


def test_evaluate_step_refuses_an_unsafe_model_archive(tmp_path: Path) -> None:
    from gtlabel.errors import InputError
    from gtlabel.pipeline_scripts.evaluate import unpack_model

    evil = tmp_path / "model"
    evil.mkdir()
    payload = tmp_path / "x.txt"
    payload.write_text("x")
    with tarfile.open(evil / "model.tar.gz", "w:gz") as tf:
        tf.add(payload, arcname="../../escaped.txt")
    with pytest.raises((InputError, tarfile.TarError)):
        unpack_model(evil, tmp_path / "work")
    assert not (tmp_path.parent / "escaped.txt").exists()

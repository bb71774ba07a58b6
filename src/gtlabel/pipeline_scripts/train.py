"""Training step: YOLO11 with gtlabel's offline settings, inside a SageMaker training container.

Reads the hyperparameters SageMaker writes to ``/opt/ml/input/config/hyperparameters.json`` (all strings),
the dataset channel ``/opt/ml/input/data/dataset`` (``SM_CHANNEL_DATASET``), and leaves ``best.pt``,
``metrics.json`` and ``args.yaml`` in ``/opt/ml/model`` (``SM_MODEL_DIR``), which SageMaker packs into
``model.tar.gz``. Metrics are printed as ``gtlabel-metric <name>=<value>`` for the step's metric definitions.
On failure the reason goes to ``/opt/ml/output/failure`` (SageMaker shows it as the FailureReason).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import traceback
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from gtlabel.model.train import train_yolo

ML = Path(os.environ.get("SM_ML_ROOT", "/opt/ml"))


def read_hyperparameters(path: Path) -> dict[str, str]:
    if not path.is_file():
        return {}
    data = json.loads(path.read_text())
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object")
    return {str(k): str(v) for k, v in data.items()}


def settings(hp: Mapping[str, str]) -> dict[str, Any]:
    """Typed training settings from SageMaker's string hyperparameters."""
    return {
        "model": hp.get("model", "yolo11n.yaml"),
        "epochs": int(hp.get("epochs", "50")),
        "imgsz": int(hp.get("imgsz", "640")),
        "batch": int(hp.get("batch", "16")),
        "seed": int(hp.get("seed", "0")),
        "patience": int(hp.get("patience", "100")),
        "workers": int(hp.get("workers", "2")),
    }


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="gtlabel.pipeline_scripts.train", description=__doc__)
    ap.add_argument("--hyperparameters", default=str(ML / "input/config/hyperparameters.json"))
    ap.add_argument("--dataset", default=os.environ.get("SM_CHANNEL_DATASET", str(ML / "input/data/dataset")))
    ap.add_argument("--model-dir", default=os.environ.get("SM_MODEL_DIR", str(ML / "model")))
    ap.add_argument("--work-dir", default=os.environ.get("SM_OUTPUT_DATA_DIR", str(ML / "output/data")))
    ap.add_argument("--failure-file", default=str(ML / "output/failure"))
    ap.add_argument("--device", default=None, help="default: GPU 0 when CUDA is available, else cpu")
    return ap.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        hp = read_hyperparameters(Path(args.hyperparameters))
        cfg = settings(hp)
        device = args.device
        if device is None:
            import torch

            device = "0" if torch.cuda.is_available() else "cpu"
        model_dir = Path(args.model_dir)
        res = train_yolo(args.dataset, cfg.pop("model"), device=device, project=args.work_dir, name="run",
                         exist_ok=True, **cfg)
        model_dir.mkdir(parents=True, exist_ok=True)
        shutil.copy2(res.weights, model_dir / "best.pt")
        shutil.copy2(res.metrics_path, model_dir / "metrics.json")
        if (res.run_dir / "args.yaml").exists():
            shutil.copy2(res.run_dir / "args.yaml", model_dir / "args.yaml")
        for name, value in res.metrics.items():
            print(f"gtlabel-metric {name}={value}")
        return 0
    except Exception as exc:  # the container's last word: SageMaker shows this file as FailureReason
        msg = f"{type(exc).__name__}: {exc}"
        try:
            Path(args.failure_file).parent.mkdir(parents=True, exist_ok=True)
            Path(args.failure_file).write_text(msg[:1000])
        except OSError:
            pass
        traceback.print_exc()
        print(f"gtlabel train failed: {msg}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())

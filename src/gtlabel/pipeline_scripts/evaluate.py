"""Evaluation step: unpack ``model.tar.gz``, evaluate on the test split, write ``evaluation.json``.

``evaluation.json`` (the pipeline's PropertyFile ``EvaluationReport``; also the registered model's
statistics) holds ``metrics.<name>.value`` for ``map50_95``, ``map50``, ``precision`` and ``recall`` (names
without '-' so JsonPath reads them), plus per-class rows, the split used and the dataset version. The
confusion matrix PNG and the full ``metrics.json`` are kept beside it.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tarfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from gtlabel.errors import GtlabelError, InputError, NotFound
from gtlabel.model.evaluate import evaluate

KEYS = {"map50_95": "mAP50-95", "map50": "mAP50", "precision": "precision", "recall": "recall"}


def unpack_model(model_dir: Path, work: Path) -> Path:
    """``best.pt`` from ``model_dir`` (as is, or inside ``model.tar.gz``, unpacked safely into ``work``)."""
    direct = sorted(model_dir.rglob("best.pt"))
    if direct:
        return direct[0]
    tars = sorted(model_dir.rglob("*.tar.gz"))
    if not tars:
        raise NotFound("no best.pt and no model.tar.gz", str(model_dir))
    work.mkdir(parents=True, exist_ok=True)
    with tarfile.open(tars[0]) as tf:
        if hasattr(tarfile, "data_filter"):  # Python >= 3.11.4: the safe extraction filter
            tf.extractall(work, filter="data")
        else:  # older 3.11: refuse what the filter would refuse (escaping paths, links, devices)
            for m in tf.getmembers():
                target = (work / m.name).resolve()
                if not (m.isfile() or m.isdir()) or not target.is_relative_to(work.resolve()):
                    raise InputError(f"unsafe member {m.name!r} in model.tar.gz", file=str(tars[0]))
            tf.extractall(work)  # members checked above
    found = sorted(work.rglob("best.pt"))
    if not found:
        raise InputError("model.tar.gz has no best.pt", file=str(tars[0]))
    return found[0]


def evaluation_report(record: Mapping[str, Any]) -> dict[str, Any]:
    """The pipeline's evaluation.json from an evaluate() metrics record (pure)."""
    metrics = record["metrics"]
    return {
        "metrics": {key: {"value": float(metrics[src])} for key, src in KEYS.items()},
        "split": record.get("split"),
        "per_class": record.get("per_class", {}),
        "dataset_version": (record.get("dataset") or {}).get("version"),
    }


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="gtlabel.pipeline_scripts.evaluate", description=__doc__)
    ap.add_argument("--model", default="/opt/ml/processing/model")
    ap.add_argument("--dataset", default="/opt/ml/processing/dataset")
    ap.add_argument("--output", default="/opt/ml/processing/evaluation")
    ap.add_argument("--split", default="test")
    ap.add_argument("--imgsz", default="640")
    ap.add_argument("--device", default=None)
    return ap.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)

    out = Path(args.output)
    try:
        weights = unpack_model(Path(args.model), out.parent / ".gtlabel-model")
        device = args.device
        if device is None:
            import torch

            device = "0" if torch.cuda.is_available() else "cpu"
        res = evaluate(weights, args.dataset, split=args.split, imgsz=int(args.imgsz), device=device,
                       project=str(out.parent / ".gtlabel-eval"), name="eval", exist_ok=True)
        out.mkdir(parents=True, exist_ok=True)
        report = evaluation_report(res.record)
        tmp = out / ".evaluation.json.tmp"
        tmp.write_text(json.dumps(report, indent=2, sort_keys=True, allow_nan=False))
        tmp.replace(out / "evaluation.json")
        shutil.copy2(res.metrics_path, out / "metrics.json")
        shutil.copy2(res.confusion_matrix_png, out / "confusion_matrix.png")
    except (GtlabelError, ValueError) as exc:
        print(f"gtlabel evaluate failed: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(report["metrics"], allow_nan=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

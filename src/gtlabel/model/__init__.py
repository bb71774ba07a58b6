"""YOLO11 training, evaluation, pre-annotation and active learning (the ``train`` extra).

Importing this package is cheap: Ultralytics and torch load only when a function runs, and a missing extra
raises :class:`gtlabel.errors.MissingExtra` naming ``train``. Everything runs offline
(:mod:`gtlabel.model.offline`).

- :func:`train_yolo` -> :class:`TrainResult` (``metrics.json`` beside the run, with the dataset version)
- :func:`evaluate` -> :class:`EvalResult` (per-class metrics, confusion matrix PNG, ``metrics.json``)
- :func:`preannotate` -> an input manifest with model boxes in Ground Truth format (adjustment jobs)
- :func:`rank` -> an input manifest of the ``top_k`` most uncertain images (active learning)
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gtlabel.model.active import RankSummary, rank
    from gtlabel.model.evaluate import EvalResult, evaluate
    from gtlabel.model.preannotate import PreannotateSummary, preannotate
    from gtlabel.model.train import TrainResult, train_yolo

__all__ = ["EvalResult", "PreannotateSummary", "RankSummary", "TrainResult", "evaluate", "preannotate", "rank",
           "train_yolo"]

_WHERE = {
    "train_yolo": "train", "TrainResult": "train",
    "evaluate": "evaluate", "EvalResult": "evaluate",
    "preannotate": "preannotate", "PreannotateSummary": "preannotate",
    "rank": "active", "RankSummary": "active",
}


def __getattr__(name: str) -> Any:
    mod = _WHERE.get(name)
    if mod is None:
        raise AttributeError(f"module 'gtlabel.model' has no attribute {name!r}")
    return getattr(importlib.import_module(f"gtlabel.model.{mod}"), name)

"""YOLO11 training, evaluation, pre-annotation and active learning (the ``train`` extra).

Importing this package is cheap: Ultralytics and torch load only when a function runs, and a missing extra
raises :class:`gtlabel.errors.MissingExtra` naming ``train``. Everything runs offline
(:mod:`gtlabel.model.offline`).

- :func:`train_yolo` -> :class:`TrainResult` (``metrics.json`` beside the run, with the dataset version)
- :func:`evaluate` -> :class:`EvalResult` (per-class metrics, confusion matrix PNG, ``metrics.json``)
- :func:`preannotate` -> an input manifest with model boxes in Ground Truth format (adjustment jobs)
- :func:`rank` -> an input manifest of the ``top_k`` most uncertain images (active learning)
- :class:`SliceOptions` / :func:`predict_frame` -> sliced inference on full frames (SAHI's semantics); the
  ``slice=`` argument of :func:`preannotate`, :func:`rank` and :func:`evaluate`
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gtlabel._lazy import lazy_exports

if TYPE_CHECKING:
    from gtlabel.model.active import RankSummary, rank
    from gtlabel.model.evaluate import EvalResult, evaluate
    from gtlabel.model.preannotate import PreannotateSummary, preannotate
    from gtlabel.model.sliced import SliceOptions, predict_frame
    from gtlabel.model.train import TrainResult, train_yolo

__all__ = ["EvalResult", "PreannotateSummary", "RankSummary", "SliceOptions", "TrainResult", "evaluate",
           "preannotate", "predict_frame", "rank", "train_yolo"]

__getattr__ = lazy_exports(__name__, {
    "train_yolo": "gtlabel.model.train", "TrainResult": "gtlabel.model.train",
    "evaluate": "gtlabel.model.evaluate", "EvalResult": "gtlabel.model.evaluate",
    "preannotate": "gtlabel.model.preannotate", "PreannotateSummary": "gtlabel.model.preannotate",
    "rank": "gtlabel.model.active", "RankSummary": "gtlabel.model.active",
    "SliceOptions": "gtlabel.model.sliced", "predict_frame": "gtlabel.model.sliced",
})


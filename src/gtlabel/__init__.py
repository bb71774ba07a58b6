"""gtlabel: raw drone images in S3 -> Ground Truth bounding-box labeling jobs -> YOLO11 datasets.

The public API is small and pinned (``__all__``; ``tests/test_public_api.py`` keeps it stable). Names are
imported on first use, so ``import gtlabel`` stays light and heavy extras (ultralytics, the SageMaker SDK,
playwright) load only when a function that needs them is called.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gtlabel._lazy import lazy_exports

__version__ = "0.1.0"

_EXPORTS: dict[str, str] = {
    # the seed's facade
    "create_labeling_job_config": "gtlabel.ground_truth_utils",
    "convert_ground_truth_to_yolo": "gtlabel.ground_truth_utils",
    "TileSpec": "gtlabel.tiling",
    # job requests, validation, cost
    "JobSpec": "gtlabel.jobs.spec",
    "validate_create_labeling_job": "gtlabel.jobs.validate",
    "estimate": "gtlabel.cost",
    "cost_so_far": "gtlabel.cost",
    # manifests
    "build_input_manifest": "gtlabel.manifests",
    "iter_output_manifest": "gtlabel.manifests",
    # monitoring
    "watch_labeling_job": "gtlabel.monitor",
    # quality
    "consolidate_bounding_boxes": "gtlabel.quality.consolidate",
    "write_report": "gtlabel.quality.report",
    # local service
    "LocalService": "gtlabel.local",
    # training (extra: train)
    "train_yolo": "gtlabel.model.train",
    "evaluate": "gtlabel.model.evaluate",
    # demo
    "run_demo": "gtlabel.demo",
}

__all__ = [
    "JobSpec",
    "LocalService",
    "TileSpec",
    "__version__",
    "build_input_manifest",
    "consolidate_bounding_boxes",
    "convert_ground_truth_to_yolo",
    "cost_so_far",
    "create_labeling_job_config",
    "estimate",
    "evaluate",
    "iter_output_manifest",
    "run_demo",
    "train_yolo",
    "validate_create_labeling_job",
    "watch_labeling_job",
    "write_report",
]

if TYPE_CHECKING:
    from gtlabel.cost import cost_so_far, estimate
    from gtlabel.demo import run_demo
    from gtlabel.ground_truth_utils import convert_ground_truth_to_yolo, create_labeling_job_config
    from gtlabel.jobs.spec import JobSpec
    from gtlabel.jobs.validate import validate_create_labeling_job
    from gtlabel.local import LocalService
    from gtlabel.manifests import build_input_manifest, iter_output_manifest
    from gtlabel.model.evaluate import evaluate
    from gtlabel.model.train import train_yolo
    from gtlabel.monitor import watch_labeling_job
    from gtlabel.quality.consolidate import consolidate_bounding_boxes
    from gtlabel.quality.report import write_report
    from gtlabel.tiling import TileSpec


__getattr__ = lazy_exports(__name__, _EXPORTS)


def __dir__() -> list[str]:
    return sorted(__all__)

"""Labeling job requests: spec -> CreateLabelingJob request, offline validation, template, names.

- :mod:`~gtlabel.jobs.spec`: :class:`JobSpec` (pydantic) for BoundingBox / AdjustmentBoundingBox /
  VerificationBoundingBox jobs.
- :mod:`~gtlabel.jobs.build`: :func:`build_request` (pure) and :func:`prepare_job` (resolve, estimate and
  budget guard, validate, check the name, write the label config and worker template next to the job).
- :mod:`~gtlabel.jobs.validate`: :func:`validate_params` for any SageMaker operation,
  :func:`validate_create_labeling_job` (+ Ground Truth rules), :func:`validate_or_raise`.
- :mod:`~gtlabel.jobs.template`: :func:`render_worker_template`.
- :mod:`~gtlabel.jobs.names`, :mod:`~gtlabel.jobs.workforce`: names and workteams.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gtlabel._lazy import lazy_exports

if TYPE_CHECKING:
    from gtlabel.jobs.build import BuiltJob, build_request, label_category_config, prepare_job
    from gtlabel.jobs.names import create_labeling_job, default_job_name
    from gtlabel.jobs.spec import JobSpec, load_spec
    from gtlabel.jobs.template import render_worker_template
    from gtlabel.jobs.validate import validate_create_labeling_job, validate_or_raise, validate_params

# names load on first use (as in the top-level package)
__getattr__ = lazy_exports(__name__, {
    "BuiltJob": "gtlabel.jobs.build", "build_request": "gtlabel.jobs.build",
    "label_category_config": "gtlabel.jobs.build", "prepare_job": "gtlabel.jobs.build",
    "create_labeling_job": "gtlabel.jobs.names", "default_job_name": "gtlabel.jobs.names",
    "JobSpec": "gtlabel.jobs.spec", "load_spec": "gtlabel.jobs.spec",
    "render_worker_template": "gtlabel.jobs.template",
    "validate_create_labeling_job": "gtlabel.jobs.validate", "validate_or_raise": "gtlabel.jobs.validate",
    "validate_params": "gtlabel.jobs.validate",
})


__all__ = [
    "BuiltJob",
    "JobSpec",
    "build_request",
    "create_labeling_job",
    "default_job_name",
    "label_category_config",
    "load_spec",
    "prepare_job",
    "render_worker_template",
    "validate_create_labeling_job",
    "validate_or_raise",
    "validate_params",
]

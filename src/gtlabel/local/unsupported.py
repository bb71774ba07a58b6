"""What the local service does not run, refused at ``CreateLabelingJob`` with ``ValidationException``.

A request the local service cannot carry out is refused when it is made, with a message that says what is not
emulated and what to do; it is never accepted and then failed or quietly run as something else:

- streaming labeling jobs (``InputConfig.DataSource.SnsDataSource``): the service runs batch jobs over an input
  manifest (``S3DataSource.ManifestS3Uri``); it takes no objects while a job runs;
- SNS output notifications (``OutputConfig.SnsTopicArn``): there is no SNS to publish to;
- automated data labeling (``LabelingJobAlgorithmsConfig``): no model is trained, so no object would be labeled by
  machine (``MachineLabeled`` 0, no ``FinalActiveLearningModelArn``);
- AWS's built-in Lambdas of other task types (``PRE-``/``ACS-ImageMultiClass``...): :func:`lambda_problem`.

The README's table "What the local service emulates" lists the same; tests/local/test_unsupported.py pins it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gtlabel import facts
from gtlabel.aws import Arn
from gtlabel.errors import ConfigError, Problem

__all__ = ["LOCAL_BUILTINS", "lambda_problem", "request_problems"]

#: the built-in Lambdas (task types) the local service runs itself
LOCAL_BUILTINS = ("BoundingBox", "AdjustmentBoundingBox", "VerificationBoundingBox", "PassThrough")


def _dig(doc: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(doc, Mapping):
            return None
        doc = doc.get(key)
    return doc


def request_problems(params: Mapping[str, Any]) -> list[Problem]:
    """The parts of a ``CreateLabelingJob`` request the local service does not run (empty: it runs all of it)."""
    out: list[Problem] = []
    if _dig(params, "InputConfig", "DataSource", "SnsDataSource") is not None:
        out.append(Problem("InputConfig.DataSource.SnsDataSource",
                           "the local service does not run streaming labeling jobs (SnsDataSource): it runs batch "
                           "jobs over an input manifest; give InputConfig.DataSource.S3DataSource.ManifestS3Uri "
                           "only, or run the streaming job on AWS"))
    if _dig(params, "OutputConfig", "SnsTopicArn") is not None:
        out.append(Problem("OutputConfig.SnsTopicArn",
                           "the local service publishes no SNS notifications (the output topic of streaming "
                           "jobs); remove OutputConfig.SnsTopicArn and read the output manifest instead"))
    if params.get("LabelingJobAlgorithmsConfig") is not None:
        out.append(Problem("LabelingJobAlgorithmsConfig",
                           "the local service does not run automated data labeling: it trains no model, so every "
                           "object is labeled by people (MachineLabeled stays 0, there is no "
                           "FinalActiveLearningModelArn); remove LabelingJobAlgorithmsConfig to label locally"))
    return out


def lambda_problem(path: str, arn: str) -> Problem | None:
    """A problem when ``arn`` is one of AWS's built-in Ground Truth Lambdas of a task type the local service does
    not run (it names the ones it runs); ``None`` for the ones it runs and for Lambdas that are not built in."""
    parts = Arn.parse(arn)
    name = parts.function_name if parts is not None else arn
    if name is None or not name.startswith(("PRE-", "ACS-")):
        return None
    task_type = name[4:]
    if task_type in LOCAL_BUILTINS:
        return None
    known = task_type in facts.regions().other_builtin_task_types
    try:
        owned = parts is not None and parts.account == facts.lambda_account(parts.region)
    except ConfigError:  # a region without a Ground Truth account: not a built-in Lambda
        owned = False
    if not (known or owned):
        return None
    return Problem(path, f"{arn} is Ground Truth's built-in {task_type} Lambda, which the local service does not "
                         f"run. It runs the built-in {', '.join(LOCAL_BUILTINS)} Lambdas, and any Lambda mapped to a "
                         f"Python callable (gtlabel serve --lambda ARN=module:function)")

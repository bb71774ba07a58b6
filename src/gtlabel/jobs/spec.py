"""The typed, user-facing spec of a bounding-box labeling job (and its adjustment / verification variants).

A :class:`JobSpec` is what a user writes (YAML, a notebook cell, CLI options); :mod:`gtlabel.jobs.build` turns
it into the ``CreateLabelingJob`` request. Field-level checks live here (pydantic); rules that need the whole
request (Lambda ARNs, regions, price list) live in :mod:`gtlabel.jobs.validate`.
"""

from __future__ import annotations

import os
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from gtlabel import storage
from gtlabel.errors import ConfigError, InputError
from gtlabel.facts import TaskType, allowed_task_prices, limits
from gtlabel.jobs.template import Example, check_example_uri

__all__ = [
    "ContentClassifier",
    "ExampleImage",
    "JobSpec",
    "PrivateWorkforce",
    "PublicWorkforce",
    "StoppingConditions",
    "VendorWorkforce",
    "WorkforceSpec",
    "load_spec",
    "load_spec_data",
]

ContentClassifier = Literal["FreeOfPersonallyIdentifiableInformation", "FreeOfAdultContent"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ExampleImage(_Model):
    """An example image shown in the full instructions."""

    uri: str = Field(description="s3://bucket/key, an http(s) URL, or a data:image/... URI")
    caption: str = ""
    kind: Literal["good", "bad"] = "good"

    @field_validator("uri")
    @classmethod
    def _uri(cls, v: str) -> str:
        try:
            return check_example_uri(v)
        except ConfigError as exc:
            raise ValueError(str(exc)) from None

    def to_example(self) -> Example:
        return Example(self.uri, self.caption, self.kind)


class PrivateWorkforce(_Model):
    """Your own workers: a named private workteam (name or ARN), or the only one in the region."""

    type: Literal["private"] = "private"
    workteam: str | None = None


class PublicWorkforce(_Model):
    """Amazon Mechanical Turk. The price must be an allowed ``PublicWorkforceTaskPrice`` value."""

    type: Literal["public"] = "public"
    price_usd: Decimal = Field(description="USD per task, e.g. 0.036; each object makes one task per worker")
    free_of_adult_content: bool = False

    @model_validator(mode="before")
    @classmethod
    def _price_given(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("price_usd") is None:
            shown = ", ".join(str(p) for p in allowed_task_prices())
            raise ValueError(f"a public (Mechanical Turk) workforce needs price_usd (USD per task); allowed for "
                             f"bounding boxes: {shown}")
        return data


class VendorWorkforce(_Model):
    """A vendor workteam subscribed in AWS Marketplace (``workteam/vendor-crowd/...``)."""

    type: Literal["vendor"] = "vendor"
    workteam_arn: str
    price_usd: Decimal | None = Field(default=None, description="the vendor's price per task, for estimates only")


WorkforceSpec = Annotated[PrivateWorkforce | PublicWorkforce | VendorWorkforce, Field(discriminator="type")]


class StoppingConditions(_Model):
    max_human_labeled_objects: int | None = Field(default=None, ge=1)
    max_percentage_labeled: int | None = Field(default=None, ge=1, le=100)


class JobSpec(_Model):
    """A bounding-box labeling job. Only ``input_manifest``, ``output_path`` and ``labels`` are required;
    ``role_arn``/``region`` fall back to ``GTLABEL_ROLE_ARN``/``GTLABEL_REGION`` (then boto3's region)."""

    name: str | None = Field(default=None, description="job name; default <name_prefix>-<UTC timestamp>")
    name_prefix: str = "gtlabel-bbox"
    task_type: TaskType = "BoundingBox"
    input_manifest: str = Field(description="s3:// URI of the input manifest")
    output_path: str = Field(description="s3:// prefix for the job's output")
    role_arn: str | None = None
    region: str | None = None
    labels: list[str] = Field(min_length=1)
    header: str = "Draw a tight box around each object"
    short_instructions: str | None = None
    full_instructions: str | None = None
    examples: list[ExampleImage] = Field(default_factory=list)
    workforce: WorkforceSpec = Field(default_factory=PrivateWorkforce)
    # the bounds of these four are Ground Truth's limits (gtlabel.facts.limits), checked by _within_limits
    workers_per_object: int = 1
    task_time_limit_s: int = 600
    task_availability_lifetime_s: int | None = None
    max_concurrent_tasks: int | None = None
    stopping: StoppingConditions | None = None
    label_attribute_name: str | None = Field(
        default=None, description="default 'bounding-box'; adjustment/verification: '<prior>-adjusted'/'-verified'")
    prior_label_attribute_name: str | None = Field(
        default=None, description="adjustment/verification: the label attribute of the job whose boxes are reviewed")
    content_classifiers: list[ContentClassifier] = Field(default_factory=list)
    tags: dict[str, str] = Field(default_factory=dict)
    kms_key_id: str | None = Field(default=None, description="OutputConfig.KmsKeyId (and the ADL volume key)")
    automated_labeling: bool = Field(default=False, description="turn on automated data labeling (ADL)")
    task_title: str | None = None
    task_description: str | None = None
    task_keywords: list[str] = Field(default_factory=lambda: ["image", "bounding box", "drone"])
    max_budget_usd: Decimal | None = Field(default=None, gt=0)
    free_tier: bool = False
    objects: int | None = Field(default=None, ge=0, description="object count for the estimate; else counted")

    @field_validator("labels")
    @classmethod
    def _labels(cls, v: list[str]) -> list[str]:
        stripped = [x.strip() for x in v]
        if any(not x for x in stripped):
            raise ValueError("labels must not be empty")
        dups = sorted({x for x in stripped if stripped.count(x) > 1})
        if dups:
            raise ValueError(f"labels must be unique; repeated: {', '.join(dups)}")
        lim = limits()
        long = [x[:40] + "..." for x in stripped if len(x) > lim.max_label_length]
        if long:
            raise ValueError(f"labels may have at most {lim.max_label_length} characters: {', '.join(long)}")
        if len(stripped) > lim.labels_max:
            raise ValueError(f"{len(stripped)} labels: a bounding-box job allows at most {lim.labels_max}")
        return stripped

    @field_validator("workers_per_object", "task_time_limit_s", "task_availability_lifetime_s",
                     "max_concurrent_tasks")
    @classmethod
    def _within_limits(cls, v: int | None, info: ValidationInfo) -> int | None:
        if v is None:
            return v
        lim = limits()
        low, high = {"workers_per_object": (lim.workers_min, lim.workers_max),
                     "task_time_limit_s": (lim.task_time_min, lim.task_time_max),
                     "task_availability_lifetime_s": (lim.availability_min, None),  # max: by workforce, in validate
                     "max_concurrent_tasks": (lim.max_concurrent_min, lim.max_concurrent_max)}[str(info.field_name)]
        if v < low:
            raise ValueError(f"must be at least {low} (Ground Truth's limit)")
        if high is not None and v > high:
            raise ValueError(f"must be at most {high} (Ground Truth's limit)")
        return v

    @field_validator("input_manifest", "output_path")
    @classmethod
    def _s3(cls, v: str) -> str:
        if not v.startswith("s3://") or len(v) <= 5:
            raise ValueError(f"expected an s3:// URI, got {v!r}")
        return v

    @model_validator(mode="after")
    def _variant(self) -> JobSpec:
        if self.task_type != "BoundingBox" and not self.prior_label_attribute_name:
            raise ValueError(f"a {self.task_type} job needs prior_label_attribute_name (the attribute holding the "
                             f"boxes to review)")
        if (self.prior_label_attribute_name and self.label_attribute_name
                and self.prior_label_attribute_name.lower() == self.label_attribute_name.lower()):
            raise ValueError("label_attribute_name must differ from prior_label_attribute_name")
        return self

    # ------------------------------------------------------------------------------------- resolved values
    @property
    def resolved_label_attribute_name(self) -> str:
        if self.label_attribute_name:
            return self.label_attribute_name
        if self.task_type == "AdjustmentBoundingBox":
            return f"{self.prior_label_attribute_name}-adjusted"
        if self.task_type == "VerificationBoundingBox":
            return f"{self.prior_label_attribute_name}-verified"
        return "bounding-box"

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, source: str = "<spec>") -> JobSpec:
        """A spec from a mapping; pydantic errors become one :class:`~gtlabel.errors.InputError` naming fields."""
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            lines = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or '<spec>'}: {e['msg']}" for e in exc.errors())
            field = ".".join(str(p) for p in exc.errors()[0]["loc"]) if exc.errors() else None
            raise InputError(f"invalid job spec: {lines}", file=source, field=field) from None


def load_spec(path: str | os.PathLike[str]) -> JobSpec:
    """A :class:`JobSpec` from a YAML or JSON file (local or s3://)."""
    src = str(path)
    return JobSpec.from_dict(load_spec_data(path), source=src if src.startswith("s3://") else Path(src).name)


def load_spec_data(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The raw mapping of a YAML/JSON spec file (not yet validated; the CLI merges options into it)."""
    text = storage.read_text(str(path))
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise InputError(f"not valid YAML: {exc}", file=str(path),
                         line=(mark.line + 1) if mark is not None else None) from None
    if not isinstance(data, dict):
        raise InputError("a job spec must be a mapping of fields", file=str(path))
    return data

"""Ground Truth facts (Lambda accounts, public workforce, prices, limits) loaded from ``gtlabel/data/*.json``.

Facts are data: each file carries its ``source`` and ``retrieved`` date, and UNCONFIRMED values say so.
A folder named by ``GTLABEL_FACTS_DIR`` may hold replacement files with the same names (a price change is a
one-line diff there, no code change). Every accessor here is pure once the files are loaded (cached).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from gtlabel.errors import ConfigError

TaskType = Literal["BoundingBox", "AdjustmentBoundingBox", "VerificationBoundingBox"]
TASK_TYPES: tuple[TaskType, ...] = ("BoundingBox", "AdjustmentBoundingBox", "VerificationBoundingBox")

REGIONS_FILE = "ground-truth-regions.json"
PRICES_FILE = "ground-truth-prices.json"
LIMITS_FILE = "ground-truth-limits.json"

__all__ = [
    "LIMITS_FILE",
    "PRICES_FILE",
    "REGIONS_FILE",
    "TASK_TYPES",
    "Limits",
    "PriceTier",
    "TaskType",
    "acs_lambda_arn",
    "adl_algorithm_arn",
    "allowed_task_prices",
    "clear_cache",
    "free_tier_objects",
    "lambda_account",
    "limits",
    "load",
    "pre_lambda_arn",
    "price_tiers",
    "public_workforce_account",
    "public_workteam_arn",
    "supported_regions",
    "task_functions",
]


@lru_cache(maxsize=16)
def _load(name: str, facts_dir: str | None) -> dict[str, Any]:
    text: str
    origin: str
    if facts_dir and (Path(facts_dir) / name).is_file():
        path = Path(facts_dir) / name
        text, origin = path.read_text(encoding="utf-8"), str(path)
    else:
        res = resources.files("gtlabel").joinpath("data", name)
        text, origin = res.read_text(encoding="utf-8"), f"gtlabel/data/{name}"
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{origin}: not valid JSON ({exc})") from exc
    if not isinstance(data, dict) or "source" not in data or not ({"retrieved", "date"} & data.keys()):
        raise ConfigError(f"{origin}: a facts file must be a JSON object with 'source' and 'retrieved' (or 'date')")
    return data


def load(name: str) -> dict[str, Any]:
    """One facts file as a dict (``GTLABEL_FACTS_DIR`` first, then the packaged copy)."""
    from gtlabel.settings import get_jobs_settings  # pydantic loads on first use, not on import

    return _load(name, get_jobs_settings().facts_dir)


def clear_cache() -> None:
    """Forget loaded files (tests that change ``GTLABEL_FACTS_DIR`` call this)."""
    _load.cache_clear()


# ------------------------------------------------------------------------------------------------ regions
def supported_regions() -> list[str]:
    """The regions whose PRE-/ACS- Lambda accounts are known (the 12 the API model lists)."""
    return sorted(load(REGIONS_FILE)["lambda_accounts"])


def lambda_account(region: str) -> str:
    """The AWS account that owns the built-in PRE-/ACS- Lambdas in ``region``."""
    accounts: dict[str, str] = load(REGIONS_FILE)["lambda_accounts"]
    try:
        return accounts[region]
    except KeyError:
        raise ConfigError(
            f"region {region!r} has no known Ground Truth Lambda account; supported regions: "
            f"{', '.join(sorted(accounts))}"
        ) from None


def task_functions(task_type: str) -> tuple[str, str]:
    """``(pre_function_name, acs_function_name)`` of a built-in task type."""
    funcs: dict[str, dict[str, str]] = load(REGIONS_FILE)["task_functions"]
    try:
        f = funcs[task_type]
    except KeyError:
        raise ConfigError(f"unknown task type {task_type!r}; expected one of {', '.join(funcs)}") from None
    return f["pre"], f["acs"]


def _lambda_arn(region: str, name: str) -> str:
    tpl: str = load(REGIONS_FILE)["lambda_arn_template"]
    return tpl.format(region=region, account=lambda_account(region), name=name)


def pre_lambda_arn(region: str, task_type: str) -> str:
    """The built-in pre-annotation Lambda ARN, e.g. ``arn:aws:lambda:us-east-1:432418664414:function:PRE-BoundingBox``."""
    return _lambda_arn(region, task_functions(task_type)[0])


def acs_lambda_arn(region: str, task_type: str) -> str:
    """The built-in annotation-consolidation Lambda ARN for ``task_type`` in ``region``."""
    return _lambda_arn(region, task_functions(task_type)[1])


def public_workforce_account() -> str:
    return str(load(REGIONS_FILE)["public_workforce"]["account"])


def public_workteam_arn(region: str) -> str:
    """The Mechanical Turk (public) workteam ARN in ``region``."""
    lambda_account(region)  # raises ConfigError for an unknown region
    tpl: str = load(REGIONS_FILE)["public_workforce"]["arn_template"]
    return tpl.format(region=region)


def adl_algorithm_arn(region: str) -> str:
    """The automated-data-labeling algorithm ARN for object detection in ``region``."""
    tpl: str = load(REGIONS_FILE)["automated_labeling"]["algorithm_arn_template"]
    return tpl.format(region=region)


# ------------------------------------------------------------------------------------------------ prices
@dataclass(frozen=True)
class PriceTier:
    """Objects up to ``up_to_objects`` (cumulative per month; ``None`` = no upper bound) cost ``price_usd`` each."""

    up_to_objects: int | None
    price_usd: Decimal


def price_tiers() -> list[PriceTier]:
    """The Ground Truth per-object tiers (UNCONFIRMED beyond the first; see the data file)."""
    raw = load(PRICES_FILE)["per_object_tiers"]["tiers"]
    return [PriceTier(t["up_to_objects"], Decimal(str(t["price_usd"]))) for t in raw]


def free_tier_objects() -> int:
    """Objects per month the free tier covers (first two months; Ground Truth fee only)."""
    return int(load(PRICES_FILE)["free_tier"]["objects_per_month"])


def allowed_task_prices(task_type: str = "BoundingBox") -> list[Decimal]:
    """Allowed ``PublicWorkforceTaskPrice`` values (USD per task) for ``task_type``."""
    table: dict[str, Any] = load(PRICES_FILE)["public_task_prices_usd"]
    values = table.get(task_type, table["image_text_custom"])
    return [Decimal(v) for v in values]


# ------------------------------------------------------------------------------------------------ limits
@dataclass(frozen=True)
class Limits:
    min_labels: int
    labels_safe_max: int
    labels_max: int
    max_label_length: int
    workers_min: int
    workers_max: int
    task_time_min: int
    task_time_max: int
    availability_min: int
    availability_max_private: int
    availability_max_public: int
    max_concurrent_min: int
    max_concurrent_max: int
    objects_per_job: int
    reserved_label_attribute_names: tuple[str, ...]


def limits() -> Limits:
    """The numeric limits of a bounding-box job (from ``ground-truth-limits.json``)."""
    d = load(LIMITS_FILE)
    return Limits(
        min_labels=int(d["labels"]["min"]),
        labels_safe_max=int(d["labels"]["bounding_box_safe_max"]),
        labels_max=int(d["labels"]["bounding_box_max"]),
        max_label_length=int(d["labels"]["max_label_length"]),
        workers_min=int(d["workers_per_object"]["min"]),
        workers_max=int(d["workers_per_object"]["max"]),
        task_time_min=int(d["task_time_limit_seconds"]["min"]),
        task_time_max=int(d["task_time_limit_seconds"]["max"]),
        availability_min=int(d["task_availability_lifetime_seconds"]["min"]),
        availability_max_private=int(d["task_availability_lifetime_seconds"]["max_private"]),
        availability_max_public=int(d["task_availability_lifetime_seconds"]["max_public"]),
        max_concurrent_min=int(d["max_concurrent_task_count"]["min"]),
        max_concurrent_max=int(d["max_concurrent_task_count"]["max"]),
        objects_per_job=int(d["objects_per_job"]),
        reserved_label_attribute_names=tuple(d["reserved_label_attribute_names"]),
    )

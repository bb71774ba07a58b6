"""Ground Truth facts (Lambda accounts, public workforce, prices, limits): the one typed accessor of
``gtlabel/data/*.json``.

Facts are data: each file carries its ``source`` and ``retrieved`` date, and UNCONFIRMED values say so. The
folder named by the ``facts_dir`` setting (``GTLABEL_FACTS_DIR``) may hold replacement files with the same
names (a price change is a one-line diff there, no code change).

Three typed views, one per file: :func:`regions` (:class:`Regions`), :func:`prices` (:class:`Prices`) and
:func:`limits` (:class:`Limits`); the helpers below them (:func:`lambda_account`, :func:`price_tiers`, ...)
answer the usual questions. Nothing is read at import: every call looks at the current settings (so a changed
``GTLABEL_FACTS_DIR`` is seen at once, by the settings' refresh rule) and reads a file again when its path,
size or modification time changed. A file that is missing, not JSON, without ``source``/``retrieved``, or
missing a key or holding a value of the wrong type is a :class:`~gtlabel.errors.ConfigError` naming the file
and the dotted key; nothing falls back to a number written in code.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from importlib import resources
from pathlib import Path
from typing import Any, Literal, TypeVar

from gtlabel.errors import ConfigError
from gtlabel.settings import get_settings

TaskType = Literal["BoundingBox", "AdjustmentBoundingBox", "VerificationBoundingBox"]
TASK_TYPES: tuple[TaskType, ...] = ("BoundingBox", "AdjustmentBoundingBox", "VerificationBoundingBox")

REGIONS_FILE = "ground-truth-regions.json"
PRICES_FILE = "ground-truth-prices.json"
LIMITS_FILE = "ground-truth-limits.json"
FILES = (REGIONS_FILE, PRICES_FILE, LIMITS_FILE)

__all__ = [
    "FILES",
    "LIMITS_FILE",
    "PRICES_FILE",
    "REGIONS_FILE",
    "TASK_TYPES",
    "Limits",
    "PriceTier",
    "Prices",
    "Regions",
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
    "prices",
    "public_workforce_account",
    "public_workteam_arn",
    "regions",
    "supported_regions",
    "task_functions",
]

_T = TypeVar("_T")


# ------------------------------------------------------------------------------------------------ files
@dataclass(frozen=True)
class _Source:
    """Where a facts file comes from, and the stamp that says whether it changed."""

    name: str
    origin: str  # shown in errors: the override's path or gtlabel/data/<name>
    path: Path | None  # None: the packaged copy
    stamp: tuple[int, int]


def _source(name: str) -> _Source:
    folder = get_settings().facts_dir
    if folder is not None:
        path = Path(folder) / name
        try:
            st = path.stat()
        except FileNotFoundError:
            pass  # the folder may replace some files only
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read the facts file ({exc})") from None
        else:
            return _Source(name, str(path), path, (st.st_mtime_ns, st.st_size))
    return _Source(name, f"gtlabel/data/{name}", None, (0, 0))


_cache: dict[tuple[str, _Source], Any] = {}
_lock = threading.Lock()


def _cached(kind: str, src: _Source, build: Callable[[], _T]) -> _T:
    key = (kind, src)
    with _lock:
        if key in _cache:
            return _cache[key]  # type: ignore[no-any-return]
    value = build()
    with _lock:
        _cache[key] = value
    return value


def _read(src: _Source) -> dict[str, Any]:
    try:
        if src.path is not None:
            text = src.path.read_text(encoding="utf-8")
        else:
            text = resources.files("gtlabel").joinpath("data", src.name).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{src.origin}: cannot read the facts file ({exc})") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{src.origin}: not valid JSON ({exc})") from None
    if not isinstance(data, dict) or "source" not in data or not ({"retrieved", "date"} & data.keys()):
        raise ConfigError(f"{src.origin}: a facts file must be a JSON object with 'source' and 'retrieved' (or 'date')")
    return data


def load(name: str) -> dict[str, Any]:
    """One facts file as a dict (the ``facts_dir`` folder's copy first, then the packaged one); a copy, so a
    caller cannot change what others read. Prefer the typed views :func:`regions`, :func:`prices`, :func:`limits`."""
    src = _source(name)
    return json.loads(json.dumps(_cached("raw", src, lambda: _read(src))))  # type: ignore[no-any-return]


def clear_cache() -> None:
    """Forget every file read (a changed file is seen anyway; this is for a file rewritten within one clock tick)."""
    with _lock:
        _cache.clear()


class _Doc:
    """Typed reads from one facts file: every miss names the file and the dotted key."""

    def __init__(self, src: _Source) -> None:
        self.origin = src.origin
        self.data = _read(src)

    def get(self, key: str) -> Any:
        node: Any = self.data
        for part in key.split("."):
            if not isinstance(node, Mapping) or part not in node:
                raise ConfigError(f"{self.origin}: missing key {key!r}")
            node = node[part]
        return node

    def bad(self, key: str, expected: str, value: Any) -> ConfigError:
        return ConfigError(f"{self.origin}: key {key!r}: expected {expected}, got {value!r}")

    def get_int(self, key: str) -> int:
        v = self.get(key)
        if isinstance(v, bool) or not isinstance(v, int):
            raise self.bad(key, "an integer", v)
        return v

    def check_optional_int(self, key: str, v: Any) -> int | None:
        if v is not None and (isinstance(v, bool) or not isinstance(v, int)):
            raise self.bad(key, "an integer or null", v)
        return v

    def get_str(self, key: str) -> str:
        v = self.get(key)
        if not isinstance(v, str) or not v:
            raise self.bad(key, "a non-empty string", v)
        return v

    def get_bool(self, key: str) -> bool:
        v = self.get(key)
        if not isinstance(v, bool):
            raise self.bad(key, "true or false", v)
        return v

    def get_strings(self, key: str) -> tuple[str, ...]:
        v = self.get(key)
        if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
            raise self.bad(key, "a list of strings", v)
        return tuple(v)

    def get_mapping(self, key: str) -> Mapping[str, Any]:
        v = self.get(key)
        if not isinstance(v, Mapping) or not v:
            raise self.bad(key, "a non-empty object", v)
        return v

    def check_decimal(self, key: str, v: Any) -> Decimal:
        if isinstance(v, bool) or not isinstance(v, str | int | float):
            raise self.bad(key, "a price such as \"0.08\"", v)
        try:
            d = Decimal(str(v))
        except InvalidOperation:
            raise self.bad(key, "a price such as \"0.08\"", v) from None
        if not d.is_finite() or d < 0:
            raise self.bad(key, "a price such as \"0.08\"", v)
        return d

    def get_template(self, key: str, *fields: str) -> str:
        v = self.get_str(key)
        try:
            v.format(**{f: "x" for f in fields})
        except (KeyError, IndexError, ValueError):
            raise self.bad(key, f"a template with the fields {{{'}, {'.join(fields)}}}", v) from None
        return v


# ------------------------------------------------------------------------------------------------ regions
@dataclass(frozen=True)
class Regions:
    """``ground-truth-regions.json``: who owns the built-in Lambdas where, and the public workforce."""

    lambda_accounts: Mapping[str, str]
    lambda_arn_template: str
    task_functions: Mapping[str, tuple[str, str]]  # task type -> (PRE function, ACS function)
    other_builtin_task_types: tuple[str, ...]  # built-in task types beyond bounding boxes (their PRE-/ACS- Lambdas)
    public_workforce_account: str
    public_workteam_arn_template: str
    adl_algorithm_arn_template: str


def _parse_regions(d: _Doc) -> Regions:
    accounts = d.get_mapping("lambda_accounts")
    for region, account in accounts.items():
        if not isinstance(account, str) or not (len(account) == 12 and account.isdigit()):
            raise d.bad(f"lambda_accounts.{region}", "a 12-digit account id", account)
    funcs: dict[str, tuple[str, str]] = {}
    for task_type in d.get_mapping("task_functions"):
        base = f"task_functions.{task_type}"
        funcs[task_type] = (d.get_str(f"{base}.pre"), d.get_str(f"{base}.acs"))
    return Regions(
        lambda_accounts=dict(accounts),
        lambda_arn_template=d.get_template("lambda_arn_template", "region", "account", "name"),
        task_functions=funcs,
        other_builtin_task_types=d.get_strings("other_builtin_functions"),
        public_workforce_account=d.get_str("public_workforce.account"),
        public_workteam_arn_template=d.get_template("public_workforce.arn_template", "region"),
        adl_algorithm_arn_template=d.get_template("automated_labeling.algorithm_arn_template", "region"),
    )


def regions() -> Regions:
    """The region facts (``ground-truth-regions.json``), typed."""
    src = _source(REGIONS_FILE)
    return _cached("regions", src, lambda: _parse_regions(_Doc(src)))


def supported_regions() -> list[str]:
    """The regions whose PRE-/ACS- Lambda accounts are known (the 12 the API model lists)."""
    return sorted(regions().lambda_accounts)


def lambda_account(region: str) -> str:
    """The AWS account that owns the built-in PRE-/ACS- Lambdas in ``region``."""
    accounts = regions().lambda_accounts
    try:
        return accounts[region]
    except KeyError:
        raise ConfigError(
            f"region {region!r} has no known Ground Truth Lambda account; supported regions: "
            f"{', '.join(sorted(accounts))}"
        ) from None


def task_functions(task_type: str) -> tuple[str, str]:
    """``(pre_function_name, acs_function_name)`` of a built-in task type."""
    funcs = regions().task_functions
    try:
        return funcs[task_type]
    except KeyError:
        raise ConfigError(f"unknown task type {task_type!r}; expected one of {', '.join(funcs)}") from None


def _lambda_arn(region: str, name: str) -> str:
    return regions().lambda_arn_template.format(region=region, account=lambda_account(region), name=name)


def pre_lambda_arn(region: str, task_type: str) -> str:
    """The built-in pre-annotation Lambda ARN, e.g. ``arn:aws:lambda:us-east-1:432418664414:function:PRE-BoundingBox``."""
    return _lambda_arn(region, task_functions(task_type)[0])


def acs_lambda_arn(region: str, task_type: str) -> str:
    """The built-in annotation-consolidation Lambda ARN for ``task_type`` in ``region``."""
    return _lambda_arn(region, task_functions(task_type)[1])


def public_workforce_account() -> str:
    return regions().public_workforce_account


def public_workteam_arn(region: str) -> str:
    """The Mechanical Turk (public) workteam ARN in ``region``."""
    lambda_account(region)  # raises ConfigError for an unknown region
    return regions().public_workteam_arn_template.format(region=region)


def adl_algorithm_arn(region: str) -> str:
    """The automated-data-labeling algorithm ARN for object detection in ``region``."""
    return regions().adl_algorithm_arn_template.format(region=region)


# ------------------------------------------------------------------------------------------------ prices
@dataclass(frozen=True)
class PriceTier:
    """Objects up to ``up_to_objects`` (cumulative per month; ``None`` = no upper bound) cost ``price_usd`` each."""

    up_to_objects: int | None
    price_usd: Decimal


@dataclass(frozen=True)
class Prices:
    """``ground-truth-prices.json``: the per-object fee, the free tier and the Mechanical Turk task prices."""

    tiers: tuple[PriceTier, ...]
    tiers_unconfirmed: bool
    free_tier_objects_per_month: int
    free_tier_months: int
    task_prices: Mapping[str, tuple[Decimal, ...]]  # task type (or "image_text_custom") -> allowed USD per task


def _parse_prices(d: _Doc) -> Prices:
    raw_tiers = d.get("per_object_tiers.tiers")
    if not isinstance(raw_tiers, list) or not raw_tiers:
        raise d.bad("per_object_tiers.tiers", "a non-empty list of {up_to_objects, price_usd}", raw_tiers)
    tiers = []
    for i, t in enumerate(raw_tiers):
        key = f"per_object_tiers.tiers[{i}]"
        if not isinstance(t, Mapping) or "up_to_objects" not in t or "price_usd" not in t:
            raise d.bad(key, "{up_to_objects, price_usd}", t)
        tiers.append(PriceTier(d.check_optional_int(f"{key}.up_to_objects", t["up_to_objects"]),
                               d.check_decimal(f"{key}.price_usd", t["price_usd"])))
    table: dict[str, tuple[Decimal, ...]] = {}
    for task_type, values in d.get_mapping("public_task_prices_usd").items():
        if not isinstance(values, list):
            continue  # the notes beside the lists
        key = f"public_task_prices_usd.{task_type}"
        table[task_type] = tuple(d.check_decimal(f"{key}[{i}]", v) for i, v in enumerate(values))
    if "image_text_custom" not in table:
        raise ConfigError(f"{d.origin}: missing key 'public_task_prices_usd.image_text_custom'")
    return Prices(tiers=tuple(tiers), tiers_unconfirmed=d.get_bool("per_object_tiers.unconfirmed"),
                  free_tier_objects_per_month=d.get_int("free_tier.objects_per_month"),
                  free_tier_months=d.get_int("free_tier.months"), task_prices=table)


def prices() -> Prices:
    """The price facts (``ground-truth-prices.json``), typed."""
    src = _source(PRICES_FILE)
    return _cached("prices", src, lambda: _parse_prices(_Doc(src)))


def price_tiers() -> list[PriceTier]:
    """The Ground Truth per-object tiers (UNCONFIRMED beyond the first; see the data file)."""
    return list(prices().tiers)


def free_tier_objects() -> int:
    """Objects per month the free tier covers (first two months; Ground Truth fee only)."""
    return prices().free_tier_objects_per_month


def allowed_task_prices(task_type: str = "BoundingBox") -> list[Decimal]:
    """Allowed ``PublicWorkforceTaskPrice`` values (USD per task) for ``task_type``."""
    table = prices().task_prices
    return list(table.get(task_type, table["image_text_custom"]))


# ------------------------------------------------------------------------------------------------ limits
@dataclass(frozen=True)
class Limits:
    """``ground-truth-limits.json``: the numeric limits of a bounding-box job and its input."""

    min_labels: int
    labels_safe_max: int
    labels_max: int
    max_label_length: int
    workers_min: int
    workers_max: int
    workers_console_default: int
    task_time_min: int
    task_time_max: int
    availability_min: int
    availability_max_private: int
    availability_max_public: int
    availability_default_public: int
    max_concurrent_min: int
    max_concurrent_max: int
    max_concurrent_default: int
    objects_per_job: int
    job_lifetime_days: int
    image_suffixes: tuple[str, ...]
    image_max_bytes: int
    image_max_pixels: int
    manifest_max_line_chars: int
    manifest_max_attribute_chars: int
    reserved_label_attribute_names: tuple[str, ...]
    tags_max: int

    @property
    def job_lifetime_seconds(self) -> int:
        """A labeling job fails after this long ("Labeling jobs fail after 30 days")."""
        return self.job_lifetime_days * 24 * 3600


def _parse_limits(d: _Doc) -> Limits:
    avail = "task_availability_lifetime_seconds"
    return Limits(
        min_labels=d.get_int("labels.min"),
        labels_safe_max=d.get_int("labels.bounding_box_safe_max"),
        labels_max=d.get_int("labels.bounding_box_max"),
        max_label_length=d.get_int("labels.max_label_length"),
        workers_min=d.get_int("workers_per_object.min"),
        workers_max=d.get_int("workers_per_object.max"),
        workers_console_default=d.get_int("workers_per_object.console_default"),
        task_time_min=d.get_int("task_time_limit_seconds.min"),
        task_time_max=d.get_int("task_time_limit_seconds.max"),
        availability_min=d.get_int(f"{avail}.min"),
        availability_max_private=d.get_int(f"{avail}.max_private"),
        availability_max_public=d.get_int(f"{avail}.max_public"),
        availability_default_public=d.get_int(f"{avail}.default_public"),
        max_concurrent_min=d.get_int("max_concurrent_task_count.min"),
        max_concurrent_max=d.get_int("max_concurrent_task_count.max"),
        max_concurrent_default=d.get_int("max_concurrent_task_count.default"),
        objects_per_job=d.get_int("objects_per_job"),
        job_lifetime_days=d.get_int("job_lifetime_days"),
        image_suffixes=d.get_strings("images.suffixes"),
        image_max_bytes=d.get_int("images.max_bytes"),
        image_max_pixels=d.get_int("images.max_pixels"),
        manifest_max_line_chars=d.get_int("manifest.max_line_chars"),
        manifest_max_attribute_chars=d.get_int("manifest.max_attribute_chars"),
        reserved_label_attribute_names=d.get_strings("reserved_label_attribute_names"),
        tags_max=d.get_int("tags_max"),
    )


def limits() -> Limits:
    """The limit facts (``ground-truth-limits.json``), typed."""
    src = _source(LIMITS_FILE)
    return _cached("limits", src, lambda: _parse_limits(_Doc(src)))

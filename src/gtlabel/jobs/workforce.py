"""Who does the work: private teams, the public (Mechanical Turk) crowd, or a vendor.

- ``private``: a named workteam (name or ARN), or the only private workteam ``ListWorkteams`` finds; a clear
  error when there is none, or several (listing their names).
- ``public``: the Mechanical Turk workteam ARN of the region (data file); the price must be an allowed value
  and the PII content classifier is mandatory (the builder adds it).
- ``vendor``: a subscribed vendor workteam ARN, format-checked.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any, Literal

from botocore.exceptions import BotoCoreError, ClientError

from gtlabel import facts
from gtlabel.aws import Arn, paginate
from gtlabel.errors import ConfigError

if TYPE_CHECKING:
    from mypy_boto3_sagemaker import SageMakerClient
    from mypy_boto3_sagemaker.type_defs import PublicWorkforceTaskPriceTypeDef

__all__ = [
    "PII_CLASSIFIER",
    "ResolvedWorkforce",
    "WorkforceKind",
    "check_public_price",
    "list_private_workteams",
    "price_struct",
    "resolve_private",
    "resolve_public",
    "resolve_vendor",
]

WorkforceKind = Literal["private", "public", "vendor"]
PII_CLASSIFIER = "FreeOfPersonallyIdentifiableInformation"


@dataclass(frozen=True)
class ResolvedWorkforce:
    """A workteam ARN ready for ``HumanTaskConfig.WorkteamArn``, its kind, and the task price (public/vendor)."""

    kind: WorkforceKind
    workteam_arn: str
    task_price_usd: Decimal | None = None
    name: str | None = None


def list_private_workteams(sm_client: SageMakerClient, name_contains: str | None = None) -> list[dict[str, Any]]:
    """All private workteams (``ListWorkteams``, every page, bounded)."""
    kwargs: dict[str, Any] = {"SortBy": "Name"}
    if name_contains:
        kwargs["NameContains"] = name_contains
    return [dict(t) for t in paginate(sm_client, "list_workteams", "Workteams", page_size=100, max_pages=100,
                                      **kwargs)]


def _check_workteam_arn(arn: str, region: str | None, what: str) -> Arn:
    m = Arn.parse(arn)
    if (m is None or m.service != "sagemaker" or not m.region or not m.account or m.resource_type != "workteam"
            or not m.resource_id):
        raise ConfigError(f"{what} workteam ARN {arn!r} is malformed; expected "
                          f"arn:aws:sagemaker:<region>:<12-digit account>:workteam/<kind>/<name>")
    if region and m.region != region:
        raise ConfigError(f"{what} workteam {arn!r} is in {m.region}, but the job runs in {region}; a job can "
                          f"only use a workteam of its own region")
    return m


def resolve_private(sm_client: SageMakerClient | None, region: str, workteam: str | None = None) -> ResolvedWorkforce:
    """A private workteam: ``workteam`` as an ARN (format-checked, no call), as a name (looked up), or ``None``
    for the only private workteam in the account and region."""
    if workteam and workteam.startswith("arn:"):
        m = _check_workteam_arn(workteam, region, "private")
        return ResolvedWorkforce("private", workteam, name=m.resource_id.rsplit("/", 1)[-1])
    if sm_client is None:
        raise ConfigError("finding the private workteam needs a SageMaker client (or give the workteam ARN)")
    try:
        teams = list_private_workteams(sm_client, workteam)
    except (BotoCoreError, ClientError) as exc:  # no route, no credentials, not allowed: say what to pass instead
        raise ConfigError(f"could not look up the private workteam{f' {workteam!r}' if workteam else ''} in "
                          f"{region} (ListWorkteams: {exc}); pass the workteam ARN (workteam=arn:aws:sagemaker:"
                          f"{region}:<account>:workteam/private-crowd/<name>), which needs no lookup") from exc
    if workteam:
        for t in teams:
            if t.get("WorkteamName") == workteam:
                return ResolvedWorkforce("private", str(t["WorkteamArn"]), name=workteam)
        others = sorted(str(t.get("WorkteamName")) for t in list_private_workteams(sm_client))
        raise ConfigError(f"no private workteam named {workteam!r} in {region}; workteams there: "
                          f"{', '.join(others) if others else '(none)'}")
    if not teams:
        raise ConfigError(f"no private workteam exists in {region}. Create one (SageMaker console > Ground Truth > "
                          f"Labeling workforces, or `gtlabel serve` locally), or choose worker_type='public'")
    if len(teams) > 1:
        names = sorted(str(t.get("WorkteamName")) for t in teams)
        raise ConfigError(f"{len(teams)} private workteams exist in {region}: {', '.join(names)}. Name one "
                          f"(workteam=...)")
    t = teams[0]
    return ResolvedWorkforce("private", str(t["WorkteamArn"]), name=str(t.get("WorkteamName")))


def check_public_price(price_usd: Decimal | float | str | None, task_type: str = "BoundingBox", *,
                       param: str = "task price") -> Decimal:
    """The price as a Decimal if it is one of the allowed ``PublicWorkforceTaskPrice`` values, else ConfigError.
    ``param``: how the caller's user names the price (e.g. ``public_price_usd``), named in the messages."""
    allowed = facts.allowed_task_prices(task_type)
    shown = ", ".join(str(p) for p in allowed)
    if price_usd is None:
        raise ConfigError(f"a public (Mechanical Turk) workforce needs a task price in USD ({param}=...); "
                          f"allowed for {task_type}: {shown}")
    try:
        value = Decimal(str(price_usd))
    except InvalidOperation:
        raise ConfigError(f"{param} {price_usd!r} is not a number; allowed USD values: {shown}") from None
    if value not in allowed:
        raise ConfigError(f"{param} ${price_usd} is not allowed for {task_type}; allowed USD values: {shown}")
    return value


def price_struct(price_usd: Decimal) -> PublicWorkforceTaskPriceTypeDef:
    """``0.036`` -> ``{"AmountInUsd": {"Dollars": 0, "Cents": 3, "TenthFractionsOfACent": 6}}``."""
    tenths = int((price_usd * 1000).to_integral_value())
    if Decimal(tenths) != price_usd * 1000 or not 0 <= tenths <= 2999:
        raise ConfigError(f"price ${price_usd} cannot be written in tenths of a cent between $0 and $2.999")
    return {"AmountInUsd": {"Dollars": tenths // 1000, "Cents": tenths % 1000 // 10,
                            "TenthFractionsOfACent": tenths % 10}}


def resolve_public(region: str, price_usd: Decimal | float | str | None,
                   task_type: str = "BoundingBox") -> ResolvedWorkforce:
    """The Mechanical Turk workteam of ``region`` with a checked price."""
    value = check_public_price(price_usd, task_type)
    return ResolvedWorkforce("public", facts.public_workteam_arn(region), task_price_usd=value, name="public-crowd")


def resolve_vendor(region: str, workteam_arn: str, price_usd: Decimal | float | str | None = None) -> ResolvedWorkforce:
    """A vendor workteam (subscribed in AWS Marketplace); the price is the vendor's, given only for estimates."""
    m = _check_workteam_arn(workteam_arn, region, "vendor")
    if m.resource_id.startswith(("public-crowd", "private-crowd")):
        raise ConfigError(f"{workteam_arn!r} is not a vendor workteam (it is a {m.resource_id.split('/')[0]} team)")
    price = Decimal(str(price_usd)) if price_usd is not None else None
    return ResolvedWorkforce("vendor", workteam_arn, task_price_usd=price, name=m.resource_id.rsplit("/", 1)[-1])

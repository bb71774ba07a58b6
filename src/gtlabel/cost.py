"""Cost estimates, the budget guard, and the cost of a running job so far.

Model (reference ground-truth.md section 5; prices live in ``gtlabel/data/ground-truth-prices.json``)::

    cost = Ground Truth fee per labeled object (tiered by objects per month; UNCONFIRMED beyond $0.08)
         + objects x workers per object x task price          (public/Mechanical Turk and vendor workforces)
         - free tier: the first 500 objects a month for the first two months, Ground Truth fee only (optional)

A private workforce adds no per-object labeler fee. Everything here is pure: numbers in, a breakdown out.
:func:`budget_tags` records the budget on the job (as tags) and :func:`cost_so_far` reads it back from a
``DescribeLabelingJob`` response, so monitoring can enforce the budget later without any other state.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Any

from rich.table import Table

from gtlabel import facts
from gtlabel.aws import is_public_workteam
from gtlabel.errors import BudgetExceeded, ConfigError
from gtlabel.facts import PriceTier

if TYPE_CHECKING:
    from mypy_boto3_sagemaker.type_defs import TagTypeDef

__all__ = [
    "TAG_ESTIMATE",
    "TAG_FREE_TIER",
    "TAG_MAX_BUDGET",
    "TAG_OBJECTS",
    "TAG_TASK_PRICE",
    "TAG_WORKERS",
    "TAG_WORKFORCE",
    "CostEstimate",
    "CostLine",
    "CostSoFar",
    "PriceTier",
    "budget_tags",
    "check_budget",
    "cost_so_far",
    "estimate",
    "ground_truth_fee",
    "task_price_from_struct",
]

TAG_MAX_BUDGET = "gtlabel:max-budget-usd"
TAG_ESTIMATE = "gtlabel:estimate-usd"
TAG_WORKERS = "gtlabel:workers-per-object"
TAG_TASK_PRICE = "gtlabel:task-price-usd"
TAG_WORKFORCE = "gtlabel:workforce"
TAG_OBJECTS = "gtlabel:objects"
TAG_FREE_TIER = "gtlabel:free-tier"

_CENT = Decimal("0.01")
_WORKFORCES = ("private", "public", "vendor")


def _usd(x: Decimal) -> str:
    q = x.quantize(_CENT, rounding=ROUND_HALF_UP)
    return f"-${-q:,}" if q < 0 else f"${q:,}"


def _dec(x: Decimal | float | int | str, what: str) -> Decimal:
    try:
        d = Decimal(str(x))
    except Exception:
        raise ConfigError(f"{what} must be a number, got {x!r}") from None
    if not d.is_finite() or d < 0:
        raise ConfigError(f"{what} must be a finite number >= 0, got {x!r}")
    return d


@dataclass(frozen=True)
class CostLine:
    """One row of a breakdown: ``quantity`` x ``unit_usd`` = ``amount_usd`` (negative for deductions)."""

    item: str
    quantity: int
    unit_usd: Decimal
    amount_usd: Decimal
    note: str = ""


@dataclass(frozen=True)
class CostEstimate:
    """An estimate with its breakdown. ``str()`` gives text; :meth:`table` a rich table; :meth:`to_dict` JSON."""

    objects: int
    workers_per_object: int
    workforce: str
    task_price_usd: Decimal | None
    lines: tuple[CostLine, ...]
    ground_truth_usd: Decimal
    labeler_usd: Decimal
    free_tier_usd: Decimal
    total_usd: Decimal
    notes: tuple[str, ...] = ()
    max_budget_usd: Decimal | None = None

    @property
    def per_object_usd(self) -> Decimal:
        return self.total_usd / self.objects if self.objects else Decimal(0)

    @property
    def over_budget(self) -> bool:
        return self.max_budget_usd is not None and self.total_usd > self.max_budget_usd

    def with_budget(self, max_budget_usd: Decimal | float | str | None) -> CostEstimate:
        budget = None if max_budget_usd is None else _dec(max_budget_usd, "max_budget_usd")
        return replace(self, max_budget_usd=budget)

    def table(self) -> Table:
        t = Table(title=f"Cost estimate: {self.objects:,} objects, {self.workers_per_object} worker(s) per object, "
                        f"{self.workforce} workforce", show_footer=True)
        t.add_column("item", footer="total")
        t.add_column("quantity", justify="right")
        t.add_column("unit (USD)", justify="right")
        t.add_column("amount (USD)", justify="right", footer=_usd(self.total_usd))
        t.add_column("note")
        for line in self.lines:
            t.add_row(line.item, f"{line.quantity:,}", f"{line.unit_usd}", _usd(line.amount_usd), line.note)
        if self.max_budget_usd is not None:
            verdict = "[red]OVER BUDGET[/]" if self.over_budget else "[green]within budget[/]"
            t.caption = f"budget {_usd(self.max_budget_usd)}: {verdict}"
        return t

    def to_text(self) -> str:
        rows = [(ln.item, f"{ln.quantity:,}", str(ln.unit_usd), _usd(ln.amount_usd), ln.note) for ln in self.lines]
        head = ("item", "quantity", "unit (USD)", "amount (USD)", "note")
        widths = [max(len(r[i]) for r in [head, *rows]) for i in range(5)]

        def fmt(r: Sequence[str]) -> str:
            return "  ".join(c.rjust(w) if i in (1, 2, 3) else c.ljust(w) for i, (c, w) in
                             enumerate(zip(r, widths, strict=True))).rstrip()

        out = [f"Cost estimate: {self.objects:,} objects x {self.workers_per_object} worker(s), "
               f"{self.workforce} workforce", fmt(head), *(fmt(r) for r in rows),
               f"total: {_usd(self.total_usd)} ({_usd(self.per_object_usd)} per object)"]
        if self.max_budget_usd is not None:
            out.append(f"budget: {_usd(self.max_budget_usd)} -> "
                       f"{'OVER BUDGET' if self.over_budget else 'within budget'}")
        out += [f"note: {n}" for n in self.notes]
        return "\n".join(out)

    def __str__(self) -> str:
        return self.to_text()

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)

        def conv(x: Any) -> Any:
            if isinstance(x, Decimal):
                return float(x)
            if isinstance(x, list | tuple):
                return [conv(i) for i in x]
            if isinstance(x, dict):
                return {k: conv(v) for k, v in x.items()}
            return x

        return {str(k): conv(v) for k, v in d.items()}


def _tier_split(first: int, count: int, tiers: Sequence[PriceTier]) -> list[tuple[PriceTier, int]]:
    """How many of the objects numbered ``first .. first+count-1`` (this month) fall into each tier."""
    out = []
    pos, left = first, count
    for tier in tiers:
        if left == 0:
            break
        upper = tier.up_to_objects
        if upper is not None and pos >= upper:
            continue
        n = left if upper is None else min(left, upper - pos)
        out.append((tier, n))
        pos += n
        left -= n
    if left > 0:
        raise ConfigError("the price tiers must end with an open tier (up_to_objects = null)")
    return out


def ground_truth_fee(objects: int, tiers: Sequence[PriceTier] | None = None, objects_before: int = 0) -> Decimal:
    """The Ground Truth per-object fee of ``objects`` labeled after ``objects_before`` others this month."""
    return sum((t.price_usd * n for t, n in _tier_split(objects_before, objects, tiers or facts.price_tiers())),
               Decimal(0))


def _tier_name(tiers: Sequence[PriceTier], tier: PriceTier) -> str:
    i = list(tiers).index(tier)
    lo = 0 if i == 0 else (tiers[i - 1].up_to_objects or 0)
    hi = tier.up_to_objects
    return f"Ground Truth fee, objects {lo + 1:,}-{hi:,}/month" if hi else f"Ground Truth fee, objects > {lo:,}/month"


def estimate(
    objects: int,
    workers_per_object: int = 1,
    workforce: str = "private",
    task_price: Decimal | float | str | None = None,
    tiers: Sequence[PriceTier] | None = None,
    free_tier: bool = False,
    *,
    objects_before: int = 0,
    max_budget_usd: Decimal | float | str | None = None,
) -> CostEstimate:
    """Estimate a labeling job's cost with a breakdown.

    ``objects``: data objects (images) in the job. ``workforce``: ``private`` (no labeler fee), ``public``
    (Mechanical Turk: ``task_price`` per task, one task per worker per object) or ``vendor`` (``task_price`` if
    you know the vendor's price, else left out with a note). ``tiers``: per-object tiers (default: the data
    file, UNCONFIRMED beyond the first). ``free_tier``: deduct the free tier (500 objects a month, first two
    months, Ground Truth fee only). ``objects_before``: objects already labeled this month (tiers count per month).
    """
    if isinstance(objects, bool) or not isinstance(objects, int) or objects < 0:
        raise ConfigError(f"objects must be a whole number >= 0, got {objects!r}")
    lim = facts.limits()
    if isinstance(workers_per_object, bool) or not isinstance(workers_per_object, int) \
            or not lim.workers_min <= workers_per_object <= lim.workers_max:
        raise ConfigError(f"workers per object must be {lim.workers_min}..{lim.workers_max}, got {workers_per_object!r}")
    if workforce not in _WORKFORCES:
        raise ConfigError(f"workforce must be one of {', '.join(_WORKFORCES)}, got {workforce!r}")
    tiers = list(tiers or facts.price_tiers())
    price = None if task_price is None else _dec(task_price, "task price")
    notes: list[str] = []
    lines: list[CostLine] = []

    gt = Decimal(0)
    for tier, n in _tier_split(objects_before, objects, tiers):
        amount = tier.price_usd * n
        gt += amount
        lines.append(CostLine(_tier_name(tiers, tier), n, tier.price_usd, amount, "tier UNCONFIRMED, configurable"
                              if tier is not tiers[0] else "per labeled object"))
    if not lines:
        lines.append(CostLine("Ground Truth fee", 0, tiers[0].price_usd, Decimal(0)))

    labeler = Decimal(0)
    tasks = objects * workers_per_object
    if workforce == "public":
        if price is None:
            raise ConfigError("a public (Mechanical Turk) workforce needs a task price")
        labeler = price * tasks
        lines.append(CostLine("Mechanical Turk workers (tasks = objects x workers)", tasks, price, labeler))
    elif workforce == "vendor":
        if price is None:
            notes.append("vendor price unknown (set in AWS Marketplace): vendor fees are NOT included")
        else:
            labeler = price * tasks
            lines.append(CostLine("vendor workers (tasks = objects x workers)", tasks, price, labeler))
    else:
        lines.append(CostLine("private workforce", tasks, Decimal(0), Decimal(0), "your own workers: no fee"))
        if price:
            notes.append("a task price was given but a private workforce is not paid per task; ignored")

    free = Decimal(0)
    if free_tier:
        monthly = facts.free_tier_objects()
        covered = max(0, min(objects, monthly - objects_before))
        if covered:
            free = -ground_truth_fee(covered, tiers, objects_before)
            lines.append(CostLine(f"free tier ({monthly}/month, first 2 months)", covered,
                                  -(abs(free) / covered), free, "Ground Truth fee only"))
    if any(line.unit_usd != tiers[0].price_usd for line in lines if line.item.startswith("Ground Truth fee")):
        notes.append("Ground Truth per-object tiers beyond $0.08 are UNCONFIRMED (see gtlabel/data/"
                     "ground-truth-prices.json; override with GTLABEL_FACTS_DIR or tiers=)")
    total = gt + labeler + free
    est = CostEstimate(objects, workers_per_object, workforce, price, tuple(lines), gt, labeler, free, total,
                       tuple(notes))
    return est.with_budget(max_budget_usd) if max_budget_usd is not None else est


def check_budget(est: CostEstimate, max_budget_usd: Decimal | float | str | None = None) -> CostEstimate:
    """Raise :class:`~gtlabel.errors.BudgetExceeded` (carrying the estimate) when it is over the budget."""
    if max_budget_usd is not None:
        est = est.with_budget(max_budget_usd)
    if est.over_budget and est.max_budget_usd is not None:
        raise BudgetExceeded(
            f"estimated cost {_usd(est.total_usd)} is over the budget of {_usd(est.max_budget_usd)} "
            f"(refusing to create the job; lower the object count or workers per object, or raise the "
            f"budget)\n{est.to_text()}", estimate=est)
    return est


def _tag_number(x: Decimal) -> str:
    return format(x.normalize(), "f")


def budget_tags(est: CostEstimate, max_budget_usd: Decimal | float | str | None = None) -> list[TagTypeDef]:
    """Tags that record the budget and the pricing on the job, so monitoring can enforce it later
    (:func:`cost_so_far` reads them back)."""
    budget = est.max_budget_usd if max_budget_usd is None else _dec(max_budget_usd, "max_budget_usd")
    tags: list[TagTypeDef] = []
    if budget is not None:
        tags.append({"Key": TAG_MAX_BUDGET, "Value": _tag_number(budget)})
    tags += [
        {"Key": TAG_ESTIMATE, "Value": _tag_number(est.total_usd.quantize(_CENT, rounding=ROUND_HALF_UP))},
        {"Key": TAG_WORKERS, "Value": str(est.workers_per_object)},
        {"Key": TAG_TASK_PRICE, "Value": _tag_number(est.task_price_usd or Decimal(0))},
        {"Key": TAG_WORKFORCE, "Value": est.workforce},
        {"Key": TAG_OBJECTS, "Value": str(est.objects)},
        {"Key": TAG_FREE_TIER, "Value": "true" if est.free_tier_usd else "false"},
    ]
    return tags


def task_price_from_struct(price: Mapping[str, Any] | None) -> Decimal | None:
    """``{"AmountInUsd": {"Dollars", "Cents", "TenthFractionsOfACent"}}`` -> Decimal USD (``None`` if absent)."""
    usd = (price or {}).get("AmountInUsd")
    if not isinstance(usd, Mapping):
        return None
    return (Decimal(int(usd.get("Dollars", 0))) + Decimal(int(usd.get("Cents", 0))) / 100
            + Decimal(int(usd.get("TenthFractionsOfACent", 0))) / 1000)


@dataclass(frozen=True)
class CostSoFar:
    """The cost of a job so far, from its own ``DescribeLabelingJob`` response (see :func:`cost_so_far`)."""

    job_name: str
    status: str
    workforce: str
    workers_per_object: int
    task_price_usd: Decimal | None
    total_objects: int
    labeled: int
    human_labeled: int
    machine_labeled: int
    failed: int
    unlabeled: int
    ground_truth_usd: Decimal
    labeler_usd: Decimal
    free_tier_usd: Decimal
    total_usd: Decimal
    projected_total_usd: Decimal
    max_budget_usd: Decimal | None
    notes: tuple[str, ...] = field(default=())

    @property
    def budget_used(self) -> float | None:
        """Fraction of the budget spent so far (``None`` without a budget)."""
        if self.max_budget_usd is None:
            return None
        return float(self.total_usd / self.max_budget_usd) if self.max_budget_usd else float("inf")

    @property
    def over_budget(self) -> bool:
        return self.max_budget_usd is not None and self.total_usd > self.max_budget_usd

    # float views used by gtlabel.monitor (its CostPoint carries floats)
    @property
    def budget_usd(self) -> float | None:
        return float(self.max_budget_usd) if self.max_budget_usd is not None else None

    @property
    def gt_fee_usd(self) -> float:
        return float(self.ground_truth_usd + self.free_tier_usd)

    @property
    def workforce_fee_usd(self) -> float:
        return float(self.labeler_usd)

    @property
    def projected_over_budget(self) -> bool:
        return self.max_budget_usd is not None and self.projected_total_usd > self.max_budget_usd

    def __str__(self) -> str:
        b = f" of {_usd(self.max_budget_usd)} budget" if self.max_budget_usd is not None else ""
        return (f"{self.job_name} [{self.status}]: {self.labeled:,}/{self.total_objects:,} labeled, cost so far "
                f"{_usd(self.total_usd)}{b}, projected {_usd(self.projected_total_usd)}")


def cost_so_far(
    describe_response: Mapping[str, Any],
    *,
    tiers: Sequence[PriceTier] | None = None,
    free_tier: bool | None = None,
    objects_before: int = 0,
) -> CostSoFar:
    """Cost of a job so far, from a ``DescribeLabelingJob`` response alone. Pure.

    - Ground Truth fee: ``LabelCounters.TotalLabeled`` objects (human + machine labeled) at the tier prices.
    - Labeler fee: ``HumanLabeled`` x ``NumberOfHumanWorkersPerDataObject`` x the task price, for public
      (``HumanTaskConfig.PublicWorkforceTaskPrice``) and vendor (tag ``gtlabel:task-price-usd``) workforces.
      This is an upper bound: an object counts as labeled when one worker answered.
    - Failed and unlabeled objects cost nothing (assumed).
    - Budget: tag ``gtlabel:max-budget-usd``; free tier: tag ``gtlabel:free-tier`` unless ``free_tier`` given.
    - ``projected_total_usd``: the same model applied to every object in the job
      (``TotalLabeled + Unlabeled + FailedNonRetryableError``).
    """
    tags = {str(t.get("Key")): str(t.get("Value")) for t in describe_response.get("Tags") or []
            if isinstance(t, Mapping)}
    htc: Mapping[str, Any] = describe_response.get("HumanTaskConfig") or {}
    counters: Mapping[str, Any] = describe_response.get("LabelCounters") or {}
    labeled = int(counters.get("TotalLabeled", 0))
    human = int(counters.get("HumanLabeled", 0))
    machine = int(counters.get("MachineLabeled", 0))
    failed = int(counters.get("FailedNonRetryableError", 0))
    unlabeled = int(counters.get("Unlabeled", 0))
    total_objects = labeled + unlabeled + failed
    workers = int(htc.get("NumberOfHumanWorkersPerDataObject") or tags.get(TAG_WORKERS) or 1)
    arn = str(htc.get("WorkteamArn", ""))
    notes: list[str] = []
    if is_public_workteam(arn):
        workforce = "public"
    elif tags.get(TAG_WORKFORCE) in _WORKFORCES:
        workforce = tags[TAG_WORKFORCE]
    else:
        workforce = "private"
    price = task_price_from_struct(htc.get("PublicWorkforceTaskPrice"))
    if price is None and TAG_TASK_PRICE in tags:
        try:
            price = Decimal(tags[TAG_TASK_PRICE])
        except ArithmeticError:
            notes.append(f"tag {TAG_TASK_PRICE} is not a number: {tags[TAG_TASK_PRICE]!r}")
    if workforce == "private":
        price = None
    elif price is None:
        notes.append(f"{workforce} task price unknown: labeler fees not included")
    use_free = free_tier if free_tier is not None else tags.get(TAG_FREE_TIER) == "true"
    tiers = list(tiers or facts.price_tiers())

    def cost(objects: int, humans: int) -> tuple[Decimal, Decimal, Decimal]:
        gt = ground_truth_fee(objects, tiers, objects_before)
        lab = (price or Decimal(0)) * humans * workers
        free = Decimal(0)
        if use_free:
            covered = max(0, min(objects, facts.free_tier_objects() - objects_before))
            free = -ground_truth_fee(covered, tiers, objects_before)
        return gt, lab, free

    gt, lab, free = cost(labeled, human)
    # projected: remaining objects are assumed human-labeled
    pgt, plab, pfree = cost(total_objects, human + unlabeled)
    budget: Decimal | None = None
    if TAG_MAX_BUDGET in tags:
        try:
            budget = Decimal(tags[TAG_MAX_BUDGET])
        except ArithmeticError:
            notes.append(f"tag {TAG_MAX_BUDGET} is not a number: {tags[TAG_MAX_BUDGET]!r}")
    return CostSoFar(
        job_name=str(describe_response.get("LabelingJobName", "")),
        status=str(describe_response.get("LabelingJobStatus", "")),
        workforce=workforce, workers_per_object=workers, task_price_usd=price, total_objects=total_objects,
        labeled=labeled, human_labeled=human, machine_labeled=machine, failed=failed, unlabeled=unlabeled,
        ground_truth_usd=gt, labeler_usd=lab, free_tier_usd=free, total_usd=gt + lab + free,
        projected_total_usd=pgt + plab + pfree, max_budget_usd=budget, notes=tuple(notes),
    )

"""The seam to :mod:`gtlabel.cost`: the monitor does no price math of its own.

``CostFn`` maps a ``DescribeLabelingJob`` response to a :class:`CostPoint`. The default calls
``gtlabel.cost.cost_so_far``; tests and callers may pass their own.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from gtlabel.cost import TAG_MAX_BUDGET, cost_so_far
from gtlabel.monitor.model import CostPoint, Counters

CostFn = Callable[[Mapping[str, Any]], CostPoint]


def default_cost_fn(describe: Mapping[str, Any]) -> CostPoint:
    """Cost so far of a job from its counters and its own config and tags (``gtlabel.cost.cost_so_far``)."""
    c = cost_so_far(describe)
    return CostPoint(
        total_usd=float(c.total_usd),
        budget_usd=c.budget_usd,
        breakdown={"ground_truth_usd": float(c.ground_truth_usd), "labeler_usd": float(c.labeler_usd),
                   "free_tier_usd": float(c.free_tier_usd)},
    )


def budget_from_tags(describe: Mapping[str, Any]) -> float | None:
    """The budget recorded on the job (tag ``gtlabel:max-budget-usd``), if any and valid."""
    for tag in describe.get("Tags") or ():
        if tag.get("Key") == TAG_MAX_BUDGET:
            try:
                value = float(tag.get("Value", ""))
            except ValueError:
                return None
            return value if value > 0 else None
    return None


def with_counters(describe: Mapping[str, Any], counters: Counters) -> dict[str, Any]:
    """A copy of ``describe`` whose ``LabelCounters`` are replaced (used to price a projection)."""
    out = dict(describe)
    out["LabelCounters"] = counters.to_api()
    return out


def projected_counters(c: Counters) -> Counters:
    """Counters at completion if the unlabeled objects are labeled in the same human/machine mix as so far.

    Failed objects stay failed; with nothing labeled yet, the rest is assumed human-labeled.
    """
    rest = c.unlabeled
    labeled = c.human_labeled + c.machine_labeled
    machine_share = c.machine_labeled / labeled if labeled else 0.0
    add_machine = round(rest * machine_share)
    add_human = rest - add_machine
    return Counters(
        total_labeled=c.total_labeled + rest,
        human_labeled=c.human_labeled + add_human,
        machine_labeled=c.machine_labeled + add_machine,
        failed=c.failed,
        unlabeled=0,
    )

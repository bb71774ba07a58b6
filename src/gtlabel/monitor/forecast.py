"""Labeling rate, ETA and projected cost at completion. Pure functions over the timeline."""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any

from gtlabel.monitor.costs import CostFn, projected_counters, with_counters
from gtlabel.monitor.model import Forecast, Sample


def labeling_rate(timeline: Sequence[Sample], *, window_seconds: float = 900.0) -> float:
    """Objects finished (labeled or failed) per second over the last ``window_seconds`` of samples.

    Uses the first sample inside the window and the last sample; 0.0 with fewer than two samples or no time.
    """
    if len(timeline) < 2:
        return 0.0
    last = timeline[-1]
    # walk back from the end (O(samples in the window), not O(timeline)): the oldest sample in the window
    i = len(timeline) - 2
    while i > 0 and last.t - timeline[i - 1].t <= window_seconds:
        i -= 1
    first = timeline[i]
    dt = last.t - first.t
    if dt <= 0:
        return 0.0
    return max(0.0, (last.counters.done - first.counters.done) / dt)


def rates(timeline: Sequence[Sample]) -> list[tuple[float, float]]:
    """(t, objects per minute) between consecutive samples, for plotting."""
    out: list[tuple[float, float]] = []
    for a, b in itertools.pairwise(timeline):
        dt = b.t - a.t
        if dt > 0:
            out.append((b.t, max(0.0, (b.counters.done - a.counters.done) / dt * 60.0)))
    return out


def forecast(
    timeline: Sequence[Sample],
    describe: Mapping[str, Any] | None = None,
    cost_fn: CostFn | None = None,
    *,
    budget_usd: float | None = None,
    window_seconds: float = 900.0,
) -> Forecast | None:
    """ETA from the recent rate, and the projected cost: ``cost_fn`` applied to the projected counters."""
    if not timeline:
        return None
    c = timeline[-1].counters
    rate = labeling_rate(timeline, window_seconds=window_seconds)
    remaining = c.unlabeled
    eta = (remaining / rate if rate > 0 else None) if remaining else 0.0
    projected: float | None = None
    if describe is not None and cost_fn is not None:
        try:
            projected = cost_fn(with_counters(describe, projected_counters(c))).total_usd
        except Exception:  # a forecast must never break the watch; the cost so far is reported anyway
            projected = None
    return Forecast(rate_per_second=rate, remaining=remaining, eta_seconds=eta,
                    projected_cost_usd=projected, budget_usd=budget_usd)

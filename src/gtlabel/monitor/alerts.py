"""Budget thresholds that fire once each: a Python callback, a log line and an optional SNS message."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from gtlabel.monitor.model import Alert, Observation
from gtlabel.monitor.notify import Notifications
from gtlabel.monitor.options import DEFAULT_THRESHOLDS, check_thresholds
from gtlabel.monitor.summary import WatchRecord


class BudgetAlerter:
    """Fires each threshold at most once, in increasing order, however often it is polled past it.

    An observer of the watch: each sample with a cost goes through :meth:`update`; the alerts fired are
    delivered through :class:`~gtlabel.monitor.notify.Notifications` (log, SNS, ``on_alert``).
    """

    def __init__(
        self,
        job_name: str,
        thresholds: Iterable[float] = DEFAULT_THRESHOLDS,
        *,
        on_alert: Callable[[Alert], Any] | None = None,
        sns_client: Any = None,
        sns_topic_arn: str | None = None,
    ) -> None:
        self.job_name = job_name
        self.thresholds = check_thresholds(thresholds)
        self.notifications = Notifications(on_alert=on_alert, sns_client=sns_client, sns_topic_arn=sns_topic_arn)
        self.fired: list[Alert] = []
        self._done: set[float] = set()

    def observe(self, obs: Observation, record: WatchRecord) -> None:
        if obs.cost is not None:
            record.alerts += self.update(obs.cost.total_usd, obs.budget_usd, t=obs.t, at=obs.at)

    def update(self, cost_usd: float, budget_usd: float | None, *, t: float, at: datetime) -> list[Alert]:
        """Fire every threshold newly crossed by ``cost_usd``; returns the alerts fired now."""
        if budget_usd is None or budget_usd <= 0:
            return []
        new: list[Alert] = []
        for th in self.thresholds:
            if th in self._done or cost_usd < th * budget_usd:
                continue
            self._done.add(th)
            msg = (f"labeling job {self.job_name!r} has spent ${cost_usd:,.2f}, {cost_usd / budget_usd:.0%} of its "
                   f"${budget_usd:,.2f} budget (threshold {th:.0%})")
            alert = Alert(job_name=self.job_name, threshold=th, cost_usd=cost_usd, budget_usd=budget_usd,
                          t=t, at=at, message=msg)
            alert = self.notifications.alert(alert)
            self.fired.append(alert)
            new.append(alert)
        return new

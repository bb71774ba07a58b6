"""Budget thresholds that fire once each: a Python callback, a log line and an optional SNS message."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from gtlabel.errors import ConfigError
from gtlabel.monitor.clients import make_client
from gtlabel.monitor.model import Alert

log = logging.getLogger("gtlabel.monitor")

DEFAULT_THRESHOLDS: tuple[float, ...] = (0.5, 0.8, 1.0)


def check_thresholds(thresholds: Iterable[float]) -> tuple[float, ...]:
    """Sorted, de-duplicated thresholds; each a fraction of the budget > 0 (1.0 = the whole budget)."""
    out = sorted(set(float(t) for t in thresholds))
    bad = [t for t in out if not t > 0]
    if bad:
        raise ConfigError(f"budget thresholds are fractions of the budget and must be > 0 (e.g. 0.5, 0.8, 1.0); got {bad}")
    return tuple(out)


class BudgetAlerter:
    """Fires each threshold at most once, in increasing order, however often it is polled past it."""

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
        self.on_alert = on_alert
        self.sns_client = sns_client
        self.sns_topic_arn = sns_topic_arn
        self.fired: list[Alert] = []
        self._done: set[float] = set()

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
            alert = self._deliver(alert)
            self.fired.append(alert)
            new.append(alert)
        return new

    def _deliver(self, alert: Alert) -> Alert:
        log.warning("budget alert: %s", alert.message)
        message_id: str | None = None
        if self.sns_topic_arn:
            message_id = publish(self.sns_client, self.sns_topic_arn,
                                 subject=f"gtlabel: {alert.job_name} at {alert.threshold:.0%} of budget",
                                 payload={"type": "budget-alert", "job": alert.job_name,
                                          "threshold": alert.threshold, "cost_usd": round(alert.cost_usd, 4),
                                          "budget_usd": alert.budget_usd, "at": alert.at.isoformat(),
                                          "message": alert.message})
        if message_id is not None:
            alert = Alert(**{**alert.__dict__, "sns_message_id": message_id})
        if self.on_alert is not None:
            try:
                self.on_alert(alert)
            except Exception:  # a broken callback must not stop the watch (nor the auto-stop)
                log.exception("on_alert callback raised for %s", alert.message)
        return alert


def publish(sns_client: Any, topic_arn: str, *, subject: str, payload: dict[str, Any]) -> str | None:
    """Publish ``payload`` as JSON to an SNS topic; logs (does not raise) when SNS refuses."""
    if sns_client is None:
        sns_client = make_client("sns", retry_mode="standard")
    try:
        resp = sns_client.publish(TopicArn=topic_arn, Subject=subject[:100],
                                  Message=json.dumps(payload, sort_keys=True))
    except (ClientError, BotoCoreError) as exc:
        log.error("could not publish to SNS topic %s: %s", topic_arn, exc)
        return None
    return str(resp.get("MessageId")) if resp.get("MessageId") else None

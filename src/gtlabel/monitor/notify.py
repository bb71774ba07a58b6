"""Where a watch's events go: the ``gtlabel.monitor`` log, Python callbacks and an SNS topic.

:class:`Notifications` is one of the watch's option objects and also its delivery: the observers (budget
alerts, auto-stop, stall detection) hand their events to it, and it observes each sample itself
(``on_sample``, a log line when the status changes). A callback that raises is logged and never ends the
watch; SNS that refuses is logged too.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from botocore.exceptions import BotoCoreError, ClientError

from gtlabel.aws import Arn
from gtlabel.errors import ConfigError
from gtlabel.monitor.clients import make_client
from gtlabel.monitor.model import Alert, Observation, Sample, StallReport
from gtlabel.monitor.summary import WatchRecord

log = logging.getLogger("gtlabel.monitor")

T = TypeVar("T")


@dataclass(frozen=True)
class Notifications:
    """Callbacks and an SNS topic for the events of a watch (each optional; the log always hears them).

    - ``on_sample(sample)`` after every poll;
    - ``on_alert(alert)`` once per budget threshold crossed;
    - ``on_stall(report)`` once per stall;
    - ``on_stop(reason)`` when the auto-stop stopped the job (or was refused);
    - ``sns_topic_arn``: alerts, stalls and the auto-stop also go there as JSON messages (``"type"``:
      ``budget-alert``, ``stall``, ``auto-stop``), through ``sns_client`` (made when needed).
    """

    on_sample: Callable[[Sample], Any] | None = None
    on_alert: Callable[[Alert], Any] | None = None
    on_stall: Callable[[StallReport], Any] | None = None
    on_stop: Callable[[str], Any] | None = None
    sns_topic_arn: str | None = None
    sns_client: Any = None

    def __post_init__(self) -> None:
        for name in ("on_sample", "on_alert", "on_stall", "on_stop"):
            fn = getattr(self, name)
            if fn is not None and not callable(fn):
                raise ConfigError(f"{name} must be a function (or None); got {fn!r}")
        arn = Arn.parse(self.sns_topic_arn) if self.sns_topic_arn else None
        if self.sns_topic_arn and (arn is None or arn.service != "sns"):
            raise ConfigError(f"sns_topic_arn must be an SNS topic ARN (arn:aws:sns:REGION:ACCOUNT:NAME); "
                              f"got {self.sns_topic_arn!r}")

    def connected(self) -> Notifications:
        """These notifications with an SNS client, made now when a topic is given without one."""
        if self.sns_topic_arn and self.sns_client is None:
            return replace(self, sns_client=make_client("sns", retry_mode="standard"))
        return self

    # ------------------------------------------------------------------------------------- observer
    def observe(self, obs: Observation, record: WatchRecord) -> None:
        """Every sample: ``on_sample``, and a log line when the job's status changes."""
        call("on_sample", self.on_sample, obs.sample)
        if obs.previous is None or obs.previous.status != obs.status:
            log.info("labeling job %s is %s", record.job_name, obs.status)

    # ------------------------------------------------------------------------------------- delivery
    def alert(self, alert: Alert) -> Alert:
        """Log, publish and call back a budget alert; returns it with the SNS message id, if any."""
        log.warning("budget alert: %s", alert.message)
        message_id = self.publish(
            subject=f"gtlabel: {alert.job_name} at {alert.threshold:.0%} of budget",
            payload={"type": "budget-alert", "job": alert.job_name, "threshold": alert.threshold,
                     "cost_usd": round(alert.cost_usd, 4), "budget_usd": alert.budget_usd,
                     "at": alert.at.isoformat(), "message": alert.message})
        if message_id is not None:
            alert = replace(alert, sns_message_id=message_id)
        call("on_alert", self.on_alert, alert)
        return alert

    def stalled(self, report: StallReport) -> None:
        log.warning("%s", report)
        call("on_stall", self.on_stall, report)
        self.publish(subject=f"gtlabel: {report.job_name} stalled",
                     payload={"type": "stall", "job": report.job_name,
                              "stalled_for_seconds": report.stalled_for_seconds,
                              "causes": [str(c) for c in report.causes], "message": str(report)})

    def stop(self, job_name: str, *, stopped: bool, reason: str, cost_usd: float, budget_usd: float) -> None:
        """Whoever gets the budget alerts also hears that the job was (or could not be) stopped."""
        self.publish(subject=f"gtlabel: {job_name} auto-stop",
                     payload={"type": "auto-stop", "job": job_name, "stopped": stopped,
                              "cost_usd": round(cost_usd, 4), "budget_usd": budget_usd, "message": reason})
        call("on_stop", self.on_stop, reason)

    def publish(self, *, subject: str, payload: dict[str, Any]) -> str | None:
        """Publish to the topic, if one is given; the message id, or None."""
        if not self.sns_topic_arn:
            return None
        return publish(self.sns_client, self.sns_topic_arn, subject=subject, payload=payload)


def call(name: str, callback: Callable[[T], Any] | None, value: T) -> None:
    """``callback(value)``; a callback that raises is logged: a broken callback must not end the watch."""
    if callback is None:
        return
    try:
        callback(value)
    except Exception:
        log.exception("%s callback raised", name)


def publish(sns_client: Any, topic_arn: str, *, subject: str, payload: dict[str, Any]) -> str | None:
    """Publish ``payload`` as JSON to an SNS topic; logs (does not raise) when SNS refuses."""
    if sns_client is None:
        sns_client = make_client("sns", retry_mode="standard")
    try:
        resp = sns_client.publish(TopicArn=topic_arn, Subject=subject[:100],
                                  Message=json.dumps(payload, sort_keys=True, allow_nan=False))
    except (ClientError, BotoCoreError) as exc:
        log.error("could not publish to SNS topic %s: %s", topic_arn, exc)
        return None
    return str(resp.get("MessageId")) if resp.get("MessageId") else None

"""Event-driven mode: an EventBridge rule for "SageMaker Ground Truth Labeling Job State Change" -> SNS.

Pattern from reference/ground-truth.md 7.1 ([DG:sms-monitor-cloud-watch]). The event carries the status
only; call DescribeLabelingJob (or :func:`watch_labeling_job`) for counters.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from gtlabel.aws import TERMINAL, Arn, JobStatus
from gtlabel.errors import ConfigError, JobError
from gtlabel.monitor.clients import make_client

DETAIL_TYPE = "SageMaker Ground Truth Labeling Job State Change"
SOURCE = "aws.sagemaker"
#: the statuses EventBridge reports (the terminal ones), in JobStatus order
DOCUMENTED_STATUSES: tuple[str, ...] = tuple(str(s) for s in JobStatus if s in TERMINAL)
DEFAULT_RULE_NAME = "gtlabel-labeling-job-state-change"
TARGET_ID = "gtlabel-sns"
POLICY_SID = "gtlabel-allow-eventbridge-publish"


@dataclass(frozen=True)
class StateChangeRule:
    rule_name: str
    rule_arn: str
    topic_arn: str
    target_id: str
    event_pattern: dict[str, Any]
    event_bus_name: str


def state_change_event_pattern(statuses: Iterable[str] = DOCUMENTED_STATUSES, *,
                               job_arns: Sequence[str] | None = None) -> dict[str, Any]:
    """The EventBridge pattern; ``job_arns`` narrows it to some jobs (``resources`` of the event)."""
    sts = list(dict.fromkeys(statuses))
    unknown = [s for s in sts if s not in DOCUMENTED_STATUSES]
    if not sts or unknown:
        raise ConfigError(f"statuses must be a non-empty subset of {list(DOCUMENTED_STATUSES)} (the documented "
                          f"filter values); got {sts}")
    pattern: dict[str, Any] = {"source": [SOURCE], "detail-type": [DETAIL_TYPE], "detail": {"LabelingJobStatus": sts}}
    if job_arns:
        pattern["resources"] = list(job_arns)
    return pattern


def sample_event(job_arn: str, status: str = "Completed", *, time: str = "2018-10-06T12:26:13Z") -> dict[str, Any]:
    """A PutEvents entry shaped like Ground Truth's state-change event (for tests and dry runs)."""
    return {"Source": SOURCE, "DetailType": DETAIL_TYPE, "Resources": [job_arn],
            "Detail": json.dumps({"LabelingJobStatus": status}, allow_nan=False)}


def create_state_change_rule(
    topic_arn: str,
    *,
    rule_name: str = DEFAULT_RULE_NAME,
    statuses: Iterable[str] = DOCUMENTED_STATUSES,
    job_arns: Sequence[str] | None = None,
    event_bus_name: str = "default",
    events_client: Any = None,
    sns_client: Any = None,
    description: str | None = None,
) -> StateChangeRule:
    """Create (or update) the rule, target the SNS topic, and let EventBridge publish to the topic.

    Idempotent: the rule and target are put again, and the topic-policy statement (Sid
    ``gtlabel-allow-eventbridge-publish-<rule>``) is replaced, not duplicated.
    """
    if Arn.parse(topic_arn) is None or ":sns:" not in topic_arn:
        raise ConfigError(f"topic_arn must be an SNS topic ARN (arn:aws:sns:REGION:ACCOUNT:NAME); got {topic_arn!r}")
    pattern = state_change_event_pattern(statuses, job_arns=job_arns)
    if events_client is None or sns_client is None:
        events_client = events_client or make_client("events", retry_mode="standard")
        sns_client = sns_client or make_client("sns", retry_mode="standard")
    try:
        rule_arn = events_client.put_rule(
            Name=rule_name, EventPattern=json.dumps(pattern, allow_nan=False), State="ENABLED", EventBusName=event_bus_name,
            Description=description or f"gtlabel: Ground Truth labeling job state changes to SNS {topic_arn}",
        )["RuleArn"]
        resp = events_client.put_targets(Rule=rule_name, EventBusName=event_bus_name,
                                         Targets=[{"Id": TARGET_ID, "Arn": topic_arn}])
        if resp.get("FailedEntryCount"):
            raise JobError(f"EventBridge refused the SNS target {topic_arn}: {resp.get('FailedEntries')}")
        allow_eventbridge_publish(sns_client, topic_arn, rule_arn)
    except (ClientError, BotoCoreError) as exc:
        raise JobError(f"could not create the EventBridge rule {rule_name!r} -> {topic_arn}: {exc}") from exc
    return StateChangeRule(rule_name=rule_name, rule_arn=str(rule_arn), topic_arn=topic_arn, target_id=TARGET_ID,
                           event_pattern=pattern, event_bus_name=event_bus_name)


def topic_policy_statement(topic_arn: str, rule_arn: str) -> dict[str, Any]:
    rule = Arn.parse(rule_arn)
    return {
        "Sid": f"{POLICY_SID}-{rule.resource_name if rule else 'rule'}"[:100],
        "Effect": "Allow",
        "Principal": {"Service": "events.amazonaws.com"},
        "Action": "sns:Publish",
        "Resource": topic_arn,
        "Condition": {"ArnEquals": {"aws:SourceArn": rule_arn}},
    }


def allow_eventbridge_publish(sns_client: Any, topic_arn: str, rule_arn: str) -> dict[str, Any]:
    """Add (or replace) the statement letting ``events.amazonaws.com`` publish from this rule; returns the policy."""
    attrs = sns_client.get_topic_attributes(TopicArn=topic_arn).get("Attributes", {})
    policy: dict[str, Any]
    try:
        policy = json.loads(attrs["Policy"]) if attrs.get("Policy") else {}
    except ValueError:
        policy = {}
    policy.setdefault("Version", "2012-10-17")
    stmt = topic_policy_statement(topic_arn, rule_arn)
    statements = [s for s in policy.get("Statement", []) if s.get("Sid") != stmt["Sid"]]
    statements.append(stmt)
    policy["Statement"] = statements
    sns_client.set_topic_attributes(TopicArn=topic_arn, AttributeName="Policy", AttributeValue=json.dumps(policy, allow_nan=False))
    return policy

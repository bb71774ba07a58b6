"""SNS alerts and the EventBridge state-change rule against moto's server (real boto3 calls over HTTP)."""

from __future__ import annotations

import json
import uuid
from typing import Any

import boto3
import pytest
from monitor_helpers import REGION, FakeClock, counters, describe, per_object_cost, stubbed_sagemaker

from gtlabel.errors import ConfigError
from gtlabel.monitor import (
    create_state_change_rule,
    sample_event,
    state_change_event_pattern,
    watch_labeling_job,
)
from gtlabel.monitor.events import DETAIL_TYPE, POLICY_SID, TARGET_ID


def _client(service: str, endpoint: str) -> Any:
    return boto3.client(service, endpoint_url=endpoint, region_name=REGION)


def _topic_with_queue(moto_server: str) -> tuple[str, str, Any]:
    sns, sqs = _client("sns", moto_server), _client("sqs", moto_server)
    uid = uuid.uuid4().hex[:8]
    topic = sns.create_topic(Name=f"gtlabel-alerts-{uid}")["TopicArn"]
    q = sqs.create_queue(QueueName=f"gtlabel-alerts-{uid}")["QueueUrl"]
    qarn = sqs.get_queue_attributes(QueueUrl=q, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=qarn, Attributes={"RawMessageDelivery": "true"})
    return topic, q, sqs


def _drain(sqs: Any, q: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for _ in range(5):
        msgs = sqs.receive_message(QueueUrl=q, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])
        if not msgs:
            break
        out += [json.loads(m["Body"]) for m in msgs]
    return out


def test_budget_alerts_published_to_sns_once_each(moto_server: str) -> None:
    topic, q, sqs = _topic_with_queue(moto_server)
    sns = _client("sns", moto_server)
    client, stub = stubbed_sagemaker()
    for n in (2, 5, 5, 5, 9, 9, 13, 13, 13):
        stub.add_response("describe_labeling_job", describe("paid-job", "InProgress", counters(n, 20 - n)))
    stub.add_response("describe_labeling_job", describe("paid-job", "Completed", counters(20, 0)))
    clock = FakeClock()
    with stub:
        s = watch_labeling_job("paid-job", sm_client=client, sns_client=sns, sns_topic_arn=topic, budget_usd=1.0,
                               cost_fn=per_object_cost(0.10), progress=False, stall_after_seconds=0,
                               clock=clock, sleep=clock.sleep)
    msgs = _drain(sqs, q)
    assert sorted(m["threshold"] for m in msgs) == [0.5, 0.8, 1.0]
    assert all(m["type"] == "budget-alert" and m["job"] == "paid-job" and m["budget_usd"] == 1.0 for m in msgs)
    assert all(a.sns_message_id for a in s.alerts)


def test_auto_stop_is_published_to_sns_and_told_to_the_callback(moto_server: str) -> None:
    topic, q, sqs = _topic_with_queue(moto_server)
    client, stub = stubbed_sagemaker()
    stub.add_response("describe_labeling_job", describe("pricey", "InProgress", counters(11, 9)))  # $1.10 >= $1
    stub.add_response("stop_labeling_job", {}, {"LabelingJobName": "pricey"})
    stub.add_response("describe_labeling_job", describe("pricey", "Stopped", counters(12, 8)))
    told: list[str] = []
    clock = FakeClock()
    with stub:
        s = watch_labeling_job("pricey", sm_client=client, sns_client=_client("sns", moto_server),
                               sns_topic_arn=topic, budget_usd=1.0, auto_stop=True, on_stop=told.append,
                               cost_fn=per_object_cost(0.10), progress=False, stall_after_seconds=0,
                               clock=clock, sleep=clock.sleep)
    assert s.stopped_by_us and told == [s.stop_reason]
    stops = [m for m in _drain(sqs, q) if m["type"] == "auto-stop"]
    assert len(stops) == 1 and stops[0]["stopped"] is True and stops[0]["job"] == "pricey"
    assert "reached 100% of the $1.00 budget" in stops[0]["message"]


def test_stall_published_to_sns(moto_server: str) -> None:
    topic, q, sqs = _topic_with_queue(moto_server)
    client, stub = stubbed_sagemaker()
    for _ in range(3):
        stub.add_response("describe_labeling_job", describe("idle-job", "InProgress", counters(0, 4)))
    stub.add_response("describe_labeling_job", describe("idle-job", "Stopped", counters(0, 4)))
    clock = FakeClock()
    with stub:
        watch_labeling_job("idle-job", sm_client=client, sns_client=_client("sns", moto_server), sns_topic_arn=topic,
                           cost_fn=per_object_cost(), progress=False, stall_after_seconds=60, poll_seconds=30,
                           max_poll_seconds=30, diagnose=lambda d, s, n: [], clock=clock, sleep=clock.sleep)
    msgs = _drain(sqs, q)
    assert [m["type"] for m in msgs] == ["stall"] and msgs[0]["stalled_for_seconds"] == 60


def test_create_state_change_rule_on_moto(moto_server: str) -> None:
    events, sns = _client("events", moto_server), _client("sns", moto_server)
    uid = uuid.uuid4().hex[:8]
    bus = f"gtlabel-test-{uid}"  # a bus of its own: moto cannot deliver to SNS targets on put_events
    events.create_event_bus(Name=bus)
    topic = sns.create_topic(Name=f"gtlabel-state-{uid}")["TopicArn"]
    rule = create_state_change_rule(topic, rule_name=f"gt-state-{uid}", event_bus_name=bus,
                                    events_client=events, sns_client=sns)
    assert rule.rule_arn.endswith(f"rule/{bus}/gt-state-{uid}")
    described = events.describe_rule(Name=rule.rule_name, EventBusName=bus)
    assert json.loads(described["EventPattern"]) == {
        "source": ["aws.sagemaker"], "detail-type": [DETAIL_TYPE],
        "detail": {"LabelingJobStatus": ["Completed", "Failed", "Stopped"]}}
    assert described["State"] == "ENABLED"
    targets = events.list_targets_by_rule(Rule=rule.rule_name, EventBusName=bus)["Targets"]
    assert targets == [{"Id": TARGET_ID, "Arn": topic}]

    policy = json.loads(sns.get_topic_attributes(TopicArn=topic)["Attributes"]["Policy"])
    ours = [s for s in policy["Statement"] if s["Sid"].startswith(POLICY_SID)]
    assert len(ours) == 1
    assert ours[0]["Principal"] == {"Service": "events.amazonaws.com"} and ours[0]["Action"] == "sns:Publish"
    assert ours[0]["Condition"] == {"ArnEquals": {"aws:SourceArn": rule.rule_arn}}
    n_before = len(policy["Statement"])

    # idempotent: again -> same target, policy statement replaced, not duplicated
    create_state_change_rule(topic, rule_name=f"gt-state-{uid}", event_bus_name=bus, events_client=events,
                             sns_client=sns)
    policy2 = json.loads(sns.get_topic_attributes(TopicArn=topic)["Attributes"]["Policy"])
    assert len(policy2["Statement"]) == n_before
    assert len(events.list_targets_by_rule(Rule=rule.rule_name, EventBusName=bus)["Targets"]) == 1


def test_state_change_pattern_matches_sample_events_on_moto(moto_server: str) -> None:
    """put_events of Ground Truth-shaped events: the pattern routes Completed/Failed, not InProgress."""
    events, sqs = _client("events", moto_server), _client("sqs", moto_server)
    uid = uuid.uuid4().hex[:8]
    bus = f"gtlabel-match-{uid}"
    events.create_event_bus(Name=bus)
    q = sqs.create_queue(QueueName=f"gt-events-{uid}")["QueueUrl"]
    qarn = sqs.get_queue_attributes(QueueUrl=q, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    pattern = state_change_event_pattern(("Completed", "Failed"))
    events.put_rule(Name=f"m-{uid}", EventPattern=json.dumps(pattern), EventBusName=bus)
    events.put_targets(Rule=f"m-{uid}", EventBusName=bus, Targets=[{"Id": "q", "Arn": qarn}])
    arn = f"arn:aws:sagemaker:{REGION}:123456789012:labeling-job/test-labeling-job"
    entries = [dict(sample_event(arn, st), EventBusName=bus) for st in ("Completed", "InProgress", "Failed")]
    resp = events.put_events(Entries=entries)
    assert resp["FailedEntryCount"] == 0
    got = _drain(sqs, q)
    assert sorted(m["detail"]["LabelingJobStatus"] for m in got) == ["Completed", "Failed"]
    assert all(m["detail-type"] == DETAIL_TYPE and m["resources"] == [arn] for m in got)


def test_rule_arguments_validated() -> None:
    with pytest.raises(ConfigError, match="SNS topic ARN"):
        create_state_change_rule("not-an-arn", events_client=object(), sns_client=object())
    with pytest.raises(ConfigError, match="InProgress"):
        state_change_event_pattern(("InProgress",))
    p = state_change_event_pattern(job_arns=["arn:aws:sagemaker:us-east-1:1:labeling-job/x"])
    assert p["resources"] == ["arn:aws:sagemaker:us-east-1:1:labeling-job/x"]

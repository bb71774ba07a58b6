"""Job names (default, pattern, case-insensitive uniqueness, ResourceInUse) and workforce resolution (Stubber)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from botocore.stub import Stubber
from hypothesis import given
from hypothesis import strategies as st
from jobs_helpers import GOOD_REQUEST, TEAM_ARN, team

from gtlabel.errors import ConfigError, JobError, JobNameInUse
from gtlabel.jobs import names
from gtlabel.jobs.workforce import (
    check_public_price,
    price_struct,
    resolve_private,
    resolve_public,
    resolve_vendor,
)

NOW = datetime(2026, 11, 25, 6, 0, 0, tzinfo=UTC)


def _summary(name: str) -> dict[str, Any]:
    return {"LabelingJobName": name, "LabelingJobArn": f"arn:aws:sagemaker:us-east-1:123456789012:labeling-job/{name}",
            "CreationTime": NOW, "LastModifiedTime": NOW, "LabelingJobStatus": "Completed", "LabelCounters": {},
            "WorkteamArn": TEAM_ARN}


def test_default_name() -> None:
    assert names.default_job_name("drone objects", NOW) == "drone-objects-20261125-060000"
    assert names.default_job_name("--", NOW) == "job-20261125-060000"
    long = names.default_job_name("x" * 100, NOW)
    assert len(long) == 63 and names.check_job_name(long) == []


@given(st.text(max_size=120))
def test_default_name_is_always_valid(prefix: str) -> None:
    name = names.default_job_name(prefix, NOW)
    assert names.check_job_name(name) == [] and len(name) <= 63


def test_check_job_name() -> None:
    assert names.check_job_name("drone-objects-2026-11-25") == []
    for bad in ("", "-x", "x-", "a_b", "a b", "x" * 64):
        problems = names.check_job_name(bad)
        assert problems and problems[0].path == "LabelingJobName", bad
    assert "letters, digits and hyphens" in names.check_job_name("a_b")[0].message


def test_uniqueness_is_case_insensitive_and_paginated(sm: Any, sm_stub: Stubber) -> None:
    sm_stub.add_response("list_labeling_jobs", {"LabelingJobSummaryList": [_summary("drone-job-2")],
                                                "NextToken": "t1"}, {"NameContains": "drone-job", "MaxResults": 100})
    sm_stub.add_response("list_labeling_jobs", {"LabelingJobSummaryList": [_summary("Drone-Job")]},
                         {"NameContains": "drone-job", "MaxResults": 100, "NextToken": "t1"})
    with pytest.raises(JobNameInUse) as ei:
        names.ensure_name_available(sm, "drone-job")
    assert "'Drone-Job'" in str(ei.value) and "permanent" in str(ei.value)


def test_name_available(sm: Any, sm_stub: Stubber) -> None:
    sm_stub.add_response("list_labeling_jobs", {"LabelingJobSummaryList": [_summary("drone-job-old")]},
                         {"NameContains": "drone-job", "MaxResults": 100})
    names.ensure_name_available(sm, "drone-job")  # only a longer name contains it: free


def test_create_labeling_job_explains_resource_in_use(sm: Any, sm_stub: Stubber) -> None:
    sm_stub.add_client_error("create_labeling_job", service_error_code="ResourceInUse",
                             service_message="Job name must be unique", http_status_code=400,
                             expected_params=GOOD_REQUEST)
    with pytest.raises(JobNameInUse) as ei:
        names.create_labeling_job(sm, GOOD_REQUEST)
    assert GOOD_REQUEST["LabelingJobName"] in str(ei.value) and "can never be deleted" in str(ei.value)
    sm_stub.add_client_error("create_labeling_job", service_error_code="ResourceLimitExceeded",
                             http_status_code=400, expected_params=GOOD_REQUEST)
    with pytest.raises(JobError, match="ResourceLimitExceeded"):
        names.create_labeling_job(sm, GOOD_REQUEST)
    arn = "arn:aws:sagemaker:us-east-1:123456789012:labeling-job/ok"
    sm_stub.add_response("create_labeling_job", {"LabelingJobArn": arn}, GOOD_REQUEST)
    assert names.create_labeling_job(sm, GOOD_REQUEST) == arn


# ------------------------------------------------------------------------------------------------ workforce
LIST = {"MaxResults": 100, "SortBy": "Name"}


def test_private_none(sm: Any, sm_stub: Stubber) -> None:
    sm_stub.add_response("list_workteams", {"Workteams": []}, LIST)
    with pytest.raises(ConfigError, match="no private workteam exists in us-east-1"):
        resolve_private(sm, "us-east-1")


def test_private_only_one(sm: Any, sm_stub: Stubber) -> None:
    sm_stub.add_response("list_workteams", {"Workteams": [team("drone-team", TEAM_ARN)]}, LIST)
    wf = resolve_private(sm, "us-east-1")
    assert (wf.kind, wf.workteam_arn, wf.name) == ("private", TEAM_ARN, "drone-team")


def test_private_several_lists_names(sm: Any, sm_stub: Stubber) -> None:
    sm_stub.add_response("list_workteams", {"Workteams": [team("alpha"), team("beta")], "NextToken": "n"}, LIST)
    sm_stub.add_response("list_workteams", {"Workteams": [team("gamma")]}, {**LIST, "NextToken": "n"})
    with pytest.raises(ConfigError) as ei:
        resolve_private(sm, "us-east-1")
    assert "3 private workteams" in str(ei.value) and "alpha, beta, gamma" in str(ei.value)


def test_private_named(sm: Any, sm_stub: Stubber) -> None:
    sm_stub.add_response("list_workteams", {"Workteams": [team("beta"), team("beta-2")]},
                         {**LIST, "NameContains": "beta"})
    assert resolve_private(sm, "us-east-1", "beta").workteam_arn.endswith("/private-crowd/beta")
    sm_stub.add_response("list_workteams", {"Workteams": []}, {**LIST, "NameContains": "zeta"})
    sm_stub.add_response("list_workteams", {"Workteams": [team("alpha"), team("beta")]}, LIST)
    with pytest.raises(ConfigError, match=r"no private workteam named 'zeta'.*alpha, beta"):
        resolve_private(sm, "us-east-1", "zeta")


def test_private_arn_is_checked_without_a_call() -> None:
    assert resolve_private(None, "us-east-1", TEAM_ARN).name == "drone-team"
    with pytest.raises(ConfigError, match="is in us-east-1, but the job runs in eu-west-1"):
        resolve_private(None, "eu-west-1", TEAM_ARN)
    with pytest.raises(ConfigError, match="malformed"):
        resolve_private(None, "us-east-1", "arn:aws:sagemaker:us-east-1:123:workteam/x")


def test_public() -> None:
    wf = resolve_public("eu-central-1", 0.036)
    assert wf.workteam_arn == "arn:aws:sagemaker:eu-central-1:394669845002:workteam/public-crowd/default"
    assert wf.task_price_usd == Decimal("0.036")
    with pytest.raises(ConfigError, match=r"allowed USD values: 0\.036, 0\.048"):
        resolve_public("us-east-1", "0.05")
    with pytest.raises(ConfigError, match="needs a task price"):
        check_public_price(None)
    with pytest.raises(ConfigError, match="not a number"):
        check_public_price("cheap")
    with pytest.raises(ConfigError, match="supported regions"):
        resolve_public("sa-east-1", "0.036")


def test_price_struct() -> None:
    assert price_struct(Decimal("0.036")) == {"AmountInUsd": {"Dollars": 0, "Cents": 3, "TenthFractionsOfACent": 6}}
    assert price_struct(Decimal("1.200")) == {"AmountInUsd": {"Dollars": 1, "Cents": 20, "TenthFractionsOfACent": 0}}
    with pytest.raises(ConfigError):
        price_struct(Decimal("0.0365"))


def test_vendor() -> None:
    arn = "arn:aws:sagemaker:us-east-1:123456789012:workteam/vendor-crowd/acme-labeling"
    wf = resolve_vendor("us-east-1", arn, "0.10")
    assert (wf.kind, wf.name, wf.task_price_usd) == ("vendor", "acme-labeling", Decimal("0.10"))
    with pytest.raises(ConfigError, match="malformed"):
        resolve_vendor("us-east-1", "acme")
    with pytest.raises(ConfigError, match="not a vendor workteam"):
        resolve_vendor("us-east-1", TEAM_ARN)

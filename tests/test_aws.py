"""gtlabel.aws: the one ARN parser, error codes, job statuses, pagination and sessions sharing botocore's data."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber
from hypothesis import given
from hypothesis import strategies as st

from gtlabel.aws import (
    S3_NOT_FOUND_CODES,
    TERMINAL,
    Arn,
    JobStatus,
    boto3_session,
    error_code,
    error_message,
    is_not_found,
    is_public_workteam,
    paginate,
)


def client_error(code: str, message: str = "m", operation: str = "Op") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, operation)


# ----------------------------------------------------------------------------------------------- ARNs
def test_lambda_arn() -> None:
    arn = Arn.parse("arn:aws:lambda:us-east-1:432418664414:function:PRE-BoundingBox")
    assert arn == Arn("aws", "lambda", "us-east-1", "432418664414", "function:PRE-BoundingBox")
    assert arn.function_name == "PRE-BoundingBox" and arn.resource_name == "PRE-BoundingBox"
    assert arn.resource_type == "function"
    qualified = Arn.parse("arn:aws:lambda:us-east-1:123456789012:function:my-fn:live")
    assert qualified is not None and qualified.function_name == "my-fn"


def test_workteam_and_other_arns() -> None:
    team = Arn.parse("arn:aws-us-gov:sagemaker:us-gov-west-1:123456789012:workteam/private-crowd/drone-team")
    assert team is not None and team.partition == "aws-us-gov" and team.resource_type == "workteam"
    assert team.resource_id == "private-crowd/drone-team" and team.resource_name == "drone-team"
    assert team.function_name is None
    bucket = Arn.parse("arn:aws:s3:::my-bucket")
    assert bucket is not None and (bucket.region, bucket.account, bucket.resource) == ("", "", "my-bucket")


@pytest.mark.parametrize("text", [
    "", "arn", "not:an:arn:at:all:x", "arn:aws:lambda:us-east-1:432418664414",  # too few parts
    # the monitor's old loose parser accepted these two; an account id is 12 digits, a partition starts "aws"
    "arn:aws:sns:us-east-1:12:topic", "arn:gcp:sns:us-east-1:123456789012:topic",
    None, 42,
])
def test_not_an_arn(text: object) -> None:
    assert Arn.parse(text) is None


@given(partition=st.sampled_from(["aws", "aws-cn", "aws-us-gov"]),
       service=st.from_regex(r"[a-z0-9\-]{1,12}", fullmatch=True),
       region=st.from_regex(r"[a-z0-9\-]{0,14}", fullmatch=True),
       account=st.sampled_from(["", "123456789012", "432418664414"]),
       resource=st.text(st.characters(min_codepoint=33, max_codepoint=126), max_size=40))
def test_arn_round_trips(partition: str, service: str, region: str, account: str, resource: str) -> None:
    arn = Arn(partition, service, region, account, resource)
    assert Arn.parse(str(arn)) == arn


def test_public_workteam() -> None:
    assert is_public_workteam("arn:aws:sagemaker:us-east-1:394669845002:workteam/public-crowd/default")
    assert not is_public_workteam("arn:aws:sagemaker:us-east-1:123456789012:workteam/private-crowd/default")
    assert not is_public_workteam(None)


# ----------------------------------------------------------------------------------------------- errors
def test_error_code_and_message() -> None:
    exc = client_error("ResourceInUse", "name taken")
    assert error_code(exc) == "ResourceInUse" and error_message(exc) == "name taken"
    assert error_code(ValueError("x")) == "" and error_message(ValueError("x")) == "x"


@pytest.mark.parametrize("code", [*sorted(S3_NOT_FOUND_CODES), "ResourceNotFound", "ResourceNotFoundException"])
def test_not_found_codes(code: str) -> None:
    assert is_not_found(client_error(code))


def test_no_such_version_is_not_found_everywhere() -> None:
    # the old copies differed: only lineage's set had NoSuchVersion; storage reported it as an S3 error
    assert is_not_found(client_error("NoSuchVersion"))


@pytest.mark.parametrize(("code", "message", "expected"), [
    ("ValidationException", "Could not find labeling job 'x': it does not exist", True),
    ("ValidationException", "Workteam not found", True),
    ("ValidationException", "1 validation error detected", False),
    ("AccessDenied", "does not exist", False),
    ("400", "Bad Request", False),
    ("ThrottlingException", "slow down", False),
])
def test_not_found_by_message_only_for_validation_exceptions(code: str, message: str, expected: bool) -> None:
    assert is_not_found(client_error(code, message)) is expected


def test_not_found_needs_a_service_error() -> None:
    assert not is_not_found(FileNotFoundError("x"))


# ----------------------------------------------------------------------------------------------- statuses
def test_job_statuses_are_the_documented_strings() -> None:
    assert [str(s) for s in JobStatus] == ["Initializing", "InProgress", "Completed", "Failed", "Stopping",
                                           "Stopped"]
    assert "Completed" in TERMINAL and "Failed" in TERMINAL and "Stopped" in TERMINAL
    assert "Stopping" not in TERMINAL and JobStatus.IN_PROGRESS not in TERMINAL
    assert JobStatus("InProgress") is JobStatus.IN_PROGRESS


# ----------------------------------------------------------------------------------------------- pagination
@pytest.fixture()
def sm() -> Any:
    return boto3.client("sagemaker", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="y")


def _team(name: str) -> dict[str, Any]:
    return {"WorkteamName": name, "Description": "d",
            "WorkteamArn": f"arn:aws:sagemaker:us-east-1:123456789012:workteam/private-crowd/{name}",
            "MemberDefinitions": [{"CognitoMemberDefinition": {"UserPool": "us-east-1_abc", "UserGroup": name,
                                                               "ClientId": "client"}}]}


def test_paginate_follows_next_token(sm: Any) -> None:
    with Stubber(sm) as stub:
        stub.add_response("list_workteams", {"Workteams": [_team("a"), _team("b")], "NextToken": "t1"},
                          {"MaxResults": 2, "SortBy": "Name"})
        stub.add_response("list_workteams", {"Workteams": [_team("c")]},
                          {"MaxResults": 2, "SortBy": "Name", "NextToken": "t1"})
        names = [t["WorkteamName"] for t in paginate(sm, "list_workteams", "Workteams", page_size=2, SortBy="Name")]
        stub.assert_no_pending_responses()
    assert names == ["a", "b", "c"]


def test_paginate_is_lazy_and_bounded(sm: Any) -> None:
    with Stubber(sm) as stub:  # one page queued: asking for a second one would fail the stub
        stub.add_response("list_workteams", {"Workteams": [_team("a"), _team("b")], "NextToken": "t1"}, {})
        items = paginate(sm, "list_workteams", "Workteams")
        assert next(items)["WorkteamName"] == "a"
        stub.assert_no_pending_responses()
    with Stubber(sm) as stub:
        stub.add_response("list_workteams", {"Workteams": [_team("a")], "NextToken": "t1"}, {})
        assert len(list(paginate(sm, "list_workteams", "Workteams", max_pages=1))) == 1
        stub.assert_no_pending_responses()


def test_sessions_share_parsed_botocore_data_and_keep_their_own_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    import botocore.loaders

    first = boto3_session(aws_access_key_id="AKIDFIRST", aws_secret_access_key="s1", region_name="eu-west-1")
    first.client("sagemaker")
    reads: list[str] = []
    load_file = botocore.loaders.JSONFileLoader.load_file

    def counting(self: Any, file_path: str, *args: Any, **kwargs: Any) -> Any:
        reads.append(file_path)
        return load_file(self, file_path, *args, **kwargs)

    monkeypatch.setattr(botocore.loaders.JSONFileLoader, "load_file", counting)
    second = boto3_session(aws_access_key_id="AKIDSECOND", aws_secret_access_key="s2", region_name="us-west-2")
    sm = second.client("sagemaker")
    assert reads == []  # model, endpoints and partitions parsed once, by the first session's client
    assert sm.meta.region_name == "us-west-2" and first.region_name == "eu-west-1"
    assert second.get_credentials().access_key == "AKIDSECOND"
    assert first.get_credentials().access_key == "AKIDFIRST"
    assert sm.list_labeling_jobs.__doc__ is not None and sm.meta.service_model.service_name == "sagemaker"
    paths = second._session.get_component("data_loader").search_paths
    assert len(paths) == len(set(paths))  # boto3 adds its data folder once, not once per session
    assert boto3_session()._session.get_component("data_loader") is second._session.get_component("data_loader")

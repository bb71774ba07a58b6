"""Fixtures for the jobs tests: a good CreateLabelingJob request, a role in the environment, stubbed SageMaker."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from jobs_helpers import GOOD_REQUEST, ROLE


@pytest.fixture()
def good_request() -> Callable[..., dict[str, Any]]:
    """A factory: a deep copy of a valid request (private team, us-east-1)."""
    return lambda: copy.deepcopy(GOOD_REQUEST)


@pytest.fixture()
def role_env(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("GTLABEL_ROLE_ARN", ROLE)
    monkeypatch.delenv("GTLABEL_REGION", raising=False)
    monkeypatch.delenv("GTLABEL_FACTS_DIR", raising=False)
    return ROLE


@pytest.fixture()
def sm() -> Any:
    """A SageMaker client that can only talk to a Stubber (no endpoint is ever reached)."""
    return boto3.client("sagemaker", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="y")


@pytest.fixture()
def sm_stub(sm: Any) -> Iterator[Stubber]:
    with Stubber(sm) as st:
        yield st
        st.assert_no_pending_responses()

"""boto3 clients for monitoring, and small helpers to read ARNs and errors. I/O rim only."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

RetryMode = Literal["adaptive", "standard", "legacy"]
RETRY_MODES: tuple[RetryMode, ...] = ("adaptive", "standard", "legacy")

# Error codes that mean "try again later" rather than "this is wrong" (after botocore's own retries).
TRANSIENT_CODES = frozenset(
    {
        "ThrottlingException",
        "Throttling",
        "ThrottledException",
        "RequestThrottled",
        "TooManyRequestsException",
        "ProvisionedThroughputExceededException",
        "RequestLimitExceeded",
        "ServiceUnavailable",
        "InternalFailure",
        "InternalServerError",
    }
)


def make_client(service: str, *, retry_mode: RetryMode = "adaptive", max_attempts: int = 10,
                region_name: str | None = None) -> Any:
    """A boto3 client with botocore's retry mode set (``adaptive`` rate-limits itself on throttling).

    Endpoints come from the usual places (``AWS_ENDPOINT_URL_SAGEMAKER`` for the local service).
    """
    import boto3
    from botocore.config import Config

    if retry_mode not in RETRY_MODES:
        from gtlabel.errors import ConfigError

        raise ConfigError(f"retry_mode must be one of {', '.join(RETRY_MODES)}; got {retry_mode!r}")
    cfg = Config(retries={"mode": retry_mode, "max_attempts": max_attempts})
    factory: Any = boto3.client  # typed per service by boto3-stubs; any service goes here
    return factory(service, region_name=region_name, config=cfg)


def error_code(exc: BaseException) -> str:
    """The AWS error code of a botocore ``ClientError`` ("" for anything else)."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", ""))
    return ""


@dataclass(frozen=True)
class Arn:
    partition: str
    service: str
    region: str
    account: str
    resource: str

    @property
    def resource_name(self) -> str:
        return self.resource.split("/")[-1].split(":")[-1]


def parse_arn(arn: str) -> Arn | None:
    """Split ``arn:partition:service:region:account:resource``; None when it is not an ARN."""
    parts = arn.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn":
        return None
    return Arn(parts[1], parts[2], parts[3], parts[4], parts[5])


def split_s3_uri(uri: str) -> tuple[str, str] | None:
    if not uri.startswith("s3://"):
        return None
    bucket, _, key = uri[5:].partition("/")
    return (bucket, key) if bucket else None

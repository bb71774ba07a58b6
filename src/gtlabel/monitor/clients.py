"""boto3 clients for monitoring, and the small readers of AWS errors and ARNs the monitor needs. I/O rim only."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from botocore.exceptions import ClientError, ConnectionError, HTTPClientError

from gtlabel.errors import ConfigError

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


def check_retry_mode(retry_mode: str) -> RetryMode:
    """``retry_mode`` when it is one of botocore's modes; a :class:`ConfigError` naming them otherwise."""
    for mode in RETRY_MODES:
        if retry_mode == mode:
            return mode
    raise ConfigError(f"retry_mode must be one of {', '.join(RETRY_MODES)}; got {retry_mode!r}")


def make_client(service: str, *, retry_mode: RetryMode = "adaptive", max_attempts: int = 10,
                region_name: str | None = None) -> Any:
    """A boto3 client with botocore's retry mode set (``adaptive`` rate-limits itself on throttling).

    Endpoints come from the usual places (``AWS_ENDPOINT_URL_SAGEMAKER`` for the local service).
    """
    mode = check_retry_mode(retry_mode)
    # boto3 and botocore.config load on the first client, as in gtlabel.storage: together most of a second
    # of import time that callers passing their own clients (tests, the demo, notebooks) never need
    import boto3
    from botocore.config import Config

    cfg = Config(retries={"mode": mode, "max_attempts": max_attempts})
    factory: Any = boto3.client  # typed per service by boto3-stubs; any service goes here
    return factory(service, region_name=region_name, config=cfg)


def error_code(exc: BaseException) -> str:
    """The AWS error code of a botocore ``ClientError`` ("" for anything else)."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", ""))
    return ""


def is_not_found(exc: BaseException) -> bool:
    """The job (or other resource) does not exist: SageMaker's ``ResourceNotFound``, or a validation error
    saying so."""
    code = error_code(exc)
    if code in ("ResourceNotFound", "ResourceNotFoundException"):
        return True
    msg = str(exc).lower()
    return code == "ValidationException" and ("not found" in msg or "does not exist" in msg)


def is_transient(exc: BaseException) -> bool:
    """Worth calling again later: a throttling/server error code, or no connection at all."""
    if isinstance(exc, ClientError):
        return error_code(exc) in TRANSIENT_CODES
    return isinstance(exc, ConnectionError | HTTPClientError)


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

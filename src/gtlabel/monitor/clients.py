"""boto3 clients for monitoring, and which errors are worth a retry. I/O rim only (ARNs, error codes and "not found":
:mod:`gtlabel.aws`)."""

from __future__ import annotations

from typing import Any, Literal

from botocore.exceptions import ClientError, ConnectionError, HTTPClientError

from gtlabel.aws import error_code
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
    # boto3 and botocore.config load on the first client, as in gtlabel.storage: measured 0.35-0.45 s and
    # 0.2-0.4 s of import time on top of gtlabel.monitor, which callers passing their own clients never need
    import boto3
    from botocore.config import Config  # (with boto3, for the same reason)

    cfg = Config(retries={"mode": mode, "max_attempts": max_attempts})
    factory: Any = boto3.client  # typed per service by boto3-stubs; any service goes here
    return factory(service, region_name=region_name, config=cfg)


def is_transient(exc: BaseException) -> bool:
    """Worth calling again later: a throttling/server error code, or no connection at all."""
    if isinstance(exc, ClientError):
        return error_code(exc) in TRANSIENT_CODES
    return isinstance(exc, ConnectionError | HTTPClientError)

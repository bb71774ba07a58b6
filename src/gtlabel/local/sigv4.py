"""AWS Signature Version 4 verification for the local service (pure: no I/O).

The canonical request is rebuilt exactly as botocore's ``SigV4Auth`` builds it (``botocore/auth.py``):

    METHOD \\n quote(normalize(path), safe="/~") \\n raw query pairs sorted \\n
    lower(name):collapsed(value) for each signed header \\n \\n signed;headers \\n sha256(body)

then ``AWS4-HMAC-SHA256 \\n <x-amz-date> \\n <date>/<region>/<service>/aws4_request \\n sha256(canonical)``
is signed with the key chain ``AWS4<secret> -> date -> region -> service -> aws4_request``.

Errors mirror what AWS answers (HTTP 403, JSON ``__type``):

- no ``Authorization`` header -> ``MissingAuthenticationTokenException``
- an access key that is not ours -> ``UnrecognizedClientException``
- a wrong signature, scope (date/region/service) or a clock skew over 5 minutes -> ``InvalidSignatureException``
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

from gtlabel.errors import AuthFailure

__all__ = ["Credentials", "precheck", "sign_headers", "verify"]

ALGORITHM = "AWS4-HMAC-SHA256"
MAX_SKEW = timedelta(minutes=5)
_AUTH_RE = re.compile(
    r"^AWS4-HMAC-SHA256\s+Credential=(?P<cred>[^,\s]+)\s*,\s*SignedHeaders=(?P<sh>[^,\s]+)\s*,\s*Signature=(?P<sig>[0-9a-f]{64})\s*$"
)


@dataclass(frozen=True)
class Credentials:
    access_key: str
    secret_key: str


def _normalize_path(path: str) -> str:
    # botocore.utils.normalize_url_path: remove dot segments, keep a trailing slash
    if not path:
        return "/"
    parts = path.split("/")
    out: list[str] = []
    for p in parts:
        if p in ("", "."):
            continue
        if p == "..":
            if out:
                out.pop()
        else:
            out.append(p)
    norm = "/" + "/".join(out)
    if path.endswith("/") and norm != "/":
        norm += "/"
    return norm


def canonical_query(raw_query: str) -> str:
    if not raw_query:
        return ""
    pairs = []
    for pair in raw_query.split("&"):
        key, _, value = pair.partition("=")
        pairs.append((key, value))
    return "&".join(f"{k}={v}" for k, v in sorted(pairs))


def _collapse(value: str) -> str:
    return " ".join(value.split())


def canonical_request(method: str, path: str, raw_query: str, headers: Mapping[str, Sequence[str]],
                      signed: Sequence[str], payload_hash: str) -> str:
    lines = [method.upper(), quote(_normalize_path(path), safe="/~"), canonical_query(raw_query)]
    canon_headers = "\n".join(
        f"{name}:{','.join(_collapse(v) for v in headers.get(name, ()))}" for name in sorted(set(signed))
    )
    lines.append(canon_headers + "\n")
    lines.append(";".join(sorted(set(signed))))
    lines.append(payload_hash)
    return "\n".join(lines)


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode("utf-8"), hashlib.sha256).digest()


def signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    k = _hmac(f"AWS4{secret}".encode(), date)
    k = _hmac(k, region)
    k = _hmac(k, service)
    return _hmac(k, "aws4_request")


def _signature(secret: str, amz_date: str, region: str, service: str, creq: str) -> str:
    scope = f"{amz_date[:8]}/{region}/{service}/aws4_request"
    sts = "\n".join([ALGORITHM, amz_date, scope, hashlib.sha256(creq.encode("utf-8")).hexdigest()])
    return hmac.new(signing_key(secret, amz_date[:8], region, service), sts.encode("utf-8"),
                    hashlib.sha256).hexdigest()


def verify(
    *,
    method: str,
    path: str,
    raw_query: str,
    headers: Mapping[str, Sequence[str]],
    body: bytes,
    credentials: Credentials,
    region: str,
    service: str = "sagemaker",
    now: datetime | None = None,
) -> str:
    """Check the request's SigV4 ``Authorization`` header; return the access key, raise :class:`AuthFailure`.

    ``headers`` maps lower-case header names to all their values (in arrival order).
    """
    m, amz_date = _check_headers(headers=headers, credentials=credentials, region=region, service=service, now=now)
    body_hash = hashlib.sha256(body).hexdigest()
    declared = headers.get("x-amz-content-sha256")
    if declared and declared[0].strip() != body_hash:
        raise AuthFailure("The provided 'x-amz-content-sha256' header does not match what was computed.")
    creq = canonical_request(method, path, raw_query, headers, m["sh"].split(";"), body_hash)
    expected = _signature(credentials.secret_key, amz_date, region, service, creq)
    if not hmac.compare_digest(expected, m["sig"]):
        raise AuthFailure("The request signature we calculated does not match the signature you provided. "
                          "Check your AWS Secret Access Key and signing method.")
    return str(m["cred"].split("/")[0])


def precheck(*, headers: Mapping[str, Sequence[str]], credentials: Credentials, region: str,
             service: str = "sagemaker", now: datetime | None = None) -> None:
    """Everything :func:`verify` checks that needs no body: the header's form, the access key, the date (5 minutes
    of skew) and the scope. A server calls it *before* it reads the body, so an unsigned or foreign request costs
    no more than its headers."""
    _check_headers(headers=headers, credentials=credentials, region=region, service=service, now=now)


def _check_headers(*, headers: Mapping[str, Sequence[str]], credentials: Credentials, region: str, service: str,
                   now: datetime | None) -> tuple[re.Match[str], str]:
    auth_values = headers.get("authorization")
    if not auth_values:
        raise AuthFailure("Missing Authentication Token", code="MissingAuthenticationTokenException")
    m = _AUTH_RE.match(auth_values[0].strip())
    if not m:
        raise AuthFailure("Authorization header requires 'Credential', 'SignedHeaders' and 'Signature' "
                          f"with algorithm {ALGORITHM}.", code="IncompleteSignatureException")
    cred = m["cred"].split("/")
    if len(cred) != 5 or cred[4] != "aws4_request":
        raise AuthFailure("Credential must have the form <key>/<date>/<region>/<service>/aws4_request.",
                          code="IncompleteSignatureException")
    access_key, date, cred_region, cred_service, _ = cred
    if not hmac.compare_digest(access_key, credentials.access_key):
        raise AuthFailure("The security token included in the request is invalid.",
                          code="UnrecognizedClientException")
    amz = headers.get("x-amz-date")
    if not amz:
        raise AuthFailure("The request has no X-Amz-Date header.", code="IncompleteSignatureException")
    amz_date = amz[0].strip()
    try:
        when = datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    except ValueError:
        raise AuthFailure(f"X-Amz-Date {amz_date!r} is not in the form YYYYMMDD'T'HHMMSS'Z'.",
                          code="IncompleteSignatureException") from None
    if date != amz_date[:8]:
        raise AuthFailure(f"Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from "
                          f"HTTP: '{date}' != '{amz_date[:8]}', from '{amz_date}'.")
    if cred_region != region:
        raise AuthFailure(f"Credential should be scoped to a valid region, not '{cred_region}'. "
                          f"This service runs in '{region}'.")
    if cred_service != service:
        raise AuthFailure(f"Credential should be scoped to correct service: '{service}'.")
    now = now or datetime.now(UTC)
    if abs(now - when) > MAX_SKEW:
        raise AuthFailure(f"Signature expired: {amz_date} is now earlier or later than "
                          f"{now.strftime('%Y%m%dT%H%M%SZ')} by more than 5 minutes.")
    if "host" not in m["sh"].split(";"):
        raise AuthFailure("'Host' must be a signed header.")
    return m, amz_date


def sign_headers(*, method: str, url_path: str, raw_query: str, host: str, headers: Mapping[str, str],
                 body: bytes, credentials: Credentials, region: str, service: str = "sagemaker",
                 now: datetime | None = None) -> dict[str, str]:
    """Sign a request (for tests and tools that do not use botocore); returns headers to add."""
    now = now or datetime.now(UTC)
    amz_date = now.strftime("%Y%m%dT%H%M%SZ")
    all_headers = {k.lower(): [v] for k, v in headers.items()}
    all_headers["host"] = [host]
    all_headers["x-amz-date"] = [amz_date]
    signed = sorted(all_headers)
    creq = canonical_request(method, url_path, raw_query, all_headers, signed,
                             hashlib.sha256(body).hexdigest())
    sig = _signature(credentials.secret_key, amz_date, region, service, creq)
    scope = f"{credentials.access_key}/{amz_date[:8]}/{region}/{service}/aws4_request"
    return {
        "X-Amz-Date": amz_date,
        "Authorization": f"{ALGORITHM} Credential={scope}, SignedHeaders={';'.join(signed)}, Signature={sig}",
    }

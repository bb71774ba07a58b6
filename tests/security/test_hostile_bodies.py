"""Hostile request bodies: refused on Content-Length before a byte is read, streamed ones cut at the route's
limit, and the SageMaker API's access key and date checked before its body is read."""

from __future__ import annotations

import re
import select
import socket
import time
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

from gtlabel.local.bodies import MAX_ANSWER_BYTES, MAX_API_BODY, MAX_FORM_BYTES, limit_for
from gtlabel.local.sigv4 import Credentials, sign_headers


def _connect(svc: Any) -> socket.socket:
    u = urlsplit(svc.sagemaker_endpoint)
    sock = socket.create_connection((u.hostname, u.port), timeout=10)
    return sock


def _status(sock: socket.socket) -> tuple[int, bytes]:
    """The reply's status and bytes: its head and its whole body (Content-Length), which can come in a later
    packet than the head (seen under load: the head alone, without the error code the test looks for)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    length = re.search(rb"(?im)^content-length:\s*(\d+)\s*$", head)
    while length and len(rest) < int(length.group(1)):
        try:
            chunk = sock.recv(65536)
        except OSError:  # reset: a server that refused a body closes without reading it
            break
        if not chunk:
            break
        rest += chunk
    return int(head.split(b" ", 2)[1]), head + b"\r\n\r\n" + rest


def _headers_only(svc: Any, path: str, headers: dict[str, str]) -> tuple[int, bytes]:
    """Send a request's headers and no body; the reply must come without the body ever being sent."""
    sock = _connect(svc)
    try:
        lines = [f"POST {path} HTTP/1.1", f"Host: {urlsplit(svc.sagemaker_endpoint).netloc}"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        return _status(sock)
    finally:
        sock.close()


def test_route_limits() -> None:
    assert limit_for("POST", "/") == MAX_API_BODY
    assert limit_for("POST", "/tasks/abc/submit") == MAX_ANSWER_BYTES
    assert limit_for("POST", "/login") == limit_for("POST", "/tasks/abc/decline") == MAX_FORM_BYTES
    assert limit_for("POST", "/tasks/abc/submit/x") == MAX_FORM_BYTES


@pytest.mark.parametrize(("path", "length"), [("/", 400 << 20), ("/tasks/x/submit", 200 << 20),
                                              ("/login", 1 << 20)])
def test_a_declared_length_over_the_limit_is_refused_before_reading(local_service: Any, path: str,
                                                                    length: int) -> None:
    start = time.monotonic()
    status, raw = _headers_only(local_service, path, {"Content-Type": "application/json",
                                                      "Content-Length": str(length)})
    assert status == 413, raw[:300]  # on main: the server waits for 400 MB that never come
    assert b"larger than" in raw and time.monotonic() - start < 5


@pytest.mark.parametrize(("auth", "code"), [
    ({}, b"MissingAuthenticationTokenException"),
    ({"Authorization": "AWS4-HMAC-SHA256 Credential=NOTOURKEY/20260101/us-east-1/sagemaker/aws4_request, "
                       "SignedHeaders=host;x-amz-date, Signature=" + "0" * 64, "X-Amz-Date": "20260101T000000Z"},
     b"UnrecognizedClientException"),
    ({"Authorization": "AWS4-HMAC-SHA256 Credential=testing/20200101/us-east-1/sagemaker/aws4_request, "
                       "SignedHeaders=host;x-amz-date, Signature=" + "0" * 64, "X-Amz-Date": "20200101T000000Z"},
     b"Signature expired"),
])
def test_api_checks_key_and_date_before_the_body(local_service: Any, auth: dict[str, str], code: bytes) -> None:
    # a body is announced (under the limit) but never sent: the answer must not wait for it
    status, raw = _headers_only(local_service, "/", {"Content-Type": "application/x-amz-json-1.1",
                                                     "X-Amz-Target": "SageMaker.ListWorkteams",
                                                     "Content-Length": str(8 << 20), **auth})
    assert status == 403 and code in raw, raw[:400]


def _chunked(svc: Any, path: str, total: int, headers: dict[str, str]) -> tuple[int, bytes, int]:
    """Stream ``total`` bytes chunked (no Content-Length); returns the status, reply and bytes sent before it."""
    sock = _connect(svc)
    sock.settimeout(30)
    sent = 0
    try:
        lines = [f"POST {path} HTTP/1.1", f"Host: {urlsplit(svc.sagemaker_endpoint).netloc}",
                 "Transfer-Encoding: chunked"] + [f"{k}: {v}" for k, v in headers.items()]
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        block = b"[" + b"0," * (32 << 10)
        try:
            while sent < total:
                if select.select([sock], [], [], 0)[0]:
                    break  # the server replied before the whole body came: stop sending
                sock.sendall(f"{len(block):x}\r\n".encode() + block + b"\r\n")
                sent += len(block)
            else:
                sock.sendall(b"0\r\n\r\n")
        except OSError:
            pass  # the server closed the connection after it replied
        status, raw = _status(sock)
        return status, raw, sent
    finally:
        sock.close()


def test_streamed_bodies_are_cut_at_the_limit(local_service: Any) -> None:
    local_service.add_worker("default", "mallory", "mallory-password-1")
    from localsvc_helpers import Worker

    m = Worker(local_service.portal_url, "mallory", "mallory-password-1")
    cookie = "; ".join(f"{c.name}={c.value}" for c in m.http.cookies)
    status, raw, _ = _chunked(local_service, "/tasks/whatever/submit", 12 << 20,
                              {"Cookie": cookie, "X-CSRF-Token": m.csrf, "Content-Type": "application/json"})
    assert status == 413 and b"larger than %d" % MAX_ANSWER_BYTES in raw, raw[:300]
    status, raw, _ = _chunked(local_service, "/login", 2 << 20, {"Content-Type": "application/x-www-form-urlencoded"})
    assert status == 413, raw[:300]


def test_unsigned_streamed_api_call_is_refused_without_reading(local_service: Any) -> None:
    status, raw, sent = _chunked(local_service, "/", 64 << 20, {"X-Amz-Target": "SageMaker.ListWorkteams"})
    assert status == 403 and b"MissingAuthenticationTokenException" in raw, raw[:300]
    assert sent < 8 << 20  # replied long before the 64 MB were sent


def test_deeply_nested_api_json_is_a_400(local_service: Any) -> None:
    body = b'{"WorkteamName": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    u = urlsplit(local_service.sagemaker_endpoint)
    headers = {"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "SageMaker.DescribeWorkteam"}
    headers.update(sign_headers(method="POST", url_path="/", raw_query="", host=u.netloc, headers=headers, body=body,
                                credentials=Credentials("testing", "testing"), region="us-east-1"))
    r = requests.post(local_service.sagemaker_endpoint + "/", data=body, headers=headers, timeout=30)
    assert r.status_code == 400 and r.json()["__type"] == "SerializationException"  # on main: 500 RecursionError

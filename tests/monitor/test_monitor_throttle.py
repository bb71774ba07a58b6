"""Throttling over real HTTP: botocore's retry mode (set by the monitor's client) absorbs ThrottlingException."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from monitor_helpers import counters, describe

from gtlabel.monitor import CostPoint, watch_labeling_job
from gtlabel.monitor.clients import make_client


class _Api:
    """A SageMaker JSON 1.1 endpoint that throttles the first ``throttles`` calls."""

    def __init__(self, throttles: int) -> None:
        self.throttles = throttles
        self.calls: list[str] = []
        body = describe("throttled-job", "Completed", counters(4, 0))
        for k in ("CreationTime", "LastModifiedTime"):
            body[k] = body[k].timestamp()
        self.body = json.dumps(body).encode()


@pytest.fixture()
def api(monkeypatch: pytest.MonkeyPatch) -> Iterator[_Api]:
    state = _Api(throttles=2)

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *a: Any) -> None:
            return None

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            state.calls.append(self.headers.get("X-Amz-Target", ""))
            if len(state.calls) <= state.throttles:
                code, body = 400, json.dumps({"__type": "ThrottlingException", "message": "Rate exceeded"}).encode()
            else:
                code, body = 200, state.body
            self.send_response(code)
            self.send_header("Content-Type", "application/x-amz-json-1.1")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER", f"http://127.0.0.1:{srv.server_address[1]}")
    yield state
    srv.shutdown()
    srv.server_close()


@pytest.mark.parametrize("mode", ["adaptive", "standard"])
def test_throttling_is_retried_by_botocore(api: _Api, mode: str) -> None:
    s = watch_labeling_job("throttled-job", retry_mode=mode, progress=False, stall_after_seconds=0,  # type: ignore[arg-type]
                           cost_fn=lambda d: CostPoint(0.0))
    assert s.final_status == "Completed" and s.polls == 1  # one DescribeLabelingJob as seen by the loop
    assert api.calls == ["SageMaker.DescribeLabelingJob"] * 3  # two throttled attempts + one success on the wire


def test_client_carries_the_retry_mode() -> None:
    c = make_client("sagemaker", retry_mode="adaptive", max_attempts=7, region_name="us-east-1")
    assert c.meta.config.retries == {"mode": "adaptive", "total_max_attempts": 8}  # botocore: 1 + 7 retries
    from gtlabel.errors import ConfigError

    with pytest.raises(ConfigError, match="retry_mode"):
        make_client("sagemaker", retry_mode="sometimes")  # type: ignore[arg-type]

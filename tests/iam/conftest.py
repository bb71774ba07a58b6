"""Fixtures for the IAM tests: a moto server with IAM enforcement in a subprocess, and parliament."""

from __future__ import annotations

import importlib.util
import os
import select
import subprocess
import sys
import types
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

HERE = Path(__file__).resolve().parent
#: requests moto serves without authentication while the test creates its resources; the fixture then
#: spends the rest of this budget at once (POST /moto-api/reset-auth 0) so enforcement starts exactly there.
SETUP_BUDGET = 200


@dataclass
class EnforcingMoto:
    endpoint: str

    def client(self, service: str, key: str = "testing", secret: str = "testing") -> Any:
        return boto3.client(  # type: ignore[call-overload]
            service, endpoint_url=self.endpoint, region_name="us-east-1", aws_access_key_id=key,
            aws_secret_access_key=secret, config=Config(retries={"max_attempts": 1}),
        )

    def enforce_from_now(self) -> None:
        """Every request after this one must be signed by an IAM user and allowed by its policies."""
        req = urllib.request.Request(f"{self.endpoint}/moto-api/reset-auth", data=b"0", method="POST",
                                     headers={"Content-Type": "text/plain"})  # form types hide the body
        with urllib.request.urlopen(req, timeout=10) as r:
            assert r.status == 200


@pytest.fixture(scope="module")
def enforcing_moto() -> Iterator[EnforcingMoto]:
    env = dict(os.environ, INITIAL_NO_AUTH_ACTION_COUNT=str(SETUP_BUDGET))
    proc = subprocess.Popen(  # it binds port 0 and prints the port it got (no port chosen here and raced for)
        [sys.executable, str(HERE / "moto_iam_server.py"), "127.0.0.1"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    try:
        assert proc.stdout is not None
        ready, _, _ = select.select([proc.stdout], [], [], 60)
        line = proc.stdout.readline() if ready else ""  # its port, or "" if it died first
        if not line.strip().isdigit():
            raise RuntimeError(f"moto server with IAM enforcement did not start (exit code {proc.poll()})")
        proc.stdout.close()  # the server prints nothing more
        yield EnforcingMoto(f"http://127.0.0.1:{int(line)}")
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def _install_pkg_resources_shim() -> None:
    """parliament 1.6.4 does ``import pkg_resources`` only for ``resource_filename``; setuptools >= 81 in the
    venv no longer ships pkg_resources, so give it that one function (files are read from the package dir)."""
    if importlib.util.find_spec("pkg_resources") is not None:
        return
    mod = types.ModuleType("pkg_resources")

    def resource_filename(package: str, name: str) -> str:
        spec = importlib.util.find_spec(package)
        assert spec is not None and spec.submodule_search_locations is not None
        return os.path.join(next(iter(spec.submodule_search_locations)), name)

    mod.resource_filename = resource_filename  # type: ignore[attr-defined]
    sys.modules["pkg_resources"] = mod


@pytest.fixture(scope="session")
def parliament_analyze() -> Any:
    _install_pkg_resources_shim()
    from parliament import analyze_policy_string

    return analyze_policy_string

"""Fixtures of the local-service tests (helpers are in localsvc_helpers.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest


@pytest.fixture()
def clocked(moto_server: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Any]:
    """A LocalService whose time is a ManualClock and whose engine only moves on ``svc.engine.tick()``."""
    from gtlabel import storage
    from gtlabel.local import LocalService, ManualClock

    clock = ManualClock(1_790_000_000.0)
    svc = LocalService(data_dir=tmp_path / "svc", s3_endpoint=moto_server, access_key="testing",
                       secret_key="testing", clock=clock, engine_interval=None)
    with svc:
        for key, value in svc.env().items():
            monkeypatch.setenv(key, value)
        storage.reset_clients()
        svc.clock = clock
        yield svc
    storage.reset_clients()

"""Fixtures of the security corpus: hostile input against a real local service (helpers shared with
tests/local: its localsvc_helpers module is put on the import path here)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "local"))


@pytest.fixture()
def clocked(moto_server: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Any]:
    """A LocalService whose time is a ManualClock and whose engine only moves on ``svc.engine.tick()``."""
    from gtlabel import storage
    from gtlabel.local import LocalService, ManualClock

    clock = ManualClock(1_790_000_000.0)
    svc = LocalService(data_dir=tmp_path / "svc", s3_endpoint=moto_server, access_key="testing",
                       secret_key="testing", clock=clock, engine_interval=None, max_boxes_per_answer=50)
    with svc:
        for key, value in svc.env().items():
            monkeypatch.setenv(key, value)
        storage.reset_clients()
        svc.clock = clock
        yield svc
    storage.reset_clients()

"""Fixtures of the repository tests: a real SQLite file (WAL, group commit) in a temporary folder."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from gtlabel.local.state import Database, State


@pytest.fixture()
def state(tmp_path: Path) -> Iterator[State]:
    db = Database(tmp_path / "state.sqlite3")
    try:
        yield State(db)
    finally:
        db.close()

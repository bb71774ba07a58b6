"""The workers repository (workers, members, sessions) against a real SQLite file."""

from __future__ import annotations

import sqlite3

import pytest

from gtlabel.local.state import State
from gtlabel.local.state.records import Session, Worker


def _worker(n: int) -> Worker:
    return Worker(worker_id=f"private.us-east-1.{n:016x}", username=f"user{n}", pw_hash=f"scrypt$hash{n}",
                  sub=f"sub-{n}", created=float(n))


def test_accounts(state: State) -> None:
    w = state.workers
    w.insert(_worker(1))
    w.insert(_worker(2))
    assert w.get(_worker(1).worker_id) == _worker(1)
    assert w.by_username("user2") == _worker(2)
    assert w.get("nobody") is None and w.by_username("nobody") is None
    assert w.subs() == {_worker(1).worker_id: "sub-1", _worker(2).worker_id: "sub-2"}
    with pytest.raises(sqlite3.IntegrityError):  # usernames are unique
        w.insert(Worker("private.other", "user1", "h", "s", 0.0))


def test_membership(state: State) -> None:
    w = state.workers
    wid = _worker(1).worker_id
    assert w.teams_of(wid) == [] and not w.is_member("a", wid)
    w.add_member("a", wid)
    w.add_member("a", wid)  # idempotent
    w.add_member("b", wid)
    assert sorted(w.teams_of(wid)) == ["a", "b"] and w.is_member("a", wid)
    w.remove_team("a")
    assert w.teams_of(wid) == ["b"] and not w.is_member("a", wid)


def test_sessions(state: State) -> None:
    w = state.workers
    w.add_session("hash-1", Session("w1", "csrf-1", 100.0))
    assert w.session("hash-1") == Session("w1", "csrf-1", 100.0)
    assert w.session("hash-2") is None
    w.delete_session("hash-1")
    assert w.session("hash-1") is None

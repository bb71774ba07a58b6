"""The service's SQLite layer: group commit (FULL) makes every transaction durable before tx() returns, with far
fewer fsyncs than commits when many threads commit at once."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from pathlib import Path

import pytest

from gtlabel.local.state import db as dbmod
from gtlabel.local.state.db import Database


def _table(db: Database) -> None:
    with db.tx() as con:
        con.execute("CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, who TEXT)")


def test_group_commit_covers_every_commit_before_tx_returns(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "g.sqlite3"
    db = Database(path)
    _table(db)
    seen_at_fsync: list[int] = []  # rows committed when each fsync started
    real_fsync = dbmod.os.fsync

    def slow_fsync(fd: int) -> None:
        with sqlite3.connect(path) as peek:
            n = peek.execute("SELECT count(*) FROM t").fetchone()[0]
        time.sleep(0.004)  # a slow disk: other commits pile up meanwhile
        real_fsync(fd)
        seen_at_fsync.append(n)

    monkeypatch.setattr(dbmod.os, "fsync", slow_fsync)
    failures: list[str] = []
    before = db.fsyncs

    def writer(k: int) -> None:
        for j in range(5):
            with db.tx() as con:
                position = con.execute("SELECT count(*) FROM t").fetchone()[0] + 1  # our row's rank
                con.execute("INSERT INTO t (who) VALUES (?)", (f"{k}-{j}",))
            if max(seen_at_fsync, default=0) < position:
                failures.append(f"{k}-{j}: returned before an fsync covered row {position}")

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
    commits = 200
    assert db.one("SELECT count(*) AS n FROM t")["n"] == commits  # type: ignore[index]
    assert 0 < db.fsyncs - before < commits / 4, db.fsyncs - before  # grouped, not one per commit
    db.close()


def test_normal_mode_and_non_durable_writes_do_not_wait_for_fsync(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    monkeypatch.setattr(dbmod.os, "fsync", lambda fd: calls.append(fd))
    full = Database(tmp_path / "f.sqlite3")
    _table(full)
    n = len(calls)
    with full.tx(durable=False) as con:
        con.execute("INSERT INTO t (who) VALUES ('claim')")
    assert len(calls) == n  # a claim: committed (survives kill -9) without waiting for the disk
    with full.tx() as con:
        con.execute("INSERT INTO t (who) VALUES ('answer')")
    assert len(calls) == n + 1
    full.close()
    normal = Database(tmp_path / "n.sqlite3", synchronous="NORMAL")
    _table(normal)
    with normal.tx() as con:
        con.execute("INSERT INTO t (who) VALUES ('x')")
    assert normal.fsyncs == 0
    normal.close()
    with pytest.raises(ValueError, match="synchronous must be FULL, NORMAL or EXTRA"):
        Database(tmp_path / "bad.sqlite3", synchronous="OFF")


def test_a_failed_transaction_is_rolled_back(tmp_path: Path) -> None:
    db = Database(tmp_path / "r.sqlite3")
    _table(db)
    with pytest.raises(RuntimeError), db.tx() as con:
        con.execute("INSERT INTO t (who) VALUES ('half')")
        raise RuntimeError("boom")
    assert db.one("SELECT count(*) AS n FROM t")["n"] == 0  # type: ignore[index]
    db.close()


def test_a_transaction_inside_another_joins_it(tmp_path: Path) -> None:
    """Repository writes are transactions of their own; inside an outer one they join it: one commit, one fsync,
    and an exception that leaves the outer body undoes them all."""
    db = Database(tmp_path / "n.sqlite3")
    _table(db)
    fsyncs = db.fsyncs
    with db.tx() as outer:
        with db.tx() as inner:
            assert inner is outer
            inner.execute("INSERT INTO t (who) VALUES ('a')")
        with db.tx() as inner:
            inner.execute("INSERT INTO t (who) VALUES ('b')")
        with sqlite3.connect(db.path) as peek:  # nothing is visible before the outer commit
            assert peek.execute("SELECT count(*) FROM t").fetchone()[0] == 0
    assert db.one("SELECT count(*) AS n FROM t")["n"] == 2  # type: ignore[index]
    assert db.fsyncs == fsyncs + 1
    with pytest.raises(RuntimeError), db.tx():
        with db.tx() as inner:
            inner.execute("INSERT INTO t (who) VALUES ('c')")
        raise RuntimeError("after the inner one")
    assert db.one("SELECT count(*) AS n FROM t")["n"] == 2  # type: ignore[index]
    # the outermost transaction decides the durability (a task claim: not durable, whatever joins it)
    with db.tx(durable=False), db.tx() as inner:
        inner.execute("INSERT INTO t (who) VALUES ('d')")
    assert db.fsyncs == fsyncs + 1
    with db.tx(), db.tx(durable=False) as inner:
        inner.execute("INSERT INTO t (who) VALUES ('e')")
    assert db.fsyncs == fsyncs + 2
    db.close()


def test_deferred_commits_are_awaited_on_the_loop_not_waited_for(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """The portal's hot routes commit on the event loop: inside deferred() a durable commit returns before any
    fsync (the loop is never blocked on the disk), and ``await synced(seq)`` returns only once an fsync that
    began after that commit has finished; the coroutines waiting together share fsyncs (group commit)."""
    path = tmp_path / "a.sqlite3"
    db = Database(path)
    _table(db)
    seen_at_fsync: list[int] = []
    real_fsync = dbmod.os.fsync

    def slow_fsync(fd: int) -> None:
        with sqlite3.connect(path) as peek:
            n = peek.execute("SELECT count(*) FROM t").fetchone()[0]
        time.sleep(0.004)
        real_fsync(fd)
        seen_at_fsync.append(n)

    monkeypatch.setattr(dbmod.os, "fsync", slow_fsync)
    failures: list[str] = []
    before = db.fsyncs

    async def answer(k: int) -> None:
        for j in range(3):
            fsyncs = db.fsyncs
            with db.deferred() as pending:
                with db.tx() as con:
                    position = con.execute("SELECT count(*) FROM t").fetchone()[0] + 1
                    con.execute("INSERT INTO t (who) VALUES (?)", (f"{k}-{j}",))
                with db.tx(durable=False) as con:  # a claim's write: nothing more to wait for
                    con.execute("SELECT 1")
            if db.fsyncs != fsyncs:
                failures.append(f"{k}-{j}: the commit itself waited for an fsync")
            assert pending.seq > 0
            await db.synced(pending.seq)
            if max(seen_at_fsync, default=0) < position:
                failures.append(f"{k}-{j}: synced() returned before an fsync covered row {position}")
            await asyncio.sleep(0)

    async def main() -> None:
        await asyncio.gather(*(answer(k) for k in range(30)))

    asyncio.run(main())
    assert failures == []
    assert db.one("SELECT count(*) AS n FROM t")["n"] == 90  # type: ignore[index]
    assert 0 < db.fsyncs - before < 90 / 4, db.fsyncs - before  # grouped, not one per commit

    # a failed fsync: the waiters hear it (their requests fail instead of answering 200)
    def broken_fsync(fd: int) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(dbmod.os, "fsync", broken_fsync)

    async def failing() -> None:
        with db.deferred() as pending, db.tx() as con:
            con.execute("INSERT INTO t (who) VALUES ('lost')")
        await db.synced(pending.seq)

    with pytest.raises(OSError, match="Input/output error"):
        asyncio.run(failing())
    db.close()


def test_deferred_in_normal_mode_has_nothing_to_wait_for(tmp_path: Path) -> None:
    db = Database(tmp_path / "n.sqlite3", synchronous="NORMAL")
    _table(db)

    async def main() -> int:
        with db.deferred() as pending, db.tx() as con:
            con.execute("INSERT INTO t (who) VALUES ('x')")
        await db.synced(pending.seq)
        return pending.seq

    assert asyncio.run(main()) == 0
    assert db.fsyncs == 0
    db.close()

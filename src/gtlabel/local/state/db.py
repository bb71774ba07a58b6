"""SQLite database of the local service (WAL journal, one connection per thread) and its schema.

The tables are read and written only by the repositories of this package (one owner per table, see
:mod:`gtlabel.local.state`); the states stored in them are the enums of :mod:`gtlabel.local.lifecycle`.

Durability: ``journal_mode=WAL`` with ``synchronous=FULL`` (the default here): ``tx()`` returns only after the
WAL is fsynced, so a worker answer whose HTTP reply was sent survives ``kill -9`` and a power cut. ``NORMAL``
(optional) still survives ``kill -9`` (the WAL is in the OS page cache) but not a power cut.

FULL is done as a *group commit*: the connections run with SQLite's ``synchronous=NORMAL`` (a ``COMMIT`` writes
the WAL but does not fsync it) and ``tx()`` then waits until one ``fsync`` of the WAL file covers its commit.
While one thread fsyncs, the commits of the others pile up and the next fsync covers them all, so 50 workers
submitting at once cost a few fsyncs, not 50 (SQLite's own FULL fsyncs inside every COMMIT, one after the
other). The guarantee is the same: the commit record is on disk before ``tx()`` returns. Checkpoints sync the WAL
and the database file themselves in NORMAL mode. ``tx(durable=False)`` skips the wait, for writes that may be
lost in a power cut without harm (a task claim: the task is simply offered again).

On an event loop a commit must not block the thread while it waits for the disk: inside ``with db.deferred() as
d:`` a durable commit returns at once and records its number in ``d.seq``; ``await db.synced(d.seq)`` then
returns once an fsync covers it (a thread of the database's own leads the fsync for every coroutine waiting, in
the same group commit as the threads). The caller must not answer before that await (the portal's hot routes:
:mod:`gtlabel.local.portal`).

Tables (all times are epoch seconds from the service clock):

- ``workteams``  one row per private team (the SageMaker ``Workteam`` fields as JSON columns)
- ``workers``    portal accounts: ``username``, salted scrypt ``pw_hash``, the GT-style ``worker_id``
- ``members``    worker <-> team
- ``sessions``   portal sessions: sha256 of the cookie token, the CSRF token, expiry
- ``jobs``       one row per labeling job: status, the request as accepted, counters' inputs, output URI
- ``objects``    one row per input-manifest line (``idx`` = ``datasetObjectId``): ``ObjectState`` (``pending`` ->
                 ``active`` (released in iteration n) -> ``consolidating`` -> ``done`` | ``failed``); slot counters
- ``assignments`` one row per (object, worker) claim: ``AssignmentState`` (``claimed`` -> ``submitted`` |
                 ``declined`` | ``returned`` | ``timedout`` | ``cancelled``); the answer JSON of a submission
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
import threading
from pathlib import Path
from types import TracebackType

SCHEMA_VERSION = 1

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS workteams (
    name TEXT PRIMARY KEY,
    arn TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL,
    members TEXT NOT NULL,
    extra TEXT NOT NULL DEFAULT '{}',
    created REAL NOT NULL,
    updated REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS workers (
    worker_id TEXT PRIMARY KEY,
    username TEXT NOT NULL UNIQUE,
    pw_hash TEXT NOT NULL,
    sub TEXT NOT NULL,
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS members (
    team TEXT NOT NULL,
    worker_id TEXT NOT NULL,
    PRIMARY KEY (team, worker_id)
);
CREATE TABLE IF NOT EXISTS sessions (
    token_hash TEXT PRIMARY KEY,
    worker_id TEXT NOT NULL,
    csrf TEXT NOT NULL,
    expires REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS jobs (
    name TEXT PRIMARY KEY,
    name_lower TEXT NOT NULL UNIQUE,
    arn TEXT NOT NULL,
    status TEXT NOT NULL,
    request TEXT NOT NULL,
    workteam_arn TEXT NOT NULL,
    team TEXT NOT NULL,
    job_ref TEXT NOT NULL,
    created REAL NOT NULL,
    modified REAL NOT NULL,
    failure_reason TEXT,
    labels TEXT,
    template TEXT,
    n_objects INTEGER NOT NULL DEFAULT 0,
    release_cap INTEGER,  -- unused since StoppingConditions count labels at each release (kept for old files)
    iteration INTEGER NOT NULL DEFAULT 0,
    output_uri TEXT,
    dirty INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS jobs_status ON jobs (status);
CREATE TABLE IF NOT EXISTS objects (
    job TEXT NOT NULL,
    idx INTEGER NOT NULL,
    line TEXT NOT NULL,
    task_input TEXT,
    human_required INTEGER NOT NULL DEFAULT 1,
    state TEXT NOT NULL,
    iteration INTEGER,
    released REAL,
    n_taken INTEGER NOT NULL DEFAULT 0,
    n_submitted INTEGER NOT NULL DEFAULT 0,
    n_declined INTEGER NOT NULL DEFAULT 0,
    result TEXT,
    human INTEGER NOT NULL DEFAULT 0,
    failure TEXT,
    finished REAL,
    PRIMARY KEY (job, idx)
);
CREATE INDEX IF NOT EXISTS objects_state ON objects (job, state, idx);
CREATE TABLE IF NOT EXISTS assignments (
    id TEXT PRIMARY KEY,
    job TEXT NOT NULL,
    idx INTEGER NOT NULL,
    worker_id TEXT NOT NULL,
    state TEXT NOT NULL,
    claimed REAL NOT NULL,
    submitted REAL,
    answer TEXT
);
CREATE INDEX IF NOT EXISTS assign_worker ON assignments (job, worker_id, idx);
CREATE INDEX IF NOT EXISTS assign_obj ON assignments (job, idx, state);
CREATE INDEX IF NOT EXISTS assign_state ON assignments (state, claimed);
"""


class Database:
    """Thread-local SQLite connections to one file, in WAL mode. ``tx()`` is a write transaction."""

    def __init__(self, path: str | Path, *, synchronous: str = "FULL") -> None:
        if synchronous.upper() not in {"FULL", "NORMAL", "EXTRA"}:
            raise ValueError(f"synchronous must be FULL, NORMAL or EXTRA, not {synchronous!r}")
        self.path = Path(path)
        self.synchronous = synchronous.upper()
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        # one writer at a time inside this process: SQLite's own busy handler sleeps (up to 100 ms) when two
        # connections race for the write lock, which wrecks tail latency; a Python lock hands over at once
        self._write_lock = threading.Lock()
        # group commit (FULL/EXTRA): commits counted under _write_lock, made durable by one fsync for many
        self._group = self.synchronous in {"FULL", "EXTRA"}
        self._sync_cond = threading.Condition()
        self._committed = 0
        self._synced = 0
        self._syncing = False
        self._wal_fd: int | None = None
        # coroutines awaiting synced(): (commit number, their loop, their future), served by the _syncer thread
        self._async_waiters: list[tuple[int, asyncio.AbstractEventLoop, asyncio.Future[None]]] = []
        self._syncer: threading.Thread | None = None
        self._syncer_idle = False  # waiting for a coroutine to wait (only then is it worth a notify)
        self._closing = False
        self.fsyncs = 0  # how many group fsyncs ran (tests and benchmarks read it)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        con = self.conn()
        con.executescript(SCHEMA)  # idempotent; executescript commits on its own
        with self.tx() as c:
            c.execute("INSERT OR IGNORE INTO meta (key, value) VALUES ('schema', ?)", (str(SCHEMA_VERSION),))

    def conn(self) -> sqlite3.Connection:
        con: sqlite3.Connection | None = getattr(self._local, "con", None)
        if con is None:
            con = sqlite3.connect(self.path, timeout=30.0, isolation_level=None, check_same_thread=False)
            con.row_factory = sqlite3.Row
            con.execute("PRAGMA journal_mode=WAL")
            con.execute(f"PRAGMA synchronous={'NORMAL' if self._group else self.synchronous}")
            con.execute("PRAGMA busy_timeout=30000")
            con.execute("PRAGMA foreign_keys=ON")
            self._local.con = con
            with self._lock:
                self._all.append(con)
        return con

    def tx(self, *, durable: bool = True) -> Transaction:
        """``BEGIN IMMEDIATE`` ... ``COMMIT`` (rolled back if the body raises). Returns after the commit, and with
        FULL/EXTRA (``durable``) after the WAL holding it is fsynced.

        Inside a transaction of the same thread, ``tx()`` joins it: the outermost one commits and decides the
        durability, and an exception that leaves the outermost body rolls everything back. So a repository method
        writes in a transaction of its own, and a caller makes several of them one."""
        return Transaction(self, durable)

    def deferred(self) -> Deferred:
        """Durable commits of this thread inside the ``with`` block do not wait for their fsync: the context's
        ``seq`` is the last one's number, for :meth:`synced` (0: nothing to wait for)."""
        return Deferred(self)

    async def synced(self, seq: int) -> None:
        """Return (without blocking the event loop) once an fsync that started after commit ``seq`` finished;
        raises the fsync's ``OSError`` if it failed. At once with ``synchronous=NORMAL`` or for ``seq`` 0."""
        if not self._group or seq <= self._synced:
            return
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[None] = loop.create_future()
        with self._sync_cond:
            if seq <= self._synced:
                return
            self._async_waiters.append((seq, loop, fut))
            if self._syncer is None:
                self._closing = False
                self._syncer = threading.Thread(target=self._sync_for_waiters, name="gtlabel-db-sync", daemon=True)
                self._syncer.start()
            elif self._syncer_idle:  # else it is syncing and looks at the waiters again when that is done
                self._sync_cond.notify_all()
        await fut

    def _sync_for_waiters(self) -> None:
        """The syncer thread: an fsync (or a wait for the one running) for the coroutines awaiting :meth:`synced`,
        then their futures resolved, one wake-up per loop for each group."""
        while True:
            with self._sync_cond:
                while not self._async_waiters and not self._closing:
                    self._syncer_idle = True
                    self._sync_cond.wait()
                self._syncer_idle = False
                if not self._async_waiters:
                    return
                target = max(w[0] for w in self._async_waiters)
            error: Exception | None = None
            try:
                self._make_durable(target)
            except Exception as exc:  # the fsync failed: every waiter hears it (their requests fail, no 200)
                error = exc
            with self._sync_cond:
                limit = target if error is not None else self._synced
                done = [w for w in self._async_waiters if w[0] <= limit]
                self._async_waiters = [w for w in self._async_waiters if w[0] > limit]
            by_loop: dict[asyncio.AbstractEventLoop, list[asyncio.Future[None]]] = {}
            for _, loop, fut in done:
                by_loop.setdefault(loop, []).append(fut)
            for loop, futs in by_loop.items():
                with contextlib.suppress(RuntimeError):  # the loop is closed: no one is waiting any more
                    loop.call_soon_threadsafe(_resolve, futs, error)

    def _make_durable(self, seq: int) -> None:
        """Return once an fsync that started after commit ``seq`` has finished (leader/follower group commit)."""
        while True:
            with self._sync_cond:
                while self._syncing and self._synced < seq:
                    self._sync_cond.wait()
                if self._synced >= seq:
                    return
                self._syncing = True  # this thread leads the next fsync
                target = self._committed  # counted after COMMIT returned: all of these are in the WAL
            ok = False
            try:
                self._fsync_wal()
                ok = True
            finally:
                with self._sync_cond:
                    self._syncing = False
                    if ok:
                        self._synced = max(self._synced, target)
                    self._sync_cond.notify_all()

    def _fsync_wal(self) -> None:
        """fsync the WAL file (re-opened when SQLite recreated it); the database file when there is no WAL."""
        wal = f"{self.path}-wal"
        try:
            ino = os.stat(wal).st_ino
        except FileNotFoundError:  # everything was checkpointed into the database file
            fd = os.open(self.path, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
            self.fsyncs += 1
            return
        if self._wal_fd is not None and os.fstat(self._wal_fd).st_ino != ino:
            os.close(self._wal_fd)
            self._wal_fd = None
        if self._wal_fd is None:
            self._wal_fd = os.open(wal, os.O_RDONLY)
        os.fsync(self._wal_fd)
        self.fsyncs += 1

    def query(self, sql: str, params: tuple[object, ...] = ()) -> list[sqlite3.Row]:
        return self.conn().execute(sql, params).fetchall()

    def one(self, sql: str, params: tuple[object, ...] = ()) -> sqlite3.Row | None:
        row: sqlite3.Row | None = self.conn().execute(sql, params).fetchone()
        return row

    def close(self) -> None:
        with self._sync_cond:
            self._closing = True
            self._sync_cond.notify_all()
            syncer, self._syncer = self._syncer, None
        if syncer is not None and syncer is not threading.current_thread():
            syncer.join(timeout=30)
        with self._sync_cond:
            while self._syncing:
                self._sync_cond.wait()
            if self._wal_fd is not None:
                with contextlib.suppress(OSError):
                    os.close(self._wal_fd)
                self._wal_fd = None
        with self._lock:
            for con in self._all:
                with contextlib.suppress(sqlite3.Error):
                    con.close()
            self._all.clear()
        self._local = threading.local()


def _resolve(futs: list[asyncio.Future[None]], error: Exception | None) -> None:
    for fut in futs:
        if fut.done():  # its request was cancelled meanwhile
            continue
        if error is None:
            fut.set_result(None)
        else:
            fut.set_exception(error)


class Deferred:
    """What :meth:`Database.deferred` returns: while it is entered, this thread's durable commits leave their
    fsync to :meth:`Database.synced` (``seq``: the last such commit's number, 0 if none)."""

    __slots__ = ("_db", "_outer", "seq")

    def __init__(self, db: Database) -> None:
        self._db, self.seq = db, 0
        self._outer: Deferred | None = None

    def __enter__(self) -> Deferred:
        local = self._db._local
        self._outer = getattr(local, "deferred", None)
        local.deferred = self
        return self

    def __exit__(self, *exc: object) -> None:
        self._db._local.deferred = self._outer
        if self._outer is not None:  # an enclosing deferred block waits for these commits too
            self._outer.seq = max(self._outer.seq, self.seq)


class Transaction:
    """What :meth:`Database.tx` returns: a context manager giving the thread's connection (a class, not a
    generator: every repository write enters one, on the service's hot path)."""

    __slots__ = ("_con", "_db", "_durable", "_outer")

    def __init__(self, db: Database, durable: bool) -> None:
        self._db, self._durable = db, durable
        self._outer = False

    def __enter__(self) -> sqlite3.Connection:
        con = self._con = self._db.conn()
        self._outer = not con.in_transaction  # inside another transaction of this thread: join it
        if self._outer:
            self._db._write_lock.acquire()
            try:
                con.execute("BEGIN IMMEDIATE")
            except BaseException:
                self._db._write_lock.release()
                raise
        return con

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
                 ) -> None:
        if not self._outer:
            return
        db, con = self._db, self._con
        try:
            if exc_type is not None:
                con.execute("ROLLBACK")
                return
            try:
                con.execute("COMMIT")
            except BaseException:
                if con.in_transaction:  # leave the connection usable (no transaction left open)
                    con.execute("ROLLBACK")
                raise
            db._committed += 1
            seq = db._committed
        finally:
            db._write_lock.release()
        if db._group and self._durable:
            deferred: Deferred | None = getattr(db._local, "deferred", None)
            if deferred is not None:
                deferred.seq = seq  # the caller awaits Database.synced(seq) before it answers
            else:
                db._make_durable(seq)

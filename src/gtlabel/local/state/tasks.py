"""The ``objects`` and ``assignments`` tables: the data objects of each job and the workers' claims on them.

Every state write names its target state and is limited in SQL to the rows whose current state may move there
(:meth:`gtlabel.local.lifecycle.Lifecycle.sources`); a row in any other state makes the whole transaction fail
with :class:`gtlabel.errors.IllegalTransition` naming ``from -> to``. The slot counters of an object
(``n_taken``, ``n_submitted``, ``n_declined``) move together with its assignments' states.
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Collection, Iterable, Sequence
from typing import Any

from gtlabel.local.lifecycle import ASSIGNMENT, OBJECT, AssignmentState, ObjectState
from gtlabel.local.state.db import Database
from gtlabel.local.state.records import Assignment, DataObject, NewObject, ObjectOutcome

__all__ = ["Tasks"]

# a worker who holds one of these on an object cannot take it again
_HOLDING = (AssignmentState.CLAIMED, AssignmentState.SUBMITTED, AssignmentState.DECLINED)
# the states each state may be reached from (the SQL of a move touches only rows in one of them)
_OBJECT_SOURCES = {s: tuple(sorted(OBJECT.sources(s))) for s in ObjectState}
_ASSIGNMENT_SOURCES = {s: tuple(sorted(ASSIGNMENT.sources(s))) for s in AssignmentState}
_ANSWERED = (AssignmentState.SUBMITTED, AssignmentState.DECLINED)
_LIVE = (ObjectState.ACTIVE, ObjectState.CONSOLIDATING)


def _marks(values: Collection[object]) -> str:
    return ",".join("?" * len(values))


def _object(row: sqlite3.Row) -> DataObject:
    return DataObject(job=str(row["job"]), idx=int(row["idx"]), line=str(row["line"]), task_input=row["task_input"],
                      human_required=bool(row["human_required"]), state=ObjectState(row["state"]),
                      iteration=row["iteration"], released=row["released"], n_taken=int(row["n_taken"]),
                      n_submitted=int(row["n_submitted"]), n_declined=int(row["n_declined"]), result=row["result"],
                      human=bool(row["human"]), failure=row["failure"], finished=row["finished"])


def _assignment(row: sqlite3.Row) -> Assignment:
    return Assignment(str(row["id"]), str(row["job"]), int(row["idx"]), str(row["worker_id"]),
                      AssignmentState(row["state"]), float(row["claimed"]), row["submitted"], row["answer"])


class Tasks:
    def __init__(self, db: Database) -> None:
        self.db = db

    # ================================================================== data objects: reading
    def get(self, job: str, idx: int) -> DataObject | None:
        row = self.db.one("SELECT * FROM objects WHERE job=? AND idx=?", (job, idx))
        return _object(row) if row is not None else None

    def many(self, job: str, idxs: Sequence[int]) -> dict[int, DataObject]:
        rows = self.db.query(f"SELECT * FROM objects WHERE job=? AND idx IN ({_marks(idxs)})", (job, *idxs))
        return {int(r["idx"]): _object(r) for r in rows}

    def in_states(self, job: str, states: Collection[ObjectState]) -> list[DataObject]:
        rows = self.db.query(f"SELECT * FROM objects WHERE job=? AND state IN ({_marks(states)}) ORDER BY idx",
                             (job, *states))
        return [_object(r) for r in rows]

    def live(self, job: str) -> list[DataObject]:
        """The objects out with workers or being consolidated (``active``, ``consolidating``)."""
        return self.in_states(job, _LIVE)

    def count(self, job: str, states: Collection[ObjectState]) -> int:
        row = self.db.one(f"SELECT count(*) AS n FROM objects WHERE job=? AND state IN ({_marks(states)})",
                          (job, *states))
        return int(row["n"]) if row is not None else 0

    def counts(self, job: str) -> Counter[tuple[ObjectState, bool]]:
        """How many objects are in each ``(state, labeled by humans)``."""
        rows = self.db.query("SELECT state, human, count(*) AS n FROM objects WHERE job=? GROUP BY state, human",
                             (job,))
        return Counter({(ObjectState(r["state"]), bool(r["human"])): int(r["n"]) for r in rows})

    def ready(self, job: str, *, workers: int, lifetime: float, now: float) -> list[DataObject]:
        """The objects to consolidate now: ``consolidating`` ones (a run cut short), and ``active`` ones whose
        ``workers`` slots are all used, that need no human, or whose ``lifetime`` (s) has run out at ``now``."""
        rows = self.db.query(
            "SELECT * FROM objects WHERE job=? AND (state=? OR (state=? AND "
            "(n_submitted + n_declined >= ? OR human_required=0 OR released + ? <= ?))) ORDER BY idx",
            (job, ObjectState.CONSOLIDATING, ObjectState.ACTIVE, workers, lifetime, now))
        return [_object(r) for r in rows]

    def pending_idxs(self, job: str, limit: int) -> list[int]:
        rows = self.db.query("SELECT idx FROM objects WHERE job=? AND state=? ORDER BY idx LIMIT ?",
                             (job, ObjectState.PENDING, max(limit, 0)))
        return [int(r["idx"]) for r in rows]

    def output_rows(self, job: str) -> list[tuple[str, str | None, ObjectState]]:
        """``(input line, output line or None, state)`` of every object, in manifest order (all JSON text)."""
        rows = self.db.query("SELECT line, result, state FROM objects WHERE job=? ORDER BY idx", (job,))
        return [(str(r["line"]), r["result"], ObjectState(r["state"])) for r in rows]

    # ================================================================== data objects: for one worker
    def available_to(self, job: str, worker_id: str, *, workers: int) -> int:
        """How many released objects have a free slot and have not been held by ``worker_id``."""
        row = self.db.one(
            "SELECT count(*) AS n FROM objects o WHERE o.job=? AND o.state=? AND o.human_required=1 AND o.n_taken < ? "
            "AND NOT EXISTS (SELECT 1 FROM assignments a WHERE a.job=o.job AND a.idx=o.idx AND a.worker_id=? AND "
            f"a.state IN ({_marks(_HOLDING)}))", (job, ObjectState.ACTIVE, workers, worker_id, *_HOLDING))
        return int(row["n"]) if row is not None else 0

    def next_for(self, job: str, worker_id: str, *, workers: int) -> int | None:
        """The first such object (see :meth:`available_to`), by manifest order."""
        row = self.db.one(
            "SELECT idx FROM objects o WHERE o.job=? AND o.state=? AND o.human_required=1 AND o.n_taken < ? AND NOT "
            "EXISTS (SELECT 1 FROM assignments a WHERE a.job=o.job AND a.idx=o.idx AND a.worker_id=? AND "
            f"a.state IN ({_marks(_HOLDING)})) ORDER BY o.idx LIMIT 1",
            (job, ObjectState.ACTIVE, workers, worker_id, *_HOLDING))
        return int(row["idx"]) if row is not None else None

    def any_left_for(self, job: str, worker_id: str) -> bool:
        """Whether the job may still have work for ``worker_id``: an object not released yet, or a released one
        the worker has not answered or declined."""
        row = self.db.one(
            "SELECT 1 FROM objects o WHERE o.job=? AND (o.state=? OR (o.state=? AND NOT EXISTS (SELECT 1 FROM "
            f"assignments a WHERE a.job=o.job AND a.idx=o.idx AND a.worker_id=? AND a.state IN ({_marks(_ANSWERED)}))"
            ")) LIMIT 1", (job, ObjectState.PENDING, ObjectState.ACTIVE, worker_id, *_ANSWERED))
        return row is not None

    # ================================================================== data objects: writing
    def replace_all(self, job: str, objects: Sequence[NewObject]) -> None:
        """The job's objects as initialization found them (a re-run after a crash replaces the earlier ones)."""
        for o in objects:
            OBJECT.check_initial(o.state, record=f"{job}/{o.idx}")
        with self.db.tx() as con:
            con.execute("DELETE FROM objects WHERE job=?", (job,))
            con.executemany("INSERT INTO objects (job, idx, line, task_input, human_required, state, result, failure, "
                            "finished) VALUES (?,?,?,?,?,?,?,?,?)",
                            [(job, o.idx, o.line, o.task_input, int(o.human_required), o.state, o.result, o.failure,
                              o.finished) for o in objects])

    def release(self, job: str, idxs: Sequence[int], *, iteration: int, now: float) -> None:
        """``pending`` -> ``active``: the objects go out to workers in ``iteration``."""
        self._move(job, ObjectState.ACTIVE, "iteration=?, released=?", [(iteration, now, i) for i in idxs])

    def begin_consolidation(self, job: str, idxs: Sequence[int]) -> None:
        """-> ``consolidating``, and their open claims -> ``cancelled``: no new claims or answers from here on."""
        with self.db.tx():
            for i in idxs:
                self.cancel_claims(job, idx=i)
            self._move(job, ObjectState.CONSOLIDATING, "", [(i,) for i in idxs])

    def finish(self, job: str, outcomes: Iterable[ObjectOutcome]) -> None:
        """Consolidated objects -> ``done`` | ``failed`` | ``pending`` (see :class:`ObjectOutcome`)."""
        groups: dict[ObjectState, list[tuple[Any, ...]]] = {}
        for o in outcomes:
            groups.setdefault(o.state, []).append((o.result, o.failure, o.finished, int(o.human), o.idx))
        with self.db.tx():
            for state, params in groups.items():
                self._move(job, state, "result=?, failure=?, finished=?, human=?", params)

    def _move(self, job: str, to: ObjectState, sets: str, params: Sequence[tuple[Any, ...]]) -> None:
        """``state = to`` (and ``sets``; each params tuple ends with the idx) where the current state allows it."""
        sources = _OBJECT_SOURCES[to]
        sql = (f"UPDATE objects SET state=?{', ' + sets if sets else ''} WHERE job=? AND idx=? "
               f"AND state IN ({_marks(sources)})")
        with self.db.tx() as con:
            for p in params:
                if con.execute(sql, (to, *p[:-1], job, p[-1], *sources)).rowcount != 1:
                    row = con.execute("SELECT state FROM objects WHERE job=? AND idx=?", (job, p[-1])).fetchone()
                    if row is None:
                        raise KeyError(f"labeling job {job!r} has no data object {p[-1]}")
                    OBJECT.check(row["state"], to, record=f"{job}/{p[-1]}")  # raises: its state may not move to ``to``

    # ================================================================== assignments
    def assignment(self, aid: str) -> Assignment | None:
        row = self.db.one("SELECT * FROM assignments WHERE id=?", (aid,))
        return _assignment(row) if row is not None else None

    def open_claim(self, job: str, worker_id: str) -> Assignment | None:
        """The worker's oldest ``claimed`` assignment in the job."""
        row = self.db.one("SELECT * FROM assignments WHERE job=? AND worker_id=? AND state=? ORDER BY claimed LIMIT 1",
                          (job, worker_id, AssignmentState.CLAIMED))
        return _assignment(row) if row is not None else None

    def submitted(self, job: str, idxs: Sequence[int]) -> list[Assignment]:
        """The submitted answers for these objects, in submission order."""
        rows = self.db.query(f"SELECT * FROM assignments WHERE job=? AND state=? AND idx IN ({_marks(idxs)}) "
                             "ORDER BY submitted, id", (job, AssignmentState.SUBMITTED, *idxs))
        return [_assignment(r) for r in rows]

    def claim(self, aid: str, job: str, idx: int, worker_id: str, *, now: float) -> Assignment:
        """A new ``claimed`` assignment; it takes one of the object's slots."""
        state = ASSIGNMENT.check_initial(AssignmentState.CLAIMED, record=aid)
        with self.db.tx() as con:
            con.execute("INSERT INTO assignments (id, job, idx, worker_id, state, claimed) VALUES (?,?,?,?,?,?)",
                        (aid, job, idx, worker_id, state, now))
            con.execute("UPDATE objects SET n_taken=n_taken+1 WHERE job=? AND idx=?", (job, idx))
        return Assignment(aid, job, idx, worker_id, state, now, None, None)

    def release_claim(self, a: Assignment, to: AssignmentState) -> None:
        """``claimed`` -> ``returned`` | ``timedout``: the slot goes back to the pool."""
        with self.db.tx() as con:
            self._set(con, a.id, to, "")
            con.execute("UPDATE objects SET n_taken=n_taken-1 WHERE job=? AND idx=?", (a.job, a.idx))

    def submit(self, a: Assignment, *, answer: str, now: float) -> None:
        """``claimed`` -> ``submitted`` with the answer (JSON)."""
        with self.db.tx() as con:
            self._set(con, a.id, AssignmentState.SUBMITTED, ", submitted=?, answer=?", now, answer)
            con.execute("UPDATE objects SET n_submitted=n_submitted+1 WHERE job=? AND idx=?", (a.job, a.idx))

    def decline(self, a: Assignment, *, now: float) -> None:
        """``claimed`` -> ``declined``: the slot is used up without an answer."""
        with self.db.tx() as con:
            self._set(con, a.id, AssignmentState.DECLINED, ", submitted=?", now)
            con.execute("UPDATE objects SET n_declined=n_declined+1 WHERE job=? AND idx=?", (a.job, a.idx))

    def time_out_claims(self, job: str, *, claimed_before: float) -> int:
        """Claims of the job older than ``claimed_before`` -> ``timedout`` (their slots go back); how many."""
        # the engine asks at every tick and there are rarely any: a read first, no write lock to wait for
        if self.db.one("SELECT 1 FROM assignments WHERE job=? AND state=? AND claimed < ? LIMIT 1",
                       (job, AssignmentState.CLAIMED, claimed_before)) is None:
            return 0
        with self.db.tx() as con:
            late = con.execute("SELECT * FROM assignments WHERE job=? AND state=? AND claimed < ?",
                               (job, AssignmentState.CLAIMED, claimed_before)).fetchall()
            for row in late:
                self.release_claim(_assignment(row), AssignmentState.TIMEDOUT)
        return len(late)

    def cancel_claims(self, job: str, *, idx: int | None = None) -> None:
        """Every ``claimed`` assignment of the job (of one object when ``idx`` is given) -> ``cancelled``."""
        sources = _ASSIGNMENT_SOURCES[AssignmentState.CANCELLED]
        where, params = ("job=?", (job,)) if idx is None else ("job=? AND idx=?", (job, idx))
        with self.db.tx() as con:
            con.execute(f"UPDATE assignments SET state=? WHERE {where} AND state IN ({_marks(sources)})",
                        (AssignmentState.CANCELLED, *params, *sources))

    def _set(self, con: sqlite3.Connection, aid: str, to: AssignmentState, sets: str, *values: object) -> None:
        sources = _ASSIGNMENT_SOURCES[to]
        cur = con.execute(f"UPDATE assignments SET state=?{sets} WHERE id=? AND state IN ({_marks(sources)})",
                          (to, *values, aid, *sources))
        if cur.rowcount != 1:
            row = con.execute("SELECT state FROM assignments WHERE id=?", (aid,)).fetchone()
            if row is None:
                raise KeyError(f"no task assignment {aid!r}")
            ASSIGNMENT.check(row["state"], to, record=repr(aid))

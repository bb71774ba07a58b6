"""The ``workers``, ``members`` and ``sessions`` tables: portal accounts, their teams, their login sessions.

Passwords arrive here already hashed and session tokens as their sha256: this module stores, it does not decide.
"""

from __future__ import annotations

import sqlite3

from gtlabel.local.state.db import Database
from gtlabel.local.state.records import Session, Worker

__all__ = ["Workers"]


def _worker(row: sqlite3.Row) -> Worker:
    return Worker(worker_id=str(row["worker_id"]), username=str(row["username"]), pw_hash=str(row["pw_hash"]),
                  sub=str(row["sub"]), created=float(row["created"]))


class Workers:
    def __init__(self, db: Database) -> None:
        self.db = db

    # ------------------------------------------------------------------ accounts
    def get(self, worker_id: str) -> Worker | None:
        row = self.db.one("SELECT * FROM workers WHERE worker_id=?", (worker_id,))
        return _worker(row) if row is not None else None

    def by_username(self, username: str) -> Worker | None:
        row = self.db.one("SELECT * FROM workers WHERE username=?", (username,))
        return _worker(row) if row is not None else None

    def insert(self, worker: Worker) -> None:
        with self.db.tx() as con:
            con.execute("INSERT INTO workers (worker_id, username, pw_hash, sub, created) VALUES (?,?,?,?,?)",
                        (worker.worker_id, worker.username, worker.pw_hash, worker.sub, worker.created))

    def all(self) -> list[Worker]:
        """Every account, by username."""
        return [_worker(r) for r in self.db.query("SELECT * FROM workers ORDER BY username")]

    def subs(self) -> dict[str, str]:
        """worker id -> the Cognito-style ``sub`` of every worker (the worker-response files name both)."""
        return {str(r["worker_id"]): str(r["sub"]) for r in self.db.query("SELECT worker_id, sub FROM workers")}

    # ------------------------------------------------------------------ team membership
    def add_member(self, team: str, worker_id: str) -> None:
        """Idempotent."""
        with self.db.tx() as con:
            con.execute("INSERT OR IGNORE INTO members (team, worker_id) VALUES (?,?)", (team, worker_id))

    def is_member(self, team: str, worker_id: str) -> bool:
        return self.db.one("SELECT 1 FROM members WHERE team=? AND worker_id=?", (team, worker_id)) is not None

    def members(self, teams: list[str]) -> list[Worker]:
        """The workers of any of ``teams``, each once, by username."""
        marks = ",".join("?" * len(teams))
        return [_worker(r) for r in self.db.query(
            f"SELECT DISTINCT w.* FROM workers w JOIN members m ON m.worker_id=w.worker_id WHERE m.team IN ({marks}) "
            "ORDER BY w.username", tuple(teams))] if teams else []

    def teams_of(self, worker_id: str) -> list[str]:
        return [str(r["team"]) for r in self.db.query("SELECT team FROM members WHERE worker_id=?", (worker_id,))]

    def remove_member(self, team: str, worker_id: str) -> bool:
        """``False`` when the worker was not in the team."""
        with self.db.tx() as con:
            return con.execute("DELETE FROM members WHERE team=? AND worker_id=?", (team, worker_id)).rowcount > 0

    def remove_team(self, team: str) -> None:
        """Forget every membership of ``team`` (the team is being deleted)."""
        with self.db.tx() as con:
            con.execute("DELETE FROM members WHERE team=?", (team,))

    # ------------------------------------------------------------------ sessions
    def add_session(self, token_hash: str, session: Session) -> None:
        with self.db.tx() as con:
            con.execute("INSERT INTO sessions (token_hash, worker_id, csrf, expires) VALUES (?,?,?,?)",
                        (token_hash, session.worker_id, session.csrf, session.expires))

    def session(self, token_hash: str) -> Session | None:
        row = self.db.one("SELECT worker_id, csrf, expires FROM sessions WHERE token_hash=?", (token_hash,))
        if row is None:
            return None
        return Session(worker_id=str(row["worker_id"]), csrf=str(row["csrf"]), expires=float(row["expires"]))

    def delete_sessions_of(self, worker_id: str) -> None:
        """End every session of a worker (removed from a team: they log in again)."""
        with self.db.tx() as con:
            con.execute("DELETE FROM sessions WHERE worker_id=?", (worker_id,))

    def delete_session(self, token_hash: str) -> None:
        with self.db.tx() as con:
            con.execute("DELETE FROM sessions WHERE token_hash=?", (token_hash,))

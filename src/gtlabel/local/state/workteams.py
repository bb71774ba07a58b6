"""The ``workteams`` table: the private work teams (the SageMaker ``Workteam`` fields)."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from gtlabel.local.state.db import Database
from gtlabel.local.state.records import Team

__all__ = ["Workteams"]


def _team(row: sqlite3.Row) -> Team:
    return Team(name=str(row["name"]), arn=str(row["arn"]), description=str(row["description"]),
                members=json.loads(row["members"]), extra=json.loads(row["extra"]), created=float(row["created"]),
                updated=float(row["updated"]))


class Workteams:
    def __init__(self, db: Database) -> None:
        self.db = db

    def get(self, name: str) -> Team | None:
        row = self.db.one("SELECT * FROM workteams WHERE name=?", (name,))
        return _team(row) if row is not None else None

    def by_arn(self, arn: str) -> Team | None:
        row = self.db.one("SELECT * FROM workteams WHERE arn=?", (arn,))
        return _team(row) if row is not None else None

    def exists(self, name: str, *, ignore_case: bool = False) -> bool:
        sql = "SELECT 1 FROM workteams WHERE " + ("lower(name)=lower(?)" if ignore_case else "name=?")
        return self.db.one(sql, (name,)) is not None

    def count(self) -> int:
        row = self.db.one("SELECT count(*) AS n FROM workteams")
        return int(row["n"]) if row is not None else 0

    def all(self) -> list[Team]:
        return [_team(r) for r in self.db.query("SELECT * FROM workteams")]

    def insert(self, team: Team) -> None:
        with self.db.tx() as con:
            con.execute("INSERT INTO workteams (name, arn, description, members, extra, created, updated) "
                        "VALUES (?,?,?,?,?,?,?)",
                        (team.name, team.arn, team.description, json.dumps(team.members, allow_nan=False), json.dumps(team.extra, allow_nan=False),
                         team.created, team.updated))

    def update(self, name: str, *, members: list[Any], description: str, extra: dict[str, Any],
               updated: float) -> None:
        with self.db.tx() as con:
            con.execute("UPDATE workteams SET members=?, description=?, extra=?, updated=? WHERE name=?",
                        (json.dumps(members, allow_nan=False), description, json.dumps(extra, allow_nan=False), updated, name))

    def delete(self, name: str) -> None:
        with self.db.tx() as con:
            con.execute("DELETE FROM workteams WHERE name=?", (name,))

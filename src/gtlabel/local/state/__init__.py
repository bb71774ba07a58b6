"""The local service's state: one SQLite database (:mod:`.db`) and one repository per table group, the only
modules that hold SQL. Each table has one owner:

    jobs.py        Jobs        jobs
    workteams.py   Workteams   workteams
    workers.py     Workers     workers, members (worker <-> team), sessions
    tasks.py       Tasks       objects (data objects), assignments (workers' claims on them)

Repositories take and return the typed records of :mod:`.records` and the enums of :mod:`gtlabel.local.lifecycle`;
every status write goes through the lifecycle tables. Each write method is a transaction of its own; inside
``state.tx()`` several become one (the backend and the engine do that where they must be atomic).
"""

from __future__ import annotations

import sqlite3
from contextlib import AbstractContextManager

from gtlabel.local.state.db import Database
from gtlabel.local.state.jobs import Jobs
from gtlabel.local.state.tasks import Tasks
from gtlabel.local.state.workers import Workers
from gtlabel.local.state.workteams import Workteams

__all__ = ["Database", "Jobs", "State", "Tasks", "Workers", "Workteams"]


class State:
    """The repositories over one database."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.jobs = Jobs(db)
        self.teams = Workteams(db)
        self.workers = Workers(db)
        self.tasks = Tasks(db)

    def tx(self, *, durable: bool = True) -> AbstractContextManager[sqlite3.Connection]:
        """One transaction around several repository calls (``durable=False``: see :meth:`Database.tx`)."""
        return self.db.tx(durable=durable)

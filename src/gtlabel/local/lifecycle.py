"""The lifecycles of the local service's records: labeling jobs, data objects and task assignments.

Every status the service stores is one of these enums, and every status write goes through :meth:`Lifecycle.check`
(the repositories in :mod:`gtlabel.local.state` call it), which raises :class:`gtlabel.errors.IllegalTransition`
naming ``from -> to`` for a move the table does not allow::

    labeling job (gtlabel.aws.JobStatus, the SageMaker LabelingJobStatus values; final: gtlabel.aws.TERMINAL)
        (created)     -> Initializing
        Initializing  -> InProgress | Stopping | Failed
        InProgress    -> Completed | Stopped | Stopping | Failed
        Stopping      -> Stopped | Failed
        Completed, Failed, Stopped: final

    data object (ObjectState; one row per input-manifest line)
        (created)     -> pending | failed          (failed: unreadable at start, or pre-annotation failed)
        pending       -> active                    (released in iteration n)
        active        -> consolidating             (its slots are used, its lifetime ran out, or the job stops)
        consolidating -> done | failed             (labeled / no usable answer)
                       | pending                   (the job stopped before anyone answered: stays Unlabeled)
                       | consolidating             (consolidation re-run after a crash)
        done, failed: final

    task assignment (AssignmentState; one row per worker's claim of a data object)
        (created)     -> claimed
        claimed       -> submitted | declined      (answered / skipped: the slot is used up)
                       | returned | timedout      (the slot goes back to the pool)
                       | cancelled                 (the object is being consolidated, or the job is gone)
        submitted, declined, returned, timedout, cancelled: final
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import StrEnum
from typing import Generic, TypeVar

from gtlabel.aws import TERMINAL, JobStatus
from gtlabel.errors import IllegalTransition

__all__ = [
    "ASSIGNMENT",
    "JOB",
    "LIVE_JOB",
    "OBJECT",
    "OPEN_OBJECT",
    "AssignmentState",
    "Lifecycle",
    "ObjectState",
]


class ObjectState(StrEnum):
    PENDING = "pending"
    ACTIVE = "active"
    CONSOLIDATING = "consolidating"
    DONE = "done"
    FAILED = "failed"


class AssignmentState(StrEnum):
    CLAIMED = "claimed"
    SUBMITTED = "submitted"
    DECLINED = "declined"
    RETURNED = "returned"
    TIMEDOUT = "timedout"
    CANCELLED = "cancelled"


S = TypeVar("S", bound=StrEnum)


class Lifecycle(Generic[S]):
    """A transition table over the states ``kind`` (an enum): which states a record starts in and where each
    state may go. States with no way out are final."""

    def __init__(self, what: str, kind: type[S], initial: Iterable[S], moves: Mapping[S, Iterable[S]]) -> None:
        self.what = what
        self.kind: type[S] = kind
        self.initial: frozenset[S] = frozenset(initial)
        self.moves: dict[S, frozenset[S]] = {s: frozenset(moves.get(s, ())) for s in kind}
        self.final: frozenset[S] = frozenset(s for s, to in self.moves.items() if not to)
        self._sources: dict[S, frozenset[S]] = {
            s: frozenset(f for f, to in self.moves.items() if s in to) for s in kind}

    def allowed(self, frm: S, to: S) -> bool:
        return to in self.moves[self.kind(frm)]

    def sources(self, to: S) -> frozenset[S]:
        """The states that may move to ``to``."""
        return self._sources[self.kind(to)]

    def check(self, frm: S | str, to: S | str, *, record: str = "") -> S:
        """``to`` as the enum, or :class:`IllegalTransition` (naming ``from -> to``) when the move is not allowed."""
        src, dst = self.state(frm, record=record), self.state(to, record=record)
        if dst not in self.moves[src]:
            options = ", ".join(sorted(self.moves[src])) or f"none, {src} is final"
            raise IllegalTransition(f"{self._name(record)}: {src} -> {dst} is not allowed (from {src}: {options})",
                                    str(src), str(dst))
        return dst

    def check_initial(self, state: S | str, *, record: str = "") -> S:
        """``state`` as the enum, or :class:`IllegalTransition` when a new record may not start in it."""
        dst = self.state(state, record=record)
        if dst not in self.initial:
            raise IllegalTransition(f"{self._name(record)}: (new) -> {dst} is not allowed (a new {self.what} "
                                    f"starts as {', '.join(sorted(self.initial))})", "", str(dst))
        return dst

    def state(self, value: S | str, *, record: str = "") -> S:
        """``value`` as the enum; :class:`IllegalTransition` for a value that is none of its states."""
        try:
            return self.kind(value)
        except ValueError:
            raise IllegalTransition(f"{self._name(record)}: {value!r} is not a {self.what} state (one of: "
                                    f"{', '.join(self.kind)})", str(value), str(value)) from None

    def _name(self, record: str) -> str:
        return f"{self.what} {record}" if record else self.what


JOB: Lifecycle[JobStatus] = Lifecycle("labeling job", JobStatus, [JobStatus.INITIALIZING], {
    JobStatus.INITIALIZING: [JobStatus.IN_PROGRESS, JobStatus.STOPPING, JobStatus.FAILED],
    JobStatus.IN_PROGRESS: [JobStatus.COMPLETED, JobStatus.STOPPED, JobStatus.STOPPING, JobStatus.FAILED],
    JobStatus.STOPPING: [JobStatus.STOPPED, JobStatus.FAILED],
})

OBJECT: Lifecycle[ObjectState] = Lifecycle("data object", ObjectState, [ObjectState.PENDING, ObjectState.FAILED], {
    ObjectState.PENDING: [ObjectState.ACTIVE],
    ObjectState.ACTIVE: [ObjectState.CONSOLIDATING],
    ObjectState.CONSOLIDATING: [ObjectState.DONE, ObjectState.FAILED, ObjectState.PENDING, ObjectState.CONSOLIDATING],
})

ASSIGNMENT: Lifecycle[AssignmentState] = Lifecycle("task assignment", AssignmentState, [AssignmentState.CLAIMED], {
    AssignmentState.CLAIMED: [AssignmentState.SUBMITTED, AssignmentState.DECLINED, AssignmentState.RETURNED,
                              AssignmentState.TIMEDOUT, AssignmentState.CANCELLED],
})

LIVE_JOB: frozenset[JobStatus] = frozenset(JobStatus) - TERMINAL
"""Initializing, InProgress, Stopping: the jobs the engine advances."""
OPEN_OBJECT: frozenset[ObjectState] = frozenset({ObjectState.PENDING, ObjectState.ACTIVE})
"""Objects still waiting for workers (``PendingHuman`` of ListLabelingJobsForWorkteam)."""

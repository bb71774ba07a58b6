"""The lifecycle tables of the local service: every legal move is allowed, every other one is refused with an
error that names ``from -> to``."""

from __future__ import annotations

import itertools
import pickle
from typing import Any

import pytest

from gtlabel.aws import TERMINAL, JobStatus
from gtlabel.errors import IllegalTransition
from gtlabel.local.lifecycle import (
    ASSIGNMENT,
    JOB,
    LIVE_JOB,
    OBJECT,
    OPEN_OBJECT,
    AssignmentState,
    ObjectState,
)

J, Ob, A = JobStatus, ObjectState, AssignmentState

# written out by hand (not derived from the module): the documented lifecycles
LEGAL_JOB = {
    (J.INITIALIZING, J.IN_PROGRESS), (J.INITIALIZING, J.STOPPING), (J.INITIALIZING, J.FAILED),
    (J.IN_PROGRESS, J.COMPLETED), (J.IN_PROGRESS, J.STOPPED), (J.IN_PROGRESS, J.STOPPING), (J.IN_PROGRESS, J.FAILED),
    (J.STOPPING, J.STOPPED), (J.STOPPING, J.FAILED),
}
LEGAL_OBJECT = {
    (Ob.PENDING, Ob.ACTIVE), (Ob.ACTIVE, Ob.CONSOLIDATING),
    (Ob.CONSOLIDATING, Ob.DONE), (Ob.CONSOLIDATING, Ob.FAILED), (Ob.CONSOLIDATING, Ob.PENDING),
    (Ob.CONSOLIDATING, Ob.CONSOLIDATING),
}
LEGAL_ASSIGNMENT = {(A.CLAIMED, s) for s in (A.SUBMITTED, A.DECLINED, A.RETURNED, A.TIMEDOUT, A.CANCELLED)}

CASES: list[tuple[Any, Any, set[Any]]] = [(JOB, J, LEGAL_JOB), (OBJECT, Ob, LEGAL_OBJECT),
                                          (ASSIGNMENT, A, LEGAL_ASSIGNMENT)]
ALL_PAIRS = [(lc, frm, to, (frm, to) in legal) for lc, kind, legal in CASES
             for frm, to in itertools.product(kind, kind)]


@pytest.mark.parametrize(("lifecycle", "frm", "to", "legal"), ALL_PAIRS,
                         ids=[f"{lc.what}:{f}->{t}" for lc, f, t, _ in ALL_PAIRS])
def test_every_move_is_allowed_exactly_when_the_table_says_so(lifecycle: Any, frm: Any, to: Any, legal: bool) -> None:
    assert lifecycle.allowed(frm, to) is legal
    if legal:
        assert lifecycle.check(frm, to) is to
        assert lifecycle.check(str(frm), str(to)) is to  # the stored strings work too
        assert frm in lifecycle.sources(to)
    else:
        with pytest.raises(IllegalTransition) as err:
            lifecycle.check(frm, to, record="'job-7'")
        assert f"{frm} -> {to} is not allowed" in str(err.value)
        assert lifecycle.what in str(err.value) and "'job-7'" in str(err.value)
        assert (err.value.frm, err.value.to) == (str(frm), str(to))
        assert frm not in lifecycle.sources(to)


def test_the_message_lists_where_a_state_may_go() -> None:
    with pytest.raises(IllegalTransition, match=r"Stopping -> Completed is not allowed \(from Stopping: Failed, Stopped\)"):
        JOB.check(J.STOPPING, J.COMPLETED)
    with pytest.raises(IllegalTransition, match=r"done -> active is not allowed \(from done: none, done is final\)"):
        OBJECT.check("done", "active")


def test_initial_states() -> None:
    assert JOB.check_initial("Initializing") is J.INITIALIZING
    assert {OBJECT.check_initial(s) for s in ("pending", "failed")} == {Ob.PENDING, Ob.FAILED}
    assert ASSIGNMENT.check_initial("claimed") is A.CLAIMED
    for lc, bad in ((JOB, J.IN_PROGRESS), (OBJECT, Ob.DONE), (OBJECT, Ob.ACTIVE), (ASSIGNMENT, A.SUBMITTED)):
        with pytest.raises(IllegalTransition, match=rf"\(new\) -> {bad} is not allowed"):
            lc.check_initial(bad)


def test_an_unknown_state_is_refused_by_name() -> None:
    with pytest.raises(IllegalTransition, match=r"'Paused' is not a labeling job state \(one of: Initializing"):
        JOB.check("InProgress", "Paused")
    with pytest.raises(IllegalTransition, match="'half-done' is not a data object state"):
        OBJECT.state("half-done")


def test_final_and_live_sets() -> None:
    assert JOB.final == TERMINAL  # the table agrees with gtlabel.aws, the one definition of final statuses
    assert {J.INITIALIZING, J.IN_PROGRESS, J.STOPPING} == LIVE_JOB
    assert OBJECT.final == {Ob.DONE, Ob.FAILED}
    assert ASSIGNMENT.final == {A.SUBMITTED, A.DECLINED, A.RETURNED, A.TIMEDOUT, A.CANCELLED}
    assert {Ob.PENDING, Ob.ACTIVE} == OPEN_OBJECT
    assert "Completed" in TERMINAL and J.STOPPED == "Stopped"  # the enums are the stored/wire strings


def test_the_error_survives_pickling() -> None:
    with pytest.raises(IllegalTransition) as err:
        ASSIGNMENT.check(A.SUBMITTED, A.CLAIMED)
    copy = pickle.loads(pickle.dumps(err.value))
    assert str(copy) == str(err.value) and (copy.frm, copy.to) == ("submitted", "claimed")

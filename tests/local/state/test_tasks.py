"""The tasks repository (data objects and assignments) against a real SQLite file: claims move the slot
counters, and a state write that the lifecycle forbids fails the whole transaction, naming from -> to."""

from __future__ import annotations

import pytest
from state_helpers import add_job

from gtlabel.errors import IllegalTransition
from gtlabel.local.lifecycle import AssignmentState, ObjectState
from gtlabel.local.state import State
from gtlabel.local.state.records import NewObject, ObjectOutcome

Ob, A = ObjectState, AssignmentState


def _objects(n: int, *, failed: tuple[int, ...] = ()) -> list[NewObject]:
    return [NewObject(idx=i, line=f'{{"source-ref": "s3://b/{i}.jpg"}}', task_input='{"taskObject": "x"}',
                      human_required=True, state=Ob.FAILED if i in failed else Ob.PENDING,
                      result='{"failed": true}' if i in failed else None, failure="gone" if i in failed else None,
                      finished=1.0 if i in failed else None) for i in range(n)]


@pytest.fixture()
def job(state: State) -> str:
    name = add_job(state)
    state.tasks.replace_all(name, _objects(4, failed=(3,)))
    return name


def test_objects_as_created(state: State, job: str) -> None:
    tasks = state.tasks
    o = tasks.get(job, 0)
    assert o is not None and (o.state, o.n_taken, o.iteration, o.human_required) == (Ob.PENDING, 0, None, True)
    assert tasks.get(job, 9) is None
    assert tasks.count(job, (Ob.PENDING,)) == 3 and tasks.count(job, (Ob.FAILED,)) == 1
    assert tasks.counts(job) == {(Ob.PENDING, False): 3, (Ob.FAILED, False): 1}
    assert tasks.pending_idxs(job, 2) == [0, 1] and tasks.pending_idxs(job, -1) == []
    # initialization re-run after a crash replaces them; a new object may only start pending or failed
    tasks.replace_all(job, _objects(2))
    assert tasks.count(job, list(ObjectState)) == 2
    with pytest.raises(IllegalTransition, match=r"data object Job-1/0: \(new\) -> active is not allowed"):
        tasks.replace_all(job, [NewObject(0, "{}", None, True, Ob.ACTIVE)])
    assert tasks.count(job, list(ObjectState)) == 2  # nothing was replaced


def test_release_is_pending_to_active_only(state: State, job: str) -> None:
    tasks = state.tasks
    tasks.release(job, [0, 1], iteration=1, now=50.0)
    o = tasks.get(job, 1)
    assert o is not None and (o.state, o.iteration, o.released) == (Ob.ACTIVE, 1, 50.0)
    with pytest.raises(IllegalTransition, match=r"data object Job-1/1: active -> active is not allowed"):
        tasks.release(job, [2, 1], iteration=2, now=60.0)
    assert tasks.get(job, 2).state is Ob.PENDING  # type: ignore[union-attr]  # the whole move was undone
    with pytest.raises(IllegalTransition, match="failed -> active"):
        tasks.release(job, [3], iteration=2, now=60.0)
    assert [o.idx for o in tasks.live(job)] == [0, 1]


def test_claims_move_the_slot_counters(state: State, job: str) -> None:
    tasks = state.tasks
    tasks.release(job, [0, 1, 2], iteration=1, now=10.0)
    assert tasks.next_for(job, "w1", workers=2) == 0 and tasks.available_to(job, "w1", workers=2) == 3
    a = tasks.claim("t1", job, 0, "w1", now=11.0)
    assert (a.state, a.claimed) == (A.CLAIMED, 11.0) and tasks.get(job, 0).n_taken == 1  # type: ignore[union-attr]
    assert tasks.open_claim(job, "w1") == a and tasks.assignment("t1") == a and tasks.assignment("t9") is None
    assert tasks.next_for(job, "w1", workers=2) == 1  # a worker never gets the same object twice
    assert tasks.available_to(job, "w1", workers=2) == 2
    tasks.claim("t2", job, 0, "w2", now=12.0)
    assert tasks.next_for(job, "w3", workers=2) == 1  # object 0's two slots are taken
    tasks.submit(a, answer='{"boxes": []}', now=13.0)
    got = tasks.assignment("t1")
    assert got is not None and (got.state, got.submitted, got.answer) == (A.SUBMITTED, 13.0, '{"boxes": []}')
    assert tasks.get(job, 0).n_submitted == 1 and tasks.open_claim(job, "w1") is None  # type: ignore[union-attr]
    with pytest.raises(IllegalTransition, match=r"task assignment 't1': submitted -> submitted is not allowed"):
        tasks.submit(a, answer="{}", now=14.0)
    b = tasks.assignment("t2")
    assert b is not None
    tasks.release_claim(b, A.RETURNED)
    o = tasks.get(job, 0)
    assert o is not None and (o.n_taken, o.n_submitted) == (1, 1)
    with pytest.raises(IllegalTransition, match="returned -> timedout"):
        tasks.release_claim(b, A.TIMEDOUT)
    assert tasks.get(job, 0).n_taken == 1  # type: ignore[union-attr]  # the refused move changed no counter
    c = tasks.claim("t3", job, 1, "w1", now=15.0)
    tasks.decline(c, now=16.0)
    o = tasks.get(job, 1)
    assert o is not None and (o.n_taken, o.n_declined) == (1, 1)
    assert tasks.submitted(job, [0, 1]) == [tasks.assignment("t1")]


def test_late_claims_time_out_and_open_ones_are_cancelled(state: State, job: str) -> None:
    tasks = state.tasks
    tasks.release(job, [0, 1], iteration=1, now=10.0)
    tasks.claim("old", job, 0, "w1", now=10.0)
    tasks.claim("new", job, 1, "w1", now=100.0)
    tasks.claim("other", job, 0, "w2", now=100.0)
    assert tasks.time_out_claims(job, claimed_before=50.0) == 1
    assert tasks.assignment("old").state is A.TIMEDOUT  # type: ignore[union-attr]
    assert tasks.get(job, 0).n_taken == 1  # type: ignore[union-attr]
    tasks.cancel_claims(job, idx=1)
    assert tasks.assignment("new").state is A.CANCELLED  # type: ignore[union-attr]
    assert tasks.assignment("other").state is A.CLAIMED  # type: ignore[union-attr]
    tasks.cancel_claims(job)
    assert tasks.assignment("other").state is A.CANCELLED  # type: ignore[union-attr]
    assert tasks.assignment("old").state is A.TIMEDOUT  # type: ignore[union-attr]  # only claims are cancelled


def test_consolidation_moves(state: State, job: str) -> None:
    tasks = state.tasks
    tasks.release(job, [0, 1, 2], iteration=1, now=10.0)
    tasks.claim("t1", job, 0, "w1", now=11.0)
    assert [o.idx for o in tasks.ready(job, workers=1, lifetime=100.0, now=20.0)] == []
    tasks.submit(tasks.assignment("t1"), answer="{}", now=12.0)  # type: ignore[arg-type]
    assert [o.idx for o in tasks.ready(job, workers=1, lifetime=100.0, now=20.0)] == [0]  # slots used
    assert [o.idx for o in tasks.ready(job, workers=1, lifetime=5.0, now=20.0)] == [0, 1, 2]  # lifetime over
    tasks.claim("t2", job, 1, "w1", now=13.0)
    tasks.begin_consolidation(job, [0, 1, 2])
    assert tasks.assignment("t2").state is A.CANCELLED  # type: ignore[union-attr]
    assert tasks.count(job, (Ob.CONSOLIDATING,)) == 3
    tasks.begin_consolidation(job, [0])  # a re-run after a crash
    assert [o.idx for o in tasks.ready(job, workers=9, lifetime=1e9, now=20.0)] == [0, 1, 2]
    tasks.finish(job, [ObjectOutcome(0, Ob.DONE, '{"labeled": 0}', None, 30.0, True),
                       ObjectOutcome(1, Ob.FAILED, '{"failed": 1}', "expired", 30.0),
                       ObjectOutcome(2, Ob.PENDING)])
    assert tasks.counts(job) == {(Ob.DONE, True): 1, (Ob.FAILED, False): 2, (Ob.PENDING, False): 1}
    assert [(r, s) for _, r, s in tasks.output_rows(job)] == [
        ('{"labeled": 0}', Ob.DONE), ('{"failed": 1}', Ob.FAILED), (None, Ob.PENDING), ('{"failed": true}', Ob.FAILED)]
    with pytest.raises(IllegalTransition, match=r"data object Job-1/0: done -> consolidating is not allowed"):
        tasks.begin_consolidation(job, [0])
    assert tasks.get(job, 2).state is Ob.PENDING  # type: ignore[union-attr]
    with pytest.raises(IllegalTransition, match="pending -> done"):
        tasks.finish(job, [ObjectOutcome(2, Ob.DONE, "{}", None, 40.0, True)])


def test_what_is_left_for_a_worker(state: State, job: str) -> None:
    tasks = state.tasks
    assert tasks.any_left_for(job, "w1")  # objects not released yet
    tasks.release(job, [0, 1, 2], iteration=1, now=10.0)
    for i in range(3):
        tasks.decline(tasks.claim(f"t{i}", job, i, "w1", now=11.0), now=12.0)
    assert not tasks.any_left_for(job, "w1") and tasks.any_left_for(job, "w2")


def test_timing_out_no_claim_takes_no_write_lock(state: State, job: str) -> None:
    """The engine asks at every tick; when no claim is late it only reads, so it never waits behind (or holds
    up) the writers of answers."""
    import threading

    tasks = state.tasks
    tasks.release(job, [0, 1], iteration=1, now=10.0)
    tasks.claim("fresh", job, 0, "w1", now=100.0)
    done: list[int] = []
    with state.tx():  # another writer holds the write lock meanwhile
        t = threading.Thread(target=lambda: done.append(tasks.time_out_claims(job, claimed_before=50.0)))
        t.start()
        t.join(timeout=5)
        assert done == [0]
    assert tasks.assignment("fresh").state is A.CLAIMED  # type: ignore[union-attr]
    assert tasks.time_out_claims(job, claimed_before=150.0) == 1  # a late one is still timed out
    assert tasks.assignment("fresh").state is A.TIMEDOUT  # type: ignore[union-attr]

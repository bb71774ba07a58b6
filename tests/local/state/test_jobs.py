"""The jobs repository against a real SQLite file: the stored request comes back typed, and every status write
follows the job lifecycle."""

from __future__ import annotations

import pytest
from state_helpers import add_job, request

from gtlabel.errors import IllegalTransition
from gtlabel.local.lifecycle import JobStatus
from gtlabel.local.state import State
from gtlabel.local.state.records import JobRequest

J = JobStatus


def test_a_new_job_and_its_typed_request(state: State) -> None:
    add_job(state, "Job-1", workers=3, MaxConcurrentTaskCount=50, TaskAvailabilityLifetimeInSeconds=600)
    job = state.jobs.get("job-1")  # names are unique case-insensitively
    assert job is not None and job.name == "Job-1" and job.status is J.INITIALIZING
    assert (job.created, job.modified, job.iteration, job.n_objects, job.labels, job.template) == (
        100.0, 100.0, 0, 0, [], None)
    req = job.request
    assert (req.name, req.label_attribute, req.manifest_uri, req.output_path) == (
        "Job-1", "boxes", "s3://b/in.manifest", "s3://b/out/")
    assert (req.workers_per_object, req.task_time_limit, req.availability_lifetime, req.max_concurrent) == (
        3, 300.0, 600.0, 50)
    assert (req.max_human_labeled, req.max_percent_labeled, req.title) == (7, None, "Boxes")
    assert req.pre_lambda is not None and req.pre_lambda.endswith(":function:PRE-BoundingBox")
    assert req.acs_lambda is not None and req.acs_lambda.endswith(":function:ACS-BoundingBox")
    assert req.template_uri == "s3://b/template.liquid.html" and req.label_category_uri == "s3://b/labels.json"
    assert req.raw["HumanTaskConfig"]["TaskTitle"] == "Boxes"  # the request as accepted, for DescribeLabelingJob
    assert state.jobs.exists("JOB-1") and not state.jobs.exists("job-2") and state.jobs.get("job-2") is None


def test_the_stored_request_is_parsed_once_per_text() -> None:
    text = request("x").to_json()
    assert JobRequest.from_json(text) is JobRequest.from_json(text)
    assert JobRequest.from_json(text) == request("x")


def test_status_moves_follow_the_lifecycle(state: State) -> None:
    jobs = state.jobs
    add_job(state)
    assert jobs.set_status("Job-1", J.IN_PROGRESS, now=110.0) is J.INITIALIZING
    jobs.set_status("Job-1", J.STOPPING, now=120.0)
    with pytest.raises(IllegalTransition, match=r"labeling job 'Job-1': Stopping -> Completed is not allowed"):
        jobs.set_status("Job-1", J.COMPLETED, now=130.0, output_uri="s3://b/never")
    job = jobs.get("Job-1")
    assert job is not None and (job.status, job.modified, job.output_uri) == (J.STOPPING, 120.0, None)
    jobs.set_status("Job-1", J.FAILED, now=140.0, reason="ClientError: gone", output_uri="s3://b/out.manifest")
    jobs_after = jobs.get("Job-1")
    assert jobs_after is not None
    assert (jobs_after.status, jobs_after.failure_reason, jobs_after.output_uri) == (
        J.FAILED, "ClientError: gone", "s3://b/out.manifest")
    for to in JobStatus:  # Failed is final
        with pytest.raises(IllegalTransition, match="Failed -> "):
            jobs.set_status("Job-1", to, now=150.0)


def test_a_refused_move_inside_a_transaction_undoes_it_all(state: State) -> None:
    add_job(state)
    with pytest.raises(IllegalTransition), state.tx():
        state.jobs.set_iteration("Job-1", 4, now=200.0)
        state.jobs.set_status("Job-1", J.COMPLETED, now=200.0)  # Initializing -> Completed
    job = state.jobs.get("Job-1")
    assert job is not None and (job.iteration, job.modified, job.status) == (0, 100.0, J.INITIALIZING)


def test_initialized_moves_to_in_progress_unless_stopped_meanwhile(state: State) -> None:
    add_job(state, "a")
    add_job(state, "b")
    state.jobs.set_status("b", J.STOPPING, now=101.0)
    for name in ("a", "b"):
        state.jobs.initialized(name, now=105.0, labels=["car", "person"], template="<p>{{ task.input }}</p>",
                               n_objects=12)
    a, b = state.jobs.get("a"), state.jobs.get("b")
    assert a is not None and b is not None
    assert (a.status, b.status) == (J.IN_PROGRESS, J.STOPPING)
    assert (a.labels, a.template, a.n_objects, a.modified) == (["car", "person"], "<p>{{ task.input }}</p>", 12, 105.0)


def test_queries(state: State) -> None:
    jobs = state.jobs
    add_job(state, "old", now=1.0)
    add_job(state, "mid", now=2.0, team="night")
    add_job(state, "new", now=3.0)
    jobs.set_status("old", J.FAILED, now=4.0)
    assert jobs.live() == [("mid", J.INITIALIZING), ("new", J.INITIALIZING)]
    assert jobs.status("MID") is J.INITIALIZING and jobs.status("none") is None
    assert [j.name for j in jobs.for_teams(["default", "night"])] == ["new", "mid", "old"]
    assert [j.name for j in jobs.for_teams(["night"])] == ["mid"] and jobs.for_teams([]) == []
    assert sorted(j.name for j in jobs.for_workteam(request().workteam_arn)) == ["mid", "new", "old"]
    assert sorted(j.name for j in jobs.all()) == ["mid", "new", "old"]
    assert jobs.live_in_team("night") == "mid" and jobs.live_in_team("nobody") is None
    jobs.set_status("mid", J.FAILED, now=5.0)
    assert jobs.live_in_team("night") is None
    jobs.set_iteration("new", 2, now=6.0)
    jobs.touch("new", now=7.0)
    new = jobs.get("new")
    assert new is not None and (new.iteration, new.modified) == (2, 7.0)

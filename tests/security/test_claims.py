"""Task claims happen on POST only (with the CSRF token): a link, an <img> or a cross-site navigation to a GET
URL takes no slot of the worker's."""

from __future__ import annotations

from typing import Any

from localsvc_helpers import Worker, job_request, put_inputs

from gtlabel.local.lifecycle import ObjectState


def _claims(svc: Any, job: str = "claims") -> int:
    """The job's slots taken by a claim (each claim takes one of its object's slots)."""
    return sum(o.n_taken for o in svc.backend.state.tasks.in_states(job, set(ObjectState)))


def test_gets_claim_nothing(clocked: Any, s3: Any, bucket: str) -> None:
    uris = put_inputs(s3, bucket, 2)
    clocked.client("sagemaker").create_labeling_job(**job_request("claims", uris, clocked.default_workteam_arn))
    clocked.engine.tick()
    clocked.add_worker("default", "ann", "pw-ann-12345")
    ann = Worker(clocked.portal_url, "ann", "pw-ann-12345")
    base = clocked.portal_url.rstrip("/")
    r = ann.http.get(f"{base}/jobs/claims/next", allow_redirects=False, timeout=10)
    assert r.status_code == 200 and 'method="post"' in r.text  # on main: 303 to a task it had just claimed
    r = ann.http.get(f"{base}/api/next-task", params={"job": "claims"}, timeout=10)
    assert r.status_code == 405
    assert _claims(clocked) == 0
    # a POST without the CSRF token claims nothing either
    assert ann.http.post(f"{base}/api/next-task", params={"job": "claims"}, timeout=10).status_code == 403
    assert ann.http.post(f"{base}/jobs/claims/next", allow_redirects=False, timeout=10).status_code == 403
    assert _claims(clocked) == 0
    r = ann.http.post(f"{base}/jobs/claims/next", headers={"X-CSRF-Token": ann.csrf, "Accept": "application/json"},
                      timeout=10)
    assert r.status_code == 200 and r.json()["next"].startswith("/tasks/") and _claims(clocked) == 1
    assert ann.next_task("claims")["task_id"] == r.json()["next"].rsplit("/", 1)[1]  # the same claim
    assert _claims(clocked) == 1

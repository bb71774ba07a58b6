"""Portal accounts on a running service: one generated password per account, and a worker taken out of a team
stops at once (sessions ended, claims returned, every claim and answer checks membership)."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

from localsvc_helpers import Worker, job_request, put_inputs
from typer.testing import CliRunner

from gtlabel.cli import app
from gtlabel.local.lifecycle import AssignmentState
from gtlabel.local.portal import SESSION_COOKIE

BOX = {"label": "drone", "left": 1, "top": 2, "width": 3, "height": 4}


def test_add_gives_each_account_its_own_password_in_a_private_file(clocked: Any, tmp_path: Path) -> None:
    out = tmp_path / "logins.json"
    r = CliRunner().invoke(app, ["workers", "add", "--data-dir", str(clocked.data_dir), "--workers", "3",
                                 "--prefix", "crew", "--out", str(out), "solo"])
    assert r.exit_code == 0, r.output
    logins = dict(json.loads(out.read_text())["workers"])
    assert sorted(logins) == ["crew-1", "crew-2", "crew-3", "solo"] and len(set(logins.values())) == 4
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert not any(pw in r.output for pw in logins.values())  # never printed
    assert Worker(clocked.portal_url, "crew-2", logins["crew-2"]).login_status == 303
    listed = CliRunner().invoke(app, ["workers", "list", "--data-dir", str(clocked.data_dir), "--json"])
    assert {w["username"]: w["teams"] for w in json.loads(listed.stdout)}["solo"] == ["default"]


def test_a_removed_worker_stops_at_once(clocked: Any, s3: Any, bucket: str) -> None:
    uris = put_inputs(s3, bucket, 2)
    clocked.client("sagemaker").create_labeling_job(**job_request("team-job", uris, clocked.default_workteam_arn))
    clocked.engine.tick()
    clocked.add_worker("default", "eve", "pw-eve-12345")
    eve = Worker(clocked.portal_url, "eve", "pw-eve-12345")
    task = eve.next_task("team-job")
    old_session = eve.http.cookies.get(SESSION_COOKIE)
    assert clocked.backend.session(old_session) is not None
    r = CliRunner().invoke(app, ["workers", "remove", "--data-dir", str(clocked.data_dir), "eve"])
    assert r.exit_code == 0 and "removed from team default" in r.output, r.output
    # on main: the session and the claim live on for 12 hours
    assert eve.submit(task, [BOX]).status_code == 401  # the session is gone
    again = Worker(clocked.portal_url, "eve", "pw-eve-12345")  # the account still exists
    assert again.login_status == 303
    assert again.post("/api/next-task?job=team-job", {}).status_code == 404
    assert again.submit(task, [BOX]).status_code == 404  # membership is checked at every answer
    assert again.http.get(f"{again.base}/tasks/{task['task_id']}", timeout=10).status_code == 404
    assert clocked.backend.state.tasks.assignment(task["task_id"]).state == AssignmentState.RETURNED
    # the old session is gone from the state, the new one is there
    assert clocked.backend.session(old_session) is None
    assert clocked.backend.session(again.http.cookies.get(SESSION_COOKIE)) is not None
    missing = CliRunner().invoke(app, ["workers", "remove", "--data-dir", str(clocked.data_dir), "nobody"])
    assert missing.exit_code != 0 and "nobody" in missing.output


def test_workers_remove_from_another_process_is_refused_at_the_next_request(clocked: Any, s3: Any,
                                                                            bucket: str) -> None:
    """The service keeps the sessions it has read as the event loop's first guess (no SQL on the loop); a
    `gtlabel workers remove` run as a process of its own must still be refused at the worker's very next request:
    the session is read again from the database in every request's worker-thread hop."""
    uris = put_inputs(s3, bucket, 3)
    clocked.client("sagemaker").create_labeling_job(**job_request("team-job", uris, clocked.default_workteam_arn,
                                                                  workers=2))
    clocked.engine.tick()
    clocked.add_worker("default", "eve", "pw-eve-12345")
    clocked.add_worker("default", "bob", "pw-bob-12345")
    eve, bob = Worker(clocked.portal_url, "eve", "pw-eve-12345"), Worker(clocked.portal_url, "bob", "pw-bob-12345")
    task = eve.next_task("team-job")
    assert eve.post("/api/next-task?job=team-job", {}).json()["task_id"] == task["task_id"]  # known to the service
    r = subprocess.run([sys.executable, "-m", "gtlabel", "workers", "remove", "--data-dir", str(clocked.data_dir),
                        "eve"], capture_output=True, text=True, timeout=120, check=False)
    assert r.returncode == 0 and "removed from team default" in r.stdout, r.stdout + r.stderr
    assert eve.submit(task, [BOX]).status_code == 401
    assert eve.post("/api/next-task?job=team-job", {}).status_code == 401
    assert eve.post(f"/tasks/{task['task_id']}/return", {}).status_code == 401
    assert eve.http.get(f"{eve.base}/api/me", timeout=10).status_code == 401
    home = eve.http.get(f"{eve.base}/", allow_redirects=False, timeout=10)
    assert home.status_code == 303 and home.headers["location"] == "/login"
    assert clocked.backend.state.tasks.assignment(task["task_id"]).state == AssignmentState.RETURNED
    # another worker's session is untouched
    assert bob.next_task("team-job")["task_id"]
    assert bob.submit(bob.next_task("team-job"), [BOX]).status_code == 200

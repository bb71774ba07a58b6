"""The worker portal: login, sessions, CSRF, team isolation, the rendered task page, escaping, path tricks."""

from __future__ import annotations

import json
import re
from typing import Any

import requests
from localsvc_helpers import Worker, job_request, put_inputs

MEMBERS = [{"CognitoMemberDefinition": {"UserPool": "us-east-1_gtlabel", "UserGroup": "g", "ClientId": "c"}}]
BOX = {"label": "drone", "left": 1, "top": 2, "width": 3, "height": 4}


def _setup(svc: Any, s3: Any, bucket: str, **kw: Any) -> dict[str, str]:
    uris = put_inputs(s3, bucket, 2, **kw)
    svc.client("sagemaker").create_labeling_job(**job_request("portal-job", uris, svc.default_workteam_arn))
    svc.engine.tick()
    return uris


def test_login_logout_and_csrf(clocked: Any, s3: Any, bucket: str) -> None:
    _setup(clocked, s3, bucket)
    clocked.add_worker("default", "ann", "correct horse")
    base = clocked.portal_url.rstrip("/")
    anon = requests.Session()
    r = anon.get(base + "/", allow_redirects=False, timeout=10)
    assert r.status_code == 303 and r.headers["location"] == "/login"
    assert anon.post(base + "/api/next-task", params={"job": "portal-job"}, timeout=10).status_code == 401
    # login needs the form's CSRF token (double submit)
    r = anon.post(base + "/login", data={"username": "ann", "password": "correct horse"}, allow_redirects=False,
                  timeout=10)
    assert r.status_code == 403 and "gtlabel_session" not in r.cookies
    bad = Worker(clocked.portal_url, "ann", "wrong")
    assert bad.login_status == 401 and bad.csrf == ""
    nobody = Worker(clocked.portal_url, "nobody", "x")
    assert nobody.login_status == 401

    ann = Worker(clocked.portal_url, "ann", "correct horse")
    assert ann.login_status == 303 and ann.csrf
    home = ann.http.get(base + "/", timeout=10)
    assert home.status_code == 200 and "portal-job" in home.text and "Drone boxes" in home.text
    task = ann.next_task("portal-job")
    # submit without / with a wrong CSRF token is refused and stores nothing
    r = ann.http.post(base + task["submit_url"], json={"boundingBox": {"boundingBoxes": []}}, timeout=10)
    assert r.status_code == 403 and r.json()["error"]
    r = ann.post(task["submit_url"], {"boundingBox": {"boundingBoxes": []}}, csrf="forged")
    assert r.status_code == 403
    assert clocked.backend.state.tasks.assignment(task["task_id"]).state == "claimed"  # nothing stored
    assert ann.post(task["submit_url"], [1, 2]).status_code == 400  # not a JSON object
    assert ann.submit(task, [BOX]).status_code == 200
    # logout needs CSRF too, then the session is gone
    assert ann.http.post(base + "/logout", data={}, allow_redirects=False, timeout=10).status_code == 403
    r = ann.http.post(base + "/logout", data={"csrf_token": ann.csrf}, allow_redirects=False, timeout=10)
    assert r.status_code == 303
    assert ann.http.post(base + "/api/next-task", params={"job": "portal-job"}, timeout=10).status_code == 401
    stored = clocked.backend.state.workers.by_username("ann").pw_hash
    assert stored.startswith("scrypt$") and "correct horse" not in stored


def test_team_isolation_and_foreign_task_ids(clocked: Any, s3: Any, bucket: str) -> None:
    uris = _setup(clocked, s3, bucket)
    sm = clocked.client("sagemaker")
    team_b = sm.create_workteam(WorkteamName="team-b", Description="b", MemberDefinitions=MEMBERS)["WorkteamArn"]
    sm.create_labeling_job(**job_request("b-job", uris, team_b))
    clocked.engine.tick()
    clocked.add_worker("default", "ann", "pw-ann-1")
    clocked.add_worker("default", "bea", "pw-bea-1")
    clocked.add_worker("team-b", "bob", "pw-bob-1")
    ann, bea, bob = (Worker(clocked.portal_url, u, p) for u, p in
                     (("ann", "pw-ann-1"), ("bea", "pw-bea-1"), ("bob", "pw-bob-1")))
    base = clocked.portal_url.rstrip("/")

    # bob (team B) cannot see or take team A's job, and the reply does not reveal that it exists
    assert [j["name"] for j in bob.http.get(base + "/api/me", timeout=10).json()["jobs"]] == ["b-job"]
    r = bob.post("/api/next-task?job=portal-job", {})
    assert r.status_code == 404
    assert r.json()["error"] == bob.post("/api/next-task?job=no-such-job", {}).json()["error"].replace(
        "no-such-job", "portal-job")
    assert bob.http.get(base + "/jobs/portal-job/next", allow_redirects=False, timeout=10).status_code == 404
    assert "portal-job" not in bob.http.get(base + "/", timeout=10).text
    assert ann.post("/api/next-task?job=b-job", {}).status_code == 404

    # another worker's task id: not found, whatever the verb
    task = ann.next_task("portal-job")
    tid = task["task_id"]
    assert bea.http.get(f"{base}/tasks/{tid}", timeout=10).status_code == 404
    for action in ("submit", "decline", "return"):
        r = bea.post(f"/tasks/{tid}/{action}", {"boundingBox": {"boundingBoxes": [BOX]}})
        assert r.status_code == 404, action
    assert bob.post(f"/tasks/{tid}/submit", {"x": 1}).status_code == 404
    assert clocked.backend.state.tasks.assignment(tid).state == "claimed"
    # path tricks in the task id
    for bad in ("..%2F..%2Fetc%2Fpasswd", "%00", "' OR 1=1 --"):
        assert ann.http.get(f"{base}/tasks/{bad}", timeout=10).status_code == 404
    assert requests.get(base + "/static/..%2Fserver.py", timeout=10).status_code == 404
    assert requests.get(base + "/static/../server.py", timeout=10).status_code == 404


def test_task_page_renders_job_template_escaped(clocked: Any, s3: Any, bucket: str) -> None:
    evil_label = '<img src=x onerror="alert(1)">'
    uris = put_inputs(s3, bucket, 1, labels=["drone", evil_label])
    # a source-ref with path tricks and markup in the key
    s3.put_object(Bucket=bucket, Key='job/images/../"><script>alert(2)</script>.png', Body=b"x")
    s3.put_object(Bucket=bucket, Key="job/input.manifest", Body=(json.dumps(
        {"source-ref": f's3://{bucket}/job/images/../"><script>alert(2)</script>.png'}) + "\n").encode())
    req = job_request("evil-job", uris, clocked.default_workteam_arn)
    req["HumanTaskConfig"]["TaskDescription"] = "<script>alert('description')</script>"
    clocked.client("sagemaker").create_labeling_job(**req)
    clocked.engine.tick()
    clocked.add_worker("default", "ann", "pw-ann-1")
    ann = Worker(clocked.portal_url, "ann", "pw-ann-1")
    base = clocked.portal_url.rstrip("/")
    # the browser flow: "Start working" (form POST with CSRF) -> 303 to the task page
    r = ann.http.post(f"{base}/jobs/evil-job/start", data={"csrf_token": ann.csrf}, allow_redirects=False, timeout=10)
    assert r.status_code == 303 and r.headers["location"].startswith("/tasks/")
    tid = r.headers["location"].rsplit("/", 1)[1]
    page = ann.http.get(base + r.headers["location"], timeout=10)
    html = page.text
    assert page.status_code == 200
    assert f'<meta name="csrf-token" content="{ann.csrf}">' in html
    assert f'<meta name="gtlabel-submit" content="/tasks/{tid}/submit">' in html
    assert f'<meta name="gtlabel-decline" content="/tasks/{tid}/decline">' in html
    assert '<script src="/static/crowd-html-elements.js"></script>' in html and 'src="https://assets.crowd.aws' not in html
    assert "<crowd-bounding-box" in html and 'name="boundingBox"' in html
    # nothing the requester or the data controls becomes markup
    assert "<img src=x" not in html and "alert(2)</script>" not in html and "<script>alert('description')" not in html
    assert "&lt;script&gt;alert(&#39;description&#39;)&lt;/script&gt;" in html
    labels = re.search(r'labels="([^"]*)"', html)
    assert labels and "&lt;img src=x onerror=\\&#34;alert(1)\\&#34;&gt;" in labels.group(1)
    src = re.search(r'src="([^"]*)"\s+header=', html)
    assert src and src.group(1).startswith(f"{clocked.s3_endpoint}/{bucket}/job/images/")
    assert "%22%3E%3Cscript%3E" in src.group(1)  # the key stays URL-encoded inside the S3 endpoint
    csp = page.headers["content-security-policy"]
    assert "default-src 'self'" in csp and clocked.s3_endpoint in csp and "frame-ancestors 'none'" in csp
    # grant_read_access only presigns s3:// URIs of this endpoint
    from gtlabel.local.liquid_env import make_environment, render_template

    env = make_environment(lambda uri: "PRESIGNED:" + uri)
    for value in ("javascript:alert(1)", "http://evil.example/x.png", "s3://", "/etc/passwd"):
        assert render_template(env, "{{ u | grant_read_access }}", {}) == ""
        assert render_template(env, "[{{ task.input.u | grant_read_access }}]", {"u": value}) == "[]"
    assert render_template(env, "{{ task.input | to_json | skip_autoescape }}", {"a": "<b>"}) == '{"a": "<b>"}'


def test_decline_and_return_form_posts_redirect(clocked: Any, s3: Any, bucket: str) -> None:
    _setup(clocked, s3, bucket)
    clocked.add_worker("default", "ann", "pw-ann-1")
    ann = Worker(clocked.portal_url, "ann", "pw-ann-1")
    base = clocked.portal_url.rstrip("/")
    t = ann.next_task("portal-job")
    r = ann.http.post(f"{base}{t['return_url']}", data={"csrf_token": ann.csrf}, allow_redirects=False, timeout=10)
    assert r.status_code == 303 and r.headers["location"] == "/"
    r = ann.http.get(f"{base}/tasks/{t['task_id']}", timeout=10)
    assert r.status_code == 409  # a returned task is closed
    t2 = ann.next_task("portal-job")
    r = ann.http.post(f"{base}{t2['decline_url']}", data={"csrf_token": ann.csrf}, allow_redirects=False, timeout=10)
    assert r.status_code == 303 and r.headers["location"] == "/jobs/portal-job/next"
    page = ann.http.get(base + r.headers["location"], allow_redirects=False, timeout=10)
    assert page.status_code == 200 and 'action="/jobs/portal-job/start"' in page.text  # a GET claims nothing
    r = ann.http.post(base + r.headers["location"], data={"csrf_token": ann.csrf}, allow_redirects=False, timeout=10)
    assert r.status_code == 303 and r.headers["location"].startswith("/tasks/")

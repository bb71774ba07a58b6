"""`gtlabel serve` on a shared machine or a network: private files, no secrets in logs or argv, clear errors,
no framing, Secure cookies behind https, bounded templates."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import requests
from localsvc_helpers import Worker, job_request, put_inputs

from gtlabel.errors import ConfigError


def _mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


def test_serve_keeps_its_files_private_and_secrets_out_of_logs_and_argv(tmp_path: Path) -> None:
    data_dir, log = tmp_path / "state", tmp_path / "serve.log"
    logins = tmp_path / "workers.json"
    logins.write_text(json.dumps({"workers": [["ann", "pw-ann-secret-1"], ["bob", "pw-bob-secret-2"]]}))
    logins.chmod(0o600)
    exe = Path(sys.executable).with_name("gtlabel")
    with log.open("wb") as out:
        proc = subprocess.Popen([str(exe), "serve", "--data-dir", str(data_dir), "--worker-file", str(logins)],
                                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 90
        while not (data_dir / "endpoints.json").exists():
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        cmdline = Path(f"/proc/{proc.pid}/cmdline").read_bytes()
        env = json.loads((data_dir / "endpoints.json").read_text())["env"]
        text = log.read_text()
        assert "export " not in text and env["AWS_SECRET_ACCESS_KEY"] not in text  # on main: pasted into the log
        assert "endpoints.json (readable by you only" in text
        assert b"pw-ann-secret-1" not in cmdline
        assert _mode(data_dir) == 0o700  # on main: 0755 / 0644 by the umask
        for name in ("gtlabel.sqlite3", "gtlabel.sqlite3-wal", "endpoints.json", "credentials.json"):
            assert _mode(data_dir / name) == 0o600, name
        r = requests.post(f"{env['AWS_ENDPOINT_URL_SAGEMAKER']}/login", timeout=10)  # the accounts exist
        assert r.status_code == 403
    finally:
        proc.terminate()
        proc.wait(30)


def test_a_worker_file_others_can_read_is_refused(tmp_path: Path) -> None:
    logins = tmp_path / "workers.json"
    logins.write_text(json.dumps({"workers": [["ann", "pw-ann-secret-1"]]}))
    logins.chmod(0o644)
    exe = Path(sys.executable).with_name("gtlabel")
    r = subprocess.run([str(exe), "serve", "--data-dir", str(tmp_path / "d"), "--worker-file", str(logins)],
                       capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert r.returncode != 0 and "chmod 600" in r.stdout + r.stderr


def test_an_unusable_data_folder_is_a_clear_error(tmp_path: Path, moto_server: str) -> None:
    from gtlabel.local import LocalService

    (tmp_path / "a-file").write_text("x")
    with pytest.raises(ConfigError, match="cannot be created or used"):  # on main: a raw traceback
        LocalService(data_dir=tmp_path / "a-file" / "state", s3_endpoint=moto_server, access_key="testing",
                     secret_key="testing")


@pytest.mark.skipif(os.getuid() == 0, reason="root writes everywhere")
def test_a_read_only_data_folder_is_a_clear_error(tmp_path: Path, moto_server: str) -> None:
    from gtlabel.local import LocalService

    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        with pytest.raises(ConfigError, match="not writable"):  # on main: sqlite3.OperationalError
            LocalService(data_dir=ro, s3_endpoint=moto_server, access_key="testing", secret_key="testing")
    finally:
        ro.chmod(0o700)


def test_pages_cannot_be_framed(local_service: Any) -> None:
    base = local_service.portal_url.rstrip("/")
    for path in ("/login", "/"):
        r = requests.get(base + path, timeout=10)
        assert "frame-ancestors 'none'" in r.headers.get("content-security-policy", ""), path
        assert r.headers.get("x-frame-options") == "DENY"


def test_secure_cookies_behind_https(moto_server: str, tmp_path: Path) -> None:
    from gtlabel.local import LocalService

    with LocalService(data_dir=tmp_path / "svc", s3_endpoint=moto_server, access_key="testing", secret_key="testing",
                      engine_interval=None, public_url="https://labels.example.com") as svc:
        assert svc.portal_url == "https://labels.example.com/"
        host, port = svc.bound_address
        base = f"http://{host}:{port}"
        page = requests.get(f"{base}/login", timeout=10)
        cookie = page.headers["set-cookie"]
        assert cookie.startswith("__Host-gtlabel_login_csrf=") and "Secure" in cookie and "Path=/" in cookie
    with pytest.raises(ConfigError):
        LocalService(data_dir=tmp_path / "x", s3_endpoint=moto_server, public_url="ftp://x")


def test_liquid_loops_are_bounded(clocked: Any, s3: Any, bucket: str) -> None:
    uris = put_inputs(s3, bucket, 1, template="{% for i in (1..100000000) %}x{% endfor %}<crowd-form></crowd-form>")
    clocked.client("sagemaker").create_labeling_job(**job_request("loops", uris, clocked.default_workteam_arn))
    clocked.engine.tick()
    clocked.add_worker("default", "ann", "pw-ann-123")
    ann = Worker(clocked.portal_url, "ann", "pw-ann-123")
    task = ann.next_task("loops")
    start = time.monotonic()
    r = ann.http.get(f"{ann.base}/tasks/{task['task_id']}", timeout=60)
    assert r.status_code == 500 and "limit" in r.text  # on main: minutes of CPU, 100 MB of x
    assert time.monotonic() - start < 10

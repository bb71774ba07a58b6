"""The embedded S3 runs in a child process of its own (not on the service's GIL), started and stopped with the
service, and never outlives it, not even a kill -9."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import boto3

from gtlabel.local.embedded_s3 import EmbeddedS3


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/status").read_text().split("State:")[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state != "Z"


def _gone_within(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.1)
    return False


def test_it_is_another_process_and_stops_with_its_owner() -> None:
    s3 = EmbeddedS3()
    endpoint = s3.start()
    try:
        assert s3.pid is not None and s3.pid != os.getpid() and s3.running
        client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
        client.create_bucket(Bucket="embedded-check")
        client.put_object(Bucket="embedded-check", Key="a", Body=b"x")
        assert client.get_object(Bucket="embedded-check", Key="a")["Body"].read() == b"x"
    finally:
        pid = s3.pid
        s3.stop()
    assert pid is not None and _gone_within(pid, 5) and not s3.running


def test_the_service_does_not_load_moto_and_a_killed_service_leaves_no_s3(tmp_path: Path) -> None:
    """gtlabel serve's default S3: moto is not even imported in the service's process; after kill -9 of the
    service, its S3 child ends by itself (its stdin pipe closes)."""
    code = textwrap.dedent(f"""
        import sys, time
        from gtlabel.local import LocalService
        svc = LocalService(data_dir={str(tmp_path / "svc")!r}).start()
        s3 = svc.client("s3")
        s3.create_bucket(Bucket="serve-check")
        print(svc.s3_endpoint, "moto" in sys.modules, flush=True)
        time.sleep(120)
    """)
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        endpoint, moto_loaded = proc.stdout.readline().split()
        assert moto_loaded == "False"
        port = endpoint.rsplit(":", 1)[1]
        owners = [int(p) for p in subprocess.run(["pgrep", "-f", "gtlabel.local.embedded_s3"], capture_output=True,
                                                 text=True).stdout.split()]
        children = [p for p in owners if _parent(p) == proc.pid]
        assert len(children) == 1, (owners, port)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    assert _gone_within(children[0], 10)


def _parent(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (FileNotFoundError, IndexError, ValueError):
        return -1

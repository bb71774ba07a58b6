"""The embedded S3 of the local service: moto's in-memory S3 server, in a child process of its own.

In the service's own process moto's request handling shared the interpreter (and its GIL) with the API, the portal
and the engine; every worker-response PUT then cost the service a few ms of CPU (bench/README.md). As its own
process, as a real object store is, it costs the service nothing. The user still sets up nothing:
:class:`EmbeddedS3` starts it (``python -m gtlabel.local.embedded_s3``) and stops it with the service.

The child binds 127.0.0.1 on a free port, prints ``host:port`` as its first line, and serves until its standard
input closes. The parent holds that pipe: whether the service stops, crashes or is killed with ``-9``, the pipe
closes and the child ends, so no S3 outlives its service. The child runs in a session of its own, so the Ctrl-C
that stops ``gtlabel serve`` does not take the S3 away while the service is still finishing its writes.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import queue
import subprocess
import sys
import threading

from gtlabel.errors import ConfigError

__all__ = ["EmbeddedS3", "main"]

START_TIMEOUT_S = 60.0


class EmbeddedS3:
    """A moto S3 server in a child process; :attr:`endpoint` once :meth:`start` returned."""

    def __init__(self) -> None:
        self.endpoint = ""
        self._proc: subprocess.Popen[bytes] | None = None
        self._stderr: collections.deque[str] = collections.deque(maxlen=40)

    def start(self, timeout_s: float = START_TIMEOUT_S) -> str:
        """Start the child and return its endpoint URL (``http://127.0.0.1:<port>``)."""
        proc = subprocess.Popen([sys.executable, "-m", "gtlabel.local.embedded_s3"], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
        self._proc = proc
        first: queue.Queue[bytes] = queue.Queue()
        threading.Thread(target=_first_line, args=(proc, first), name="gtlabel-s3-stdout", daemon=True).start()
        threading.Thread(target=_drain, args=(proc, self._stderr), name="gtlabel-s3-stderr", daemon=True).start()
        try:
            line = first.get(timeout=timeout_s).decode("ascii", "replace").strip()
        except queue.Empty:
            line = ""
        if not line or ":" not in line:
            self.stop()
            tail = "\n".join(self._stderr) or "(nothing on stderr)"
            raise ConfigError(f"the embedded S3 (moto) did not start within {timeout_s:g} s: {tail}")
        self.endpoint = f"http://{line}"
        return self.endpoint

    @property
    def pid(self) -> int | None:
        """The child's process id while it runs."""
        return self._proc.pid if self._proc is not None else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def stop(self) -> None:
        """End the child: its standard input closes (it stops itself), then terminate/kill if it lingers."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.stdin is not None:
            with contextlib.suppress(OSError):
                proc.stdin.close()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)


def _first_line(proc: subprocess.Popen[bytes], out: queue.Queue[bytes]) -> None:
    assert proc.stdout is not None
    out.put(proc.stdout.readline())
    with contextlib.suppress(OSError, ValueError):
        proc.stdout.read()  # nothing more is written; keep the pipe drained until the child ends


def _drain(proc: subprocess.Popen[bytes], keep: collections.deque[str]) -> None:
    assert proc.stderr is not None
    with contextlib.suppress(OSError, ValueError):
        for raw in proc.stderr:
            keep.append(raw.decode("utf-8", "replace").rstrip())


def main() -> None:
    """The child: moto's server on 127.0.0.1 (a free port) until standard input closes."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    sys.stdout.write(f"{host}:{port}\n")
    sys.stdout.flush()
    try:
        sys.stdin.buffer.read()  # returns at EOF: the service stopped or died
    except KeyboardInterrupt:
        pass
    finally:
        with contextlib.suppress(Exception):
            server.stop()


if __name__ == "__main__":
    main()

"""The embedded S3 of the local service: moto's in-memory S3 server, in a child process of its own.

In the service's own process moto's request handling shared the interpreter (and its GIL) with the API, the portal
and the engine; every worker-response PUT then cost the service a few ms of CPU (bench/README.md). As its own
process, as a real object store is, it costs the service nothing. The user still sets up nothing:
:class:`EmbeddedS3` starts it (``python -m gtlabel.local.embedded_s3``) and stops it with the service.

The child binds 127.0.0.1 on a free port, prints ``host:port`` as its first line, and serves until its standard
input closes. The parent holds that pipe: whether the service stops, crashes or is killed with ``-9``, the pipe
closes and the child ends, so no S3 outlives its service. The child runs in a session of its own, so the Ctrl-C
that stops ``gtlabel serve`` does not take the S3 away while the service is still finishing its writes.

The same two pipes carry the service's own writes (:meth:`EmbeddedS3.put_many`: the engine's worker responses,
consolidation files and manifests): a batch of objects goes down standard input as one frame, the child stores
each one with moto's S3 backend exactly as moto's ``PutObject`` handler does for a request from the service's
client (same metadata, ACL, tagging, notifications, errors), and answers with one frame on standard output once
all of them are stored. Over HTTP, each such PUT cost ~1.5 ms of botocore CPU (request, SigV4, urllib3) in the
service or its writer processes and ~1 ms of werkzeug and moto request parsing in the child; over the pipe it
costs a few microseconds of framing. Only the parent holds these pipes, so no one else can write this way.
Frames: a 4-byte big-endian length and a JSON header ``{"op": "put", "account": {...}, "items": [[bucket, key,
content_type, size], ...]}`` followed by the objects' bytes; the reply is a 4-byte length and a JSON list with,
per object, ``null`` (stored) or the error text (``S3 error NoSuchBucket``). ``{"op": "exists", "items":
[[bucket, key], ...]}`` (the engine's check of every data object at job start) answers ``true`` or ``false``.
"""

from __future__ import annotations

import base64
import collections
import contextlib
import hashlib
import hmac
import json
import logging
import os
import queue
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from typing import IO, Any
from urllib.parse import quote

from gtlabel.errors import ConfigError, StorageError

__all__ = ["EmbeddedS3", "OwnCalls", "main", "serve_writes"]

START_TIMEOUT_S = 60.0


class EmbeddedS3:
    """A moto S3 server in a child process; :attr:`endpoint` once :meth:`start` returned."""

    def __init__(self) -> None:
        self.endpoint = ""
        self._proc: subprocess.Popen[bytes] | None = None
        self._stderr: collections.deque[str] = collections.deque(maxlen=40)
        self._io_lock = threading.Lock()  # one frame in flight at a time on the pipes

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

    def put_many(self, items: Sequence[tuple[str, str, bytes, str]], *, access_key: str,
                 region: str) -> list[str | None]:
        """Store ``(bucket, key, data, content_type)`` objects in the child, as ``PutObject`` calls signed with
        ``access_key`` in ``region`` would (the same moto account and partition). Returns, per object, ``None``
        once it is stored or the error text (``S3 error NoSuchBucket``); raises :class:`StorageError` when the
        child is gone."""
        results = self._call({"op": "put", "items": [[b, k, ct, len(data)] for b, k, data, ct in items]},
                             [data for _, _, data, _ in items], access_key, region)
        return [r if isinstance(r, str) else None for r in results]

    def exists_many(self, items: Sequence[tuple[str, str]], *, access_key: str, region: str) -> list[bool]:
        """Whether each ``(bucket, key)`` object is in the child's store (its current version, not a delete
        marker). False also for a bucket that is not there; :meth:`S3Store.exists` asks over HTTP then."""
        return [r is True for r in self._call({"op": "exists", "items": [[b, k] for b, k in items]}, [], access_key,
                                              region)]

    def _call(self, header: dict[str, Any], payload: list[bytes], access_key: str, region: str) -> list[Any]:
        n = len(header["items"])
        if not n:
            return []
        head = json.dumps({**header, "account": {"access_key": access_key, "region": region}}).encode()
        frame = b"".join([struct.pack(">I", len(head)), head, *payload])
        with self._io_lock:
            proc = self._proc
            if proc is None or proc.stdin is None or proc.stdout is None:
                raise StorageError("the embedded S3 is not running")
            try:
                proc.stdin.write(frame)
                proc.stdin.flush()
                raw = _read_frame(proc.stdout)
            except (OSError, ValueError) as exc:
                raw = None
                cause: Exception | None = exc
            else:
                cause = None
        if raw is None:
            tail = "\n".join(self._stderr)
            raise StorageError(f"the embedded S3 stopped before it answered a call for {n} object(s)"
                               + (f": {tail}" if tail else "")) from cause
        results: list[Any] = json.loads(raw)
        if len(results) != n:
            raise StorageError(f"the embedded S3 answered {len(results)} results for {n} objects")
        return results

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


class OwnCalls:
    """The pipe of an :class:`EmbeddedS3` as the service's own S3 client would call it (its access key and region):
    what :class:`gtlabel.local.output.S3Store` takes as ``direct``. With the client's secret key it also presigns
    GETs as that client does (:meth:`presign_get`)."""

    def __init__(self, s3: EmbeddedS3, *, access_key: str, region: str, secret_key: str = "") -> None:
        self._s3, self._access_key, self._region = s3, access_key, region
        self._secret = secret_key.encode("utf-8")

    def presign_get(self, bucket: str, key: str, expires_in: int) -> str | None:
        """The URL botocore's ``generate_presigned_url("get_object", ...)`` gives for the service's client of this
        S3 (path-style on its endpoint; query-string auth with ``Expires``, the one botocore uses to presign when
        no signature version is configured), in ~10 us instead of botocore's ~0.1-0.3 ms (every new image a
        worker claims is presigned on the service's event loop). None without a secret key or endpoint."""
        endpoint = self._s3.endpoint
        if not self._secret or not endpoint:
            return None
        expires = str(int(time.time() + expires_in))
        path = f"/{bucket}/{quote(key, safe='/~')}"
        digest = hmac.new(self._secret, f"GET\n\n\n{expires}\n{path}".encode(), hashlib.sha1).digest()
        signature = quote(base64.b64encode(digest).decode("ascii"), safe="")
        return (f"{endpoint}{path}?AWSAccessKeyId={quote(self._access_key, safe='')}&Signature={signature}"
                f"&Expires={expires}")

    def put_many(self, items: Sequence[tuple[str, str, bytes, str]]) -> list[str | None]:
        return self._s3.put_many(items, access_key=self._access_key, region=self._region)

    def exists_many(self, items: Sequence[tuple[str, str]]) -> list[bool]:
        return self._s3.exists_many(items, access_key=self._access_key, region=self._region)


def _first_line(proc: subprocess.Popen[bytes], out: queue.Queue[bytes]) -> None:
    assert proc.stdout is not None
    out.put(proc.stdout.readline())  # then standard output carries only the replies to put_many's frames


def _read_exact(stream: IO[bytes], n: int) -> bytes | None:
    """``n`` bytes, or None at the end of the stream (a frame cut short counts as the end)."""
    chunks = []
    while n > 0:
        chunk = stream.read(n)
        if not chunk:
            return None
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


def _read_frame(stream: IO[bytes]) -> bytes | None:
    head = _read_exact(stream, 4)
    if head is None:
        return None
    return _read_exact(stream, struct.unpack(">I", head)[0])


def _drain(proc: subprocess.Popen[bytes], keep: collections.deque[str]) -> None:
    assert proc.stderr is not None
    with contextlib.suppress(OSError, ValueError):
        for raw in proc.stderr:
            keep.append(raw.decode("utf-8", "replace").rstrip())


# ----------------------------------------------------------------------------------------------- the child
def _put(account: str, partition: str, bucket_name: str, key_name: str, data: bytes, content_type: str) -> str | None:
    """One object into moto's S3 backend, as moto's ``S3Response.put_object`` stores a ``PutObject`` request of
    the service's client (botocore, ``request_checksum_calculation="when_required"``: no checksum headers, the
    payload's SHA-256 in ``x-amz-content-sha256``, which moto keeps as metadata). Returns the error text or None."""
    from moto.s3.exceptions import MissingUploadObjectWithObjectLockHeaders
    from moto.s3.models import s3_backends
    from moto.s3.utils import metadata_from_headers

    try:
        backend = s3_backends[account][partition]
        bucket = backend.get_bucket(bucket_name)
        if bucket.object_lock_enabled and bucket.has_default_lock:
            raise MissingUploadObjectWithObjectLockHeaders  # what moto answers such a request without Content-MD5
        key = backend.put_object(bucket_name, key_name, data, storage="STANDARD")
        key.set_metadata(metadata_from_headers({"content-type": content_type,
                                                "x-amz-content-sha256": hashlib.sha256(data).hexdigest()}))
        key.set_acl(bucket.acl)
        key.website_redirect_location = None
        backend.put_object_tagging(key, {})
    except Exception as exc:  # moto's S3 errors carry the code S3 would answer
        code = getattr(exc, "code", None)
        return f"S3 error {code}" if isinstance(code, str) and code else f"{type(exc).__name__}: {exc}"
    return None


def _account(spec: dict[str, Any]) -> tuple[str, str]:
    """(moto account, partition) of a request signed with ``spec["access_key"]`` in ``spec["region"]``, as moto's
    request handler finds them."""
    from moto.iam.models import get_account_id_from
    from moto.utilities.utils import get_partition

    account = os.environ.get("MOTO_ACCOUNT_ID") or get_account_id_from(str(spec["access_key"]))
    return account, get_partition(str(spec["region"]))


def _exists(account: str, partition: str, bucket_name: str, key_name: str) -> bool:
    """Whether the object is there as moto's ``HeadObject`` finds it (the current version; not a delete marker)."""
    from moto.s3.models import FakeKey, s3_backends

    try:
        return isinstance(s3_backends[account][partition].get_object(bucket_name, key_name), FakeKey)
    except Exception:  # no such bucket: the caller asks over HTTP for the answer S3 gives
        return False


def serve_writes(inp: IO[bytes], out: IO[bytes]) -> None:
    """Answer the parent's frames until its pipe closes (the module docstring has the format)."""
    while (raw := _read_frame(inp)) is not None:
        header = json.loads(raw)
        account, partition = _account(header["account"])
        results: list[str | bool | None] = []
        if header.get("op") == "exists":
            results = [_exists(account, partition, bucket, key) for bucket, key in header["items"]]
        for bucket, key, content_type, size in header["items"] if header.get("op") == "put" else ():
            data = _read_exact(inp, int(size))
            if data is None:
                return
            results.append(_put(account, partition, bucket, key, data, content_type))
        body = json.dumps(results).encode()
        out.write(struct.pack(">I", len(body)) + body)
        out.flush()


def main() -> None:
    """The child: moto's server on 127.0.0.1 (a free port) and the parent's writes until standard input closes."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    replies = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # whatever moto prints from here on goes to stderr, never into the replies
    replies.write(f"{host}:{port}\n".encode())
    replies.flush()
    try:
        serve_writes(sys.stdin.buffer, replies)  # returns at EOF: the service stopped or died
    except KeyboardInterrupt:
        pass
    finally:
        with contextlib.suppress(Exception):
            server.stop()


if __name__ == "__main__":
    main()

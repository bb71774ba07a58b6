"""Ground Truth's output files, as the local service writes them (pure formatting + one small S3 writer).

Layout under ``<S3OutputPath>/<job-name>/`` (reference/ground-truth.md 3.1):

    manifests/output/output.manifest                                  final, when the job ends
    manifests/intermediate/<iteration>/output.manifest                while it runs (one line per input line)
    annotations/worker-response/iteration-<n>/<datasetObjectId>/<YYYY-mm-dd_HH:MM:SS>.json
    annotations/consolidated-annotation/consolidation-request/iteration-<n>/<YYYY-mm-dd_HH:MM:SS>.json
    annotations/consolidated-annotation/consolidation-response/iteration-<n>/<YYYY-mm-dd_HH:MM:SS>.json

``datasetObjectId`` is the 0-based line number of the object in the input manifest (empty lines skipped). A
worker-response file is named by its last answer's submission time, so one written again (consolidation re-run
after a crash) replaces itself.

Output-manifest lines (3.2) are built by :mod:`gtlabel.formats.ground_truth` (``output_line`` and the
``-metadata`` builders): the keys of the input line first and unchanged, then ``<attr>`` and ``<attr>-metadata``.
``image_size`` is the ``inputImageProperties`` the worker's browser reported: the size of the image as displayed,
i.e. after EXIF orientation is applied (the frame the boxes are drawn in). ``job-name`` is written as
``labeling-job/<name>``, the form real Ground Truth output carries (the 3.2 doc example shows the bare name;
the parser accepts both). A failed object gets ``"failure-reason"`` in ``<attr>-metadata`` and no ``<attr>``;
an object never labeled (stopped job) is written as its input line.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from botocore.exceptions import ClientError

from gtlabel.aws import error_code, is_not_found
from gtlabel.errors import NotFound, StorageError
from gtlabel.formats.ground_truth import SOURCE, SOURCE_REF
from gtlabel.storage import parse_s3

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

__all__ = [
    "DirectS3",
    "OutputLayout",
    "S3Store",
    "consolidation_request_item",
    "dumps_line",
    "file_timestamp",
    "iso_ms",
    "json_bytes",
    "lean_s3_config",
    "worker_response_doc",
]

def iso_ms(t: float) -> str:
    """``2020-12-28T18:59:15.191Z`` (worker-response timestamps)."""
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{int(t * 1000) % 1000:03d}Z"


def file_timestamp(t: float) -> str:
    """``2021-03-08_23:06:49`` (names of worker-response and consolidation files)."""
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d_%H:%M:%S")


def dumps_line(obj: Mapping[str, Any]) -> str:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


class OutputLayout:
    """Where each file of one job goes."""

    def __init__(self, s3_output_path: str, job_name: str) -> None:
        self.root = f"{s3_output_path.rstrip('/')}/{job_name}"

    @property
    def output_manifest(self) -> str:
        return f"{self.root}/manifests/output/output.manifest"

    def intermediate_manifest(self, iteration: int) -> str:
        return f"{self.root}/manifests/intermediate/{iteration}/output.manifest"

    def worker_response(self, iteration: int, object_id: int, stamp: str) -> str:
        return f"{self.root}/annotations/worker-response/iteration-{iteration}/{object_id}/{stamp}.json"

    def consolidation_request(self, iteration: int, stamp: str) -> str:
        return f"{self.root}/annotations/consolidated-annotation/consolidation-request/iteration-{iteration}/{stamp}.json"

    def consolidation_response(self, iteration: int, stamp: str) -> str:
        return f"{self.root}/annotations/consolidated-annotation/consolidation-response/iteration-{iteration}/{stamp}.json"


# ----------------------------------------------------------------------------------------------- pure
def worker_response_doc(answers: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """``{"answers": [{workerId, acceptanceTime, submissionTime, timeSpentInSeconds, answerContent,
    workerMetadata}]}`` from assignment records ``{worker_id, claimed, submitted, answer(dict), sub, issuer}``.
    ``workerMetadata`` (the Cognito identity) is written for private workforces only: records without ``sub``
    (public workforce answers) have none, as documented (reference 3.1)."""
    out = []
    for a in answers:
        doc = {
            "workerId": a["worker_id"],
            "acceptanceTime": iso_ms(a["claimed"]),
            "submissionTime": iso_ms(a["submitted"]),
            "timeSpentInSeconds": round(float(a["submitted"]) - float(a["claimed"]), 3),
            "answerContent": a["answer"],
        }
        if a.get("sub") is not None:
            doc["workerMetadata"] = {"identityData": {"identityProviderType": "Cognito", "issuer": a["issuer"],
                                                      "sub": a["sub"]}}
        out.append(doc)
    return {"answers": out}


def consolidation_request_item(object_id: int, data_object: Mapping[str, Any],
                               answers: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """One element of the post-annotation Lambda payload (reference 4.4)."""
    if SOURCE_REF in data_object:
        dobj: dict[str, Any] = {"s3Uri": data_object[SOURCE_REF]}
    else:
        dobj = {"content": data_object.get(SOURCE, "")}
    return {
        "datasetObjectId": str(object_id),
        "dataObject": dobj,
        "annotations": [{"workerId": a["worker_id"],
                         "annotationData": {"content": json.dumps(a["answer"], separators=(",", ":"), allow_nan=False)}}
                        for a in answers],
    }


# ----------------------------------------------------------------------------------------------- S3
def json_bytes(doc: Any) -> bytes:
    """A JSON document as Ground Truth's files hold it (compact, UTF-8; NaN and infinities refused)."""
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode("utf-8")


def lean_s3_config(max_pool_connections: int) -> Any:
    """The botocore config of the service's own S3 clients: many small PUTs of our own requests, so checksums
    only where S3 requires them and no client-side parameter validation (~15 % off botocore's cost per call)."""
    # lazy with boto3: most of a second of import time, for the S3 writers only
    from botocore.config import Config

    return Config(max_pool_connections=max_pool_connections, request_checksum_calculation="when_required",
                  parameter_validation=False)


# writer processes: each builds its own S3 client once (module global in the child)
_child_client: Any = None


def _child_init(client_kwargs: dict[str, Any], parent: int) -> None:
    global _child_client
    import boto3  # lazy: most of a second of import time, paid by the writer processes that use it

    def exit_with_parent() -> None:  # a service killed with -9 must not leave writer processes behind
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(0)

    threading.Thread(target=exit_with_parent, name="gtlabel-writer-watchdog", daemon=True).start()

    _child_client = boto3.client("s3", config=lean_s3_config(4), **client_kwargs)


def _child_put(item: tuple[str, bytes, str]) -> str | None:
    """One PUT in a writer process; the error text (not an exception object) comes back on failure."""
    uri, data, content_type = item
    loc = parse_s3(uri)
    try:
        _child_client.put_object(Bucket=loc.bucket, Key=loc.key, Body=data, ContentType=content_type)
    except ClientError as exc:
        return f"S3 error {error_code(exc)}"
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


class DirectS3(Protocol):
    """Calls to an S3 without HTTP (the embedded S3's pipe: :class:`gtlabel.local.embedded_s3.OwnCalls`)."""

    def put_many(self, items: Sequence[tuple[str, str, bytes, str]]) -> list[str | None]:
        """Store ``(bucket, key, data, content_type)`` objects; per object ``None`` (stored) or the error text."""

    def exists_many(self, items: Sequence[tuple[str, str]]) -> list[bool]:
        """Whether each ``(bucket, key)`` object is there (False may also mean: ask over HTTP)."""

    def presign_get(self, bucket: str, key: str, expires_in: int) -> str | None:
        """The presigned GET URL the store's client would make (None: let the client make it)."""


class S3Store:
    """Reads and whole-object writes on one S3 endpoint (a PUT is atomic: readers never see half a file).

    :meth:`write_many` hands large batches (the engine's worker-response files, one per data object) to a few
    writer processes when ``client_kwargs`` says how to reach the endpoint from another process: botocore spends
    about 1.5 ms of CPU per PUT, which would otherwise hold this process's GIL while workers wait for replies.

    Not :mod:`gtlabel.storage`, on purpose: these calls are the service's own S3 identity (its client, the read
    scope of :mod:`.scope`, docs/SECURITY.md 7.4), one ``PutObject`` per file and never the caller's SSE-KMS key,
    while storage sends its calls to the process-wide target of the notebook or demo that may run the service
    in-process, and its writes spool to a file and take ``GTLABEL_KMS_KEY_ID``.

    With ``direct`` (the service's own embedded S3) every write goes down its pipe instead, in frames of up to
    :attr:`DIRECT_FRAME_BYTES`: no botocore, no HTTP, no writer process; and :meth:`exists` asks there first (the
    engine checks every data object at job start), and it presigns the images workers are sent (no botocore on
    the event loop). Reads stay on ``client``.
    """

    #: batches smaller than this are written here (no process is started for a small job)
    POOL_MIN_BATCH = 16
    #: a direct write frame holds objects of up to this many bytes together (one object may be larger)
    DIRECT_FRAME_BYTES = 8 << 20

    def __init__(self, client: S3Client, *, client_kwargs: Mapping[str, Any] | None = None,
                 writer_processes: int = 2, direct: DirectS3 | None = None) -> None:
        self.client = client
        self._direct = direct
        self._client_kwargs = dict(client_kwargs) if client_kwargs is not None else None
        self._writers = writer_processes
        self._pool: Any = None
        self._pool_lock = threading.Lock()
        # presigned URLs, reused while more than half of their validity is left (every worker of an object, and
        # every reload of its task page, asks for the same image; botocore's signer costs about a millisecond)
        self._presigned: dict[tuple[str, int], tuple[str, float]] = {}
        self._presign_lock = threading.Lock()

    def read_bytes(self, uri: str) -> bytes:
        loc = parse_s3(uri)
        try:
            return self.client.get_object(Bucket=loc.bucket, Key=loc.key)["Body"].read()
        except ClientError as exc:
            if is_not_found(exc):
                raise NotFound("does not exist", uri) from exc
            raise StorageError(f"S3 error {error_code(exc)}", uri) from exc

    def exists(self, uri: str) -> bool:
        loc = parse_s3(uri)
        if self._direct is not None and self._direct.exists_many([(loc.bucket, loc.key)])[0]:
            return True  # a miss (or no bucket) is asked over HTTP below: the answer and the error S3 gives
        try:
            self.client.head_object(Bucket=loc.bucket, Key=loc.key)
        except ClientError as exc:
            if is_not_found(exc):
                return False
            raise StorageError(f"S3 error {error_code(exc)}", uri) from exc
        return True

    def write(self, uri: str, data: bytes, content_type: str = "application/json") -> None:
        if self._direct is not None:
            self._write_direct(self._direct, [(uri, data, content_type)])
            return
        loc = parse_s3(uri)
        try:
            self.client.put_object(Bucket=loc.bucket, Key=loc.key, Body=data, ContentType=content_type)
        except ClientError as exc:
            raise StorageError(f"S3 error {error_code(exc)}", uri) from exc

    def write_many(self, items: Sequence[tuple[str, bytes, str]]) -> None:
        """Write ``(uri, data, content_type)`` objects; returns when all are stored (raises on the first failure,
        naming its URI). Large batches go to the writer processes, small ones are written here."""
        if self._direct is not None:
            self._write_direct(self._direct, items)
            return
        pool = self._writer_pool() if len(items) >= self.POOL_MIN_BATCH else None
        if pool is None:
            for uri, data, content_type in items:
                self.write(uri, data, content_type)
            return

        try:
            errors = list(pool.map(_child_put, items, chunksize=8))
        except BrokenProcessPool:  # a writer died: write here, and stop using the pool
            with self._pool_lock:
                self._pool, self._writers = None, 0
            for uri, data, content_type in items:
                self.write(uri, data, content_type)
            return
        for (uri, _, _), err in zip(items, errors, strict=True):
            if err is not None:
                raise StorageError(err, uri)

    def _write_direct(self, direct: DirectS3, items: Sequence[tuple[str, bytes, str]]) -> None:
        frame: list[tuple[str, str, bytes, str]] = []
        uris: list[str] = []
        size = 0
        for n, (uri, data, content_type) in enumerate(items):
            loc = parse_s3(uri)
            frame.append((loc.bucket, loc.key, data, content_type))
            uris.append(uri)
            size += len(data)
            if size >= self.DIRECT_FRAME_BYTES or n == len(items) - 1:
                for done, err in zip(uris, direct.put_many(frame), strict=True):
                    if err is not None:
                        raise StorageError(err, done)
                frame, uris, size = [], [], 0

    def _writer_pool(self) -> Any:
        if self._client_kwargs is None or self._writers <= 0:
            return None
        with self._pool_lock:
            if self._pool is None:
                self._pool = ProcessPoolExecutor(self._writers, mp_context=mp.get_context("spawn"),
                                                 initializer=_child_init, initargs=(self._client_kwargs, os.getpid()))
            return self._pool

    def close(self) -> None:
        """Stop the writer processes (if any were started)."""
        with self._pool_lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)

    def write_json(self, uri: str, doc: Any) -> None:
        self.write(uri, json_bytes(doc))

    def write_lines(self, uri: str, lines: Iterable[Mapping[str, Any]]) -> None:
        body = "".join(dumps_line(line) + "\n" for line in lines).encode("utf-8")
        self.write(uri, body, "application/x-ndjson")

    def presign(self, uri: str, expires_in: int = 900) -> str:
        now = time.monotonic()
        with self._presign_lock:
            hit = self._presigned.get((uri, expires_in))
        if hit is not None and hit[1] - now > expires_in / 2:
            return hit[0]
        loc = parse_s3(uri)
        url = self._direct.presign_get(loc.bucket, loc.key, expires_in) if self._direct is not None else None
        if url is None:
            url = self.client.generate_presigned_url("get_object", Params={"Bucket": loc.bucket, "Key": loc.key},
                                                     ExpiresIn=expires_in)
        with self._presign_lock:
            if len(self._presigned) >= 50_000:
                self._presigned.clear()
            self._presigned[(uri, expires_in)] = (url, now + expires_in)
        return url

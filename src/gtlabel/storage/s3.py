"""S3 behind the storage interface: the client (and where it points), SSE-KMS on writes, and the operations.

Where S3 calls go: an active :class:`S3Target` (:func:`use_endpoint`, :func:`use_client`) if there is one,
else boto3's own resolution (``AWS_ENDPOINT_URL_S3`` / ``AWS_ENDPOINT_URL``, ``AWS_PROFILE``, ``AWS_REGION``...),
with one cached client per configuration. boto3 loads on first use: it is most of gtlabel's import time, and
the conversion's worker processes and local-only work never need it.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import sys
import tempfile
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from gtlabel.aws import boto3_session, error_code, is_not_found
from gtlabel.errors import NotFound, StorageError
from gtlabel.settings import get_settings
from gtlabel.storage.base import ObjectInfo, RangeRead, parse_s3

if TYPE_CHECKING:
    import boto3
    from mypy_boto3_s3 import S3Client

__all__ = ["Credentials", "S3Backend", "S3Target", "child_env", "configured_kms_key", "current_target",
           "encrypt_with", "presign", "reset_clients", "s3_client", "sse_args", "storage_error", "use_client",
           "use_endpoint"]

_DELETE_BATCH = 1000  # keys per DeleteObjects request (S3's limit)


def storage_error(exc: ClientError | BotoCoreError, uri: str) -> StorageError:
    """A botocore failure as the storage error that names ``uri`` (:class:`NotFound` for a missing object)."""
    if not isinstance(exc, ClientError):  # no credentials, no route to the endpoint, a timeout...
        return StorageError(f"cannot reach S3 ({type(exc).__name__}: {exc})", uri)
    if is_not_found(exc):
        return NotFound("does not exist", uri)
    return StorageError(f"S3 error {error_code(exc)}: {exc}", uri)


def _client_config() -> Any:
    # botocore.config pulls in botocore.compat and urllib3 (measured: more than botocore.exceptions costs)
    from botocore.config import Config

    return Config(max_pool_connections=max(10, get_settings().max_concurrency + 4),
                  retries={"mode": "standard", "max_attempts": 5})


def _transfer_config(**kw: Any) -> Any:
    from boto3.s3.transfer import TransferConfig  # boto3 on first use (start-up cost, module docstring)

    return TransferConfig(**kw)


# ----------------------------------------------------------------------------------------------- targets
@dataclass(frozen=True)
class Credentials:
    access_key: str
    secret_key: str
    session_token: str | None = None


class S3Target:
    """Where gtlabel.storage sends its S3 calls: an endpoint (with credentials and region, or boto3's) or a
    ready client. Active while its ``with`` block runs (:meth:`activate` / :meth:`deactivate` for a session),
    for every thread of the process: the environment, boto3's defaults and the user's own clients are left alone.
    The innermost active target wins."""

    def __init__(self, *, endpoint_url: str | None = None, credentials: Credentials | None = None,
                 region: str | None = None, client: S3Client | None = None) -> None:
        self.endpoint_url, self.credentials, self.region = endpoint_url, credentials, region
        self._client = client
        self._lock = threading.Lock()

    def __repr__(self) -> str:  # never the secret
        return f"S3Target(endpoint_url={self.endpoint_url!r}, region={self.region!r})"

    def client(self) -> S3Client:
        with self._lock:
            if self._client is None:
                c = self.credentials
                sess = boto3_session(aws_access_key_id=c.access_key if c else None,
                                     aws_secret_access_key=c.secret_key if c else None,
                                     aws_session_token=c.session_token if c else None)
                self._client = sess.client("s3", endpoint_url=self.endpoint_url, config=_client_config(),
                                           region_name=self.region or sess.region_name or "us-east-1")
            return self._client

    def env(self) -> dict[str, str]:
        """Environment variables that point a child process's boto3 at the same S3 (a target made from a
        client hands over its endpoint and region only)."""
        endpoint = self.endpoint_url or (self._client.meta.endpoint_url if self._client is not None else None)
        region = self.region or (self._client.meta.region_name if self._client is not None else None)
        out = {"AWS_ENDPOINT_URL_S3": endpoint} if endpoint else {}
        if region:
            out["AWS_REGION"] = out["AWS_DEFAULT_REGION"] = region
        if self.credentials is not None:
            out["AWS_ACCESS_KEY_ID"] = self.credentials.access_key
            out["AWS_SECRET_ACCESS_KEY"] = self.credentials.secret_key
            if self.credentials.session_token:
                out["AWS_SESSION_TOKEN"] = self.credentials.session_token
        return out

    def activate(self) -> S3Target:
        with _targets_lock:
            _targets.append(self)
        return self

    def deactivate(self) -> None:
        with _targets_lock:  # its innermost entry, even when blocks of several threads end out of order
            for i in range(len(_targets) - 1, -1, -1):
                if _targets[i] is self:
                    del _targets[i]
                    break

    def __enter__(self) -> S3Target:
        return self.activate()

    def __exit__(self, *exc: object) -> None:
        self.deactivate()


_targets: list[S3Target] = []
_targets_lock = threading.Lock()


def use_endpoint(endpoint_url: str, credentials: Credentials | tuple[str, str] | None = None, *,
                 region: str | None = None) -> S3Target:
    """Point gtlabel.storage at an S3 endpoint (MinIO, a moto server, the local service's S3) for a ``with``
    block: ``with storage.use_endpoint(url, ("key", "secret")): ...``. ``credentials``: else boto3's."""
    if isinstance(credentials, tuple):
        credentials = Credentials(*credentials)
    return S3Target(endpoint_url=endpoint_url, credentials=credentials, region=region)


def use_client(client: S3Client) -> S3Target:
    """Point gtlabel.storage at a boto3 S3 client of yours for a ``with`` block."""
    return S3Target(client=client)


def current_target() -> S3Target | None:
    """The innermost active target (``None``: boto3's own resolution)."""
    last = _targets[-1:]  # one atomic read, no lock: every S3 call asks
    return last[0] if last else None


def child_env() -> dict[str, str]:
    """What a child process needs in its environment to reach the S3 that storage uses now (``{}`` when no
    target is active: the child resolves it from the environment it inherits, as this process does)."""
    target = current_target()
    return target.env() if target is not None else {}


# ----------------------------------------------------------------------------------------------- clients
_CLIENT_ENV = ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_ACCESS_KEY_ID",
               "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_REGION", "AWS_DEFAULT_REGION")
_clients: dict[tuple[Any, ...], Any] = {}
_clients_lock = threading.Lock()


def reset_clients() -> None:
    """Forget cached clients and boto3's default session (which keeps the credentials it first resolved), so
    that the next calls see the environment as it is now (after pointing it at another endpoint or key)."""
    with _clients_lock:
        _clients.clear()
        if "boto3" in sys.modules:  # a new default session (sharing the parsed botocore data: aws.boto3_session)
            sys.modules["boto3"].DEFAULT_SESSION = boto3_session()  # type: ignore[attr-defined]


def s3_client(region: str | None = None, session: boto3.Session | None = None) -> S3Client:
    """The S3 client storage uses now: the active target's, else a cached, thread-safe client that boto3
    configures as usual (endpoint, profile, credentials, region from the environment)."""
    target = current_target()
    if target is not None and session is None:
        return target.client()
    key = (region, id(session), *map(os.environ.get, _CLIENT_ENV))
    with _clients_lock:
        cli = _clients.get(key)
        if cli is None:
            sess = session or boto3_session()
            cli = sess.client("s3", region_name=region or sess.region_name or "us-east-1", config=_client_config())
            _clients[key] = cli
        return cli


def presign(uri: str, expires_in: int = 3600) -> str:
    """A presigned GET URL for an S3 object (on the endpoint storage uses now)."""
    loc = parse_s3(uri)
    return s3_client().generate_presigned_url("get_object", Params={"Bucket": loc.bucket, "Key": loc.key},
                                              ExpiresIn=expires_in)


# ----------------------------------------------------------------------------------------------- encryption
_SSE_KEY: contextvars.ContextVar[str | None] = contextvars.ContextVar("gtlabel_sse_key", default=None)


@contextlib.contextmanager
def encrypt_with(kms_key_id: str | None) -> Iterator[None]:
    """Within the block, S3 writes from this context use SSE-KMS with ``kms_key_id`` (``None``: the configured
    ``GTLABEL_KMS_KEY_ID``, if any). The job builder uses it so that a job's own key also encrypts the files
    it uploads next to the job (manifest, label categories, template). Unlike an :class:`S3Target`, it is
    per context: :func:`gtlabel.storage.copy_many` hands it to its threads."""
    token = _SSE_KEY.set(kms_key_id)
    try:
        yield
    finally:
        _SSE_KEY.reset(token)


def configured_kms_key() -> str | None:
    """The key S3 writes use right now (an :func:`encrypt_with` block's, else ``GTLABEL_KMS_KEY_ID``)."""
    return _SSE_KEY.get() or get_settings().kms_key_id


def sse_args() -> dict[str, str]:
    """The request parameters that encrypt a write with the configured key (none without one)."""
    kms = configured_kms_key()
    return {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": kms} if kms else {}


# ----------------------------------------------------------------------------------------------- operations
def _info(uri: str, r: Any, size: int) -> ObjectInfo:
    return ObjectInfo(uri, size, str(r.get("ETag", "")).strip('"') or None, r.get("LastModified"),
                      r.get("VersionId"), r.get("ServerSideEncryption"))


def _object(uri: str, version_id: str | None, **extra: Any) -> dict[str, Any]:
    loc = parse_s3(uri)
    kw: dict[str, Any] = {"Bucket": loc.bucket, "Key": loc.key, **extra}
    if version_id is not None:
        kw["VersionId"] = version_id
    return kw


def _not_found_version(exc: ClientError | BotoCoreError, uri: str, version_id: str | None) -> StorageError:
    # a HEAD has no error body: S3 answers a version id it cannot parse with a bare 400
    if version_id is not None and isinstance(exc, ClientError) and (is_not_found(exc) or error_code(exc) in
                                                                    {"400", "InvalidArgument", "NoSuchVersion"}):
        return NotFound(f"does not exist (version {version_id})", uri)
    return storage_error(exc, uri)


class S3Backend:
    """``s3://bucket/key`` objects."""

    @contextlib.contextmanager
    def open_read(self, uri: str, *, version_id: str | None = None) -> Iterator[IO[bytes]]:
        try:
            body = s3_client().get_object(**_object(uri, version_id))["Body"]
        except (ClientError, BotoCoreError) as exc:
            raise _not_found_version(exc, uri, version_id) from exc
        try:
            yield body  # type: ignore[misc]
        finally:
            body.close()

    def read_bytes(self, uri: str, *, version_id: str | None = None) -> bytes:
        try:
            return s3_client().get_object(**_object(uri, version_id))["Body"].read()
        except (ClientError, BotoCoreError) as exc:
            raise _not_found_version(exc, uri, version_id) from exc

    def read_range(self, uri: str, start: int, length: int | None, *,
                   version_id: str | None = None) -> RangeRead:
        end = "" if length is None else str(start + length - 1)
        if length == 0:
            return RangeRead(b"", self.head(uri, version_id=version_id), start)
        try:
            r = s3_client().get_object(**_object(uri, version_id, Range=f"bytes={start}-{end}"))
            data = r["Body"].read()
        except ClientError as exc:
            if error_code(exc) == "InvalidRange":  # at or past the end (an empty object, too)
                return RangeRead(b"", self.head(uri, version_id=version_id), start)
            raise _not_found_version(exc, uri, version_id) from exc
        except BotoCoreError as exc:
            raise storage_error(exc, uri) from exc
        size = int(str(r.get("ContentRange", "")).rpartition("/")[2] or r.get("ContentLength", len(data)))
        return RangeRead(data, _info(uri, r, size), start)

    def head(self, uri: str, *, version_id: str | None = None, hash_local: bool = False) -> ObjectInfo:
        try:
            r = s3_client().head_object(**_object(uri, version_id))
        except (ClientError, BotoCoreError) as exc:
            raise _not_found_version(exc, uri, version_id) from exc
        return _info(uri, r, int(r["ContentLength"]))

    @contextlib.contextmanager
    def atomic_writer(self, uri: str, *, content_type: str | None = None) -> Iterator[IO[bytes]]:
        """Spooled to a temp file, then one PUT (small) or a multipart upload completed at the end (large)."""
        loc = parse_s3(uri)
        threshold = get_settings().multipart_threshold_mb * (1 << 20)
        with tempfile.SpooledTemporaryFile(max_size=8 << 20) as tmp:
            yield tmp
            tmp.seek(0)
            extra: dict[str, str] = sse_args()
            if content_type:
                extra["ContentType"] = content_type
            try:
                s3_client().upload_fileobj(tmp, loc.bucket, loc.key, ExtraArgs=extra or None,
                                           Config=_transfer_config(multipart_threshold=threshold, use_threads=False))
            except (ClientError, BotoCoreError) as exc:
                raise storage_error(exc, uri) from exc

    def list(self, prefix: str, *, recursive: bool) -> Iterator[ObjectInfo]:
        loc = parse_s3(prefix)
        kwargs: dict[str, Any] = {"Bucket": loc.bucket, "Prefix": loc.key}
        if not recursive:
            kwargs["Delimiter"] = "/"
        try:
            for page in s3_client().get_paginator("list_objects_v2").paginate(**kwargs):
                for obj in page.get("Contents", []):
                    yield ObjectInfo(f"s3://{loc.bucket}/{obj['Key']}", int(obj["Size"]),
                                     str(obj.get("ETag", "")).strip('"') or None, obj.get("LastModified"))
        except (ClientError, BotoCoreError) as exc:
            raise storage_error(exc, prefix) from exc

    def copy(self, src: str, dst: str, *, atomic: bool) -> None:
        """One ``CopyObject`` request (a managed copy would add a ``HeadObject`` per object, twice the requests
        for many small images, see bench/bench_copy.py); a source over one request's 5 GB limit falls back to
        the managed (multipart) copy."""
        s, d = parse_s3(src), parse_s3(dst)
        cli = s3_client()
        try:
            try:
                cli.copy_object(CopySource={"Bucket": s.bucket, "Key": s.key}, Bucket=d.bucket, Key=d.key,
                                **sse_args())  # type: ignore[arg-type]
            except ClientError as exc:
                if error_code(exc) not in {"InvalidRequest", "EntityTooLarge"}:
                    raise
                cli.copy({"Bucket": s.bucket, "Key": s.key}, d.bucket, d.key, ExtraArgs=sse_args() or None,
                         Config=_transfer_config(use_threads=False))
        except (ClientError, BotoCoreError) as exc:
            raise storage_error(exc, src) from exc

    def upload_file(self, path: str, dst: str) -> None:
        d = parse_s3(dst)
        try:
            s3_client().upload_file(path, d.bucket, d.key, ExtraArgs=sse_args() or None,
                                    Config=_transfer_config(use_threads=False))
        except FileNotFoundError as exc:
            raise NotFound("does not exist", path) from exc
        except (ClientError, BotoCoreError) as exc:
            raise storage_error(exc, dst) from exc

    def delete(self, uri: str) -> None:
        try:
            s3_client().delete_object(**_object(uri, None))
        except (ClientError, BotoCoreError) as exc:
            raise storage_error(exc, uri) from exc

    def delete_prefix(self, prefix: str) -> int:
        """Every object whose key starts with ``prefix`` (end it with ``/`` for a folder), 1,000 per request.
        DeleteObjects answers 200 and lists the keys it could not delete: the first of them is raised."""
        return self.delete_many([o.uri for o in self.list(prefix, recursive=True)], where=prefix)

    def delete_many(self, uris: Sequence[str], *, where: str | None = None) -> int:
        """These objects (all in one bucket), 1,000 per DeleteObjects request; the first refused key is raised."""
        if not uris:
            return 0
        locs = [parse_s3(u) for u in uris]
        if len({loc.bucket for loc in locs}) > 1:
            raise StorageError("delete_many takes the objects of one bucket", uris[0])
        loc = locs[0]
        prefix = where or uris[0]
        keys = [x.key for x in locs]
        cli = s3_client()
        for i in range(0, len(keys), _DELETE_BATCH):
            batch = keys[i:i + _DELETE_BATCH]
            try:
                resp = cli.delete_objects(Bucket=loc.bucket, Delete={"Objects": [{"Key": k} for k in batch],
                                                                     "Quiet": True})
            except (ClientError, BotoCoreError) as exc:
                raise storage_error(exc, prefix) from exc
            errors = resp.get("Errors") or []
            if errors:
                first = errors[0]
                raise StorageError(f"{len(errors)} object(s) could not be deleted, first: {first.get('Code')} "
                                   f"{first.get('Message', '')}", f"s3://{loc.bucket}/{first.get('Key')}")
        return len(keys)

"""``s3://`` URIs and local paths behind one small API.

- streamed line reads (:func:`iter_lines`): a 1 GB manifest never sits in memory;
- atomic writes (:func:`atomic_writer`, :func:`write_bytes`): temp file + ``os.replace`` locally, a
  single PUT or a *completed* multipart upload on S3, so a reader never sees half an object;
- listing with filters (:func:`list_objects`);
- concurrent copies (:func:`copy_many`), server-side ``CopyObject`` between S3 locations.

boto3 only. Endpoints, profiles, regions and credentials are resolved by boto3 exactly as it always does
(``AWS_ENDPOINT_URL_S3`` / ``AWS_ENDPOINT_URL``, ``AWS_PROFILE``, ``AWS_REGION``...). When a KMS key is
configured (``GTLABEL_KMS_KEY_ID``), every object written gets SSE-KMS with that key.
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import json
import os
import shutil
import sys
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from gtlabel.aws import error_code, is_not_found
from gtlabel.errors import NotFound, StorageError
from gtlabel.settings import get_settings

# boto3 loads on first use: it is most of gtlabel's import time, and the conversion's worker processes and
# local-only work never need it
if TYPE_CHECKING:
    import boto3
    from mypy_boto3_s3 import S3Client

__all__ = [
    "ObjectInfo",
    "S3Uri",
    "atomic_writer",
    "block_lines",
    "configured_kms_key",
    "copy",
    "copy_many",
    "delete",
    "encrypt_with",
    "exists",
    "head",
    "is_s3",
    "iter_line_blocks",
    "iter_lines",
    "join",
    "list_objects",
    "parse_s3",
    "presign",
    "read_bytes",
    "read_text",
    "reset_clients",
    "s3_client",
    "write_bytes",
    "write_private_json",
    "write_text",
]

_CHUNK = 1 << 20


@dataclass(frozen=True)
class S3Uri:
    bucket: str
    key: str

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


@dataclass(frozen=True)
class ObjectInfo:
    """One object or file: ``uri``, ``size`` in bytes, ``etag`` (S3 ETag without quotes, or a sha1 of a local
    file's path/size/mtime when ``etag`` is cheap-mode, see :func:`head`), ``version_id`` if S3 versioning."""

    uri: str
    size: int
    etag: str | None = None
    last_modified: datetime | None = None
    version_id: str | None = None


def is_s3(uri: str | os.PathLike[str]) -> bool:
    return isinstance(uri, str) and uri.startswith("s3://")


def parse_s3(uri: str) -> S3Uri:
    if not is_s3(uri):
        raise StorageError("expected an s3://bucket/key URI", uri)
    rest = uri[5:]
    bucket, _, key = rest.partition("/")
    if not bucket:
        raise StorageError("the S3 URI has no bucket", uri)
    return S3Uri(bucket, key)


def join(base: str | os.PathLike[str], *parts: str) -> str:
    """Join path segments onto an S3 URI or a local path (always with ``/`` for S3)."""
    base = str(base)
    if is_s3(base):
        out = base.rstrip("/")
        for p in parts:
            out = f"{out}/{p.strip('/')}"
        return out
    return str(Path(base, *parts))


def _transfer_config(**kw: Any) -> Any:
    from boto3.s3.transfer import TransferConfig

    return TransferConfig(**kw)


_clients: dict[tuple[Any, ...], Any] = {}
_clients_lock = threading.Lock()


def reset_clients() -> None:
    """Forget cached clients and boto3's default session (which keeps the credentials it first resolved), so
    that the next calls see the environment as it is now (after pointing it at another endpoint or key)."""
    with _clients_lock:
        _clients.clear()
        if "boto3" in sys.modules:
            sys.modules["boto3"].DEFAULT_SESSION = None  # type: ignore[attr-defined]


def s3_client(region: str | None = None, session: boto3.Session | None = None) -> S3Client:
    """A cached, thread-safe S3 client. boto3 resolves endpoint, profile and credentials as usual."""
    key = (
        region,
        id(session),
        os.environ.get("AWS_ENDPOINT_URL_S3"),
        os.environ.get("AWS_ENDPOINT_URL"),
        os.environ.get("AWS_PROFILE"),
        os.environ.get("AWS_ACCESS_KEY_ID"),
        os.environ.get("AWS_SECRET_ACCESS_KEY"),
        os.environ.get("AWS_SESSION_TOKEN"),
        os.environ.get("AWS_REGION"),
        os.environ.get("AWS_DEFAULT_REGION"),
    )
    with _clients_lock:
        cli = _clients.get(key)
        if cli is None:
            import boto3.session
            from botocore.config import Config

            sess = session or boto3.session.Session()
            cfg = Config(
                max_pool_connections=max(10, get_settings().max_concurrency + 4),
                retries={"mode": "standard", "max_attempts": 5},
            )
            cli = sess.client("s3", region_name=region or sess.region_name or "us-east-1", config=cfg)
            _clients[key] = cli
        return cli


_SSE_KEY: contextvars.ContextVar[str | None] = contextvars.ContextVar("gtlabel_sse_key", default=None)


def _sse_args() -> dict[str, str]:
    kms = configured_kms_key()
    return {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": kms} if kms else {}


@contextlib.contextmanager
def encrypt_with(kms_key_id: str | None) -> Iterator[None]:
    """Within the block, S3 writes from this thread use SSE-KMS with ``kms_key_id`` (``None``: the configured
    ``GTLABEL_KMS_KEY_ID``, if any). The job builder uses it so that a job's own key also encrypts the files
    it uploads next to the job (manifest, label categories, template)."""
    token = _SSE_KEY.set(kms_key_id)
    try:
        yield
    finally:
        _SSE_KEY.reset(token)


def configured_kms_key() -> str | None:
    """The key S3 writes use right now (an :func:`encrypt_with` block's, else ``GTLABEL_KMS_KEY_ID``)."""
    return _SSE_KEY.get() or get_settings().kms_key_id


def _client_error(exc: ClientError | BotoCoreError, uri: str) -> StorageError:
    if not isinstance(exc, ClientError):  # no credentials, no route to the endpoint, a timeout...
        return StorageError(f"cannot reach S3 ({type(exc).__name__}: {exc})", uri)
    if is_not_found(exc):
        return NotFound("does not exist", uri)
    return StorageError(f"S3 error {error_code(exc)}: {exc}", uri)


# ----------------------------------------------------------------------------------------------- reads
def read_bytes(uri: str | os.PathLike[str]) -> bytes:
    uri = str(uri)
    if is_s3(uri):
        loc = parse_s3(uri)
        try:
            return s3_client().get_object(Bucket=loc.bucket, Key=loc.key)["Body"].read()
        except (ClientError, BotoCoreError) as exc:
            raise _client_error(exc, uri) from exc
    try:
        return Path(uri).read_bytes()
    except FileNotFoundError as exc:
        raise NotFound("does not exist", uri) from exc
    except OSError as exc:
        raise StorageError(str(exc), uri) from exc


def read_text(uri: str | os.PathLike[str], encoding: str = "utf-8-sig") -> str:
    try:
        return read_bytes(uri).decode(encoding)
    except UnicodeDecodeError as exc:
        raise StorageError(f"not valid {encoding} text: {exc}", str(uri)) from exc


@contextlib.contextmanager
def open_read(uri: str | os.PathLike[str]) -> Iterator[IO[bytes]]:
    """A binary stream of the object/file; S3 bodies are streamed, not loaded."""
    uri = str(uri)
    if is_s3(uri):
        loc = parse_s3(uri)
        try:
            body = s3_client().get_object(Bucket=loc.bucket, Key=loc.key)["Body"]
        except (ClientError, BotoCoreError) as exc:
            raise _client_error(exc, uri) from exc
        try:
            yield body  # type: ignore[misc]
        finally:
            body.close()
        return
    try:
        fh = open(uri, "rb")  # noqa: SIM115
    except FileNotFoundError as exc:
        raise NotFound("does not exist", uri) from exc
    except OSError as exc:
        raise StorageError(str(exc), uri) from exc
    with fh:
        yield fh


def iter_lines(uri: str | os.PathLike[str], *, keep_empty: bool = False,
               feed: Callable[[bytes], object] | None = None) -> Iterator[tuple[int, bytes]]:
    """Yield ``(line_number, raw_line_bytes)`` (1-based, without the line break) from a file or S3 object.

    Streams in 1 MiB chunks: memory does not grow with the file. A UTF-8 BOM on the first line and ``\\r\\n``
    line endings are removed. Empty lines are skipped unless ``keep_empty``. ``feed``: as in
    :func:`iter_line_blocks`.
    """
    for first, block in iter_line_blocks(uri, feed=feed):
        yield from block_lines(first, block, keep_empty=keep_empty)


def iter_line_blocks(uri: str | os.PathLike[str], block_size: int = _CHUNK, *,
                     feed: Callable[[bytes], object] | None = None) -> Iterator[tuple[int, bytes]]:
    """Yield ``(first_line_number, block)``: the file cut into blocks of whole lines (about ``block_size``
    bytes each, a line longer than that in a block of its own). :func:`block_lines` splits a block into the
    lines :func:`iter_lines` yields; blocks let several processes share the parsing of one file.

    ``feed`` (e.g. a hashlib object's ``update``) is called with every byte read, in order, so a reader can
    take the file's digest without a second read."""
    with open_read(uri) as fh:
        n = 1
        rest = b""
        while True:
            chunk = fh.read(block_size)
            if not chunk:
                break
            if feed is not None:
                feed(chunk)
            buf = rest + chunk if rest else chunk
            cut = buf.rfind(b"\n")
            if cut < 0:
                rest = buf
                continue
            block, rest = buf[: cut + 1], buf[cut + 1:]
            yield n, block
            n += block.count(b"\n")
        if rest:
            yield n, rest


def block_lines(first: int, block: bytes, *, keep_empty: bool = False) -> Iterator[tuple[int, bytes]]:
    """The lines of one :func:`iter_line_blocks` block as ``(line_number, raw_line_bytes)``, as
    :func:`iter_lines` yields them (BOM of line 1 and ``\\r`` removed, empty lines skipped unless
    ``keep_empty``)."""
    lines = block.split(b"\n")
    if block.endswith(b"\n"):
        lines.pop()
    n = first
    for raw in lines:
        if n == 1:
            raw = raw.removeprefix(b"\xef\xbb\xbf")
        raw = raw.removesuffix(b"\r")
        if keep_empty or raw.strip():
            yield n, raw
        n += 1


# ----------------------------------------------------------------------------------------------- writes
@contextlib.contextmanager
def atomic_writer(uri: str | os.PathLike[str], *, content_type: str | None = None) -> Iterator[IO[bytes]]:
    """Write a file or S3 object so that it appears whole or not at all.

    Locally: a temp file in the same folder, fsync, ``os.replace``. On S3: data is spooled to a temp file,
    then sent as one PUT (small) or a multipart upload that is only *completed* at the end (large). If the
    ``with`` body raises, nothing is written and an existing object is left as it was.
    """
    uri = str(uri)
    if is_s3(uri):
        loc = parse_s3(uri)
        threshold = get_settings().multipart_threshold_mb * (1 << 20)
        with tempfile.SpooledTemporaryFile(max_size=8 << 20) as tmp:
            yield tmp
            tmp.seek(0)
            extra: dict[str, str] = dict(_sse_args())
            if content_type:
                extra["ContentType"] = content_type
            try:
                s3_client().upload_fileobj(
                    tmp, loc.bucket, loc.key, ExtraArgs=extra or None,
                    Config=_transfer_config(multipart_threshold=threshold, use_threads=False),
                )
            except (ClientError, BotoCoreError) as exc:
                raise _client_error(exc, uri) from exc
        return
    path = Path(uri)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise StorageError(str(exc), uri) from exc
    ok = False
    try:
        with os.fdopen(fd, "wb") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp_name, 0o644)
        os.replace(tmp_name, path)
        ok = True
    finally:
        if not ok:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp_name)


def write_private_json(path: str | os.PathLike[str], doc: Any) -> None:
    """A local JSON file only its owner can read (mode 0600, for keys and passwords), written atomically."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(doc, fh, indent=2, allow_nan=False)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def write_bytes(uri: str | os.PathLike[str], data: bytes, *, content_type: str | None = None) -> None:
    with atomic_writer(uri, content_type=content_type) as fh:
        fh.write(data)


def write_text(uri: str | os.PathLike[str], text: str, *, content_type: str | None = None) -> None:
    write_bytes(uri, text.encode("utf-8"), content_type=content_type)


# ----------------------------------------------------------------------------------------------- metadata
def head(uri: str | os.PathLike[str], *, hash_local: bool = False) -> ObjectInfo:
    """Size, ETag and version of an object. For a local file the ETag is the MD5 of its bytes when
    ``hash_local`` (what S3 gives for single-part objects), else ``None``."""
    uri = str(uri)
    if is_s3(uri):
        loc = parse_s3(uri)
        try:
            r = s3_client().head_object(Bucket=loc.bucket, Key=loc.key)
        except (ClientError, BotoCoreError) as exc:
            raise _client_error(exc, uri) from exc
        return ObjectInfo(uri, int(r["ContentLength"]), str(r.get("ETag", "")).strip('"') or None,
                          r.get("LastModified"), r.get("VersionId"))
    p = Path(uri)
    try:
        st = p.stat()
    except FileNotFoundError as exc:
        raise NotFound("does not exist", uri) from exc
    etag = md5_file(p) if hash_local else None
    return ObjectInfo(uri, st.st_size, etag, datetime.fromtimestamp(st.st_mtime))


def md5_file(path: str | os.PathLike[str]) -> str:
    h = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(_CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


def exists(uri: str | os.PathLike[str]) -> bool:
    try:
        head(uri)
    except NotFound:
        return False
    return True


def list_objects(
    prefix: str | os.PathLike[str],
    *,
    suffixes: Iterable[str] | None = None,
    max_size: int | None = None,
    recursive: bool = True,
    predicate: Callable[[ObjectInfo], bool] | None = None,
) -> Iterator[ObjectInfo]:
    """Objects under an S3 prefix or files under a local folder, in lexicographic key order.

    ``suffixes`` filters case-insensitively (``[".jpg", ".png"]``); ``max_size`` drops larger objects;
    ``predicate`` is any other filter. Local listings are sorted too, so the order is deterministic.
    """
    prefix = str(prefix)
    sfx = tuple(s.lower() if s.startswith(".") else f".{s.lower()}" for s in suffixes) if suffixes else None

    def keep(info: ObjectInfo) -> bool:
        if sfx and not info.uri.lower().endswith(sfx):
            return False
        if max_size is not None and info.size > max_size:
            return False
        return predicate(info) if predicate else True

    if is_s3(prefix):
        loc = parse_s3(prefix)
        paginator = s3_client().get_paginator("list_objects_v2")
        kwargs: dict[str, Any] = {"Bucket": loc.bucket, "Prefix": loc.key}
        if not recursive:
            kwargs["Delimiter"] = "/"
        try:
            for page in paginator.paginate(**kwargs):
                for obj in page.get("Contents", []):
                    info = ObjectInfo(f"s3://{loc.bucket}/{obj['Key']}", int(obj["Size"]),
                                      str(obj.get("ETag", "")).strip('"') or None, obj.get("LastModified"))
                    if keep(info):
                        yield info
        except (ClientError, BotoCoreError) as exc:
            raise _client_error(exc, prefix) from exc
        return
    root = Path(prefix)
    if root.is_file():
        files = [root]
    elif root.is_dir():
        files = sorted((p for p in (root.rglob("*") if recursive else root.iterdir()) if p.is_file()),
                       key=lambda p: p.as_posix())
    else:
        raise NotFound("does not exist", prefix)
    for p in files:
        st = p.stat()
        info = ObjectInfo(str(p), st.st_size, None, datetime.fromtimestamp(st.st_mtime))
        if keep(info):
            yield info


# ----------------------------------------------------------------------------------------------- copies
def copy(src: str | os.PathLike[str], dst: str | os.PathLike[str], *, atomic: bool = True) -> None:
    """Copy one object/file. S3 -> S3 is a server-side copy; other pairs stream through this machine.

    S3 -> S3 is one ``CopyObject`` request (a managed copy would add a ``HeadObject`` per object, twice the
    requests for many small images, see bench/bench_copy.py); a source over one request's 5 GB limit falls
    back to the managed (multipart) copy. ``atomic=False`` writes a local destination in place, without the
    temp file and fsync: for a caller that publishes the whole folder atomically itself (the converter's
    staging folder)."""
    src, dst = str(src), str(dst)
    if is_s3(src) and is_s3(dst):
        s, d = parse_s3(src), parse_s3(dst)
        cli = s3_client()
        request: dict[str, Any] = {"CopySource": {"Bucket": s.bucket, "Key": s.key}, "Bucket": d.bucket,
                                   "Key": d.key, **_sse_args()}
        try:
            try:
                cli.copy_object(**request)
            except ClientError as exc:
                if str(exc.response.get("Error", {}).get("Code", "")) not in {"InvalidRequest", "EntityTooLarge"}:
                    raise
                cli.copy({"Bucket": s.bucket, "Key": s.key}, d.bucket, d.key, ExtraArgs=_sse_args() or None,
                         Config=_transfer_config(use_threads=False))
        except (ClientError, BotoCoreError) as exc:
            raise _client_error(exc, src) from exc
        return
    if not is_s3(src) and not is_s3(dst) and not atomic:
        try:
            shutil.copyfile(src, dst)
        except FileNotFoundError as exc:
            raise NotFound("does not exist", src) from exc
        except OSError as exc:
            raise StorageError(str(exc), src) from exc
        return
    if not is_s3(src) and not is_s3(dst):
        with open_read(src) as fin, atomic_writer(dst) as fout:
            for chunk in iter(lambda: fin.read(_CHUNK), b""):
                fout.write(chunk)
        return
    if is_s3(dst):
        d = parse_s3(dst)
        try:
            s3_client().upload_file(src, d.bucket, d.key, ExtraArgs=_sse_args() or None,
                                    Config=_transfer_config(use_threads=False))
        except FileNotFoundError as exc:
            raise NotFound("does not exist", src) from exc
        except (ClientError, BotoCoreError) as exc:
            raise _client_error(exc, dst) from exc
        return
    with open_read(src) as fin, atomic_writer(dst) as fout:
        for chunk in iter(lambda: fin.read(_CHUNK), b""):
            fout.write(chunk)


def copy_many(
    pairs: Iterable[tuple[str, str]],
    *,
    max_workers: int | None = None,
    on_done: Callable[[str, str], None] | None = None,
    atomic: bool = True,
) -> int:
    """Copy many objects concurrently (thread pool; each pair as :func:`copy`, S3 -> S3 server-side).

    Returns the number copied. The first failure is raised after in-flight copies finish.
    ``on_done(src, dst)`` is called after each copy, in the calling thread (e.g. to advance a progress bar).
    ``atomic``: as in :func:`copy`. An :func:`encrypt_with` key of the caller applies to every copy.
    """
    workers = max_workers or get_settings().max_concurrency
    done = 0
    first_error: BaseException | None = None
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="gtlabel-copy") as pool:
        pending: dict[Future[None], tuple[str, str]] = {}
        it = iter(pairs)
        exhausted = False
        while True:
            while not exhausted and len(pending) < workers * 4:
                pair = next(it, None)
                if pair is None:
                    exhausted = True
                    break
                # each copy runs in a copy of this context: an encrypt_with() key reaches the pool's threads
                ctx = contextvars.copy_context()
                pending[pool.submit(ctx.run, copy, pair[0], pair[1], atomic=atomic)] = pair
            if not pending:
                break
            finished, _ = wait(pending, return_when=FIRST_COMPLETED)
            for fut in finished:
                pair = pending.pop(fut)
                exc = fut.exception()
                if exc is not None:
                    first_error = first_error or exc
                    exhausted = True
                    continue
                done += 1
                if on_done:
                    on_done(*pair)
    if first_error is not None:
        raise first_error
    return done


def delete(uri: str | os.PathLike[str]) -> None:
    uri = str(uri)
    if is_s3(uri):
        loc = parse_s3(uri)
        try:
            s3_client().delete_object(Bucket=loc.bucket, Key=loc.key)
        except (ClientError, BotoCoreError) as exc:
            raise _client_error(exc, uri) from exc
        return
    with contextlib.suppress(FileNotFoundError):
        os.unlink(uri)


def presign(uri: str, expires_in: int = 3600) -> str:
    """A presigned GET URL for an S3 object (on whatever endpoint boto3 resolves)."""
    loc = parse_s3(uri)
    return s3_client().generate_presigned_url(
        "get_object", Params={"Bucket": loc.bucket, "Key": loc.key}, ExpiresIn=expires_in
    )

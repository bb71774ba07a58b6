"""``s3://`` URIs and local paths behind one small API.

- reads: whole (:func:`read_bytes`), streamed (:func:`open_read`, :func:`iter_lines`: a 1 GB manifest never
  sits in memory), a byte range (:func:`read_range`), a given S3 version (``version_id=``);
- atomic writes (:func:`atomic_writer`, :func:`write_bytes`): temp file + ``os.replace`` locally, a single PUT
  or a *completed* multipart upload on S3, so a reader never sees half an object;
- metadata (:func:`head`, also of a version), listing with filters (:func:`list_objects`);
- copies (:func:`copy`, :func:`copy_many`: server-side ``CopyObject`` between S3 locations), deletes
  (:func:`delete`, :func:`delete_prefix`).

Each call picks its backend once from the URI (:func:`backend`): :mod:`gtlabel.storage.s3` for ``s3://``,
:mod:`gtlabel.storage.local` for a path. S3 calls go where boto3 sends them (``AWS_ENDPOINT_URL_S3`` /
``AWS_ENDPOINT_URL``, ``AWS_PROFILE``, ``AWS_REGION``...), or, inside ``with storage.use_endpoint(url,
credentials):`` / ``with storage.use_client(client):``, to that endpoint or client, for every thread of the
process, without touching the environment. When a KMS key is configured (``GTLABEL_KMS_KEY_ID``, or an
:func:`encrypt_with` block), every object written gets SSE-KMS with that key.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import IO

from gtlabel.errors import NotFound, StorageError
from gtlabel.storage.base import CHUNK, Backend, ObjectInfo, RangeRead, S3Uri, is_s3, join, parse_s3
from gtlabel.storage.copies import copy, copy_many
from gtlabel.storage.local import LocalBackend, md5_file, read_file, write_private_json
from gtlabel.storage.s3 import (
    Credentials,
    S3Backend,
    S3Target,
    child_env,
    configured_kms_key,
    current_target,
    encrypt_with,
    presign,
    reset_clients,
    s3_client,
    use_client,
    use_endpoint,
)

__all__ = [
    "Credentials",
    "ObjectInfo",
    "RangeRead",
    "S3Target",
    "S3Uri",
    "atomic_writer",
    "backend",
    "block_lines",
    "child_env",
    "configured_kms_key",
    "copy",
    "copy_many",
    "current_target",
    "delete",
    "delete_many",
    "delete_prefix",
    "encrypt_with",
    "exists",
    "head",
    "is_s3",
    "iter_line_blocks",
    "iter_lines",
    "join",
    "list_objects",
    "md5_file",
    "open_read",
    "parse_s3",
    "presign",
    "read_bytes",
    "read_file",
    "read_range",
    "read_text",
    "reset_clients",
    "s3_client",
    "use_client",
    "use_endpoint",
    "write_bytes",
    "write_private_json",
    "write_text",
]

_BACKENDS: dict[bool, Backend] = {True: S3Backend(), False: LocalBackend()}


def backend(uri: str | os.PathLike[str]) -> Backend:
    """The backend that serves ``uri``: the one place where S3 and local paths part."""
    return _BACKENDS[is_s3(uri)]


# ----------------------------------------------------------------------------------------------- reads
def read_bytes(uri: str | os.PathLike[str], *, version_id: str | None = None) -> bytes:
    """The whole object or file (``version_id``: that S3 version)."""
    return backend(uri).read_bytes(str(uri), version_id=version_id)


def read_text(uri: str | os.PathLike[str], encoding: str = "utf-8-sig") -> str:
    try:
        return read_bytes(uri).decode(encoding)
    except UnicodeDecodeError as exc:
        raise StorageError(f"not valid {encoding} text: {exc}", str(uri)) from exc


def read_range(uri: str | os.PathLike[str], start: int = 0, length: int | None = None, *,
               version_id: str | None = None) -> RangeRead:
    """Bytes ``start`` .. ``start + length`` (to the end when ``length`` is ``None``; fewer at the end of the
    object) in one request, with what that request says about the whole object (size, ETag, version)."""
    if start < 0 or (length is not None and length < 0):
        raise StorageError(f"expected a range from 0 on, got start={start} length={length}", str(uri))
    return backend(uri).read_range(str(uri), start, length, version_id=version_id)


@contextlib.contextmanager
def open_read(uri: str | os.PathLike[str], *, version_id: str | None = None) -> Iterator[IO[bytes]]:
    """A binary stream of the object/file; S3 bodies are streamed, not loaded."""
    with backend(uri).open_read(str(uri), version_id=version_id) as fh:
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


def iter_line_blocks(uri: str | os.PathLike[str], block_size: int = CHUNK, *,
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
    with backend(uri).atomic_writer(str(uri), content_type=content_type) as fh:
        yield fh


def write_bytes(uri: str | os.PathLike[str], data: bytes, *, content_type: str | None = None) -> None:
    with atomic_writer(uri, content_type=content_type) as fh:
        fh.write(data)


def write_text(uri: str | os.PathLike[str], text: str, *, content_type: str | None = None) -> None:
    write_bytes(uri, text.encode("utf-8"), content_type=content_type)


# ----------------------------------------------------------------------------------------------- metadata
def head(uri: str | os.PathLike[str], *, version_id: str | None = None, hash_local: bool = False) -> ObjectInfo:
    """Size, ETag, version and encryption of an object (``version_id``: of that S3 version). For a local file
    the ETag is the MD5 of its bytes when ``hash_local`` (what S3 gives for single-part objects), else ``None``."""
    return backend(uri).head(str(uri), version_id=version_id, hash_local=hash_local)


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
    sfx = tuple(s.lower() if s.startswith(".") else f".{s.lower()}" for s in suffixes) if suffixes else None
    for info in backend(prefix).list(str(prefix), recursive=recursive):
        if sfx and not info.uri.lower().endswith(sfx):
            continue
        if max_size is not None and info.size > max_size:
            continue
        if predicate is None or predicate(info):
            yield info


# ----------------------------------------------------------------------------------------------- deletes
def delete(uri: str | os.PathLike[str]) -> None:
    """Remove one object or file (nothing happens when it is not there)."""
    backend(uri).delete(str(uri))


def delete_many(uris: Sequence[str | os.PathLike[str]]) -> int:
    """Remove these objects or files (the S3 ones of one bucket in batches of 1,000); a key S3 refused to delete
    is a :class:`~gtlabel.errors.StorageError` naming it. Returns how many were asked to go."""
    items = [str(u) for u in uris]
    if not items:
        return 0
    return backend(items[0]).delete_many(items)


def delete_prefix(prefix: str | os.PathLike[str]) -> int:
    """Remove every object under an S3 prefix (every key that starts with it: end it with ``/`` for a folder),
    or a local folder with everything in it. Returns how many objects or files went; a key S3 refused to
    delete is a :class:`~gtlabel.errors.StorageError` naming it."""
    return backend(prefix).delete_prefix(str(prefix))

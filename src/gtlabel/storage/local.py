"""Local files behind the storage interface: atomic writes (temp file, fsync, ``os.replace``), sorted listings."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
import threading
from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from gtlabel.errors import NotFound, StorageError
from gtlabel.storage.base import CHUNK, ObjectInfo, RangeRead

__all__ = ["LocalBackend", "md5_file", "read_file", "write_private_json"]


def _no_versions(uri: str, version_id: str | None) -> None:
    if version_id is not None:
        raise StorageError(f"a local file has no versions (asked for version {version_id})", uri)


def read_file(path: str, limit: int | None = None) -> bytes:
    """A local file's bytes (at most ``limit``) read with ``os.open``/``os.read``: for the many small files of a
    dataset (label files, image headers), about 2.5x cheaper in CPU than ``open()`` (no buffered file object).
    Raises what ``os.open`` raises (``FileNotFoundError``, ...)."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
    try:
        parts: list[bytes] = []
        n = 0
        while limit is None or n < limit:
            chunk = os.read(fd, (1 << 16) if limit is None else min(limit - n, 1 << 20))
            if not chunk:
                break
            parts.append(chunk)
            n += len(chunk)
        return parts[0] if len(parts) == 1 else b"".join(parts)
    finally:
        os.close(fd)


def md5_file(path: str | os.PathLike[str]) -> str:
    h = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


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


class LocalBackend:
    """Paths on this machine."""

    @contextlib.contextmanager
    def open_read(self, uri: str, *, version_id: str | None = None) -> Iterator[IO[bytes]]:
        _no_versions(uri, version_id)
        try:
            fh = open(uri, "rb")  # noqa: SIM115 - closed by the with below
        except FileNotFoundError as exc:
            raise NotFound("does not exist", uri) from exc
        except OSError as exc:
            raise StorageError(str(exc), uri) from exc
        with fh:
            yield fh

    def read_bytes(self, uri: str, *, version_id: str | None = None) -> bytes:
        _no_versions(uri, version_id)
        try:
            return Path(uri).read_bytes()
        except FileNotFoundError as exc:
            raise NotFound("does not exist", uri) from exc
        except OSError as exc:
            raise StorageError(str(exc), uri) from exc

    def read_range(self, uri: str, start: int, length: int | None, *,
                   version_id: str | None = None) -> RangeRead:
        with self.open_read(uri, version_id=version_id) as fh:
            st = os.fstat(fh.fileno())
            fh.seek(start)
            data = fh.read() if length is None else fh.read(length)
        return RangeRead(data, ObjectInfo(uri, st.st_size, None, datetime.fromtimestamp(st.st_mtime)), start)

    def head(self, uri: str, *, version_id: str | None = None, hash_local: bool = False) -> ObjectInfo:
        _no_versions(uri, version_id)
        try:
            st = Path(uri).stat()
        except FileNotFoundError as exc:
            raise NotFound("does not exist", uri) from exc
        except OSError as exc:
            raise StorageError(str(exc), uri) from exc
        return ObjectInfo(uri, st.st_size, md5_file(uri) if hash_local else None, datetime.fromtimestamp(st.st_mtime))

    @contextlib.contextmanager
    def atomic_writer(self, uri: str, *, content_type: str | None = None) -> Iterator[IO[bytes]]:
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

    def list(self, prefix: str, *, recursive: bool) -> Iterator[ObjectInfo]:
        root = Path(prefix)
        if root.is_file():
            files = [root]
        elif root.is_dir():
            base = root.resolve()
            # a symlink is listed only when it stays inside the folder: a link to /etc/passwd or to another
            # user's files is not one of the images (symlinked folders are not descended into at all)
            files = sorted((p for p in (root.rglob("*") if recursive else root.iterdir())
                            if p.is_file() and (not p.is_symlink() or p.resolve().is_relative_to(base))),
                           key=lambda p: p.as_posix())
        else:
            raise NotFound("does not exist", prefix)
        for p in files:
            st = p.stat()
            yield ObjectInfo(str(p), st.st_size, None, datetime.fromtimestamp(st.st_mtime))

    def copy(self, src: str, dst: str, *, atomic: bool) -> None:
        if not atomic:  # in place: for a caller that publishes the whole folder atomically itself
            try:
                shutil.copyfile(src, dst)
            except FileNotFoundError as exc:
                raise NotFound("does not exist", src) from exc
            except OSError as exc:
                raise StorageError(str(exc), src) from exc
            return
        with self.open_read(src) as fin, self.atomic_writer(dst) as fout:
            shutil.copyfileobj(fin, fout, CHUNK)

    def delete(self, uri: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(uri)

    def delete_many(self, uris: Sequence[str]) -> int:
        for uri in uris:
            self.delete(uri)
        return len(uris)

    def delete_prefix(self, prefix: str) -> int:
        """A local "prefix" is a folder: it goes, with everything in it. The number of files removed."""
        root = Path(prefix)
        if not root.exists():
            return 0
        if not root.is_dir():
            raise StorageError("expected a folder to delete", prefix)
        n = sum(1 for p in root.rglob("*") if not p.is_dir())
        try:
            shutil.rmtree(root)
        except OSError as exc:
            raise StorageError(f"cannot delete the folder: {exc}", prefix) from exc
        return n

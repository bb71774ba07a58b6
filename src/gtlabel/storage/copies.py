"""Copies between any two places: within S3 server-side, within the disk as files, across by streaming."""

from __future__ import annotations

import contextvars
import os
import shutil
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait

from gtlabel.settings import get_settings
from gtlabel.storage.base import CHUNK, is_s3
from gtlabel.storage.local import LocalBackend
from gtlabel.storage.s3 import S3Backend

__all__ = ["copy", "copy_many"]

_LOCAL, _S3 = LocalBackend(), S3Backend()


def copy(src: str | os.PathLike[str], dst: str | os.PathLike[str], *, atomic: bool = True) -> None:
    """Copy one object/file. S3 -> S3 is a server-side copy; other pairs stream through this machine.

    ``atomic=False`` writes a local destination in place, without the temp file and fsync: for a caller that
    publishes the whole folder atomically itself (the converter's staging folder)."""
    src, dst = str(src), str(dst)
    from_s3, to_s3 = is_s3(src), is_s3(dst)
    if from_s3 == to_s3:
        (_S3 if from_s3 else _LOCAL).copy(src, dst, atomic=atomic)
    elif to_s3:
        _S3.upload_file(src, dst)
    else:
        with _S3.open_read(src) as fin, _LOCAL.atomic_writer(dst) as fout:
            shutil.copyfileobj(fin, fout, CHUNK)


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
    ``atomic``: as in :func:`copy`. An :func:`~gtlabel.storage.encrypt_with` key of the caller applies to every
    copy.
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

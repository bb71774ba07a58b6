"""Ultralytics' console output into a log file, so that a caller (the demo) can show its own progress instead.

Ultralytics writes in two ways: its ``ultralytics`` logger (a ``StreamHandler`` bound to ``sys.stdout`` when
Ultralytics was imported) and its progress bars and prints (to ``sys.stdout`` / ``sys.stderr`` as they are
when a bar starts). :func:`ultralytics_log` points both at one file for the length of a ``with`` block and puts
them back afterwards, even when the block raises. ``sys.stdout`` is process-wide: a caller that prints inside
the block prints through a console bound to the real stream before it (``rich.console.Console(file=...)``).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from pathlib import Path
from typing import IO

from gtlabel.model.offline import import_ultralytics

__all__ = ["ultralytics_log"]


@contextmanager
def ultralytics_log(path: str | os.PathLike[str]) -> Iterator[IO[str]]:
    """Append everything Ultralytics prints inside the block to ``path`` (created with its folder); yields the
    open file."""
    import_ultralytics()
    from ultralytics.utils import LOGGER

    log_path = Path(path)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("a", encoding="utf-8") as fh:
        swapped: list[tuple[logging.StreamHandler[IO[str]], IO[str]]] = []
        for handler in LOGGER.handlers:
            if type(handler) is logging.StreamHandler:
                old = handler.setStream(fh)  # the stream it wrote to (None when it was fh already)
                if old is not None:
                    swapped.append((handler, old))
        try:
            with redirect_stdout(fh), redirect_stderr(fh):
                yield fh
        finally:
            for handler, stream in swapped:
                handler.setStream(stream)

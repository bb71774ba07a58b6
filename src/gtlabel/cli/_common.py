"""Shared CLI plumbing: exit codes, error rendering and the options more than one command parses."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from enum import IntEnum
from typing import ParamSpec, TypeVar

import typer
from rich.console import Console

from gtlabel import errors

P = ParamSpec("P")
R = TypeVar("R")

console = Console()
err_console = Console(stderr=True)


class Exit(IntEnum):
    """Exit codes of every ``gtlabel`` command."""

    OK = 0
    ERROR = 1  # unexpected failure
    USAGE = 2  # bad command line (typer/click)
    INVALID = 3  # invalid input or request (validation failed, malformed manifest, bad labels)
    BUDGET = 4  # cost estimate over budget
    NOT_FOUND = 5  # missing file/object/job/storage failure
    JOB = 6  # job failed / stopped / name in use
    EXISTS = 7  # dataset version exists (immutable)
    MISSING_EXTRA = 8  # optional extra not installed


_CODES: list[tuple[type[BaseException], Exit]] = [
    (errors.BudgetExceeded, Exit.BUDGET),
    (errors.ValidationFailed, Exit.INVALID),
    (errors.InputError, Exit.INVALID),
    (errors.ConfigError, Exit.INVALID),
    (errors.StorageError, Exit.NOT_FOUND),
    (errors.JobError, Exit.JOB),
    (errors.DatasetExists, Exit.EXISTS),
    (errors.LineageError, Exit.INVALID),
    (errors.MissingExtra, Exit.MISSING_EXTRA),
]


def exit_code_for(exc: BaseException) -> Exit:
    for cls, code in _CODES:
        if isinstance(exc, cls):
            return code
    return Exit.ERROR


def handle_errors(fn: Callable[P, R]) -> Callable[P, R]:
    """Turn gtlabel errors into a one-paragraph message on stderr and the defined exit code."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except errors.GtlabelError as exc:
            # soft_wrap: the message names files, URIs and ARNs; rich never breaks it (a terminal folds it)
            err_console.print(f"[bold red]error:[/] {exc}", markup=True, highlight=False, soft_wrap=True)
            raise typer.Exit(int(exit_code_for(exc))) from None
        except KeyboardInterrupt:
            err_console.print("interrupted")
            sys.exit(130)

    return wrapper


def parse_split(text: str) -> tuple[float, ...]:
    """``--split 0.8,0.1,0.1``: the ratios (their number and sum are checked where they are used)."""
    try:
        return tuple(float(v) for v in text.split(","))
    except ValueError:
        raise errors.ConfigError(f"--split: expected train,val[,test] ratios, e.g. 0.8,0.1,0.1, got {text!r}") from None

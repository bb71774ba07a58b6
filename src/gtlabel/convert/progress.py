"""The conversion's progress bars (rich, one per phase), or nothing when disabled."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from gtlabel.progress import AmountColumn

__all__ = ["Phase", "Phases"]


class Phase(Protocol):
    """Starts a bar (:meth:`Phases.phase`); the function it returns advances it."""

    def __call__(self, description: str, total: float | None = None, unit: str = "") -> Callable[[int], None]: ...


class Phases:
    """rich progress bars (one per phase), or nothing when disabled. Updates are batched by the callers."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._p: Progress | None = None

    def __enter__(self) -> Phases:
        if self.enabled:
            self._p = Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                               AmountColumn(), TimeElapsedColumn(), transient=False)
            self._p.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._p is not None:
            self._p.__exit__(*exc)

    def add(self, description: str, total: float | None = None, unit: str = "") -> Any:
        return self._p.add_task(description, total=total, unit=unit) if self._p is not None else None

    def advance(self, task: Any, n: float = 1) -> None:
        if self._p is not None and task is not None:
            self._p.advance(task, n)

    def phase(self, description: str, total: float | None = None, unit: str = "") -> Callable[[int], None]:
        """A new bar; the returned function advances it. Give ``total`` whenever it is known before the phase
        ends (``unit="bytes"``: the bar counts bytes, e.g. of the manifest), so that no bar shows ``n/?``."""
        task = self.add(description, total, unit)
        return lambda n: self.advance(task, n)

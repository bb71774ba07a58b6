"""Live progress of a watched job, in a terminal (rich) or a Jupyter notebook (an updating HTML display).

In a notebook the bar is one ``display_data`` output (``text/html`` with a ``<progress>`` element, plus
``text/plain``) updated in place through its display id, so it needs no ipywidgets and stays visible in
the saved notebook. In a terminal it is a rich ``Progress`` on stderr. IPython is imported only inside a
Jupyter kernel, where it is already loaded (it is not a dependency of gtlabel).
"""

from __future__ import annotations

import html
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from rich.console import Console, RenderableType
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn
from rich.text import Text

from gtlabel.aws import JobStatus
from gtlabel.monitor.model import Counters, Forecast, human_duration

SEPARATOR = " · "


@dataclass(frozen=True)
class Snapshot:
    job_name: str
    status: str
    counters: Counters
    cost_usd: float | None
    budget_usd: float | None
    forecast: Forecast | None
    note: str = ""  # e.g. "stalled 1h02m", "stopped by gtlabel (budget)"


class ProgressView(Protocol):
    def update(self, snap: Snapshot) -> None: ...

    def close(self) -> None: ...


def describe_parts(s: Snapshot) -> list[str]:
    """The snapshot as parts (``job status``, counts, cost, ETA, note): each is one value never to be cut."""
    c = s.counters
    parts = [f"{s.job_name} {s.status}", f"{c.done}/{c.total} done",
             f"human {c.human_labeled}", f"machine {c.machine_labeled}", f"failed {c.failed}"]
    if s.cost_usd is not None:
        parts.append(f"${s.cost_usd:,.2f}" + (f" of ${s.budget_usd:,.2f}" if s.budget_usd else ""))
    f = s.forecast
    if f is not None and f.eta_seconds is not None and f.remaining:
        parts.append(f"ETA {human_duration(f.eta_seconds)}")
    if f is not None and f.projected_cost_usd is not None and f.remaining:
        parts.append(f"projected ${f.projected_cost_usd:,.2f}")
    if s.note:
        parts.append(s.note)
    return parts


def describe_line(s: Snapshot) -> str:
    """One line of text for a snapshot (also the notebook's text/plain and the log)."""
    return SEPARATOR.join(describe_parts(s))


def pack_parts(parts: Sequence[str], width: int) -> list[str]:
    """Join ``parts`` with the separator into lines of at most ``width`` characters, breaking only between parts
    (a single part wider than ``width`` gets a line of its own, which the terminal folds: it is never cut)."""
    lines: list[str] = []
    for part in parts:
        if lines and len(lines[-1]) + len(SEPARATOR) + len(part) <= width:
            lines[-1] += SEPARATOR + part
        else:
            lines.append(part)
    return lines


def _bar_text(c: Counters, width: int = 30) -> str:
    filled = round(width * c.fraction)
    return "[" + "#" * filled + "-" * (width - filled) + f"] {c.fraction:6.1%}"


def render_html(s: Snapshot) -> str:
    c = s.counters
    total = max(c.total, 1)
    colour = "#2e7d32" if s.status == JobStatus.COMPLETED else (
        "#c62828" if s.status in (JobStatus.FAILED, JobStatus.STOPPED) else "#1565c0")
    return (
        '<div class="gtlabel-progress" style="font-family:monospace;font-size:13px;line-height:1.6">'
        f'<b>{html.escape(s.job_name)}</b> <span style="color:{colour}">{html.escape(s.status)}</span><br>'
        f'<progress value="{c.done}" max="{total}" style="width:320px"></progress> '
        f"{c.done}/{c.total} ({c.fraction:.1%})<br>"
        f"{html.escape(SEPARATOR.join(describe_parts(s)[2:]))}"
        "</div>"
    )


class NotebookView:
    """An HTML display updated in place (IPython display handle)."""

    def __init__(self) -> None:
        self._handle: Any = None

    def update(self, snap: Snapshot) -> None:
        from IPython import display as ipd

        display: Any = ipd.display
        bundle = {"text/html": render_html(snap), "text/plain": f"{_bar_text(snap.counters)} {describe_line(snap)}"}
        if self._handle is None:
            self._handle = display(bundle, raw=True, display_id=True)
        else:
            self._handle.update(bundle, raw=True)

    def close(self) -> None:
        self._handle = None


class _StatusProgress(Progress):
    """The job and its status on one line, the bar below it, then the counts and cost packed to the console's
    width, breaking between values only: nothing is truncated at 80 columns (the bar takes what is left)."""

    def get_renderables(self) -> Iterable[RenderableType]:
        for task in self.tasks:  # (none yet while the base class is set up, before self.console exists)
            yield Text(task.description, style="bold", overflow="fold")
            yield self.make_tasks_table([task])
            for line in pack_parts(task.fields.get("parts", ()), self.console.width):
                yield Text(line, overflow="fold")


class RichView:
    """A rich Progress bar on stderr (renders as a live bar in terminals, plain lines elsewhere)."""

    def __init__(self, console: Console | None = None) -> None:
        self._progress = _StatusProgress(
            BarColumn(bar_width=None),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console or Console(stderr=True),
            transient=False,
        )
        self._task: Any = None

    def update(self, snap: Snapshot) -> None:
        parts = describe_parts(snap)
        desc, parts = parts[0], parts[2:]  # "job status" heads the view; "done/total" is the bar's own count
        total = max(snap.counters.total, 1)
        if self._task is None:
            self._progress.start()
            self._task = self._progress.add_task(desc, total=total, completed=snap.counters.done, parts=parts)
        self._progress.update(self._task, description=desc, total=total, completed=snap.counters.done, parts=parts,
                              refresh=True)  # each poll's snapshot is drawn at least once

    def close(self) -> None:
        if self._task is not None:
            self._progress.stop()


class NullView:
    def update(self, snap: Snapshot) -> None:
        return None

    def close(self) -> None:
        return None


def in_notebook() -> bool:
    """True inside a Jupyter kernel (checked without importing IPython when it is not loaded)."""
    if "IPython" not in sys.modules:
        return False
    try:
        from IPython import get_ipython

        shell = get_ipython()
    except Exception:
        return False
    return shell is not None and type(shell).__name__ == "ZMQInteractiveShell"


def make_view(progress: bool | ProgressView) -> ProgressView:
    if progress is True:
        return NotebookView() if in_notebook() else RichView()
    if progress is False or progress is None:
        return NullView()
    return progress

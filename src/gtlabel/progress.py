"""What every rich progress bar of gtlabel shares: the column that shows how much is done out of how much.

A task added with ``unit="bytes"`` shows sizes (``12.3/40.1 kB``), any other ``done/total`` counts. Callers give
each bar its total whenever it is known before the work ends (a file's size, a listing's length), so that no
bar shows ``24/?``.
"""

from __future__ import annotations

from rich.progress import DownloadColumn, MofNCompleteColumn, ProgressColumn, Task
from rich.text import Text

__all__ = ["AmountColumn"]


class AmountColumn(ProgressColumn):
    """``done/total`` of a task: sizes for ``unit="bytes"`` tasks, counts otherwise."""

    def __init__(self) -> None:
        super().__init__()
        self._bytes = DownloadColumn()
        self._count = MofNCompleteColumn()

    def render(self, task: Task) -> Text:
        if task.fields.get("unit") == "bytes":
            return self._bytes.render(task)
        return self._count.render(task)

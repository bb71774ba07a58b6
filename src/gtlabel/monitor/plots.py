"""Plots of a watched job: counters over time, labeling rate, cost against the budget line.

matplotlib (an optional extra) is imported lazily and used through ``Figure`` + the Agg canvas, never
pyplot, so it works headless and in threads. In a notebook the PNG is displayed inline.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any

from gtlabel.errors import MissingExtra
from gtlabel.monitor.forecast import rates
from gtlabel.monitor.progress import in_notebook
from gtlabel.storage import write_bytes

if TYPE_CHECKING:
    from gtlabel.monitor.summary import WatchSummary


def _figure_class() -> Any:
    try:
        from matplotlib.figure import Figure
    except ImportError as exc:  # pragma: no cover - the extra is installed in the dev venv
        raise MissingExtra("quality", "matplotlib") from exc
    return Figure


def plot_watch(summary: WatchSummary, path: str | None = None, *, show: bool | None = None) -> Any:
    """Draw the three panels; save a PNG to ``path`` (local or s3://, atomically) and return the Figure.

    ``show`` (default: when running in a notebook) also displays the PNG inline.
    """
    Figure = _figure_class()
    tl = summary.timeline
    minutes = [s.t / 60.0 for s in tl]
    fig = Figure(figsize=(9, 8), dpi=100, layout="constrained")
    ax1, ax2, ax3 = fig.subplots(3, 1, sharex=True)

    series = {
        "labeled": [s.counters.total_labeled for s in tl],
        "human": [s.counters.human_labeled for s in tl],
        "machine": [s.counters.machine_labeled for s in tl],
        "failed": [s.counters.failed for s in tl],
        "unlabeled": [s.counters.unlabeled for s in tl],
    }
    for label, ys in series.items():
        ax1.step(minutes, ys, where="post", label=label)
    ax1.set_ylabel("objects")
    ax1.set_title(f"{summary.job_name}: {summary.final_status}")
    ax1.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small")
    ax1.grid(alpha=0.3)

    r = rates(tl)
    ax2.plot([t / 60.0 for t, _ in r], [v for _, v in r], marker=".", color="tab:purple")
    ax2.set_ylabel("objects / min")
    ax2.grid(alpha=0.3)

    costs = [(s.t / 60.0, s.cost_usd) for s in tl if s.cost_usd is not None]
    if costs:
        ax3.step([t for t, _ in costs], [c for _, c in costs], where="post", label="cost so far", color="tab:green")
    if summary.budget_usd:
        ax3.axhline(summary.budget_usd, color="tab:red", linestyle="--", label=f"budget ${summary.budget_usd:,.2f}")
    for a in summary.alerts:
        ax3.axvline(a.t / 60.0, color="tab:orange", alpha=0.5, linestyle=":")
        ax3.annotate(f"{a.threshold:.0%}", (a.t / 60.0, a.cost_usd), fontsize="x-small", color="tab:orange")
    ax3.set_ylabel("USD")
    ax3.set_xlabel("minutes since the watch started")
    ax3.grid(alpha=0.3)
    if costs or summary.budget_usd:
        ax3.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small")

    png = figure_png(fig)
    if path is not None:
        write_bytes(path, png, content_type="image/png")
    if show is None:
        show = in_notebook()
    if show:
        from IPython import display as ipd

        show_: Any = ipd.display
        image: Any = ipd.Image
        show_(image(data=png, format="png"))
    return fig


def figure_png(fig: Any) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()

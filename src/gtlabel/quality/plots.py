"""The quality report's plots (class histogram, box size and aspect, confidence, worker agreement) as PNG bytes.

matplotlib (the ``quality`` extra, Agg backend) is loaded here only, on first use: the one place in the core
that reaches an extra (the import-linter contract names it).
"""

from __future__ import annotations

import io
import math
from typing import TYPE_CHECKING, Any

from gtlabel.errors import MissingExtra

if TYPE_CHECKING:
    from gtlabel.quality.report import QualityReport

PALETTE = ["#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#42d4f4", "#f032e6", "#bfef45",
           "#fabed4", "#469990", "#dcbeff", "#9a6324"]
SIZE_BINS = [10 ** (-3 + i / 8) for i in range(25)]  # relative side length 0.001 .. 1, log-spaced


def pyplot() -> Any:
    """matplotlib.pyplot with the Agg backend; :class:`MissingExtra` without the quality extra."""
    try:
        import matplotlib
    except ImportError as exc:  # pragma: no cover - the quality/local extras bring it
        raise MissingExtra("quality", "matplotlib") from exc
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _png(fig: Any) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=96, bbox_inches="tight")
    pyplot().close(fig)
    return buf.getvalue()


def make_plots(rep: QualityReport) -> dict[str, bytes]:
    """Class histogram, box size and aspect distributions, confidence distribution, worker agreement."""
    plt = pyplot()
    out: dict[str, bytes] = {}
    classes = rep.data["classes"]
    color = {c["id"]: PALETTE[c["id"] % len(PALETTE)] for c in classes}

    fig, ax = plt.subplots(figsize=(5.2, 3.2))
    if classes:
        ax.bar([c["name"] for c in classes], [c["boxes"] for c in classes], color=[color[c["id"]] for c in classes])
        ax.tick_params(axis="x", rotation=30)
    ax.set_title("Boxes per class")
    ax.set_ylabel("boxes")
    out["class_histogram"] = _png(fig)

    val = rep.validation
    fig, ax = plt.subplots(figsize=(5.2, 3.2))
    for cid, s in sorted(val.classes.items()):
        if s.area_fracs:
            ax.hist([math.sqrt(a) for a in s.area_fracs], bins=SIZE_BINS, alpha=0.55, label=s.name,
                    color=color.get(cid))
    ax.set_xscale("log")
    ax.set_title("Box size (sqrt of box area / image area)")
    ax.set_xlabel("relative side length (log scale)")
    ax.set_ylabel("boxes")
    if val.classes:
        ax.legend(fontsize=8)
    out["box_size"] = _png(fig)

    fig, ax = plt.subplots(figsize=(5.2, 3.2))
    for cid, s in sorted(val.classes.items()):
        if s.aspects:
            ax.hist([math.log2(a) for a in s.aspects], bins=[i / 4 for i in range(-16, 17)], alpha=0.55,
                    label=s.name, color=color.get(cid))
    ax.set_title("Box aspect (log2 width / height)")
    ax.set_xlabel("log2(w / h): 0 square, 1 twice as wide")
    ax.set_ylabel("boxes")
    if val.classes:
        ax.legend(fontsize=8)
    out["box_aspect"] = _png(fig)

    fig, ax = plt.subplots(figsize=(5.2, 3.2))
    confs = [c for s in val.classes.values() for c in s.confidences]
    if confs:
        ax.hist(confs, bins=[i / 20 for i in range(21)], color="#4363d8")
        ax.axvline(val.config.low_confidence, color="#e6194b", linestyle="--", label="low-confidence threshold")
        ax.legend(fontsize=8)
    else:
        ax.text(0.5, 0.5, "no confidences\n(one worker per image, or none recorded)", ha="center", va="center",
                transform=ax.transAxes)
    ax.set_title("Box confidence")
    ax.set_xlabel("confidence")
    ax.set_ylabel("boxes")
    out["confidence"] = _png(fig)

    if rep.workers is not None and rep.workers.workers:
        ws = rep.workers.workers
        fig, ax = plt.subplots(figsize=(5.2, 3.2))
        ids = [w.worker_id for w in ws]
        scores = [w.score or 0.0 for w in ws]
        ax.barh(ids, scores, color=["#e6194b" if w.flagged else "#3cb44b" for w in ws])
        if rep.workers.team_median_score is not None:
            ax.axvline(rep.workers.team_median_score, color="#333", linestyle="--", label="team median")
            ax.legend(fontsize=8, loc="lower right")
        ax.set_xlim(0, 1)
        ax.invert_yaxis()
        ax.set_title("Worker agreement (F1 x mean IoU vs consolidated)")
        ax.set_xlabel("score (red: flagged)")
        out["worker_agreement"] = _png(fig)
    return out

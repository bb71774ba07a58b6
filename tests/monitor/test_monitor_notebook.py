"""The live progress bar and the plots render in an executed Jupyter notebook (nbclient + ipykernel)."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

HERE = Path(__file__).resolve().parent

SETUP = f"""
import sys
sys.path.insert(0, {str(HERE)!r})
from monitor_helpers import counters, describe, per_object_cost, stubbed_sagemaker
client, stub = stubbed_sagemaker()
for n in (0, 3, 6, 8):
    stub.add_response("describe_labeling_job", describe("nb-job", "InProgress", counters(n, 10 - n, machine=n // 3)))
stub.add_response("describe_labeling_job", describe("nb-job", "Completed", counters(10, 0, machine=3)))
stub.activate()
"""

WATCH = """
from gtlabel.monitor import watch_labeling_job
summary = watch_labeling_job("nb-job", sm_client=client, poll_seconds=0.01, max_poll_seconds=0.01,
                             cost_fn=per_object_cost(0.10), budget_usd=2.0, stall_after_seconds=0)
print("final:", summary.final_status, summary.counters.total_labeled)
"""

PLOT = """
fig = summary.plot()
"""


@pytest.mark.slow
def test_progress_bar_and_plot_render_in_executed_notebook(tmp_path: Path, artifacts_dir: Path) -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(SETUP), nbformat.v4.new_code_cell(WATCH), nbformat.v4.new_code_cell(PLOT)]
    NotebookClient(nb, timeout=180, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    nbformat.write(nb, artifacts_dir / "monitor_progress.ipynb")

    outs = nb.cells[1].outputs
    displays = [o for o in outs if o.output_type == "display_data"]
    assert len(displays) == 1, outs  # one bar, updated in place (display id), not one output per poll
    html = displays[0].data["text/html"]
    assert '<progress value="10" max="10"' in html  # the final state replaced the earlier ones
    assert "nb-job" in html and "Completed" in html
    assert "human 7" in html and "machine 3" in html and "failed 0" in html and "$1.00 of $2.00" in html
    plain = displays[0].data["text/plain"]
    assert plain.startswith("[##############################] 100.0%")
    assert displays[0].metadata == {} or "transient" not in displays[0].metadata
    streams = "".join(o.get("text", "") for o in outs if o.output_type == "stream")
    assert "final: Completed 10" in streams
    assert "ipywidgets" not in streams  # no fallback warning: the bar needs no widgets

    plot_outs = [o for o in nb.cells[2].outputs if o.output_type == "display_data"]
    assert len(plot_outs) == 1 and "image/png" in plot_outs[0].data
    assert len(plot_outs[0].data["image/png"]) > 10_000  # base64 PNG of the three panels

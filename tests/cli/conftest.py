"""The CLI's tests (one file per area, ``test_cli_<area>.py``). They build their inputs with the helpers of the
area's library tests: their helper modules (tests/convert's convert_helpers, tests/jobs' jobs_helpers,
tests/monitor's monitor_helpers) are put on the import path here."""

from __future__ import annotations

import sys
from pathlib import Path

for _area in ("convert", "jobs", "monitor"):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / _area))

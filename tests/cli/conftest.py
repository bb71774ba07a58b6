"""The CLI's tests (one file per area, ``test_cli_<area>.py``). They build their inputs with the helpers of the
area's library tests: tests/convert's convert_helpers module is put on the import path here."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "convert"))

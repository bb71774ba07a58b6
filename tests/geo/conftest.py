"""The geodata tests convert small datasets: tests/convert's convert_helpers module is put on the import path."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "convert"))

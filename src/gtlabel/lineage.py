"""Dataset versions and lineage (see docs/ARCHITECTURE.md, "yolo + lineage")."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

import orjson


def version_id(payload: Mapping[str, Any]) -> str:
    """A content-derived version id: the same payload (labels, image ETags/hashes, class names, splits,
    conversion settings) always gives the same id, any change gives another."""
    blob = orjson.dumps(payload, option=orjson.OPT_SORT_KEYS)
    return "v-" + hashlib.sha256(blob).hexdigest()[:16]

"""Version ids: the content hash the converter gives a dataset, and its recomputation from a lineage."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import orjson

from gtlabel.formats import strict_json
from gtlabel.formats.yolo import DATASET_FORMAT
from gtlabel.lineage.record import Lineage


def version_id(payload: Mapping[str, Any]) -> str:
    """A content-derived version id: the same payload (labels, image ETags/hashes, class names, splits,
    conversion settings) always gives the same id, any change gives another."""
    blob = strict_json.dumps(payload, option=orjson.OPT_SORT_KEYS)
    return "v-" + hashlib.sha256(blob).hexdigest()[:16]


def dataset_version(names: Sequence[str], settings: Mapping[str, Any] | None, entries_sum: int, count: int,
                    moved_to_val: Sequence[str]) -> str:
    """The version id of a dataset (format :data:`~gtlabel.formats.yolo.DATASET_FORMAT`): of its class
    ``names``, conversion ``settings``, ``entries_sum`` (the sum of its lineage entries' SHA-256, as integers;
    taken mod 2**256 here), image ``count`` and the images ``moved_to_val`` (train -> val, tiny datasets). The
    one payload the converters hash and :func:`recompute_version` recomputes."""
    return version_id({"format": DATASET_FORMAT, "names": list(names), "settings": settings,
                       "entries": f"{entries_sum % (1 << 256):064x}", "count": count,
                       "moved_to_val": list(moved_to_val)})


def _entries_sum(entries: Iterable[Mapping[str, Any]]) -> int:
    return sum(int.from_bytes(hashlib.sha256(strict_json.dumps(dict(e))).digest(), "big") for e in entries)


def _unmoved(entry: Mapping[str, Any]) -> dict[str, Any]:
    """The record as it was hashed before the converter moved it from train to val (tiny datasets)."""
    repl = {"image": str(entry["image"]).replace("images/val/", "images/train/", 1),
            "label": str(entry["label"]).replace("labels/val/", "labels/train/", 1), "split": "train"}
    return {k: repl.get(k, v) for k, v in entry.items()}


def recompute_version(lin: Lineage) -> str | None:
    """The version id recomputed from the records, names and settings (the payload gtlabel.convert hashes),
    or ``None`` for a lineage format this module does not know."""
    if lin.head.get("format") != DATASET_FORMAT:
        return None
    names = [n for _, n in sorted(lin.names.items())]
    raws = [r.raw for r in lin.images]

    settings = lin.head.get("settings")
    v = dataset_version(names, settings, _entries_sum(raws), len(raws), [])
    if v == lin.version:
        return v
    # The converter moves one train image to val when hashing left val empty; it then holds the only val image.
    vals = [r for r in lin.images if r.split == "val"]
    if len(vals) == 1:
        moved = vals[0]
        alt = dataset_version(names, settings, _entries_sum(_unmoved(e) if e is moved.raw else e for e in raws),
                              len(raws), [moved.name])
        if alt == lin.version:
            return alt
    return v


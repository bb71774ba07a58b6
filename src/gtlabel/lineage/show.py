"""Where a label came from: find a dataset's images by name or source, and their provenance."""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

from gtlabel import storage
from gtlabel.lineage.record import ImageRecord, Lineage


def find_images(lin: Lineage, query: str) -> list[ImageRecord]:
    """Records matching ``query``: the image/label path in the dataset, its file name or stem, or the
    ``source_ref`` (as recorded, resolved to a full URI/path, or its file name)."""
    q = query.strip()
    exact = [r for r in lin.images if q in (r.image, r.label, r.source_ref, r.name)]
    if not exact and (storage.is_s3(q) or os.path.isabs(q)):
        exact = [r for r in lin.images if lin.source_uri(r) == q]
    if exact:
        return exact
    stem = q.rsplit("/", 1)[-1]
    return [r for r in lin.images
            if r.name.rsplit(".", 1)[0] == stem.rsplit(".", 1)[0] or r.source_ref.rsplit("/", 1)[-1] == stem]


def provenance(lin: Lineage, rec: ImageRecord | None = None) -> dict[str, Any]:
    """Where a label came from (``rec``), or the dataset's summary (``rec=None``), as a JSON-ready dict."""
    out: dict[str, Any] = {
        "dataset": lin.base,
        "version": lin.version,
        "package_version": lin.head.get("package_version"),
        "manifest": lin.manifest,
        "jobs": lin.jobs,
        "job_details": lin.head.get("job_details"),
        "label_attribute": lin.head.get("label_attribute"),
        "settings": lin.settings,
        "names": {str(k): v for k, v in sorted(lin.names.items())},
        "quality": lin.head.get("quality"),
    }
    if rec is None:
        out["images"] = len(lin.images)
        out["splits"] = lin.head.get("splits") or _count_splits(lin.images)
        return out
    return {
        "image": lin.path(rec.image),
        "label": lin.path(rec.label),
        "split": rec.split,
        "label_sha256": rec.label_sha256,
        "source": {"uri": lin.source_uri(rec), "ref": rec.source_ref, "etag": rec.source_etag,
                   "version_id": rec.source_version_id},
        **out,
    }


def _count_splits(images: Iterable[ImageRecord]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for r in images:
        counts[r.split] = counts.get(r.split, 0) + 1
    return counts


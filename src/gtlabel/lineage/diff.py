"""What changed between two dataset versions (pure: takes two parsed lineages)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from gtlabel.lineage.record import Lineage


@dataclass
class Change:
    source_ref: str
    what: list[str]
    before: dict[str, Any]
    after: dict[str, Any]


@dataclass
class DatasetDiff:
    a: str
    b: str
    version_a: str
    version_b: str
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    changed: list[Change] = field(default_factory=list)
    classes: dict[str, Any] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    other: dict[str, Any] = field(default_factory=dict)

    @property
    def same(self) -> bool:
        return not (self.added or self.removed or self.changed or self.classes or self.settings or self.other)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def diff(a: Lineage, b: Lineage) -> DatasetDiff:
    """What changed from version ``a`` to version ``b``. Images are matched by their source (``source_ref``
    resolved against the manifest's folder when relative), and listed by that URI."""
    out = DatasetDiff(a.base, b.base, a.version, b.version)
    ia = {a.source_uri(r): r for r in a.images}
    ib = {b.source_uri(r): r for r in b.images}
    out.added = sorted(set(ib) - set(ia))
    out.removed = sorted(set(ia) - set(ib))
    fields = (("label", "label_sha256"), ("split", "split"), ("source", "source_etag"),
              ("source", "source_version_id"))
    for k in sorted(set(ia) & set(ib)):
        ra, rb = ia[k], ib[k]
        what: list[str] = []
        before: dict[str, Any] = {}
        after: dict[str, Any] = {}
        for label, attr in fields:
            va, vb = getattr(ra, attr), getattr(rb, attr)
            if va != vb:
                if label not in what:
                    what.append(label)
                before[attr], after[attr] = va, vb
        if what:
            out.changed.append(Change(k, what, before, after))
    na, nb = a.names, b.names
    if na != nb:
        out.classes = {
            "added": sorted(set(nb.values()) - set(na.values())),
            "removed": sorted(set(na.values()) - set(nb.values())),
            "renumbered": sorted(n for i, n in na.items() if n in nb.values() and nb.get(i) != n),
            "before": {str(k): v for k, v in sorted(na.items())},
            "after": {str(k): v for k, v in sorted(nb.items())},
        }
    out.settings = _dict_diff(a.settings, b.settings)
    for key in ("manifest", "jobs", "label_attribute", "package_version", "format"):
        va, vb = a.head.get(key), b.head.get(key)
        if va != vb:
            out.other[key] = {"before": va, "after": vb}
    return out


def _dict_diff(a: Mapping[str, Any], b: Mapping[str, Any]) -> dict[str, Any]:
    return {k: {"before": a.get(k), "after": b.get(k)} for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)}


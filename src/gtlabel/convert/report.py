"""The conversion report: what was kept, fixed, dropped and skipped, and why (``conversion-report.json``)."""

from __future__ import annotations

import bisect
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from gtlabel.formats.yolo import DATASET_FORMAT, SPLITS

__all__ = ["MAX_EXAMPLES", "MAX_WARNINGS", "ConversionReport"]

MAX_EXAMPLES = 50  # skipped records kept as examples (the ones earliest in the manifest)
MAX_WARNINGS = 50  # per-record warnings kept (image size mismatches)
_TILE_COUNTS = ("frames_tiled", "tiles", "frames_whole", "tile_boxes_cut", "tile_boxes_slivers",
                "empty_tiles_kept", "empty_tiles_dropped")


@dataclass
class ConversionReport:
    """What a conversion did. ``as_dict()`` is what ``conversion-report.json`` holds (no timings, so a rerun
    gives the same bytes)."""

    input_manifest: str
    output: str
    data_yaml: str = ""
    version: str = ""
    noop: bool = False
    names: list[str] = field(default_factory=list)
    records: int = 0
    images: int = 0
    splits: dict[str, int] = field(default_factory=lambda: dict.fromkeys(SPLITS, 0))
    boxes_in: int = 0
    boxes_written: int = 0
    boxes_clipped: int = 0
    boxes_zero_area: int = 0
    boxes_duplicate: int = 0
    boxes_unknown_class: int = 0
    empty_images: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    exif: Counter[str] = field(default_factory=Counter)
    labeled_by: Counter[str] = field(default_factory=Counter)  # human / auto (ADL) / unknown
    adjustment: Counter[str] = field(default_factory=Counter)  # adjusted / unadjusted (adjustment jobs)
    class_counts: dict[str, int] = field(default_factory=dict)
    images_copied: int = 0
    stale_caches_removed: int = 0
    warnings: list[str] = field(default_factory=list)
    examples: list[str] = field(default_factory=list)  # the first 50 skipped records, in manifest order
    split_by: str | None = None  # what grouped the splits (``split_by``), if anything
    groups: dict[str, int] = field(default_factory=dict)  # with split_by: groups per split
    ungrouped: int = 0  # with split_by: images without the key (each a group of its own)
    tiled: bool = False  # the frames were cut into tiles (``tile=``): the ``tiles`` section of the JSON
    frames_tiled: int = 0  # frames cut into tiles
    tiles: int = 0  # tiles written (with boxes, and the empty ones kept)
    frames_whole: int = 0  # with ``with_frames``: full frames written (downscaled to the tile size)
    tile_boxes_cut: int = 0  # boxes a tile's edge cut (kept, clipped to the tile), counted per tile
    tile_boxes_slivers: int = 0  # boxes dropped from a tile: less than min_visibility of them inside
    empty_tiles_kept: int = 0  # tiles without boxes kept as background (the seeded keep_empty share)
    empty_tiles_dropped: int = 0
    gps_stripped: int | None = None  # with strip_gps: copies whose GPS was removed
    elapsed_s: float = 0.0
    example_lines: list[int] = field(default_factory=list, repr=False)  # the line of each example

    def skip(self, reason: str, where: str, line: int | None = None) -> None:
        """Count a skipped record; the 50 with the lowest ``line`` are kept as examples (in that order, however
        the manifest was read: in batches, or in blocks by several processes)."""
        self.skipped[reason] += 1
        self._example(f"{where}: {reason}", line)

    def _example(self, text: str, line: int | None) -> None:
        key = line if line is not None else 1 << 62
        lines = self.example_lines
        if len(lines) >= MAX_EXAMPLES and key >= lines[-1]:
            return
        i = bisect.bisect_right(lines, key)
        lines.insert(i, key)
        self.examples.insert(i, text)
        if len(lines) > MAX_EXAMPLES:
            lines.pop()
            self.examples.pop()

    def warn_record(self, text: str) -> None:
        """A warning about one record (at most :data:`MAX_WARNINGS` are kept)."""
        self.warnings.append(text)
        del self.warnings[MAX_WARNINGS:]

    def merge(self, other: ConversionReport) -> None:
        """Add the record and box counts of ``other`` (the report of a block of the same manifest, converted
        in another lane) to this one; merged in manifest order, the result is the one-pass report's."""
        self.records += other.records
        self.boxes_in += other.boxes_in
        self.boxes_written += other.boxes_written
        self.boxes_clipped += other.boxes_clipped
        self.boxes_zero_area += other.boxes_zero_area
        self.boxes_duplicate += other.boxes_duplicate
        self.boxes_unknown_class += other.boxes_unknown_class
        self.empty_images += other.empty_images
        for name in _TILE_COUNTS:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.skipped.update(other.skipped)
        self.exif.update(other.exif)
        self.labeled_by.update(other.labeled_by)
        self.adjustment.update(other.adjustment)
        for text, line in zip(other.examples, other.example_lines, strict=True):
            self._example(text, line)
        self.warnings.extend(other.warnings)
        del self.warnings[MAX_WARNINGS:]

    def as_dict(self) -> dict[str, Any]:
        out = self._as_dict()
        if self.split_by is not None:  # only then: the reports of other conversions keep their bytes
            out["split_by"] = {"by": self.split_by, "groups": dict(self.groups), "ungrouped_images": self.ungrouped}
        if self.tiled:  # only then, likewise
            out["tiles"] = {"frames": self.frames_tiled, "tiles": self.tiles, "whole_frames": self.frames_whole,
                            "boxes_cut": self.tile_boxes_cut, "boxes_dropped_slivers": self.tile_boxes_slivers,
                            "empty_tiles_kept": self.empty_tiles_kept,
                            "empty_tiles_dropped": self.empty_tiles_dropped}
        if self.gps_stripped is not None:
            out["gps_stripped"] = self.gps_stripped
        return out

    def _as_dict(self) -> dict[str, Any]:
        return {
            "format": DATASET_FORMAT, "input_manifest": self.input_manifest, "output": self.output,
            "data_yaml": self.data_yaml, "version": self.version, "names": dict(enumerate(self.names)),
            "records": self.records, "images": self.images, "splits": dict(self.splits),
            "boxes": {"in": self.boxes_in, "written": self.boxes_written, "clipped": self.boxes_clipped,
                      "dropped_zero_area": self.boxes_zero_area, "dropped_duplicate": self.boxes_duplicate,
                      "dropped_unknown_class": self.boxes_unknown_class},
            "empty_images": self.empty_images, "skipped": dict(sorted(self.skipped.items())),
            "exif": dict(sorted(self.exif.items())), "labeled_by": dict(sorted(self.labeled_by.items())),
            "adjustment": dict(sorted(self.adjustment.items())), "class_counts": dict(self.class_counts),
            "images_copied": self.images_copied, "warnings": list(self.warnings), "examples": list(self.examples),
        }

    def summary(self) -> str:
        """A short human-readable summary (the CLI prints it)."""
        sk = ", ".join(f"{k}: {v}" for k, v in sorted(self.skipped.items())) or "none"
        lines = [
            f"dataset {self.version} at {self.output}" + (" (unchanged, nothing written)" if self.noop else ""),
            f"images {self.images} (train {self.splits['train']}, val {self.splits['val']}, "
            f"test {self.splits['test']}), {self.empty_images} without boxes",
            f"boxes {self.boxes_written} written of {self.boxes_in}: {self.boxes_clipped} clipped, "
            f"{self.boxes_zero_area} zero-area, {self.boxes_duplicate} duplicate, "
            f"{self.boxes_unknown_class} unknown-class dropped",
            f"records skipped: {sk}",
        ]
        if self.split_by is not None:
            per = ", ".join(f"{s} {self.groups.get(s, 0)}" for s in SPLITS)
            lines.append(f"groups by {self.split_by}: {per}" + (
                f"; {self.ungrouped} image(s) without it, each a group of its own" if self.ungrouped else ""))
        if self.tiled:
            lines.append(f"tiles {self.tiles} from {self.frames_tiled} frame(s)"
                         + (f" + {self.frames_whole} whole frame(s)" if self.frames_whole else "")
                         + f": {self.tile_boxes_cut} box(es) cut by a tile edge, {self.tile_boxes_slivers} dropped "
                           f"as slivers; empty tiles {self.empty_tiles_kept} kept, {self.empty_tiles_dropped} dropped")
        if self.gps_stripped is not None:
            lines.append(f"GPS removed from {self.gps_stripped} copied image(s)")
        if self.exif.get("rotated"):
            lines.append(f"EXIF: {self.exif['rotated']} image(s) normalized against the rotated (displayed) size")
        lines += [f"warning: {w}" for w in self.warnings]
        return "\n".join(lines)

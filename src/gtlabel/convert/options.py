"""The converter's options, grouped: what to read, the classes, the splits, the images, the output, the run.
:func:`gtlabel.convert.convert_ground_truth_to_yolo` takes them as keywords (the seed's API) and passes these
objects on; the defaults are the same in both places."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from gtlabel.tiling import TileSpec

__all__ = ["ClassOptions", "ConvertOptions", "ExifMode", "ImageOptions", "OutputOptions", "RunOptions",
           "SourceOptions", "SplitOptions"]

ExifMode = Literal["normalize", "ignore"]


@dataclass(frozen=True)
class SourceOptions:
    """The output manifest to read: ``label_attribute`` (detected when ``None``), where relative
    ``source-ref`` s point (``image_root``, default the manifest's folder), and ``strict`` (raise on a malformed
    line, or skip and count it)."""

    manifest: str | os.PathLike[str]
    label_attribute: str | None = None
    image_root: str | None = None
    strict: bool = True


@dataclass(frozen=True)
class ClassOptions:
    """Where the dataset's class names come from, and what to do with boxes of other classes."""

    class_mapping: Mapping[Any, Any] | Sequence[str] | None = None
    label_category_config: str | os.PathLike[str] | Mapping[str, Any] | None = None
    drop_unknown: bool = False
    aliases: Mapping[str, str] | Sequence[str] | None = None  # {"car": "vehicle"}: a manifest's class renamed first


@dataclass(frozen=True)
class SplitOptions:
    """``(train, val, test)`` ratios (or a mapping), stratified by class or not, the hash's salt, and what keeps
    images together (``split_by``: a pass-through key such as ``video``, or ``prefix:N``)."""

    splits: Sequence[float] | Mapping[str, float] = (0.8, 0.1, 0.1)
    stratify: bool = False
    seed: int | str = 0
    split_by: str | None = None


@dataclass(frozen=True)
class ImageOptions:
    """Copy the images or not; read their headers (``exif="normalize"``) or trust ``image_size``; with
    ``"ignore"``, fingerprint the sources (ETag/MD5) or touch no image at all."""

    copy: bool = True
    exif: ExifMode = "normalize"
    fingerprint_sources: bool = True
    strip_gps: bool = False  # remove GPS (EXIF + DJI XMP) from the copies, losslessly


@dataclass(frozen=True)
class OutputOptions:
    """Where the dataset goes, whether a different one there may be replaced, and what lineage.json records
    besides the images (the quality summary, the jobs' settings from DescribeLabelingJob)."""

    directory: str | os.PathLike[str]
    overwrite: bool = False
    quality: Mapping[str, Any] | str | None = None
    describe_jobs: bool = False
    sm_client: Any = None


@dataclass(frozen=True)
class RunOptions:
    """Progress bars, threads for header reads and copies (``None``: ``GTLABEL_MAX_CONCURRENCY``), processes
    sharing the manifest (``None``: ``GTLABEL_CONVERT_PROCESSES``)."""

    progress: bool = True
    max_workers: int | None = None
    processes: int | None = None


@dataclass(frozen=True)
class ConvertOptions:
    """Everything one conversion needs."""

    source: SourceOptions
    output: OutputOptions
    classes: ClassOptions = field(default_factory=ClassOptions)
    splits: SplitOptions = field(default_factory=SplitOptions)
    images: ImageOptions = field(default_factory=ImageOptions)
    run: RunOptions = field(default_factory=RunOptions)
    tile: TileSpec | None = None  # cut each frame into tiles (gtlabel.convert.tiles)

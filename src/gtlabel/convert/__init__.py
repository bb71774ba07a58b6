"""Ground Truth output manifest -> Ultralytics YOLO11 detect dataset.

Layout written (locally or under an S3 prefix)::

    <out>/data.yaml                path (absolute; omitted on S3), train, val, [test], names {0..n-1}
    <out>/images/{train,val,test}/<stem>-<hash12><ext>
    <out>/labels/{train,val,test}/<stem>-<hash12>.txt     one per image, empty when it has no boxes
    <out>/lineage.json             version, per-image source_ref/ETag/label sha256/split, manifest, settings
    <out>/conversion-report.json   what was kept, fixed, dropped and skipped, and why

What it guarantees (see ``peers.md`` sections 0, 1, 3, 5 for the bugs it avoids):

- Class names come from ``class_mapping`` or the job's label category config, never from per-line
  ``class-map`` s (those only translate a line's ``class_id`` to a name). Unknown names are a
  :class:`~gtlabel.errors.LabelError` naming ``file:line`` unless ``drop_unknown_classes``.
- Boxes are clipped to the image, zero-area and exact-duplicate rows dropped, failed records skipped; all
  counted. Rows follow Ultralytics' own rules (5 columns, coordinates in [0, 1], class < nc; images
  >= 10 px in an allowed format) so ``verify_image_label`` drops nothing.
- EXIF orientation: boxes are normalized by the *displayed* size (what the worker saw and what
  Ultralytics' ``exif_size`` measures). When ``image_size`` is the raw stored size of a 90-degree-rotated
  JPEG, the displayed (swapped) size is used. Headers only are read (local files via PIL; S3 objects with a
  ranged GET of the first 64 KB).
- Image names are collision-free (stem + 12 hex of a hash of ``source-ref``); splits are a hash of
  ``source-ref`` (+ ``seed``), optionally stratified by class; a rerun gives the same bytes.
- Output is atomic: locally it is built in a hidden sibling folder and renamed into place; on S3 data.yaml
  is written last (a prefix without data.yaml is incomplete). An existing different dataset is never
  overwritten unless ``overwrite=True`` (:class:`~gtlabel.errors.DatasetExists`); the same content again is
  a no-op.
- The manifest is streamed: memory does not grow with it (except ``stratify=True``, which keeps 17 bytes
  per image for the second pass).
- A large manifest is shared by several processes, a block of lines at a time (:mod:`.pool`,
  ``processes=``); the output is the same bytes as one process's.

One module per job: :mod:`.run` (the orchestrator and :func:`convert_ground_truth_to_yolo`), :mod:`.options`,
:mod:`.classes` (class names), :mod:`.splits` (pure), :mod:`.probe` (image headers), :mod:`.rows` (per-record
rows), :mod:`.report` (:class:`ConversionReport`), :mod:`.lanes` (what converts records, in any process),
:mod:`.pool` (worker processes), :mod:`.publish` (lineage.json, copies, atomic publication), :mod:`.progress`,
:mod:`.tiles` (``tile=``: frames cut into tiles, see docs/tiling.md).
The label files and data.yaml themselves are :mod:`gtlabel.formats.yolo`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gtlabel._lazy import lazy_exports

if TYPE_CHECKING:
    from gtlabel.convert.classes import label_config_names, resolve_class_names
    from gtlabel.convert.options import (
        ClassOptions,
        ConvertOptions,
        ImageOptions,
        OutputOptions,
        RunOptions,
        SourceOptions,
        SplitOptions,
    )
    from gtlabel.convert.probe import ImageProbe, probe_header
    from gtlabel.convert.publish import iter_dataset_labels, preflight_dataset
    from gtlabel.convert.report import ConversionReport
    from gtlabel.convert.rows import dataset_name
    from gtlabel.convert.run import convert, convert_ground_truth_to_yolo
    from gtlabel.convert.splits import normalize_splits, split_for, split_hash

# names load on first use: a worker process (gtlabel.convert.pool) imports only what converting blocks needs
__getattr__ = lazy_exports(__name__, {
    "label_config_names": "gtlabel.convert.classes", "resolve_class_names": "gtlabel.convert.classes",
    "ClassOptions": "gtlabel.convert.options", "ConvertOptions": "gtlabel.convert.options",
    "ImageOptions": "gtlabel.convert.options", "OutputOptions": "gtlabel.convert.options",
    "RunOptions": "gtlabel.convert.options", "SourceOptions": "gtlabel.convert.options",
    "SplitOptions": "gtlabel.convert.options",
    "ImageProbe": "gtlabel.convert.probe", "probe_header": "gtlabel.convert.probe",
    "iter_dataset_labels": "gtlabel.convert.publish", "preflight_dataset": "gtlabel.convert.publish",
    "ConversionReport": "gtlabel.convert.report",
    "dataset_name": "gtlabel.convert.rows",
    "convert": "gtlabel.convert.run", "convert_ground_truth_to_yolo": "gtlabel.convert.run",
    "normalize_splits": "gtlabel.convert.splits", "split_for": "gtlabel.convert.splits",
    "split_hash": "gtlabel.convert.splits",
})

__all__ = [
    "ClassOptions",
    "ConversionReport",
    "ConvertOptions",
    "ImageOptions",
    "ImageProbe",
    "OutputOptions",
    "RunOptions",
    "SourceOptions",
    "SplitOptions",
    "convert",
    "convert_ground_truth_to_yolo",
    "dataset_name",
    "iter_dataset_labels",
    "label_config_names",
    "normalize_splits",
    "preflight_dataset",
    "probe_header",
    "resolve_class_names",
    "split_for",
    "split_hash",
]

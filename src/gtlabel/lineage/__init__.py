"""Dataset versions and lineage (see docs/ARCHITECTURE.md, "yolo + lineage").

``lineage.json`` (written by the converter beside ``data.yaml``) holds the dataset's ``version``, its
``manifest {uri, etag}``, the labeling ``jobs``, conversion ``settings``, ``package_version``, class ``names``,
an optional ``quality`` summary, and one record per image::

    {image, label, source_ref, source_etag, source_version_id, split, label_sha256[, geo]}

(``geo``: where the image was taken, when its manifest line had it: :mod:`gtlabel.geo`.)

This package reads it (local folder or ``s3://`` prefix, same code) and answers three questions:

- :func:`show` / :func:`find_images`: where did this label come from (source object + ETag/version, jobs,
  manifest + ETag, settings, package version, quality)?
- :func:`diff`: what changed between two versions (images added/removed, labels/splits/sources changed,
  classes and settings changed)?
- :func:`verify`: is the dataset still what was converted? Label files are re-hashed (SHA-256), image copies
  compared with the source's ETag (MD5) or, where an ETag is not an MD5 (SSE-KMS, multipart), with the source
  bytes; source objects are re-checked (ETag, version id); files that are not in the lineage are reported;
  the version id is recomputed from the records, so an edited ``lineage.json`` is caught too.

One module per job: :mod:`.record` (the parsed file and its loading), :mod:`.version` (version ids),
:mod:`.show`, :mod:`.diff`, :mod:`.verify`. The pure parts (parsing, diff, version recomputation) take
values; only the ``load``/``verify`` rim does I/O.
"""

from __future__ import annotations

from gtlabel.lineage.diff import Change, DatasetDiff, diff
from gtlabel.lineage.record import LINEAGE_FILE, ImageRecord, Lineage, lineage_uri, load, parse, stream
from gtlabel.lineage.show import find_images, provenance
from gtlabel.lineage.verify import Problem, VerifyReport, changed_files, verify, verify_or_raise
from gtlabel.lineage.version import dataset_version, recompute_version, version_id

__all__ = [
    "LINEAGE_FILE",
    "Change",
    "DatasetDiff",
    "ImageRecord",
    "Lineage",
    "Problem",
    "VerifyReport",
    "changed_files",
    "dataset_version",
    "diff",
    "find_images",
    "lineage_uri",
    "load",
    "parse",
    "provenance",
    "recompute_version",
    "stream",
    "verify",
    "verify_or_raise",
    "version_id",
]

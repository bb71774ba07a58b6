"""Ground Truth's own files, defined once: every other module reads and writes them through this one.

- the label category config (``LabelCategoryConfigS3Uri``, reference/ground-truth.md 1.3):
  :class:`LabelCategoryConfig`;
- an input-manifest line (3.5: ``source-ref`` or ``source``, pass-through keys, prior labels):
  :class:`InputLine`, :func:`check_source_ref`;
- an output-manifest line of a bounding-box job (3.2), read: :class:`OutputRecord` / :class:`OutputBox`,
  :func:`parse_output_line`, the streaming :func:`iter_output_lines`, :func:`detect_label_attributes`; and
  written: :func:`bbox_label`, :func:`output_metadata`, :func:`failed_metadata`, :func:`verification_metadata`,
  :func:`custom_metadata`, :func:`output_line`,
  :func:`consolidated_content` (what a custom workflow's consolidation Lambda returns, 4.4);
- the constants: the ``type`` values, the ``-metadata`` suffix, the ``labeling-job/`` prefix of ``job-name``,
  the ``document-version``, the Lambda event version, the reserved keys.

Pure: values in, values out (the I/O rim that reads a manifest by URI is :func:`gtlabel.manifests.
iter_output_manifest`). Bad input raises :class:`~gtlabel.errors.ManifestError` /
:class:`~gtlabel.errors.LabelError` naming the file, line and field.

``source-ref`` must be an ``s3://bucket/key`` URI or a path relative to the manifest's folder; ``..``
segments and absolute paths are refused, so a manifest cannot pull arbitrary files into a dataset.

One module per shape: :mod:`.names` (constants), :mod:`.label_config`, :mod:`.input_line`, :mod:`.output_line`.
"""

from __future__ import annotations

from gtlabel.formats.ground_truth.input_line import InputLine, check_source_ref
from gtlabel.formats.ground_truth.label_config import LabelCategoryConfig
from gtlabel.formats.ground_truth.names import (
    BOUNDING_BOX_TYPES,
    CLASS_MAP,
    CUSTOM,
    JOB_NAME_PREFIX,
    LABEL_ATTRIBUTE_PATTERN,
    LABEL_CATEGORY_DOCUMENT_VERSION,
    LABEL_VERIFICATION,
    LAMBDA_EVENT_VERSION,
    METADATA_SUFFIX,
    OBJECT_DETECTION,
    RESERVED_KEYS,
    SOURCE,
    SOURCE_REF,
    bare_job_name,
    creation_date,
    labeling_job_name,
    metadata_key,
)
from gtlabel.formats.ground_truth.output_line import (
    OutputBox,
    OutputRecord,
    bbox_label,
    consolidated_content,
    custom_metadata,
    detect_label_attributes,
    failed_metadata,
    iter_output_lines,
    output_line,
    output_metadata,
    parse_output_line,
    verification_metadata,
)

__all__ = [
    "BOUNDING_BOX_TYPES",
    "CLASS_MAP",
    "CUSTOM",
    "JOB_NAME_PREFIX",
    "LABEL_ATTRIBUTE_PATTERN",
    "LABEL_CATEGORY_DOCUMENT_VERSION",
    "LABEL_VERIFICATION",
    "LAMBDA_EVENT_VERSION",
    "METADATA_SUFFIX",
    "OBJECT_DETECTION",
    "RESERVED_KEYS",
    "SOURCE",
    "SOURCE_REF",
    "InputLine",
    "LabelCategoryConfig",
    "OutputBox",
    "OutputRecord",
    "bare_job_name",
    "bbox_label",
    "check_source_ref",
    "consolidated_content",
    "creation_date",
    "custom_metadata",
    "detect_label_attributes",
    "failed_metadata",
    "iter_output_lines",
    "labeling_job_name",
    "metadata_key",
    "output_line",
    "output_metadata",
    "parse_output_line",
    "verification_metadata",
]

"""Ground Truth's constants (the ``type`` values, keys, suffixes, versions) and the names derived from them."""

from __future__ import annotations

import re
from datetime import UTC, datetime

# ----------------------------------------------------------------------------------------------- constants
SOURCE_REF = "source-ref"
SOURCE = "source"
RESERVED_KEYS = frozenset({SOURCE_REF, SOURCE})  # no label attribute may use these names (1.2)
METADATA_SUFFIX = "-metadata"
CLASS_MAP = "class-map"
OBJECT_DETECTION = "groundtruth/object-detection"  # built-in bounding box, its adjustment and ADL (3.2)
LABEL_VERIFICATION = "groundtruth/label-verification"
CUSTOM = "groundTruth/custom"  # as Ground Truth writes it (capital T); compare types case-insensitively
BOUNDING_BOX_TYPES = (OBJECT_DETECTION, CUSTOM.lower())  # lower case: the types that may hold boxes
JOB_NAME_PREFIX = "labeling-job/"  # ``job-name`` as real output carries it; the doc example shows the bare name
LABEL_CATEGORY_DOCUMENT_VERSION = "2018-11-28"
LAMBDA_EVENT_VERSION = "2018-10-16"  # the ``version`` of the pre- and post-annotation Lambda events (4.3, 4.4)
#: ``LabelAttributeName`` (1.1): letters, digits and inner hyphens, at most 127 characters (use ``fullmatch``)
LABEL_ATTRIBUTE_PATTERN = re.compile(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,126}")


def metadata_key(label_attribute: str) -> str:
    """``<attr>-metadata``: the key of a label attribute's metadata block."""
    return label_attribute + METADATA_SUFFIX


def labeling_job_name(job_name: str) -> str:
    """``labeling-job/<name>``: a job's name as the ``job-name`` of its output lines."""
    return job_name if job_name.startswith(JOB_NAME_PREFIX) else JOB_NAME_PREFIX + job_name


def bare_job_name(job_name: str) -> str:
    """A ``job-name`` value without its ``labeling-job/`` prefix (both forms occur, 3.2)."""
    return job_name.removeprefix(JOB_NAME_PREFIX)


def creation_date(when: float | datetime | None = None) -> str:
    """``2018-10-18T22:18:13.527256``: an output line's ``creation-date`` (UTC, no zone suffix, microseconds).
    ``when``: a POSIX time, an aware datetime, or ``None`` for now."""
    if when is None:
        dt = datetime.now(UTC)
    elif isinstance(when, datetime):
        dt = when.astimezone(UTC) if when.tzinfo is not None else when
    else:
        dt = datetime.fromtimestamp(when, UTC)
    return dt.replace(tzinfo=None).isoformat(timespec="microseconds")

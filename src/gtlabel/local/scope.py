"""What the local service reads and hands out on S3: a job's own locations, or the prefixes it is given.

The service reads S3 with its own identity (the embedded S3's keys, or whatever boto3 finds for
``--s3-endpoint``), and presigns images for workers with it. Without limits, whoever holds the API key could make
it read, or hand workers a link to, anything that identity can read. So (pure rules, applied by the API, the
engine and the portal):

- **Configured prefixes** (``gtlabel serve --s3-allow s3://bucket/prefix/``, repeatable): when given, every S3
  location of a job (manifest, label categories, worker template, output path) must be under one of them, an
  input line whose ``source-ref`` is not is failed, and ``grant_read_access`` presigns nothing else.
- **A job's own locations** (always): the worker template and the label-category file must lie in the bucket
  of the job's input manifest or of its output path; ``grant_read_access`` in a task presigns the task's own
  data object (its ``source-ref``) and objects in those two buckets, nothing else (it renders an empty string,
  as for a URI that is not ``s3://``). A bucket, not a folder: templates are often shared by jobs
  (``s3://bucket/templates/``). The API caller chooses those buckets, so this only keeps a job from reaching
  into unrelated buckets; ``--s3-allow`` is what limits the service to a set of prefixes.
- ``RenderUiTemplate`` has no job: it presigns only under configured prefixes.

A prefix is a folder: ``s3://b/p`` and ``s3://b/p/`` both mean the keys that start with ``p/``. URIs with ``.``
or ``..`` path segments are never in scope.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from gtlabel.errors import ConfigError, Problem

__all__ = ["ReadScope", "job_locations", "normalize_prefix", "problems_for_job"]


def normalize_prefix(prefix: str) -> str:
    """``s3://bucket/some/prefix`` -> ``s3://bucket/some/prefix/`` (a bucket alone: ``s3://bucket/``)."""
    p = prefix.strip()
    if not p.startswith("s3://") or len(p) <= 5 or p[5] == "/":
        raise ConfigError(f"expected an s3://bucket[/prefix] location, got {prefix!r}")
    if any(seg in (".", "..") for seg in p[5:].split("/")):
        raise ConfigError(f"{prefix!r}: '.' and '..' segments are not allowed")
    return p if p.endswith("/") else p + "/"


def _clean(uri: str) -> bool:
    return uri.startswith("s3://") and not any(seg in (".", "..") for seg in uri[5:].split("/"))


def _bucket_of(uri: str) -> str | None:
    if not _clean(uri) or len(uri) <= 5:
        return None
    bucket = uri[5:].split("/", 1)[0]
    return f"s3://{bucket}/" if bucket else None


def job_locations(request: Mapping[str, Any]) -> tuple[str, ...]:
    """The buckets of the job's input manifest and of its output path, as prefixes (``s3://bucket/``)."""
    manifest = (((request.get("InputConfig") or {}).get("DataSource") or {}).get("S3DataSource") or {}) \
        .get("ManifestS3Uri")
    output = (request.get("OutputConfig") or {}).get("S3OutputPath")
    out: list[str] = []
    for uri in (manifest, output):
        bucket = _bucket_of(uri) if isinstance(uri, str) else None
        if bucket and bucket not in out:
            out.append(bucket)
    return tuple(out)


@dataclass(frozen=True)
class ReadScope:
    """The S3 URIs one rendering may presign: under ``prefixes``, or one of ``objects``."""

    prefixes: tuple[str, ...] = ()
    objects: frozenset[str] = frozenset()

    def allows(self, uri: str) -> bool:
        if uri in self.objects:  # the task's own data object, whatever its key looks like
            return True
        return _clean(uri) and any(uri.startswith(p) for p in self.prefixes)

    @classmethod
    def for_task(cls, request: Mapping[str, Any], source_ref: str | None, allowed: Sequence[str]) -> ReadScope:
        """A task of a job: its data object and the job's buckets; with configured prefixes, those prefixes
        (and the object only when it is inside one)."""
        objects = frozenset([source_ref]) if source_ref else frozenset()
        if allowed:
            return cls(tuple(allowed), frozenset(o for o in objects if _under(o, allowed)))
        return cls(job_locations(request), objects)


def _under(uri: str, prefixes: Iterable[str]) -> bool:
    return _clean(uri) and any(uri.startswith(p) for p in prefixes)


def problems_for_job(request: Mapping[str, Any], allowed: Sequence[str]) -> list[Problem]:
    """Where a CreateLabelingJob request would make the service read outside its scope (module docstring)."""
    problems: list[Problem] = []
    hc = request.get("HumanTaskConfig") or {}
    named = {
        "InputConfig.DataSource.S3DataSource.ManifestS3Uri":
            (((request.get("InputConfig") or {}).get("DataSource") or {}).get("S3DataSource") or {})
            .get("ManifestS3Uri"),
        "OutputConfig.S3OutputPath": (request.get("OutputConfig") or {}).get("S3OutputPath"),
        "LabelCategoryConfigS3Uri": request.get("LabelCategoryConfigS3Uri"),
        "HumanTaskConfig.UiConfig.UiTemplateS3Uri": (hc.get("UiConfig") or {}).get("UiTemplateS3Uri"),
    }
    own = job_locations(request)
    for path, uri in named.items():
        if not isinstance(uri, str) or not uri:
            continue
        probe = uri if path != "OutputConfig.S3OutputPath" or uri.endswith("/") else uri + "/"
        if allowed and not _under(probe, allowed):
            problems.append(Problem(path, f"{uri} is outside the S3 locations this service may use "
                                          f"({', '.join(allowed)}; gtlabel serve --s3-allow)"))
        elif path in ("LabelCategoryConfigS3Uri", "HumanTaskConfig.UiConfig.UiTemplateS3Uri") \
                and not _under(uri, own) and not (allowed and _under(uri, allowed)):
            problems.append(Problem(path, f"{uri} must be in the bucket of the input manifest or of the output path "
                                          f"({', '.join(own) or 'none given'}), or under a prefix the service is "
                                          "given with --s3-allow"))
    return problems

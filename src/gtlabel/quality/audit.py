"""Audit: pick a sample of labeled images and build a verification or adjustment job for it.

1. :func:`select_sample` (pure) picks output-manifest records: ``"lowest-confidence"`` first (the lowest box
   confidence of the image; images with validation errors/warnings before equal confidences), or ``"random"``
   with a seed (a keyed hash of ``source-ref``, so the same seed gives the same sample whatever the order).
   Failed images are left out (they have no label to review).
2. :func:`write_sample_manifest` copies the chosen lines **byte for byte** from the output manifest (the prior
   label attribute and its ``-metadata`` are what the adjustment template's ``initial-value`` and the
   verification UI read) to a new manifest, atomically.
3. :func:`audit_job_spec` makes the :class:`gtlabel.jobs.spec.JobSpec` of an ``AdjustmentBoundingBox`` or
   ``VerificationBoundingBox`` job on that manifest, and :func:`prepare_audit_job` runs the core's job builder
   (:func:`gtlabel.jobs.build.prepare_job`: budget guard, validation, template and label config upload).
   The new label attribute defaults to ``<prior>-adjusted`` / ``<prior>-verified``, as adjustment and verification
   jobs need a new name (reference/ground-truth.md 9.8).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from gtlabel import storage
from gtlabel.errors import ConfigError, InputError
from gtlabel.formats.ground_truth import OutputRecord
from gtlabel.jobs.build import BuiltJob, prepare_job
from gtlabel.jobs.spec import JobSpec
from gtlabel.manifests import iter_output_manifest
from gtlabel.quality.validate import ValidationReport, validate_records

__all__ = ["AuditItem", "AuditResult", "audit", "audit_job_spec", "prepare_audit_job", "select_sample",
           "write_sample_manifest"]

Strategy = Literal["lowest-confidence", "random"]
AuditKind = Literal["adjustment", "verification"]
_TASK_TYPE = {"adjustment": "AdjustmentBoundingBox", "verification": "VerificationBoundingBox"}


@dataclass(frozen=True, slots=True)
class AuditItem:
    source_ref: str
    file: str
    line: int
    min_confidence: float | None
    boxes: int
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return {"source_ref": self.source_ref, "file": self.file, "line": self.line,
                "min_confidence": self.min_confidence, "boxes": self.boxes, "reason": self.reason}


def _count(total: int, n: int | None, fraction: float | None) -> int:
    if (n is None) == (fraction is None):
        raise ConfigError("give exactly one of n (images) or fraction (0..1] for the audit sample")
    if fraction is None:
        if n is None or n < 1:
            raise ConfigError(f"the audit sample size must be >= 1, got {n}")
        return min(n, total)
    if not 0 < fraction <= 1:
        raise ConfigError(f"the audit fraction must be in (0, 1], got {fraction}")
    return min(total, max(1, round(total * fraction)))


def select_sample(records: Iterable[OutputRecord], *, n: int | None = None, fraction: float | None = None,
                  strategy: Strategy = "lowest-confidence", seed: int = 0,
                  validation: ValidationReport | None = None) -> list[AuditItem]:
    """The images to audit, in the order chosen (see the module docstring)."""
    if strategy not in ("lowest-confidence", "random"):
        raise ConfigError(f"unknown audit strategy {strategy!r}; use lowest-confidence or random")
    issues: dict[str, int] = {}
    if validation is not None:
        for f in validation.findings:
            if f.source_ref is not None and f.severity in ("error", "warning"):
                issues[f.source_ref] = issues.get(f.source_ref, 0) + 1
    cands: list[tuple[tuple[Any, ...], AuditItem]] = []
    for rec in records:
        if rec.failure_reason is not None or rec.image_size is None:
            continue
        confs = [b.confidence for b in rec.boxes if b.confidence is not None]
        low = min(confs) if confs else None
        if strategy == "random":
            key: tuple[Any, ...] = (hashlib.sha256(f"{seed}\0{rec.source_ref}".encode()).hexdigest(),)
            reason = f"random sample (seed {seed})"
        else:
            # lowest confidence first; validation findings break ties; images without boxes (nothing to be
            # confident about) come after every boxed image
            key = (low if low is not None else 2.0, -issues.get(rec.source_ref, 0), rec.file, rec.line)
            reason = (f"lowest box confidence {low:.2f}" if low is not None else "no box confidence") + (
                f", {issues[rec.source_ref]} validation finding(s)" if rec.source_ref in issues else "")
        cands.append((key, AuditItem(rec.source_ref, rec.file, rec.line, low, len(rec.boxes), reason)))
    if not cands:
        raise InputError("no labeled images to audit (every line failed, or the manifest is empty)")
    k = _count(len(cands), n, fraction)
    cands.sort(key=lambda t: t[0])
    return [item for _, item in cands[:k]]


def write_sample_manifest(items: Sequence[AuditItem], dest: str) -> int:
    """Copy the chosen lines, byte for byte and in the chosen order, into ``dest`` (atomic). Returns the count."""
    by_file: dict[str, dict[int, int]] = {}
    for pos, it in enumerate(items):
        by_file.setdefault(it.file, {})[it.line] = pos
    lines: list[bytes | None] = [None] * len(items)
    for file, wanted in by_file.items():
        for lineno, raw in storage.iter_lines(file):
            at = wanted.get(lineno)
            if at is not None:
                lines[at] = raw
    missing = [items[i] for i, ln in enumerate(lines) if ln is None]
    if missing:
        m = missing[0]
        raise InputError("line not found (the manifest changed since it was read?)", file=m.file, line=m.line)
    storage.write_bytes(dest, b"".join(ln + b"\n" for ln in lines if ln is not None),
                        content_type="application/jsonlines")
    return len(lines)


def audit_job_spec(manifest_uri: str, *, kind: AuditKind, labels: Sequence[str], output_path: str,
                   prior_label_attribute_name: str, workers_per_object: int = 1,
                   overrides: Mapping[str, Any] | None = None) -> JobSpec:
    """The :class:`~gtlabel.jobs.spec.JobSpec` of a verification/adjustment job over the sample manifest."""
    if kind not in _TASK_TYPE:
        raise ConfigError(f"unknown audit kind {kind!r}; use adjustment or verification")
    data: dict[str, Any] = {
        "name_prefix": f"gtlabel-audit-{kind[:6]}",
        "task_type": _TASK_TYPE[kind],
        "input_manifest": manifest_uri,
        "output_path": output_path,
        "labels": list(labels),
        "prior_label_attribute_name": prior_label_attribute_name,
        "workers_per_object": workers_per_object,
        "header": ("Check every box: fix, add or remove boxes so that each object is boxed tightly"
                   if kind == "adjustment" else "Are these boxes correct and complete?"),
        "tags": {"gtlabel:purpose": f"audit-{kind}"},
    }
    data.update(overrides or {})
    return JobSpec.from_dict(data, source="audit")


def prepare_audit_job(spec: JobSpec, **kwargs: Any) -> BuiltJob:
    """Run the core job builder (budget guard, validation, template/label-config upload) on the audit spec."""
    return prepare_job(spec, **kwargs)


@dataclass
class AuditResult:
    items: list[AuditItem]
    manifest_uri: str
    spec: JobSpec
    built: BuiltJob | None

    def as_dict(self) -> dict[str, Any]:
        return {"manifest": self.manifest_uri, "items": [i.as_dict() for i in self.items],
                "spec": self.spec.model_dump(mode="json", exclude_none=True),
                "request": dict(self.built.request) if self.built is not None else None}


def audit(output_manifest: str, sample_manifest: str, *, output_path: str, kind: AuditKind = "adjustment",
          n: int | None = None, fraction: float | None = None, strategy: Strategy = "lowest-confidence",
          seed: int = 0, labels: Sequence[str] | None = None, label_attribute: str | None = None,
          workers_per_object: int = 1, validate: bool = True, build: bool = True,
          spec_overrides: Mapping[str, Any] | None = None, **prepare_kwargs: Any) -> AuditResult:
    """Select, write the sample manifest, and build the job request (``build``) for it; returns everything."""
    records = list(iter_output_manifest(output_manifest, label_attribute=label_attribute))
    if not records:
        raise InputError("the output manifest has no lines", file=output_manifest)
    prior = records[0].label_attribute
    if labels is None:
        by_id: dict[int, str] = {}
        for r in records:
            for k, v in r.class_map.items():
                by_id.setdefault(k, v)
        if sorted(by_id) != list(range(len(by_id))):
            raise ConfigError(f"cannot tell the job's classes from the class-maps (ids {sorted(by_id)}); pass labels= "
                              "(the label category config's order)")
        labels = [by_id[i] for i in range(len(by_id))]
    report = validate_records(records, class_names=labels) if validate else None
    items = select_sample(records, n=n, fraction=fraction, strategy=strategy, seed=seed, validation=report)
    # spec and request first: a request that cannot be valid leaves no sample manifest behind
    spec = audit_job_spec(sample_manifest, kind=kind, labels=labels, output_path=output_path,
                          prior_label_attribute_name=prior, workers_per_object=workers_per_object,
                          overrides=spec_overrides)
    built = prepare_audit_job(spec, objects=len(items), **prepare_kwargs) if build else None
    write_sample_manifest(items, sample_manifest)
    return AuditResult(items, sample_manifest, spec, built)

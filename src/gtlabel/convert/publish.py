"""Publishing a converted dataset: the lineage record, the images copied beside the labels, the report and
data.yaml, all at once (locally: a staging folder renamed into place) or in an order that marks an unfinished
one (on S3: data.yaml last); what is already at the output (a version, an interrupted run, someone else's
files); and checks of a written dataset against Ultralytics' rules."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import orjson
from botocore.exceptions import BotoCoreError, ClientError

from gtlabel import storage
from gtlabel.convert.lanes import Advance, PassState, iter_spool, remove_spool
from gtlabel.convert.progress import Phase
from gtlabel.convert.report import ConversionReport
from gtlabel.errors import ConfigError, DatasetExists, GtlabelError, LineageError, NotFound, StorageError
from gtlabel.formats import strict_json
from gtlabel.formats.ground_truth import bare_job_name
from gtlabel.formats.yolo import SPLITS, check_label_text
from gtlabel.geo.strip import strip_gps
from gtlabel.lineage import LINEAGE_FILE
from gtlabel.lineage import parse as parse_lineage

__all__ = [
    "INCOMPLETE",
    "Publication",
    "check_destination",
    "check_replaceable",
    "copy_batch",
    "dataset_files",
    "describe_jobs",
    "etag_of",
    "existing_version",
    "iter_dataset_labels",
    "non_empty_foreign",
    "preflight_dataset",
    "publish_local",
    "publish_s3",
    "quality_summary",
    "remove_caches",
    "remove_stale_partials",
    "swap_into_place",
    "write_lineage",
]


@dataclass
class Publication:
    """What a converted dataset consists of, before it is published: the staging folder (label files, spool),
    the pass's state, the images moved to val, the head of lineage.json, data.yaml, the report."""

    staging: Path
    state: PassState
    moved: Sequence[str]
    head: Mapping[str, Any]
    data_yaml: bytes
    report: ConversionReport
    copy_images: bool
    workers: int
    strip_gps: bool = False  # GPS removed from each copy (gtlabel.geo.strip), counted in report.gps_stripped

    def entries(self) -> Iterator[tuple[bytes, str, str]]:
        """Per image, in manifest order: its lineage entry (JSON), its path in the dataset and its source."""
        return iter_spool(self.state, self.moved)

    @property
    def gps_report(self) -> ConversionReport | None:
        """The report to count GPS removals in, when the copies lose their GPS."""
        return self.report if self.strip_gps else None

    def report_json(self) -> bytes:
        return strict_json.dumps(self.report.as_dict(), option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS) + b"\n"


# ------------------------------------------------------------------------------------------------ lineage
def quality_summary(quality: Mapping[str, Any] | str) -> dict[str, Any]:
    if isinstance(quality, Mapping):
        return dict(quality)
    try:
        data = orjson.loads(storage.read_bytes(str(quality)))
    except orjson.JSONDecodeError as exc:
        raise ConfigError(f"quality: {quality} is not a quality report JSON ({exc})") from None
    summary = data.get("summary") if isinstance(data, dict) else None
    if not isinstance(summary, dict):
        raise ConfigError(f"quality: {quality} has no 'summary' object (expected `gtlabel report --json` output)")
    return {**{k: v for k, v in summary.items() if k != "findings_by_code"}, "report": str(quality)}


#: DescribeLabelingJob fields kept in lineage.json (the job's settings; no counters, they change)
_JOB_FIELDS = ("LabelingJobArn", "LabelingJobStatus", "CreationTime", "LabelAttributeName", "RoleArn",
               "LabelCategoryConfigS3Uri", "InputConfig", "OutputConfig", "HumanTaskConfig", "StoppingConditions",
               "LabelingJobAlgorithmsConfig", "Tags")


def describe_jobs(jobs: Sequence[str], sm_client: Any, report: ConversionReport) -> dict[str, Any]:
    """``{job name: its settings}`` from DescribeLabelingJob (``labeling-job/`` prefixes removed)."""
    # boto3 loads on first use (~0.15-0.2 s of import, measured): only describe_jobs=True needs a client
    import boto3

    if sm_client is None:
        sm_client = boto3.client("sagemaker")
    out: dict[str, Any] = {}
    for job in jobs:
        name = bare_job_name(job)
        try:
            d = sm_client.describe_labeling_job(LabelingJobName=name)
        except (BotoCoreError, ClientError) as exc:  # an undescribable job is a note, not a failed dataset
            report.warnings.append(f"labeling job {name}: not described ({type(exc).__name__}: {exc})")
            out[name] = None
            continue
        kept = {k: d[k] for k in _JOB_FIELDS if k in d}
        hc = kept.get("HumanTaskConfig")
        if isinstance(hc, dict):  # the template itself can be long: its URI is enough
            kept["HumanTaskConfig"] = {k: v for k, v in hc.items() if k != "UiConfig"} | \
                {"UiConfig": {k: v for k, v in (hc.get("UiConfig") or {}).items() if k != "UiTemplate"}}
        out[name] = orjson.loads(strict_json.dumps(kept, default=str))
    return out


def write_lineage(fh: IO[bytes], head: Mapping[str, Any], entries: Iterable[bytes]) -> None:
    """lineage.json, streamed: the head keys first (``version`` is the very first), then ``images`` (each
    entry as the JSON the pass wrote)."""
    head_bytes = strict_json.dumps(dict(head), option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS)
    fh.write(head_bytes[:-2])  # drop the closing "\n}"
    fh.write(b',\n  "images": [')
    first = True
    for e in entries:
        fh.write(b"\n    " if first else b",\n    ")
        fh.write(e)
        first = False
    fh.write(b"\n  ]\n}\n" if not first else b"]\n}\n")


# ------------------------------------------------------------------------------------------------ publish
def publish_local(final: Path, pub: Publication, phase: Phase) -> None:
    """lineage.json (copying the images meanwhile), the report and data.yaml (last) into the staging folder,
    which then replaces ``final`` in one rename."""
    staging, report = pub.staging, pub.report
    pairs: list[tuple[str, str]] = []
    advance = phase("copying images", sum(pub.state.counts.values())) if pub.copy_images else None

    def gen() -> Iterator[bytes]:
        for entry, image, src in pub.entries():
            if pub.copy_images and not src:  # a tile: written into the staging folder by its lane
                if advance is not None:
                    advance(1)
            elif pub.copy_images:
                pairs.append((src, str(staging / image)))
                if len(pairs) >= 2048:
                    report.images_copied += copy_batch(pairs, pub.workers, advance, gps=pub.gps_report)
                    pairs.clear()
            yield entry

    if pub.copy_images:
        for s in SPLITS:
            (staging / "images" / s).mkdir(parents=True, exist_ok=True)
    with open(staging / "lineage.json", "wb", buffering=1 << 20) as fh:
        write_lineage(fh, pub.head, gen())
    if pairs:
        report.images_copied += copy_batch(pairs, pub.workers, advance, gps=pub.gps_report)
    remove_spool(staging)
    for s in SPLITS:  # drop empty split folders (a test/ folder only when it has images)
        for kind in ("images", "labels"):
            d = staging / kind / s
            with contextlib.suppress(OSError):
                d.rmdir()
    (staging / "conversion-report.json").write_bytes(pub.report_json())
    (staging / "data.yaml").write_bytes(pub.data_yaml)  # last: a folder without data.yaml is incomplete
    swap_into_place(staging, final)


def swap_into_place(staging: Path, final: Path) -> None:
    """A finished staging folder replaces ``final`` (when there is one) in one rename, the old folder moved aside
    first and removed after (symbolic links in it are removed, never followed)."""
    _fsync_dir(staging)
    old: Path | None = None
    if final.exists():
        old = final.parent / f".{final.name}.old-{uuid.uuid4().hex[:12]}"
        os.replace(final, old)
    try:
        os.replace(staging, final)
    except OSError:
        if old is not None:
            os.replace(old, final)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    _fsync_dir(final.parent)


def copy_batch(pairs: list[tuple[str, str]], workers: int, advance: Advance | None, *,
               gps: ConversionReport | None = None) -> int:
    """Copy ``pairs`` concurrently with :func:`gtlabel.storage.copy_many` (S3 -> S3 server-side; local files
    in place, not one by one atomically: the staging folder is published as a whole). Returns how many were
    copied. ``gps``: each copy loses its GPS instead (read, :func:`gtlabel.geo.strip.strip_gps`, written),
    counted in ``gps.gps_stripped``."""
    if gps is not None:
        return _copy_without_gps(pairs, workers, advance, gps)
    local = all(not storage.is_s3(s) and not storage.is_s3(d) for s, d in pairs)

    def done(_s: str, _d: str) -> None:
        if advance is not None:
            advance(1)

    return storage.copy_many(pairs, max_workers=min(workers, 16) if local else workers, on_done=done,
                             atomic=False)


def _copy_without_gps(pairs: list[tuple[str, str]], workers: int, advance: Advance | None,
                      report: ConversionReport) -> int:
    def one(pair: tuple[str, str]) -> bool:
        src, dst = pair
        data, changed = strip_gps(storage.read_bytes(src), where=src)
        storage.write_bytes(dst, data)
        if advance is not None:
            advance(1)
        return changed

    with ThreadPoolExecutor(max_workers=max(1, min(workers, 16))) as pool:
        report.gps_stripped = (report.gps_stripped or 0) + sum(pool.map(one, pairs))
    return len(pairs)


def publish_s3(out: str, pub: Publication, phase: Phase, *, clean: bool) -> None:
    """S3 order: (old dataset removed, data.yaml first), lineage.json, labels + images, report, data.yaml last.
    A prefix with lineage.json but no data.yaml is an interrupted run, replaced by the next one."""
    base = out.rstrip("/")
    staging, report = pub.staging, pub.report
    if clean:
        _delete_prefix_dataset(base)
    lineage_tmp = staging / "lineage.json"
    with open(lineage_tmp, "wb", buffering=1 << 20) as fh:
        write_lineage(fh, pub.head, (entry for entry, _image, _src in pub.entries()))
    storage.copy(str(lineage_tmp), f"{base}/lineage.json")
    pairs: list[tuple[str, str]] = []
    images: list[tuple[str, str]] = []  # with strip_gps: the image copies, kept apart from the labels
    count = sum(pub.state.counts.values())
    advance = phase("uploading labels" + (" + copying images" if pub.copy_images else ""),
                    count * (2 if pub.copy_images else 1))
    for raw, _image, src in pub.entries():
        entry = orjson.loads(raw)
        lbl_name = entry["label"].rsplit("/", 1)[-1]
        pairs.append((str(staging / "labels" / entry["split"] / lbl_name), f"{base}/{entry['label']}"))
        if pub.copy_images:
            if not src:  # a tile (no source) was written into the staging folder by its lane
                pairs.append((str(staging / entry["image"]), f"{base}/{entry['image']}"))
            else:  # with strip_gps the sources are copied apart (read, stripped, written)
                (images if pub.strip_gps else pairs).append((src, f"{base}/{entry['image']}"))
            report.images_copied += 1
        if len(pairs) + len(images) >= 4096:
            copy_batch(pairs, pub.workers, advance)
            copy_batch(images, pub.workers, advance, gps=pub.gps_report)
            pairs.clear()
            images.clear()
    if pairs or images:
        copy_batch(pairs, pub.workers, advance)
        copy_batch(images, pub.workers, advance, gps=pub.gps_report)
    storage.write_bytes(f"{base}/conversion-report.json", pub.report_json(), content_type="application/json")
    storage.write_bytes(f"{base}/data.yaml", pub.data_yaml, content_type="application/x-yaml")  # last


def dataset_files(base: str) -> list[str]:
    """The files of the gtlabel dataset at ``base``, as its ``lineage.json`` lists them (paths relative to
    ``base``): its images and labels, the three top-level files (and the split lists of a dataset with linked
    images, :mod:`gtlabel.interchange.to_yolo`), and Ultralytics' ``*.cache`` files under
    ``labels/``. Raises :class:`DatasetExists` when there is no lineage.json: then it is not a dataset we wrote,
    and nothing there may be replaced."""
    lin = storage.join(base, LINEAGE_FILE)
    try:
        data = storage.read_bytes(lin)
    except NotFound:
        raise DatasetExists(f"{base}: there is no lineage.json, so this is not a dataset gtlabel wrote; --overwrite "
                            "replaces only those (choose an empty or new location)") from None
    try:
        head, records = parse_lineage(data, lin)
    except LineageError as exc:
        raise DatasetExists(f"{base}: its lineage.json cannot be read ({exc}); nothing is replaced") from None
    files = {"data.yaml", LINEAGE_FILE, "conversion-report.json"}
    settings = head.get("settings")
    if isinstance(settings, dict) and settings.get("images") == "linked":  # gtlabel.interchange.to_yolo's lists
        files.update(f"{s}.txt" for s in SPLITS)
    for rec in records:
        files.update((rec.image, rec.label))
    caches = storage.list_objects(storage.join(base, "labels"), suffixes=[".cache"]) \
        if storage.is_s3(base) or Path(base, "labels").is_dir() else []
    prefix = base.rstrip("/") + "/"
    files.update(info.uri[len(prefix):] if info.uri.startswith(prefix)
                 else str(Path(info.uri).relative_to(base)) for info in caches)
    return sorted(files)


def check_replaceable(final: Path) -> None:
    """A local dataset folder may be replaced only when every file in it is one its lineage.json lists (the
    folder is swapped out and removed whole): otherwise :class:`DatasetExists` names what would be lost."""
    listed = set(dataset_files(str(final)))
    foreign = sorted(str(p.relative_to(final)) for p in final.rglob("*")
                     if not p.is_dir() and str(p.relative_to(final)) not in listed)
    if foreign:
        shown = ", ".join(foreign[:5]) + (f" and {len(foreign) - 5} more" if len(foreign) > 5 else "")
        raise DatasetExists(f"{final}: --overwrite would delete files that are not part of the dataset there "
                            f"({shown}); move them away or choose another location")


def _delete_prefix_dataset(base: str) -> None:
    """Before overwriting a dataset on S3: remove data.yaml first (so it reads as incomplete), then the other
    keys its lineage.json lists, and nothing else under the prefix."""
    hint = " (replacing a dataset on S3 needs s3:DeleteObject on its prefix; `gtlabel iam policy` grants none)"
    listed = dataset_files(base)  # before anything is deleted: no lineage.json, nothing deleted
    try:
        storage.delete(f"{base}/data.yaml")
    except StorageError as exc:
        raise StorageError(f"cannot remove the old data.yaml ({exc}){hint}") from exc
    try:
        storage.delete_many([f"{base}/{rel}" for rel in listed if rel != "data.yaml"])
    except StorageError as exc:  # an old file would stay behind
        raise StorageError(f"{exc.message}{hint}", exc.uri) from exc


# ------------------------------------------------------------------------------------------------ what is there
_VERSION_RE = re.compile(rb'"version"\s*:\s*"(v-[0-9a-f]+)"')
INCOMPLETE = "incomplete"


def existing_version(out: str, final_local: Path | None) -> str | None:
    """The version of the dataset already at the output: its id when complete (data.yaml + lineage.json),
    ``"incomplete"`` for lineage.json without data.yaml (an interrupted run), ``None`` when there is none."""
    base = out.rstrip("/") if final_local is None else str(final_local)
    if final_local is not None and not final_local.is_dir():
        return None
    lin = storage.join(base, "lineage.json")
    try:
        with storage.open_read(lin) as fh:
            head = fh.read(4096)
    except NotFound:
        return "unknown (data.yaml without lineage.json)" if storage.exists(storage.join(base, "data.yaml")) \
            else None
    if not storage.exists(storage.join(base, "data.yaml")):
        return INCOMPLETE
    m = _VERSION_RE.search(head)
    return m.group(1).decode() if m else "unknown"


def non_empty_foreign(out: str, final_local: Path | None) -> bool:
    if final_local is not None:
        return final_local.is_dir() and any(final_local.iterdir())
    return next(iter(storage.list_objects(out.rstrip("/") + "/")), None) is not None


def check_destination(out: str, final_local: Path | None, version: str, *, overwrite: bool,
                      noun: str) -> tuple[str | None, bool]:
    """What is at the dataset's destination ``out`` (``final_local``: its local folder, ``None`` for an S3
    prefix), checked before the dataset ``version`` replaces it: ``(the version there, no-op)``. The version
    there is ``None`` when there is none (:func:`existing_version`); no-op when it is ``version`` and not
    ``overwrite`` (nothing to write). Else a different dataset is refused unless ``overwrite`` (:data:`INCOMPLETE`,
    our own interrupted run, is replaced), anything there that is not a gtlabel dataset always, and one that
    cannot be replaced whole (files its lineage.json does not list, or none) too: :class:`DatasetExists`, its
    message naming the destination as ``noun`` (``"output_directory"``, ``"folder"``)."""
    existing = existing_version(out, final_local)
    if existing is not None and existing == version and not overwrite:
        return existing, True
    if existing is not None and existing != INCOMPLETE and not overwrite:
        raise DatasetExists(f"{out}: a different dataset ({existing}) is already there; this one is {version}. "
                            f"Choose another {noun} or pass overwrite=True (CLI: --overwrite)")
    # overwrite replaces only what is recognisably a dataset we wrote: one its lineage.json lists
    if existing is None and non_empty_foreign(out, final_local):
        raise DatasetExists(f"{out}: it exists and is not a gtlabel dataset (no lineage.json); choose an empty "
                            f"or new {noun} (--overwrite replaces only datasets gtlabel wrote)")
    if existing is not None and final_local is not None:
        check_replaceable(final_local)
    elif existing is not None:
        dataset_files(out)  # no readable lineage.json: refused before anything is deleted
    return existing, False


def etag_of(uri: str) -> str | None:
    try:
        return storage.head(uri, hash_local=not storage.is_s3(uri)).etag
    except GtlabelError:
        return None


def remove_caches(base: str) -> int:
    """Delete Ultralytics ``*.cache`` files under a dataset (validated by sizes + paths only, so a stale one
    could survive a same-size rewrite)."""
    n = 0
    if storage.is_s3(base):
        for info in storage.list_objects(base.rstrip("/") + "/", suffixes=[".cache"]):
            storage.delete(info.uri)
            n += 1
        return n
    for p in Path(base).rglob("*.cache"):
        with contextlib.suppress(OSError):
            p.unlink()
            n += 1
    return n


def remove_stale_partials(final: Path) -> None:
    """Leftovers of interrupted runs (hidden ``.<name>.partial-*`` / ``.old-*`` siblings) are removed."""
    parent = final.parent
    if not parent.is_dir():
        return
    for p in parent.glob(f".{final.name}.partial-*"):
        shutil.rmtree(p, ignore_errors=True)
    for p in parent.glob(f".{final.name}.old-*"):
        shutil.rmtree(p, ignore_errors=True)


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def iter_dataset_labels(root: str | os.PathLike[str]) -> Iterator[tuple[Path, str]]:
    """``(label path, text)`` of every label file under a local dataset (used by checks and tests)."""
    for p in sorted(Path(root, "labels").rglob("*.txt")):
        yield p, p.read_text(encoding="utf-8")


def preflight_dataset(root: str | os.PathLike[str], nc: int) -> list[str]:
    """Ultralytics' label rules over a written local dataset: the problems found (empty = nothing dropped)."""
    problems = []
    for p, text in iter_dataset_labels(root):
        problems += [f"{p}: {msg}" for msg in check_label_text(text, nc)]
    return problems


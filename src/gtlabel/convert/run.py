"""The conversion, step by step: plan (check and resolve the options), convert the manifest (in lanes, or in
this process), version, decide what to do with what is already at the output, publish."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from gtlabel import __version__, storage
from gtlabel.convert import pool
from gtlabel.convert.classes import check_aliases, label_config_names, load_label_config, resolve_class_names
from gtlabel.convert.lanes import (
    Advance,
    LaneSpec,
    PassState,
    convert_pass,
    ensure_val,
    scan_classes,
    scan_groups,
)
from gtlabel.convert.options import (
    ClassOptions,
    ConvertOptions,
    ExifMode,
    ImageOptions,
    OutputOptions,
    RunOptions,
    SourceOptions,
    SplitOptions,
)
from gtlabel.convert.progress import Phases
from gtlabel.convert.publish import (
    Publication,
    check_destination,
    describe_jobs,
    etag_of,
    publish_local,
    publish_s3,
    quality_summary,
    remove_caches,
    remove_stale_partials,
)
from gtlabel.convert.report import ConversionReport
from gtlabel.convert.rows import RowContext
from gtlabel.convert.splits import SplitBy, assign_groups, normalize_splits, stratify
from gtlabel.errors import ConfigError, ManifestError
from gtlabel.formats.yolo import DATASET_FORMAT, SPLITS, render_data_yaml
from gtlabel.lineage import dataset_version
from gtlabel.settings import get_settings
from gtlabel.tiling import TileSpec

__all__ = ["convert", "convert_ground_truth_to_yolo"]


def convert(opts: ConvertOptions) -> ConversionReport:
    """Convert as :func:`convert_ground_truth_to_yolo` describes, with its arguments grouped."""
    t0 = time.perf_counter()
    plan = _plan(opts)
    report, overwrite = plan.report, opts.output.overwrite
    ok = False
    try:
        plan.staging.mkdir(parents=True, exist_ok=True)
        for s in SPLITS:
            (plan.staging / "labels" / s).mkdir(parents=True, exist_ok=True)
        with Phases(plan.progress) as phases:
            state = _convert_manifest(plan, phases)
            # by group, val got a whole group (assign_groups); moving one image would split its group (and a
            # tile would leave its frame's other tiles behind)
            moved = [] if plan.split_by or plan.spec.tile else ensure_val(state, plan.ratios, plan.staging, report)
            version = _version(plan, state, moved)
            manifest_etag = state.manifest_md5 or etag_of(plan.manifest)
            existing, noop = check_destination(plan.out, plan.final_local, version, overwrite=overwrite,
                                               noun="output_directory")
            if noop:
                report.noop = True
                report.data_yaml = storage.join(plan.base, "data.yaml")
                report.stale_caches_removed = remove_caches(plan.base)
                report.elapsed_s = time.perf_counter() - t0
                return report
            head, data_yaml = _describe(plan, state, version, manifest_etag)
            pub = Publication(plan.staging, state, moved, head, data_yaml, report, opts.images.copy, plan.workers,
                              opts.images.strip_gps)
            if plan.final_local is None:
                publish_s3(plan.out, pub, phases.phase, clean=existing is not None or overwrite)
            else:
                publish_local(plan.final_local, pub, phases.phase)
        ok = True
    finally:
        if not ok or plan.final_local is None:
            shutil.rmtree(plan.staging, ignore_errors=True)
    report.elapsed_s = time.perf_counter() - t0
    return report


@dataclass
class _Plan:
    """The options checked and resolved: paths, class names, ratios, the staging folder, the lanes' spec."""

    opts: ConvertOptions
    manifest: str
    out: str
    final_local: Path | None  # the local dataset folder (None: an S3 prefix)
    names: list[str]
    ratios: tuple[float, float, float]
    report: ConversionReport
    settings: dict[str, Any]  # the conversion settings recorded in lineage.json (and the version id)
    workers: int
    progress: bool
    staging: Path
    spec: LaneSpec
    ctx: RowContext
    split_by: SplitBy | None

    @property
    def base(self) -> str:
        return self.out if self.final_local is None else str(self.final_local)


def _plan(opts: ConvertOptions) -> _Plan:
    src, images, splits = opts.source, opts.images, opts.splits
    manifest = str(src.manifest)
    if not storage.is_s3(manifest):
        manifest = str(Path(manifest).expanduser().resolve())
    out = str(opts.output.directory)
    if images.exif not in ("normalize", "ignore"):
        raise ConfigError(f"exif must be 'normalize' or 'ignore', got {images.exif!r}")
    ratios = normalize_splits(splits.splits)
    split_by = SplitBy.parse(splits.split_by) if splits.split_by is not None else None
    if split_by is not None and splits.stratify:
        raise ConfigError("split_by and stratify cannot be combined: stratify places single images by class, "
                          "split_by keeps a group's images together")
    cfg = load_label_config(opts.classes.label_category_config)
    names = resolve_class_names(opts.classes.class_mapping, cfg)
    fallback = dict(enumerate(label_config_names(cfg))) if cfg is not None else {}
    aliases = check_aliases(opts.classes.aliases)
    missing = sorted({t for t in aliases.values() if t not in names})
    if missing:
        raise ConfigError(f"alias target(s) {', '.join(map(repr, missing))} not among the dataset's classes {names}")
    final_local = None if storage.is_s3(out) else Path(out).expanduser().resolve()
    _check_output_location(out, final_local, manifest, src.image_root)
    report = ConversionReport(manifest, out if final_local is None else str(final_local), names=names)
    settings = {"splits": dict(zip(SPLITS, ratios, strict=True)), "stratify": splits.stratify, "seed": splits.seed,
                "drop_unknown_classes": opts.classes.drop_unknown, "copy_images": images.copy, "exif": images.exif,
                "label_attribute": src.label_attribute, "precision": 6}
    if aliases:  # recorded (and in the version id) only when given
        settings["aliases"] = aliases
    if split_by is not None:  # recorded (and in the version id) only when set
        settings["split_by"] = report.split_by = str(split_by)
    if opts.tile is not None:  # likewise
        _check_tiling(opts)
        settings["tile"] = opts.tile.settings()
        report.tiled = True
    if images.strip_gps:  # recorded (and in the version id) only when set: the copies differ from the sources
        if not images.copy:
            raise ConfigError("strip_gps removes GPS from the copied images: it needs copy_images=True")
        settings["strip_gps"] = True
        report.gps_stripped = 0
    probe_sources = images.exif == "normalize" or images.fingerprint_sources
    if not probe_sources:
        settings["fingerprint_sources"] = False  # "labels only": recorded (and in the version id) only when off
    workers = opts.run.max_workers or get_settings().max_concurrency
    progress = opts.run.progress and get_settings().progress
    if final_local is not None:
        final_local.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_partials(final_local)
        staging = final_local.parent / f".{final_local.name}.partial-{uuid.uuid4().hex[:12]}"
    else:
        staging = Path(tempfile.mkdtemp(prefix="gtlabel-yolo-"))
    exif = images.exif if images.exif == "normalize" else "fingerprint" if probe_sources else "ignore"
    spec = LaneSpec(manifest, names, fallback, opts.classes.drop_unknown, src.strict, ratios, splits.seed,
                    str(staging), exif, src.image_root, workers, src.label_attribute, split_by=split_by,
                    aliases=aliases or None, tile=opts.tile)
    return _Plan(opts, manifest, out, final_local, names, ratios, report, settings, workers, progress, staging,
                 spec, spec.new_ctx(report), split_by)


def _check_tiling(opts: ConvertOptions) -> None:
    """Tiles are cut from the image pixels: the images must be read (``exif="normalize"``) and written."""
    if not isinstance(opts.tile, TileSpec):
        raise ConfigError(f"tile: expected a gtlabel.TileSpec, got {type(opts.tile).__name__}")
    if opts.images.exif != "normalize":
        raise ConfigError("tile: tiles are cut from the upright image, so exif must be 'normalize' (the default)")
    if not opts.images.copy:
        raise ConfigError("tile: a tiled dataset is made of new images (the tiles), so copy_images must be True")


def _check_output_location(out: str, final_local: Path | None, manifest: str, image_root: str | None) -> None:
    """The dataset may not be, or contain, the folder of the manifest or the image root: publishing (and
    --overwrite) replaces the output whole, the images and the manifest with it."""
    inputs = {"the manifest's folder": manifest.rsplit("/", 1)[0] if storage.is_s3(manifest)
              else str(Path(manifest).parent)}
    if image_root:
        inputs["the image root"] = image_root
    for what, where in inputs.items():
        if storage.is_s3(where) != (final_local is None):
            continue
        if final_local is not None:
            inside = Path(where).expanduser().resolve().is_relative_to(final_local)
        else:
            inside = (where.rstrip("/") + "/").startswith(out.rstrip("/") + "/")
        if inside:
            raise ConfigError(f"output_directory {out} is or contains {what} ({where}); writing the dataset there "
                              "would replace the inputs: choose a folder or prefix of its own")


def _convert_manifest(plan: _Plan, phases: Phases) -> PassState:
    """The conversion pass: stratified (a scan, then one pass in this process), in lanes, or in this process
    (a small manifest, or blocks that collided)."""
    spec, ctx = plan.spec, plan.ctx
    assign = None
    # the bar counts the manifest's bytes: its size is known before it is read, its number of lines is not
    size = storage.head(spec.manifest).size if phases.enabled else None
    if plan.opts.splits.stratify:
        scan = scan_classes(spec, ctx, phases.phase("scanning classes (stratify)"))
        assign = stratify(scan, len(plan.names), plan.ratios)
    if plan.split_by is not None:
        spec = _group_splits(plan, phases.phase("scanning groups (split_by)", size, "bytes"))
    state = None
    if assign is None:
        processes = plan.opts.run.processes
        lanes = pool.lanes_for(spec.manifest, get_settings().convert_processes if processes is None else processes)
        if lanes > 1:
            state = pool.parallel_pass(spec, ctx, lanes, phases.phase("converting", size, "bytes"))
    if state is None:
        state = convert_pass(spec, assign, ctx, phases.phase("converting", size, "bytes"))
    return state


def _group_splits(plan: _Plan, advance: Advance) -> LaneSpec:
    """``split_by``: each group's split (a first pass over the manifest), into the lanes' spec and the report."""
    spec, split_by, report = plan.spec, plan.split_by, plan.report
    assert split_by is not None
    sizes, ungrouped = scan_groups(spec, split_by, plan.ctx, advance)
    if not sizes and ungrouped:
        raise ConfigError(f"split_by={str(split_by)!r}: no line of the manifest has this key (a typo?); the keys "
                          f"Ground Truth passed through are the input manifest's, e.g. video")
    groups = assign_groups(sizes, plan.ratios, spec.seed)
    report.groups = {s: sum(1 for i in groups.values() if SPLITS[i] == s) for s in SPLITS}
    report.ungrouped = ungrouped
    if ungrouped:
        report.warnings.append(f"{ungrouped} image(s) have no {split_by}: each is a group of its own")
    return replace(spec, groups=groups)


def _version(plan: _Plan, state: PassState, moved: Sequence[str]) -> str:
    """The report's totals from the pass, and the dataset's version id (``dataset_version`` of its content)."""
    report = plan.report
    report.images = sum(state.counts.values())
    report.splits = {s: state.counts[s] for s in SPLITS}
    report.class_counts = {n: plan.ctx.class_counts[i] for i, n in enumerate(plan.names)}
    if report.records == 0:
        raise ManifestError("the manifest has no records (empty file?)", file=plan.manifest)
    if report.images == 0:
        raise ManifestError(f"no image could be converted ({report.summary()})", file=plan.manifest)
    plan.settings["label_attribute"] = state.label_attribute  # the one used (given or detected)
    report.version = dataset_version(plan.names, plan.settings, state.entries_sum, report.images, moved)
    return report.version


def _describe(plan: _Plan, state: PassState, version: str, manifest_etag: str | None
              ) -> tuple[dict[str, Any], bytes]:
    """The head of lineage.json and data.yaml (with the report's notes on both)."""
    report, opts = plan.report, plan.opts
    present = {s for s in SPLITS if state.counts[s]}
    data_yaml = render_data_yaml(plan.names, path=None if plan.final_local is None else str(plan.final_local),
                                 splits_present=present, version=version)
    report.data_yaml = storage.join(plan.base, "data.yaml")
    if not present.issuperset({"val"}):
        report.warnings.append("no image in 'val': data.yaml's val points at images/train")
    if not opts.images.copy:
        report.warnings.append("copy_images=False: images/ is not written; put each image at the 'image' "
                               "path lineage.json gives for it")
    head: dict[str, Any] = {
        "version": version, "format": DATASET_FORMAT, "package_version": __version__,
        "manifest": {"uri": plan.manifest, "etag": manifest_etag},
        "jobs": sorted(state.jobs), "label_attribute": state.label_attribute, "settings": plan.settings,
        "names": dict(enumerate(plan.names)), "splits": report.splits,
    }
    if opts.output.describe_jobs and state.jobs:
        head["job_details"] = describe_jobs(sorted(state.jobs), opts.output.sm_client, report)
    if opts.output.quality is not None:
        head["quality"] = quality_summary(opts.output.quality)
    return head, data_yaml


def convert_ground_truth_to_yolo(
    input_manifest: str | os.PathLike[str],
    output_directory: str | os.PathLike[str],
    class_mapping: Mapping[Any, Any] | Sequence[str] | None = None,
    *,
    label_attribute: str | None = None,
    label_category_config: str | os.PathLike[str] | Mapping[str, Any] | None = None,
    splits: Sequence[float] | Mapping[str, float] = (0.8, 0.1, 0.1),
    stratify: bool = False,
    seed: int | str = 0,
    split_by: str | None = None,
    drop_unknown_classes: bool = False,
    aliases: Mapping[str, str] | Sequence[str] | None = None,
    copy_images: bool = True,
    exif: ExifMode = "normalize",
    strict: bool = True,
    overwrite: bool = False,
    image_root: str | None = None,
    progress: bool = True,
    max_workers: int | None = None,
    quality: Mapping[str, Any] | str | None = None,
    describe_jobs: bool = False,
    sm_client: Any = None,
    fingerprint_sources: bool = True,
    processes: int | None = None,
    tile: TileSpec | None = None,
    strip_gps: bool = False,
) -> ConversionReport:
    """Convert a Ground Truth bounding-box output manifest into an Ultralytics YOLO11 detect dataset.

    Args:
        input_manifest: ``s3://...`` or local output manifest (``manifests/output/output.manifest``).
        output_directory: local folder or ``s3://`` prefix for the dataset.
        class_mapping: ``{name: id}``, ``{id: name}`` or a list of names; ids 0..n-1 become YOLO ids.
        label_attribute: the job's label attribute (needed when chained jobs left several on a line).
        label_category_config: URI/path or dict of the job's label category config; gives the names when
            ``class_mapping`` is not given, and maps ``class_id`` s missing from a line's ``class-map``.
        splits: ``(train, val, test)`` ratios or ``{"train": .., "val": .., "test": ..}``.
        stratify: keep class proportions per split (by each image's rarest class); two passes.
        seed: salt of the split hash.
        split_by: keep groups of images in one split: a pass-through key of the lines (``"video"`` as
            :func:`gtlabel.manifests.build_input_manifest` writes for frames, or e.g. a flight id), or
            ``"prefix:N"`` (the first N folders of the ``source-ref``, below the bucket on S3). Groups are
            placed whole, in a seeded order, each to the split furthest below its share of the images (so
            the ratios are met within one group's size, and the manifest's order does not matter); a line
            without the key is a group of its own (placed by its hash, counted and warned about); no line
            with it is a ``ConfigError``. Not with ``stratify``. One more pass over the manifest.
        drop_unknown_classes: drop boxes whose class is not in the names (counted) instead of failing.
        aliases: a class alias map (``{"car": "vehicle", "truck": "vehicle"}`` or ``["car=vehicle"]``): a box
            whose class the manifest calls ``car`` goes to the dataset's ``vehicle``, so an ontology change needs
            no relabeling. Recorded in lineage.json's settings and so in the version id.
        copy_images: copy the images into ``images/<split>/`` (S3 -> S3 server-side, concurrently).
        exif: ``"normalize"`` reads each image header (size, EXIF orientation, format) and normalizes against
            the displayed size; ``"ignore"`` trusts ``image_size`` and reads no image (it still fingerprints
            each source, see ``fingerprint_sources``).
        fingerprint_sources: with ``exif="ignore"``, record each source's ETag/version (S3 HEAD) or MD5
            (local) in lineage.json and the version id, and treat a missing image as with ``"normalize"``.
            ``False`` ("labels only") touches no image: the version id then does not see image changes and
            ``lineage verify`` cannot check the sources.
        strip_gps: remove GPS from the images copied into the dataset (privacy): a JPEG's EXIF GPS IFD and any
            XMP packet holding GPS (DJI's), losslessly (piexif: the scan data stays byte-identical; the ``geo``
            extra); other formats are copied as they are (one holding GPS is an error naming it). Counted in
            the report (``gps_stripped``); ``lineage verify`` compares each copy with its source stripped again.
            Needs ``copy_images``.
        strict: raise on a malformed line (default) or skip and count it.
        overwrite: replace a different dataset already at ``output_directory``.
        image_root: where relative ``source-ref`` s point (default: the manifest's folder).
        progress: show rich progress bars.
        max_workers: threads for header reads and copies (default: ``GTLABEL_MAX_CONCURRENCY``).
        processes: processes that share the conversion of the manifest, each a block of lines at a time
            (default ``GTLABEL_CONVERT_PROCESSES``, 0: one more than the CPUs, at most 8, for a manifest of
            16 MiB or more; 1: this process only). The result is the same bytes whatever the number;
            ``stratify=True`` and a manifest that repeats a ``source-ref`` are converted in this process.
        quality: the quality report's summary for ``lineage.json`` (a dict, e.g.
            :func:`gtlabel.quality.report.quality_summary`, or the URI of the report's JSON); not part of the
            version id (it describes the labels, it does not change them).
        describe_jobs: record each labeling job's ARN and settings (workteam, workers per object, time limits,
            price, template, label categories, input manifest) in ``lineage.json`` with ``DescribeLabelingJob``
            (``sm_client`` or boto3's default); a job that cannot be described is noted in the warnings.
        tile: cut each labeled frame into tiles (:class:`gtlabel.TileSpec`: size, overlap, min_visibility,
            keep_empty, with_frames, seed) cropped from the upright (EXIF-rotated) image, boxes clipped to each
            tile; every tile in its frame's split; see :mod:`gtlabel.convert.tiles` and docs/tiling.md.

    Returns:
        The :class:`ConversionReport` (also written as ``conversion-report.json``).

    Raises:
        ManifestError / LabelError (naming file:line and field), ConfigError, DatasetExists, StorageError.
    """
    return convert(ConvertOptions(
        SourceOptions(input_manifest, label_attribute, image_root, strict),
        OutputOptions(output_directory, overwrite, quality, describe_jobs, sm_client),
        ClassOptions(class_mapping, label_category_config, drop_unknown_classes, aliases),
        SplitOptions(splits, stratify, seed, split_by),
        ImageOptions(copy_images, exif, fingerprint_sources, strip_gps),
        RunOptions(progress, max_workers, processes), tile))

"""Lanes: what converts records into label files, in this process or in a worker process (:mod:`.pool`).

A :class:`Lane` writes one label file per accepted image into ``<staging>/labels/<split>/`` and appends one
*spool* line per image to a spool file of its own (the lineage entry as JSON, the image's path in the dataset,
its source as JSON; tab-separated). A pass (:class:`PassState`) keeps the counts, the spool segments in manifest
order and the sum of the entries' hashes; :func:`iter_spool` reads the segments back for publication.
:class:`LaneSpec` is what a lane needs, picklable, so a worker process gets it once.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO

import orjson

from gtlabel import storage
from gtlabel.convert.probe import ImageProbe, fingerprint, probe_image
from gtlabel.convert.report import ConversionReport
from gtlabel.convert.rows import RowContext, boxes_for, dataset_name, records, rows_for
from gtlabel.convert.splits import SplitBy, split_hash, split_of
from gtlabel.convert.tiles import FrameJob, FrameTiles, Tiler
from gtlabel.errors import LabelError
from gtlabel.formats.ground_truth import OutputRecord
from gtlabel.formats.yolo import MIN_IMAGE_PX, SPLITS, ULTRALYTICS_IMG_FORMATS, label_bytes
from gtlabel.geo.tags import GEO_KEY
from gtlabel.geometry import displayed_size, label_frame_size
from gtlabel.manifests import resolve_source_ref, source_base
from gtlabel.tiling import TileSpec

__all__ = [
    "MAX_JOBS",
    "Advance",
    "BlockResult",
    "Lane",
    "LaneSpec",
    "PassState",
    "convert_pass",
    "ensure_val",
    "iter_spool",
    "remove_spool",
    "scan_classes",
    "scan_groups",
    "spool_path",
]

MAX_JOBS = 100  # labeling-job names kept for lineage.json (the first ones, in manifest order)
#: advances a progress bar by the amount done (bytes of the manifest in a pass, records in the class scan)
Advance = Callable[[int], None]


class _Conflict(Exception):
    """A label file is already there while blocks run in parallel (a repeated ``source-ref``): which line
    wins depends on timing, so the conversion is redone in one pass (:attr:`BlockResult.redo`)."""


@dataclass
class LaneSpec:
    """What every lane (the main process, or a worker process) needs to convert blocks; picklable."""

    manifest: str
    names: list[str]
    fallback_names: dict[int, str]
    drop_unknown: bool
    strict: bool
    ratios: tuple[float, float, float]
    seed: int | str
    staging: str
    exif: str  # "normalize" (read headers), "fingerprint" (ETag/MD5 only) or "ignore" (touch no image)
    image_root: str | None
    threads: int
    label_attribute: str | None
    parallel: bool = False  # blocks run in several lanes: a label file already there makes the block's redo
    split_by: SplitBy | None = None  # splits by group (e.g. the frames of one video)
    groups: dict[str, int] | None = None  # with split_by: each group's split (index into SPLITS)
    aliases: dict[str, str] | None = None  # a manifest's class name -> the dataset's (checked: convert.classes)
    tile: TileSpec | None = None  # cut each frame into tiles (.tiles): images are written, not copied

    def new_ctx(self, report: ConversionReport | None = None) -> RowContext:
        """The counting context of a pass (or of one block: a fresh report)."""
        return RowContext(self.manifest, self.names, self.fallback_names, self.drop_unknown, self.strict,
                          report if report is not None else ConversionReport(self.manifest, "", names=self.names),
                          aliases=self.aliases or {})


@dataclass
class PassState:
    """What a pass (or one block of it) found besides the report: images per split, the sum of the lineage
    entries' hashes, jobs, the label attribute, the train image with the highest hash, the spool segments."""

    counts: Counter[str] = field(default_factory=Counter)
    entries_sum: int = 0
    jobs: dict[str, None] = field(default_factory=dict)  # the first MAX_JOBS job names, in manifest order
    label_attribute: str | None = None
    best_train: tuple[int, str, str] | None = None  # (hash, image name, label name): moved to val if val empty
    segments: list[tuple[str, int, int]] = field(default_factory=list)  # spool (file, start, end), in order
    manifest_md5: str | None = None  # of the bytes converted (a local manifest), else None

    def merge(self, part: PassState) -> None:
        """Add the state of the next block (in manifest order)."""
        self.counts.update(part.counts)
        self.entries_sum += part.entries_sum
        for job in part.jobs:
            if len(self.jobs) >= MAX_JOBS:
                break
            self.jobs.setdefault(job, None)
        if part.label_attribute is not None:
            self.label_attribute = part.label_attribute
        if part.best_train is not None and (self.best_train is None or part.best_train[0] > self.best_train[0]):
            self.best_train = part.best_train
        self.segments.extend(part.segments)


@dataclass
class BlockResult:
    """One block converted in a lane: its counts, its spool segment (``state.segments``), and the error raised
    (``error``) or why the pass must be redone in one process (``redo``)."""

    index: int
    lines: int
    report: ConversionReport | None = None
    class_counts: list[int] = field(default_factory=list)
    state: PassState | None = None
    error: BaseException | None = None
    redo: str | None = None


def spool_path(staging: str | Path, lane_no: int) -> Path:
    """The spool file of lane ``lane_no`` (0: this process)."""
    return Path(staging) / f".entries-{lane_no}.jsonl"


class Lane:
    """Converts records into label files under ``staging/labels/<split>/`` and one spool line per image
    appended to ``spool``."""

    def __init__(self, spec: LaneSpec, spool: Path, assign: bytearray | None = None) -> None:
        self.spec = spec
        self.assign = assign
        self.label_dirs = {s: f"{spec.staging}{os.sep}labels{os.sep}{s}{os.sep}" for s in SPLITS}
        self.probe_fn: Callable[[str], ImageProbe] | None = \
            {"normalize": probe_image, "fingerprint": fingerprint}.get(spec.exif)
        self.pool = ThreadPoolExecutor(max_workers=spec.threads, thread_name_prefix="gtlabel-probe") \
            if self.probe_fn is not None else None
        self.spool_path = spool
        self.spool: IO[bytes] = open(spool, "ab", buffering=1 << 20)  # noqa: SIM115 - closed in close()
        self.ordinal = 0
        # decoding and encoding are CPU work: about one thread per CPU (each holds one decoded frame)
        self.tiler = Tiler(spec.tile, spec.staging, min(spec.threads, (os.cpu_count() or 1) + 1)) \
            if spec.tile is not None else None
        if self.tiler is not None:
            os.makedirs(os.path.join(spec.staging, _FRAMES), exist_ok=True)

    def close(self) -> None:
        self.spool.close()
        if self.pool is not None:
            self.pool.shutdown(wait=True)
        if self.tiler is not None:
            self.tiler.close()

    def run_block(self, index: int, first: int, block: bytes) -> BlockResult:
        """Convert block ``index`` of the manifest (whole lines from line ``first``, as
        :func:`gtlabel.storage.iter_line_blocks` cuts them) with a fresh report."""
        spec = self.spec
        ctx = spec.new_ctx()
        state = PassState()
        res = BlockResult(index, block.count(b"\n") + (not block.endswith(b"\n")))
        start = self.spool.tell()
        try:
            self.run(records(spec.manifest, spec.label_attribute, ctx, storage.block_lines(first, block)), ctx,
                     state)
        except _Conflict as exc:
            res.redo = f"source-ref {exc} is repeated"
        except Exception as exc:
            res.error = exc
        self.spool.flush()
        state.segments.append((str(self.spool_path), start, self.spool.tell()))
        res.report, res.class_counts, res.state = ctx.report, ctx.class_counts, state
        return res

    def run(self, recs: Iterable[OutputRecord], ctx: RowContext, state: PassState) -> None:
        """Convert ``recs`` (counted into ``ctx`` and ``state``), a batch of records at a time (their image
        headers, if any, probed concurrently)."""
        spec, pool, probe_fn = self.spec, self.pool, self.probe_fn
        manifest, base = spec.manifest, source_base(spec.manifest, spec.image_root)
        for batch in _batched(recs, 64 if pool else 1024):
            srcs = [resolve_source_ref(r.source_ref, manifest, base) for r in batch]
            probes: Sequence[ImageProbe | None] = list(pool.map(probe_fn, srcs)) \
                if pool is not None and probe_fn is not None else [None] * len(batch)
            if self.tiler is not None:
                self._tiled(self.tiler, batch, srcs, probes, ctx, state)
                continue
            for rec, src, probe in zip(batch, srcs, probes, strict=True):
                self._one(rec, src, probe, ctx, state)

    def _tiled(self, tiler: Tiler, batch: Sequence[OutputRecord], srcs: Sequence[str],
               probes: Sequence[ImageProbe | None], ctx: RowContext, state: PassState) -> None:
        """A batch of records cut into tiles: checked here, cut on the tiler's threads, counted and spooled
        here in manifest order."""
        jobs: list[tuple[OutputRecord, FrameJob]] = []
        for rec, src, probe in zip(batch, srcs, probes, strict=True):
            job = self._frame_job(rec, src, probe, ctx, state)
            if job is not None:
                jobs.append((rec, job))
        for (rec, job), out in zip(jobs, tiler.map([j for _, j in jobs]), strict=True):
            self._tiled_done(rec, job, out, ctx, state)

    def _frame_job(self, rec: OutputRecord, src: str, probe: ImageProbe | None, ctx: RowContext,
                   state: PassState) -> FrameJob | None:
        """One record to cut: the checks of :meth:`_one` (suffix, header, size, classes, split, a repeated
        ``source-ref``), or ``None`` when it is skipped (counted)."""
        rep = ctx.report
        admitted = self._admit(rec, src, probe, ctx, state)
        if admitted is None:
            return None
        this, img_name, lbl_name, frame = admitted
        if probe is not None and probe.size is not None and \
                displayed_size(*probe.size, probe.orientation) != frame:
            rep.skip("image size differs from image_size (tiles are cut from the labeled pixels)",
                     f"{rec.file}:{rec.line}: {src}", rec.line)
            return None
        boxes = boxes_for(rec, frame, ctx)
        split = SPLITS[self.assign[this]] if self.assign is not None else \
            self._split(rec, split_hash(rec.source_ref, self.spec.seed))
        try:  # one marker per frame, whatever its split: a repeated source-ref is found across lanes too
            os.close(os.open(os.path.join(self.spec.staging, _FRAMES, lbl_name), _NEW_FILE, 0o666))
        except FileExistsError:
            if self.spec.parallel:
                raise _Conflict(rec.source_ref) from None
            rep.skip("duplicate source-ref", f"{rec.file}:{rec.line}: {rec.source_ref}", rec.line)
            return None
        return FrameJob(src, rec.source_ref, frame, boxes, split, img_name,
                        probe.etag if probe else None, probe.version_id if probe else None)

    def _tiled_done(self, rec: OutputRecord, job: FrameJob, out: FrameTiles, ctx: RowContext,
                    state: PassState) -> None:
        """Count a cut frame and spool its images (or raise / skip the record when it could not be cut)."""
        rep = ctx.report
        if out.error is not None:
            why = f"{out.error} ({out.detail})" if out.detail else out.error
            if ctx.strict:
                raise LabelError(f"{why}: {job.src}", file=rec.file, line=rec.line, field="source-ref")
            rep.skip(out.error, f"{rec.file}:{rec.line}: {job.src} {out.detail or ''}".rstrip(), rec.line)
            return
        rep.boxes_written += out.rows
        rep.boxes_duplicate += out.duplicate_rows
        rep.boxes_zero_area += out.tiny_rows
        for gid, n in out.class_rows.items():
            ctx.class_counts[gid] += n
        ha = rec.human_annotated
        rep.labeled_by["human" if ha else "auto" if ha is False else "unknown"] += 1
        if rec.adjustment_status is not None:
            rep.adjustment[rec.adjustment_status] += 1
        rep.empty_images += out.empty_images
        rep.frames_tiled += 1
        rep.tiles += out.tiles
        rep.frames_whole += out.whole
        rep.tile_boxes_cut += out.cut
        rep.tile_boxes_slivers += out.slivers
        rep.empty_tiles_kept += out.empty_kept
        rep.empty_tiles_dropped += out.empty_dropped
        state.counts[job.split] += len(out.written)
        sha256 = hashlib.sha256
        for line, image_rel in out.written:  # the image is in the staging folder already: no source to copy
            state.entries_sum += int.from_bytes(sha256(line).digest(), "big")
            self.spool.write(b"%b\t%b\t%b\n" % (line, image_rel.encode(), orjson.dumps("")))

    def _one(self, rec: OutputRecord, src: str, probe: ImageProbe | None, ctx: RowContext,
             state: PassState) -> None:
        """One record: checks, label file, counts and spool line (or a counted skip)."""
        rep, assign, label_dirs = ctx.report, self.assign, self.label_dirs
        admitted = self._admit(rec, src, probe, ctx, state)
        if admitted is None:
            return
        this, img_name, lbl_name, frame = admitted
        rows, row_classes = rows_for(rec, frame, ctx)
        h = split_hash(rec.source_ref, self.spec.seed)
        split = SPLITS[assign[this]] if assign is not None else self._split(rec, h)
        data = label_bytes(rows)
        if assign is not None and any(os.path.exists(label_dirs[o] + lbl_name) for o in SPLITS if o != split):
            rep.skip("duplicate source-ref", f"{rec.file}:{rec.line}: {rec.source_ref}", rec.line)
            return  # stratified splits are by position: a repeated line could land elsewhere
        try:
            _write_new(label_dirs[split] + lbl_name, data)
        except FileExistsError:
            if self.spec.parallel:
                raise _Conflict(rec.source_ref) from None
            rep.skip("duplicate source-ref", f"{rec.file}:{rec.line}: {rec.source_ref}", rec.line)
            return
        rep.boxes_written += len(rows)
        for gid in row_classes:  # counted only for an accepted image (not a repeated source-ref)
            ctx.class_counts[gid] += 1
        ha = rec.human_annotated
        rep.labeled_by["human" if ha else "auto" if ha is False else "unknown"] += 1
        if rec.adjustment_status is not None:
            rep.adjustment[rec.adjustment_status] += 1
        if not rows:
            rep.empty_images += 1
        state.counts[split] += 1
        sha256 = hashlib.sha256
        image_rel = f"images/{split}/{img_name}"
        entry: dict[str, object] = {"image": image_rel, "label": f"labels/{split}/{lbl_name}",
                 "source_ref": rec.source_ref, "source_etag": probe.etag if probe else None,
                 "source_version_id": probe.version_id if probe else None, "split": split,
                 "label_sha256": sha256(data).hexdigest()}
        geo = rec.extra.get(GEO_KEY)
        if isinstance(geo, dict):  # where the image was taken (gtlabel.geo), kept in lineage.json
            entry["geo"] = geo
        line = orjson.dumps(entry)  # strings, None and geo's parsed (finite) numbers: nothing strict_json refuses
        state.entries_sum += int.from_bytes(sha256(line).digest(), "big")
        self.spool.write(b"%b\t%b\t%b\n" % (line, image_rel.encode(), orjson.dumps(src)))
        if split == "train" and (state.best_train is None or h > state.best_train[0]):
            state.best_train = (h, img_name, lbl_name)

    def _split(self, rec: OutputRecord, h: int) -> str:
        """The split of a record: its group's (``split_by``), else by its own hash (an image without the key is
        a group of its own)."""
        spec = self.spec
        if spec.groups is not None and spec.split_by is not None:
            group = spec.split_by.group_of(rec.source_ref, rec.extra)
            index = spec.groups.get(group) if group is not None else None
            if index is not None:
                return SPLITS[index]
        return split_of(h, spec.ratios)

    def _admit(self, rec: OutputRecord, src: str, probe: ImageProbe | None, ctx: RowContext,
               state: PassState) -> tuple[int, str, str, tuple[int, int]] | None:
        """The checks every record passes first (its ordinal, the job and attribute seen, an image suffix
        Ultralytics reads, the frame size): ``(ordinal, image name, label name, frame)``, or ``None`` when it is
        skipped (counted)."""
        this = self.ordinal
        self.ordinal += 1
        if rec.job_name and len(state.jobs) < MAX_JOBS and rec.job_name not in state.jobs:
            state.jobs[rec.job_name] = None
        state.label_attribute = rec.label_attribute
        img_name, lbl_name = dataset_name(rec.source_ref)
        ext = img_name.rsplit(".", 1)[-1].lower() if "." in img_name else ""
        if ext not in ULTRALYTICS_IMG_FORMATS:
            ctx.report.skip("image suffix not readable by Ultralytics", f"{rec.file}:{rec.line}", rec.line)
            return None
        frame = self._frame(rec, src, probe, ctx)
        return None if frame is None else (this, img_name, lbl_name, frame)

    @staticmethod
    def _frame(rec: OutputRecord, src: str, probe: ImageProbe | None, ctx: RowContext) -> tuple[int, int] | None:
        """The size to normalize the record's boxes by, or ``None`` when the image is skipped (counted)."""
        rep = ctx.report
        size = rec.image_size
        assert size is not None
        reported = (size[0], size[1])
        if probe is not None and probe.error is not None:
            if ctx.strict:
                why = f"{probe.error} ({probe.detail})" if probe.detail else probe.error
                raise LabelError(f"{why}: {src}", file=rec.file, line=rec.line, field="source-ref")
            rep.skip(probe.error, f"{rec.file}:{rec.line}: {src} {probe.detail or ''}".rstrip(), rec.line)
            return None
        if probe is not None and probe.size is not None:
            fmt = (probe.format or "").lower()
            if fmt not in ULTRALYTICS_IMG_FORMATS:
                rep.skip(f"image format {probe.format} not readable by Ultralytics", f"{rec.file}:{rec.line}",
                         rec.line)
                return None
            frame, why = label_frame_size(reported, probe.size, probe.orientation)
            rep.exif[why] += 1
            if why == "mismatch":
                rep.warn_record(f"{rec.file}:{rec.line}: image_size {reported} is neither the stored "
                                f"{probe.size} nor the displayed size; boxes normalized by image_size")
        else:  # no probe, or a fingerprint only: trust image_size
            frame = reported
        if frame[0] < MIN_IMAGE_PX or frame[1] < MIN_IMAGE_PX:
            rep.skip(f"image smaller than {MIN_IMAGE_PX} px (Ultralytics drops it)", f"{rec.file}:{rec.line}",
                     rec.line)
            return None
        return frame


#: the staging folder's markers of the frames a tiled conversion has cut (one empty file per frame)
_FRAMES = ".frames"
_NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0) | getattr(os, "O_CLOEXEC", 0)


def _write_new(path: str, data: bytes) -> None:
    """Create ``path`` with ``data`` (``FileExistsError`` if it is there): ``open(path, "xb")`` without the
    buffered file object, which costs more than the write for a label file."""
    fd = os.open(path, _NEW_FILE, 0o666)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
    finally:
        os.close(fd)


def _batched(it: Iterable[OutputRecord], n: int) -> Iterator[list[OutputRecord]]:
    batch: list[OutputRecord] = []
    for x in it:
        batch.append(x)
        if len(batch) >= n:
            yield batch
            batch = []
    if batch:
        yield batch


def convert_pass(spec: LaneSpec, assign: bytearray | None, ctx: RowContext, advance: Advance) -> PassState:
    """One pass over the manifest in this process: label files into ``staging/labels/<split>/``, one spool
    line per image. ``advance`` gets the manifest's bytes as they are read (the lines are converted as they
    come, so it follows the conversion)."""
    state = PassState()
    spool = spool_path(spec.staging, 0)
    lane = Lane(spec, spool, assign)
    # a local manifest's MD5 (its lineage "etag"), from the bytes converted, instead of a second read
    md5 = None if storage.is_s3(spec.manifest) else hashlib.md5(usedforsecurity=False)

    def feed(chunk: bytes) -> None:
        if md5 is not None:
            md5.update(chunk)
        advance(len(chunk))

    lines = storage.iter_lines(spec.manifest, feed=feed)
    try:
        lane.run(records(spec.manifest, spec.label_attribute, ctx, lines), ctx, state)
    finally:
        lane.close()
    state.segments.append((str(spool), 0, spool.stat().st_size))
    state.manifest_md5 = md5.hexdigest() if md5 else None  # the whole file was read
    return state


def scan_classes(spec: LaneSpec, ctx: RowContext, advance: Advance) -> Iterator[tuple[int, set[int]]]:
    """Pass 1 of ``stratify=True``: each convertible record's split hash and class ids, in manifest order.
    Its counts go to a report of its own (the conversion pass counts the records again)."""
    scan = replace(ctx, report=ConversionReport(spec.manifest, ""))
    for rec in records(spec.manifest, spec.label_attribute, scan):
        size = rec.image_size
        assert size is not None  # records() yields labeled records only
        classes = set(rows_for(rec, (size[0], size[1]), scan)[1])
        yield split_hash(rec.source_ref, spec.seed), classes
        advance(1)


def scan_groups(spec: LaneSpec, split_by: SplitBy, ctx: RowContext, advance: Advance) -> tuple[Counter[str], int]:
    """Pass 1 of ``split_by``: the images of each group, and the images without the key (groups of their own).
    ``advance`` gets the manifest's bytes as they are read; memory grows with the groups, not the images."""
    scan = replace(ctx, report=ConversionReport(spec.manifest, ""))
    sizes: Counter[str] = Counter()
    ungrouped = 0
    lines = storage.iter_lines(spec.manifest, feed=lambda chunk: advance(len(chunk)))
    for rec in records(spec.manifest, spec.label_attribute, scan, lines):
        group = split_by.group_of(rec.source_ref, rec.extra)
        if group is None:
            ungrouped += 1
        else:
            sizes[group] += 1
    return sizes, ungrouped


def ensure_val(state: PassState, ratios: tuple[float, float, float], staging: Path,
               report: ConversionReport) -> list[str]:
    """Ultralytics needs val images: when hashing left val empty (tiny sets), move the train image with the
    highest hash there. Returns the moved image names (recorded in the version payload)."""
    if state.counts["val"] or ratios[1] <= 0 or state.counts["train"] < 2 or state.best_train is None:
        return []
    _, img, lbl = state.best_train
    os.replace(staging / "labels" / "train" / lbl, staging / "labels" / "val" / lbl)
    state.counts["train"] -= 1
    state.counts["val"] += 1
    report.warnings.append(f"no image hashed into 'val'; moved {img} from train to val")
    return [img]


def iter_spool(state: PassState, moved: Sequence[str]) -> Iterator[tuple[bytes, str, str]]:
    """Per image, in manifest order: its lineage entry (JSON), its path in the dataset and its source."""
    moved_set = set(moved)
    loads, dumps = orjson.loads, orjson.dumps
    for path, start, end in state.segments:
        with open(path, "rb") as fh:
            fh.seek(start)
            data = fh.read(end - start) if end - start <= 1 << 24 else None
            lines = iter(data.split(b"\n")[:-1]) if data is not None else _read_lines(fh, end)
            for raw in lines:
                entry_raw, image_b, src = raw.split(b"\t", 2)  # tabs in the JSON parts are escaped
                image = image_b.decode()
                if moved_set and image.rsplit("/", 1)[-1] in moved_set:
                    entry = loads(entry_raw)
                    entry["image"] = image = image.replace("images/train/", "images/val/", 1)
                    entry["label"] = entry["label"].replace("labels/train/", "labels/val/", 1)
                    entry["split"] = "val"
                    entry_raw = dumps(entry)
                yield entry_raw, image, loads(src)


def _read_lines(fh: IO[bytes], end: int) -> Iterator[bytes]:
    while fh.tell() < end:
        raw = fh.readline()
        if not raw:
            return
        yield raw.rstrip(b"\n")


def remove_spool(staging: Path) -> None:
    """The lanes' spool files (one per lane, blocks or not), and a tiled conversion's frame markers."""
    for path in staging.glob(".entries-*.jsonl"):
        path.unlink()
    shutil.rmtree(staging / _FRAMES, ignore_errors=True)

"""COCO labels straight to an Ultralytics YOLO11 detect dataset, the images linked, not copied
(``gtlabel import coco SOURCE --to-yolo DIR``): for a team that holds COCO labels (CVAT, Roboflow, a public drone
set) and wants to train on them, without the Ground Truth manifest in between.

Layout (a local folder; the images stay where they are)::

    DIR/data.yaml                 path (absolute), train: train.txt, val: val.txt, [test: test.txt], names
    DIR/images/{train,val,test}   symbolic links to the images' folder (one a split, so each split has its own
                                  labels folder and Ultralytics cache)
    DIR/labels/<split>/<file_name without suffix>.txt    one per image, the file name's folders kept
    DIR/{train,val,test}.txt      the split's images, ``./images/<split>/<file_name>`` a line
    DIR/lineage.json              version, per-image file name, label sha256 and split (a gtlabel dataset:
                                  ``export coco|voc`` and ``lineage show`` read it)
    DIR/conversion-report.json    what was written, clipped, dropped and skipped

Ultralytics finds an image's label by replacing the last ``/images/`` of its path by ``/labels/``; a
``file_name`` with a folder called ``images`` in it would send it into the images' folder, so such an image is
linked on its own instead: ``images/<split>-linked/<stem>-<hash12>.<ext>``, its label beside, in
``labels/<split>-linked/``.

The COCO file is read streamed and checked as :func:`gtlabel.interchange.import_labels` reads it
(:func:`gtlabel.interchange.readers.read_coco`, :class:`gtlabel.formats.coco.CocoChecker`: a box more than 1 px
outside its image, an annotation naming a missing image or category, a duplicate id or file name is a
:class:`~gtlabel.errors.LabelError` naming the file and field). Classes go through the label config / alias map
as the import's do (:func:`gtlabel.interchange.importer.class_targets`; an unknown class is an error unless
dropped); boxes are clipped to their image (zero-area and exact-duplicate rows dropped, all counted); each box
becomes its YOLO row as it is read (:data:`gtlabel.geometry.ROW_FORMAT`) and is spooled
(:class:`~gtlabel.interchange.yolo_spool.RowSpool`), 47 bytes, in buckets
of :data:`~gtlabel.interchange.readers.BUCKET_IMAGES` images, so memory does not grow with the boxes or the file
(the image table: ~30-50 bytes an image). Splits are the converter's (:func:`gtlabel.convert.splits.split_for`
of the file name and ``seed``, or whole groups with ``split_by="prefix:N"``).

Everything is written into a hidden folder beside ``DIR`` and renamed into place at the end, so a bad input
leaves nothing behind; the same input gives the same bytes, and a rerun over an unchanged dataset is a no-op.
An image whose suffix Ultralytics does not read, one smaller than 10 px, one that is not there, or one whose
label name another image of its split has taken (``a.jpg`` and ``a.png``) is skipped and counted.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from pathlib import Path
from typing import Any

import orjson

from gtlabel import __version__, storage
from gtlabel.convert.classes import check_aliases
from gtlabel.convert.publish import (
    check_destination,
    remove_caches,
    remove_stale_partials,
    swap_into_place,
    write_lineage,
)
from gtlabel.convert.rows import dataset_name
from gtlabel.convert.splits import SplitBy, assign_groups, normalize_splits, split_for
from gtlabel.errors import ConfigError, InputError, LabelError
from gtlabel.formats import strict_json
from gtlabel.formats.coco import CocoBox, CocoChecker, CocoImage
from gtlabel.formats.ground_truth import check_source_ref
from gtlabel.formats.yolo import (
    DATASET_FORMAT,
    MIN_IMAGE_PX,
    SPLITS,
    ULTRALYTICS_IMG_FORMATS,
    render_data_yaml,
    split_list_line,
)
from gtlabel.interchange.importer import ImportReport, class_targets
from gtlabel.interchange.readers import BUCKET_IMAGES, read_coco
from gtlabel.interchange.yolo_spool import CLASS_FORMAT, ImagesPresent, RowSpool
from gtlabel.lineage import LINEAGE_FILE, dataset_version

__all__ = ["DatasetImportReport", "coco_to_yolo"]

#: one lineage.json entry (what :func:`gtlabel.lineage.parse` reads), as ``orjson.dumps`` of its dict writes it
_ENTRY = (b'{"image":%b,"label":%b,"source_ref":%b,"source_etag":null,"source_version_id":null,"split":"%b",'
          b'"label_sha256":"%b"}')
_NEW = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
_LINKED = "-linked"  # images/<split>-linked/: the images linked one by one (see the module's docstring)
#: a file name that needs no closer look: not blank, no leading ``/``, no ``\\``, ``:``, ``..``, NUL or line break
#: (it passes :func:`gtlabel.formats.ground_truth.check_source_ref` and fits on a list file's line)
_PLAIN = re.compile(r"(?=.*\S)(?!/)(?:(?!\.\.)[^\\:\x00\n\r])+")


@dataclass
class DatasetImportReport(ImportReport):
    """What :func:`coco_to_yolo` wrote: the import's counts, the dataset's version, its splits and data.yaml, and
    the images skipped (by reason)."""

    version: str = ""
    data_yaml: str = ""
    splits: dict[str, int] = field(default_factory=dict)
    boxes_duplicate: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    noop: bool = False
    warnings: list[str] = field(default_factory=list)
    elapsed_s: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {**super().as_dict(), "version": self.version, "data_yaml": self.data_yaml, "splits": self.splits,
                "boxes_duplicate": self.boxes_duplicate, "skipped": dict(sorted(self.skipped.items())),
                "noop": self.noop, "warnings": self.warnings}

    def summary(self) -> str:
        if self.noop:
            return f"{self.dest}: unchanged (version {self.version}); nothing written"
        split = ", ".join(f"{s} {n}" for s, n in self.splits.items() if n)
        skipped = sum(self.skipped.values())
        dropped = sum(self.dropped_unknown.values())
        extra = (f", {skipped} images skipped" if skipped else "") + \
            (f", {dropped} boxes of unknown classes dropped" if dropped else "")
        return (f"coco -> yolo: {self.images} images ({split}), {self.boxes} boxes{extra} -> {self.data_yaml} "
                f"({self.version})")


@dataclass(frozen=True)
class _Target:
    """Where the dataset goes and how it is split."""

    final: Path
    staging: Path
    root: Path  # the images' folder (absolute)
    ratios: tuple[float, float, float]
    seed: int | str
    split_by: SplitBy | None
    overwrite: bool
    drop_unknown: bool


def coco_to_yolo(source: str | os.PathLike[str], dest: str | os.PathLike[str], *,
                 images: str | os.PathLike[str] | None = None, labels: Sequence[str] | None = None,
                 label_category_config: str | os.PathLike[str] | Mapping[str, Any] | None = None,
                 aliases: Mapping[str, str] | Sequence[str] | None = None, drop_unknown: bool = False,
                 splits: Sequence[float] | Mapping[str, float] = (0.8, 0.1, 0.1), seed: int | str = 0,
                 split_by: str | None = None, overwrite: bool = False) -> DatasetImportReport:
    """Write the COCO detection file ``source`` (local or ``s3://``) as a YOLO11 detect dataset in the local folder
    ``dest``, its images linked (see the module's docstring for the layout and the checks).

    Args:
        images: the local folder the ``file_name`` s are relative to (default: the COCO file's folder).
        labels / label_category_config: the dataset's classes in id order (default: the COCO categories, after
            ``aliases``, in the file's order).
        aliases: ``{"car": "vehicle"}`` or ``["car=vehicle"]``: COCO category names renamed first.
        drop_unknown: drop (and count) boxes of categories that are not among the labels instead of failing.
        splits / seed: ``(train, val[, test])`` ratios and the salt of the split hash (of each ``file_name``).
        split_by: ``"prefix:N"``: the images of one folder (the first N folders of the ``file_name``) stay in
            one split (the frames of one flight); groups are placed as the converter places them.
        overwrite: replace a different dataset gtlabel wrote at ``dest`` (never a folder of other files).

    Returns:
        A :class:`DatasetImportReport` (also written as ``conversion-report.json``); ``noop`` when ``dest``
        already holds the same version.

    Raises:
        LabelError naming the file and field (bad COCO, an unknown class, a hostile ``file_name``), ConfigError,
        DatasetExists.
    """
    t0 = time.perf_counter()
    src, out = str(source), str(dest)
    target = _target(src, out, images, splits, seed, split_by, overwrite, drop_unknown)
    amap = check_aliases(aliases)
    report = DatasetImportReport(src, str(target.final), "coco", "", [])
    check = CocoChecker(src)
    spool: RowSpool | None = None

    def annotations(batch: list[object]) -> None:
        nonlocal spool
        if spool is None:
            spool = RowSpool(check)
        spool.add(check.annotations(batch), len(batch))

    try:
        whole = read_coco(src, check, annotations)
        if whole is not None:  # annotations before images: the file was parsed whole (and checked); its table
            check.close()
            check = CocoChecker(src)
            check.add_categories([{"id": c, "name": n} for c, n in whole.categories.items()])
            check.add_images([{"id": im.id, "file_name": im.file_name, "width": im.width, "height": im.height}
                              for im in whole.images])
            spool = RowSpool(check)
            spool.add(((im.pos, b) for im in whole.images for b in whole.boxes[im.id]), 0)
            report.crowd_skipped = whole.crowd
        else:
            report.crowd_skipped = check.crowd
        if spool is None:
            spool = RowSpool(check)
        spool.flush()
        report.boxes_clipped, report.boxes_zero_area = spool.clipped, spool.zero_area
        names = class_targets(labels, label_category_config, list(check.categories.values()), amap)
        report.labels = names
        prefixes = _class_prefixes(check, spool, names, amap, drop_unknown)
        remove_stale_partials(target.final)  # interrupted runs' folders (before this run's is made)
        target.staging.mkdir(parents=True)
        data_yaml = _write(target, check, spool, prefixes, names, amap, report)
        return _publish(target, report, data_yaml, t0)
    finally:
        if spool is not None:
            spool.close()
        check.close()
        # a failed (or no-op) run's staging folder; rmtree unlinks the links in it, never follows them
        shutil.rmtree(target.staging, ignore_errors=True)


def _target(src: str, out: str, images: str | os.PathLike[str] | None, splits: Sequence[float] |
            Mapping[str, float], seed: int | str, split_by: str | None, overwrite: bool, drop_unknown: bool
            ) -> _Target:
    if storage.is_s3(out):
        raise ConfigError(f"{out}: a dataset with linked images is a local folder (Ultralytics reads local files)")
    if os.open not in os.supports_dir_fd:  # Windows: no symbolic links for users, no openat
        raise ConfigError("a dataset with linked images needs symbolic links (Linux, macOS); import --to a "
                          "manifest and convert it (copy_images) instead")
    if images is None:
        if storage.is_s3(src):
            raise ConfigError(f"{src} is on S3: give the local folder of its images (images= / --images)")
        images = Path(src).expanduser().resolve().parent
    if storage.is_s3(str(images)):
        raise ConfigError(f"images {images}: the images are linked into the dataset, so they must be a local "
                          f"folder (download them first, or import --to a manifest and convert it)")
    root = Path(images).expanduser().resolve()
    if not root.is_dir():
        raise ConfigError(f"images {images}: not a folder")
    final = Path(out).expanduser().resolve()
    if final == root or root.is_relative_to(final):
        raise ConfigError(f"{out} is or contains the images' folder {root}: choose a folder of its own")
    by = SplitBy.parse(split_by) if split_by is not None else None
    if by is not None and by.depth is None:
        raise ConfigError(f"split_by={split_by!r}: a COCO file's images carry no pass-through keys; group them by "
                          f"folder with prefix:N")
    staging = final.parent / f".{final.name}.partial-{uuid.uuid4().hex[:12]}"
    return _Target(final, staging, root, normalize_splits(splits), seed, by, overwrite, drop_unknown)


def _class_prefixes(check: CocoChecker, spool: RowSpool, names: list[str], amap: Mapping[str, str],
                    drop_unknown: bool) -> dict[int, bytes | None]:
    """Each category id's row prefix (``"<class id> "``), ``None`` for a dropped class; a category that is not
    declared, or (without ``drop_unknown``) not among ``names``, is an error naming its first box."""
    index = {n: i for i, n in enumerate(names)}
    out: dict[int, bytes | None] = {}
    for cid, (pos, aid) in sorted(spool.first.items(), key=lambda kv: kv[1][0]):
        check.check_category(CocoBox(cid, 0, 0, 0, 0, None, pos, aid))  # declared (categories may come last)
        name = check.categories[cid]
        target = amap.get(name, name)
        gid = index.get(target)
        if gid is None and not drop_unknown:
            raise LabelError(f"class {name!r}{f' (alias of {target!r})' if target != name else ''} is not one of "
                             f"the dataset's labels {names}; add it, alias it (--alias {name}=LABEL) or drop it "
                             f"(--drop-unknown)", file=check.file, field=check.box_path(pos, aid) + ".category_id")
        out[cid] = None if gid is None else CLASS_FORMAT % gid
    return out


def _place(im: CocoImage, split: str, file: str) -> tuple[str, str, str, bool]:
    """``(image path, label folder, label name in it, linked alone)`` of an image in the dataset (the label's path
    is the folder, ``/`` and the name); a hostile ``file_name`` (absolute, ``..``, a line break: it would break the
    list files) is a LabelError naming it."""
    fn = im.file_name
    if not _PLAIN.fullmatch(fn):  # the plain names pass at once; anything else gets the full checks
        fld = f"images[{im.pos}].file_name"
        try:
            check_source_ref(fn, file=file, field_name=fld)
        except InputError as exc:
            raise LabelError(exc.reason, file=file, field=fld) from None
        if "\n" in fn or "\r" in fn or fn.startswith("s3://"):
            raise LabelError(f"{fn!r}: a file name relative to the images' folder, on one line", file=file,
                             field=fld)
    if "images/" in fn and "images" in fn.split("/")[:-1]:  # Ultralytics would look inside the images' folder
        img, lbl = dataset_name(fn)
        return f"images/{split}{_LINKED}/{img}", f"labels/{split}{_LINKED}", lbl, True
    return f"images/{split}/{fn}", f"labels/{split}", fn.rsplit(".", 1)[0] + ".txt", False


def _skip_reason(im: CocoImage, present: ImagesPresent) -> str | None:
    """Why Ultralytics could not use an image, or ``None``."""
    if im.file_name.rpartition(".")[2].lower() not in ULTRALYTICS_IMG_FORMATS:  # "a.b/c" gives "b/c": no format
        return "not an image format Ultralytics reads"
    if im.width < MIN_IMAGE_PX or im.height < MIN_IMAGE_PX:
        return f"smaller than {MIN_IMAGE_PX} px"
    if not present(im.file_name):
        return "image not found"
    return None


def _split_function(target: _Target, check: CocoChecker, report: DatasetImportReport) -> Callable[[str], int]:
    """Each image's split (index into ``SPLITS``) by its file name: by its hash, or by its folder's group."""
    ratios, seed, by = target.ratios, target.seed, target.split_by
    if by is None:
        index = {s: i for i, s in enumerate(SPLITS)}
        return lambda fn: index[split_for(fn, ratios, seed)]
    sizes: Counter[str] = Counter()
    for lo in range(0, check.image_count, BUCKET_IMAGES):
        for im in check.images_between(lo, min(check.image_count, lo + BUCKET_IMAGES)):
            sizes[by.group_of(im.file_name, {}) or ""] += 1
    groups = assign_groups(sizes, ratios, seed)
    report.warnings.append(f"split_by {by}: {len(groups)} groups")
    return lambda fn: groups[by.group_of(fn, {}) or ""]


def _uncount(class_rows: Counter[bytes], rows: list[bytes], before: list[bytes] | None = None) -> None:
    """Take back the class counts of rows not written (``before`` given: those of ``before`` not in ``rows``)."""
    gone = Counter(before) - Counter(rows) if before is not None else Counter(rows)
    for row, n in gone.items():
        class_rows[row.split(b" ", 1)[0] + b" "] -= n


def _write(target: _Target, check: CocoChecker, spool: RowSpool, prefixes: dict[int, bytes | None],
           names: list[str], amap: Mapping[str, str], report: DatasetImportReport) -> bytes:
    """The label files, list files and lineage.json into the staging folder (data.yaml and the report after)."""
    staging, root = target.staging, target.root
    split_of_name = _split_function(target, check, report)
    lists = [open(staging / f"{s}.txt", "wb") for s in SPLITS]  # noqa: SIM115 - closed below
    counts = [0, 0, 0]
    class_rows: Counter[bytes] = Counter()  # rows by their class prefix
    entries_sum = 0  # the sum of the entries' sha256, as the converter's (gtlabel.lineage.recompute_version)
    split_names = [s.encode() for s in SPLITS]
    made: set[str] = set()
    dropped: Counter[int] = Counter()
    sha256, dumps, sbase, root_s = hashlib.sha256, orjson.dumps, str(staging) + "/", str(root) + "/"
    is_there = ImagesPresent(root_s)
    dir_fds: dict[str, int] = {}
    spool_file = tempfile.TemporaryFile()  # noqa: SIM115 - the lineage entries, closed below
    try:
        for b in range(len(spool.files)):
            by_image: dict[int, list[bytes]] = {}
            recs = list(spool.bucket(b))
            for cid, n in Counter(map(itemgetter(1), recs)).items():  # counted in C, per category
                p = prefixes[cid]
                if p is None:
                    dropped[cid] += n
                else:
                    class_rows[p] += n
            for k, cid, coords in recs:
                p = prefixes[cid]
                if p is None:
                    continue
                rows = by_image.get(k)
                if rows is None:
                    by_image[k] = [p + coords]
                else:
                    rows.append(p + coords)
            lo = b * BUCKET_IMAGES
            for im in check.images_between(lo, min(check.image_count, lo + BUCKET_IMAGES)):
                si = split_of_name(im.file_name)
                split = SPLITS[si]
                image_rel, label_dir, label_name, alone = _place(im, split, check.file)
                why = _skip_reason(im, is_there)
                rows = by_image.get(im.pos, [])
                if why is not None:
                    report.skipped[why] += 1
                    _uncount(class_rows, rows)
                    continue
                if len(rows) > 1 and len(set(rows)) < len(rows):
                    unique = list(dict.fromkeys(rows))
                    report.boxes_duplicate += len(rows) - len(unique)
                    _uncount(class_rows, unique, rows)
                    rows = unique
                data = b"\n".join(rows) + b"\n" if rows else b""
                dir_fd = dir_fds.get(label_dir)
                if dir_fd is None:  # each label folder opened once: files are created relative to it (shorter lookups)
                    os.makedirs(sbase + label_dir, exist_ok=True)
                    dir_fd = dir_fds[label_dir] = os.open(sbase + label_dir, os.O_RDONLY)
                if "/" in label_name and (folder := f"{label_dir}/{label_name.rpartition('/')[0]}") not in made:
                    os.makedirs(sbase + folder, exist_ok=True)
                    made.add(folder)
                try:
                    fd = os.open(label_name, _NEW, 0o666, dir_fd=dir_fd)
                except FileExistsError:
                    report.skipped["label name taken by another image of its split"] += 1
                    _uncount(class_rows, rows)
                    continue
                try:
                    os.write(fd, data)
                finally:
                    os.close(fd)
                if alone:
                    if f"{split}{_LINKED}" not in made:
                        os.makedirs(f"{sbase}images/{split}{_LINKED}", exist_ok=True)
                        made.add(f"{split}{_LINKED}")
                    os.symlink(root_s + im.file_name, sbase + image_rel)
                report.boxes += len(rows)
                counts[si] += 1
                lists[si].write(split_list_line(image_rel))
                line = _ENTRY % (dumps(image_rel), dumps(f"{label_dir}/{label_name}"), dumps(im.file_name), split_names[si],
                                 sha256(data).hexdigest().encode())
                entries_sum += int.from_bytes(sha256(line).digest(), "big")
                spool_file.write(line + b"\n")
            by_image.clear()
        for cid, n in dropped.items():
            report.dropped_unknown[check.categories[cid]] += n
        report.images = sum(counts)
        report.splits = dict(zip(SPLITS, counts, strict=True))
        by_prefix = {CLASS_FORMAT % i: n for i, n in enumerate(names)}
        report.class_counts = Counter({by_prefix[p]: c for p, c in sorted(class_rows.items()) if c})
        if report.images == 0:
            raise InputError(f"no image to write ({dict(report.skipped)}); are the images under {root}? (give "
                             f"--images)", file=check.file)
        (staging / "images").mkdir(exist_ok=True)
        for s, n in zip(SPLITS, counts, strict=True):
            if n:
                os.symlink(root, staging / "images" / s, target_is_directory=True)
        settings: dict[str, Any] = {"source_format": "coco", "images": "linked",
                                    "splits": dict(zip(SPLITS, target.ratios, strict=True)), "seed": target.seed,
                                    "drop_unknown_classes": target.drop_unknown, "precision": 6}
        if amap:
            settings["aliases"] = dict(amap)
        if target.split_by is not None:
            settings["split_by"] = str(target.split_by)
        report.version = dataset_version(names, settings, entries_sum, report.images, [])
        head: dict[str, Any] = {"version": report.version, "format": DATASET_FORMAT, "package_version": __version__,
                                "manifest": {"uri": check.file, "etag": None}, "images_root": str(root), "jobs": [],
                                "label_attribute": None, "settings": settings, "names": dict(enumerate(names)),
                                "splits": report.splits}
        spool_file.seek(0)
        with open(staging / LINEAGE_FILE, "wb", buffering=1 << 20) as fh:
            write_lineage(fh, head, (line.rstrip(b"\n") for line in spool_file))
    finally:
        spool_file.close()
        for f in lists:
            f.close()
        for dir_fd in dir_fds.values():
            os.close(dir_fd)
    for s, n in zip(SPLITS, counts, strict=True):
        if not n:
            (staging / f"{s}.txt").unlink()
    present = {s for s, n in zip(SPLITS, counts, strict=True) if n}
    if "val" not in present:
        report.warnings.append("no image in 'val': data.yaml's val points at the train images")
    return render_data_yaml(names, path=str(target.final), splits_present=present, version=report.version,
                            lists=True)


def _publish(target: _Target, report: DatasetImportReport, data_yaml: bytes, t0: float) -> DatasetImportReport:
    """The report and data.yaml (last) into the staging folder, which then replaces ``dest``; the same version
    already there is left as it is (``noop``); a different one only with ``overwrite``, and only when it is a
    dataset gtlabel wrote with nothing else in it."""
    final, staging = target.final, target.staging
    report.data_yaml = str(final / "data.yaml")
    _, noop = check_destination(str(final), final, report.version, overwrite=target.overwrite, noun="folder")
    if noop:
        report.noop = True
        remove_caches(str(final))
        report.elapsed_s = time.perf_counter() - t0
        return report
    report.elapsed_s = time.perf_counter() - t0
    (staging / "conversion-report.json").write_bytes(
        strict_json.dumps(report.as_dict(), option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS) + b"\n")
    (staging / "data.yaml").write_bytes(data_yaml)  # last: a folder without data.yaml is incomplete
    swap_into_place(staging, final)
    return report


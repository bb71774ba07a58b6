"""Ground Truth manifests: building input manifests, and reading output manifests as a stream.

Input manifests (:func:`build_input_manifest`) come from an S3 prefix, a local folder, or an existing
manifest. Images are filtered by suffix (jpg/jpeg/png, case-insensitive) and size (40 MB, Ground Truth's
limit); each line must stay within 100,000 characters and each attribute within 20,000 characters (the
documented manifest limits, ``ground-truth.md`` section 6). Sampling is seeded and deterministic, and the
order is the sorted key order. Lines of an existing manifest pass through byte for byte.

Videos (``fps=``): each video of the source (a video file, or the videos under a prefix/folder) is decoded by
:mod:`gtlabel.video` (PyAV, the ``video`` extra); ``fps`` frames per second are written as JPEG beside the manifest
(``<manifest's folder>/frames/<video>-<hash>/<frame>.jpg``, S3 or local, or under ``frames_dir``) and listed with
the pass-through keys ``video`` (the video's URI), ``frame`` (its index among the decoded frames) and
``timestamp_s``; Ground Truth copies them to the output manifest, where ``split_by="video"`` keeps a video's
frames in one split. Near-duplicates are dropped before they are written (``dedupe_distance``).

Output manifests (:func:`iter_output_manifest`) are read line by line (constant memory) into typed
:class:`~gtlabel.formats.ground_truth.OutputRecord` s by the parser in :mod:`gtlabel.formats.ground_truth`
(the one definition of Ground Truth's lines); this module is its I/O rim. The label attribute is the one the
caller names, or else the only bounding-box attribute found by the ``<name>`` / ``<name>-metadata`` pairing;
when chained jobs leave several, the error lists them. Bad lines raise :class:`~gtlabel.errors.ManifestError`
naming ``file:line`` and the field, or, with ``strict=False``, are skipped and counted (``on_skip``).
"""

from __future__ import annotations

import hashlib
import heapq
import itertools
import os
import tempfile
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import orjson
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from gtlabel import facts, storage, video
from gtlabel.dedupe import NearDuplicateIndex, phash
from gtlabel.errors import ConfigError, InputError, ManifestError
from gtlabel.formats import strict_json
from gtlabel.formats.ground_truth import SOURCE_REF, InputLine, OutputRecord, iter_output_lines
from gtlabel.geo.flightlog import FlightTrack, flight_log_for, read_flight_log
from gtlabel.geo.tags import GEO_KEY, GeoRead, read_geo_uri
from gtlabel.progress import AmountColumn
from gtlabel.settings import get_settings

__all__ = [
    "MANIFEST_SUFFIXES",
    "ManifestSummary",
    "build_input_manifest",
    "check_line_limits",
    "iter_output_manifest",
    "resolve_source_ref",
    "source_base",
]



MANIFEST_SUFFIXES: tuple[str, ...] = (".manifest", ".jsonl", ".json", ".ndjson")


# ----------------------------------------------------------------------------------------------- source-ref
def resolve_source_ref(ref: str, manifest_uri: str, image_root: str | None = None) -> str:
    """The URI/path of a (checked) ``source-ref``: S3 URIs as they are, relative paths against ``image_root``
    or the manifest's folder."""
    if ref.startswith("s3://"):
        return ref
    base = image_root if image_root is not None else _parent(manifest_uri)
    return storage.join(base, ref.replace("\\", "/"))


def source_base(manifest_uri: str, image_root: str | None = None) -> str:
    """What relative ``source-ref`` s of a manifest are relative to: ``image_root``, else the manifest's folder
    (a local one resolved: symlinks followed). A caller resolving many lines passes it to
    :func:`resolve_source_ref` as ``image_root`` (the local folder costs a ``realpath``: once, not per line)."""
    if image_root is not None:
        return image_root
    return _parent(manifest_uri)


def _parent(uri: str) -> str:
    if storage.is_s3(uri):
        return uri.rsplit("/", 1)[0]
    return str(Path(uri).resolve().parent)


# ----------------------------------------------------------------------------------------------- output
def iter_output_manifest(
    uri: str | os.PathLike[str],
    *,
    label_attribute: str | None = None,
    strict: bool = True,
    on_skip: Callable[[ManifestError], None] | None = None,
) -> Iterator[OutputRecord]:
    """Stream an output manifest as :class:`~gtlabel.formats.ground_truth.OutputRecord` s (constant memory).

    ``label_attribute``: the attribute to read; when ``None`` it is detected on the first labelled line by
    the ``-metadata`` pairing, and a line with several candidates is an error that lists them.
    ``strict=False``: bad lines are passed to ``on_skip`` and skipped instead of raised. Errors that concern
    the whole file (it cannot be read, the label attribute is ambiguous) are always raised.
    """
    return iter_output_lines(storage.iter_lines(str(uri)), file=str(uri), label_attribute=label_attribute,
                             strict=strict, on_skip=on_skip)


# ----------------------------------------------------------------------------------------------- input
@dataclass
class ManifestSummary:
    """What :func:`build_input_manifest` wrote."""

    source: str
    dest: str
    written: int = 0
    seen: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    examples: list[str] = field(default_factory=list)  # first few skipped items with their reason
    near_duplicates: list[tuple[str, str]] = field(default_factory=list)  # (dropped image, the image kept)
    videos: int = 0  # videos decoded (fps=)
    with_geo: int = 0  # lines given a geo key (geo=True)
    warnings: list[str] = field(default_factory=list)  # metadata that could not be read (the image still listed)

    def skip(self, reason: str, what: str) -> None:
        self.skipped[reason] += 1
        if len(self.examples) < 20:
            self.examples.append(f"{what}: {reason}")

    def as_dict(self) -> dict[str, Any]:
        out = {"source": self.source, "dest": self.dest, "seen": self.seen, "written": self.written,
               "skipped": dict(sorted(self.skipped.items())), "examples": list(self.examples),
               "near_duplicates": [list(p) for p in self.near_duplicates]}
        if self.videos:
            out["videos"] = self.videos
        if self.with_geo or self.warnings:
            out["with_geo"] = self.with_geo
            out["warnings"] = list(self.warnings)
        return out


def check_line_limits(line: bytes, obj: dict[str, Any], *, file: str, lineno: int | None,
                      max_line_chars: int | None = None, max_attribute_chars: int | None = None) -> None:
    """Ground Truth's input-manifest limits for one line (characters per line and per attribute); raises
    :class:`~gtlabel.errors.ManifestError` naming the file, line and attribute. The limits default to the facts
    (:func:`gtlabel.facts.limits`); a caller checking many lines passes them."""
    if max_line_chars is None or max_attribute_chars is None:
        lim = facts.limits()
        max_line_chars = lim.manifest_max_line_chars if max_line_chars is None else max_line_chars
        max_attribute_chars = lim.manifest_max_attribute_chars if max_attribute_chars is None else max_attribute_chars
    text = line.decode("utf-8")
    if len(text) > max_line_chars:
        raise ManifestError(f"line has {len(text)} characters; Ground Truth allows {max_line_chars}",
                            file=file, line=lineno)
    for key, value in obj.items():
        n = len(strict_json.dumps(value).decode("utf-8"))
        if n > max_attribute_chars:
            raise ManifestError(f"attribute has {n} characters; Ground Truth allows {max_attribute_chars}",
                                file=file, line=lineno, field=key)


def _sample_key(seed: int, uri: str) -> bytes:
    return hashlib.sha256(f"{seed}\x00{uri}".encode()).digest()[:8]


def _sampled(items: Iterable[tuple[str, bytes]], sample: int | None, seed: int) -> list[tuple[str, bytes]] | None:
    """Keep the ``sample`` items with the smallest seeded hash (O(sample) memory), back in key order."""
    if sample is None:
        return None
    heap: list[tuple[bytes, str, bytes]] = []  # max-heap via negated hash
    for key, line in items:
        h = _sample_key(seed, key)
        neg = bytes(255 - b for b in h)
        if len(heap) < sample:
            heapq.heappush(heap, (neg, key, line))
        elif neg > heap[0][0]:
            heapq.heapreplace(heap, (neg, key, line))
    return sorted(((k, ln) for _, k, ln in heap), key=lambda t: t[0])


def _deduped(items: Iterable[tuple[str, bytes]], locate: Callable[[str], str], summary: ManifestSummary,
             distance: int, sample: int | None, seed: int, max_workers: int | None,
             progress: bool | None) -> list[tuple[str, bytes]]:
    """Near-duplicate removal (greedy, in key order or, with ``sample``, in sampling order) -> kept items in key
    order. Images are hashed concurrently in chunks; with ``sample`` it stops at ``sample`` kept items."""
    index = NearDuplicateIndex(distance)  # checks the distance before anything is read
    todo = list(items)
    if sample is not None:
        todo.sort(key=lambda kv: _sample_key(seed, kv[0]))
    cfg = get_settings()
    workers = max_workers or min(16, cfg.max_concurrency)
    show = cfg.progress if progress is None else progress

    def ref_of(line: bytes) -> str | None:
        ref = orjson.loads(line).get(SOURCE_REF)
        return ref if isinstance(ref, str) else None

    def hash_of(key: str, line: bytes) -> int | str | None:
        ref = ref_of(line)
        if ref is None:
            return None  # a text object: nothing to compare
        uri = locate(key)
        try:
            return phash(storage.read_bytes(uri), where=uri)
        except ValueError:
            return "unreadable"

    kept: list[tuple[str, bytes]] = []
    chunk = max(32, 4 * workers)
    with ThreadPoolExecutor(max_workers=workers) as pool, \
            Progress(TextColumn("near-duplicates"), BarColumn(), MofNCompleteColumn(), transient=True,
                     disable=not show) as bar:
        task = bar.add_task("hash", total=len(todo))
        for start in range(0, len(todo), chunk):
            part = todo[start:start + chunk]
            for (key, line), h in zip(part, pool.map(lambda kv: hash_of(*kv), part), strict=True):
                bar.advance(task)
                if sample is not None and len(kept) >= sample:
                    break
                if h == "unreadable":
                    summary.skip("not a readable image", key)
                    continue
                if isinstance(h, int):
                    dup_of = index.add(key, h)
                    if dup_of is not None:
                        summary.skip("near-duplicate", f"{key} ~ {dup_of}")
                        summary.near_duplicates.append((key, dup_of))
                        continue
                kept.append((key, line))
            if sample is not None and len(kept) >= sample:
                break
    if sample is not None:
        kept.sort(key=lambda kv: kv[0])
    return kept


def build_input_manifest(
    source: str | os.PathLike[str],
    dest: str | os.PathLike[str],
    *,
    suffixes: Iterable[str] | None = None,
    max_bytes: int | None = None,
    sample: int | None = None,
    seed: int = 0,
    strict: bool = True,
    max_line_chars: int | None = None,
    max_attribute_chars: int | None = None,
    dedupe_distance: int | None = None,
    max_workers: int | None = None,
    progress: bool | None = None,
    fps: float | None = None,
    frames_dir: str | os.PathLike[str] | None = None,
    geo: bool = False,
) -> ManifestSummary:
    """Write a Ground Truth input manifest to ``dest`` (atomically) and say what was kept and skipped.

    ``source`` is an S3 prefix, a local folder (source-refs are written relative to ``dest``'s folder, which
    must contain the images), or an existing manifest (``*.manifest``/``*.jsonl``/``*.json``; its lines pass
    through unchanged, with their extra keys). ``sample``: keep that many, chosen by a hash seeded with
    ``seed`` (the same seed gives the same sample). ``strict=False`` skips bad manifest lines instead of
    raising, counting them in the summary.

    ``dedupe_distance``: drop near-duplicate images (:mod:`gtlabel.dedupe`: perceptual hashes within this many
    bits; 8 suits drone bursts). Every candidate image is read once (``max_workers`` threads; with ``sample``
    only until ``sample`` distinct images are found, in sampling order); the first of each group is kept, the
    others are counted as ``near-duplicate`` and listed in ``summary.near_duplicates``; undecodable images are
    skipped as ``not a readable image``.

    ``fps``: the source is a video or holds videos (suffixes :data:`gtlabel.video.VIDEO_SUFFIXES`; other files
    are skipped as ``not a video``): ``fps`` frames per second of each are written as JPEG under ``frames_dir``
    (default: ``frames/`` in ``dest``'s folder, so local source-refs stay relative) and listed with the keys
    ``video``, ``frame``, ``timestamp_s``; ``seen`` counts the frames sampled, ``near_duplicates`` lists the frames
    not written. A video that cannot be read to its end is an :class:`~gtlabel.errors.InputError` naming it when it
    is the source, and skipped (``not a readable video``, the file and why in ``examples``) in a folder of videos.
    Needs the ``video`` extra (PyAV). Not with ``sample``.

    ``geo``: read each listed image's EXIF GPS and DJI XMP tags (:mod:`gtlabel.geo`, the ``geo`` extra; the
    first 256 KiB of each, ``max_workers`` threads) into the pass-through key ``geo`` (``{"lat", "lon", "alt",
    "relative_alt", "gimbal_yaw", "gimbal_pitch", "gimbal_roll", "flight_yaw"}``, what the image has); lines of an
    existing manifest that already have ``geo`` keep theirs. Metadata that cannot be read is a warning naming the
    file (``summary.warnings``); the image is listed all the same. With ``fps``, a frame's ``geo`` comes from
    its video's DJI flight record (the ``.SRT`` beside the video, :mod:`gtlabel.geo.flightlog`): the cue covering
    the frame's ``timestamp_s``; a video without one is a warning.

    ``suffixes``, ``max_bytes``, ``max_line_chars`` and ``max_attribute_chars`` default to Ground Truth's limits
    (:func:`gtlabel.facts.limits`).
    """
    lim = facts.limits()
    suffixes = lim.image_suffixes if suffixes is None else suffixes
    max_bytes = lim.image_max_bytes if max_bytes is None else max_bytes
    max_line_chars = lim.manifest_max_line_chars if max_line_chars is None else max_line_chars
    max_attribute_chars = lim.manifest_max_attribute_chars if max_attribute_chars is None else max_attribute_chars
    src, dst = str(source), str(dest)
    if sample is not None and sample < 1:
        raise ConfigError(f"sample must be >= 1, got {sample}")
    sfx = tuple(s.lower() if s.startswith(".") else f".{s.lower()}" for s in suffixes)
    summary = ManifestSummary(src, dst)
    if fps is not None or (video.is_video(src) and (storage.is_s3(src) or Path(src).is_file())):
        if fps is None:
            raise ConfigError(f"{src} is a video: give fps, the frames per second to keep (e.g. fps=2; CLI --fps 2)")
        if sample is not None:
            raise ConfigError("sample cannot be combined with fps: lower fps to keep fewer frames")
        if src.lower().endswith(MANIFEST_SUFFIXES):
            raise ConfigError(f"{src}: fps reads videos (a video file, or a folder/prefix of videos), not a manifest")
        frames_root = str(frames_dir) if frames_dir is not None else storage.join(_parent_of(dst), "frames")
        lines = _video_items(src, dst, frames_root, summary, fps, dedupe_distance, max_workers, progress,
                             max_line_chars, max_attribute_chars, geo)
        with storage.atomic_writer(dst, content_type="application/jsonlines") as fh:
            for line in lines:
                fh.write(line + b"\n")
                summary.written += 1
        return summary
    is_manifest = src.lower().endswith(MANIFEST_SUFFIXES) and (storage.is_s3(src) or Path(src).is_file())
    if not storage.is_s3(src) and Path(src).is_file() and not is_manifest:
        raise ConfigError(f"{src}: expected a folder, an S3 prefix or a manifest ({', '.join(MANIFEST_SUFFIXES)})")

    items = _manifest_items(src, summary, sfx, strict, max_line_chars, max_attribute_chars) if is_manifest \
        else _listing_items(src, dst, summary, sfx, max_bytes, max_line_chars, max_attribute_chars)
    chosen: list[tuple[str, bytes]] | None
    if dedupe_distance is not None:
        locate = (lambda key: resolve_source_ref(key, src)) if is_manifest else (lambda key: key)
        chosen = _deduped(items, locate, summary, dedupe_distance, sample, seed, max_workers, progress)
    else:
        chosen = _sampled(items, sample, seed)
    out: Iterable[tuple[str, bytes]] = chosen if chosen is not None else items
    if geo:
        locate_src = (lambda key: resolve_source_ref(key, src)) if is_manifest else (lambda key: key)
        out = _with_geo(out, locate_src, summary, max_workers)
    with storage.atomic_writer(dst, content_type="application/jsonlines") as fh:
        for _key, line in out:
            fh.write(line + b"\n")
            summary.written += 1
    if sample is not None:
        not_sampled = summary.seen - sum(summary.skipped.values()) - summary.written
        if not_sampled > 0:
            summary.skipped["not sampled"] += not_sampled
    return summary


def _manifest_items(src: str, summary: ManifestSummary, sfx: tuple[str, ...], strict: bool,
                    max_line_chars: int, max_attribute_chars: int) -> Iterator[tuple[str, bytes]]:
    for lineno, raw in storage.iter_lines(src):
        summary.seen += 1
        try:
            item = InputLine.loads(raw, file=src, line=lineno)
            obj = item.data
            ref = item.source_ref
            if ref is not None:
                key = ref
                if not ref.lower().endswith(sfx):
                    summary.skip("suffix not allowed", f"{src}:{lineno}")
                    continue
            else:
                key = f"{lineno:012d}"
            check_line_limits(raw, obj, file=src, lineno=lineno, max_line_chars=max_line_chars,
                          max_attribute_chars=max_attribute_chars)
        except ManifestError as exc:
            if strict:
                raise
            summary.skip(exc.reason, f"{src}:{lineno}")
            continue
        yield key, raw


def _with_geo(items: Iterable[tuple[str, bytes]], locate: Callable[[str], str], summary: ManifestSummary,
              max_workers: int | None) -> Iterator[tuple[str, bytes]]:
    """The items with a ``geo`` key added from each image's metadata (read concurrently, a chunk at a time)."""
    workers = max_workers or min(16, get_settings().max_concurrency)

    def read(kv: tuple[str, bytes]) -> tuple[dict[str, Any], GeoRead | None]:
        obj = orjson.loads(kv[1])
        if not isinstance(obj.get(SOURCE_REF), str) or GEO_KEY in obj:
            return obj, None
        return obj, read_geo_uri(locate(kv[0]))

    it = iter(items)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        while chunk := list(itertools.islice(it, 4 * workers)):
            for (key, line), (obj, got) in zip(chunk, pool.map(read, chunk), strict=True):
                if got is None:
                    yield key, line
                    continue
                _warn(summary, got.warnings)
                if got.geo is None:
                    yield key, line
                    continue
                obj[GEO_KEY] = got.geo
                summary.with_geo += 1
                yield key, strict_json.dumps(obj)


def _parent_of(dst: str) -> str:
    return dst.rsplit("/", 1)[0] if storage.is_s3(dst) else str(Path(dst).resolve().parent)


def _video_items(src: str, dst: str, frames_root: str, summary: ManifestSummary, fps: float,
                 dedupe_distance: int | None, max_workers: int | None, progress: bool | None,
                 max_line_chars: int, max_attribute_chars: int, geo: bool) -> Iterator[bytes]:
    """The manifest lines of the frames of the source's videos (written as they are decoded); with ``geo``, each
    frame's ``geo`` from the video's DJI flight record (:mod:`gtlabel.geo.flightlog`)."""
    if not (isinstance(fps, int | float) and not isinstance(fps, bool) and fps > 0):
        raise ConfigError(f"fps must be a number > 0, got {fps!r}")
    index = NearDuplicateIndex(dedupe_distance) if dedupe_distance is not None else None
    local_base: Path | None = None
    if not storage.is_s3(frames_root):
        if storage.is_s3(dst):
            raise ConfigError(f"frames_dir {frames_root}: a manifest on S3 cannot point at local frames")
        local_base = Path(dst).resolve().parent
    single = not storage.is_s3(src) and Path(src).is_file()
    videos = [src] if single else []
    if not single:
        for info in storage.list_objects(src):
            if not video.is_video(info.uri):
                summary.skip("not a video", info.uri)
            elif info.size == 0:
                summary.skip("empty file", info.uri)
            else:
                videos.append(info.uri)
    cfg = get_settings()
    workers = max_workers or min(4, cfg.max_concurrency)
    show = cfg.progress if progress is None else progress

    def duplicate(dropped: str, kept: str) -> None:
        summary.seen += 1
        summary.skip("near-duplicate", f"{dropped} ~ {kept}")
        summary.near_duplicates.append((dropped, kept))

    # the bar counts seconds of video; its total (the header's duration) is set as the first frame is decoded
    with Progress(TextColumn("{task.description}"), BarColumn(), AmountColumn(), TextColumn("s"), transient=True,
                  disable=not show) as bar:
        for uri in videos:
            task = bar.add_task(f"frames of {uri.rsplit('/', 1)[-1]}", total=None)

            def advance(t: float, duration: float | None, task: Any = task) -> None:
                bar.update(task, completed=t, total=duration)

            track = _flight_track(uri, summary) if geo else None
            frames = video.extract_frames(uri, frames_root, fps=fps, dedupe=index, on_duplicate=duplicate,
                                          workers=workers, on_progress=advance if show else None)
            # a video's lines are held (in a spooled file: memory stays flat) until it has been read to its end
            with tempfile.SpooledTemporaryFile(max_size=1 << 20) as spool:
                try:
                    for fr in frames:
                        summary.seen += 1
                        ref = _relative_ref(fr.uri, local_base) if local_base is not None else fr.uri
                        obj: dict[str, Any] = {SOURCE_REF: ref, "video": fr.video, "frame": fr.frame,
                                               "timestamp_s": fr.timestamp_s}
                        where = track.at(fr.timestamp_s) if track is not None else None
                        if where is not None:
                            obj[GEO_KEY] = where
                            summary.with_geo += 1
                        line = strict_json.dumps(obj)
                        check_line_limits(line, obj, file=uri, lineno=None, max_line_chars=max_line_chars,
                                          max_attribute_chars=max_attribute_chars)
                        spool.write(line + b"\n")
                except InputError as exc:
                    if single or isinstance(exc, ManifestError):  # a line limit: not the video's fault
                        raise
                    summary.skip("not a readable video", f"{uri}: {exc.reason}")
                    continue
                finally:
                    frames.close()  # a failure here removes the video's frames
                    bar.remove_task(task)
                spool.seek(0)
                for raw in spool:
                    yield raw.rstrip(b"\n")
            summary.videos += 1


def _flight_track(video_uri: str, summary: ManifestSummary) -> FlightTrack | None:
    """The DJI flight record beside a video, read; a warning when there is none or parts cannot be read."""
    log = flight_log_for(video_uri)
    if log is None:
        _warn(summary, [f"{video_uri}: no DJI flight record (.SRT) beside it: its frames have no geo"])
        return None
    track = read_flight_log(log)
    _warn(summary, track.warnings)
    if not track:
        _warn(summary, [f"{log}: no cue with a position, altitude or gimbal angle: the frames have no geo"])
    return track


def _warn(summary: ManifestSummary, warnings: list[str]) -> None:
    summary.warnings.extend(warnings[:max(0, 100 - len(summary.warnings))])


def _relative_ref(uri: str, local_base: Path) -> str:
    try:
        return PurePosixPath(Path(uri).resolve().relative_to(local_base)).as_posix()
    except ValueError:
        raise ConfigError(f"{uri}: local frames must be inside the manifest's folder {local_base} (source-refs "
                          f"are relative and never use '..'); choose frames_dir there") from None


def _listing_items(src: str, dst: str, summary: ManifestSummary, sfx: tuple[str, ...], max_bytes: int,
                   max_line_chars: int, max_attribute_chars: int) -> Iterator[tuple[str, bytes]]:
    local_base: Path | None = None
    if not storage.is_s3(src):
        if storage.is_s3(dst):
            raise ConfigError(f"{src}: a manifest on S3 cannot point at local images; upload them and build from "
                              f"the S3 prefix")
        local_base = Path(dst).resolve().parent
    for info in storage.list_objects(src):
        summary.seen += 1
        if not info.uri.lower().endswith(sfx):
            summary.skip(f"suffix not in {', '.join(sfx)}", info.uri)
            continue
        if info.size > max_bytes:
            summary.skip(f"larger than {max_bytes // (1024 * 1024)} MB", info.uri)
            continue
        if info.size == 0:
            summary.skip("empty file", info.uri)
            continue
        ref = info.uri
        if local_base is not None:
            path = Path(info.uri).resolve()
            try:
                ref = PurePosixPath(path.relative_to(local_base)).as_posix()
            except ValueError:
                raise ConfigError(f"{info.uri}: local images must be inside the manifest's folder "
                                  f"{local_base} (source-refs are relative and never use '..')") from None
        obj = {SOURCE_REF: ref}
        line = strict_json.dumps(obj)
        try:
            check_line_limits(line, obj, file=src, lineno=None, max_line_chars=max_line_chars,
                          max_attribute_chars=max_attribute_chars)
        except ManifestError as exc:
            summary.skip(exc.reason, info.uri)
            continue
        yield info.uri, line

"""Frames from drone videos for labeling: decode with PyAV (the ``video`` extra; no ffmpeg binary), keep ``fps``
frames per second, drop near-duplicates (a hovering drone films the same scene for minutes), write each kept frame
as a JPEG, and say where each came from (the video, the frame's index, its time).

Where frames go: ``<frames_root>/<video stem>-<8 hex of the video's URI>/<frame index, 8 digits>.jpg``; the
manifest builder puts ``frames_root`` beside the manifest (``<manifest's folder>/frames``), on S3 or locally, so
the frames of two videos never collide and a rerun writes the same names (each frame written atomically).

Memory stays flat however long the video: frames are decoded one at a time, and at most ``2 * workers`` of them
wait to be encoded and written (by a small thread pool: Pillow's JPEG encoder and the uploads release the GIL).
A local video is opened by path; an S3 video is read through :class:`RangeReader`, a seekable file object that
fetches 8 MiB blocks with :func:`gtlabel.storage.read_range` (one ranged GET each, the last two kept: an MP4
whose index sits at the end costs one GET more, nothing is spooled to disk).

A video PyAV cannot open or decode, one without a video stream, or one that ends before the duration its header
declares (a truncated upload) is a :class:`~gtlabel.errors.InputError` naming the file; the frames already written
for it are removed.
"""

from __future__ import annotations

import hashlib
import io
import re
from collections import deque
from collections.abc import Callable, Generator, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from gtlabel import storage
from gtlabel.dedupe import NearDuplicateIndex, phash_image
from gtlabel.errors import InputError, MissingExtra

if TYPE_CHECKING:
    from PIL import Image

__all__ = [
    "FRAME_DIGITS",
    "JPEG_QUALITY",
    "VIDEO_SUFFIXES",
    "Frame",
    "RangeReader",
    "extract_frames",
    "frame_folder",
    "is_video",
]

VIDEO_SUFFIXES: tuple[str, ...] = (".mp4", ".mov", ".m4v", ".mkv", ".avi", ".ts", ".mts", ".webm")
JPEG_QUALITY = 90  # frames are labeled, not archived: 90 keeps edges crisp at a third of 100's size
FRAME_DIGITS = 8  # frame index in the file name, zero-padded so names sort in frame order
_BLOCK = 8 << 20  # S3 reads: one ranged GET per 8 MiB
_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


def is_video(uri: str) -> bool:
    """Whether ``uri`` names a video by its suffix (case-insensitive)."""
    return uri.lower().endswith(VIDEO_SUFFIXES)


def frame_folder(frames_root: str, video_uri: str) -> str:
    """The folder of one video's frames: ``<stem>-<8 hex of the video's URI>`` under ``frames_root``."""
    stem = video_uri.rstrip("/").rsplit("/", 1)[-1].rsplit(".", 1)[0]
    stem = _SAFE.sub("_", stem).strip("._")[:60] or "video"
    tag = hashlib.blake2b(video_uri.encode(), digest_size=4).hexdigest()
    return storage.join(frames_root, f"{stem}-{tag}")


@dataclass(frozen=True)
class Frame:
    """One frame kept and written: where it is, the video, its index among the video's decoded frames, its time."""

    uri: str
    video: str
    frame: int
    timestamp_s: float


class RangeReader(io.RawIOBase):
    """A read-only, seekable file object over an S3 object (or a local file) that reads it in blocks with
    :func:`gtlabel.storage.read_range`: PyAV seeks in it (an MP4's index can be at the end) and memory holds two
    blocks (``requests`` counts the GETs)."""

    def __init__(self, uri: str, block: int = _BLOCK) -> None:
        super().__init__()
        self.uri, self.block = uri, block
        first = storage.read_range(uri, 0, block)
        self.size = first.info.size
        self._blocks: dict[int, bytes] = {0: first.data}  # start -> bytes; the two used last (an MP4's index
        self._pos = 0  # at the end and its data at the start are read in turns without a GET each time)
        self.requests = 1

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self.size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def readinto(self, b: Any) -> int:
        view = memoryview(b).cast("B")
        if self._pos >= self.size or not len(view):
            return 0
        start = next((st for st, data in self._blocks.items() if st <= self._pos < st + len(data)), None)
        if start is None:
            got = storage.read_range(self.uri, self._pos, max(self.block, len(view)))
            self.requests += 1
            if not got.data:
                return 0
            start = self._pos
            self._blocks[start] = got.data
        buf = self._blocks.pop(start)
        self._blocks[start] = buf  # the most recently used last
        while len(self._blocks) > 2:
            del self._blocks[next(iter(self._blocks))]
        at = self._pos - start
        n = min(len(view), len(buf) - at)
        view[:n] = buf[at:at + n]
        self._pos += n
        return n


def _av() -> Any:
    try:
        import av
    except ImportError as exc:
        raise MissingExtra("video", "av (PyAV)") from exc
    return av


def _encode(img: Image.Image, uri: str, quality: int) -> None:
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=quality)
    storage.write_bytes(uri, buf.getvalue(), content_type="image/jpeg")


def extract_frames(
    video_uri: str,
    frames_root: str,
    *,
    fps: float,
    dedupe: NearDuplicateIndex | None = None,
    on_duplicate: Callable[[str, str], None] | None = None,
    workers: int = 4,
    quality: int = JPEG_QUALITY,
    on_progress: Callable[[float, float | None], None] | None = None,
) -> Generator[Frame, None, None]:
    """The frames of one video, ``fps`` per second (every frame when ``fps`` is at least the video's rate), each
    written as a JPEG under :func:`frame_folder` and yielded in frame order once written.

    ``dedupe``: frames whose perceptual hash is within the index's distance of a frame kept before (in this video
    or an earlier one given the same index) are not written; ``on_duplicate(would-be URI, kept URI)`` hears of
    each. ``on_progress(seconds decoded, duration or None)`` follows the decoding. Raises
    :class:`~gtlabel.errors.InputError` naming the video when it cannot be read to its end (the frames written for
    it are then removed)."""
    if not fps > 0:
        raise InputError(f"fps must be > 0, got {fps!r}", file=video_uri)
    av = _av()
    folder = frame_folder(frames_root, video_uri)
    written: list[str] = []
    try:
        yield from _decode(av, video_uri, folder, fps, dedupe, on_duplicate, workers, quality, on_progress, written)
    except InputError:
        _remove(written)
        raise
    except (av.error.FFmpegError, OSError, ValueError) as exc:  # FFmpegError: also a ValueError/OSError
        _remove(written)
        raise InputError(f"not a readable video ({exc})", file=video_uri) from None
    except BaseException:
        _remove(written)
        raise


def _remove(uris: list[str]) -> None:
    if uris:
        storage.delete_many(uris)


def _decode(av: Any, video_uri: str, folder: str, fps: float, dedupe: NearDuplicateIndex | None,
            on_duplicate: Callable[[str, str], None] | None, workers: int, quality: int,
            on_progress: Callable[[float, float | None], None] | None, written: list[str]) -> Iterator[Frame]:
    source: Any = RangeReader(video_uri) if storage.is_s3(video_uri) else video_uri
    with av.open(source, mode="r") as container, ThreadPoolExecutor(max_workers=workers) as pool:
        if not container.streams.video:
            raise InputError("not a readable video (no video stream in the file)", file=video_uri)
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"  # FFmpeg's own decoding threads
        duration = _duration(container, stream)
        rate = float(stream.average_rate) if stream.average_rate else None
        pending: deque[tuple[Future[None], Frame]] = deque()
        start: float | None = None
        taken = 0
        last = 0.0
        for index, frame in enumerate(container.decode(stream)):
            t = float(frame.time) if frame.time is not None else index / (rate or fps)
            last = t
            if on_progress is not None:
                on_progress(t, duration)
            if start is None:
                start = t
            if t + 1e-6 < start + taken / fps:  # not yet time for the next sample
                continue
            taken = int((t - start) * fps + 1e-6) + 1
            uri = storage.join(folder, f"{index:0{FRAME_DIGITS}d}.jpg")
            img = frame.to_image()
            if dedupe is not None:
                kept = dedupe.add(uri, phash_image(img))
                if kept is not None:
                    if on_duplicate is not None:
                        on_duplicate(uri, kept)
                    continue
            written.append(uri)
            pending.append((pool.submit(_encode, img, uri, quality), Frame(uri, video_uri, index, round(t, 3))))
            while len(pending) > 2 * workers or (pending and pending[0][0].done()):
                fut, done = pending.popleft()
                fut.result()
                yield done
        if start is None:
            raise InputError("not a readable video (no frame could be decoded)", file=video_uri)
        step = 1 / rate if rate else 0.0
        if duration is not None and last + step < duration - max(3 * step, 0.25):
            raise InputError(f"not a readable video (it ends at {last + step:.2f} s but its header says "
                             f"{duration:.2f} s: truncated?)", file=video_uri)
        while pending:
            fut, done = pending.popleft()
            fut.result()
            yield done


def _duration(container: Any, stream: Any) -> float | None:
    """The video stream's declared duration in seconds (else the container's), or ``None``."""
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return float(container.duration) / 1_000_000  # AV_TIME_BASE
    return None

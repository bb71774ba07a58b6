"""Several processes converting one output manifest: ``convert_ground_truth_to_yolo(processes=N)``.

The calling process reads the manifest in blocks of whole lines (:func:`gtlabel.storage.iter_line_blocks`)
and hands each block to the next free *lane*: itself, or a worker process (``python -P -c "from
gtlabel.convert.pool import worker_main; ..."``, fed over its stdin/stdout pipes). A lane converts its block
exactly as the one-process pass would (same parser, same rules, same label bytes), writes the label files into
the shared staging folder, appends the lineage entries to a spool file of its own, and returns the block's
counts. Those are added up in manifest order, so the report, the version id and lineage.json are those of one
pass, and the error raised is the first one in manifest order.

What falls back to one process (the caller's pass, from a clean staging folder):

- a label file that is already there: a ``source-ref`` is repeated, and which line wins would depend on
  timing (the one-process pass keeps the first line, deterministically);
- a worker that dies, or cannot be fed, in the middle of a block;
- a manifest whose first line does not name its label attribute unambiguously (the one-process pass
  detects it and reports the lines before it exactly).

Worker processes are plain subprocesses, not :mod:`multiprocessing`: nothing re-imports the caller's
``__main__`` (a script without ``if __name__ == "__main__"`` works), and no thread state is forked.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import logging
import os
import pickle
import shutil
import signal
import struct
import subprocess
import sys
import threading
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import IO, Any

import orjson

from gtlabel import storage
from gtlabel.convert.lanes import Advance, BlockResult, Lane, LaneSpec, PassState, remove_spool, spool_path
from gtlabel.convert.report import ConversionReport
from gtlabel.convert.rows import RowContext
from gtlabel.errors import GtlabelError
from gtlabel.formats.ground_truth import detect_label_attributes
from gtlabel.formats.yolo import SPLITS
from gtlabel.settings import usable_cpus

__all__ = [
    "BLOCK_BYTES",
    "MAIN_LANE",
    "PARALLEL_MIN_BYTES",
    "WORKER_CMD",
    "lanes_for",
    "merge_block",
    "parallel_pass",
    "recv_frame",
    "send_frame",
    "worker_main",
]

log = logging.getLogger(__name__)

#: bytes of manifest per block handed to a lane (~1,100 lines of a typical output manifest)
BLOCK_BYTES = 1 << 20
#: manifests from this size on are converted by several processes (when there are several CPUs)
PARALLEL_MIN_BYTES = 16 << 20
_IN_FLIGHT = 2  # blocks queued per worker, so that it never waits for the next one
#: this process converts blocks too, from the start (while the workers import); tests turn it off to make
#: the workers take every block they can
MAIN_LANE = True
_HEADER = struct.Struct(">Q")
#: what a worker process runs (``python -P -c WORKER_CMD``)
WORKER_CMD = "from gtlabel.convert.pool import worker_main; raise SystemExit(worker_main())"


def lanes_for(manifest: str, processes: int) -> int:
    """How many lanes (processes) convert this manifest: ``processes`` when >= 1; for 0 (automatic) one more
    than the CPUs, at most 8, for a manifest of :data:`PARALLEL_MIN_BYTES` or more, else 1."""
    if processes >= 1:
        return processes
    cpus = usable_cpus()
    if cpus < 2:
        return 1
    try:
        size = storage.head(manifest).size
    except GtlabelError:
        return 1  # the pass reports what is wrong with the manifest
    # one lane more than CPUs: while a lane waits for the kernel (file creation), another computes
    return min(cpus + 1, 8) if size is not None and size >= PARALLEL_MIN_BYTES else 1


def merge_block(ctx: RowContext, state: PassState, report: ConversionReport, class_counts: Sequence[int],
                part: PassState) -> None:
    """Add one block's counts (converted in another lane) to the pass totals, in manifest order."""
    ctx.report.merge(report)
    for i, c in enumerate(class_counts):
        ctx.class_counts[i] += c
    state.merge(part)


# --------------------------------------------------------------------------------------------------- frames
def send_frame(fh: IO[bytes], obj: object) -> None:
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    fh.write(_HEADER.pack(len(data)))
    fh.write(data)
    fh.flush()


def recv_frame(fh: IO[bytes]) -> Any:
    """The next frame, or ``None`` at the end of the stream."""
    head = fh.read(_HEADER.size)
    if len(head) < _HEADER.size:
        return None
    (n,) = _HEADER.unpack(head)
    data = fh.read(n)
    if len(data) < n:
        return None
    return pickle.loads(data)


def _portable(res: BlockResult) -> BlockResult:
    """``res`` with an error that cannot be pickled replaced by one that can (same type name and text)."""
    if res.error is not None:
        try:
            pickle.dumps(res.error)
        except Exception:
            res.error = GtlabelError(f"{type(res.error).__name__}: {res.error}")
    return res


# --------------------------------------------------------------------------------------------------- workers
class _Worker:
    """One worker process and the two threads that feed it blocks and collect its results."""

    def __init__(self, lane_no: int, spec: LaneSpec, pass_: _Pass) -> None:
        self.lane_no, self.spec, self.pass_ = lane_no, spec, pass_
        self.proc: subprocess.Popen[bytes] | None = None
        self.ready = threading.Event()
        self.alive = True
        self.slots = threading.Semaphore(_IN_FLIGHT)
        self.sent: dict[int, None] = {}
        self.lock = threading.Lock()
        self.threads: list[threading.Thread] = []

    def start(self) -> bool:
        pkg_parent = str(Path(__file__).resolve().parents[2])  # the folder that holds the gtlabel package
        # the worker reaches the S3 this process uses: the environment, or a storage.use_endpoint() target
        env = {**os.environ, **storage.child_env(), "PYTHONPATH": os.pathsep.join(
            p for p in (pkg_parent, os.environ.get("PYTHONPATH")) if p)}
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-P", "-c", WORKER_CMD], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                env=env, close_fds=True)
        except OSError as exc:
            log.warning("conversion worker %d not started (%s): converting with fewer processes", self.lane_no, exc)
            return False
        assert self.proc.stdin is not None
        try:
            send_frame(self.proc.stdin, (self.spec, self.lane_no))
        except OSError:
            return False
        self.threads = [threading.Thread(target=self._feed, name=f"gtlabel-lane{self.lane_no}-feed", daemon=True),
                        threading.Thread(target=self._collect, name=f"gtlabel-lane{self.lane_no}-collect",
                                         daemon=True)]
        for t in self.threads:
            t.start()
        return True

    def _feed(self) -> None:
        assert self.proc is not None and self.proc.stdin is not None
        self.ready.wait()
        try:
            while self.alive:
                self.slots.acquire()
                job = self.pass_.take() if self.alive else None
                if job is None:
                    break
                with self.lock:
                    self.sent[job[0]] = None
                try:
                    send_frame(self.proc.stdin, job)
                except OSError:
                    self.pass_.fail(f"conversion worker {self.lane_no} stopped taking blocks")
                    break
        finally:
            with contextlib.suppress(OSError):
                self.proc.stdin.close()

    def _collect(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        try:
            hello = recv_frame(self.proc.stdout)
            if hello != "ready":
                log.warning("conversion worker %d did not start: converting with fewer processes", self.lane_no)
                return
            self.ready.set()
            while True:
                res = recv_frame(self.proc.stdout)
                if res is None:
                    break
                with self.lock:
                    self.sent.pop(res.index, None)
                self.pass_.done(res)
                self.slots.release()
        finally:
            self.alive = False
            self.ready.set()
            self.slots.release()
            with self.lock:
                lost = list(self.sent)
            if lost:
                code = self.proc.wait()
                self.pass_.fail(f"conversion worker {self.lane_no} exited (code {code}) in block {lost[0]}")

    def join(self) -> None:
        """Wait until this worker has no more blocks to take (the pass ran out, or the worker is gone)."""
        for t in self.threads:
            t.join()

    def stop(self, *, kill: bool = False) -> None:
        self.alive = False
        self.slots.release()
        if self.proc is None:
            return
        if kill and self.proc.poll() is None:
            self.proc.kill()
        for t in self.threads:
            t.join(timeout=60)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=60)
        if self.proc.poll() is None:  # pragma: no cover - a worker that hangs after its input closed
            self.proc.kill()
            self.proc.wait()
        with contextlib.suppress(OSError):
            assert self.proc.stdout is not None
            self.proc.stdout.close()


# ------------------------------------------------------------------------------------------------------ pass
class _Pass:
    """The block source and result sink that the lanes share."""

    def __init__(self, manifest: str, advance: Advance) -> None:
        # a local manifest's MD5 (its lineage "etag"), from the bytes converted, instead of a second read
        self.md5 = None if storage.is_s3(manifest) else hashlib.md5(usedforsecurity=False)
        self.md5_hex: str | None = None
        self.blocks = enumerate(storage.iter_line_blocks(manifest, BLOCK_BYTES,
                                                         feed=self.md5.update if self.md5 else None))
        self.lock = threading.Lock()
        self.results: dict[int, BlockResult] = {}
        self.stopped = threading.Event()
        self.redo: str | None = None
        self.read_error: BaseException | None = None
        self.advance = advance
        self.sizes: dict[int, int] = {}  # bytes of each block handed out, for the bar (advanced when done)

    def take(self) -> tuple[int, int, bytes] | None:
        with self.lock:
            if self.stopped.is_set():
                return None
            try:
                nxt = next(self.blocks, None)
            except Exception as exc:
                self.read_error = exc
                nxt = None
            if nxt is None:
                if self.read_error is None and self.md5 is not None:  # the whole file was read
                    self.md5_hex = self.md5.hexdigest()
                self.stopped.set()
                return None
            index, (first, block) = nxt
            self.sizes[index] = len(block)
            return index, first, block

    def done(self, res: BlockResult) -> None:
        with self.lock:
            self.results[res.index] = res
            if res.redo is not None and self.redo is None:
                self.redo = res.redo
            if res.error is not None or res.redo is not None:
                self.stopped.set()
            size = self.sizes.pop(res.index, 0)
        self.advance(size)

    def fail(self, why: str) -> None:
        with self.lock:
            if self.redo is None:
                self.redo = why
            self.stopped.set()


def _first_line_attribute(manifest: str) -> str | None:
    """The label attribute named by the manifest's first line, if exactly one (else the one-process pass
    decides, and reports the lines before the first usable one exactly)."""
    for _, raw in storage.iter_lines(manifest):
        try:
            obj = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return None
        found = detect_label_attributes(obj) if isinstance(obj, dict) else []
        return found[0] if len(found) == 1 else None
    return None


def parallel_pass(spec: LaneSpec, ctx: RowContext, lanes: int, advance: Advance) -> PassState | None:
    """The conversion pass in ``lanes`` lanes (this process and ``lanes - 1`` workers); its counts are added
    to ``ctx``. ``None`` (staging left clean) when it must be redone in one process."""
    attr = spec.label_attribute or _first_line_attribute(spec.manifest)
    if attr is None:
        return None
    spec = replace(spec, label_attribute=attr, parallel=True, threads=max(1, -(-spec.threads // lanes)))
    pass_ = _Pass(spec.manifest, advance)
    workers = [_Worker(n, spec, pass_) for n in range(1, lanes)]
    started = [w for w in workers if w.start()]
    staging = Path(spec.staging)
    lane = Lane(spec, spool_path(staging, 0))
    ok = False
    try:
        if not MAIN_LANE:  # the workers first; this process takes what they leave (none started, say)
            for w in started:
                w.join()
        while (job := pass_.take()) is not None:
            pass_.done(lane.run_block(*job))
        ok = True
    finally:
        lane.close()
        for w in started:
            w.stop(kill=not ok)
    if pass_.redo is not None:
        log.info("converting in one process: %s", pass_.redo)
        _clean_staging(staging)
        return None
    state = PassState()
    for i in range(len(pass_.results)):
        res = pass_.results.get(i)
        if res is None:  # pragma: no cover - every block handed out comes back, or redo is set
            raise GtlabelError(f"conversion block {i} was lost")
        if res.error is not None:
            raise res.error
        assert res.report is not None and res.state is not None
        merge_block(ctx, state, res.report, res.class_counts, res.state)
    if pass_.read_error is not None:
        raise pass_.read_error
    state.manifest_md5 = pass_.md5_hex
    return state


def _clean_staging(staging: Path) -> None:
    """Remove what the lanes wrote (label files, tiles, spools), leaving the empty split folders."""
    shutil.rmtree(staging / "labels", ignore_errors=True)
    shutil.rmtree(staging / "images", ignore_errors=True)  # tiles (a plain conversion copies images later)
    for s in SPLITS:
        (staging / "labels" / s).mkdir(parents=True, exist_ok=True)
    remove_spool(staging)


# ---------------------------------------------------------------------------------------------- worker main
def worker_main() -> int:
    """A worker process: read the spec, then convert blocks until stdin ends."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the caller stops us (closes our stdin) on Ctrl-C
    inp, out = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # stdout carries frames only
    send_frame(out, "ready")
    msg = recv_frame(inp)
    if msg is None:
        return 0
    spec, lane_no = msg
    # this process only converts blocks, whose objects form no cycles: collect rarely (a few % of its time)
    gc.freeze()
    gc.set_threshold(100_000, 50, 100)
    lane = Lane(spec, spool_path(spec.staging, lane_no))
    try:
        while (job := recv_frame(inp)) is not None:
            send_frame(out, _portable(lane.run_block(*job)))
    finally:
        lane.close()
    return 0

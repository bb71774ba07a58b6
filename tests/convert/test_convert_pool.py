"""Several processes converting one manifest (gtlabel.convert.pool): the same bytes as one process, the first
error in manifest order, and a fall-back to one process when blocks collide or a worker fails."""

from __future__ import annotations

import os
import pickle
import random
from pathlib import Path
from typing import Any

import pytest
from convert_helpers import GT_ORDER, gt_line, make_image, tree_bytes, write_manifest
from hypothesis import given, settings
from hypothesis import strategies as st

from gtlabel import storage
from gtlabel.convert import ConversionReport, convert_ground_truth_to_yolo, dataset_name, pool
from gtlabel.convert.lanes import PassState
from gtlabel.errors import LabelError, ManifestError, NotFound, StorageError

NAMES = GT_ORDER


@pytest.fixture(autouse=True)
def small_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Blocks of ~2 KB, so that a manifest of a few hundred lines is spread over many blocks and lanes."""
    monkeypatch.setattr(pool, "BLOCK_BYTES", 2048)


def scene_lines(n: int, seed: int = 0, *, prefix: str = "s3://bucket/flights") -> list[Any]:
    """``n`` lines with every kind of box and record: clipped, zero-area, duplicate rows, empty, failed, an
    unknown class (dropped with drop_unknown_classes) and an unreadable suffix."""
    rng = random.Random(seed)
    lines: list[Any] = []
    for i in range(n):
        ref = f"{prefix}/f{i % 7}/img_{i:05d}.jpg"
        w, h = (640, 480) if i % 2 else (1920, 1080)
        boxes = []
        for _ in range(rng.randint(0, 6)):
            bw, bh = rng.randint(0, 200), rng.randint(1, 150)
            boxes.append((rng.choice(NAMES), rng.randint(-30, w - 10), rng.randint(0, h - bh), bw, bh))
        if boxes and i % 5 == 0:
            boxes.append(boxes[0])  # an exact duplicate row
        if i % 37 == 3:
            lines.append(gt_line(ref, (w, h), failure="ClientError: task expired"))
        elif i % 41 == 5:
            line = gt_line(ref, (w, h), boxes)
            line["drone-boxes"]["annotations"].append({"class_id": 9, "left": 1, "top": 1, "width": 5, "height": 5})
            line["drone-boxes-metadata"]["class-map"]["9"] = "tree"
            line["drone-boxes-metadata"]["objects"].append({"confidence": 0.5})
            lines.append(line)
        elif i % 53 == 7:
            lines.append(gt_line(ref.replace(".jpg", ".gif"), (w, h), boxes))
        else:
            lines.append(gt_line(ref, (w, h), boxes, **({"job": f"j{i % 3}"} if i % 11 == 0 else {})))
    return lines


def convert(manifest: str, out: Path, processes: int | None, **kw: Any) -> ConversionReport:
    opts: dict[str, Any] = {"exif": "ignore", "copy_images": False, "fingerprint_sources": False,
                            "drop_unknown_classes": True, "progress": False}
    return convert_ground_truth_to_yolo(manifest, out, NAMES, processes=processes, **(opts | kw))


@pytest.mark.parametrize("main_lane", [True, False])
def test_lanes_write_the_same_bytes_as_one_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                   main_lane: bool) -> None:
    monkeypatch.setattr(pool, "MAIN_LANE", main_lane)
    manifest = write_manifest(tmp_path / "m" / "output.manifest", scene_lines(400))
    assert Path(manifest).stat().st_size > 40 * 2048  # many blocks
    one = convert(manifest, tmp_path / "ds", 1)
    want = tree_bytes(tmp_path / "ds")
    for procs in (2, 3):
        rep = convert(manifest, tmp_path / f"ds{procs}", procs)
        got = tree_bytes(tmp_path / f"ds{procs}")
        # the same files, byte for byte, but for the dataset's own path in data.yaml and the report
        assert got.keys() == want.keys()
        for k in want:
            assert got[k].replace(f"ds{procs}".encode(), b"ds") == want[k], k
        assert rep.version == one.version and rep.as_dict()["boxes"] == one.as_dict()["boxes"]
    assert one.skipped["failed (failure-reason)"] > 5 and one.boxes_unknown_class > 5
    assert one.boxes_duplicate > 10 and one.boxes_clipped > 10 and one.boxes_zero_area > 0


def test_lanes_really_ran_in_other_processes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The blocks' spool segments come from the spool files of several lanes (this process is lane 0)."""
    manifest = write_manifest(tmp_path / "output.manifest", scene_lines(600))
    seen: list[str] = []
    merge = PassState.merge

    def spy(state: PassState, part: PassState) -> None:
        seen.extend(Path(p).name for p, _, _ in part.segments)
        merge(state, part)

    monkeypatch.setattr(PassState, "merge", spy)
    monkeypatch.setattr(pool, "MAIN_LANE", False)
    convert(manifest, tmp_path / "ds", 3)
    assert len(seen) > 40
    # the workers took every block, this process none (how many each took depends on when each started)
    assert set(seen) <= {".entries-1.jsonl", ".entries-2.jsonl"}


def test_lenient_reports_bad_lines_in_manifest_order(tmp_path: Path) -> None:
    lines: list[Any] = scene_lines(300, seed=3)
    for i in (20, 120, 121, 250):
        lines[i] = b'{"source-ref": "s3://bucket/x.jpg", "drone-boxes": {'  # malformed JSON
    lines[200] = {"source-ref": "../../etc/passwd", "drone-boxes": {"image_size": [{"width": 9, "height": 9}]},
                  "drone-boxes-metadata": {"type": "groundtruth/object-detection"}}
    manifest = write_manifest(tmp_path / "output.manifest", lines)
    one = convert(manifest, tmp_path / "a", 1, strict=False)
    two = convert(manifest, tmp_path / "b", 3, strict=False)
    assert two.examples == one.examples and two.skipped == one.skipped
    bad = [e.split(":")[1] for e in two.examples if "invalid line" in e]
    assert bad == ["21", "121", "122", "201", "251"]
    at = [int(e.split(":")[1]) for e in two.examples]
    assert at == sorted(at) and len(at) == len(set(at)) > 10  # every skip, in manifest order
    assert (tmp_path / "a" / "lineage.json").read_bytes() == (tmp_path / "b" / "lineage.json").read_bytes()


def test_strict_raises_the_first_error_in_manifest_order(tmp_path: Path) -> None:
    lines: list[Any] = scene_lines(400, seed=5)
    lines[150] = {"source-ref": "s3://bucket/a.jpg", "drone-boxes": {"image_size": [{"width": 10, "height": 10}],
                  "annotations": [{"class_id": 0, "left": "x", "top": 0, "width": 1, "height": 1}]},
                  "drone-boxes-metadata": {"type": "groundtruth/object-detection", "class-map": {"0": "drone"}}}
    lines[390] = b"not json"
    manifest = write_manifest(tmp_path / "output.manifest", lines)
    with pytest.raises(ManifestError) as info:
        convert(manifest, tmp_path / "ds", 3)
    assert (info.value.line, info.value.field) == (151, "drone-boxes.annotations[0].left")  # came back whole
    assert not (tmp_path / "ds").exists() and not list(tmp_path.glob(".ds*"))  # nothing half-written
    lines[150] = scene_lines(1)[0]
    manifest = write_manifest(tmp_path / "output.manifest", lines)
    with pytest.raises(ManifestError, match=r"output.manifest:391: malformed JSON"):
        convert(manifest, tmp_path / "ds", 3)


def test_an_unknown_class_is_a_label_error_from_any_lane(tmp_path: Path) -> None:
    manifest = write_manifest(tmp_path / "output.manifest", scene_lines(300, seed=1))
    with pytest.raises(LabelError, match=r"class 'tree' is not one of") as info:
        convert(manifest, tmp_path / "ds", 2, drop_unknown_classes=False)
    assert info.value.line == 6  # line 6 (i=5) is the first with the unknown class


def test_a_repeated_source_ref_falls_back_to_one_process_first_line_wins(tmp_path: Path) -> None:
    lines = scene_lines(300, seed=2)
    first = next(i for i, ln in enumerate(lines) if len(ln.get("drone-boxes", {}).get("annotations", [])) > 1)
    dup = dict(lines[first])
    dup["drone-boxes"] = {"image_size": dup["drone-boxes"]["image_size"], "annotations": []}
    lines.insert(280, dup)  # same source-ref, other labels, far away in another block
    manifest = write_manifest(tmp_path / "output.manifest", lines)
    one = convert(manifest, tmp_path / "a", 1)
    two = convert(manifest, tmp_path / "b", 3)
    assert one.skipped["duplicate source-ref"] == 1 and two.skipped == one.skipped
    assert tree_bytes(tmp_path / "a")["lineage.json"] == tree_bytes(tmp_path / "b")["lineage.json"]
    name = dataset_name(lines[first]["source-ref"])[1]
    label = next((tmp_path / "b" / "labels").rglob(name))
    assert label.read_bytes() != b""  # the first line's boxes, not the repeat's empty label


def test_a_worker_that_cannot_start_leaves_the_work_to_the_others(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    manifest = write_manifest(tmp_path / "output.manifest", scene_lines(200))
    want = convert(manifest, tmp_path / "a", 1)
    monkeypatch.setattr(pool, "WORKER_CMD", "raise SystemExit(3)")
    monkeypatch.setattr(pool, "MAIN_LANE", False)  # this process takes every block when none starts
    got = convert(manifest, tmp_path / "b", 3)
    assert got.version == want.version and got.images == want.images


def test_a_worker_that_dies_mid_block_makes_the_pass_redo_in_one_process(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    manifest = write_manifest(tmp_path / "output.manifest", scene_lines(300))
    want = convert(manifest, tmp_path / "a", 1)
    # says it is ready, reads the spec and a block, writes one stray label file, and dies
    cmd = ("import os, sys; from gtlabel.convert.pool import send_frame, recv_frame; "
           "send_frame(sys.stdout.buffer, 'ready'); spec, _ = recv_frame(sys.stdin.buffer); recv_frame(sys.stdin.buffer); "
           "open(os.path.join(spec.staging, 'labels', 'train', 'stray.txt'), 'w').close(); os._exit(9)")
    monkeypatch.setattr(pool, "WORKER_CMD", cmd)
    monkeypatch.setattr(pool, "MAIN_LANE", False)
    got = convert(manifest, tmp_path / "b", 2)
    assert got.version == want.version
    a, b = tree_bytes(tmp_path / "a"), tree_bytes(tmp_path / "b")
    assert [k for k in b if "stray" in k] == [] and b["lineage.json"] == a["lineage.json"]


def test_lanes_read_images_too(tmp_path: Path) -> None:
    """exif="normalize" (the default): every lane reads its images' headers (a rotated JPEG included)."""
    lines = []
    for i in range(120):
        rotated = i % 10 == 0
        make_image(tmp_path / "imgs" / f"{i}.jpg", (40, 30), orientation=6 if rotated else None)
        lines.append(gt_line(f"imgs/{i}.jpg", (40, 30), [("drone", 2, 2, 10, 8)]))  # the stored size
    manifest = write_manifest(tmp_path / "output.manifest", lines)
    kw = {"exif": "normalize", "copy_images": True, "image_root": str(tmp_path)}
    one = convert(manifest, tmp_path / "a", 1, **kw)
    two = convert(manifest, tmp_path / "b", 3, **kw)
    assert two.exif == one.exif and one.exif["rotated"] == 12
    assert two.version == one.version and two.images_copied == one.images_copied == 120
    a, b = tree_bytes(tmp_path / "a"), tree_bytes(tmp_path / "b")
    assert {k: v for k, v in a.items() if k.startswith(("labels/", "images/", "lineage"))} == \
        {k: v for k, v in b.items() if k.startswith(("labels/", "images/", "lineage"))}


def test_how_many_lanes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    manifest = write_manifest(tmp_path / "output.manifest", scene_lines(50))
    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: {0, 1, 2, 3}, raising=False)
    assert pool.lanes_for(manifest, 0) == 1  # small: one process
    monkeypatch.setattr(pool, "PARALLEL_MIN_BYTES", 1024)
    assert pool.lanes_for(manifest, 0) == 5  # one more than the CPUs
    assert pool.lanes_for(manifest, 1) == 1 and pool.lanes_for(manifest, 6) == 6
    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: {0}, raising=False)
    assert pool.lanes_for(manifest, 0) == 1  # one CPU


def test_the_default_number_of_processes_comes_from_the_settings(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """processes=None is GTLABEL_CONVERT_PROCESSES (1: this process only, whatever the manifest's size)."""
    manifest = write_manifest(tmp_path / "output.manifest", scene_lines(50))
    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: {0, 1, 2, 3}, raising=False)
    monkeypatch.setattr(pool, "PARALLEL_MIN_BYTES", 1024)
    used: list[int] = []

    def spy(spec: Any, ctx: Any, lanes: int, advance: Any) -> None:
        used.append(lanes)  # and no workers: None makes the conversion run in this process

    monkeypatch.setattr(pool, "parallel_pass", spy)
    convert(manifest, tmp_path / "a", None)
    monkeypatch.setenv("GTLABEL_CONVERT_PROCESSES", "1")
    convert(manifest, tmp_path / "b", None)
    assert used == [5]  # the default (0: automatic) took 5 lanes; GTLABEL_CONVERT_PROCESSES=1 none


def test_stratified_conversion_stays_in_one_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    manifest = write_manifest(tmp_path / "output.manifest", scene_lines(200))

    def boom(*_a: Any, **_k: Any) -> None:
        raise AssertionError("stratify must not use lanes (its splits are by position)")

    monkeypatch.setattr(pool, "parallel_pass", boom)
    rep = convert(manifest, tmp_path / "ds", 4, stratify=True)
    assert rep.images > 150


def test_errors_survive_the_trip_between_processes() -> None:
    e = pickle.loads(pickle.dumps(LabelError("bad box", file="m.manifest", line=7, field="a.b")))
    assert (type(e), e.reason, e.file, e.line, e.field, str(e)) == \
        (LabelError, "bad box", "m.manifest", 7, "a.b", "m.manifest:7, field 'a.b': bad box")
    s = pickle.loads(pickle.dumps(NotFound("does not exist", "s3://b/k")))
    assert (type(s), s.uri, str(s)) == (NotFound, "s3://b/k", "s3://b/k: does not exist")
    assert isinstance(s, StorageError)


_LINE = st.one_of(st.just(b""), st.just(b"  "), st.binary(max_size=40).map(lambda b: b.replace(b"\n", b"")))


@settings(max_examples=150, deadline=None)
@given(st.lists(_LINE, max_size=30), st.booleans(), st.booleans(), st.booleans(), st.integers(1, 64))
def test_blocks_split_into_exactly_the_lines_of_iter_lines(tmp_path_factory: pytest.TempPathFactory,
                                                          lines: list[bytes], bom: bool, crlf: bool,
                                                          trailing: bool, block: int) -> None:
    path = tmp_path_factory.mktemp("blocks") / "m.jsonl"
    sep = b"\r\n" if crlf else b"\n"
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + sep.join(lines) + (sep if trailing and lines else b""))
    for keep in (False, True):
        want = list(storage.iter_lines(path, keep_empty=keep))
        got = [x for first, blk in storage.iter_line_blocks(path, block)
               for x in storage.block_lines(first, blk, keep_empty=keep)]
        assert got == want
    fed: list[bytes] = []
    blocks = list(storage.iter_line_blocks(path, block, feed=fed.append))
    assert b"".join(b for _, b in blocks) == path.read_bytes()  # nothing lost or repeated
    assert b"".join(fed) == path.read_bytes()  # what a digest taken while reading sees


def test_the_old_line_reader_agrees(tmp_path: Path) -> None:
    """iter_lines is built on the blocks now; this is what it yielded before, on the awkward cases."""
    path = tmp_path / "m.jsonl"
    path.write_bytes(b"\xef\xbb\xbf{\"a\": 1}\r\n\r\n  \n{\"b\": 2}\n" + b"x" * 3_000_000 + b"\nlast")
    got = list(storage.iter_lines(path))
    assert got == [(1, b'{"a": 1}'), (4, b'{"b": 2}'), (5, b"x" * 3_000_000), (6, b"last")]
    with pytest.raises(NotFound):
        list(storage.iter_line_blocks(tmp_path / "missing.jsonl"))


@pytest.mark.parametrize("processes", [1, 3])
def test_progress_bars_know_their_totals(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, processes: int) -> None:
    """The converting bar counts the manifest's bytes (its size is known before it is read), the copy bar the
    images: no bar shows ``n/?`` (the demo's did), in one process and in lanes."""
    import io
    import re

    import rich
    from rich.console import Console

    refs = [make_image(tmp_path / "m" / "img" / f"i{i:02d}.jpg", (64, 48)) for i in range(30)]  # ~5 blocks
    lines = [gt_line(f"img/{r.name}", (64, 48), [(NAMES[i % len(NAMES)], 1, 1, 10, 10)]) for i, r in enumerate(refs)]
    manifest = write_manifest(tmp_path / "m" / "output.manifest", lines)
    buf = io.StringIO()
    monkeypatch.setattr(rich, "_console", Console(file=buf, force_terminal=True, width=120, color_system=None))
    report = convert(manifest, tmp_path / "out", processes, progress=True, copy_images=True)
    assert report.images == 30
    shown = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", buf.getvalue())
    size = os.path.getsize(manifest)
    assert re.search(rf"converting .* {size / 1000:.1f}/{size / 1000:.1f} kB", shown), shown[-1500:]
    assert re.search(r"copying images .* 30/30", shown), shown[-1500:]
    assert "/?" not in shown

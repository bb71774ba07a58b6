"""Sharded pre-annotation and ranking: the step script (gtlabel.pipeline_scripts.shard) run here as SageMaker
would run it on each instance (the /opt/ml/processing paths pointed at temporary folders; the first instance a
subprocess, as the container starts it), the shards merged, and the merge held to the single-machine result; the
merge's errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import gtlabel
from gtlabel import storage
from gtlabel.errors import InputError, NotFound
from gtlabel.model.shards import ShardRecord, merge_shards, part_name
from gtlabel.pipeline_scripts import shard as shard_step

PREFIX = "s3://gtlabel-drone/raw/2026-12-06/"


def _images(yolo_dataset: Path, root: Path, n: int = 6) -> list[Path]:
    """n images of the tiny dataset under root/<a|b>/ (two folders, as under an S3 prefix)."""
    src = sorted((yolo_dataset.parent / "images" / "test").glob("*.jpg"))[:n]
    out = []
    for i, p in enumerate(src):
        dest = root / ("a" if i % 2 else "b") / p.name
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(p.read_bytes())
        out.append(dest)
    return sorted(out)


def _shard_dirs(images: list[Path], root: Path, tmp: Path, count: int) -> list[Path]:
    """What ShardedByS3Key gives each instance: a disjoint share of the keys, relative paths kept."""
    dirs = [tmp / f"instance-{i}" / "input/images" for i in range(count)]
    for k, p in enumerate(images):
        dest = dirs[k % count] / p.relative_to(root)
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(p.read_bytes())
    return dirs


def _run_script(args: list[str]) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "GTLABEL_PROGRESS": "0",
           "PYTHONPATH": str(Path(gtlabel.__file__).resolve().parents[1])}
    return subprocess.run([sys.executable, "-m", "gtlabel.pipeline_scripts.shard", *args], env=env,
                          capture_output=True, text=True, timeout=300)


PREDICT = ["--conf", "0.0001", "--imgsz", "160", "--batch", "1", "--max-det", "5", "--device", "cpu"]


@pytest.mark.train
def test_two_shards_merge_to_the_single_machine_manifest(trained: dict[str, object], yolo_dataset: Path,
                                                         tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "all"
    images = _images(yolo_dataset, root)
    dirs = _shard_dirs(images, root, tmp_path, 2)
    shared = tmp_path / "s3-output"  # every instance's /opt/ml/processing/output/shards lands in one prefix
    date = ["--creation-date", "2026-12-06T00:00:00.000000"]
    # instance 0 learns its place from SageMaker's resource config, instance 1 is told; instance 0 is started as the
    # container starts it (python -m, a fresh interpreter), instance 1 in this process (~5 CPU-s less: torch and
    # Ultralytics imported once), with the same arguments
    cfg = tmp_path / "resourceconfig.json"
    cfg.write_text(json.dumps({"current_host": "algo-1", "hosts": ["algo-1", "algo-2"]}))
    monkeypatch.setenv("GTLABEL_PROGRESS", "0")
    for i, d in enumerate(dirs):
        where = ["--resource-config", str(cfg)] if i == 0 else ["--shard", "1", "--shards", "2"]
        args = ["preannotate", "--images", str(d), "--model", str(trained["weights"]), "--output", str(shared),
                "--source-prefix", PREFIX, "--classes", "drone,vehicle,person", *where, *PREDICT, *date]
        if i == 0:
            proc = _run_script(args)
            assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
            stdout = proc.stdout
        else:
            capsys.readouterr()
            assert shard_step.main(args) == 0
            stdout = capsys.readouterr().out
        assert f"shard {i} of 2" in stdout
    assert sorted(p.name for p in shared.iterdir()) == [
        part_name(0, 2, "json"), part_name(0, 2, "manifest"), part_name(1, 2, "json"), part_name(1, 2, "manifest")]
    assert not any(p.name.startswith(".gtlabel-part") for d in dirs for p in d.iterdir())  # no leftovers

    merged = tmp_path / "merged.manifest"
    s = merge_shards(shared, merged, shards=2)
    assert (s.task, s.shards, s.images, s.lines, s.duplicates) == ("preannotate", 2, 6, 6, 0)
    lines = [json.loads(x) for x in merged.read_text().splitlines()]
    refs = [x["source-ref"] for x in lines]
    assert refs == sorted(PREFIX + p.relative_to(root).as_posix() for p in images)
    assert s.boxes == sum(len(x["prelabels"]["annotations"]) for x in lines) > 0

    # one machine over all the images gives the same bytes (same model, batch 1, same creation date)
    single = tmp_path / "single"
    rc = shard_step.main(["preannotate", "--images", str(root), "--model", str(trained["weights"]), "--output",
                          str(single), "--source-prefix", PREFIX, "--classes", "drone,vehicle,person",
                          "--shard", "0", "--shards", "1", *PREDICT, *date])
    assert rc == 0
    assert (single / part_name(0, 1, "manifest")).read_bytes() == merged.read_bytes()
    merge_shards(shared, tmp_path / "again.manifest")
    assert (tmp_path / "again.manifest").read_bytes() == merged.read_bytes()  # a rerun: the same bytes


@pytest.mark.train
def test_ranked_shards_merge_to_the_global_top_k(trained: dict[str, object], yolo_dataset: Path,
                                                 tmp_path: Path) -> None:
    root = tmp_path / "all"
    images = _images(yolo_dataset, root)
    dirs = _shard_dirs(images, root, tmp_path, 3)
    dirs[2].joinpath("notes.txt").write_text("not an image")  # a shard can end up with no images at all
    for p in list(dirs[2].rglob("*.jpg")):
        p.unlink()
    out = tmp_path / "out"
    rank = ["--top-k", "3", "--strategy", "entropy", "--prelabels", "prelabels", "--prelabel-conf", "0.0001"]
    for i, d in enumerate(dirs):
        assert shard_step.main(["rank", "--images", str(d), "--model", str(trained["weights"]), "--output",
                                str(out), "--source-prefix", PREFIX, "--shard", str(i), "--shards", "3",
                                *PREDICT, *rank]) == 0
    empty = ShardRecord.loads((out / part_name(2, 3, "json")).read_bytes(), file="x")
    assert (empty.images, empty.lines) == (0, 0) and (out / part_name(2, 3, "manifest")).read_bytes() == b""
    merged_dir = tmp_path / "merged"
    assert shard_step.main(["merge", "--input", str(out), "--output", str(merged_dir), "--shards", "3"]) == 0
    lines = [json.loads(x) for x in (merged_dir / "merged.manifest").read_text().splitlines()]

    kept = tmp_path / "kept"  # the images the three shards held (shard 2's were taken away)
    for k, p in enumerate(images):
        if k % 3 != 2:
            (kept / p.relative_to(root)).parent.mkdir(parents=True, exist_ok=True)
            (kept / p.relative_to(root)).write_bytes(p.read_bytes())
    single = tmp_path / "single"
    assert shard_step.main(["rank", "--images", str(kept), "--model", str(trained["weights"]), "--output",
                            str(single), "--source-prefix", PREFIX, "--shard", "0", "--shards", "1",
                            *PREDICT, *rank]) == 0
    ref = [json.loads(x) for x in (single / part_name(0, 1, "manifest")).read_text().splitlines()]

    def key(x: dict[str, Any]) -> tuple[str, float, int]:
        return x["source-ref"], x["active-learning"]["score"], x["active-learning"]["rank"]

    assert [key(x) for x in lines] == [key(x) for x in ref]  # the global top 3, ranked as on one machine
    assert [x["prelabels"] for x in lines] == [x["prelabels"] for x in ref]
    assert [x["active-learning"]["rank"] for x in lines] == [1, 2, 3]


@pytest.mark.train
def test_a_shard_passes_the_slice_options_through(trained: dict[str, object], yolo_dataset: Path,
                                                   tmp_path: Path) -> None:
    from gtlabel.model.preannotate import preannotate

    root = tmp_path / "all"
    _images(yolo_dataset, root, n=2)
    sliced = ["--slice", "96x64", "--overlap", "0.25", "--merge", "nmm", "--match", "iou", "--match-threshold", "0.6"]
    date = "2026-12-06T00:00:00.000000"
    assert shard_step.main(["preannotate", "--images", str(root), "--model", str(trained["weights"]), "--output",
                            str(tmp_path / "out"), "--source-prefix", PREFIX, "--creation-date", date,
                            *PREDICT, *sliced]) == 0
    got = [json.loads(x) for x in (tmp_path / "out" / part_name(0, 1, "manifest")).read_text().splitlines()]
    ref = tmp_path / "all" / "ref.manifest"  # the library itself, same settings
    preannotate(str(trained["weights"]), root, ref, conf=0.0001, imgsz=160, batch=1, max_det=5, creation_date=date,
                slice=(96, 64), overlap=0.25, merge="nmm", match="iou", match_threshold=0.6)
    want = [json.loads(x) for x in ref.read_text().splitlines()]
    assert [g["prelabels"] for g in got] == [w["prelabels"] for w in want]
    assert [g["source-ref"] for g in got] == [PREFIX + w["source-ref"] for w in want]
    whole = tmp_path / "whole"
    assert shard_step.main(["preannotate", "--images", str(root), "--model", str(trained["weights"]), "--output",
                            str(whole), "--source-prefix", PREFIX, "--creation-date", date, *PREDICT]) == 0
    assert (whole / part_name(0, 1, "manifest")).read_bytes() != (tmp_path / "out" / part_name(0, 1, "manifest")
                                                                   ).read_bytes()  # slicing changed the boxes
    assert shard_step.main(["preannotate", "--images", str(root), "--model", str(trained["weights"]), "--output",
                            str(whole), "--source-prefix", PREFIX, "--slice", "big", *PREDICT]) == 1


# ----------------------------------------------------------------------------------------------- merge only
def _part(folder: Path, i: int, n: int, refs: list[str], task: str = "preannotate", **kw: object) -> None:
    rec = ShardRecord(task=task, shard=i, shards=n, images=len(refs), lines=len(refs), **kw)  # type: ignore[arg-type]
    lines = []
    for r in refs:
        line: dict[str, object] = {"source-ref": r}
        if task == "rank":
            line["active-learning"] = {"score": float(r.rsplit("-", 1)[1].split(".")[0]) / 10, "rank": 0,
                                       "strategy": "entropy", "detections": 1}
        lines.append(json.dumps(line))
    (folder / rec.manifest_name).write_text("".join(x + "\n" for x in lines))
    (folder / rec.record_name).write_bytes(rec.dumps())


def test_merge_sorts_drops_duplicates_and_reranks(tmp_path: Path) -> None:
    pre = tmp_path / "pre"
    pre.mkdir()
    _part(pre, 0, 2, [f"{PREFIX}a-1.jpg", f"{PREFIX}c-3.jpg"])
    _part(pre, 1, 2, [f"{PREFIX}b-2.jpg", f"{PREFIX}c-3.jpg", f"{PREFIX}d-4.jpg"])
    s = merge_shards(pre, tmp_path / "pre.manifest")
    refs = [json.loads(x)["source-ref"] for x in (tmp_path / "pre.manifest").read_text().splitlines()]
    assert refs == [f"{PREFIX}{n}" for n in ("a-1.jpg", "b-2.jpg", "c-3.jpg", "d-4.jpg")]
    assert (s.lines, s.duplicates, s.images) == (4, 1, 5)

    ranked = tmp_path / "rank"
    ranked.mkdir()
    kw = {"score_key": "active-learning", "top_k": 3}
    _part(ranked, 0, 2, [f"{PREFIX}x-9.jpg", f"{PREFIX}b-5.jpg"], task="rank", **kw)
    _part(ranked, 1, 2, [f"{PREFIX}a-5.jpg", f"{PREFIX}y-1.jpg"], task="rank", **kw)
    s = merge_shards(ranked, tmp_path / "rank.manifest")
    got = [json.loads(x) for x in (tmp_path / "rank.manifest").read_text().splitlines()]
    assert [(g["source-ref"].rsplit("/", 1)[1], g["active-learning"]["rank"]) for g in got] == [
        ("x-9.jpg", 1), ("a-5.jpg", 2), ("b-5.jpg", 3)]  # equal scores: source-ref order
    assert s.top == [(f"{PREFIX}x-9.jpg", 0.9), (f"{PREFIX}a-5.jpg", 0.5), (f"{PREFIX}b-5.jpg", 0.5)]


def test_a_missing_shard_is_named_and_nothing_is_written(tmp_path: Path) -> None:
    parts = tmp_path / "parts"
    parts.mkdir()
    _part(parts, 0, 3, [f"{PREFIX}a-1.jpg"])
    _part(parts, 2, 3, [f"{PREFIX}b-1.jpg"])
    out = tmp_path / "out.manifest"
    with pytest.raises(NotFound, match=r"1 of 3 shard\(s\) missing: shard 1 \(part-00001-of-00003.json\)"):
        merge_shards(parts, out)
    assert not out.exists()
    _part(parts, 1, 3, [f"{PREFIX}c-1.jpg"])
    with pytest.raises(InputError, match="expected 4 shard"):
        merge_shards(parts, out, shards=4)
    (parts / part_name(1, 3, "manifest")).unlink()
    with pytest.raises(NotFound, match="not its manifest"):
        merge_shards(parts, out)
    (tmp_path / "empty").mkdir()
    with pytest.raises(NotFound, match="no shard outputs"):
        merge_shards(tmp_path / "empty", out)
    with pytest.raises(NotFound, match="does not exist"):
        merge_shards(tmp_path / "absent", out)
    assert not out.exists()
    # the script says so and fails the step
    assert shard_step.main(["merge", "--input", str(parts), "--output", str(tmp_path / "m")]) == 1


def test_a_part_out_of_order_names_file_and_line(tmp_path: Path) -> None:
    _part(tmp_path, 0, 1, [f"{PREFIX}b-1.jpg", f"{PREFIX}a-1.jpg"])
    with pytest.raises(InputError, match=r"part-00000-of-00001.manifest:2: .*source-ref order"):
        merge_shards(tmp_path, tmp_path / "out.manifest")


def test_merge_reads_parts_on_s3(bucket: str, tmp_path: Path) -> None:
    _part(tmp_path, 0, 2, [f"{PREFIX}a-1.jpg"])
    _part(tmp_path, 1, 2, [f"{PREFIX}b-1.jpg"])
    for p in tmp_path.iterdir():
        storage.copy(str(p), f"s3://{bucket}/job/shards/{p.name}")
    storage.copy(str(tmp_path / part_name(0, 2, "json")), f"s3://{bucket}/job/shards-old/part-00000-of-00003.json")
    s = merge_shards(f"s3://{bucket}/job/shards", f"s3://{bucket}/out/merged.manifest", shards=2)  # a folder
    assert s.lines == 2
    text = storage.read_text(f"s3://{bucket}/out/merged.manifest")
    assert [json.loads(x)["source-ref"] for x in text.splitlines()] == [f"{PREFIX}a-1.jpg", f"{PREFIX}b-1.jpg"]


def test_shard_identity(tmp_path: Path) -> None:
    cfg = tmp_path / "resourceconfig.json"
    cfg.write_text(json.dumps({"current_host": "algo-3", "hosts": ["algo-1", "algo-2", "algo-3"]}))
    assert shard_step.shard_of(cfg) == (2, 3)
    assert shard_step.shard_of(tmp_path / "absent.json") == (0, 1)
    assert shard_step.shard_of(cfg, 1, 4) == (1, 4)
    cfg.write_text(json.dumps({"current_host": "algo-9", "hosts": ["algo-1"]}))
    with pytest.raises(InputError, match=r"resourceconfig\.json"):
        shard_step.shard_of(cfg)

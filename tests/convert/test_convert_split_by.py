"""Splits by sequence (``split_by``): every image of a group (the frames of one video, a flight, a folder) in one
split, the ratios met by whole groups, deterministic and independent of the manifest's order."""

from __future__ import annotations

import random
from collections import defaultdict
from pathlib import Path

import orjson
import pytest
from convert_helpers import gt_line, write_manifest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from gtlabel.cli import Exit, app
from gtlabel.convert import convert_ground_truth_to_yolo
from gtlabel.convert.splits import SplitBy, assign_groups, normalize_splits
from gtlabel.errors import ConfigError

CLASSES = ["drone", "vehicle", "person", "building"]
FAST = {"copy_images": False, "exif": "ignore", "fingerprint_sources": False, "progress": False}


def frames(videos: dict[str, int], *, key: str = "video") -> list[dict[str, object]]:
    """Output lines of video frames: ``videos`` maps a video to its number of frames."""
    lines = []
    for v, n in videos.items():
        for f in range(n):
            lines.append(gt_line(f"frames/{v}/{f:06d}.jpg", (64, 48), [("drone", 1, 1, 10, 10)],
                                 **{key: f"s3://raw/{v}.mp4", "frame": f, "timestamp_s": f / 2}))
    return lines


def splits_of(ds: Path) -> dict[str, str]:
    return {e["source_ref"]: e["split"] for e in orjson.loads((ds / "lineage.json").read_bytes())["images"]}


def group_splits(ds: Path) -> dict[str, set[str]]:
    out: dict[str, set[str]] = defaultdict(set)
    for ref, split in splits_of(ds).items():
        out[ref.split("/")[1]].add(split)
    return out


# ------------------------------------------------------------------------------------------------- pure
def test_split_by_parses_a_key_or_a_prefix_depth() -> None:
    assert SplitBy.parse("video") == SplitBy(key="video")
    assert SplitBy.parse("prefix:2") == SplitBy(depth=2) and str(SplitBy.parse("prefix:2")) == "prefix:2"
    for bad in ("", "prefix:0", "prefix:x", "source-ref"):
        with pytest.raises(ConfigError, match="split_by"):
            SplitBy.parse(bad)


def test_group_of_reads_the_key_or_the_folders() -> None:
    by_video = SplitBy(key="video")
    assert by_video.group_of("a.jpg", {"video": "s3://b/f.mp4"}) == "s3://b/f.mp4"
    assert by_video.group_of("a.jpg", {"video": None}) is None and by_video.group_of("a.jpg", {}) is None
    # a non-string value is one group whatever its key order
    assert SplitBy(key="flight").group_of("a", {"flight": {"a": 1, "b": 2}}) == \
        SplitBy(key="flight").group_of("a", {"flight": {"b": 2, "a": 1}})
    assert SplitBy(depth=1).group_of("s3://bkt/flights/f1/x.jpg", {}) == "s3://bkt/flights"
    assert SplitBy(depth=2).group_of("s3://bkt/flights/f1/x.jpg", {}) == "s3://bkt/flights/f1"
    assert SplitBy(depth=1).group_of("f1/sub/x.jpg", {}) == "f1"
    assert SplitBy(depth=5).group_of("f1/x.jpg", {}) == "f1"  # fewer folders: all it has


groups_st = st.dictionaries(st.text("abcdefgh", min_size=1, max_size=6), st.integers(1, 40), min_size=1,
                            max_size=40)
ratios_st = st.sampled_from([(0.8, 0.1, 0.1), (0.7, 0.3, 0.0), (0.5, 0.25, 0.25), (1.0, 0.0, 0.0)])


@given(groups_st, ratios_st, st.integers(0, 3), st.randoms(use_true_random=False))
def test_assign_groups_meets_the_ratios_by_whole_groups(sizes: dict[str, int], ratios: tuple[float, float, float],
                                                        seed: int, rnd: random.Random) -> None:
    ratios = normalize_splits(ratios)
    got = assign_groups(sizes, ratios, seed)
    assert set(got) == set(sizes)  # each group has exactly one split
    # the manifest's order does not matter: the same groups in another order, the same splits
    items = list(sizes.items())
    rnd.shuffle(items)
    assert assign_groups(dict(items), ratios, seed) == got
    total, biggest = sum(sizes.values()), max(sizes.values())
    per = [sum(n for g, n in sizes.items() if got[g] == i) for i in range(3)]
    for i in range(3):
        if ratios[i] == 0:
            assert per[i] == 0
    moved = ratios[1] > 0 and sum(1 for i in got.values() if i == 1) == 1 and per[1] > ratios[1] * total
    if not moved:  # (the val fix-up may move one small group from train)
        for i in range(3):
            assert per[i] < ratios[i] * total + biggest
    if ratios[1] > 0 and len(sizes) >= 2:
        assert per[1] > 0  # Ultralytics needs val


# --------------------------------------------------------------------------------------------- conversion
def test_frames_of_one_video_never_span_splits(tmp_path: Path) -> None:
    videos = {f"flight{i}": 3 + (i * 7) % 11 for i in range(12)}
    m = write_manifest(tmp_path / "m.manifest", frames(videos))
    rep = convert_ground_truth_to_yolo(m, tmp_path / "ds", CLASSES, split_by="video", **FAST)
    assert all(len(s) == 1 for s in group_splits(tmp_path / "ds").values())
    assert sum(rep.groups.values()) == 12 and rep.groups["val"] >= 1 and rep.groups["test"] >= 1
    assert sum(rep.splits.values()) == sum(videos.values())
    doc = orjson.loads((tmp_path / "ds/conversion-report.json").read_bytes())
    assert doc["split_by"] == {"by": "video", "groups": rep.groups, "ungrouped_images": 0}
    assert "groups by video: train" in rep.summary()
    lineage = orjson.loads((tmp_path / "ds/lineage.json").read_bytes())
    assert lineage["settings"]["split_by"] == "video"
    # per image (no split_by) the same frames do span splits: the leak split_by closes
    rep2 = convert_ground_truth_to_yolo(m, tmp_path / "per-image", CLASSES, **FAST)
    assert any(len(s) > 1 for s in group_splits(tmp_path / "per-image").values())
    assert rep2.version != rep.version and "split_by" not in rep2.as_dict()


def test_the_manifest_order_and_a_rerun_change_nothing(tmp_path: Path) -> None:
    lines = frames({f"v{i}": 2 + i % 4 for i in range(9)})
    m1 = write_manifest(tmp_path / "m1.manifest", lines)
    random.Random(3).shuffle(lines)
    m2 = write_manifest(tmp_path / "m2.manifest", lines)
    convert_ground_truth_to_yolo(m1, tmp_path / "a", CLASSES, split_by="video", **FAST)
    convert_ground_truth_to_yolo(m2, tmp_path / "b", CLASSES, split_by="video", **FAST)
    assert splits_of(tmp_path / "a") == splits_of(tmp_path / "b")
    again = convert_ground_truth_to_yolo(m1, tmp_path / "a", CLASSES, split_by="video", **FAST)
    assert again.noop
    other_seed = convert_ground_truth_to_yolo(m1, tmp_path / "c", CLASSES, split_by="video", seed=5, **FAST)
    assert all(len(s) == 1 for s in group_splits(tmp_path / "c").values()) and other_seed.version != again.version


@settings(max_examples=8)
@given(st.lists(st.integers(1, 6), min_size=1, max_size=8), st.integers(0, 5))
def test_a_group_never_spans_splits(tmp_path_factory: pytest.TempPathFactory, sizes: list[int], seed: int) -> None:
    tmp = tmp_path_factory.mktemp("g")
    m = write_manifest(tmp / "m.manifest", frames({f"v{i}": n for i, n in enumerate(sizes)}))
    rep = convert_ground_truth_to_yolo(m, tmp / "ds", CLASSES, split_by="video", seed=seed, **FAST)
    assert all(len(s) == 1 for s in group_splits(tmp / "ds").values())
    assert sum(rep.groups.values()) == len(sizes)


def test_lines_without_the_key_are_groups_of_their_own(tmp_path: Path) -> None:
    lines = frames({"v1": 4, "v2": 4, "v3": 4})
    lines += [gt_line(f"stills/s{i}.jpg", (64, 48)) for i in range(5)]
    m = write_manifest(tmp_path / "m.manifest", lines)
    rep = convert_ground_truth_to_yolo(m, tmp_path / "ds", CLASSES, split_by="video", **FAST)
    assert rep.ungrouped == 5 and rep.images == 17
    assert any("5 image(s) have no video" in w for w in rep.warnings)
    assert all(len(s) == 1 for g, s in group_splits(tmp_path / "ds").items() if g != "s0.jpg")
    # a key no line has is a typo, not a per-image split
    with pytest.raises(ConfigError, match="vidoe"):
        convert_ground_truth_to_yolo(m, tmp_path / "ds2", CLASSES, split_by="vidoe", **FAST)
    with pytest.raises(ConfigError, match="stratify"):
        convert_ground_truth_to_yolo(m, tmp_path / "ds3", CLASSES, split_by="video", stratify=True, **FAST)


def test_split_by_a_folder_depth_and_in_parallel_lanes(tmp_path: Path) -> None:
    m = write_manifest(tmp_path / "m.manifest", frames({f"v{i}": 5 for i in range(6)}, key="flight"))
    rep = convert_ground_truth_to_yolo(m, tmp_path / "one", CLASSES, split_by="prefix:2", processes=1, **FAST)
    assert sum(rep.groups.values()) == 6 and all(len(s) == 1 for s in group_splits(tmp_path / "one").values())
    by_key = convert_ground_truth_to_yolo(m, tmp_path / "key", CLASSES, split_by="flight", **FAST)
    assert sum(by_key.groups.values()) == 6
    two = convert_ground_truth_to_yolo(m, tmp_path / "two", CLASSES, split_by="prefix:2", processes=2, **FAST)
    assert two.version == rep.version and splits_of(tmp_path / "two") == splits_of(tmp_path / "one")


def test_cli_split_by(tmp_path: Path) -> None:
    m = write_manifest(tmp_path / "m.manifest", frames({f"v{i}": 3 for i in range(5)}))
    res = CliRunner().invoke(app, ["convert", m, str(tmp_path / "ds"), "--classes", ",".join(CLASSES),
                                   "--split-by", "video", "--no-copy-images", "--exif", "ignore",
                                   "--no-fingerprint-sources", "--no-progress"])
    assert res.exit_code == Exit.OK, res.output
    assert "groups by video:" in res.output
    res = CliRunner().invoke(app, ["convert", m, str(tmp_path / "ds2"), "--classes", ",".join(CLASSES),
                                   "--split-by", "prefix:0", "--no-progress"])
    assert res.exit_code == Exit.INVALID and "prefix:N" in res.output

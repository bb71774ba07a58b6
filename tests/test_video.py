"""gtlabel.video and build_input_manifest(fps=): frames from videos made here with PyAV (tiny, a few frames)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import orjson
import pytest
from PIL import Image
from typer.testing import CliRunner

from gtlabel import storage
from gtlabel.cli import Exit, app
from gtlabel.errors import ConfigError, InputError
from gtlabel.manifests import build_input_manifest
from gtlabel.video import RangeReader, extract_frames, frame_folder

av = pytest.importorskip("av")
np = pytest.importorskip("numpy")


def make_video(path: Path, n: int = 30, *, rate: int = 10, size: tuple[int, int] = (64, 48), still: int = 0,
               fmt: str = "mp4", faststart: bool = False) -> Path:
    """A video of ``n`` frames of seeded noise (each frame a different scene); the first ``still`` frames are one
    and the same (a hovering drone)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    opts = {"movflags": "faststart"} if faststart else {}
    w, h = size
    with av.open(str(path), "w", format=fmt, options=opts) as c:
        s = c.add_stream("mpeg4", rate=rate)
        s.width, s.height, s.pix_fmt = w, h, "yuv420p"
        for i in range(n):
            rng = np.random.default_rng(0 if i < still else i + 1000)
            a = rng.integers(0, 255, (h // 8, w // 8, 3), dtype=np.uint8).repeat(8, 0).repeat(8, 1)
            for pkt in s.encode(av.VideoFrame.from_ndarray(a, format="rgb24")):
                c.mux(pkt)
        for pkt in s.encode():
            c.mux(pkt)
    return path


def lines_of(manifest: Path | str) -> list[dict[str, Any]]:
    return [orjson.loads(x) for x in storage.read_bytes(str(manifest)).splitlines()]


def test_frames_at_fps_are_written_beside_the_manifest(tmp_path: Path) -> None:
    vid = make_video(tmp_path / "raw" / "flight 1.mp4", 30, rate=10)
    dest = tmp_path / "job" / "in.manifest"
    s = build_input_manifest(vid, dest, fps=2, progress=False)
    lines = lines_of(dest)
    assert s.written == len(lines) == 6 and s.videos == 1 and s.seen == 6
    assert [ln["frame"] for ln in lines] == [0, 5, 10, 15, 20, 25]
    assert [ln["timestamp_s"] for ln in lines] == [0.0, 0.5, 1.0, 1.5, 2.0, 2.5]
    assert {ln["video"] for ln in lines} == {str(vid)}
    folder = Path(frame_folder(str(dest.parent / "frames"), str(vid)))
    assert folder.parent == tmp_path / "job" / "frames" and folder.name.startswith("flight_1-")
    for ln in lines:  # relative source-refs under frames/, real JPEGs of the video's size
        assert ln["source-ref"].startswith("frames/flight_1-") and list(ln)[:1] == ["source-ref"]
        with Image.open(dest.parent / ln["source-ref"]) as img:
            assert img.format == "JPEG" and img.size == (64, 48)
    assert sorted(p.name for p in folder.iterdir()) == [f"{f:08d}.jpg" for f in (0, 5, 10, 15, 20, 25)]
    # a rerun: the same manifest bytes and the same frame files
    before = dest.read_bytes(), {p.name: p.read_bytes() for p in folder.iterdir()}
    build_input_manifest(vid, dest, fps=2, progress=False)
    assert (dest.read_bytes(), {p.name: p.read_bytes() for p in folder.iterdir()}) == before
    # fps above the video's rate: every frame
    assert build_input_manifest(vid, tmp_path / "job" / "all.manifest", fps=50, progress=False).written == 30


def test_a_hovering_drone_gives_one_frame(tmp_path: Path) -> None:
    vid = make_video(tmp_path / "hover.mkv", 40, rate=10, still=20, fmt="matroska")
    dest = tmp_path / "in.manifest"
    s = build_input_manifest(vid, dest, fps=5, dedupe_distance=8, progress=False)
    frames = [ln["frame"] for ln in lines_of(dest)]
    assert frames == [0, 20, 22, 24, 26, 28, 30, 32, 34, 36, 38]  # frames 2..18 are the still scene again
    assert s.skipped["near-duplicate"] == 9 and len(s.near_duplicates) == 9 and s.seen == 20
    dropped, kept = s.near_duplicates[0]
    assert dropped.endswith("00000002.jpg") and kept.endswith("00000000.jpg")
    assert not Path(dropped).exists()  # not written at all


def test_a_truncated_video_is_an_error_naming_it_and_leaves_nothing(tmp_path: Path) -> None:
    good = make_video(tmp_path / "v.mp4", 30, faststart=True)
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])  # the index is whole, half the frames are not
    dest = tmp_path / "out" / "in.manifest"
    with pytest.raises(InputError, match=r"cut\.mp4.*truncated"):
        build_input_manifest(cut, dest, fps=10, progress=False)
    assert not dest.exists() and not any((tmp_path / "out").rglob("*.jpg"))
    # an index cut off (the usual MP4 layout: the index last) or no video at all
    tail = make_video(tmp_path / "t.mp4", 10)
    (tmp_path / "noindex.mp4").write_bytes(tail.read_bytes()[:-200])
    (tmp_path / "garbage.mov").write_bytes(b"\x00not a video" * 100)
    for bad in ("noindex.mp4", "garbage.mov"):
        with pytest.raises(InputError, match=rf"{bad}.*not a readable video"):
            build_input_manifest(tmp_path / bad, dest, fps=1, progress=False)
    assert not dest.exists()


def test_a_folder_of_videos_skips_the_bad_one(tmp_path: Path) -> None:
    make_video(tmp_path / "raw" / "a.mp4", 10)
    make_video(tmp_path / "raw" / "b" / "c.mkv", 10, fmt="matroska")
    (tmp_path / "raw" / "broken.mp4").write_bytes(b"junk" * 50)
    (tmp_path / "raw" / "notes.txt").write_text("flight log")
    dest = tmp_path / "in.manifest"
    s = build_input_manifest(tmp_path / "raw", dest, fps=1, progress=False)
    videos = {Path(ln["video"]).name for ln in lines_of(dest)}
    assert videos == {"a.mp4", "c.mkv"} and s.videos == 2 and s.written == 2
    assert s.skipped == {"not a readable video": 1, "not a video": 1}
    assert any("broken.mp4" in e and "not a readable video" in e for e in s.examples)
    assert not any(p.parent.name.startswith("broken") for p in (tmp_path / "frames").rglob("*.jpg"))


def test_options_are_checked(tmp_path: Path) -> None:
    vid = make_video(tmp_path / "v.mp4", 5)
    with pytest.raises(ConfigError, match="fps"):
        build_input_manifest(vid, tmp_path / "m.manifest")  # a video without fps
    with pytest.raises(ConfigError, match="sample"):
        build_input_manifest(vid, tmp_path / "m.manifest", fps=1, sample=3)
    with pytest.raises(ConfigError, match="fps"):
        build_input_manifest(vid, tmp_path / "m.manifest", fps=0)
    (tmp_path / "old.manifest").write_text('{"source-ref": "a.jpg"}\n')
    with pytest.raises(ConfigError, match="not a manifest"):
        build_input_manifest(tmp_path / "old.manifest", tmp_path / "m.manifest", fps=1)
    with pytest.raises(ConfigError, match="inside the manifest's folder"):
        build_input_manifest(vid, tmp_path / "sub" / "m.manifest", fps=1, frames_dir=str(tmp_path / "elsewhere"))


def test_a_video_on_s3_is_read_by_ranges(s3: Any, bucket: str, tmp_path: Path) -> None:
    vid = make_video(tmp_path / "v.mp4", 20)  # its index is at the end: the reader seeks there
    s3.put_object(Bucket=bucket, Key="raw/flights/v.mp4", Body=vid.read_bytes())
    s3.put_object(Bucket=bucket, Key="raw/flights/readme.txt", Body=b"x")
    reader = RangeReader(f"s3://{bucket}/raw/flights/v.mp4", block=256)
    reader.seek(-10, io.SEEK_END)
    assert reader.read() == vid.read_bytes()[-10:] and reader.read() == b""
    reader.seek(100)
    got = b""
    while len(got) < 300:  # a raw reader may return less than asked (here: the rest of the first block)
        got += reader.read(300 - len(got))
    assert got == vid.read_bytes()[100:400]
    reader.seek(0)
    reader.read(10)
    reader.seek(-10, io.SEEK_END)
    reader.read(10)
    before = reader.requests
    for _ in range(3):  # the start and the end in turns: both blocks stay, no GET more
        reader.seek(0)
        assert reader.read(10) == vid.read_bytes()[:10]
        reader.seek(-10, io.SEEK_END)
        assert reader.read(10) == vid.read_bytes()[-10:]
    assert reader.requests == before
    dest = f"s3://{bucket}/jobs/j1/in.manifest"
    s = build_input_manifest(f"s3://{bucket}/raw/flights/", dest, fps=5, progress=False)
    lines = lines_of(dest)
    assert s.written == 10 and s.skipped == {"not a video": 1}
    assert all(ln["source-ref"].startswith(f"s3://{bucket}/jobs/j1/frames/v-") for ln in lines)
    assert {ln["video"] for ln in lines} == {f"s3://{bucket}/raw/flights/v.mp4"}
    with Image.open(io.BytesIO(storage.read_bytes(lines[3]["source-ref"]))) as img:
        assert img.size == (64, 48)


def test_extract_frames_removes_its_frames_when_stopped(tmp_path: Path) -> None:
    vid = make_video(tmp_path / "v.mp4", 20)
    gen = extract_frames(str(vid), str(tmp_path / "frames"), fps=10, workers=1)
    first = next(gen)
    assert Path(first.uri).exists()
    gen.close()  # the consumer gave up (e.g. a later failure): nothing of this video stays
    assert not any((tmp_path / "frames").rglob("*.jpg"))


def test_cli_fps(tmp_path: Path) -> None:
    vid = make_video(tmp_path / "v.mp4", 20)
    res = CliRunner().invoke(app, ["manifest", "build", str(vid), str(tmp_path / "m.manifest"), "--fps", "2",
                                   "--json"])
    assert res.exit_code == Exit.OK, res.output
    assert orjson.loads(res.output)["written"] == 4 and orjson.loads(res.output)["videos"] == 1
    (tmp_path / "bad.mp4").write_bytes(b"nope" * 10)
    res = CliRunner().invoke(app, ["manifest", "build", str(tmp_path / "bad.mp4"), str(tmp_path / "m2.manifest"),
                                   "--fps", "2"])
    assert res.exit_code == Exit.INVALID and "bad.mp4" in res.output


def test_frames_through_a_labeling_job_keep_their_video_for_split_by(local_service: Any, tmp_path: Path) -> None:
    """Video -> frames on S3 -> a labeling job on the local service -> the output manifest still says which video
    each frame came from (Ground Truth passes extra keys through) -> split_by="video" keeps each video whole."""
    from gtlabel.convert import convert_ground_truth_to_yolo
    from gtlabel.jobs.build import prepare_job
    from gtlabel.jobs.spec import JobSpec, PrivateWorkforce
    from gtlabel.local.workforce import simulate

    s3 = local_service.client("s3")
    s3.create_bucket(Bucket="flights")
    for i in range(4):
        vid = make_video(tmp_path / f"flight{i}.mp4", 10, rate=10)
        s3.upload_file(str(vid), "flights", f"raw/flight{i}.mp4")
    s = build_input_manifest("s3://flights/raw/", "s3://flights/jobs/j1/in.manifest", fps=3, progress=False)
    assert s.videos == 4 and s.written == 12
    spec = JobSpec(name="video-frames", input_manifest="s3://flights/jobs/j1/in.manifest",
                   output_path="s3://flights/jobs/j1/out/", labels=["drone", "vehicle"], workers_per_object=1,
                   workforce=PrivateWorkforce(workteam=local_service.default_workteam_arn))
    sm = local_service.client("sagemaker")
    sm.create_labeling_job(**prepare_job(spec, sm_client=sm).request)
    local_service.add_worker(local_service.default_team, "ann", "pw-ann-123")
    res = simulate(local_service.portal_url, "video-frames", [("ann", "pw-ann-123")], seed=1, idle_timeout_s=20)
    assert res.submitted == 12
    out = "s3://flights/jobs/j1/out/video-frames/manifests/output/output.manifest"
    for _ in range(200):
        if sm.describe_labeling_job(LabelingJobName="video-frames")["LabelingJobStatus"] == "Completed":
            break
        local_service.engine.tick()
    lines = lines_of(out)
    assert len(lines) == 12 and all({"video", "frame", "timestamp_s"} <= set(ln) for ln in lines)
    rep = convert_ground_truth_to_yolo(out, tmp_path / "ds", ["drone", "vehicle"], split_by="video",
                                       splits=(0.5, 0.25, 0.25), progress=False)
    assert rep.images == 12 and rep.groups == {"train": 2, "val": 1, "test": 1}
    lineage = orjson.loads((tmp_path / "ds" / "lineage.json").read_bytes())
    video_of = {ln["source-ref"]: ln["video"] for ln in lines}
    splits: dict[str, set[str]] = {}
    for e in lineage["images"]:
        splits.setdefault(video_of[e["source_ref"]], set()).add(e["split"])
    assert len(splits) == 4 and all(len(v) == 1 for v in splits.values())


def test_frames_take_their_geo_from_the_dji_flight_record(tmp_path: Path) -> None:
    vid = make_video(tmp_path / "raw" / "DJI_0001.MP4", 30, rate=10)
    cues = "".join(f"{i + 1}\n00:00:0{i},000 --> 00:00:0{i + 1},000\n<font size=\"28\">[latitude: 47.{i}] "
                   f"[longitude: 8.5] [rel_alt: {50 + i}.0 abs_alt: 500.0] [gb_pitch: -90.0]</font>\n\n"
                   for i in range(3))
    (tmp_path / "raw" / "DJI_0001.SRT").write_text(cues)
    other = make_video(tmp_path / "raw" / "other.mp4", 10, rate=10)
    dest = tmp_path / "job" / "in.manifest"
    s = build_input_manifest(tmp_path / "raw", dest, fps=2, geo=True, progress=False)
    lines = lines_of(dest)
    by_video = {v: [ln for ln in lines if ln["video"] == v] for v in (str(vid), str(other))}
    # each frame gets the cue covering its timestamp: 0.0 and 0.5 s -> cue 1, 1.0 and 1.5 -> cue 2, ...
    assert [(ln["timestamp_s"], ln["geo"]["lat"], ln["geo"]["relative_alt"]) for ln in by_video[str(vid)]] == [
        (0.0, 47.0, 50.0), (0.5, 47.0, 50.0), (1.0, 47.1, 51.0), (1.5, 47.1, 51.0), (2.0, 47.2, 52.0),
        (2.5, 47.2, 52.0)]
    assert by_video[str(vid)][0]["geo"] == {"lat": 47.0, "lon": 8.5, "relative_alt": 50.0, "alt": 500.0,
                                            "gimbal_pitch": -90.0}
    assert by_video[str(other)] and all("geo" not in ln for ln in by_video[str(other)])
    assert s.with_geo == 6
    assert s.warnings == [f"{other}: no DJI flight record (.SRT) beside it: its frames have no geo"]
    # without geo=True the flight record is not read
    build_input_manifest(vid, tmp_path / "job" / "plain.manifest", fps=2, progress=False)
    assert all("geo" not in ln for ln in lines_of(tmp_path / "job" / "plain.manifest"))
    r = CliRunner().invoke(app, ["manifest", "build", str(vid), str(tmp_path / "job" / "cli.manifest"), "--fps", "2",
                                 "--geo"])
    assert r.exit_code == 0, r.output
    assert [ln["geo"]["lat"] for ln in lines_of(tmp_path / "job" / "cli.manifest")] == [47.0, 47.0, 47.1, 47.1,
                                                                                          47.2, 47.2]

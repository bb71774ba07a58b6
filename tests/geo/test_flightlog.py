"""DJI flight records (.SRT beside a video): cue timing, the formats of several DJI models, bad cues."""

from __future__ import annotations

from pathlib import Path

import pytest

from gtlabel.geo.flightlog import MAX_WARNINGS, flight_log_for, parse_flight_log, read_flight_log

MAVIC3 = """1
00:00:00,000 --> 00:00:00,033
<font size="28">FrameCnt: 1, DiffTime: 33ms
2023-05-01 10:00:00.123
[iso: 100] [shutter: 1/1000.0] [fnum: 2.8] [ev: 0] [focal_len: 24.00] [latitude: 47.3769080] [longitude: 8.5417000] [rel_alt: 50.200 abs_alt: 470.500] [gb_yaw: -12.3 gb_pitch: -90.0 gb_roll: 0.0] [ct: 5500] </font>

2
00:00:00,033 --> 00:00:00,066
<font size="28">FrameCnt: 2, DiffTime: 33ms
2023-05-01 10:00:00.156
[iso: 100] [latitude: 47.3769100] [longtitude: 8.5417100] [rel_alt: 50.300 abs_alt: 470.600] </font>
"""

PHANTOM4 = """1
00:00:00,000 --> 00:00:01,000
HOME(8.5400,47.3700) 2017.08.05 14:11:51
GPS(8.5417,47.3769,16) BAROMETER:25.4
ISO:100 Shutter:60 EV:0 Fnum:2.2

2
00:00:01,000 --> 00:00:02,000
HOME(8.5400,47.3700) 2017.08.05 14:11:52
GPS(0.0,0.0,0) BAROMETER:25.9
"""

MINI2 = """1
00:00:00,000 --> 00:00:00,500
F/2.8, SS 1/1000.0, ISO 100, EV 0, GPS (8.5417, 47.3769, 20), D 12.3m, H 30.0m, H.S 0.0m/s, V.S 0.0m/s
"""


def numbered(text: str) -> list[tuple[int, bytes]]:
    return [(i, line.encode()) for i, line in enumerate(text.splitlines(), start=1)]


def test_bracketed_fields_of_recent_models() -> None:
    track = parse_flight_log(numbered(MAVIC3), "DJI_0001.SRT")
    assert len(track) == 2 and track.warnings == []
    assert track.at(0.0) == {"lat": 47.376908, "lon": 8.5417, "relative_alt": 50.2, "alt": 470.5,
                             "gimbal_yaw": -12.3, "gimbal_pitch": -90.0, "gimbal_roll": 0.0}
    # 'longtitude' (some firmware's spelling) is the longitude; the cue covering t is chosen
    assert track.at(0.05) == {"lat": 47.37691, "lon": 8.54171, "relative_alt": 50.3, "alt": 470.6}
    assert track.at(0.0661) is None  # after the last cue
    assert track.at(-1) is None


def test_gps_parentheses_are_longitude_first_and_zero_is_no_fix() -> None:
    track = parse_flight_log(numbered(PHANTOM4), "P4.SRT")
    assert track.at(0.5) == {"lat": 47.3769, "lon": 8.5417, "relative_alt": 25.4}
    assert track.at(1.5) == {"relative_alt": 25.9}  # (0, 0): no GPS fix, the height is still known
    mini = parse_flight_log(numbered(MINI2), "MINI.SRT")
    assert mini.at(0.25) == {"lat": 47.3769, "lon": 8.5417, "relative_alt": 30.0}


def test_bad_cues_are_warnings_naming_the_line() -> None:
    text = ("1\nnot a timing\n[latitude: 1] [longitude: 2]\n\n"
            "2\n00:00:02,000 --> 00:00:01,000\n[latitude: 1] [longitude: 2]\n\n"
            "3\n00:00:03,000 --> 00:00:04,000\n[latitude: 95.0] [longitude: 2] [rel_alt: 7.5 abs_alt: 9]\n")
    track = parse_flight_log(numbered(text), "bad.SRT")
    assert track.warnings == [
        "bad.SRT:1: not an SRT cue (no 'HH:MM:SS,mmm --> HH:MM:SS,mmm' line)",
        "bad.SRT:5: cue ends before it starts",
        "bad.SRT:11: position out of range (lat 95.0, lon 2.0)",
    ]
    assert track.at(3.5) == {"relative_alt": 7.5, "alt": 9.0}
    many = parse_flight_log(numbered("x\n\n" * (MAX_WARNINGS + 5)), "junk.SRT")
    assert len(many.warnings) == MAX_WARNINGS and len(many) == 0


def test_the_sidecar_is_found_beside_the_video(tmp_path: Path) -> None:
    video = tmp_path / "DJI_0042.MP4"
    video.write_bytes(b"")
    assert flight_log_for(str(video)) is None
    (tmp_path / "DJI_0042.SRT").write_text(MAVIC3)
    assert flight_log_for(str(video)) == str(tmp_path / "DJI_0042.SRT")
    track = read_flight_log(str(tmp_path / "DJI_0042.SRT"))
    assert len(track) == 2 and track.uri.endswith("DJI_0042.SRT")


@pytest.mark.parametrize("stamp, seconds", [("01:02:03,004", 3723.004), ("00:00:01.5", 1.5)])
def test_cue_times(stamp: str, seconds: float) -> None:
    track = parse_flight_log(numbered(f"1\n{stamp} --> 10:00:00,000\n[rel_alt: 1 abs_alt: 2]\n"), "t.SRT")
    assert track.starts == [pytest.approx(seconds)]

"""Where a drone video's frames were taken: DJI's flight record, the ``.SRT`` subtitle file DJI drones write
beside each video (``DJI_0042.MP4`` -> ``DJI_0042.SRT``; "video caption" on), one cue per frame or per second
with the position, altitudes and gimbal angles of that moment.

:func:`read_flight_log` reads it into a :class:`FlightTrack`; ``track.at(seconds)`` gives the ``geo`` value (the
same keys as :mod:`gtlabel.geo.tags`: ``lat``, ``lon``, ``alt``, ``relative_alt``, ``gimbal_yaw``,
``gimbal_pitch``, ``gimbal_roll``) of the cue that covers a frame's ``timestamp_s``. The manifest builder calls it
for ``fps=`` with ``geo=True``.

Cue texts, as DJI firmware writes them (formats vary by model; what is read):

- bracketed fields (Mavic 3, Air 2S, Mini 3, Matrice 30/3E): ``[latitude: 22.543210] [longitude: 113.943210]``
  (some firmware spells it ``longtitude``), ``[rel_alt: 50.2 abs_alt: 120.5]``, ``[gb_yaw: 10.2 gb_pitch: -90.0
  gb_roll: 0.0]``;
- ``GPS(lon, lat, ...)`` with ``BAROMETER:h`` (Phantom 4, Mavic Pro) or ``H h m`` (Mini 2): longitude first;
  the third value is not read (it is a satellite count on some models). ``BAROMETER`` and ``H`` are heights
  above the take-off point (``relative_alt``).

A position of exactly (0, 0) is DJI's "no GPS fix" and is left out. SRT is a plain text format with no parsing
library in our package registry, so the cue blocks are read here with two regular expressions; a cue whose
timing or numbers cannot be read is a warning naming the file and line (at most :data:`MAX_WARNINGS`), never an
error: the frames are still listed.
"""

from __future__ import annotations

import bisect
import math
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from gtlabel import storage

__all__ = ["MAX_WARNINGS", "FlightTrack", "flight_log_for", "parse_flight_log", "read_flight_log"]

MAX_WARNINGS = 20
_SIDECARS = (".SRT", ".srt")
_TIMING = re.compile(
    rb"^\s*(\d+):(\d{1,2}):(\d{1,2})[,.](\d{1,3})\s*-->\s*(\d+):(\d{1,2}):(\d{1,2})[,.](\d{1,3})")
_TAG = re.compile(rb"<[^>]{0,200}>")
_FIELD = re.compile(rb"([A-Za-z_]+)\s*:\s*([-+]?\d+(?:\.\d+)?)")
_GPS = re.compile(rb"\bGPS\s*\(\s*([-+]?\d+(?:\.\d+)?)\s*,\s*([-+]?\d+(?:\.\d+)?)")
_HEIGHT = re.compile(rb"\bH\s+([-+]?\d+(?:\.\d+)?)\s*m\b")
#: DJI's field names (lower case) -> the keys of ``geo``
FIELDS: dict[bytes, str] = {
    b"latitude": "lat",
    b"longitude": "lon",
    b"longtitude": "lon",
    b"abs_alt": "alt",
    b"rel_alt": "relative_alt",
    b"barometer": "relative_alt",
    b"gb_yaw": "gimbal_yaw",
    b"gb_pitch": "gimbal_pitch",
    b"gb_roll": "gimbal_roll",
}


@dataclass
class FlightTrack:
    """A flight record's cues in time order: ``at(t)`` is the ``geo`` of the cue covering ``t`` seconds."""

    uri: str
    starts: list[float] = field(default_factory=list)
    ends: list[float] = field(default_factory=list)
    values: list[dict[str, float]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.starts)

    def at(self, t: float) -> dict[str, float] | None:
        """The ``geo`` of the cue whose [start, end] holds ``t`` (the latest-starting one), else ``None``."""
        i = bisect.bisect_right(self.starts, t + 1e-6) - 1
        if i < 0 or t > self.ends[i] + 1e-6:
            return None
        return dict(self.values[i])


def _seconds(groups: tuple[bytes, ...]) -> float:
    h, m, s = (int(g) for g in groups[:3])
    return h * 3600 + m * 60 + s + int(groups[3].ljust(3, b"0")) / 1000  # ",5" is half a second


def _cue_geo(text: bytes) -> dict[str, float]:
    """The ``geo`` keys of one cue's text (numbers as written; ranges checked by the caller)."""
    text = _TAG.sub(b" ", text)
    out: dict[str, float] = {}
    for name, value in _FIELD.findall(text):
        key = FIELDS.get(name.lower())
        if key is not None and key not in out:
            out[key] = float(value)
    gps = _GPS.search(text)
    if gps is not None and "lat" not in out:
        out["lon"], out["lat"] = float(gps.group(1)), float(gps.group(2))
    height = _HEIGHT.search(text)
    if height is not None and "relative_alt" not in out:
        out["relative_alt"] = float(height.group(1))
    return out


def _checked(geo: dict[str, float], where: str, warnings: list[str]) -> dict[str, float]:
    out: dict[str, float] = {}
    lat, lon = geo.get("lat"), geo.get("lon")
    if lat is not None and lon is not None and not (lat == 0 and lon == 0):  # (0, 0): DJI's "no fix"
        if -90 <= lat <= 90 and -180 <= lon <= 180:
            out["lat"], out["lon"] = round(lat, 7), round(lon, 7)
        elif len(warnings) < MAX_WARNINGS:
            warnings.append(f"{where}: position out of range (lat {lat}, lon {lon})")
    for key, value in geo.items():
        if key not in ("lat", "lon") and math.isfinite(value):
            out[key] = round(value, 3)
    return out


def _blocks(lines: Iterable[tuple[int, bytes]]) -> Iterator[tuple[int, list[bytes]]]:
    """SRT cue blocks: (line number of the block's first line, its lines), split at blank lines."""
    block: list[bytes] = []
    first = 0
    for lineno, raw in lines:
        line = raw.rstrip(b"\r\n")
        if not line.strip():
            if block:
                yield first, block
            block = []
            continue
        if not block:
            first = lineno
        block.append(line)
    if block:
        yield first, block


def parse_flight_log(lines: Iterable[tuple[int, bytes]], uri: str) -> FlightTrack:
    """A :class:`FlightTrack` of numbered lines of an SRT file (``storage.iter_lines``' shape); ``uri`` names it
    in warnings."""
    track = FlightTrack(uri)
    cues: list[tuple[float, float, dict[str, float]]] = []
    for lineno, block in _blocks(lines):
        timing_at = next((i for i, line in enumerate(block[:3]) if b"-->" in line), 0)
        m = _TIMING.match(block[timing_at])
        if m is None:
            if len(track.warnings) < MAX_WARNINGS:
                track.warnings.append(f"{uri}:{lineno}: not an SRT cue (no 'HH:MM:SS,mmm --> HH:MM:SS,mmm' line)")
            continue
        start, end = _seconds(m.groups()[:4]), _seconds(m.groups()[4:])
        if end < start:
            if len(track.warnings) < MAX_WARNINGS:
                track.warnings.append(f"{uri}:{lineno}: cue ends before it starts")
            continue
        where = f"{uri}:{lineno + timing_at + 1}"
        geo = _checked(_cue_geo(b" ".join(block[timing_at + 1:])), where, track.warnings)
        if geo:
            cues.append((start, end, geo))
    cues.sort(key=lambda c: c[0])
    for start, end, geo in cues:
        track.starts.append(start)
        track.ends.append(end)
        track.values.append(geo)
    return track


def flight_log_for(video_uri: str) -> str | None:
    """The flight record beside a video (same name, ``.SRT`` or ``.srt``), or ``None`` when there is none."""
    stem = video_uri.rsplit(".", 1)[0] if "." in video_uri.rsplit("/", 1)[-1] else video_uri
    for suffix in _SIDECARS:
        if storage.exists(stem + suffix):
            return stem + suffix
    return None


def read_flight_log(uri: str) -> FlightTrack:
    """The :class:`FlightTrack` of an SRT file, local or on S3 (streamed line by line)."""
    return parse_flight_log(storage.iter_lines(uri, keep_empty=True), uri)

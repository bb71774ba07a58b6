"""A dataset on a map: one GeoJSON Point (RFC 7946: ``[longitude, latitude(, altitude)]``, WGS 84) per image that
carries a ``geo`` position in the dataset's lineage.json, with its labels counted per class, in a FeatureCollection
any map tool opens (QGIS, geojson.io, kepler.gl). Images without a position are counted, not listed.

The features are written as they are made (one label file read at a time), so memory holds the lineage record, not
the collection; the file appears whole or not at all (:func:`gtlabel.storage.atomic_writer`).
"""

from __future__ import annotations

import math
import os
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

from gtlabel import lineage, storage
from gtlabel.formats import strict_json
from gtlabel.formats.yolo import parse_label_rows
from gtlabel.geo.tags import GEO_KEY

__all__ = ["GeoJsonSummary", "export_geojson", "iter_features"]


@dataclass
class GeoJsonSummary:
    """What :func:`export_geojson` wrote: points, and images without a position."""

    dataset: str
    dest: str | None
    version: str = ""
    features: int = 0
    without_position: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {"dataset": self.dataset, "dest": self.dest, "version": self.version, "features": self.features,
                "without_position": self.without_position}


def _position(geo: Any) -> list[float] | None:
    if not isinstance(geo, dict):
        return None
    lat, lon, alt = geo.get("lat"), geo.get("lon"), geo.get("alt")
    if not all(isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in (lat, lon)):
        return None
    assert isinstance(lat, int | float) and isinstance(lon, int | float)
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        return None
    point = [float(lon), float(lat)]  # RFC 7946 3.1.1: longitude first
    if isinstance(alt, int | float) and not isinstance(alt, bool) and math.isfinite(alt):
        point.append(float(alt))
    return point


def iter_features(lin: lineage.Lineage, summary: GeoJsonSummary) -> Iterator[dict[str, Any]]:
    """The Feature of each image with a position (counted into ``summary``), in lineage order."""
    names = lin.names
    for rec in lin.images:
        geo = rec.raw.get(GEO_KEY)
        point = _position(geo)
        if point is None:
            summary.without_position += 1
            continue
        uri = lin.path(rec.label)
        rows = parse_label_rows(storage.read_bytes(uri).decode("utf-8"), file=uri, nc=len(names) or None)
        per_class = Counter(names.get(r[0], str(r[0])) for r in rows)
        props: dict[str, Any] = {"image": rec.image, "source_ref": rec.source_ref, "split": rec.split,
                                 "boxes": len(rows), "labels": {n: per_class[n] for n in sorted(per_class)}}
        assert isinstance(geo, dict)
        props.update({k: v for k, v in geo.items() if k not in ("lat", "lon", "alt")})
        summary.features += 1
        yield {"type": "Feature", "geometry": {"type": "Point", "coordinates": point}, "properties": props}


def _write(fh: IO[bytes], lin: lineage.Lineage, summary: GeoJsonSummary) -> None:
    fh.write(b'{"type":"FeatureCollection","name":' + strict_json.dumps(lin.version or "dataset") +
             b',"features":[')
    for i, feature in enumerate(iter_features(lin, summary)):
        fh.write((b",\n" if i else b"\n") + strict_json.dumps(feature))
    fh.write(b"\n]}\n")


def export_geojson(dataset: str | os.PathLike[str], dest: str | os.PathLike[str] | None = None, *,
                   stream: IO[bytes] | None = None) -> GeoJsonSummary:
    """Write the dataset's images with a ``geo`` position (see :mod:`gtlabel.geo.tags`, kept in lineage.json by the
    converter) as a GeoJSON FeatureCollection to ``dest`` (local or ``s3://``, atomically) or to ``stream``.

    Each Feature: ``geometry`` a Point ``[lon, lat]`` (``[lon, lat, alt]`` with an altitude), ``properties``
    ``image``, ``source_ref``, ``split``, ``boxes`` and ``labels`` (``{class name: boxes}``), and the camera's
    ``relative_alt``/``gimbal_*``/``flight_yaw`` where known. Raises
    :class:`~gtlabel.errors.LineageError` for a folder without lineage.json, :class:`~gtlabel.errors.LabelError`
    naming a label file that is not YOLO."""
    lin = lineage.load(dataset)
    summary = GeoJsonSummary(lin.base, None if dest is None else str(dest), lin.version)
    if dest is not None:
        with storage.atomic_writer(dest, content_type="application/geo+json") as fh:
            _write(fh, lin, summary)
    elif stream is not None:
        _write(stream, lin, summary)
    else:
        raise ValueError("give dest or stream")
    return summary

"""Geodata of drone images: where each was taken (EXIF GPS) and how the camera looked (DJI's XMP tags), kept
through labeling into the dataset's lineage, shown on a map (GeoJSON), or removed from the copies for privacy.

One module per job: :mod:`.tags` (read EXIF GPS + DJI XMP into the ``geo`` pass-through key, with Pillow and
defusedxml), :mod:`.strip` (remove GPS from a JPEG losslessly, with piexif), :mod:`.geojson` (a dataset's images
as GeoJSON points with their labels per class). The ``geo`` extra (defusedxml, piexif) loads on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gtlabel._lazy import lazy_exports

if TYPE_CHECKING:
    from gtlabel.geo.geojson import GeoJsonSummary, export_geojson
    from gtlabel.geo.strip import scan_data, strip_gps
    from gtlabel.geo.tags import DJI_TAGS, GEO_KEY, GeoRead, read_geo, read_geo_uri

# names load on first use: the manifest builder needs only .tags (.geojson reads lineage, which reads manifests)
__getattr__ = lazy_exports(__name__, {
    "GeoJsonSummary": "gtlabel.geo.geojson", "export_geojson": "gtlabel.geo.geojson",
    "scan_data": "gtlabel.geo.strip", "strip_gps": "gtlabel.geo.strip",
    "DJI_TAGS": "gtlabel.geo.tags", "GEO_KEY": "gtlabel.geo.tags", "GeoRead": "gtlabel.geo.tags",
    "read_geo": "gtlabel.geo.tags", "read_geo_uri": "gtlabel.geo.tags",
})

__all__ = [
    "DJI_TAGS",
    "GEO_KEY",
    "GeoJsonSummary",
    "GeoRead",
    "export_geojson",
    "read_geo",
    "read_geo_uri",
    "scan_data",
    "strip_gps",
]

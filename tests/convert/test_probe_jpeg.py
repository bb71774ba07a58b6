"""convert.probe.jpeg_header / displayed_size_of: the JPEG marker reader agrees with PIL (size, EXIF orientation),
and hands everything else to PIL."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from gtlabel.convert.probe import displayed_size_of, jpeg_header, probe_header


def _jpeg(size: tuple[int, int], orientation: int | None, *, progressive: bool = False, comment: bool = False
          ) -> bytes:
    buf = io.BytesIO()
    kw: dict[str, object] = {"progressive": progressive}
    if orientation is not None:
        exif = Image.Exif()
        exif[0x0112] = orientation
        kw["exif"] = exif
    if comment:
        kw["comment"] = b"x" * 300
    Image.new("RGB", size, (10, 20, 30)).save(buf, "JPEG", **kw)
    return buf.getvalue()


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 300), st.integers(1, 300), st.sampled_from([None, 1, 2, 3, 4, 5, 6, 7, 8]), st.booleans(),
       st.booleans())
def test_jpeg_header_agrees_with_pil(w: int, h: int, orientation: int | None, progressive: bool,
                                     comment: bool) -> None:
    data = _jpeg((w, h), orientation, progressive=progressive, comment=comment)
    size, orient, _ = probe_header(data)
    assert jpeg_header(data) == (size, orient)


def test_other_bytes_go_to_pil(tmp_path: Path) -> None:
    buf = io.BytesIO()
    Image.new("RGB", (30, 20)).save(buf, "PNG")
    assert jpeg_header(buf.getvalue()) is None
    assert jpeg_header(b"\xff\xd8\xff\xe0\x00") is None  # cut inside a segment
    assert jpeg_header(b"GIF89a") is None
    (tmp_path / "a.png").write_bytes(buf.getvalue())
    assert displayed_size_of(str(tmp_path / "a.png")) == (30, 20)
    (tmp_path / "b.jpg").write_bytes(_jpeg((30, 20), 6))
    assert displayed_size_of(str(tmp_path / "b.jpg")) == (20, 30)
    (tmp_path / "c.jpg").write_bytes(b"not an image")
    with pytest.raises(Exception, match="cannot identify"):
        displayed_size_of(str(tmp_path / "c.jpg"))
    with pytest.raises(FileNotFoundError):
        displayed_size_of(str(tmp_path / "missing.jpg"))


def test_non_image_bytes_give_the_same_error_once_ultralytics_patched_pil(tmp_path: Path) -> None:
    """Ultralytics patches PIL's Image.open (it tries pi-heif on bytes PIL cannot identify, raising ImportError
    when pi-heif is not installed); the probe's error stays PIL's own "cannot identify" either way."""
    pytest.importorskip("ultralytics")
    from gtlabel.model.offline import import_ultralytics

    import_ultralytics()
    (tmp_path / "c.jpg").write_bytes(b"not an image")
    with pytest.raises(OSError, match="cannot identify"):
        displayed_size_of(str(tmp_path / "c.jpg"))

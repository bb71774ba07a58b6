"""The synthetic aerial images used by the demo: truth boxes sit on drawn objects, EXIF frames are right."""

from __future__ import annotations

import io

from PIL import Image, ImageOps

from gtlabel.synth import DEFAULT_CLASSES, iter_images, make_image


def test_deterministic_and_varied() -> None:
    a = [make_image(i, seed=3) for i in range(20)]
    b = [make_image(i, seed=3) for i in range(20)]
    assert [x.jpeg for x in a] == [y.jpeg for y in b]
    assert any(not x.boxes for x in a), "some images have no objects"
    labels = {box.label for x in a for box in x.boxes}
    assert labels == set(DEFAULT_CLASSES)
    areas = [box.width * box.height for x in a for box in x.boxes]
    assert max(areas) > 20 * min(areas), "object sizes vary a lot (small people, big buildings)"


def test_exif_rotated_images_display_upright_with_truth_in_display_frame() -> None:
    rotated = [x for x in iter_images(20, seed=5) if x.exif_orientation != 1]
    assert {x.exif_orientation for x in rotated} == {6, 8}
    for x in rotated:
        raw = Image.open(io.BytesIO(x.jpeg))
        assert raw.size == (x.height, x.width), "stored pixels are rotated"
        shown = ImageOps.exif_transpose(raw)
        assert shown.size == (x.width, x.height)


def test_truth_boxes_sit_on_drawn_objects() -> None:
    roofs = [(150, 60, 50), (120, 120, 130), (170, 150, 120), (90, 90, 100)]
    checked = 0
    for img in iter_images(12, seed=11):
        shown = ImageOps.exif_transpose(Image.open(io.BytesIO(img.jpeg))).convert("RGB")
        for box in img.boxes:
            assert box.left >= 0 and box.left + box.width <= img.width
            assert box.top >= 0 and box.top + box.height <= img.height
            if box.label == "building":  # solid roof colour a quarter of the way into the box
                px = shown.getpixel((box.left + box.width // 4, box.top + box.height // 4))
                assert isinstance(px, tuple)
                assert min(sum(abs(a - b) for a, b in zip(px, roof, strict=False)) for roof in roofs) < 40, px
                checked += 1
    assert checked >= 3

"""The synthetic aerial images used by the demo: truth boxes sit on drawn objects, EXIF frames are right."""

from __future__ import annotations

import io

import pytest
from PIL import Image, ImageOps

from gtlabel.errors import ConfigError
from gtlabel.synth import (
    DEFAULT_CLASSES,
    FRAME_OBJECT_SIZES,
    FrameSpec,
    SynthImage,
    iter_frames,
    iter_images,
    make_frame,
    make_image,
)


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


# ------------------------------------------------------------------------------------------ drone-scale frames
def _shown(img: SynthImage) -> Image.Image:
    return ImageOps.exif_transpose(Image.open(io.BytesIO(img.jpeg))).convert("RGB")


def test_drone_frames_are_large_deterministic_with_small_objects_inside() -> None:
    spec = FrameSpec(4000, 3000)
    a = list(iter_frames(2, spec, seed=2))
    assert [f.jpeg for f in a] == [make_frame(i, spec, seed=2).jpeg for i in range(2)]
    assert a[0].jpeg != make_frame(0, spec, seed=3).jpeg
    for f in a:
        assert (f.width, f.height) == (4000, 3000) and _shown(f).size == (4000, 3000)
        assert spec.objects[0] <= len(f.boxes) <= spec.objects[1]
        for b in f.boxes:
            assert b.left >= 0 and b.left + b.width <= f.width and b.top >= 0 and b.top + b.height <= f.height
            (wmin, wmax), (hmin, hmax) = FRAME_OBJECT_SIZES[b.label]
            assert min(wmin, hmin) <= min(b.width, b.height) and max(b.width, b.height) <= max(wmax, hmax)
            if b.label != "building":
                assert min(b.width, b.height) >= 8 and max(b.width, b.height) <= 40, b


def test_drone_frames_have_empty_and_exif_rotated_frames_in_the_displayed_frame() -> None:
    spec = FrameSpec(640, 480, objects=(5, 10), empty_every=3, exif_every=4)
    frames = list(iter_frames(8, spec, seed=1))
    assert [i for i, f in enumerate(frames) if not f.boxes] == [2, 5]
    rotated = [f for f in frames if f.exif_orientation != 1]
    assert {f.exif_orientation for f in rotated} == {6, 8}
    for f in rotated:
        raw = Image.open(io.BytesIO(f.jpeg))
        assert raw.size == (480, 640) and _shown(f).size == (640, 480)


def _contrast_of(img: SynthImage) -> float:
    """Mean colour distance between each vehicle/person/building box and the ring of terrain around it."""
    shown = _shown(img)
    diffs = []
    for b in img.boxes:
        if b.label == "drone":  # a thin X: mostly terrain inside its box
            continue
        inner = shown.crop((b.left + 1, b.top + 1, b.left + b.width - 1, b.top + b.height - 1)).resize((1, 1))
        ring = shown.crop((max(0, b.left - 6), max(0, b.top - 6), b.left + b.width + 6,
                           b.top + b.height + 6)).resize((1, 1))
        a, c = inner.getpixel((0, 0)), ring.getpixel((0, 0))
        assert isinstance(a, tuple) and isinstance(c, tuple)
        diffs.append(sum(abs(x - y) for x, y in zip(a, c, strict=True)))
    return sum(diffs) / len(diffs)


def test_truth_boxes_sit_on_drawn_objects_and_contrast_blends_them_into_the_terrain() -> None:
    sharp = make_frame(0, FrameSpec(800, 600, objects=(20, 20), exif_every=0), seed=4)
    faint = make_frame(0, FrameSpec(800, 600, objects=(20, 20), exif_every=0, contrast=0.3), seed=4)
    assert [b for b in sharp.boxes] == [b for b in faint.boxes]  # same scene, only colours differ
    assert _contrast_of(sharp) > 60
    assert _contrast_of(faint) < 0.6 * _contrast_of(sharp)


@pytest.mark.parametrize("kwargs", [{"width": 8193}, {"height": 10}, {"objects": (5, 2)}, {"classes": ()},
                                    {"contrast": 0.0}, {"contrast": 1.5}, {"empty_every": -1}, {"quality": 0}])
def test_frame_spec_refuses_bad_settings(kwargs: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        FrameSpec(**kwargs)  # type: ignore[arg-type]

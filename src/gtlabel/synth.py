"""Synthetic drone-like aerial images with known objects, for the demo, the notebooks and the tests.

Two kinds: :func:`make_image` (small images, 640x480 by default, objects scaled with the image; the notebooks'
and many tests' data) and :func:`make_frame` (drone-scale frames, up to 4000x3000 and more, with small objects
of 8-40 px as a drone camera sees vehicles and people; see :class:`FrameSpec`).

Each image is a top-down scene (terrain texture, roads, fields) with objects of the seed's four classes
(drone, vehicle, person, building) at varied sizes; some images have no objects, and a few are stored
*rotated* with an EXIF orientation tag (6 or 8), so that the image a browser or Ultralytics shows is
upright while the stored pixels are not. Truth boxes are always in the displayed (EXIF-corrected) frame,
which is the frame a Ground Truth worker draws in.

Nothing is downloaded; everything is drawn with Pillow from a seed.
"""

from __future__ import annotations

import io
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from PIL import Image, ImageChops, ImageDraw, ImageFilter

from gtlabel.errors import ConfigError

DEFAULT_CLASSES: tuple[str, ...] = ("drone", "vehicle", "person", "building")

_EXIF_ORIENTATION = 0x0112


@dataclass(frozen=True)
class TruthBox:
    label: str
    left: int
    top: int
    width: int
    height: int

    def as_answer(self) -> dict[str, int | str]:
        """The box in Ground Truth's worker-answer shape."""
        return {"label": self.label, "left": self.left, "top": self.top, "width": self.width, "height": self.height}


@dataclass
class SynthImage:
    name: str
    jpeg: bytes
    width: int  # displayed (EXIF-corrected) size
    height: int
    boxes: list[TruthBox] = field(default_factory=list)
    exif_orientation: int = 1


def _terrain(rng: random.Random, w: int, h: int) -> Image.Image:
    base = rng.choice([(86, 112, 60), (104, 120, 72), (122, 110, 84), (92, 104, 70)])
    img = Image.new("RGB", (w, h), base)
    d = ImageDraw.Draw(img)
    # fields
    for _ in range(rng.randint(3, 7)):
        x0, y0 = rng.randint(-w // 4, w), rng.randint(-h // 4, h)
        x1, y1 = x0 + rng.randint(w // 6, w // 2), y0 + rng.randint(h // 6, h // 2)
        tone = tuple(max(0, min(255, c + rng.randint(-25, 25))) for c in base)
        d.rectangle([x0, y0, x1, y1], fill=tone)
    # speckle texture
    for _ in range(w * h // 60):
        x, y = rng.randrange(w), rng.randrange(h)
        tone = tuple(max(0, min(255, c + rng.randint(-35, 35))) for c in base)
        d.point((x, y), fill=tone)
    # roads
    for _ in range(rng.randint(1, 2)):
        if rng.random() < 0.5:
            y = rng.randint(h // 5, 4 * h // 5)
            d.rectangle([0, y, w, y + rng.randint(10, 18)], fill=(92, 92, 96))
        else:
            x = rng.randint(w // 5, 4 * w // 5)
            d.rectangle([x, 0, x + rng.randint(10, 18), h], fill=(92, 92, 96))
    return img.filter(ImageFilter.SMOOTH)


def _free(boxes: list[TruthBox], left: int, top: int, width: int, height: int, pad: int = 3) -> bool:
    for b in boxes:
        if (left < b.left + b.width + pad and b.left < left + width + pad
                and top < b.top + b.height + pad and b.top < top + height + pad):
            return False
    return True


RGB = tuple[int, int, int]


def _same(colour: RGB) -> RGB:
    return colour


def _draw_object(d: ImageDraw.ImageDraw, rng: random.Random, label: str, x: int, y: int, w: int, h: int,
                 tint: Callable[[RGB], RGB] = _same) -> None:
    """Draw one object; ``tint`` maps each colour (the frames' contrast setting), drawing no random number."""
    if label == "building":
        roof = rng.choice([(150, 60, 50), (120, 120, 130), (170, 150, 120), (90, 90, 100)])
        d.rectangle([x, y, x + w - 1, y + h - 1], fill=tint(roof), outline=tint((40, 40, 40)))
        ridge = (max(0, roof[0] - 40), max(0, roof[1] - 40), max(0, roof[2] - 40))
        d.line([x, y + h // 2, x + w - 1, y + h // 2], fill=tint(ridge), width=2)
    elif label == "vehicle":
        body = rng.choice([(200, 30, 30), (230, 230, 230), (30, 30, 160), (20, 20, 20), (220, 200, 40)])
        d.rectangle([x, y, x + w - 1, y + h - 1], fill=tint(body))
        d.rectangle([x + w // 4, y + h // 4, x + 3 * w // 4, y + 3 * h // 4], fill=tint((60, 80, 110)))
    elif label == "person":
        d.ellipse([x, y, x + w - 1, y + h - 1],
                  fill=tint(rng.choice([(240, 120, 30), (40, 60, 200), (230, 230, 60)])))
        d.ellipse([x + w // 3, y + h // 3, x + 2 * w // 3, y + 2 * h // 3], fill=tint((60, 40, 30)))
    else:  # drone: an X frame with four rotors
        c = tint((30, 30, 30))
        d.line([x, y, x + w - 1, y + h - 1], fill=c, width=max(1, w // 8))
        d.line([x, y + h - 1, x + w - 1, y], fill=c, width=max(1, w // 8))
        r = max(2, w // 5)
        for cx, cy in ((x, y), (x + w - 1, y), (x, y + h - 1), (x + w - 1, y + h - 1)):
            d.ellipse([cx - r // 2, cy - r // 2, cx + r // 2, cy + r // 2], outline=tint((200, 200, 200)))


_SIZES = {  # (min, max) side in px at 640 px width, scaled with the image
    "building": ((40, 110), (40, 110)),
    "vehicle": ((14, 30), (8, 16)),
    "person": ((6, 12), (6, 12)),
    "drone": ((14, 26), (14, 26)),
}


def make_image(index: int, *, seed: int = 0, width: int = 640, height: int = 480,
               classes: tuple[str, ...] = DEFAULT_CLASSES, empty_every: int = 7, exif_every: int = 9,
               quality: int = 85) -> SynthImage:
    """One synthetic aerial image. Every ``empty_every``-th image has no objects; every ``exif_every``-th
    is stored rotated with EXIF orientation 6 or 8 (the displayed frame stays ``width`` x ``height``)."""
    rng = random.Random(f"{seed}:{index}")
    img = _terrain(rng, width, height)
    d = ImageDraw.Draw(img)
    boxes: list[TruthBox] = []
    empty = empty_every > 0 and index % empty_every == empty_every - 1
    if not empty:
        scale = width / 640
        for _ in range(rng.randint(1, 8)):
            label = rng.choice(classes)
            (wmin, wmax), (hmin, hmax) = _SIZES.get(label, ((10, 40), (10, 40)))
            w = max(4, int(rng.randint(wmin, wmax) * scale))
            h = max(4, int(rng.randint(hmin, hmax) * scale))
            if label == "vehicle" and rng.random() < 0.5:
                w, h = h, w
            for _attempt in range(20):
                x, y = rng.randint(0, width - w), rng.randint(0, height - h)
                if _free(boxes, x, y, w, h):
                    _draw_object(d, rng, label, x, y, w, h)
                    boxes.append(TruthBox(label, x, y, w, h))
                    break
    jpeg, orientation = _encode(img, index, exif_every, quality)
    return SynthImage(f"aerial_{index:05d}.jpg", jpeg, width, height, boxes, orientation)


def _encode(img: Image.Image, index: int, exif_every: int, quality: int) -> tuple[bytes, int]:
    """JPEG bytes of the displayed frame ``img``; every ``exif_every``-th index is stored rotated with EXIF
    orientation 6 or 8 (applying the tag gives back ``img``). ``(jpeg, orientation)``."""
    orientation = 1
    stored = img
    if exif_every > 0 and index % exif_every == exif_every - 1:
        # Store pixels so that applying the EXIF orientation gives back `img`.
        orientation = 6 if (index // exif_every) % 2 == 0 else 8
        # orientation 6 means "rotate 90 CW to display": stored = displayed rotated 90 CCW
        stored = img.transpose(Image.Transpose.ROTATE_90 if orientation == 6 else Image.Transpose.ROTATE_270)
    buf = io.BytesIO()
    exif = Image.Exif()
    if orientation != 1:
        exif[_EXIF_ORIENTATION] = orientation
    stored.save(buf, format="JPEG", quality=quality, exif=exif.tobytes() if orientation != 1 else b"")
    return buf.getvalue(), orientation


def iter_images(n: int, *, seed: int = 0, **kwargs: object) -> Iterator[SynthImage]:
    for i in range(n):
        yield make_image(i, seed=seed, **kwargs)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------- drone scale
#: Object sides in pixels of a drone-scale frame (not scaled with the frame): vehicles, people and drones are
#: small objects (8-40 px, COCO "small" is < 32x32 px in area); buildings are medium.
FRAME_OBJECT_SIZES: dict[str, tuple[tuple[int, int], tuple[int, int]]] = {
    "building": ((40, 96), (40, 96)),
    "vehicle": ((16, 40), (8, 20)),
    "person": ((8, 14), (8, 14)),
    "drone": ((12, 28), (12, 28)),
}
#: The largest frame side :func:`make_frame` accepts (a 48-megapixel drone camera is 8064 x 6048).
MAX_FRAME_SIDE = 8192
_TERRAINS: tuple[RGB, ...] = ((86, 112, 60), (104, 120, 72), (122, 110, 84), (92, 104, 70))


@dataclass(frozen=True)
class FrameSpec:
    """What :func:`make_frame` draws: frame size (the displayed frame), objects per frame (``(min, max)``; empty
    frames have none), the classes placed, ``contrast`` (1.0: objects in their own colours; lower blends them
    towards the terrain, harder to see), every ``empty_every``-th frame empty, every ``exif_every``-th stored
    rotated with an EXIF orientation (0 turns either off), and the JPEG quality."""

    width: int = 4000
    height: int = 3000
    objects: tuple[int, int] = (20, 60)
    classes: tuple[str, ...] = DEFAULT_CLASSES
    contrast: float = 1.0
    empty_every: int = 7
    exif_every: int = 9
    quality: int = 90

    def __post_init__(self) -> None:
        if not (64 <= self.width <= MAX_FRAME_SIDE and 64 <= self.height <= MAX_FRAME_SIDE):
            raise ConfigError(f"frame size must be 64..{MAX_FRAME_SIDE} px a side, got {self.width}x{self.height}")
        lo, hi = self.objects
        if not 0 <= lo <= hi:
            raise ConfigError(f"objects must be (min, max) with 0 <= min <= max, got {self.objects}")
        if not self.classes:
            raise ConfigError("classes must name at least one class")
        if not 0.0 < self.contrast <= 1.0:
            raise ConfigError(f"contrast must be in (0, 1], got {self.contrast}")
        if self.empty_every < 0 or self.exif_every < 0:
            raise ConfigError("empty_every and exif_every must be >= 0 (0: never)")
        if not 1 <= self.quality <= 100:
            raise ConfigError(f"quality must be 1..100, got {self.quality}")


def _noise(rng: random.Random, size: tuple[int, int], amplitude: int, mode: str = "L") -> Image.Image:
    """Seeded uniform noise in ``0..amplitude`` per pixel (and band): random bytes, one point() lookup."""
    bands = len(mode)
    raw = Image.frombytes(mode, size, rng.randbytes(size[0] * size[1] * bands))
    return raw.point([v * amplitude // 255 for v in range(256)] * bands)


def _frame_terrain(rng: random.Random, w: int, h: int) -> tuple[Image.Image, RGB]:
    """Meadows, fields and roads in a few whole-image operations (no per-pixel Python): a coarse random colour
    field upscaled, rectangles of tone, roads; fine grain is added after the objects. ``(image, base colour)``."""
    base = rng.choice(_TERRAINS)
    grid = (max(2, w // 200), max(2, h // 200))
    light = _noise(rng, grid, 36)  # brightness patches, and a little hue
    patches = ImageChops.add(Image.merge("RGB", (light, light, light)), _noise(rng, grid, 12, "RGB"))
    img = ImageChops.add(Image.new("RGB", (w, h), base), patches.resize((w, h), Image.Resampling.BICUBIC), 1.0, -24)
    d = ImageDraw.Draw(img)
    for _ in range(rng.randint(4, 10)):  # fields
        x0, y0 = rng.randint(-w // 4, w), rng.randint(-h // 4, h)
        x1, y1 = x0 + rng.randint(w // 8, w // 3), y0 + rng.randint(h // 8, h // 3)
        d.rectangle([x0, y0, x1, y1], fill=(max(0, min(255, base[0] + rng.randint(-22, 22))),
                                            max(0, min(255, base[1] + rng.randint(-22, 22))),
                                            max(0, min(255, base[2] + rng.randint(-22, 22)))))
    for _ in range(rng.randint(2, 4)):  # roads, straight across the frame
        width = rng.randint(14, 30)
        if rng.random() < 0.5:
            y0, y1 = rng.randint(0, h), rng.randint(0, h)
            d.line([0, y0, w, y1], fill=(96, 96, 100), width=width)
        else:
            x0, x1 = rng.randint(0, w), rng.randint(0, w)
            d.line([x0, 0, x1, h], fill=(96, 96, 100), width=width)
    return img, base


def make_frame(index: int, spec: FrameSpec = FrameSpec(), *, seed: int = 0) -> SynthImage:
    """One drone-scale frame (``spec.width`` x ``spec.height``, displayed) with small objects at their real pixel
    sizes (:data:`FRAME_OBJECT_SIZES`), truth boxes in the displayed frame. Whole-image Pillow operations only:
    a 4000x3000 frame with 60 objects took 0.36 CPU-s here (JPEG encoding included)."""
    rng = random.Random(f"frame:{seed}:{index}")
    w, h = spec.width, spec.height
    img, base = _frame_terrain(rng, w, h)
    k = spec.contrast

    def tint(colour: RGB) -> RGB:
        return (round(base[0] + k * (colour[0] - base[0])), round(base[1] + k * (colour[1] - base[1])),
                round(base[2] + k * (colour[2] - base[2])))

    d = ImageDraw.Draw(img)
    boxes: list[TruthBox] = []
    if not (spec.empty_every > 0 and index % spec.empty_every == spec.empty_every - 1):
        for _ in range(rng.randint(*spec.objects)):
            label = rng.choice(spec.classes)
            (wmin, wmax), (hmin, hmax) = FRAME_OBJECT_SIZES.get(label, ((8, 40), (8, 40)))
            bw, bh = min(w, rng.randint(wmin, wmax)), min(h, rng.randint(hmin, hmax))
            if label == "vehicle" and rng.random() < 0.5:
                bw, bh = min(w, bh), min(h, bw)
            for _attempt in range(20):
                x, y = rng.randint(0, w - bw), rng.randint(0, h - bh)
                if _free(boxes, x, y, bw, bh):
                    _draw_object(d, rng, label, x, y, bw, bh, tint if k < 1.0 else _same)
                    boxes.append(TruthBox(label, x, y, bw, bh))
                    break
    grain = _noise(rng, (w, h), 16)
    img = ImageChops.add(img, Image.merge("RGB", (grain, grain, grain)), 1.0, -8)
    jpeg, orientation = _encode(img, index, spec.exif_every, spec.quality)
    return SynthImage(f"frame_{index:05d}.jpg", jpeg, w, h, boxes, orientation)


def iter_frames(n: int, spec: FrameSpec = FrameSpec(), *, seed: int = 0) -> Iterator[SynthImage]:
    """``n`` drone-scale frames (:func:`make_frame`), deterministic for a seed."""
    for i in range(n):
        yield make_frame(i, spec, seed=seed)

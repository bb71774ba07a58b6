"""Synthetic drone-like aerial images with known objects, for the demo, the notebooks and the tests.

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
from collections.abc import Iterator
from dataclasses import dataclass, field

from PIL import Image, ImageDraw, ImageFilter

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


def _draw_object(d: ImageDraw.ImageDraw, rng: random.Random, label: str, x: int, y: int, w: int, h: int) -> None:
    if label == "building":
        roof = rng.choice([(150, 60, 50), (120, 120, 130), (170, 150, 120), (90, 90, 100)])
        d.rectangle([x, y, x + w - 1, y + h - 1], fill=roof, outline=(40, 40, 40))
        d.line([x, y + h // 2, x + w - 1, y + h // 2], fill=tuple(max(0, c - 40) for c in roof), width=2)
    elif label == "vehicle":
        body = rng.choice([(200, 30, 30), (230, 230, 230), (30, 30, 160), (20, 20, 20), (220, 200, 40)])
        d.rectangle([x, y, x + w - 1, y + h - 1], fill=body)
        d.rectangle([x + w // 4, y + h // 4, x + 3 * w // 4, y + 3 * h // 4], fill=(60, 80, 110))
    elif label == "person":
        d.ellipse([x, y, x + w - 1, y + h - 1], fill=rng.choice([(240, 120, 30), (40, 60, 200), (230, 230, 60)]))
        d.ellipse([x + w // 3, y + h // 3, x + 2 * w // 3, y + 2 * h // 3], fill=(60, 40, 30))
    else:  # drone: an X frame with four rotors
        c = (30, 30, 30)
        d.line([x, y, x + w - 1, y + h - 1], fill=c, width=max(1, w // 8))
        d.line([x, y + h - 1, x + w - 1, y], fill=c, width=max(1, w // 8))
        r = max(2, w // 5)
        for cx, cy in ((x, y), (x + w - 1, y), (x, y + h - 1), (x + w - 1, y + h - 1)):
            d.ellipse([cx - r // 2, cy - r // 2, cx + r // 2, cy + r // 2], outline=(200, 200, 200))


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
    return SynthImage(f"aerial_{index:05d}.jpg", buf.getvalue(), width, height, boxes, orientation)


def iter_images(n: int, *, seed: int = 0, **kwargs: object) -> Iterator[SynthImage]:
    for i in range(n):
        yield make_image(i, seed=seed, **kwargs)  # type: ignore[arg-type]

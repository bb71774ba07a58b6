"""Near-duplicate images: a drone shoots bursts of almost identical frames, and labeling each one costs money
without teaching the model anything new.

Each image gets a 64-bit *perceptual hash* (pHash): the displayed (EXIF-rotated) image in grey, shrunk to
32x32, its 8x8 lowest-frequency DCT coefficients, one bit per coefficient (above the median of the AC ones?).
Re-encoding, resizing, exposure changes and small shifts move a few bits (measured on the synthetic drone scenes:
0-8 bits for a quality-70 re-encode, +10 % brightness, half size or an 8-pixel shift of a 640x480 frame), while
different scenes are 20 or more bits apart. Two images are near-duplicates when their hashes differ in at most
``max_distance`` bits.

Grouping is greedy in the given order (the first image of a group is kept) and exact: hashes are split into
``max_distance + 1`` bands, and two hashes within the distance share at least one band (pigeonhole), so only
images sharing a band are compared.

The pure part (:func:`phash_image`, :func:`hamming`, :class:`NearDuplicateIndex`) touches no file; :func:`phash`
decodes bytes, and the manifest builder reads the images concurrently.
"""

from __future__ import annotations

import io
import itertools
import math
from collections import defaultdict
from collections.abc import Iterable

from PIL import Image, ImageOps, UnidentifiedImageError

from gtlabel.errors import ConfigError

__all__ = ["DEFAULT_MAX_DISTANCE", "MAX_DISTANCE", "NearDuplicateIndex", "hamming", "phash", "phash_image"]

#: re-encoded, resized or slightly shifted frames are within 8 bits; other scenes 20 or more (median 32)
DEFAULT_MAX_DISTANCE = 8
MAX_DISTANCE = 16  # beyond this, unrelated scenes start to match
_BITS = 64


_N, _K = 32, 8
_COS = [[math.cos(math.pi * (2 * x + 1) * u / (2 * _N)) for x in range(_N)] for u in range(_K)]


def phash_image(img: Image.Image) -> int:
    """The 64-bit perceptual hash of a (displayed-orientation) image: signs of its 8x8 low DCT coefficients
    against their median (separable DCT-II on a 32x32 grey thumbnail; pure Python, no numpy)."""
    px = img.convert("L").resize((_N, _N), Image.Resampling.BOX).tobytes()
    rows = [[sum(c * p for c, p in zip(cu, px[y * _N:(y + 1) * _N], strict=True)) for cu in _COS] for y in range(_N)]
    coeffs = [sum(_COS[v][y] * rows[y][u] for y in range(_N)) for v in range(_K) for u in range(_K)]
    median = sorted(coeffs[1:])[(len(coeffs) - 1) // 2]  # the DC term (overall brightness) is left out
    value = 0
    for c in coeffs:
        value = (value << 1) | (c > median)
    return value


def phash(data: bytes, *, where: str = "image") -> int:
    """The perceptual hash of encoded image bytes, in the orientation the image is shown (EXIF applied).

    Raises :class:`ValueError` naming ``where`` when the bytes are not an image Pillow can decode."""
    try:
        with Image.open(io.BytesIO(data)) as img:
            if img.format == "JPEG":
                img.draft("L", (128, 128))  # decode at a fraction of the size: ample for 32x32, much faster
            shown = ImageOps.exif_transpose(img)
            return phash_image(shown if shown is not None else img)
    # ImportError: once Ultralytics is imported, its patched Image.open tries pi-heif on unknown bytes
    except (UnidentifiedImageError, OSError, SyntaxError, Image.DecompressionBombError, ImportError) as exc:
        raise ValueError(f"{where}: not a readable image ({exc})") from None


def hamming(a: int, b: int) -> int:
    return (a ^ b).bit_count()


def _bands(max_distance: int) -> list[tuple[int, int]]:
    """``max_distance + 1`` (shift, mask) bands covering the 64 bits."""
    n = max_distance + 1
    edges = [round(i * _BITS / n) for i in range(n + 1)]
    return [(lo, (1 << (hi - lo)) - 1) for lo, hi in itertools.pairwise(edges)]


class NearDuplicateIndex:
    """Greedy near-duplicate grouping: :meth:`add` returns ``None`` for an image to keep (it joins the index) or
    the key of the kept image it duplicates (the earliest-added one within ``max_distance``)."""

    def __init__(self, max_distance: int = DEFAULT_MAX_DISTANCE) -> None:
        if isinstance(max_distance, bool) or not isinstance(max_distance, int) or \
                not 0 <= max_distance <= MAX_DISTANCE:
            raise ConfigError(f"near-duplicate distance must be a whole number 0..{MAX_DISTANCE}, got {max_distance!r}")
        self.max_distance = max_distance
        self._bands = _bands(max_distance)
        self._tables: list[dict[int, list[int]]] = [defaultdict(list) for _ in self._bands]
        self._hashes: list[int] = []
        self._keys: list[str] = []

    def __len__(self) -> int:
        return len(self._keys)

    def match(self, h: int) -> str | None:
        """The key of the earliest kept image within the distance of hash ``h``, or ``None``."""
        best: int | None = None
        seen: set[int] = set()
        for (shift, mask), table in zip(self._bands, self._tables, strict=True):
            for i in table.get((h >> shift) & mask, ()):
                if i in seen or (best is not None and i >= best):
                    continue
                seen.add(i)
                if hamming(h, self._hashes[i]) <= self.max_distance:
                    best = i
        return None if best is None else self._keys[best]

    def add(self, key: str, h: int) -> str | None:
        found = self.match(h)
        if found is not None:
            return found
        i = len(self._keys)
        self._keys.append(key)
        self._hashes.append(h)
        for (shift, mask), table in zip(self._bands, self._tables, strict=True):
            table[(h >> shift) & mask].append(i)
        return None

    def extend(self, items: Iterable[tuple[str, int]]) -> dict[str, str]:
        """Add many; returns ``{duplicate key: kept key}``."""
        out = {}
        for key, h in items:
            kept = self.add(key, h)
            if kept is not None:
                out[key] = kept
        return out

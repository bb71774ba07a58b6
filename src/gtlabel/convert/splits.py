"""Splits, pure: the ratios, each image's place by a hash of its ``source-ref`` (+ ``seed``), and the stratified
assignment (by each image's rarest class). Adding images moves none of the others."""

from __future__ import annotations

import hashlib
from array import array
from collections.abc import Iterable, Mapping, Sequence

from gtlabel.errors import ConfigError
from gtlabel.formats.yolo import SPLITS

__all__ = ["normalize_splits", "split_for", "split_hash", "split_of", "stratify"]


def normalize_splits(splits: Sequence[float] | Mapping[str, float]) -> tuple[float, float, float]:
    if isinstance(splits, Mapping):
        unknown = set(splits) - set(SPLITS)
        if unknown:
            raise ConfigError(f"splits: unknown split(s) {sorted(unknown)}; use train, val, test")
        vals = [float(splits.get(s, 0.0)) for s in SPLITS]
    else:
        vals = [float(v) for v in splits]
        if len(vals) == 2:
            vals.append(0.0)
        if len(vals) != 3:
            raise ConfigError(f"splits: expected (train, val[, test]) ratios, got {list(splits)}")
    if any(v < 0 or v != v for v in vals) or sum(vals) <= 0:
        raise ConfigError(f"splits: ratios must be >= 0 and not all 0, got {vals}")
    if vals[0] <= 0:
        raise ConfigError("splits: the train ratio must be > 0")
    total = sum(vals)
    return vals[0] / total, vals[1] / total, vals[2] / total


def split_hash(source_ref: str, seed: int | str = 0) -> int:
    """A 64-bit hash of ``source-ref`` (salted by ``seed``): the image's place in the split order."""
    return int.from_bytes(hashlib.blake2b(f"{seed}\x00{source_ref}".encode(), digest_size=8).digest(), "big")


def split_for(source_ref: str, ratios: tuple[float, float, float], seed: int | str = 0) -> str:
    """The split of one image: stable for a given ``source-ref``, seed and ratios (adding images moves none)."""
    return split_of(split_hash(source_ref, seed), ratios)


def split_of(h: int, ratios: tuple[float, float, float]) -> str:
    """The split of the image whose :func:`split_hash` is ``h``."""
    u = h / 2.0**64
    if u < ratios[0]:
        return "train"
    if u < ratios[0] + ratios[1]:
        return "val"
    return "test" if ratios[2] > 0 else "val"


def stratify(images: Iterable[tuple[int, Iterable[int]]], n_classes: int,
             ratios: tuple[float, float, float]) -> bytearray:
    """Stratified splits: ``images`` gives each image's :func:`split_hash` and class ids, in manifest order;
    the result holds each image's split index into :data:`~gtlabel.formats.yolo.SPLITS`. Each image's stratum
    is its rarest class (by image count); within a stratum images are ordered by hash and cut by the ratios.
    Memory: 17 bytes per image (hash, class bit mask, split; classes from 64 on in a side table)."""
    hashes = array("Q")
    masks = array("Q")
    big: dict[int, set[int]] = {}
    img_counts = [0] * n_classes
    for h, classes in images:
        hashes.append(h)
        mask = 0
        for c in set(classes):
            img_counts[c] += 1
            if c < 64:
                mask |= 1 << c
            else:
                big.setdefault(len(masks), set()).add(c)
        masks.append(mask)
    strata: dict[int, list[int]] = {}
    for i, mask in enumerate(masks):
        present = [c for c in range(min(64, len(img_counts))) if mask >> c & 1] + sorted(big.get(i, ()))
        key = min(present, key=lambda c: (img_counts[c], c)) if present else -1
        strata.setdefault(key, []).append(i)
    assign = bytearray(len(masks))
    for idxs in strata.values():
        idxs.sort(key=lambda i: hashes[i])
        n = len(idxs)
        n_val = round(n * ratios[1])
        n_test = round(n * ratios[2])
        n_train = max(n - n_val - n_test, 0)
        for j, i in enumerate(idxs):
            assign[i] = 0 if j < n_train else 1 if j < n_train + n_val else 2
    return assign

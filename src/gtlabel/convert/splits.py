"""Splits, pure: the ratios, each image's place by a hash of its ``source-ref`` (+ ``seed``), the stratified
assignment (by each image's rarest class), and splits by sequence (:class:`SplitBy`, :func:`assign_groups`: every
image of a group, e.g. the frames of one video, in the same split). Adding images moves none of the others (but
for groups: a new group can move others, since the groups are cut to the ratios together)."""

from __future__ import annotations

import hashlib
from array import array
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from gtlabel.errors import ConfigError
from gtlabel.formats.ground_truth import SOURCE_REF
from gtlabel.formats.yolo import SPLITS

__all__ = ["PREFIX", "SplitBy", "assign_groups", "normalize_splits", "split_for", "split_hash", "split_of",
           "stratify"]

PREFIX = "prefix:"  # split_by="prefix:N": the group is the first N folders of the source-ref


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


# ------------------------------------------------------------------------------------------------ by sequence
@dataclass(frozen=True)
class SplitBy:
    """What groups images for ``split_by``: a pass-through key of the manifest lines (``key``, e.g. ``video`` or a
    flight id), or the first ``depth`` folders of the ``source-ref`` (``prefix:N``; below the bucket on S3)."""

    key: str | None = None
    depth: int | None = None

    @classmethod
    def parse(cls, text: str) -> SplitBy:
        """``"video"`` (any pass-through key) or ``"prefix:N"`` (N >= 1)."""
        if not isinstance(text, str) or not text.strip():
            raise ConfigError(f"split_by: expected a pass-through key (e.g. video) or prefix:N, got {text!r}")
        text = text.strip()
        if text.startswith(PREFIX):
            n = text[len(PREFIX):]
            if not n.isdigit() or int(n) < 1:
                raise ConfigError(f"split_by: {text!r}: prefix:N needs a folder depth N >= 1, e.g. prefix:2")
            return cls(depth=int(n))
        if text == SOURCE_REF:
            raise ConfigError("split_by: source-ref is the per-image split already; give a pass-through key "
                              "(e.g. video) or prefix:N")
        return cls(key=text)

    def __str__(self) -> str:
        return f"{PREFIX}{self.depth}" if self.depth is not None else str(self.key)

    def group_of(self, source_ref: str, extra: Mapping[str, Any]) -> str | None:
        """The group of one record (``None``: the line has no such key, or it is ``null``)."""
        if self.depth is not None:
            scheme, sep, rest = source_ref.partition("://")
            head = f"{scheme}://" if sep else ""
            parts = (rest if sep else source_ref).replace("\\", "/").split("/")
            keep = parts[:-1][: self.depth + (1 if sep else 0)]  # on S3 the bucket is not a folder
            return head + "/".join(keep)
        value = extra.get(self.key) if self.key is not None else None
        if value is None:
            return None
        return value if isinstance(value, str) else orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


def assign_groups(sizes: Mapping[str, int], ratios: tuple[float, float, float],
                  seed: int | str = 0) -> dict[str, int]:
    """Each group's split (an index into :data:`~gtlabel.formats.yolo.SPLITS`), the ratios met by whole groups.

    ``sizes``: images per group. Groups are taken in the order of their seeded :func:`split_hash` (so the result
    depends on the set of groups, never on the manifest's order) and each goes to the split furthest below its
    share of the images; a split thus exceeds its share by less than one group. Ultralytics needs a val split:
    when val has a share but got no group and train has two or more, train's smallest group moves to val."""
    total = sum(sizes.values())
    order = sorted(sizes, key=lambda g: (split_hash(g, seed), g))
    target = [r * total for r in ratios]
    got = [0, 0, 0]
    out: dict[str, int] = {}
    for g in order:
        deficits = [target[i] - got[i] if ratios[i] > 0 else float("-inf") for i in range(3)]
        i = max(range(3), key=lambda k: (deficits[k], -k))
        out[g] = i
        got[i] += sizes[g]
    if ratios[1] > 0 and got[1] == 0:
        train = [g for g in order if out[g] == 0]
        if len(train) >= 2:
            out[min(train, key=lambda g: sizes[g])] = 1  # min keeps the first of equal sizes (hash order)
    return out

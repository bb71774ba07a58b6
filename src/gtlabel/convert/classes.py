"""Class names: the dataset's names (index = YOLO class id) from the user's ``class_mapping`` or the job's
label category config; never from per-line ``class-map`` s, which only translate a line's ``class_id``."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from gtlabel import storage
from gtlabel.errors import ConfigError, InputError
from gtlabel.formats.ground_truth import LabelCategoryConfig

__all__ = ["alias_names", "check_aliases", "label_config_names", "load_label_config", "resolve_class_names"]


def resolve_class_names(class_mapping: Mapping[Any, Any] | Sequence[str] | None,
                        label_category_config: Mapping[str, Any] | None = None) -> list[str]:
    """Global class names, index = YOLO class id.

    ``class_mapping`` may be ``{name: id}`` (the seed's form), ``{id: name}``, or a list of names. Ids must
    be exactly 0..n-1. Without it, the label category config's ``labels`` order is used (Ground Truth's own
    ``class_id`` order).
    """
    if class_mapping is not None:
        if isinstance(class_mapping, Mapping):
            items = list(class_mapping.items())
            if not items:
                raise ConfigError("class_mapping is empty")
            if all(isinstance(k, str) and not k.isdigit() for k, _ in items):
                pairs = [(v, k) for k, v in items]  # {name: id}
            else:
                pairs = list(items)  # {id: name}
            by_id: dict[int, str] = {}
            for raw_id, name in pairs:
                try:
                    cid = int(raw_id)
                except (TypeError, ValueError):
                    raise ConfigError(f"class_mapping: expected {{name: id}} or {{id: name}} with integer ids, "
                                      f"got {raw_id!r} -> {name!r}") from None
                if not isinstance(name, str) or not name:
                    raise ConfigError(f"class_mapping: class {cid} needs a non-empty name, got {name!r}")
                if cid in by_id:
                    raise ConfigError(f"class_mapping: id {cid} is given twice ({by_id[cid]!r}, {name!r})")
                by_id[cid] = name
            if sorted(by_id) != list(range(len(by_id))):
                raise ConfigError(f"class_mapping: ids must be exactly 0..{len(by_id) - 1} (YOLO class ids are "
                                  f"contiguous), got {sorted(by_id)}")
            names = [by_id[i] for i in range(len(by_id))]
        else:
            names = [str(n) for n in class_mapping]
            if not names or not all(names):
                raise ConfigError("class_mapping: expected a non-empty list of non-empty names")
    elif label_category_config is not None:
        names = label_config_names(label_category_config)
    else:
        raise ConfigError("class names are needed: pass class_mapping (e.g. {'drone': 0, 'vehicle': 1}) or the "
                          "job's label_category_config; per-line class-maps only list the classes present")
    dupes = sorted(n for n, c in Counter(names).items() if c > 1)
    if dupes:
        raise ConfigError(f"class names must be unique; repeated: {', '.join(dupes)}")
    return names


def label_config_names(cfg: Mapping[str, Any]) -> list[str]:
    """The labels of a Ground Truth label category config (``{"document-version", "labels": [{"label"}]}``,
    read by :class:`~gtlabel.formats.ground_truth.LabelCategoryConfig`); a malformed one is a ConfigError."""
    try:
        return list(LabelCategoryConfig.parse(cfg).labels)
    except InputError as exc:
        raise ConfigError(f"label category config: {exc}") from None


def load_label_config(uri: str | os.PathLike[str] | Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    """The label category config given as a dict, or read from a URI/path (``None`` stays ``None``)."""
    if uri is None or isinstance(uri, Mapping):
        return uri
    try:
        cfg = orjson.loads(storage.read_bytes(str(uri)).removeprefix(b"\xef\xbb\xbf"))
    except orjson.JSONDecodeError as exc:
        raise ConfigError(f"{uri}: the label category config is not valid JSON: {exc}") from None
    if not isinstance(cfg, dict):
        raise ConfigError(f"{uri}: the label category config must be a JSON object")
    return cfg


def check_aliases(aliases: Mapping[str, str] | Sequence[str] | None) -> dict[str, str]:
    """A class alias map, checked: ``{"car": "vehicle", "truck": "vehicle"}`` or the CLI's ``["car=vehicle",
    ...]``. A class is renamed before it is looked up among the dataset's names, so an ontology change
    (merging or renaming classes) needs no relabeling. One step only: a target may not itself be aliased
    (``a=b``, ``b=c`` is refused, it would depend on the order). Sorted by name (it is part of version ids)."""
    if not aliases:
        return {}
    pairs: list[tuple[object, object]] = []
    if isinstance(aliases, Mapping):
        pairs = list(aliases.items())
    else:
        for item in aliases:
            name, eq, target = str(item).partition("=")
            if not eq:
                raise ConfigError(f"alias {item!r}: expected NAME=TARGET, e.g. car=vehicle")
            pairs.append((name.strip(), target.strip()))
    out: dict[str, str] = {}
    for key, value in pairs:
        if not isinstance(key, str) or not key or not isinstance(value, str) or not value:
            raise ConfigError(f"alias {key!r} -> {value!r}: both must be non-empty class names")
        name, target = key, value
        if name in out and out[name] != target:
            raise ConfigError(f"alias {name!r} is given twice ({out[name]!r}, {target!r})")
        if name != target:
            out[name] = target
    chained = sorted(t for t in out.values() if t in out)
    if chained:
        raise ConfigError(f"alias targets may not be aliased themselves: {', '.join(chained)} (give the final name)")
    return dict(sorted(out.items()))


def alias_names(names: Sequence[str], aliases: Mapping[str, str]) -> tuple[list[str], list[int]]:
    """The class names after the aliases (in the order each first appears) and, for each old index, its new one:
    ``alias_names(["car", "truck", "person"], {"car": "vehicle", "truck": "vehicle"})`` is
    ``(["vehicle", "person"], [0, 0, 1])``. A key that names no class is a ConfigError (a typo would
    otherwise do nothing)."""
    unused = sorted(set(aliases) - set(names))
    if unused:
        raise ConfigError(f"alias for {', '.join(map(repr, unused))}: not one of the classes {list(names)}")
    merged: dict[str, int] = {}
    index = []
    for n in names:
        index.append(merged.setdefault(aliases.get(n, n), len(merged)))
    return list(merged), index

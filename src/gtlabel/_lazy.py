"""Lazy package exports: a package's public names import their module on first use (PEP 562)."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(package: str, exports: Mapping[str, str], *,
                 on_import_error: Callable[[ImportError], Exception] | None = None) -> Callable[[str], Any]:
    """A module ``__getattr__`` for ``package``: ``exports`` maps each name to the module that defines it; the
    module is imported when the name is first used, and the value kept in the package's namespace.
    ``on_import_error`` turns a failed import (a missing extra) into the error to raise instead."""

    def __getattr__(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        try:
            loaded = importlib.import_module(module)
        except ImportError as exc:
            if on_import_error is None:
                raise
            raise on_import_error(exc) from exc
        value = getattr(loaded, name)
        setattr(sys.modules[package], name, value)
        return value

    return __getattr__

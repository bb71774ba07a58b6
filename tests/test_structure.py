"""The package's shape, read from its source (AST only, nothing imported; parsed when the first test asks).

- no module over 600 lines, except the declarative ones named in :data:`DECLARATIVE`;
- imports at module level: a function imports only a heavy extra (:data:`LAZY_EXTRAS`), or boto3/botocore
  with a comment on the line (or the line above) saying why (a measured start-up cost);
- no private name (``_x``) imported from another module; a private module (``pkg/_common.py``) only from
  inside its own package; the tests use no private name of gtlabel at all.

The layers themselves are import-linter's contracts (``[tool.importlinter]`` in pyproject.toml, run by
scripts/test.sh). :data:`PENDING` names the files still being changed, with who changes them; an entry that
no longer occurs fails the test, so the list only shrinks.
"""

from __future__ import annotations

import ast
import functools
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
PACKAGE = SRC / "gtlabel"
TESTS = ROOT / "tests"

MAX_LINES = 600
#: Modules allowed over MAX_LINES because they are declarative (data, a template), with the reason.
DECLARATIVE: dict[str, str] = {}
#: Packages a function may import lazily: the heavy optional extras (and Pillow, on start-up paths).
LAZY_EXTRAS = frozenset({
    "numpy", "matplotlib", "PIL", "imagehash",                 # quality / local extras (Pillow: start-up)
    "starlette", "uvicorn", "moto", "liquid", "multipart",     # local extra
    "httpx",                                                   # local extra (simulated workers)
    "ultralytics", "torch", "torchvision",                     # train extra
    "sagemaker", "jsonschema",                                 # pipeline extra (jsonschema: the SDK's, checked with it)
    "av",                                                      # video extra (PyAV)
    "piexif", "defusedxml",                                    # geo extra
    "playwright", "papermill", "nbclient", "nbformat", "IPython", "ipywidgets", "cfnlint", "parliament",
})
#: Lazy only with a comment that says why (a measured start-up cost).
LAZY_WITH_REASON = frozenset({"boto3", "botocore"})

#: Files with violations still being removed (issue 11): "<rule>: <file>" -> who moves them and how.
PENDING: dict[str, str] = {}


@dataclass(frozen=True)
class Module:
    name: str  # dotted, e.g. gtlabel.jobs.build ("gtlabel.jobs" for jobs/__init__.py)
    path: Path
    text: str
    tree: ast.Module

    @property
    def rel(self) -> str:
        return self.path.relative_to(ROOT).as_posix()

    @property
    def package(self) -> str:
        return self.name if self.path.name == "__init__.py" else self.name.rpartition(".")[0]


def _modules(root: Path, base: Path) -> list[Module]:
    out = []
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(base).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        text = path.read_text(encoding="utf-8")
        out.append(Module(".".join(parts), path, text, ast.parse(text, filename=str(path))))
    return out


@functools.cache
def package_modules() -> list[Module]:
    """The package's modules, parsed when a test first asks (not at collection: every xdist worker collects this
    file, and parsing the package and the tests costs ~2 CPU-s)."""
    return _modules(PACKAGE, SRC)


@functools.cache
def modules_of_tests() -> list[Module]:
    return _modules(TESTS, TESTS)


def _private(part: str) -> bool:
    return part.startswith("_") and not (part.startswith("__") and part.endswith("__"))


def _imported(mod: Module, node: ast.Import | ast.ImportFrom) -> Iterator[tuple[str, str]]:
    """``(module, name)`` for each thing ``node`` imports (``name`` empty for ``import a.b``)."""
    if isinstance(node, ast.Import):
        for alias in node.names:
            yield alias.name, ""
        return
    if node.level:
        base = mod.package.split(".")
        base = base[: len(base) - node.level + 1]
        source = ".".join([*base, node.module] if node.module else base)
    else:
        source = node.module or ""
    for alias in node.names:
        yield source, alias.name


def _function_imports(mod: Module) -> Iterator[ast.Import | ast.ImportFrom]:
    for node in ast.walk(mod.tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            for sub in ast.walk(node):
                if isinstance(sub, ast.Import | ast.ImportFrom):
                    yield sub


def _has_reason(mod: Module, node: ast.stmt) -> bool:
    """A comment on the import's line, or above it (over the other imports of the same block)."""
    lines = mod.text.splitlines()
    if "#" in lines[node.lineno - 1]:
        return True
    i = node.lineno - 2
    while i >= 0 and lines[i].strip().startswith(("import ", "from ")):
        i -= 1
    return i >= 0 and lines[i].strip().startswith("#")


def too_long() -> list[str]:
    return [f"lines: {m.rel}: {len(m.text.splitlines())} lines" for m in package_modules()
            if len(m.text.splitlines()) > MAX_LINES and m.rel not in DECLARATIVE]


def hidden_imports() -> list[str]:
    out = []
    for m in package_modules():
        for node in _function_imports(m):
            for source, _ in _imported(m, node):
                top = source.split(".")[0]
                if top in LAZY_EXTRAS or (top in LAZY_WITH_REASON and _has_reason(m, node)):
                    continue
                out.append(f"function import: {m.rel}: {ast.unparse(node)}")
                break
    return out


def private_imports() -> list[str]:
    out = []
    for m in package_modules():
        for node in ast.walk(m.tree):
            if not isinstance(node, ast.Import | ast.ImportFrom):
                continue
            for source, name in _imported(m, node):
                if not source.startswith("gtlabel"):
                    continue
                if name and _private(name) and source != m.name:
                    out.append(f"private name: {m.rel}: from {source} import {name}")
                parts = source.split(".")
                for i, part in enumerate(parts):
                    owner = ".".join(parts[:i])  # the package a private module belongs to
                    if _private(part) and not (m.name == owner or m.name.startswith(owner + ".")):
                        out.append(f"private module: {m.rel}: {source}")
    return out


def _is_module(dotted: str) -> bool:
    path = SRC.joinpath(*dotted.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def private_names_in_tests() -> list[str]:
    out = []
    for m in modules_of_tests():
        modules: set[str] = set()  # local names bound to gtlabel modules
        for node in ast.walk(m.tree):
            if isinstance(node, ast.Import | ast.ImportFrom):
                for source, name in _imported(m, node):
                    if not source.startswith("gtlabel"):
                        continue
                    full = f"{source}.{name}" if name else source
                    if any(_private(p) for p in full.split(".")):
                        out.append(f"test private: {m.rel}: {full}")
                    if name and _is_module(full):
                        modules.add(name)
                    elif not name:
                        modules.add(source.split(".")[0])
                for alias in node.names:
                    if alias.asname and isinstance(node, ast.ImportFrom) and source.startswith("gtlabel") \
                            and _is_module(f"{source}.{alias.name}"):
                        modules.add(alias.asname)
        for node in ast.walk(m.tree):
            if isinstance(node, ast.Attribute) and _private(node.attr):
                chain, value = [node.attr], node.value
                while isinstance(value, ast.Attribute):
                    chain.append(value.attr)
                    value = value.value
                if isinstance(value, ast.Name) and value.id in modules:
                    out.append(f"test private: {m.rel}: {ast.unparse(node)}")
    return sorted(set(out))


def _check(found: list[str]) -> None:
    new = [f for f in found if _key(f) not in PENDING]
    assert not new, "\n".join(new)


def _key(finding: str) -> str:
    """``"<rule>: <file>"`` of a finding (its :data:`PENDING` key)."""
    return ": ".join(finding.split(": ")[:2])


def test_no_module_over_600_lines() -> None:
    _check(too_long())


def test_imports_at_module_level() -> None:
    _check(hidden_imports())


def test_no_private_name_imported_across_modules() -> None:
    _check(private_imports())


def test_tests_use_public_names_only() -> None:
    _check(private_names_in_tests())


def test_pending_entries_still_occur() -> None:
    found = {_key(f) for f in too_long() + hidden_imports() + private_imports() + private_names_in_tests()}
    gone = sorted(set(PENDING) - found)
    assert not gone, "fixed: remove from PENDING:\n" + "\n".join(gone)


#: Test folders that are no package's mirror, with the reason.
CROSS_CUTTING: dict[str, str] = {
    "security": "the hardening corpus that crosses local/, formats/, convert/ (docs/SECURITY.md)",
}


def test_test_folders_mirror_the_packages() -> None:
    """``tests/<a>/<b>/`` holds the tests of the package ``gtlabel.<a>.<b>`` (tests/<pkg>/test_*.py)."""
    folders = {p.parent.relative_to(TESTS).as_posix() for p in TESTS.rglob("test_*.py")} - {"."}
    stray = [f for f in sorted(folders) if not (PACKAGE / f / "__init__.py").is_file() and f not in CROSS_CUTTING]
    assert not stray, f"tests/<folder> without a package src/gtlabel/<folder>: {stray}"


def test_declarative_modules_exist() -> None:
    assert [name for name in DECLARATIVE if not (ROOT / name).is_file()] == []

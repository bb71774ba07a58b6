"""Packaging: set-up reads pyproject.toml without deprecation warnings and writes the SPDX licence."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_metadata_builds_without_deprecation_warnings(tmp_path: Path) -> None:
    """setuptools warned (three times per install) about ``project.license`` as a table; the SPDX string is clean."""
    project = tmp_path / "project"
    (project / "src" / "gtlabel").mkdir(parents=True)
    shutil.copy(ROOT / "pyproject.toml", project)
    shutil.copy(ROOT / "README.md", project)
    (project / "src" / "gtlabel" / "__init__.py").write_text("")
    out = tmp_path / "meta"
    out.mkdir()
    code = ("import sys; from setuptools import build_meta; "
            "print(build_meta.prepare_metadata_for_build_wheel(sys.argv[1]))")
    run = subprocess.run([sys.executable, "-W", "error::DeprecationWarning", "-c", code, str(out)], cwd=project,
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "Deprecat" not in run.stderr, run.stderr[-3000:]
    metadata = (out / run.stdout.split()[-1] / "METADATA").read_text()
    assert "License-Expression: Apache-2.0" in metadata

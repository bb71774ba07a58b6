"""Offline set-up and lazy extras: the core imports without ultralytics/sagemaker; missing extras say which."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from gtlabel.model import offline


def _run(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          timeout=120, env={**os.environ, **env})


def test_core_and_cli_import_without_heavy_extras() -> None:
    proc = _run("""
        import sys
        import gtlabel, gtlabel.model, gtlabel.model.offline, gtlabel.cli
        from gtlabel.cli import app
        heavy = sorted(m for m in ("ultralytics", "torch", "sagemaker") if m in sys.modules)
        print("HEAVY", heavy)
    """)
    assert proc.returncode == 0, proc.stderr
    assert "HEAVY []" in proc.stdout


_BLOCK = """
    import sys
    class Block:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ("ultralytics", "sagemaker"):
                raise ImportError(f"No module named {name!r} (blocked by test)")
            return None
    sys.meta_path.insert(0, Block())
"""


def test_missing_ultralytics_raises_missing_extra_and_cli_exits_8(tmp_path: Path) -> None:
    proc = _run(_BLOCK + f"""
    from gtlabel.errors import MissingExtra
    from gtlabel.model.train import train_yolo
    try:
        train_yolo({str(tmp_path)!r})
    except MissingExtra as exc:
        print("EXTRA", exc.extra, "|", exc)
    from typer.testing import CliRunner
    from gtlabel.cli import app
    r = CliRunner().invoke(app, ["evaluate", "best.pt", {str(tmp_path)!r}])
    print("EXIT", r.exit_code)
    r = CliRunner().invoke(app, ["pipeline", "build", "--output-prefix", "s3://b/p",
                                 "--role", "arn:aws:iam::123456789012:role/x"])
    print("EXIT2", r.exit_code, r.output.replace("\\n", " "))
    """)
    assert proc.returncode == 0, proc.stderr
    # the dataset is checked after the extra: the extra is what fails first for an empty folder too
    assert "EXTRA train |" in proc.stdout and "gtlabel[train]" in proc.stdout
    assert "EXIT 8" in proc.stdout
    # (the CLI renders errors with rich markup, which swallows "[pipeline]": reported to the CLI owner)
    assert "EXIT2 8" in proc.stdout and "sagemaker is needed" in proc.stdout


def test_ensure_offline_places_fonts_and_is_idempotent(tmp_path: Path) -> None:
    proc = _run(f"""
    import os
    from gtlabel.model.offline import ensure_ultralytics_offline, import_ultralytics
    d1 = ensure_ultralytics_offline({str(tmp_path)!r})
    d2 = ensure_ultralytics_offline()
    assert d1 == d2, (d1, d2)
    print("ENV", os.environ["YOLO_OFFLINE"], os.environ["YOLO_AUTOINSTALL"], os.environ["YOLO_CONFIG_DIR"])
    mod = import_ultralytics()
    from ultralytics.utils import USER_CONFIG_DIR, SETTINGS
    print("DIR", USER_CONFIG_DIR == d1, SETTINGS["sync"])
    """, YOLO_CONFIG_DIR="")
    assert proc.returncode == 0, proc.stderr
    assert f"ENV 1 false {tmp_path}" in proc.stdout
    assert "DIR True False" in proc.stdout
    fonts = tmp_path / "Ultralytics"
    for name in ("Arial.ttf", "Arial.Unicode.ttf"):
        data = (fonts / name).read_bytes()
        assert data[:4] in (b"\x00\x01\x00\x00", b"true", b"OTTO"), name  # a TrueType file
    assert not list(fonts.glob("*.tmp"))


def test_default_cache_dir_honours_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("GTLABEL_CACHE_DIR", str(tmp_path / "c"))
    assert offline.default_cache_dir() == tmp_path / "c"
    monkeypatch.delenv("GTLABEL_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "x"))
    assert offline.default_cache_dir() == tmp_path / "x" / "gtlabel"


def test_sagemaker_offline_config_opts_out_of_telemetry(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SAGEMAKER_VALIDATE_ROLE", raising=False)
    offline.ensure_sagemaker_offline()
    assert os.environ["SAGEMAKER_VALIDATE_ROLE"] == "false"
    assert os.environ["SAGEMAKER_SUPPRESS_V2_WARNING"] == "1"
    assert offline.SAGEMAKER_OFFLINE_CONFIG["SageMaker"]["PythonSDK"]["Modules"]["TelemetryOptOut"] is True

"""Fully offline settings for Ultralytics and the SageMaker Python SDK (see reference/environment.md §3, §4).

Ultralytics reaches the network in three places unless told not to: a DNS "online" check at import
(``YOLO_OFFLINE=1`` skips it), a font download during dataset checks (we place matplotlib's DejaVuSans under
the names ``Arial.ttf`` / ``Arial.Unicode.ttf`` in its config dir), and the AMP check on CUDA (callers pass
``amp=False``). ``YOLO_AUTOINSTALL=false`` stops pip auto-installs; settings ``sync=False`` stops analytics.

The SageMaker SDK calls STS and an S3 telemetry endpoint unless telemetry is opted out through its config
dict (:data:`SAGEMAKER_OFFLINE_CONFIG`).

:func:`ensure_ultralytics_offline` is idempotent: the environment is set and fonts placed once per process.
"""

from __future__ import annotations

import os
import shutil
import sys
import threading
from pathlib import Path
from types import ModuleType
from typing import Any

from gtlabel.errors import MissingExtra
from gtlabel.settings import get_settings

__all__ = [
    "SAGEMAKER_OFFLINE_CONFIG",
    "default_cache_dir",
    "ensure_sagemaker_offline",
    "ensure_ultralytics_offline",
    "import_ultralytics",
]

#: The SDK's config (the same schema as ``~/.config/sagemaker/config.yaml``) with telemetry opted out.
SAGEMAKER_OFFLINE_CONFIG: dict[str, Any] = {
    "SchemaVersion": "1.0",
    "SageMaker": {"PythonSDK": {"Modules": {"TelemetryOptOut": True}}},
}

_FONT_NAMES = ("Arial.ttf", "Arial.Unicode.ttf")
_lock = threading.Lock()
_ultralytics_ready: Path | None = None


def default_cache_dir() -> Path:
    """``$GTLABEL_CACHE_DIR`` (the ``cache_dir`` setting) or ``$XDG_CACHE_HOME/gtlabel`` (``~/.cache/gtlabel``)."""
    configured = get_settings().cache_dir
    if configured is not None:
        return configured.expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "gtlabel"


def _place_fonts(font_dir: Path) -> None:
    """Copy matplotlib's DejaVuSans.ttf to ``Arial.ttf`` and ``Arial.Unicode.ttf`` (Ultralytics' font check)."""
    missing = [n for n in _FONT_NAMES if not (font_dir / n).exists()]
    if not missing:
        return
    try:
        import matplotlib
    except ImportError as exc:  # matplotlib comes with ultralytics; without it no plots and no font check
        raise MissingExtra("train", "matplotlib") from exc
    src = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
    font_dir.mkdir(parents=True, exist_ok=True)
    for name in missing:
        tmp = font_dir / f".{name}.{os.getpid()}.tmp"
        shutil.copyfile(src, tmp)
        os.replace(tmp, font_dir / name)


def ensure_ultralytics_offline(config_dir: str | os.PathLike[str] | None = None) -> Path:
    """Make Ultralytics run with zero network attempts; return its settings dir (where the fonts are).

    Must run before ``import ultralytics`` to take full effect (the env vars are read at import); when
    Ultralytics is already imported the fonts go into the settings dir it already uses. ``config_dir`` (or an
    existing ``YOLO_CONFIG_DIR``) wins over the default ``<cache>/ultralytics``.
    """
    global _ultralytics_ready
    with _lock:
        if _ultralytics_ready is not None and config_dir is None:
            return _ultralytics_ready
        os.environ["YOLO_OFFLINE"] = "1"
        os.environ["YOLO_AUTOINSTALL"] = "false"
        os.environ.setdefault("YOLO_VERBOSE", "true")
        if "ultralytics" in sys.modules:
            from ultralytics.utils import USER_CONFIG_DIR

            settings_dir = Path(USER_CONFIG_DIR)
        else:
            if config_dir is not None:
                os.environ["YOLO_CONFIG_DIR"] = str(Path(config_dir).expanduser().resolve())
            elif not os.environ.get("YOLO_CONFIG_DIR"):
                os.environ["YOLO_CONFIG_DIR"] = str(default_cache_dir() / "ultralytics")
            settings_dir = Path(os.environ["YOLO_CONFIG_DIR"]) / "Ultralytics"
        settings_dir.mkdir(parents=True, exist_ok=True)
        _place_fonts(settings_dir)
        _ultralytics_ready = settings_dir
        return settings_dir


def import_ultralytics() -> ModuleType:
    """``import ultralytics`` after :func:`ensure_ultralytics_offline`; ``sync=False`` in its settings.

    Raises :class:`~gtlabel.errors.MissingExtra` (extra ``train``) when it is not installed.
    """
    ensure_ultralytics_offline()
    try:
        import ultralytics
        from ultralytics import utils as ul_utils
    except ImportError as exc:
        raise MissingExtra("train", "ultralytics") from exc
    settings: Any = ul_utils.SETTINGS
    if settings.get("sync", True):
        settings.update(sync=False)
    return ultralytics


def ensure_sagemaker_offline() -> None:
    """Environment for the SageMaker SDK: no role validation, no v2 deprecation banner.

    Telemetry is opted out separately by passing :data:`SAGEMAKER_OFFLINE_CONFIG` as ``sagemaker_config``.
    """
    os.environ["SAGEMAKER_VALIDATE_ROLE"] = "false"
    os.environ["SAGEMAKER_SUPPRESS_V2_WARNING"] = "1"

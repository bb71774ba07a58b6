"""``gtlabel serve``: a local, Ground-Truth-compatible labeling service (extra: ``local``).

The labeling-job subset of the SageMaker API over its own wire protocol (so unmodified boto3 is the client), a
worker portal, an embedded S3 and a job engine that writes Ground Truth's output layout. See
:class:`gtlabel.local.server.LocalService` and docs/ARCHITECTURE.md ("local service").
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gtlabel.local.backend import ManualClock
    from gtlabel.local.server import LocalService

__all__ = ["LocalService", "ManualClock"]


def __getattr__(name: str) -> Any:
    # lazy: importing gtlabel.local must not pull starlette/uvicorn/moto until the service is used
    if name == "LocalService":
        try:
            from gtlabel.local.server import LocalService
        except ImportError as exc:  # pragma: no cover - depends on the installed extras
            from gtlabel.errors import MissingExtra

            raise MissingExtra("local", exc.name or "starlette") from exc
        return LocalService
    if name == "ManualClock":
        from gtlabel.local.backend import ManualClock

        return ManualClock
    raise AttributeError(name)

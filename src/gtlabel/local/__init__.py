"""``gtlabel serve``: a local, Ground-Truth-compatible labeling service (extra: ``local``).

The labeling-job subset of the SageMaker API over its own wire protocol (so unmodified boto3 is the client), a
worker portal, an embedded S3 and a job engine that writes Ground Truth's output layout. See
:class:`gtlabel.local.server.LocalService` and docs/ARCHITECTURE.md ("local service").
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gtlabel._lazy import lazy_exports
from gtlabel.errors import MissingExtra

if TYPE_CHECKING:
    from gtlabel.local.backend import ManualClock
    from gtlabel.local.server import LocalService

__all__ = ["LocalService", "ManualClock"]

# names load on first use: importing gtlabel.local must not pull starlette/uvicorn/moto until the service is used
__getattr__ = lazy_exports(
    __name__, {"LocalService": "gtlabel.local.server", "ManualClock": "gtlabel.local.backend"},
    on_import_error=lambda exc: MissingExtra("local", exc.name or "starlette"),
)

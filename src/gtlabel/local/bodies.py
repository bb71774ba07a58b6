"""Request bodies of the local service: a size limit per route, refused before they are read.

:class:`BodyLimit` is a plain ASGI middleware in front of the whole app. A request whose ``Content-Length`` is
over its route's limit gets ``413`` at once, before a byte of the body is read; a body without (or with a false)
``Content-Length`` is counted as it arrives and reading it raises :class:`RequestTooLarge` as soon as it passes the
limit (the app turns that into ``413``), so no request ever holds more than its limit in memory.

Limits: the SageMaker API (``POST /``) :data:`MAX_API_BODY`, a worker's answer :data:`MAX_ANSWER_BYTES`, every
other route (login form, decline/return, logout) :data:`MAX_FORM_BYTES`.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from gtlabel.errors import RequestTooLarge

__all__ = ["MAX_ANSWER_BYTES", "MAX_API_BODY", "MAX_FORM_BYTES", "BodyLimit", "limit_for"]

MAX_API_BODY = 16 << 20  # a CreateLabelingJob request with an inline UiTemplate is well under 1 MB
# 1,000 boxes (the default cap) take about 65 KB; parsed, a body costs ~10x its size in memory, so the limit
# bounds what concurrent hostile submits can hold (bench/bench_hostile.py)
MAX_ANSWER_BYTES = 1 << 20
MAX_FORM_BYTES = 64 << 10

_SUBMIT = re.compile(r"^/tasks/[^/]+/submit$")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]


def limit_for(method: str, path: str) -> int:
    """The body limit of a route."""
    if path == "/" and method == "POST":
        return MAX_API_BODY
    if _SUBMIT.match(path):
        return MAX_ANSWER_BYTES
    return MAX_FORM_BYTES


class BodyLimit:
    """ASGI middleware: ``413`` on a ``Content-Length`` over the route's limit, :class:`RequestTooLarge` from
    ``receive`` once a streamed body passes it. ``too_large(scope, limit)`` builds the 413 reply (an ASGI app)."""

    def __init__(self, app: App, too_large: Callable[[Scope, int], App]) -> None:
        self.app = app
        self.too_large = too_large

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = limit_for(scope["method"], scope["path"])
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = limit + 1
                if declared > limit or declared < 0:
                    await self.too_large(scope, limit)(scope, receive, send)
                    return
        seen = 0

        async def capped() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise RequestTooLarge(limit)
            return message

        await self.app(scope, capped, send)

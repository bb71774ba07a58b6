"""The HTTP protocol the local service's uvicorn runs: uvicorn's own (httptools) with each response sent in one
write.

uvicorn writes a response's status line and headers in one ``transport.write`` and its body in another. With
``TCP_NODELAY`` (which uvicorn sets) each write is a packet of its own: on loopback every one is a system call
that also delivers the data and wakes the reader, so the worker's client reads twice for one reply. In the
service's profile at 300 answers/s these writes were a third of the event loop's time (bench/README.md, "The local
service"). :class:`OneWrite` holds what is written during one step of the event loop and sends it in one write
at the end of the step: the head and the body of a response go together, nothing waits longer than the step
that wrote it, and the bytes and their order on the wire are the same.
"""

from __future__ import annotations

import asyncio
from typing import Any, cast

__all__ = ["OneWrite", "http_protocol"]


class OneWrite:
    """A transport whose writes within one step of the event loop leave in one ``write`` of the transport it
    wraps, at the end of that step (``close`` sends what is held first). Everything else is the wrapped
    transport's."""

    __slots__ = ("_held", "_loop", "_transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._held: list[bytes] = []

    def write(self, data: bytes) -> None:
        if not data:
            return
        if not self._held:
            self._loop.call_soon(self.flush)
        self._held.append(data)

    def writelines(self, lines: Any) -> None:
        for data in lines:
            self.write(data)

    def flush(self) -> None:
        """Send what is held now (at the end of the step that wrote it, or before a close)."""
        held = self._held
        if not held:
            return
        self._held = []
        if self._transport.is_closing():  # the peer went away: nothing can be sent any more
            return
        self._transport.write(held[0] if len(held) == 1 else b"".join(held))

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def abort(self) -> None:
        self._held = []
        self._transport.abort()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


def http_protocol() -> type[asyncio.Protocol] | str:
    """The protocol class for ``uvicorn.Config(http=...)``: uvicorn's httptools protocol on :class:`OneWrite`
    transports (``"auto"``, uvicorn's choice, where httptools is missing)."""
    try:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
    except ImportError:  # pragma: no cover - httptools is a dependency
        return "auto"

    class OneWriteHttpTools(HttpToolsProtocol):
        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(cast("asyncio.Transport", OneWrite(transport, self.loop)))

    return OneWriteHttpTools

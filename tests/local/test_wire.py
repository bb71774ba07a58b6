"""The service's HTTP protocol (gtlabel.local.wire): what one step of the event loop writes leaves in one write,
so a response's head and body are one send; nothing is held past the step, reordered or lost at a close."""

from __future__ import annotations

import asyncio
from typing import Any

import uvicorn
from uvicorn.server import ServerState

from gtlabel.local.wire import OneWrite, http_protocol


class FakeTransport:
    """Records the writes the protocol makes (what would be send() calls on the socket)."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        assert not self.closed, "write after close"
        self.writes.append(bytes(data))

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 40000), "sockname": ("127.0.0.1", 8000)}.get(name, default)

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


async def _steps(n: int = 3) -> None:
    for _ in range(n):
        await asyncio.sleep(0)


def test_writes_of_one_step_leave_together_in_order() -> None:
    async def main() -> FakeTransport:
        raw = FakeTransport()
        t = OneWrite(raw, asyncio.get_running_loop())  # type: ignore[arg-type]
        t.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n")
        t.write(b"")  # nothing to send: no write of its own
        t.write(b"ok")
        assert raw.writes == []  # held until the step ends
        await _steps()
        assert raw.writes == [b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"]
        t.write(b"next")  # a later step: a write of its own, not held beyond its step
        await _steps()
        t.writelines([b"a", b"b"])
        await _steps()
        assert t.get_extra_info("peername") == ("127.0.0.1", 40000)  # the rest is the wrapped transport's
        return raw

    raw = asyncio.run(main())
    assert raw.writes == [b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok", b"next", b"ab"]


def test_close_sends_what_is_held_first_and_a_closed_peer_gets_nothing() -> None:
    async def main() -> FakeTransport:
        loop = asyncio.get_running_loop()
        raw = FakeTransport()
        t = OneWrite(raw, loop)  # type: ignore[arg-type]
        t.write(b"last words")
        t.close()
        assert raw.writes == [b"last words"] and raw.closed
        gone = FakeTransport()
        t2 = OneWrite(gone, loop)  # type: ignore[arg-type]
        t2.write(b"too late")
        gone.closed = True  # the peer went away before the step ended
        await _steps()  # the flush must not write to a closed transport (FakeTransport asserts)
        return gone

    gone = asyncio.run(main())
    assert gone.writes == []


def test_the_service_protocol_sends_each_response_in_one_write() -> None:
    """uvicorn's httptools protocol as the service runs it: a request in, one write out with the status line,
    the headers and the whole body (uvicorn alone makes two: head, then body)."""
    body = b'{"ok":true}'

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})

    async def main() -> FakeTransport:
        config = uvicorn.Config(app, http=http_protocol(), lifespan="off", log_level="warning")
        config.load()
        proto = config.http_protocol_class(config=config, server_state=ServerState(), app_state={},
                                           _loop=asyncio.get_running_loop())
        raw = FakeTransport()
        proto.connection_made(raw)
        for _ in range(2):  # two requests on one keep-alive connection
            proto.data_received(b"POST /api/x HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\n{}")
            await _steps(10)
        proto.connection_lost(None)
        return raw

    raw = asyncio.run(main())
    assert len(raw.writes) == 2, raw.writes
    for w in raw.writes:
        assert w.startswith(b"HTTP/1.1 200 OK\r\n") and w.endswith(b"\r\n\r\n" + body), w

"""HotRoutes: the two requests of every task go straight to the portal's handlers (no router walk), with the
same answers as through the app for an ended session and an oversized body; everything else reaches the app."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from gtlabel.errors import RequestTooLarge, SessionEnded
from gtlabel.local.bodies import MAX_ANSWER_BYTES
from gtlabel.local.server import HotRoutes


class FakePortal:
    def __init__(self) -> None:
        self.raise_next: Exception | None = None

    async def api_next_task(self, request: Request) -> Response:
        if self.raise_next is not None:
            raise self.raise_next
        return JSONResponse({"route": "next-task", "job": request.query_params.get("job")})

    async def submit(self, request: Request) -> Response:
        if self.raise_next is not None:
            raise self.raise_next
        body = await request.body()
        return JSONResponse({"route": "submit", "task_id": request.path_params["task_id"], "bytes": len(body)})

    def login_required(self, request: Request, exc: Exception | None = None) -> Response:
        return JSONResponse({"error": "login required"}, status_code=401)


def test_the_two_task_requests_go_to_the_portal_and_the_rest_to_the_app() -> None:
    seen: list[tuple[str, str]] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append((scope["method"], scope["path"]))
        await JSONResponse({"route": "app"})(scope, receive, send)

    portal = FakePortal()
    asyncio.run(_exercise(HotRoutes(app, portal), portal, seen))


async def _exercise(hot: HotRoutes, portal: FakePortal, seen: list[tuple[str, str]]) -> None:
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=hot), base_url="http://t")
    assert (await client.post("/api/next-task?job=j1", json={})).json() == {"route": "next-task", "job": "j1"}
    assert (await client.post("/tasks/t-1_x/submit", content=b"{}")).json() == {"route": "submit", "task_id": "t-1_x",
                                                                        "bytes": 2}
    assert seen == []
    for method, path in (("GET", "/api/next-task"), ("POST", "/api/next-task/x"), ("POST", "/tasks//submit"),
                         ("POST", "/tasks/a/b/submit"), ("POST", "/tasks/t-1/decline"), ("GET", "/tasks/t-1/submit"),
                         ("POST", "/"), ("GET", "/login")):
        assert (await client.request(method, path)).json() == {"route": "app"}, (method, path)
    assert len(seen) == 8

    portal.raise_next = SessionEnded()  # logout or `gtlabel workers remove` meanwhile: the portal's 401
    r = await client.post("/tasks/t-1/submit", content=b"{}")
    assert r.status_code == 401 and r.json() == {"error": "login required"}
    portal.raise_next = RequestTooLarge(MAX_ANSWER_BYTES)  # a streamed body over the limit: the app's 413
    r = await client.post("/tasks/t-1/submit", content=b"{}")
    assert r.status_code == 413 and r.headers["connection"] == "close"
    assert r.json() == {"error": f"the request body is larger than {MAX_ANSWER_BYTES} bytes"}
    await client.aclose()

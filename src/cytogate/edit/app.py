"""The editor's web app: the page, its static files and the JSON API, behind a token.

Starlette routes and uvicorn serves them, bound to 127.0.0.1 only.  Every
request must carry ``token=`` (the random token printed with the URL) or gets
403, page and API alike.  Edits are applied one at a time (a lock around the
session) in Starlette's thread pool, so the server keeps answering while one
is gated.  The API is documented in docs/edit.md.
"""

from __future__ import annotations

import json
import secrets
import threading
from collections.abc import Callable
from importlib import resources
from typing import Any
from urllib.parse import parse_qs

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from ..errors import CytogateError
from .session import EditorSession

__all__ = ["create_app", "new_token"]

_STATIC_TYPES = {".js": "text/javascript", ".css": "text/css", ".html": "text/html"}
API_VERSION = 1


def new_token() -> str:
    return secrets.token_urlsafe(24)


class TokenGuard:
    """ASGI middleware: 403 for any HTTP request whose query lacks the session's token."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app, self.token = app, token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            given = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("token", [""])[0]
            if not secrets.compare_digest(given.encode(), self.token.encode()):
                await PlainTextResponse("403 Forbidden: missing or wrong token", status_code=403)(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _static(name: str) -> str:
    return resources.files("cytogate.edit").joinpath("static", name).read_text(encoding="utf-8")


def _population_path(request: Request) -> str:
    path = request.path_params["path"]
    return path if path.startswith("/") else "/" + path


async def _body(request: Request) -> dict[str, Any]:
    try:
        data = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise CytogateError("the request body is not JSON") from None
    if not isinstance(data, dict):
        raise CytogateError("the request body must be a JSON object")
    return data


def create_app(session: EditorSession, token: str) -> ASGIApp:
    """The ASGI app of one editing session (wrap nothing else around it: the token guard is inside)."""
    lock = threading.Lock()

    async def call(work: Callable[[], Any], status: int = 200) -> Response:
        def locked() -> Any:
            with lock:
                return work()
        try:
            result = await run_in_threadpool(locked)
        except CytogateError as exc:
            return JSONResponse({"error": str(exc)}, status_code=422)
        return JSONResponse(result, status_code=status)

    def listing() -> list[dict[str, Any]]:
        return session.populations()

    async def page(request: Request) -> Response:
        html = _static("index.html").replace("__TOKEN__", token)
        return HTMLResponse(html, headers={"Cache-Control": "no-store"})

    async def static(request: Request) -> Response:
        name = request.path_params["name"]
        suffix = name[name.rfind("."):] if "." in name else ""
        if "/" in name or suffix not in _STATIC_TYPES:
            return PlainTextResponse("not found", status_code=404)
        try:
            text = _static(name)
        except FileNotFoundError:
            return PlainTextResponse("not found", status_code=404)
        return Response(text, media_type=_STATIC_TYPES[suffix], headers={"Cache-Control": "no-store"})

    async def get_populations(request: Request) -> Response:
        return await call(listing)

    async def put_population(request: Request) -> Response:
        path, body = _population_path(request), await _body(request)

        def work() -> list[dict[str, Any]]:
            if "gate" in body:
                session.set_gate(path, body["gate"])
            if "name" in body:
                session.rename(path, str(body["name"]))
            if "gate" not in body and "name" not in body:
                raise CytogateError('give {"gate": {kind: value}} and/or {"name": "..."}')
            return listing()
        return await call(work)

    async def post_population(request: Request) -> Response:
        body = await _body(request)

        def work() -> list[dict[str, Any]]:
            if not isinstance(body.get("gate"), dict) or "name" not in body:
                raise CytogateError('give {"parent": PATH, "name": NAME, "gate": {kind: value}}')
            session.add(str(body.get("parent") or "/"), str(body["name"]), body["gate"])
            return listing()
        return await call(work, status=201)

    async def delete_population(request: Request) -> Response:
        path = _population_path(request)
        return await call(lambda: session.delete(path))

    async def make_static(request: Request) -> Response:
        path = _population_path(request)
        return await call(lambda: session.make_static(path))

    async def put_override(request: Request) -> Response:
        path, body = _population_path(request), await _body(request)

        def work() -> list[dict[str, Any]]:
            if "gate" not in body:
                raise CytogateError('give {"gate": {kind: value} or "template", "reason": ..., "author": ..., '
                                    '"date": "YYYY-MM-DD" (default today)}')
            return session.set_override(path, body["gate"], reason=body.get("reason"), author=body.get("author"),
                                        date=body.get("date"))
        return await call(work)

    async def delete_override(request: Request) -> Response:
        path = _population_path(request)
        return await call(lambda: session.remove_override(path))

    async def overrides_text(request: Request) -> Response:
        def work() -> dict[str, Any]:
            if session.overrides_path is None:
                raise CytogateError("no overrides file: start the editor with --overrides FILE")
            return {"path": str(session.overrides_path), "text": session.review_text}
        return await call(work)

    async def plot(request: Request) -> Response:
        q = request.query_params
        return await call(lambda: session.plot(q.get("path", "/"), x=q.get("x") or None, y=q.get("y") or None))

    async def select_sample(request: Request) -> Response:
        body = await _body(request)

        def work() -> list[dict[str, Any]]:
            try:
                index = int(body.get("index", 0))
            except (TypeError, ValueError):
                raise CytogateError('give {"index": N}, N a sample number from 0') from None
            session.select(index)
            return listing()
        return await call(work)

    async def undo(request: Request) -> Response:
        return await call(session.undo)

    async def redo(request: Request) -> Response:
        return await call(session.redo)

    async def save(request: Request) -> Response:
        return await call(lambda: {"path": str(session.save()), "overrides": session.state()["overrides"],
                                   "state": session.state()})

    async def state(request: Request) -> Response:
        return await call(lambda: {"version": API_VERSION, **session.state()})

    async def yaml_text(request: Request) -> Response:
        return await call(lambda: {"path": str(session.path), "text": session.file_text()})

    routes = [
        Route("/", page),
        Route("/static/{name}", static),
        Route("/api/populations", get_populations, methods=["GET"]),
        Route("/api/populations", post_population, methods=["POST"]),
        Route("/api/populations/{path:path}", put_population, methods=["PUT"]),
        Route("/api/populations/{path:path}", delete_population, methods=["DELETE"]),
        Route("/api/static/{path:path}", make_static, methods=["POST"]),
        Route("/api/overrides/{path:path}", put_override, methods=["PUT"]),
        Route("/api/overrides/{path:path}", delete_override, methods=["DELETE"]),
        Route("/api/overrides", overrides_text, methods=["GET"]),
        Route("/api/plot", plot, methods=["GET"]),
        Route("/api/sample", select_sample, methods=["POST"]),
        Route("/api/undo", undo, methods=["POST"]),
        Route("/api/redo", redo, methods=["POST"]),
        Route("/api/save", save, methods=["POST"]),
        Route("/api/yaml", yaml_text, methods=["GET"]),
        Route("/api/state", state, methods=["GET"]),
    ]
    async def refused(request: Request, exc: Exception) -> Response:
        return JSONResponse({"error": str(exc)}, status_code=422)

    return TokenGuard(Starlette(routes=routes, exception_handlers={CytogateError: refused}), token)

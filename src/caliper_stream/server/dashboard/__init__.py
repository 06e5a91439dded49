"""The dashboard at ``/dashboard/``: server-rendered pages whose numbers come from the read API.

Each page is a Jinja2 template (the frame, the sign-out form, the ids the page is about) and
``static/app.js`` fills it from the same ``/api/…`` answers a BI tool gets, so the page and the
API can never disagree. Charts are drawn by plotly.js, served from the ``plotly`` Python
package's own copy: nothing is fetched from the internet.

Security: sign-in takes a read or admin key in a form (a write key is refused) and answers with
a session cookie (``HttpOnly``, ``SameSite=Strict``, ``Secure`` when the request came over TLS
or through a proxy saying ``X-Forwarded-Proto: https``); the store keeps only a hash of the
session token. Every form carries a CSRF token (double-submit cookie before sign-in, the
session's token after), and every page and API answer gets security headers (`SecurityHeaders`).
"""

from __future__ import annotations

import hmac
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import anyio.to_thread
import jinja2
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from caliper_stream.errors import StoreUnavailable
from caliper_stream.ingest import now
from caliper_stream.server.api import SESSION_COOKIE, ReadAPI, new_token
from caliper_stream.server.auth import hash_key
from caliper_stream.store.base import ApiKey, DashboardSession

CSRF_COOKIE = "cs_csrf"
SESSION_HOURS = 8
MAX_FORM_BYTES = 8192
_HERE = resources.files(__package__)

#: Headers on every dashboard page and API answer. No inline scripts (script-src 'self');
#: plotly.js sets inline styles on the SVG it draws, hence style-src 'unsafe-inline'.
HEADERS = [
    (b"content-security-policy",
     b"default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
     b"connect-src 'self'; font-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; "
     b"frame-ancestors 'none'"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),  # no-referrer would make form posts say Origin: null
    (b"x-content-type-options", b"nosniff"),
    (b"cross-origin-opener-policy", b"same-origin"),
]


class SecurityHeaders:
    """Pure ASGI middleware adding `HEADERS` to answers under the given path prefixes."""

    def __init__(self, app: ASGIApp, prefixes: tuple[str, ...] = ("/dashboard", "/api")) -> None:
        self.app = app
        self.prefixes = prefixes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(self.prefixes):
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *HEADERS]
            await send(message)

        await self.app(scope, receive, with_headers)


def plotly_js() -> Path | None:
    """plotly.js as the ``plotly`` package ships it (no CDN)."""
    try:
        import plotly
    except ImportError:
        return None
    path = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    return path if path.is_file() else None


def secure(request: Request) -> bool:
    """Whether the browser talks to us over TLS (directly or through a terminating proxy)."""
    return request.url.scheme == "https" or request.headers.get("x-forwarded-proto", "").lower() == "https"


def same_origin(request: Request) -> bool:
    """A form post from our own pages (browsers send Origin on POST; absent means not a browser)."""
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        return origin is None
    host = request.headers.get("host", "")
    return origin.split("://", 1)[-1] == host


class Dashboard:
    """The ``/dashboard/`` routes; `api` says who a session belongs to and answers the numbers."""

    def __init__(self, api: ReadAPI) -> None:
        self.api = api
        self.templates = jinja2.Environment(
            loader=jinja2.FileSystemLoader(str(_HERE.joinpath("templates"))),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
        )

    def _render(self, name: str, status: int = 200, **context: Any) -> HTMLResponse:
        html = self.templates.get_template(name).render(**context)
        return HTMLResponse(html, status_code=status, headers={"Cache-Control": "no-store"})

    # --- sign-in / sign-out ----------------------------------------------------------------------

    def _sign_in_page(self, request: Request, error: str | None = None, status: int = 200) -> Response:
        token = request.cookies.get(CSRF_COOKIE) or new_token()
        response = self._render("signin.html", status, csrf=token, error=error, key=None)
        response.set_cookie(CSRF_COOKIE, token, httponly=True, samesite="strict", secure=secure(request),
                            path="/dashboard")
        return response

    async def sign_in_form(self, request: Request) -> Response:
        return self._sign_in_page(request)

    async def _form(self, request: Request) -> dict[str, str] | None:
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_FORM_BYTES:
                return None
        try:
            fields = parse_qs(body.decode("utf-8"), keep_blank_values=True, max_num_fields=10)
        except (UnicodeDecodeError, ValueError):
            return None
        return {k: v[0] for k, v in fields.items()}

    async def sign_in(self, request: Request) -> Response:
        form = await self._form(request)
        cookie = request.cookies.get(CSRF_COOKIE, "")
        if form is None or not cookie or not same_origin(request) or not hmac.compare_digest(
            form.get("csrf", "").encode(), cookie.encode()
        ):
            return self._sign_in_page(request, "The form expired; please sign in again.", 403)
        try:
            key = await self.api.keys.lookup(form.get("key", "").strip() or None)
        except StoreUnavailable:
            return self._sign_in_page(request, "The database is not reachable; try again shortly.", 503)
        if key is None:
            return self._sign_in_page(request, "Unknown or revoked key.", 401)
        if key.role not in ("read", "admin"):
            return self._sign_in_page(request, f"A {key.role} key cannot sign in: use a read key.", 403)
        token = new_token()
        started = datetime.now(UTC)
        session = DashboardSession(
            hash_key(token), key.key_hash, new_token(), now(),
            (started + timedelta(hours=SESSION_HOURS)).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
        )
        try:
            await anyio.to_thread.run_sync(self.api.store.open_session, session)
        except StoreUnavailable:
            return self._sign_in_page(request, "The database is not reachable; try again shortly.", 503)
        request.scope.setdefault("caliper.log", {})["key"] = key.name
        response = RedirectResponse("/dashboard/", status_code=303)
        response.set_cookie(SESSION_COOKIE, token, max_age=SESSION_HOURS * 3600, httponly=True,
                            samesite="strict", secure=secure(request), path="/")
        response.delete_cookie(CSRF_COOKIE, path="/dashboard")
        return response

    async def sign_out(self, request: Request) -> Response:
        found = await self.api.session_key(request)
        form = await self._form(request)
        if found is None:
            return RedirectResponse("/dashboard/sign-in", status_code=303)
        if form is None or not same_origin(request) or not hmac.compare_digest(
            form.get("csrf", "").encode(), found[1].encode()
        ):
            return self._render("error.html", 403, key=found[0], csrf=found[1],
                                message="The sign-out form expired; reload the page and try again.")
        token = request.cookies.get(SESSION_COOKIE, "")
        await anyio.to_thread.run_sync(self.api.store.end_session, hash_key(token))
        response = RedirectResponse("/dashboard/sign-in", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    # --- pages -----------------------------------------------------------------------------------

    async def _page(self, request: Request, template: str, **context: Any) -> Response:
        try:
            found = await self.api.session_key(request)
        except StoreUnavailable:
            return self._render("error.html", 503, key=None, csrf="", message="The database is not reachable.")
        if found is None:
            return RedirectResponse("/dashboard/sign-in", status_code=303)
        key, csrf = found
        request.scope.setdefault("caliper.log", {})["key"] = key.name
        return self._render(template, key=_who(key), csrf=csrf, **context)

    async def site(self, request: Request) -> Response:
        return await self._page(request, "site.html", page="site")

    async def course(self, request: Request) -> Response:
        return await self._page(request, "course.html", page="course", course=request.path_params["course"])

    async def student(self, request: Request) -> Response:
        return await self._page(request, "student.html", page="student", user=request.path_params["user"])

    async def test(self, request: Request) -> Response:
        return await self._page(request, "test.html", page="test", test=request.path_params["test"],
                                course=request.query_params.get("course", ""))

    async def dead_letter(self, request: Request) -> Response:
        return await self._page(request, "deadletter.html", page="deadletter", id=request.path_params["id"])

    async def chart_library(self, request: Request) -> Response:
        path = plotly_js()
        if path is None:
            return Response("plotly is not installed", status_code=404, media_type="text/plain")
        return FileResponse(path, media_type="text/javascript", headers={"Cache-Control": "max-age=86400"})

    def routes(self) -> list[Route | Mount]:
        return [
            Route("/dashboard", lambda r: RedirectResponse("/dashboard/", status_code=308), methods=["GET"]),
            Route("/dashboard/", self.site, methods=["GET"]),
            Route("/dashboard/sign-in", self.sign_in_form, methods=["GET"]),
            Route("/dashboard/sign-in", self.sign_in, methods=["POST"]),
            Route("/dashboard/sign-out", self.sign_out, methods=["POST"]),
            Route("/dashboard/courses/{course}", self.course, methods=["GET"]),
            Route("/dashboard/students/{user}", self.student, methods=["GET"]),
            Route("/dashboard/tests/{test}", self.test, methods=["GET"]),
            Route("/dashboard/deadletters/{id:int}", self.dead_letter, methods=["GET"]),
            Route("/dashboard/static/plotly.min.js", self.chart_library, methods=["GET"]),
            Mount("/dashboard/static", app=StaticFiles(directory=str(_HERE.joinpath("static"))), name="static"),
        ]


def _who(key: ApiKey) -> dict[str, Any]:
    return {"name": key.name, "role": key.role, "identity": key.identity}

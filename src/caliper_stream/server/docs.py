"""``/docs``: the OpenAPI description as an interactive Swagger UI page, offline.

The page and its script are ours; Swagger UI's files come from the ``swagger-ui-bundle-v2``
package (no CDN), served under ``/docs/assets``. The script is a file rather than inline so
that the page works under a strict Content-Security-Policy.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from swagger_ui_bundle import swagger_ui_path

_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>caliper-stream API</title>
<link rel="stylesheet" href="/docs/assets/swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="/docs/assets/swagger-ui-bundle.js"></script>
<script src="/docs/init.js"></script>
</body>
</html>
"""
_INIT = """window.ui = SwaggerUIBundle({url: "/openapi.json", dom_id: "#swagger-ui", deepLinking: true});
"""


async def _page(request: Request) -> Response:
    return HTMLResponse(_PAGE)


async def _init(request: Request) -> Response:
    return Response(_INIT, media_type="text/javascript")


def routes() -> list[BaseRoute]:
    """The routes of the page, its script and Swagger UI's assets."""
    return [
        Route("/docs", _page, methods=["GET"]),
        Route("/docs/init.js", _init, methods=["GET"]),
        Mount("/docs/assets", app=StaticFiles(directory=swagger_ui_path), name="docs-assets"),
    ]

"""`GET /dashboard`: the built-in backlog page and its two assets, read once at import.

No token is needed to load them: the page takes one from the URL fragment (or asks for it) and
polls `GET /v1/metrics/backlog` from the browser. Only the files named in `ASSETS` are served;
any other name is a 404, so the path parameter can never reach the file system."""

from __future__ import annotations

from importlib import resources

from litestar import Response, get
from litestar.params import FromPath

from licenceflow.domain.errors import NotFound

_FOLDER = resources.files("licenceflow").joinpath("dashboard")
ASSETS: dict[str, tuple[bytes, str]] = {
    "dashboard.js": (_FOLDER.joinpath("dashboard.js").read_bytes(), "text/javascript"),
    "dashboard.css": (_FOLDER.joinpath("dashboard.css").read_bytes(), "text/css"),
}
PAGE = _FOLDER.joinpath("index.html").read_bytes()

# The page's scripts and styles come from /dashboard/ only, and it talks to this origin only:
# no inline script can run, even one injected into the page.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'"
)
HEADERS = {"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"}


@get("/dashboard", include_in_schema=False)
async def page() -> Response[bytes]:
    return Response(
        PAGE,
        media_type="text/html; charset=utf-8",
        headers={
            **HEADERS,
            "Content-Security-Policy": CONTENT_SECURITY_POLICY,
            "Referrer-Policy": "no-referrer",
        },
    )


@get("/dashboard/{name:str}", include_in_schema=False)
async def asset(name: FromPath[str]) -> Response[bytes]:
    if name not in ASSETS:
        raise NotFound(f"no dashboard asset {name}")
    content, media_type = ASSETS[name]
    return Response(content, media_type=f"{media_type}; charset=utf-8", headers=HEADERS)

"""The workspace's pages and the assets they load, served by ``hfgate serve`` itself.

Pages are thin Jinja2 shells: the data comes from the JSON API, called by the page's script
with the session cookie and the session's CSRF token (given to the page in a ``<meta>`` tag).
Who may see a page is decided here, before anything is rendered: a visitor who is not signed
in is sent to the sign-in page, a member asking for an admin page gets a 403 page.

Every page carries a strict Content-Security-Policy (scripts and styles from this origin only,
no inline script, no other origin to talk to), so even markdown that slipped past the
sanitiser could not run script or send data anywhere. Assets never come from a CDN.
"""

from __future__ import annotations

import hashlib
import mimetypes
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote

import orjson
from fastapi import APIRouter, Request
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.responses import HTMLResponse, RedirectResponse, Response

from hfgate import __version__
from hfgate.api.bodies import json_body
from hfgate.api.deps import services, set_session_cookie
from hfgate.api.errors import hfgate_error_response
from hfgate.auth.passwords import MIN_LENGTH
from hfgate.auth.sessions import COOKIE
from hfgate.auth.setup import BAD_LINK
from hfgate.errors import AuthenticationRequired, HfgateError, InvalidRequest
from hfgate.values.principal import Principal

HERE = Path(__file__).parent
STATIC = HERE / "static"

router = APIRouter(include_in_schema=False)

_templates = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
)

CSP = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
PAGE_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".txt": "text/plain; charset=utf-8",
    ".woff2": "font/woff2",  # KaTeX's fonts
}


# -- assets ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Asset:
    body: bytes
    etag: str
    media_type: str


_assets: dict[str, Asset] = {}


def _asset(path: str) -> Asset | None:
    """A file under ``static/``, read once; None for anything outside it or missing.

    Only files that exist are remembered, so requests for made-up paths cost nothing to keep.
    """
    if path in _assets:
        return _assets[path]
    root = STATIC.resolve()
    target = (root / path).resolve()
    if not (target.is_relative_to(root) and target.is_file()) or target.name.startswith("."):
        return None
    body = target.read_bytes()
    media = TYPES.get(target.suffix) or mimetypes.guess_type(target.name)[0]
    etag = '"' + hashlib.sha256(body).hexdigest()[:20] + '"'
    asset = _assets[path] = Asset(body, etag, media or "application/octet-stream")
    return asset


@router.get("/static/{path:path}")
async def static(path: str, request: Request) -> Response:
    asset = _asset(path)
    if asset is None:
        return Response(b"not found", 404, media_type="text/plain")
    # Revalidated on every use (the ETag answers 304 when unchanged): no stale script after an
    # upgrade, and module imports need no version in their URLs.
    headers = {
        "ETag": asset.etag,
        "Cache-Control": "no-cache",
        "X-Content-Type-Options": "nosniff",
    }
    if request.headers.get("if-none-match") == asset.etag:
        return Response(status_code=304, headers=headers)
    return Response(asset.body, media_type=asset.media_type, headers=headers)


# -- who is looking ----------------------------------------------------------------------------


async def _viewer(request: Request) -> tuple[Principal, str] | None:
    token = request.cookies.get(COOKIE)
    if not token:
        return None
    try:
        return await services(request).sessions.principal(token)
    except AuthenticationRequired:
        return None


def _to_login(request: Request) -> Response:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/login?next={quote(target, safe='/')}", 303)


def _safe_next(value: str | None) -> str:
    """Only a path on this site: never ``//evil.example`` or ``https://…``."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/chat"
    return value


def _render(name: str, status: int = 200, **context: Any) -> HTMLResponse:
    html = _templates.get_template(name).render(version=__version__, **context)
    return HTMLResponse(html, status, headers=PAGE_HEADERS)


async def _page(request: Request, page: str, title: str, *, admin_only: bool = False) -> Response:
    viewer = await _viewer(request)
    if viewer is None:
        return _to_login(request)
    principal, csrf = viewer
    context: dict[str, Any] = {"page": page, "title": title, "user": principal, "csrf_token": csrf}
    if admin_only and not principal.is_admin:
        return _render("forbidden.html", 403, script="shell", **context)
    return _render(f"{page}.html", **context)


@router.get("/usage")
async def usage(request: Request) -> Response:
    return await _page(request, "usage", "Usage")


@router.get("/people")
async def people(request: Request) -> Response:
    return await _page(request, "people", "People", admin_only=True)


@router.get("/audit")
async def audit(request: Request) -> Response:
    return await _page(request, "audit", "Audit log", admin_only=True)


@router.get("/settings")
async def settings(request: Request) -> Response:
    return await _page(request, "settings", "Settings", admin_only=True)


# -- unknown paths -----------------------------------------------------------------------------

API_PREFIXES = ("/api/", "/v1/", "/tgi/")


def _prefers_html(accept: str) -> bool:
    """True when ``text/html`` is asked for with a higher quality than JSON and ``*/*``."""
    best: dict[str, float] = {}
    for part in accept.split(","):
        media, *params = (piece.strip() for piece in part.split(";"))
        quality = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        media = media.lower()
        best[media] = max(best.get(media, 0.0), quality)
    html = max(best.get("text/html", 0.0), best.get("application/xhtml+xml", 0.0))
    other = max(best.get("application/json", 0.0), best.get("*/*", 0.0))
    return html > 0 and html > other


def not_found_page(request: Request) -> Response | None:
    """The 404 page for browsers; None (the JSON error) for API paths and API clients."""
    path = request.url.path
    if path.startswith(API_PREFIXES) or path in ("/api", "/v1", "/tgi"):
        return None
    if not _prefers_html(request.headers.get("accept", "")):
        return None
    return _render("not_found.html", 404, page="not-found", title="Page not found", path=path)


# -- pages -------------------------------------------------------------------------------------


@router.get("/")
async def home() -> Response:
    return RedirectResponse("/chat", 303)


@router.get("/login")
async def login(request: Request, next: str | None = None) -> Response:
    target = _safe_next(next)
    if await _viewer(request) is not None:
        return RedirectResponse(target, 303)
    return _render("login.html", page="login", title="Sign in", next=target)


@router.get("/chat")
async def chat(request: Request) -> Response:
    return await _page(request, "chat", "Chat")


@router.get("/chat/{conversation_id}")
async def conversation(request: Request, conversation_id: str) -> Response:
    return await _page(request, "chat", "Chat")


@router.get("/models")
async def models(request: Request) -> Response:
    return await _page(request, "models", "Models")


@router.get("/integrations")
async def integrations(request: Request) -> Response:
    return await _page(request, "integrations", "Integrations", admin_only=True)


@router.get("/keys")
async def keys(request: Request) -> Response:
    return await _page(request, "keys", "API keys")


# -- first-run setup ---------------------------------------------------------------------------
# Only while no owner has a password (see ``auth/setup.py``); afterwards ``/setup`` sends people
# to the sign-in page (GET) or answers 404 (POST).


def _setup_page(status: int = 200, **context: Any) -> HTMLResponse:
    context.setdefault("token", None)
    return _render(
        "setup.html", status, page="setup", title="Set up", min_length=MIN_LENGTH, **context
    )


@router.get("/setup")
async def setup(request: Request, token: str | None = None) -> Response:
    first_run = services(request).first_run
    owner = await first_run.pending_owner()
    if owner is None:
        return RedirectResponse("/login", 303)
    if not first_run.valid(token):
        return _setup_page(403, error=BAD_LINK)
    return _setup_page(token=token, email=owner.email)


@router.post("/setup")
async def setup_submit(request: Request) -> Response:
    """Form fields (the page) or JSON (scripts): ``token``, ``email``, ``password``."""
    as_json = request.headers.get("content-type", "").startswith("application/json")
    fields: dict[str, Any] = {}
    try:
        fields = await _setup_fields(request, as_json)
        if "password_repeat" in fields and fields["password_repeat"] != fields.get("password"):
            raise InvalidRequest("the two passwords differ", param="password_repeat")
        cookie, principal, _csrf = await services(request).first_run.complete(
            fields.get("token"), fields.get("email"), fields.get("password")
        )
    except HfgateError as exc:
        if as_json:
            return hfgate_error_response(exc)
        return _setup_failed(exc, fields, services(request).first_run.valid(fields.get("token")))
    if as_json:
        user = {"id": principal.user_id, "email": principal.email, "role": principal.role}
        response: Response = Response(
            orjson.dumps({"user": user, "next": "/chat"}), media_type="application/json"
        )
    else:
        response = RedirectResponse("/chat", 303)
    set_session_cookie(request, response, cookie)
    return response


async def _setup_fields(request: Request, as_json: bool) -> dict[str, Any]:
    if as_json:
        body = await json_body(request)
        if not isinstance(body, dict):
            raise InvalidRequest('send {"token": …, "email": …, "password": …}')
        return body
    try:
        fields = dict(parse_qsl((await request.body()).decode(), max_num_fields=10))
    except (UnicodeDecodeError, ValueError):  # ValueError: more fields than the form has
        raise InvalidRequest("send the setup form's fields: token, email, password") from None
    if any("\x00" in value for value in fields.values()):
        raise InvalidRequest("text may not contain NUL characters: remove them")
    return fields


def _setup_failed(exc: HfgateError, fields: dict[str, Any], token_valid: bool) -> Response:
    """The page again with the reason; the form only with a token that works."""
    if exc.status == 404:
        return RedirectResponse("/login", 303)
    if exc.status == 403 or not token_valid:
        return _setup_page(403, error=exc.message if exc.status == 403 else BAD_LINK)
    email = fields.get("email") if isinstance(fields.get("email"), str) else ""
    return _setup_page(exc.status, error=exc.message, token=fields.get("token"), email=email)


# -- invitations and password resets -----------------------------------------------------------
# A one-time link an admin made (``auth/invites.py``): the person chooses a password and is
# signed in. The token in the form is what a cross-site page cannot know: it is the CSRF guard.

INVITE_TITLES = {"invite": "Join hfgate", "reset": "Choose a new password"}


def _invite_page(status: int = 200, **context: Any) -> HTMLResponse:
    context.setdefault("token", None)
    title = INVITE_TITLES.get(context.get("purpose") or "", "One-time link")
    return _render(
        "invite.html", status, page="invite", title=title, min_length=MIN_LENGTH, **context
    )


@router.get("/invite")
async def invite(request: Request, token: str | None = None) -> Response:
    try:
        pending = await services(request).links.pending(token)
    except HfgateError as exc:
        return _invite_page(exc.status, error=exc.message)
    return _invite_page(token=token, email=pending.email, purpose=pending.purpose)


@router.post("/invite")
async def invite_submit(request: Request) -> Response:
    """Form fields (the page) or JSON (scripts): ``token``, ``password``."""
    as_json = request.headers.get("content-type", "").startswith("application/json")
    fields: dict[str, Any] = {}
    links = services(request).links
    try:
        fields = await _setup_fields(request, as_json)
        if "password_repeat" in fields and fields["password_repeat"] != fields.get("password"):
            raise InvalidRequest("the two passwords differ", param="password_repeat")
        cookie, principal, _csrf = await links.redeem(fields.get("token"), fields.get("password"))
    except HfgateError as exc:
        if as_json:
            return hfgate_error_response(exc)
        return await _invite_failed(request, exc, fields)
    if as_json:
        user = {"id": principal.user_id, "email": principal.email, "role": principal.role}
        body = orjson.dumps({"user": user, "next": "/chat"})
        response: Response = Response(body, media_type="application/json")
    else:
        response = RedirectResponse("/chat", 303)
    set_session_cookie(request, response, cookie)
    return response


async def _invite_failed(request: Request, exc: HfgateError, fields: dict[str, Any]) -> Response:
    """The page again with the reason; the form only while the link still works."""
    try:
        pending = await services(request).links.pending(fields.get("token"))
    except HfgateError as gone:
        return _invite_page(gone.status, error=gone.message)
    return _invite_page(
        exc.status,
        error=exc.message,
        token=fields.get("token"),
        email=pending.email,
        purpose=pending.purpose,
    )

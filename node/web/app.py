"""The web app of one node: its context, middlewares, guarded routes and page rendering.

Every route is registered with the least role that may use it; the guard that wraps it checks the
session, the role, and for a form post the CSRF token and the site it came from, so no page can
forget. Node work (SQLite, decryption, signing, file work) runs on a worker thread with its own
connection to the store (``Node.twin``), so handlers never block the event loop.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import inspect
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import quote

import aiohttp_jinja2
import jinja2
from aiohttp import web
from aiohttp_session import Session, get_session, session_middleware
from aiohttp_session.cookie_storage import EncryptedCookieStorage

from ..errors import TequioError
from . import i18n
from .i18n import Catalogs, Language
from .security import CSRF_FIELD, LoginLimiter, allowed_host_names, cross_site, csrf_ok, host_allowed
from .security import security_headers as _headers
from .users import User, UserDB, role_at_least

if TYPE_CHECKING:
    from ..federation import Federation
    from ..node import Node

__all__ = [
    "CTX",
    "MenuItem",
    "WebContext",
    "WebRoute",
    "audit",
    "flash",
    "in_worker",
    "make_web_app",
    "redirect",
    "render",
    "user_of",
]

log = logging.getLogger(__name__)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
T = TypeVar("T")
TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"
_NOSTORE_MAX_BODY = 1024 * 1024  # form posts; uploads stream through request.multipart()
UPLOAD_CHUNK = (
    "application/offset+octet-stream"  # a resumable upload's chunk (tus): the token rides in the URL
)


@dataclass(frozen=True)
class WebRoute:
    """A page: ``path`` under the plugin's prefix (``/<plugin name>``); ``role`` the least role that may
    use it (``reader``, ``member``, ``admin``), None for pages anyone may open (login)."""

    method: str
    path: str
    handler: Handler
    role: str | None = "reader"
    name: str | None = None


@dataclass(frozen=True)
class MenuItem:
    """A link in every page's menu, shown to people with at least ``role`` (``"public"``: to anyone,
    logged in or not); ``label`` is a catalog msgid."""

    label: str
    path: str
    role: str = "reader"
    order: int = 50


@dataclass
class WebContext:
    """What the pages of one node share: the node, its twin for the worker, accounts and languages."""

    node: Node
    fed: Federation | None
    tls: bool
    bind_host: str
    port: int = 0
    twin: Node | None = None
    users: UserDB = field(init=False)
    catalogs: Catalogs = field(init=False)
    menu: list[MenuItem] = field(default_factory=list)
    routes: list[tuple[str, WebRoute]] = field(default_factory=list)
    host_names: set[str] = field(default_factory=set)
    limiter: LoginLimiter = field(init=False)
    worker: ThreadPoolExecutor = field(init=False)
    auth_pool: ThreadPoolExecutor = field(init=False)

    def __post_init__(self) -> None:
        cfg = self.node.config.web
        self.users = UserDB(self.node.home, self.node.clock)
        self.limiter = LoginLimiter(cfg.login_attempts, cfg.login_window_minutes * 60_000)
        self.worker = ThreadPoolExecutor(1, thread_name_prefix="tequio-web")
        self.auth_pool = ThreadPoolExecutor(2, thread_name_prefix="tequio-login")
        self.host_names = allowed_host_names(self.bind_host, cfg.allowed_hosts)

    @property
    def bind_all(self) -> bool:
        return self.bind_host in ("0.0.0.0", "::", "")

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(twin, *args)`` on the worker thread, in this request's language."""
        assert self.twin is not None
        ctx = contextvars.copy_context()
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.worker, functools.partial(ctx.run, fn, self.twin, *args))

    async def auth(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` on the login threads (Argon2id and account look-ups)."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.auth_pool, functools.partial(fn, *args))

    def close(self) -> None:
        self.worker.shutdown(wait=True)
        self.auth_pool.shutdown(wait=True)
        if self.twin is not None:
            self.twin.close()
            self.twin = None


CTX = web.AppKey("tequio_web", WebContext)
USER = web.RequestKey("tequio_user", User)
LANG = web.RequestKey("tequio_lang", Language)


# -- helpers for handlers (core and plugins) ---------------------------------------------------------------


def ctx_of(request: web.Request) -> WebContext:
    return request.app[CTX]


async def in_worker(request: web.Request, fn: Callable[..., T], *args: Any) -> T:
    """Run ``fn(node, *args)`` off the event loop, on the worker's node, in the request's language."""
    return await request.app[CTX].run(fn, *args)


def user_of(request: web.Request) -> User | None:
    return request.get(USER)


def lang_of(request: web.Request) -> str:
    """The interface language of this request ("es", "en"), for handlers that pick content by it."""
    lang = request.get(LANG)
    return lang.code if lang is not None else "en"


async def audit(request: web.Request, action: str, detail: str = "", record: bytes | str = b"") -> None:
    """Write one line of the local audit log naming the person (never a record, never synced)."""
    ctx = request.app[CTX]
    user = user_of(request)
    rid = record.hex() if isinstance(record, bytes) else record
    await ctx.auth(ctx.users.audit, user.name if user else "-", action, detail, rid)


async def flash(request: web.Request, text: str, level: str = "ok") -> None:
    """A message shown once on the next page (already in the person's language)."""
    session = await get_session(request)
    shown = list(session.get("flash", []))[-4:]
    shown.append([level, text[:500]])
    session["flash"] = shown


def redirect(path: str) -> web.HTTPSeeOther:
    """After a post: see the page (POST-redirect-GET), so reloading never signs twice."""
    return web.HTTPSeeOther(path)


def safe_next(path: str | None) -> str:
    """A local path to go back to after login; anything else goes to the dashboard."""
    if (
        not path
        or not path.startswith("/")
        or path.startswith("//")
        or "\\" in path
        or len(path) > 500
        or any(ord(ch) < 0x21 or ord(ch) == 0x7F for ch in path)  # browsers drop tabs: "/\t/x" is "//x"
    ):
        return "/"
    return path


async def render(
    request: web.Request, template: str, context: dict[str, Any] | None = None, status: int = 200
) -> web.Response:
    """Render a page with what every page shows: menu, user, language switch, CSRF token, messages."""
    ctx = request.app[CTX]
    session = await get_session(request)
    user = user_of(request)
    lang: Language = request[LANG]
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(32)
    base: dict[str, Any] = {
        "node_name": ctx.node.name,
        "user": user,
        "lang": lang,
        "languages": list(ctx.catalogs.languages.values()),
        "lang_link": lambda code: f"{request.path}?lang={quote(code)}",
        "menu": [
            m
            for m in sorted(ctx.menu, key=lambda m: (m.order, m.path))
            # role "public": shown to anyone, logged in or not (a public handbook's readers)
            if m.role == "public" or (user and role_at_least(user.role, m.role))
        ],
        "path": request.path,
        "csrf_field": CSRF_FIELD,
        "csrf": session["csrf"],
        "flashes": session.pop("flash", []),
        "may": lambda role: user is not None and role_at_least(user.role, role),
        "static": lambda plugin, name: str(request.app.router[f"static-{plugin}"].url_for(filename=name)),
    }
    base.update(context or {})
    base.setdefault("page_name", template.rsplit("/", 1)[-1].removesuffix(".html"))
    for _name, result in ctx.node.plugins.call_each("prepare_web_context", request=request, context=base):
        if inspect.isawaitable(result):
            await result  # a plugin that needs the node for its variables runs that work in the worker
    response = aiohttp_jinja2.render_template(template, request, base, status=status)
    return response


async def error_page(request: web.Request, status: int, text: str) -> web.Response:
    return await render(request, "error.html", {"status": status, "message": text}, status=status)


# -- the guard --------------------------------------------------------------------------------------------


async def _session_user(ctx: WebContext, session: Session) -> User | None:
    name = session.get("user")
    if not name:
        return None
    now = ctx.node.clock()
    idle = ctx.node.config.web.idle_minutes * 60_000
    if now - int(session.get("last", 0)) > idle:
        session.clear()
        session["expired"] = True
        return None
    user = await ctx.auth(ctx.users.get, name)
    if user is None or user.generation != session.get("gen") or user.created != session.get("created"):
        session.clear()  # removed, or the password changed since this session began
        return None
    session["last"] = now
    return user


def _guard(route: WebRoute) -> Handler:
    async def guarded(request: web.Request) -> web.StreamResponse:
        ctx = request.app[CTX]
        session = await get_session(request)
        user = await _session_user(ctx, session)
        request[USER] = user  # type: ignore[misc]
        if request.method not in ("GET", "HEAD") and cross_site(request, origin_of(request)):
            return await error_page(request, 403, i18n._("A form from another site was refused."))
        if route.role is not None:
            if user is None:
                if request.method in ("GET", "HEAD"):
                    raise web.HTTPSeeOther(f"/login?next={quote(request.path_qs)}")
                return await error_page(request, 401, i18n._("Please log in again."))
            if not role_at_least(user.role, route.role):
                return await error_page(
                    request,
                    403,
                    i18n._(
                        "Your role (%(role)s) may not do this; it needs %(needed)s.",
                        role=i18n.gettext(user.role),
                        needed=i18n.gettext(route.role),
                    ),
                )
        if request.method not in ("GET", "HEAD"):
            if request.content_type.startswith("multipart/") or request.content_type == UPLOAD_CHUNK:
                token = request.query.get(CSRF_FIELD)  # the body streams to disk: the token rides in the URL
            else:
                form = await request.post()
                value = form.get(CSRF_FIELD)
                token = value if isinstance(value, str) else None
            if not csrf_ok(session.get("csrf"), token):
                return await error_page(
                    request,
                    403,
                    i18n._("This form has expired or did not come from this node; please try again."),
                )
        return await route.handler(request)

    guarded.__name__ = getattr(route.handler, "__name__", "page")
    guarded.tequio_role = route.role  # type: ignore[attr-defined]
    return guarded


def origin_of(request: web.Request) -> str:
    return f"{request.scheme}://{request.host}"


# -- middlewares ------------------------------------------------------------------------------------------


@web.middleware
async def _outer(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Host check, security headers and compression on everything, and a plain page for failures."""
    ctx = request.app[CTX]
    static = request.path.startswith("/static/")
    if not host_allowed(request.headers.get("Host"), ctx.host_names, ctx.port, ctx.bind_all):
        resp: web.StreamResponse = web.Response(
            status=421, text="421: this node does not answer to that name\n"
        )
        _headers(resp, False)
        return resp
    try:
        resp = await handler(request)
    except web.HTTPException as e:
        if e.status >= 400 and not static and LANG in request:
            resp = await error_page(
                request, e.status, i18n._("This page does not exist.") if e.status == 404 else e.reason
            )
        else:
            _headers(e, static)
            raise
    except TequioError as e:
        from .words import message

        resp = await error_page(request, 400, message(str(e)))
    except Exception:
        log.exception("web: %s %s failed", request.method, request.path)
        resp = web.Response(status=500, text="500: internal error; see the node's log\n")
    _headers(resp, static)
    page = isinstance(resp, web.Response) and resp.content_type in _COMPRESSIBLE
    static_file = (
        isinstance(resp, web.FileResponse)  # its type is known only once it is sent: go by the name
        and request.path.endswith(_COMPRESSIBLE_FILES)
        and "Range" not in request.headers  # a range is of the file's own bytes
    )
    if page or static_file:
        _compress(request, resp)
    return resp


_COMPRESSIBLE = ("text/html", "text/css", "application/javascript", "image/svg+xml")
_COMPRESSIBLE_FILES = (".css", ".js", ".svg", ".html", ".txt")


def _compress(request: web.Request, resp: web.StreamResponse) -> None:
    """gzip when the browser takes it (every browser does), deflate otherwise, never for identity-only."""
    accepted = request.headers.get("Accept-Encoding", "").lower()
    resp.headers["Vary"] = "Accept-Encoding"
    if "gzip" in accepted:
        resp.enable_compression(web.ContentCoding.gzip)
    elif "deflate" in accepted:
        resp.enable_compression(web.ContentCoding.deflate)


@web.middleware
async def _language(request: web.Request, handler: Handler) -> web.StreamResponse:
    ctx = request.app[CTX]
    if request.path.startswith("/static/"):
        return await handler(request)
    session = await get_session(request)
    asked = request.query.get("lang")
    lang = ctx.catalogs.choose(asked, session.get("lang"), request.headers.get("Accept-Language"))
    if asked and ctx.catalogs.match(asked) is not None:
        session["lang"] = lang.code  # remembered for this browser
    request[LANG] = lang
    token = i18n.use(lang)
    try:
        return await handler(request)
    finally:
        i18n._current.reset(token)


# -- the app ---------------------------------------------------------------------------------------------


def collect(
    node: Node,
) -> tuple[list[tuple[str, WebRoute]], list[MenuItem], list[tuple[str, Path]], dict[str, Path]]:
    """Routes (with their prefix), menu items, template and static folders from the core and plugins."""
    from . import pages

    routes: list[tuple[str, WebRoute]] = [("", r) for r in pages.ROUTES]
    menu = list(pages.MENU)
    templates: list[tuple[str, Path]] = []
    static: dict[str, Path] = {}
    for plugin, result in node.plugins.call_each("register_web_routes"):
        routes += [(f"/{plugin}", r) for r in result or []]
    for _plugin, result in node.plugins.call_each("register_web_menu"):
        menu += list(result or [])
    for plugin, result in node.plugins.call_each("register_web_templates"):
        templates += [(plugin, Path(p)) for p in result or []]
    for plugin, result in node.plugins.call_each("register_web_static"):
        for p in result or []:
            static[plugin] = Path(p)
    return routes, menu, templates, static


def make_web_app(
    node: Node,
    fed: Federation | None = None,
    *,
    tls: bool = False,
    bind_host: str = "127.0.0.1",
    port: int = 0,
) -> web.Application:
    """The pages of ``node``. ``port`` is the listener's (for the Host check; set it once bound)."""
    ctx = WebContext(node, fed, tls, bind_host, port)
    app = web.Application(
        middlewares=[
            _outer,
            session_middleware(
                EncryptedCookieStorage(
                    ctx.users.secret("session-key"),
                    cookie_name="tequio_session" if not tls else "__Host-tequio_session",
                    httponly=True,
                    samesite="Strict",
                    secure=tls,
                    path="/",
                    max_age=None,
                )
            ),
            _language,
        ],
        client_max_size=_NOSTORE_MAX_BODY,
    )
    app[CTX] = ctx
    routes, menu, templates, static = collect(node)
    ctx.menu = menu
    ctx.routes = routes
    folders: dict[str, list[str]] = {}
    locale_folders = []
    for plugin, folder in templates:
        folders.setdefault(plugin, []).append(str(folder))
        if (folder / "locale").is_dir():
            locale_folders.append(folder / "locale")
    plugin_loaders: dict[str, jinja2.BaseLoader] = {p: jinja2.FileSystemLoader(f) for p, f in folders.items()}
    ctx.catalogs = Catalogs(locale_folders)
    env = aiohttp_jinja2.setup(
        app,
        loader=jinja2.ChoiceLoader(
            [jinja2.FileSystemLoader(str(TEMPLATES)), jinja2.PrefixLoader(plugin_loaders)]
        ),
        extensions=["jinja2.ext.i18n"],
        autoescape=True,
    )
    env.install_gettext_callables(i18n.gettext, i18n.ngettext, newstyle=True)  # type: ignore[attr-defined]
    from .words import method_name, status_name

    env.globals.update(i18n.jinja_globals())
    env.globals.update(status_name=status_name, method_name=method_name)
    seen: set[tuple[str, str]] = set()
    for prefix, route in routes:
        path = prefix + route.path if route.path != "/" or not prefix else prefix + "/"
        if (route.method, path) in seen:
            raise TequioError(f"two web routes for {route.method} {path}")
        seen.add((route.method, path))
        app.router.add_route(route.method, path, _guard(route), name=route.name)
    app.router.add_static("/static/core/", STATIC, append_version=True, name="static-core")
    for plugin, folder in static.items():
        app.router.add_static(f"/static/{plugin}/", folder, append_version=True, name=f"static-{plugin}")

    async def on_startup(app: web.Application) -> None:
        loop = asyncio.get_running_loop()
        ctx.twin = node.twin()  # opened here, closed on cleanup: an app never started holds no connection
        from .uploads import sweep_spools

        # Spools a crash or a cut link left (ciphertext whose key died with its process).
        await loop.run_in_executor(None, sweep_spools, node.home / "blobs" / "partial")

        def wake() -> None:
            loop.call_soon_threadsafe(node._changed)  # gossip runs on the loop: wake it from there

        ctx.twin.listeners.append(wake)

    async def on_cleanup(app: web.Application) -> None:
        await asyncio.get_running_loop().run_in_executor(None, ctx.close)

    app.on_startup.append(on_startup)
    app.on_cleanup.append(on_cleanup)
    return app


async def start_web(
    node: Node,
    fed: Federation | None,
    host: str,
    port: int,
    *,
    insecure_http: bool = False,
) -> tuple[web.AppRunner, str]:
    """Start the web listener; returns its runner and the address to open. TLS off loopback unless
    ``insecure_http``."""
    from .tls import ensure_certificate, ssl_context

    loopback = host in ("127.0.0.1", "localhost", "::1") or host.startswith("127.")
    tls = not loopback and not insecure_http
    ssl = None
    if tls:
        ensure_certificate(node.home, node.name)
        ssl = ssl_context(node.home)
    from tequio.federation.listener import ConnectionGuard, ListenerLimits, RefusalLog, start_listener

    app = make_web_app(node, fed, tls=tls, bind_host=host)
    # Its own guard, as the federation listener and the local API have: idle connections and a
    # stranger's flood of them cannot take the descriptors the other listeners need.
    limits = ListenerLimits(max_connections=128, max_per_host=32, fd_reserve=160, header_timeout_s=30)
    guard = ConnectionGuard(limits, RefusalLog("web pages", time.monotonic))
    try:
        runner, _bound = await start_listener(app, host, port, guard, ssl)
    except OSError as e:
        raise TequioError(
            f"cannot listen on {host}:{port} for the web pages: {e.strerror}; choose another port"
        ) from None
    bound_host, bound_port = runner.addresses[0][:2]
    app[CTX].port = bound_port
    shown = bound_host if ":" not in bound_host else f"[{bound_host}]"
    if shown in ("0.0.0.0", "[::]"):
        shown = "127.0.0.1"
    return runner, f"{'https' if tls else 'http'}://{shown}:{bound_port}/"


def route_table(app: web.Application) -> Sequence[tuple[str, str, str | None]]:
    """(method, path, least role) of every page route, for the test that walks them as each role."""
    out = []
    for r in app.router.routes():
        role = getattr(r.handler, "tequio_role", "static")
        info = r.resource.get_info() if r.resource else {}
        path = info.get("path") or info.get("formatter") or info.get("prefix") or ""
        out.append((r.method, str(path), role))
    return out


def role_table(app: web.Application) -> str:
    """The Markdown table of every page and the least role it needs (docs/web.md holds it verbatim)."""
    names = {None: "anyone", "reader": "reader", "member": "member", "admin": "admin"}
    rows = ["| method | page | least role |", "|---|---|---|"]
    for method, path, role in sorted(route_table(app), key=lambda r: (r[1], r[0])):
        if role == "static" or method == "HEAD":
            continue
        rows.append(f"| {method} | `{path}` | {names.get(role, role)} |")
    return "\n".join(rows) + "\n"

"""People, sessions and the guards of every route, through real HTTP to a node's pages on 127.0.0.1."""

from __future__ import annotations

import re
from collections.abc import Callable

import aiohttp
import pytest

from tequio.node import Node
from tequio.node.web.app import route_table
from tequio.node.web.security import LoginLimiter
from tequio.node.web.users import UserDB, UserError
from tests.webkit import PASSWORD, Site


@pytest.fixture
def casa(make_node: Callable[..., Node]) -> Node:
    return make_node("Casa")


async def test_login_sets_a_strict_httponly_cookie_and_logout_ends_it(casa: Node) -> None:
    async with Site(casa) as s:
        s.user("ana", "member")
        status, html = await s.get("/")
        assert status == 200 and 'action="/login"' in html  # redirected to the login page
        status, html, url = await s.login("ana")
        assert status == 200 and url.endswith("/") and "ana (member)" in html
        jar = [c for c in s.client.cookie_jar if c.key == "tequio_session"]  # type: ignore[union-attr]
        assert jar and jar[0]["httponly"] and jar[0]["samesite"] == "Strict"
        assert not jar[0]["secure"]  # plain HTTP on loopback; Secure under TLS (test_web_serve)
        status, html, url = await s.post("/logout", {})
        assert url.endswith("/login")
        status, html = await s.get("/records")
        assert 'action="/login"' in html and "ana (member)" not in html


async def test_wrong_password_is_refused_and_logins_are_rate_limited(casa: Node) -> None:
    async with Site(casa) as s:
        s.user("ana", "member")
        for _ in range(casa.config.web.login_attempts):
            status, html, _url = await s.login("ana", "not the password")
            assert status == 401 and "Wrong name or password." in html
        status, html, _url = await s.login("ana")  # the right password, but too late: limited
        assert status == 429 and "Too many failed attempts" in html
        casa.clock.now += casa.config.web.login_window_minutes * 60_000 + 1  # type: ignore[attr-defined]
        status, html, _url = await s.login("ana")
        assert status == 200 and "ana (member)" in html
        status, html, _url = await s.login("nobody", PASSWORD)  # unknown names cost the same, say the same
        assert status == 401 and "Wrong name or password." in html


def test_limiter_forgets_addresses_after_the_window_and_stays_bounded() -> None:
    lim = LoginLimiter(attempts=3, window_ms=1000, max_entries=100)
    for i in range(3):
        lim.failed("10.0.0.1", i)
    assert lim.blocked("10.0.0.1", 10) > 0
    assert lim.blocked("10.0.0.2", 10) == 0
    assert lim.blocked("10.0.0.1", 1003) == 0 and len(lim) == 0  # nothing kept past the window
    for i in range(1000):
        lim.failed(f"192.0.2.{i}", 2000)
    assert len(lim) == 100  # a flood of addresses cannot grow the table
    assert all(b"192.0.2" not in k for k in lim._failures)  # only keyed hashes are kept


async def test_idle_session_expires(casa: Node) -> None:
    async with Site(casa) as s:
        s.user("ana", "reader")
        await s.login("ana")
        assert "ana (reader)" in (await s.get("/"))[1]
        casa.clock.now += casa.config.web.idle_minutes * 60_000 + 1  # type: ignore[attr-defined]
        _status, html = await s.get("/")
        assert "Your session ended after a while without use" in html and "ana (reader)" not in html


async def test_removed_user_loses_the_session_at_once(casa: Node) -> None:
    async with Site(casa) as s:
        s.user("ana", "admin")
        await s.login("ana")
        s.users.remove("ana")
        s.users.add("ana", "admin", PASSWORD)  # a new account of the same name is another person
        _status, html = await s.get("/peers")
        assert 'action="/login"' in html


async def test_setup_link_sets_a_password_once(casa: Node) -> None:
    async with Site(casa) as s:
        s.users.add("luz", "member")
        token = s.users.setup_token("luz")
        status, html = await s.get(f"/setup/{token}")
        assert status == 200 and "luz" in html
        status, html, _ = await s.post(
            f"/setup/{token}", {"password": "corta", "again": "corta"}, token_from=f"/setup/{token}"
        )
        assert status == 400 and "at least 10 characters" in html
        status, html, _url = await s.post(
            f"/setup/{token}", {"password": PASSWORD, "again": PASSWORD}, token_from=f"/setup/{token}"
        )
        assert status == 200 and "luz (member)" in html
        status, html = await s.get(f"/setup/{token}")
        assert status == 404 and "not valid" in html  # spent
        other = s.new_client()
        try:
            assert (await s.login("luz", client=other))[0] == 200
        finally:
            await other.close()


async def test_form_posts_need_the_token_and_the_same_site(casa: Node) -> None:
    async with Site(casa) as s:
        s.user("ana", "admin")
        await s.login("ana")
        status, html, _ = await s.post("/groups", {"name": "Red"}, csrf="forged")
        assert status == 403 and "did not come from this node" in html
        status, html, _ = await s.post("/groups", {"name": "Red"}, headers={"Origin": "http://evil.example"})
        assert status == 403 and "another site" in html
        status, html, _ = await s.post("/groups", {"name": "Red"}, headers={"Sec-Fetch-Site": "cross-site"})
        assert status == 403 and "another site" in html
        assert casa.governance.groups() == []  # nothing was signed


async def test_host_header_is_checked_against_dns_rebinding(casa: Node) -> None:
    async with Site(casa) as s:
        status, _ = await s.get("/login", headers={"Host": "attacker.example"})
        assert status == 421
        status, _ = await s.get("/login", headers={"Host": f"localhost:{s.base.rsplit(':', 1)[1]}"})
        assert status == 200
        status, _ = await s.get("/login", headers={"Host": "127.0.0.1:1"})  # another port: not us
        assert status == 421


async def test_security_headers_and_no_caching_of_private_pages(casa: Node) -> None:
    async with Site(casa) as s:
        s.user("ana", "reader")
        await s.login("ana")
        async with s.client.get("/records") as r:  # type: ignore[union-attr]
            h = r.headers
            html = await r.text()
        assert "default-src 'self'" in h["Content-Security-Policy"]
        assert "frame-ancestors 'none'" in h["Content-Security-Policy"]
        assert h["Referrer-Policy"] == "no-referrer" and h["Cache-Control"] == "no-store"
        assert h["X-Content-Type-Options"] == "nosniff"
        # Nothing on the page points outside the node.
        assert not re.search(r'(src|href)="(https?:)?//', html)
        css = re.search(r'href="(/static/core/style\.css[^"]*)"', html)
        assert css
        async with s.client.get(css.group(1).replace("&amp;", "&")) as r:  # type: ignore[union-attr]
            assert r.status == 200 and "max-age" in r.headers["Cache-Control"]


def _sample(path: str) -> str:
    return (
        path.replace("{gid}", "0" * 32)
        .replace("{pid}", "0" * 64)
        .replace("{sha}", "0" * 64)
        .replace("{token}", "x" * 48)
        .replace("{aid}", "0" * 16)
        .replace("{name}", "volume")
        .replace("{book}", "0" * 64)
        .replace("{hash}", "0" * 64)
        .replace("{page}", "0" * 32)
        .replace("{lang}", "es")
        .replace("{fmt}", "html")
    )


async def test_every_route_is_guarded_for_every_role(casa: Node) -> None:
    """Walk every page route as nobody, reader, member and admin: below the route's role it is refused."""
    order = [None, "reader", "member", "admin"]
    async with Site(casa) as s:
        clients: dict[str | None, aiohttp.ClientSession] = {}
        for role in order:
            c = s.new_client()
            clients[role] = c
            if role:
                s.user(f"u-{role}", role)
                await s.login(f"u-{role}", client=c)
        try:
            # Logging out would end the walkers' sessions; it is tested above.
            table = [
                (m, p, r)
                for m, p, r in route_table(s.app)
                if r != "static" and m != "HEAD" and (m, p) != ("POST", "/logout")
            ]
            assert len(table) >= 25  # core, voting and evidence pages
            checked = 0
            for method, path, needed in table:
                url = _sample(path)
                for role in order:
                    c = clients[role]
                    allowed = needed is None or (
                        role is not None and order.index(role) >= order.index(needed)
                    )
                    if method == "GET":
                        async with c.get(url, allow_redirects=False) as r:
                            status, location = r.status, r.headers.get("Location", "")
                    else:
                        tok = await s.token("/login", c)
                        async with c.post(
                            url, data={"csrf_token": tok}, headers={"Origin": s.base}, allow_redirects=False
                        ) as r:
                            status, location = r.status, r.headers.get("Location", "")
                    if needed is None:  # open pages: never refused by the guard (a wrong login is a 401)
                        assert status != 403 and not location.startswith("/login?"), (method, path, role)
                        checked += 1
                        continue
                    refused = status in (401, 403) or (status == 303 and location.startswith("/login?"))
                    assert refused != allowed, (method, path, role, status)
                    checked += 1
            assert checked == len(table) * 4
        finally:
            for c in clients.values():
                await c.close()


def test_accounts_refuse_bad_names_roles_and_passwords(casa: Node) -> None:
    db = UserDB(casa.home, casa.clock)
    for bad in ("", " ", "a" * 65, "\x1b[31mred", "ana\nbeto", "../etc"):
        with pytest.raises(UserError):
            db.add(bad, "member", PASSWORD)
    with pytest.raises(UserError, match="role"):
        db.add("ana", "root", PASSWORD)
    with pytest.raises(UserError, match="at least 10"):
        db.add("ana", "member", "short")
    db.add("María José", "member", PASSWORD)
    with pytest.raises(UserError, match="already"):
        db.add("María José", "admin", PASSWORD)
    assert db.verify("María José", PASSWORD) is not None and db.verify("María José", "x" * 20) is None
    assert (casa.home / "web.sqlite").stat().st_mode & 0o077 == 0


async def test_audit_log_names_the_person_and_stays_local(casa: Node) -> None:
    async with Site(casa) as s:
        s.user("ana", "admin")
        await s.login("ana")
        _status, _html, url = await s.post("/groups", {"name": "Red de Búsqueda"}, token_from="/groups")
        assert "/groups/" in url
        log = s.users.audit_log()
        assert [(e.user, e.action) for e in log[:2]] == [("ana", "coalition create"), ("ana", "login")]
        assert log[0].record == url.rsplit("/", 1)[1]
        # The audit log is not in the record store: nothing about it can sync.
        assert all(b"ana" not in w for w in casa.export())


def test_docs_list_every_route_with_its_role(casa: Node) -> None:
    from tequio.node.web import make_web_app
    from tequio.node.web.app import role_table
    from tests.conftest import ROOT

    assert role_table(make_web_app(casa)) in (ROOT / "docs" / "web.md").read_text(encoding="utf-8")


def test_after_login_only_local_paths() -> None:
    from tequio.node.web.app import safe_next

    assert safe_next("/groups?x=1") == "/groups?x=1"
    for bad in (
        "//evil.example",
        "/\t/evil.example",
        "/\\evil",
        "https://evil.example",
        "",
        None,
        "/" + "a" * 600,
    ):
        assert safe_next(bad) == "/"

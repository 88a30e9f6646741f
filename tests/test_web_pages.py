"""The pages over real HTTP: uploads streamed (bounded memory, the loop free meanwhile), ballots in every
method's form, secret ballots sealed until the close, coalition forms, hostile input."""

from __future__ import annotations

import asyncio
import os
import threading
import tracemalloc
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from multidict import MultiDict

from tequio.node import Node, TequioError
from tequio.node.groups import create_group, propose
from tequio.plugins.evidence import api as ev
from tequio.plugins.voting.web import choice_from_form
from tests.webkit import Site, token_in


@pytest.fixture
def casa(make_node: Callable[..., Node]) -> Node:
    return make_node("Casa")


async def _file_chunks(path: Path) -> AsyncIterator[bytes]:
    with path.open("rb") as f:
        while chunk := f.read(1 << 16):
            yield chunk


async def _upload(
    s: Site, path: Path, fields: dict[str, str], filename: str | None = None
) -> tuple[int, str, str]:
    tok = await s.token("/evidence/add")
    form = aiohttp.FormData()
    for k, v in fields.items():
        form.add_field(k, v)
    form.add_field(
        "file", _file_chunks(path), filename=filename or path.name, content_type="application/octet-stream"
    )
    assert s.client is not None
    async with s.client.post(f"/evidence/add?csrf_token={tok}", data=form, headers={"Origin": s.base}) as r:
        return r.status, await r.text(), str(r.url)


async def test_upload_streams_to_disk_with_bounded_memory(casa: Node, tmp_path: Path) -> None:
    big = tmp_path / "video.bin"
    with big.open("wb") as f:
        for _ in range(48):
            f.write(os.urandom(1 << 20))
    async with Site(casa) as s:
        s.user("ana", "member")
        await s.login("ana")
        tracemalloc.start()
        try:
            status, html, url = await _upload(s, big, {"title": "Video largo", "consent": "no"})
            _now, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert status == 200 and "/evidence/" in url, html[-500:]
        assert peak < 20 * 1024 * 1024, peak  # a 48 MiB upload: client, server and intake together
        sha = url.rsplit("/", 1)[1]
        assert ev.resolve(casa, sha)[1].body["title"] == "Video largo"  # type: ignore[index]
        assert list((casa.home / "blobs" / "partial").glob("upload-*")) == []  # nothing plain is left


async def test_the_event_loop_stays_free_while_a_file_is_taken_in(
    casa: Node, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    photo = tmp_path / "doc.txt"
    photo.write_text("declaración\n" * 1000)
    started, release = threading.Event(), threading.Event()
    real = ev.intake

    def slow_intake(*a: Any, **kw: Any) -> Any:
        started.set()
        assert release.wait(30)
        return real(*a, **kw)

    monkeypatch.setattr(ev, "intake", slow_intake)
    async with Site(casa) as s:
        s.user("ana", "member")
        await s.login("ana")
        upload = asyncio.create_task(_upload(s, photo, {"title": "Declaración", "consent": "yes"}))
        await asyncio.get_running_loop().run_in_executor(None, started.wait, 30)
        other = s.new_client()
        try:
            async with other.get("/login") as r:  # answered while the intake holds the worker
                assert r.status == 200
        finally:
            await other.close()
        assert not upload.done()
        release.set()
        status, _html, url = await upload
        assert status == 200 and "/evidence/" in url


async def test_uploads_refuse_oversize_and_neutralise_hostile_names(casa: Node, tmp_path: Path) -> None:
    casa.config.web.max_upload_mb = 1
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(2 << 20))
    small = tmp_path / "small.txt"
    small.write_text("hola")
    async with Site(casa) as s:
        s.user("ana", "member")
        await s.login("ana")
        _status, html, url = await _upload(s, big, {"title": "Demasiado"})
        assert url.endswith("/evidence/add") and "larger than this node accepts (1 MiB)" in html
        assert ev.items(casa) == []
        _status, html, url = await _upload(
            s, small, {"title": "Nombre"}, filename="../../etc/passwd\u202etxt.exe"
        )
        sha = url.rsplit("/", 1)[1]
        name = ev.resolve(casa, sha)[1].body["name"]  # type: ignore[index]
        assert "/" not in name and "\u202e" not in name and "passwd" in name  # no path, no RTL trick
        assert list((casa.home / "blobs" / "partial").iterdir()) == []
        # No CSRF token in the URL: the upload is refused before a byte is stored.
        assert s.client is not None
        form = aiohttp.FormData()
        form.add_field("file", b"x", filename="a.txt")
        async with s.client.post("/evidence/add", data=form, headers={"Origin": s.base}) as r:
            assert r.status == 403
        assert len(ev.items(casa)) == 1


def test_ballot_forms_of_every_method() -> None:
    opts = ["A", "B", "C"]
    f = MultiDict
    assert choice_from_form("yes-no", [], f(choice="yes")) == "yes"
    assert choice_from_form("consent", [], f(choice="object", reason=" no así ")) == {"object": "no así"}
    assert choice_from_form("approval", opts, f([("option", "C"), ("option", "A"), ("option", "Z")])) == [
        "A",
        "C",
    ]
    assert choice_from_form("plurality", opts, f(option="B")) == "B"
    assert choice_from_form("score", opts, f({"score-0": "5", "score-2": "0"})) == {"A": 5, "C": 0}
    assert choice_from_form("irv", opts, f({"rank-0": "2", "rank-1": "", "rank-2": "1"})) == ["C", "A"]
    for method, form, why in (
        ("consent", f(choice="object"), "gives its reason"),
        ("yes-no", f(choice="maybe"), "Choose one answer"),
        ("plurality", f(option="Z"), "Choose one option"),
        ("score", f({"score-0": "9"}), "from 0 to 5"),
        ("score", f({"score-0": "1e9"}), "whole numbers"),
        ("schulze", f({"rank-0": "1", "rank-1": "1"}), "different rank"),
        ("borda", f({"rank-0": "7"}), "from 1 to 3"),
        ("copeland", f(), "at least one"),
    ):
        with pytest.raises(TequioError, match=why):
            choice_from_form(method, opts, form)


async def test_consent_objection_and_a_secret_ballot_through_the_pages(casa: Node) -> None:
    _gid, scope = create_group(casa, "Asamblea", [])
    consent = propose(casa, scope, "Publicar el informe", method="consent").hex()
    secret = propose(
        casa, scope, "Elegir vocería", method="plurality", options=["Ana", "Luz"], hidden=True
    ).hex()
    async with Site(casa) as s:
        s.user("ana", "admin")
        await s.login("ana")
        page = f"/voting/{consent}"
        _st, html, _ = await s.post(f"{page}/cast", {"choice": "object"}, token_from=page)
        assert "An objection gives its reason." in html
        _st, html, _ = await s.post(
            f"{page}/cast", {"choice": "object", "reason": "faltan datos"}, token_from=page
        )
        assert "Ballot cast" in html and "objection: faltan datos" in html
        _st, html, _ = await s.post(f"{page}/close", {}, token_from=page)
        assert "Not passed" in html and "Objection: faltan datos (1)" in html

        page = f"/voting/{secret}"
        _st, html, _ = await s.post(f"{page}/cast", {"option": "Luz"}, token_from=page)
        assert "Ballots are sealed until the close" in html and "So far" not in html and "(Luz)" not in html
        _st, html, _ = await s.post(f"{page}/close", {}, token_from=page)
        assert "Winners: Luz" in html and "sealed" not in html


async def test_rules_form_proposes_a_change_in_plain_language(
    casa: Node, make_node: Callable[..., Node]
) -> None:
    other = make_node("Otra", seed=2)
    gid, scope = create_group(casa, "Red", [(other.key, "Otra", [])])
    async with Site(casa) as s:
        s.user("ana", "admin")
        await s.login("ana")
        page = f"/groups/{gid.hex()}"
        _st, html = await s.get(page)
        assert "admit a member" in html and "at least two thirds yes" in html
        form = {
            "action": "group.admit",
            "by": "decision",
            "method": "yes-no",
            "threshold": "3/4",
            "quorum": "1/2",
            "days": "3",
        }
        _st, html, url = await s.post(f"{page}/rules", form, token_from=page)
        assert "/voting/" in url and "a proposal is open" in html
        assert "at least three quarters yes, half of the members voting, open at least 3 days" in html
        _st, html, url = await s.post(f"{page}/rules", {**form, "threshold": "7/3"}, token_from=page)
        assert url.endswith(page) and "the rules are not valid" in html
        _st, html, url = await s.post(f"{page}/admit", {"key": "zz"}, token_from=page)
        assert "Choose the organisation to admit." in html
        st = casa.governance.state(scope)
        assert st is not None and len(st.proposals) == 1  # only the valid change was signed


async def test_unknown_ids_and_hostile_paths_get_a_page_not_a_crash(casa: Node) -> None:
    async with Site(casa) as s:
        s.user("ana", "reader")
        await s.login("ana")
        for path in (
            "/groups/" + "0" * 32,
            "/groups/zz",
            "/voting/" + "f" * 64,
            "/evidence/" + "a" * 64,
            "/evidence/" + "a" * 64 + "/working",
            "/records?author=zz",
            "/records?after=-1&scope=%00",
            "/nope",
        ):
            status, html = await s.get(path)
            assert status in (200, 400, 404), (path, status)
            assert "Traceback" not in html
        status, html = await s.get("/")
        assert status == 200
        assert token_in(html)


async def test_an_item_page_speaks_spanish_down_to_the_custody_timeline(casa: Node, tmp_path: Path) -> None:
    doc = tmp_path / "acta.txt"
    doc.write_text("acta de la asamblea\n")
    async with Site(casa) as s:
        s.user("ana", "member")
        await s.login("ana")
        _st, _html, url = await _upload(s, doc, {"title": "Acta", "consent": "no", "faces_at_risk": "1"})
        _st, html = await s.get(url.replace(s.base, "") + "?lang=es")
        assert "recibida: «Acta»" in html and "Casa (este nodo)" in html
        assert (
            "Retenida en este nodo: se ven rostros de personas en riesgo; el consentimiento es «no»" in html
        )
        assert "Chain of custody" not in html and "intake:" not in html


async def test_a_proposal_page_says_when_it_can_close_at_the_earliest(
    casa: Node, make_node: Callable[..., Node]
) -> None:
    """Issue 9 §2: the default rule keeps an admission open a day unless every member has voted."""
    other = make_node("Otra", seed=2)
    tercera = make_node("Tercera", seed=3)
    _gid, scope = create_group(casa, "Red", [(other.key, "Otra", [])])
    pid = propose(
        casa, scope, "Admitir a Tercera", action={"action": "group.admit", "args": {"key": tercera.key}}
    ).hex()
    poll = propose(casa, scope, "Una encuesta", method="yes-no").hex()
    async with Site(casa) as s:
        s.user("ana", "admin")
        await s.login("ana")
        _st, html = await s.get(f"/voting/{pid}?lang=en")
        assert "open at least 24 hours" in html or "open at least 1 day" in html
        assert "at the earliest, or as soon as every member has voted" in html
        _st, html = await s.get(f"/voting/{pid}?lang=es")
        assert "Puede cerrarse a partir del" in html
        _st, html = await s.get(f"/voting/{poll}?lang=en")
        assert "at the earliest" not in html  # a poll without a minimum open time says nothing


async def test_the_roles_form_sets_a_members_roles_and_refuses_bad_names(
    casa: Node, make_node: Callable[..., Node]
) -> None:
    _gid, scope = create_group(casa, "Asamblea", [])
    gid = scope[2:]
    async with Site(casa) as s:
        s.user("ana", "admin")
        await s.login("ana")
        page = f"/groups/{gid}"
        _st, html = await s.get(page)
        assert "Change a member&#39;s roles" in html or "Change a member's roles" in html
        form = {"key": casa.key.hex(), "roles": "Curator, editor"}
        _st, html, url = await s.post(f"{page}/roles", form, token_from=page)
        st = casa.governance.state(scope)
        assert st is not None
        if "/voting/" in url:  # the rules asked for a decision
            assert "a proposal is open" in html
        else:
            assert sorted(st.members[casa.key].roles) == ["curator", "editor"]
        bad = {"key": casa.key.hex(), "roles": "cura\x1b[31mtor"}
        _st, html, url = await s.post(f"{page}/roles?lang=es", bad, token_from=page)
        assert url.endswith(page) and "las funciones no son válidas" in html
        # a reader may not change roles: the route refuses, not only the menu
        s.user("leo", "reader")
        other = s.new_client()
        try:
            await s.login("leo", client=other)
            status, _html, _url = await s.post(f"{page}/roles", form, client=other, token_from="/")
            assert status == 403
        finally:
            await other.close()

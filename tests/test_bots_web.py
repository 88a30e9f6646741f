"""The bots plugin's pages on a real aiohttp server: a member uploads a planted-campaign export, the
analysis runs off the event loop, the clusters are explained in Spanish with plots served as files,
a finding is signed and shared; readers read but may not upload or share; hostile input refused."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tequio.node import Node
from tequio.node.groups import create_group
from tequio.plugins.bots.model import FINDING
from tequio.plugins.bots.share import findings_on_node
from tequio.plugins.bots.synthetic import make_benchmark, write_rows
from tests.webkit import Site

SMALL = {"n_users": 300, "n_posts": 5000, "days": 2.0, "group_size": 12, "events": 10, "control": 100}


@pytest.fixture
async def site(make_node: Callable[..., Node]) -> AsyncIterator[tuple[Site, Node]]:
    node = make_node()
    other = make_node(name="Colectivo", seed=2)
    create_group(node, "Red contra el acoso", [(other.key, "Colectivo", [])])
    async with Site(node) as s:
        s.user("ana", "member")
        s.user("rita", "reader")
        yield s, node


async def _upload(s: Site, path: Path, client: aiohttp.ClientSession, **fields: str) -> tuple[int, str, str]:
    tok = await s.token("/bots/", client)
    form = aiohttp.FormData()
    for k, v in fields.items():
        form.add_field(k, v)
    form.add_field("file", path.read_bytes(), filename=path.name, content_type="text/csv")
    async with client.post(f"/bots/analyze?csrf_token={tok}", data=form, headers={"Origin": s.base}) as r:
        return r.status, await r.text(), str(r.url)


async def test_a_member_analyses_reads_and_shares_a_reader_only_reads(site: Any, tmp_path: Path) -> None:
    s, node = site
    bench = make_benchmark(3, **SMALL)  # type: ignore[arg-type]
    path = tmp_path / "posts.csv"
    write_rows(bench.rows, path)
    member = s.new_client()
    await s.login("ana", client=member)
    try:
        st, body, url = await _upload(s, path, member, window="60", weight="cnt", min_weight="2")
        assert st == 200 and "/bots/a/" in url, body[-500:]
        aid = url.rsplit("/", 1)[1]
        async with member.get(url, headers={"Accept-Language": "es"}) as r:
            page = await r.text()
        assert "Grupo" in page and "Cuentas" in page and "valor p" in page
        plots = re.findall(rf'src="(/bots/a/{aid}/plot/[a-z_]+\.png)"', page)
        assert plots, "the plots are served as files"
        async with member.get(plots[0]) as r:
            assert (
                r.status == 200 and r.content_type == "image/png" and (await r.read()).startswith(b"\x89PNG")
            )
        assert "data:image" not in page  # the CSP allows 'self' images only
        assert not (node.home / "bots-web" / aid / "input").exists()  # the posts are not kept
        # Share with the coalition: a signed finding in the group's scope.
        tok = await s.token(f"/bots/a/{aid}", member)
        scope = re.search(r'<option value="(g:[0-9a-f]+)"', page)
        assert scope
        async with member.post(
            f"/bots/a/{aid}/share",
            data={"csrf_token": tok, "scope": scope.group(1), "tier": "medium", "title": "Campaña"},
            headers={"Origin": s.base},
        ) as r:
            assert r.status == 200
        recs = findings_on_node(node)
        assert len(recs) == 1 and recs[0].payload is not None and recs[0].payload.kind == FINDING
        # A reader reads the analysis and its plots but may neither upload nor share.
        reader = s.new_client()
        await s.login("rita", client=reader)
        try:
            async with reader.get(f"/bots/a/{aid}") as r:
                assert r.status == 200 and "Sign and share" not in await r.text()
            st, body, _url = await _upload(s, path, reader)
            assert st == 403
            tok = await s.token("/bots/", reader)
            async with reader.post(
                f"/bots/a/{aid}/share", data={"csrf_token": tok, "scope": scope.group(1)},
                headers={"Origin": s.base},
            ) as r:  # fmt: skip
                assert r.status == 403
            assert len(findings_on_node(node)) == 1
        finally:
            await reader.close()
        # Nobody logged in: sent to the login page.
        anon = s.new_client()
        try:
            async with anon.get(f"/bots/a/{aid}", allow_redirects=False) as r:
                assert r.status == 303 and r.headers["Location"].startswith("/login")
        finally:
            await anon.close()
    finally:
        await member.close()


async def test_hostile_uploads_and_ids(site: Any, tmp_path: Path) -> None:
    s, node = site
    member = s.new_client()
    await s.login("ana", client=member)
    try:
        junk = tmp_path / "../../etc/passwd.csv".replace("/", "_")
        junk.write_bytes(b"\x00\xff not a csv \n" * 100)
        st, body, url = await _upload(s, junk, member)
        assert st == 200 and url.endswith("/bots/") and 'class="flash error"' in body
        assert list((node.home / "bots-web").iterdir()) == []  # nothing half-made stays behind
        st, body, url = await _upload(s, junk, member, window="soon")
        assert 'class="flash error"' in body
        for bad in ("/bots/a/zz", "/bots/a/" + "0" * 16, "/bots/a/" + "0" * 16 + "/plot/..%2F..%2Fx.png",
                    "/bots/a/" + "0" * 16 + "/report.html"):  # fmt: skip
            async with member.get(bad) as r:
                assert r.status == 404 and "no such" in await r.text(), bad
        async with member.get("/bots/") as r:
            assert r.status == 200  # still answering
    finally:
        await member.close()

"""Mirroring: a non-member node follows a public book by normal sync, incrementally and resumably,
within a quota; forged and revoked revisions are untrusted on every node; and, with every link cut,
the follower still reads and searches the book (real nodes, real HTTP, the real CLI)."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tequio.node import Node
from tequio.plugins.handbook.mirror import follow_status
from tequio.plugins.handbook.publish import follow, import_dir, publish_editors
from tequio.plugins.handbook.reading import history, page_view
from tequio.plugins.handbook.recordkinds import KIND_REVISION, content_hash, page_id
from tequio.plugins.handbook.search import search
from tests.conftest import TEQUIO
from tests.fedkit import make_cluster
from tests.test_handbook_kit import new_book, umbrella_tree, write
from tests.test_hooks import docs_plugin


async def test_hook_prepare_wanted_blobs(make_node: Callable[..., Node], tmp_path: Path) -> None:
    """The documented example reorders the blobs to fetch, smallest first."""
    from tequio.schemas import BlobRef

    wc = docs_plugin()
    c = make_cluster(make_node, 2, plugins=[wc], env={"TEQUIO_PLUGINS": "core"})
    c.trust(0, 1)
    refs = []
    for i, size in enumerate((300_000, 1_000, 50_000)):
        p = tmp_path / f"f{i}"
        p.write_bytes(os.urandom(size))
        h, n = c[0].node.blobs.put_file(p)
        refs.append(BlobRef(h, n, "application/octet-stream"))
    c[0].node.publish("core.note", {"text": "files"}, blobs=refs)
    await c[1].syncer.sync(c[0].node.key)
    assert [s for _, s in c[1].host.wanted_blobs(10)] == [1_000, 50_000, 300_000]


def _forge(node: Node, book: bytes, key: str, lang: str, text: str, authority: bytes) -> bytes:
    """A revision signed by ``node`` whoever it is: the record is well formed, only trust can refuse it."""
    body = {
        "book": book, "page": page_id(book, key), "key": key, "lang": lang, "title": "Forged",
        "text": text, "hash": content_hash(text), "authority": authority,
    }  # fmt: skip
    return node.publish(KIND_REVISION, body).id


@pytest.fixture
def three(make_node: Callable[..., Node], tmp_path: Path) -> Iterator[Any]:
    """Editors A and B; C, a stranger (no coalition, no editor) that follows the book from B."""
    c = make_cluster(make_node, 3)
    c.trust(0, 1)
    c.trust(1, 2)
    yield c


async def test_a_stranger_follows_the_book_and_sync_is_incremental(three: Any, tmp_path: Path) -> None:
    c = three
    a, b, s = c[0].node, c[1].node, c[2].node
    book = new_book(a, ["en", "es"], source="en", editors=[a.key, b.key])
    tree = umbrella_tree(tmp_path / "u")
    import_dir(a, book, tree)
    follow(b, book)
    await c[1].syncer.sync(a.key)
    assert await c[1].blobs.run_once() == 2  # B mirrors the book too (image, licence), to pass it on
    follow(s, book)  # before anything arrived: records come with the next sync
    first = await c[2].syncer.sync(b.key)
    assert first.received > 0
    assert follow_status(s, book)["pages"] == follow_status(a, book)["pages"] > 0
    # Images (and the licence file) are fetched within the quota, for followed books only.
    assert await c[2].blobs.run_once() == 2
    assert follow_status(s, book)["images"] == {
        "held": 1,
        "missing": 0,
        "bytes": follow_status(a, book)["images"]["bytes"],
    }
    hits = search(s.db, book, "es", "contrasenas")
    assert "Cómo crear una contraseña segura" in {h["title"] for h in hits}
    # An edit of one page travels as one record.
    page = tree / "en/tools/encryption/s_keepassxc.md"
    page.write_text(page.read_text() + "\nUpdated for version 2.7.\n")
    out = import_dir(a, book, tree)
    assert out["published"] == 1
    await c[1].syncer.sync(a.key)
    assert await c[1].blobs.run_once() == 0
    again = await c[2].syncer.sync(b.key)
    assert again.received == 1
    assert await c[2].blobs.run_once() == 0  # nothing new to fetch: the image is unchanged
    v = page_view(s, book, page_id(book, "tools/encryption/s_keepassxc"), "en")
    assert "version 2.7" in v.text and v.trusted


async def test_sync_resumes_after_the_link_drops(make_node: Callable[..., Node], tmp_path: Path) -> None:
    c = make_cluster(make_node, 2)
    c.trust(0, 1)
    a, s = c[0].node, c[1].node
    book = new_book(a, ["en"], source="en")
    files = {f"p{i:03d}.md": f"---\ntitle: Page {i}\n---\n" + f"Texto {i}. " * 200 for i in range(120)}
    import_dir(a, book, write(tmp_path / "many", files), "suffix")
    follow(s, book)
    for i in (0, 1):  # small batches, so that the drop lands mid-transfer
        c[i].syncer.limits = dataclasses.replace(c[i].syncer.limits, max_records=25, small_records=10)

    class Cut:
        """Lets a few sync calls through, then the link is gone."""

        def __init__(self, inner: Any, budget: int) -> None:
            self.inner, self.budget = inner, budget

        async def call(self, peer: bytes, method: str, message: Any) -> Any:
            from tequio.federation.sync import Unreachable

            if self.budget <= 0:
                raise Unreachable("link dropped")
            self.budget -= 1
            return await self.inner.call(peer, method, message)

    cut = Cut(c[1].transport, budget=2)
    c[1].syncer.transport = cut
    from tequio.federation.sync import Unreachable

    with pytest.raises(Unreachable):
        await c[1].syncer.sync(a.key)
    part = follow_status(s, book)["pages"]
    assert 0 < part < 120, part
    cut.budget = 1000
    res = await c[1].syncer.sync(a.key)
    assert follow_status(s, book)["pages"] == 120
    assert res.received <= 122 - part + 2  # only what was missing came the second time


async def test_images_stay_within_the_quota_and_unfollowed_books_fetch_nothing(
    make_node: Callable[..., Node], tmp_path: Path
) -> None:
    from tests.test_handbook_kit import png

    c = make_cluster(make_node, 2)
    c.trust(0, 1)
    a, s = c[0].node, c[1].node
    book = new_book(a, ["en"], source="en")
    files: dict[str, str | bytes] = {}
    for i in range(6):
        files[f"img{i}.png"] = png(64, 64, seed=i) + os.urandom(20_000)
        files[f"p{i}.md"] = f"---\ntitle: P{i}\n---\n![x](img{i}.png)\n"
    import_dir(a, book, write(tmp_path / "pics", files), "suffix")
    other = new_book(a, ["en"], source="en")
    import_dir(
        a,
        other,
        write(tmp_path / "other", {"o.md": "---\ntitle: O\n---\n![y](y.png)\n", "y.png": png(seed=9)}),
        "suffix",
    )
    await c[1].syncer.sync(a.key)
    follow(s, book, quota=3 * 21_000)
    while await c[1].blobs.run_once():
        pass
    st = follow_status(s, book)
    assert st["images"]["held"] == 3 and st["images"]["missing"] == 3 and st["images"]["bytes"] <= 3 * 21_000
    assert follow_status(s, other)["images"]["held"] == 0  # not followed: not fetched
    # Pages without their images still read; raising the quota fetches the rest.
    follow(s, book, quota=10_000_000)
    while await c[1].blobs.run_once():
        pass
    assert follow_status(s, book)["images"] == {
        **st["images"],
        "held": 6,
        "missing": 0,
        "bytes": follow_status(s, book)["images"]["bytes"],
    }


async def test_forged_and_revoked_revisions_are_untrusted_on_every_node(three: Any, tmp_path: Path) -> None:
    c = three
    a, b, s = c[0].node, c[1].node, c[2].node
    book = new_book(a, ["en"], source="en", editors=[a.key, b.key])
    import_dir(
        a, book, write(tmp_path / "t", {"Intro.md": "---\ntitle: Intro\n---\nOriginal text.\n"}), "suffix"
    )
    follow(b, book)
    follow(s, book)
    await c[1].syncer.sync(a.key)
    await c[2].syncer.sync(b.key)
    good = page_view(s, book, page_id(book, "Intro"), "en").revision
    # The stranger forges a revision naming the book's list; nobody serves it.
    forged = _forge(s, book, "Intro", "en", "Send your passwords to evil@example.org\n", book)
    # B is revoked by A; B then signs a new revision naming the old list.
    lid, changes = publish_editors(a, book, remove=[b.key], note="B left the coalition")
    assert changes["revocations"][0]["key"] == b.key.hex()
    await c[1].syncer.sync(a.key)  # B receives its revocation, and ignores it
    late = _forge(b, book, "Intro", "en", "Revoked but still writing.\n", book)
    for _ in range(2):
        await c[1].syncer.sync(a.key)
        await c[1].syncer.sync(s.key)
        await c[2].syncer.sync(b.key)
    for node in (a, b, s):
        st = {r["revision"]: r for r in history(node, book, page_id(book, "Intro"))}
        assert st[forged.hex()]["status"] == "untrusted" and "H7" in st[forged.hex()]["why"], node.name
        assert st[late.hex()]["status"] == "untrusted" and "H5" in st[late.hex()]["why"], node.name
        view = page_view(node, book, page_id(book, "Intro"), "en")
        assert view.revision == good and view.text == "Original text.\n", node.name
        assert search(node.db, book, "en", "passwords") == []
        shown = page_view(node, book, page_id(book, "Intro"), "en", revision=forged)
        assert not shown.trusted and shown.banners[-1]["kind"] == "untrusted"
    assert lid


def _run(home: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TEQUIO_")}
    env["TEQUIO_HOME"] = str(home)
    return subprocess.run([TEQUIO, *args], capture_output=True, text=True, env=env, timeout=timeout)


def _ok(home: Path, *args: str) -> Any:
    r = _run(home, *args)
    assert r.returncode == 0, f"{args}: {r.stderr}"
    return json.loads(r.stdout) if "--json" in args else r.stdout


def _serve(home: Path) -> tuple[subprocess.Popen[str], str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TEQUIO_")}
    env["TEQUIO_HOME"] = str(home)
    p = subprocess.Popen(
        [TEQUIO, "serve", "--api-port", "0", "--fed-host", "127.0.0.1", "--fed-port", "0", "--no-discovery"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    assert p.stdout is not None
    for line in p.stdout:
        m = re.search(r"federation http://([\d.]+:\d+)/", line)
        if m:
            return p, m.group(1)
    raise AssertionError(f"serve did not start: {p.stderr.read() if p.stderr else ''}")


def _stop(p: subprocess.Popen[str]) -> None:
    p.send_signal(signal.SIGTERM)
    try:
        p.wait(timeout=20)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()


@pytest.mark.slow
def test_a_non_member_follows_over_http_then_reads_and_searches_with_every_link_cut(tmp_path: Path) -> None:
    a, s = tmp_path / "editor", tmp_path / "reader"
    for home, name in ((a, "Editorial"), (s, "Biblioteca")):
        _ok(home, "init", "--name", name)
    key_a = _ok(a, "info", "--json")["key"]
    book = _ok(a, "handbook", "create", "Manual", "--languages", "en,es", "--editor", key_a, "--json")["book"]
    _ok(a, "handbook", "import", str(umbrella_tree(tmp_path / "u")), "--book", book, "--json")
    pa, _addr_a = _serve(a)
    ps = None
    try:
        code = _ok(a, "invite", "--json")["code"]
        ps, _addr_s = _serve(s)
        _ok(s, "peer", "add", code, "--json")
        _ok(s, "handbook", "follow", book, "--json")
        # Wait (bounded) until gossip and the blob fetcher bring the book and its image over.
        for _ in range(120):
            st = _ok(s, "handbook", "status", book, "--json")
            if st["pages"] and st["images"]["missing"] == 0:
                break
            subprocess.run([sys.executable, "-c", "import time; time.sleep(0.5)"], check=True)
        assert (
            st["pages"] == _ok(a, "handbook", "status", book, "--json")["pages"] and st["images"]["held"] == 1
        )
    finally:
        _stop(pa)  # every link cut: the editor's node is gone
        if ps is not None:
            _stop(ps)
    hits = _ok(s, "handbook", "search", "contrasenas", "--book", book, "--lang", "es", "--json")
    assert hits and "contraseña" in hits[0]["snippet"].lower()
    shown = _ok(s, "handbook", "show", hits[0]["page"], "--lang", "es", "--json")
    assert shown["trusted"] and shown["signed_by"] == key_a and shown["lang"] == "es"
    assert set(shown) >= {
        "page",
        "lang",
        "title",
        "revision",
        "text",
        "translates",
        "stale",
        "signed_by",
        "trusted",
    }
    toc = _ok(s, "handbook", "list", book, "--lang", "es", "--json")
    assert len(toc) == len(_ok(a, "handbook", "list", book, "--lang", "es", "--json"))

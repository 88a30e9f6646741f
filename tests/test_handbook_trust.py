"""Editors' authority from the coalition's governance, checkable by readers who cannot read the
coalition: the public editor list follows roles and decisions, revocation takes effect by feed
position, a member's audit spots a list that disagrees, and N-of-M approval gates what is served."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tequio.node import Node, TequioError
from tequio.node.groups import act, create_group
from tequio.plugins.handbook.editors import audit, editors_json
from tequio.plugins.handbook.publish import approve, create_book, follow, import_dir, publish_editors
from tequio.plugins.handbook.reading import history, page_view, toc
from tequio.plugins.handbook.recordkinds import page_id
from tests.fedkit import make_cluster
from tests.test_handbook_kit import write
from tests.test_handbook_mirror import _forge

PAGE = {"Intro.md": "---\ntitle: Intro\n---\nLa versión buena.\n"}


async def test_the_editor_list_follows_the_coalitions_roles_and_strangers_can_check_it(
    make_node: Callable[..., Node], tmp_path: Path
) -> None:
    c = make_cluster(make_node, 4)  # A, B editors; C a member without the role; S a stranger
    for i, j in ((0, 1), (0, 2), (0, 3)):
        c.trust(i, j)
    a, b, m, s = (c[i].node for i in range(4))
    gid, scope = create_group(
        a,
        "Red de Búsqueda",
        [(a.key, "Casa", ["editor"]), (b.key, "Colectivo", ["editor"]), (m.key, "Centro", [])],
        {"group.roles": {"by": "member"}},
    )
    for i in (1, 2):
        await c[i].syncer.sync(a.key)
    book = create_book(a, "Manual", ["es", "en"], group=gid.hex())
    ed = editors_json(a, book)
    assert {e["key"] for e in ed["rights"]["edit"]} == {a.key.hex(), b.key.hex()}
    assert {e["name"] for e in ed["rights"]["edit"]} == {"Casa", "Colectivo"}
    # The public book names the coalition only by a commitment: the stranger learns no group id.
    rec = a.get(book)
    assert rec is not None and gid not in rec.payload.encode() and gid.hex() not in repr(rec.payload.body)
    import_dir(a, book, write(tmp_path / "t", PAGE), "suffix")
    for node in (b, m, s):
        follow(node, book)
    for i in (1, 2, 3):
        await c[i].syncer.sync(a.key)
    assert s.governance.state(scope) is None  # the stranger cannot read the coalition...
    good = page_view(s, book, page_id(book, "Intro"), "es")
    assert good.trusted and good.author == a.key  # ...yet checks who may edit
    # A member without the editor role forges a revision: untrusted everywhere.
    forged = _forge(m, book, "Intro", "es", "Falso.\n", book)
    # The coalition takes B's role away; A publishes the list that follows the decision.
    act(a, scope, "group.roles", {"key": b.key, "roles": []})
    await c[1].syncer.sync(a.key)
    await c[2].syncer.sync(a.key)
    assert audit(a, book) and "does not (run --sync)" in audit(a, book)[0]
    lid, changes = publish_editors(a, book, from_group=True)
    assert changes["revoked"] == {"edit": [b.key.hex()], "approve": [b.key.hex()], "keep": [b.key.hex()]}
    assert audit(a, book) == []
    late = _forge(b, book, "Intro", "es", "Ya no soy editor.\n", lid)
    for i in (1, 2, 3):
        await c[i].syncer.sync(a.key)
        await c[0].syncer.sync(c[i].node.key)
    for i in (1, 2, 3):
        await c[i].syncer.sync(a.key)
    for node in (a, b, m, s):
        st = {r["revision"]: r for r in history(node, book, page_id(book, "Intro"))}
        assert st[forged.hex()]["status"] == "untrusted", node.name
        assert st[late.hex()]["status"] == "untrusted" and "not an editor" in st[late.hex()]["why"], node.name
        assert page_view(node, book, page_id(book, "Intro"), "es").revision == good.revision, node.name
    # Only a keeper publishes the next list; B no longer keeps it.
    with pytest.raises(TequioError, match="does not keep"):
        publish_editors(b, book, add={"edit": [b.key]})


def test_a_node_outside_the_coalition_cannot_found_a_book_for_it(make_node: Callable[..., Node]) -> None:
    a, b = make_node(name="A", seed=1), make_node(name="B", seed=2)
    gid, _ = create_group(a, "Red", [(b.key, "B", [])])
    with pytest.raises(TequioError, match="not a member"):
        create_book(b, "Manual", ["es"], group=gid.hex())
    # A member without the role that keeps the list may not either (the default: role editor).
    with pytest.raises(TequioError, match="may not publish the coalition's editor list"):
        create_book(a, "Manual", ["es"], group=gid.hex())


def test_a_decision_names_the_editors(make_node: Callable[..., Node], tmp_path: Path) -> None:
    from tequio.node.groups import close

    a, b = make_node(name="A", seed=1), make_node(name="B", seed=2)
    rules = {
        "handbook.edit": {"by": "decision", "method": "any-member", "quorum": [0, 1], "threshold": [1, 2]},
        "handbook.editors": {"by": "member"},
    }
    gid, scope = create_group(a, "Red", [(b.key, "B", [])], rules)
    book = create_book(a, "Manual", ["es"], group=gid.hex())
    assert editors_json(a, book)["rights"]["edit"] == []  # no decision yet: nobody edits
    out = act(a, scope, "handbook.edit", {"editors": [b.key]})
    assert out.proposal
    close(a, scope, out.record, passed=True)
    publish_editors(a, book, from_group=True)
    assert [e["key"] for e in editors_json(a, book)["rights"]["edit"]] == [b.key.hex()]


def test_n_of_m_approval_gates_what_is_served(make_node: Callable[..., Node], tmp_path: Path) -> None:
    a, b = make_node(name="A", seed=1), make_node(name="B", seed=2)
    book = create_book(a, "Manual", ["es"], editors=[a.key, b.key], approvals=1)
    import_dir(a, book, write(tmp_path / "t", PAGE), "suffix")
    assert toc(a, book, "es") == []  # pending: not the book yet
    rev = history(a, book, page_id(book, "Intro"))[0]
    assert rev["status"] == "pending" and "0 of the 1 approvals" in rev["why"]
    with pytest.raises(TequioError, match="own revision"):
        approve(a, bytes.fromhex(rev["revision"]))
    b.ingest(a.export())
    follow(b, book)
    approve(b, bytes.fromhex(rev["revision"]))
    a.ingest(b.export())
    assert [e["title"] for e in toc(a, book, "es")] == ["Intro"]
    assert history(a, book, page_id(book, "Intro"))[0]["approvals"] == 1
    with pytest.raises(TequioError, match="more than the"):
        create_book(a, "Otro", ["es"], editors=[a.key], approvals=2)

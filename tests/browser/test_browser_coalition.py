"""Three real nodes form a coalition through their pages, then admit a fourth by votes on each one's pages."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tequio.schemas.canonical import encode

from .conftest import login
from .live import LiveNode, nodes

ORGS = ("Casa de la Memoria", "Colectivo Madres en Búsqueda", "Red de Defensoras", "Observatorio Comunitario")


def _invite_and_add(pages: dict[str, Any], inviter: LiveNode, joiner: LiveNode) -> None:
    """The inviter's admin makes an invite on its peers page; the joiner's admin pastes it on theirs."""
    a = pages[inviter.name]
    a.goto(inviter.url + "peers")
    a.get_by_role("button", name="Make an invite").click()
    assert a.locator(".qr svg").is_visible()  # the invite as a QR code, drawn by the node itself
    code = a.get_by_label("Invite code").input_value()
    b = pages[joiner.name]
    b.goto(joiner.url + "peers")
    b.get_by_label("Add a code you were given").fill(code)
    b.get_by_role("button", name="Add this peer").click()
    assert f"Now trusted: {inviter.name}" in b.content()
    # Fingerprints side by side, with the instruction to compare them by phone.
    row = b.locator("table.fps tr", has_text=inviter.name)
    assert inviter.call(lambda n: n.fingerprint) in row.inner_text()
    assert joiner.call(lambda n: n.fingerprint) in row.inner_text()
    assert "read both fingerprints aloud" in b.content()


def test_three_nodes_form_a_coalition_and_admit_a_fourth_by_votes(browser: Any, tmp_path: Path) -> None:
    with nodes(tmp_path, *ORGS) as (a, b, c, d):
        pages: dict[str, Any] = {}
        contexts = []
        for live in (a, b, c, d):
            ctx = browser.new_context(viewport={"width": 360, "height": 640})
            ctx.set_default_timeout(30_000)
            contexts.append(ctx)
            pages[live.name] = ctx.new_page()
            login(pages[live.name], live)
        try:
            for x, y in ((a, b), (a, c), (b, c), (a, d)):
                _invite_and_add(pages, x, y)

            # A founds the coalition with B and C, choosing them among its trusted peers.
            pa = pages[a.name]
            pa.goto(a.url + "groups")
            pa.get_by_label("Name", exact=True).fill("Coalición por la Verdad")
            pa.get_by_label(b.name).check()
            pa.get_by_label(c.name).check()
            pa.get_by_role("button", name="Found the coalition").click()
            assert "Coalition Coalición por la Verdad founded." in pa.content()
            gid = pa.url.rsplit("/", 1)[1]
            scope = "g:" + gid
            rules = pa.locator("table.rules tr", has_text="admit a member").inner_text()
            assert "a vote of the members, by a yes/no vote: at least two thirds yes" in rules
            for live in (b, c):
                live.wait_for(lambda n: n.governance.state(scope))
                pages[live.name].goto(live.url + "groups")
                assert pages[live.name].get_by_role("link", name="Coalición por la Verdad").is_visible()

            # A proposes to admit D: the rules ask for a vote, so the page opens a proposal.
            pa.goto(f"{a.url}groups/{gid}")
            pa.get_by_label("Trusted peer").select_option(
                label=f"{d.name} ({d.call(lambda n: n.fingerprint)})"
            )
            pa.get_by_role("button", name="Admit", exact=True).click()
            assert "a proposal is open for the members to vote on" in pa.content()
            pid = pa.url.rsplit("/", 1)[1]
            prop = bytes.fromhex(pid)

            # Each member votes yes on its own node's pages (the ballot form of a yes/no vote).
            for live in (a, b, c):
                live.wait_for(
                    lambda n: (st := n.governance.state(scope)) is not None and prop in st.proposals
                )
                p = pages[live.name]
                p.goto(f"{live.url}voting/{pid}")
                p.get_by_label("Yes", exact=True).check()
                p.get_by_role("button", name="Cast the ballot").click()
                assert "Ballot cast for this organisation" in p.content()

            a.wait_for(lambda n: len(n.governance.state(scope).proposals[prop].ballots) == 3)
            pa.goto(f"{a.url}voting/{pid}")
            assert "3 of 3 voted" in pa.content()
            pa.get_by_role("button", name="Close and count").click()
            assert pa.get_by_text("Passed", exact=True).is_visible()
            assert "Threshold: 3 yes of 3 yes and no, 2 needed" in pa.content()

            # Every node, the newcomer included, holds the same result and D is a member.
            def closed(n: Any) -> bytes | None:
                st = n.governance.state(scope)
                if st is None or prop not in st.proposals or st.proposals[prop].status == "open":
                    return None
                return encode(st.proposals[prop].result) if d.node.key in st.members else None

            tallies = {live.name: live.wait_for(closed) for live in (a, b, c, d)}
            assert len(set(tallies.values())) == 1
            pd = pages[d.name]
            pd.goto(f"{d.url}voting/{pid}")
            assert pd.get_by_text("Passed", exact=True).is_visible()
            pd.goto(f"{d.url}groups/{gid}")
            members = pd.locator("table", has_text="Fingerprint").first.inner_text()
            assert all(name in members for name in ORGS)
            history = pd.locator("h2:has-text('Membership history') + ol").inner_text()
            assert "Observatorio Comunitario admitted" in history
        finally:
            for ctx in contexts:
                ctx.close()

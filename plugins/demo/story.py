"""``tequio demo``: three organisations, a coalition, a photo verified, a fourth admitted by vote,
and a court package checked — real nodes, each with its own store and federation listener on
127.0.0.1, in a temporary folder. Narrates what moved where.

The whole system's story, told only through public APIs: ``tequio.node`` (nodes, federation,
groups), ``tequio.node.media``, the evidence plugin's ``api`` and the voting plugin's ballots.
"""

from __future__ import annotations

import asyncio
import io
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import click
from aiohttp import web

from tequio.governance import ADMIT
from tequio.node import Federation, Node, close, create_group, propose
from tequio.node.media import read_location
from tequio.plugins.evidence import api as ev

__all__ = ["main", "run_demo"]

ORGS = (
    ("Casa de la Memoria", "Ciudad de México"),
    ("Colectivo Madres en Búsqueda", "Guerrero"),
    ("Red de Defensoras", "Oaxaca"),
    ("Observatorio Comunitario", "Chiapas"),
)


DEMO_USER = "demo"


@dataclass
class Org:
    node: Node
    fed: Federation
    runner: web.AppRunner
    addr: str
    region: str


def _say(text: str = "") -> None:
    click.echo(text)


def _step(n: int, text: str) -> None:
    click.echo(click.style(f"\n{n}. {text}", bold=True))


def make_photo(path: Path) -> None:
    """A JPEG made on the spot with GPS EXIF (Zócalo, Mexico City), as a phone would write it."""
    from PIL import Image, ImageDraw

    img = Image.new("RGB", (640, 480), (90, 110, 140))
    draw = ImageDraw.Draw(img)
    draw.rectangle((40, 300, 600, 460), fill=(40, 40, 40))
    draw.text((60, 60), f"Tequio demo - {time.strftime('%Y-%m-%d %H:%M')}", fill=(255, 255, 255))
    exif = Image.Exif()
    exif[0x010F] = "DemoPhone"  # Make
    exif[0x0110] = "Model 7"  # Model
    gps = {1: "N", 2: (19.0, 25.0, 57.6), 3: "W", 4: (99.0, 7.0, 58.8)}  # 19.4327 N, 99.1330 W
    exif[0x8825] = gps
    buf = io.BytesIO()
    img.save(buf, "JPEG", exif=exif.tobytes(), quality=85)
    path.write_bytes(buf.getvalue())


async def _start(home: Path, name: str, region: str) -> Org:
    node = Node.create(home, name=name)
    fed = Federation(node)
    runner, addr = await fed.listen("127.0.0.1", 0)
    return Org(node, fed, runner, addr, region)


async def _connect(a: Org, b: Org) -> None:
    code = a.fed.invite(10 * 60_000, 1).encode(a.fed.keyring.sign)
    await b.fed.join(code)


async def _sync(orgs: list[Org], rounds: int = 2) -> dict[str, int]:
    """Sync rounds over HTTP between every pair that trusts each other; returns records moved per node."""
    moved = {o.node.name: 0 for o in orgs}
    for _ in range(rounds):
        for a in orgs:
            for b in orgs:
                if a is not b and a.fed.peers.get(b.node.key) is not None:
                    res = await a.fed.syncer.sync(b.node.key)
                    moved[a.node.name] += res.accepted_here
                    moved[b.node.name] += res.accepted_there
        for o in orgs:
            await o.fed.blobs.run_once()
    return moved


async def _open_pages(orgs: list[Org]) -> list[web.AppRunner]:
    """Serve each node's web pages on 127.0.0.1 and give a one-time set-up link for an admin account
    (a link, not a password: nothing secret is printed that outlives its first use)."""
    from tequio.node.web import UserDB, start_web

    runners = []
    _say("\nthe web pages (open a link, choose a password, then log in as demo at /login):")
    for o in orgs:
        runner, url = await start_web(o.node, o.fed, "127.0.0.1", 0)
        runners.append(runner)
        db = UserDB(o.node.home, o.node.clock)
        if db.get(DEMO_USER) is None:
            db.add(DEMO_USER, "admin")
        _say(f"   {o.node.name}: {url}  set-up: {url}setup/{db.setup_token(DEMO_USER)}")
    return runners


async def run_demo(base: Path, keep: bool, temporary: bool = False) -> int:
    t0 = time.monotonic()
    orgs: list[Org] = []
    runners: list[web.AppRunner] = []
    try:
        _step(1, "Three organisations start their nodes (each its own store and federation listener)")
        for i, (name, region) in enumerate(ORGS[:3]):
            orgs.append(await _start(base / f"org{i + 1}", name, region))
            o = orgs[-1]
            _say(f"   {name} ({region}): {o.node.fingerprint}, federation on http://{o.addr}/fed/v1/")
        a, b, c = orgs

        _step(2, "They connect by invites and compare fingerprints")
        for x, y in ((a, b), (a, c), (b, c)):
            await _connect(x, y)
            _say(f"   {y.node.name} used {x.node.name}'s invite: both now trust each other")

        _step(3, "They form a coalition")
        _, scope = create_group(
            a.node, "Coalición por la Verdad", [(b.node.key, b.node.name, []), (c.node.key, c.node.name, [])]
        )
        moved = await _sync(orgs)
        for o in orgs:
            st = o.node.governance.state(scope)
            _say(
                f"   {o.node.name}: {st.name if st else '?'} — {len(st.members) if st else 0} members"
                f" ({moved[o.node.name]} records received)"
            )

        _step(4, f"{a.node.name} takes in a photo made on the spot, with GPS in its EXIF")
        photo = base / "IMG_0001.jpg"
        make_photo(photo)
        got = ev.intake(
            a.node,
            photo,
            "Detención en el Zócalo",
            where="Centro",
            consent="yes",
            when=time.strftime("%Y-%m-%d"),
        )
        intake_rec = a.node.get(got.id)
        assert intake_rec is not None
        refs = ev.role_refs(intake_rec)
        original = base / "original-check.jpg"
        working = base / "working-check.jpg"
        original.write_bytes(b"".join(a.node.open_blob(refs["original"].hash)))
        working.write_bytes(b"".join(a.node.open_blob(refs["working"].hash)))
        loc = read_location(original)
        _say(
            f"   original sha256 {got.sha256.hex()}"
            f"  (sealed, byte-identical: {original.read_bytes() == photo.read_bytes()})"
        )
        _say(
            f"   GPS in the sealed original: {loc[0] / 1e6:.4f}, {loc[1] / 1e6:.4f}"
            if loc
            else "   (no GPS?)"
        )
        _say(
            f"   GPS in the working copy: {read_location(working) or 'none'};"
            f" removed: {', '.join(got.removed)}"
        )
        ev.share(a.node, got.sha256, scope)
        moved = await _sync(orgs)
        _say(
            f"   shared the working copy with the coalition;"
            f" {b.node.name} received {moved[b.node.name]} records"
        )

        _step(5, "Two partner organisations review it")
        ev.review(b.node, got.sha256, "verified", ["source", "content"], "Testigos confirman hora y lugar.")
        await _sync(orgs)
        _say(f"   after {b.node.name}: {ev.verification(a.node, got.sha256)[0].status}")
        ev.review(c.node, got.sha256, "verified", ["technical"], "Sin manipulación; metadatos coherentes.")
        await _sync(orgs)
        _say(f"   after {c.node.name}: {ev.verification(a.node, got.sha256)[0].status}")

        _step(6, "The coalition votes to admit a fourth organisation")
        d = await _start(base / "org4", *ORGS[3])
        orgs.append(d)
        await _connect(a, d)
        _say(f"   {d.node.name} ({d.region}) started and used {a.node.name}'s invite")
        pid = propose(
            a.node,
            scope,
            f"Admitir a {d.node.name}",
            action={"action": ADMIT, "args": {"key": d.node.key, "name": d.node.name}},
        )
        await _sync(orgs)
        from tequio.plugins.voting.ballot_io import cast

        for o in (a, b, c):
            st = o.node.governance.state(scope)
            assert st is not None
            cast(o.node, scope, st.proposals[pid], "yes")
            _say(f"   {o.node.name} votes yes")
        await _sync(orgs)
        _, result = close(a.node, scope, pid)
        expl = result["explanation"]
        _say(
            f"   closed: passed={result['passed']} ({expl.get('yes')} yes, {expl.get('no')} no;"
            " the rule: at least 2/3)"
        )
        moved = await _sync(orgs, rounds=3)
        st_d = d.node.governance.state(scope)
        _say(
            f"   {d.node.name} received the group's history: {moved[d.node.name]} records,"
            f" member of {st_d.name if st_d else '?'}, sees {len(ev.items(d.node))} evidence item(s)"
        )
        tallies = {repr(o.node.governance.state(scope).proposals[pid].result) for o in orgs}  # type: ignore[union-attr]
        _say(f"   every node recomputed the same tally: {len(tallies) == 1}")

        _step(7, "A court package is exported and checked offline")
        pkg = base / "paquete-judicial.zip"
        ev.export(a.node, [got.sha256], pkg)
        report = ev.check_package(pkg)
        _say(
            f"   {pkg.name}: {'OK' if report.ok else 'REFUSED'} — {report.records} records,"
            f" {report.files} files, {report.signatures} signatures"
        )
        bad = base / "paquete-alterado.zip"
        data = bytearray(pkg.read_bytes())
        data[len(data) // 2] ^= 0x01
        bad.write_bytes(bytes(data))
        report = ev.check_package(bad)
        _say(f"   a copy with one flipped byte: {'OK' if report.ok else 'REFUSED'}")
        for p in report.problems[:3]:
            _say(f"     {p.part}: {p.what}")
        where = (
            f"{base} (a temporary folder, removed now; --dir DIR keeps one)"
            if temporary and not keep
            else base
        )
        _say(f"\ndone in {time.monotonic() - t0:.1f} s; the four nodes' homes and the packages: {where}")
        if keep:
            _say("the nodes keep running, gossiping and fetching files (Ctrl-C to stop):")
            stop = asyncio.Event()
            tasks = []
            for o in orgs:
                _say(f"   {o.node.name}: home {o.node.home}, federation http://{o.addr}/fed/v1/")
                tasks += [
                    asyncio.create_task(o.fed.gossip.run(stop)),
                    asyncio.create_task(o.fed.blobs.run(stop)),
                ]
            _say(f"   try: tequio --home {orgs[1].node.home} evidence list")
            runners += await _open_pages(orgs)
            try:
                await asyncio.Event().wait()
            finally:
                stop.set()
                await asyncio.gather(*tasks, return_exceptions=True)
        return 0
    finally:
        for r in runners:
            await r.cleanup()
        for o in orgs:
            await o.fed.aclose()
            await o.runner.cleanup()
            o.node.close()


def main(keep: bool, where: Path | None) -> None:
    """Run the whole story on 127.0.0.1, in ``where`` or a temporary folder removed afterwards."""
    base = where or Path(tempfile.mkdtemp(prefix="tequio-demo-"))
    base.mkdir(parents=True, exist_ok=True)
    try:
        asyncio.run(run_demo(base, keep, temporary=where is None))
    except KeyboardInterrupt:
        pass
    finally:
        if where is None and not keep:
            shutil.rmtree(base, ignore_errors=True)

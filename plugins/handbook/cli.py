"""``tequio handbook``: create, import, editors, approve, follow, list, show, history, diff, search,
export and check-print. Heavy libraries (WeasyPrint, libzim) load inside the commands that use them."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import click

from tequio.node import TequioError
from tequio.node.cli import echo_json, open_node
from tequio.schemas import parse_key

__all__ = ["handbook"]

_SIZE = re.compile(r"\s*(\d+)\s*([kmg]i?b?|b)?\s*", re.I)


def _size(text: str) -> int:
    m = _SIZE.fullmatch(text)
    if not m:
        raise click.BadParameter("a size such as 500MB, 2GB or 100000", param_hint="--quota")
    unit = (m.group(2) or "b").lower()[:1]
    return int(m.group(1)) * {"b": 1, "k": 1024, "m": 1024**2, "g": 1024**3}[unit]


def _key(text: str) -> bytes:
    try:
        return parse_key(text)
    except ValueError as e:
        raise click.BadParameter(str(e)) from None


def _hex_id(text: str, what: str, size: int = 32) -> bytes:
    t = text.strip().lower()
    try:
        raw = bytes.fromhex(t)
    except ValueError:
        raise TequioError(f"{what} {text[:80]!r} is not a hex id") from None
    if len(raw) != size:
        raise TequioError(f"{what} is {size * 2} hex characters")
    return raw


def _safe(text: str) -> str:
    """Text from records before it reaches a terminal: no control characters or escape sequences."""
    return "".join(c if c.isprintable() or c in "\n\t" else "?" for c in text)


@click.group()
def handbook() -> None:
    """Handbooks: signed page by page, mirrored, read and searched offline, printed with their proof."""


@handbook.command("create")
@click.argument("title")
@click.option("--languages", required=True, help="Comma-separated language codes; the first is the source.")
@click.option("--source", "source_lang", help="The language translations are made from [default: the first].")
@click.option("--editors-group", "group", metavar="GID", help="The coalition whose rules decide who edits.")
@click.option("--editor", "editors", multiple=True, metavar="KEY", help="An editor's node key (repeatable).")
@click.option(
    "--approvals",
    default=0,
    type=click.IntRange(0, 16),
    help="Approvals a revision needs before it is served.",
)
@click.option("--description", default="", help="What the book is for.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def create(
    ctx: click.Context,
    title: str,
    languages: str,
    source_lang: str | None,
    group: str | None,
    editors: tuple[str, ...],
    approvals: int,
    description: str,
    as_json: bool,
) -> None:
    """Create a book; its editors are a coalition's (--editors-group) or the keys given (--editor)."""
    from .publish import create_book

    if bool(group) == bool(editors):
        raise click.UsageError("give either --editors-group GID or --editor KEY (one or more)")
    if not title.strip() or len(title) > 200:
        raise click.BadParameter("a title of 1 to 200 characters", param_hint="TITLE")
    keys = [_key(e) for e in editors]
    with open_node(ctx) as node:
        book = create_book(
            node, title.strip(), languages.split(","), source_lang, keys, group, approvals, description
        )
    if as_json:
        echo_json({"book": book.hex()})
    else:
        click.echo(f"book {book.hex()}")


@handbook.command("import")
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--book", required=True, help="The book's id.")
@click.option("--format", "fmt", default="auto", type=click.Choice(["auto", "dfak", "umbrella", "suffix"]))
@click.option("--prune", is_flag=True, help="Publish removals of served pages that are not in the tree.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def import_(ctx: click.Context, directory: Path, book: str, fmt: str, prune: bool, as_json: bool) -> None:
    """Import a handbook tree; only pages that changed are signed and published."""
    from .publish import import_dir
    from .reading import resolve_book

    with open_node(ctx) as node:
        out = import_dir(node, resolve_book(node, book), directory, fmt, prune)
    if as_json:
        echo_json(out)
        return
    langs = ", ".join(f"{k} {v}" for k, v in sorted(out["languages"].items()))
    click.echo(
        f"{out['pages']} pages ({langs}), {out['images']} images,"
        f" {out['checklists']} checklists, {out['forms']} forms"
    )
    click.echo(
        f"{out['published']} revisions published, {out['unchanged']} unchanged; licence {out['licence']}"
    )
    for s in out["skipped"]:
        click.echo(f"skipped {_safe(s['path'])}: {_safe(s['why'])}")
    for u in out["links"]["unresolved"]:
        click.echo(f"link {_safe(u['link'])!r} in {_safe(u['path'])}: {u['why']}")


@handbook.command("list")
@click.argument("book", required=False)
@click.option("--lang", help="The language of the table of contents [default: the book's source].")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def list_(ctx: click.Context, book: str | None, lang: str | None, as_json: bool) -> None:
    """Without BOOK: the books held here. With BOOK: its table of contents in a language."""
    from .reading import books, resolve_book, toc

    with open_node(ctx, unlock=False) as node:
        if book is None:
            rows: Any = books(node)
            if as_json:
                echo_json(rows)
                return
            if not rows:
                click.echo("no books here: 'tequio handbook create' or 'tequio handbook follow'")
            for r in rows:
                mark = "following" if r["following"] else "not followed"
                click.echo(
                    f"{r['book'][:16]}  {_safe(r['title'])}  [{','.join(r['languages'])}]"
                    f" {r['pages']} pages, {mark}"
                )
            return
        bid = resolve_book(node, book)
        src = node.db.execute("SELECT source FROM hb_books WHERE id = ?", [bid]).fetchone()[0]
        entries = toc(node, bid, lang or src)
    if as_json:
        echo_json(entries)
        return
    for e in entries:
        flags = ("" if e["translated"] else f" [{e['lang']}: not translated]") + (
            " [stale]" if e["stale"] else ""
        )
        indent = "  " if e["section"] else ""
        click.echo(f"{e['page'][:12]}  {indent}{_safe(e['title'])}{flags}")


@handbook.command("show")
@click.argument("page")
@click.option("--lang", required=True, help="The language to read it in.")
@click.option("--book", help="The book, when several hold a page of that name.")
@click.option("--revision", help="A particular revision (shown with its trust state).")
@click.option("--html", "as_html", is_flag=True, help="Print the sanitised HTML instead of the source.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def show(
    ctx: click.Context,
    page: str,
    lang: str,
    book: str | None,
    revision: str | None,
    as_html: bool,
    as_json: bool,
) -> None:
    """A page in a language, with its provenance: editor, signature state, revision, date."""
    from .reading import page_view, rendered_html, resolve_book, resolve_page

    with open_node(ctx, unlock=False) as node:
        bid, pid = resolve_page(node, page, resolve_book(node, book) if book else None)
        view = page_view(node, bid, pid, lang.lower(), _hex_id(revision, "--revision") if revision else None)
        body = view.to_json()
        if as_html:
            body["html"], _ = rendered_html(
                view, lambda p, a: f"#page-{p.hex()}" + (f"-{a}" if a else ""), lambda h: None
            )
    if as_json:
        echo_json(body)
        return
    for b in view.banners:
        click.echo(f"! {b['text']}")
    trust = "trusted" if view.trusted else f"NOT TRUSTED ({view.status})"
    who = view.author_name or body["fingerprint"]
    click.echo(f"# {_safe(view.title)}  [{view.shown}]")
    click.echo(f"revision {view.revision.hex()[:16]} by {_safe(who)}, {body['date']}, {trust}: {view.why}")
    click.echo("")
    click.echo(_safe(body.get("html") or view.text))


@handbook.command("history")
@click.argument("page")
@click.option("--lang", help="Only this language.")
@click.option("--book", help="The book, when several hold a page of that name.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def history_(ctx: click.Context, page: str, lang: str | None, book: str | None, as_json: bool) -> None:
    """Every revision of a page held here, with its trust state and why."""
    from .reading import history, resolve_book, resolve_page

    with open_node(ctx, unlock=False) as node:
        bid, pid = resolve_page(node, page, resolve_book(node, book) if book else None)
        rows = history(node, bid, pid, lang)
    if as_json:
        echo_json(rows)
        return
    for r in rows:
        click.echo(
            f"{r['revision'][:16]}  {r['lang']}  {r['date']}  {r['status']:<10}"
            f"  {_safe(r['editor'] or r['signed_by'][:16])}  {r['why']}"
        )


@handbook.command("diff")
@click.argument("args", nargs=-1, required=True, metavar="[PAGE] REV1 REV2")
@click.option("--lang", help="With PAGE: REV1/REV2 may be numbers (1 = oldest) of this language's revisions.")
@click.option("--book", help="The book, when several hold a page of that name.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def diff_(
    ctx: click.Context, args: tuple[str, ...], lang: str | None, book: str | None, as_json: bool
) -> None:
    """The changes between two revisions of a page (a unified diff): OLD NEW, or PAGE REV1 REV2 where
    a revision is its id, an id prefix of that page's revisions, or its number in ``history --lang``."""
    from .reading import diff, history, resolve_book, resolve_page

    if len(args) not in (2, 3):
        raise TequioError("give OLD NEW, or PAGE REV1 REV2")
    with open_node(ctx, unlock=False) as node:
        page = None
        if len(args) == 2:
            a, b = _hex_id(args[0], "OLD"), _hex_id(args[1], "NEW")
        else:
            bid, pid = resolve_page(node, args[0], resolve_book(node, book) if book else None)
            page = pid.hex()
            revs = history(node, bid, pid, lang)

            def pick(text: str, what: str) -> bytes:
                t = text.strip().lower()
                if t.isdigit() and lang and 1 <= int(t) <= len(revs):
                    return bytes.fromhex(revs[int(t) - 1]["revision"])
                hits = [r["revision"] for r in revs if len(t) >= 8 and r["revision"].startswith(t)]
                if len(hits) != 1:
                    raise TequioError(
                        f"{what} {_safe(text)[:80]!r} is not one revision of that page (see history)"
                    )
                return bytes.fromhex(hits[0])

            a, b = pick(args[1], "REV1"), pick(args[2], "REV2")
        text = diff(node, a, b)
        trust = {
            r.hex(): (row[0] if (row := node.db.execute(
                "SELECT status FROM hb_status WHERE id = ?", [r]).fetchone()) else "waiting")
            for r in (a, b)
        }  # fmt: skip
    if as_json:
        echo_json({"page": page, "old": a.hex(), "new": b.hex(), "status": trust,
                   "diff": text.splitlines()})  # fmt: skip
        return
    click.echo(_safe(text), nl=False)


@handbook.command("search")
@click.argument("query")
@click.option("--book", required=True, help="The book to search.")
@click.option("--lang", required=True, help="The language to search in.")
@click.option("--limit", default=20, type=click.IntRange(1, 200))
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def search_(ctx: click.Context, query: str, book: str, lang: str, limit: int, as_json: bool) -> None:
    """Full-text search in one language, accent-insensitive and stemmed, ranked, with snippets."""
    from .reading import resolve_book
    from .search import search

    with open_node(ctx, unlock=False) as node:
        bid = resolve_book(node, book)
        if node.db.execute("SELECT 1 FROM hb_follows WHERE book = ?", [bid]).fetchone() is None:
            raise TequioError("this node does not follow that book: 'tequio handbook follow BOOK' indexes it")
        hits = search(node.db, bid, lang.lower(), query, limit)
    if as_json:
        echo_json(hits)
        return
    if not hits:
        click.echo("nothing found")
    for h in hits:
        click.echo(f"{h['page'][:12]}  {_safe(h['title'])}  ({h['score']})\n    {_safe(h['snippet'])}")


@handbook.command("follow")
@click.argument("book")
@click.option("--quota", default=None, help="Most space its images may take, e.g. 500MB.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def follow_(ctx: click.Context, book: str, quota: str | None, as_json: bool) -> None:
    """Mirror a book here: index it for offline reading and search, fetch its images within a quota."""
    from .mirror import follow_status
    from .publish import follow

    q = _size(quota) if quota is not None else None
    with open_node(ctx, unlock=False) as node:
        bid = _book_or_id(node, book)
        follow(node, bid, q)
        st = follow_status(node, bid)
    if as_json:
        echo_json(st)
        return
    if not node_has_book(st):
        click.echo(f"following {bid.hex()[:16]}: nothing of it here yet; it arrives with the next sync")
    else:
        click.echo(
            f"following {bid.hex()[:16]}: {st['pages']} pages, {st['images']['held']} images held,"
            f" {st['images']['missing']} to fetch"
        )


def node_has_book(st: dict[str, Any]) -> bool:
    return bool(st["pages"])


def _book_or_id(node: Any, text: str) -> bytes:
    """Following works before the book's records arrive: a full id is enough."""
    from .reading import resolve_book

    t = text.strip().lower()
    if re.fullmatch(r"[0-9a-f]{64}", t):
        return bytes.fromhex(t)
    return resolve_book(node, text)


@handbook.command("unfollow")
@click.argument("book")
@click.pass_context
def unfollow(ctx: click.Context, book: str) -> None:
    """Stop mirroring a book: its index goes; its records stay (they are relayed like any record)."""
    from .search import unindex_pages

    with open_node(ctx, unlock=False) as node:
        bid = _book_or_id(node, book)
        with node.store.write() as db:
            pages = db.execute("SELECT page, lang FROM hb_served WHERE book = ?", [bid]).fetchall()
            unindex_pages(db, bid, pages)
            db.execute("DELETE FROM hb_follows WHERE book = ?", [bid])
    click.echo(f"no longer following {bid.hex()[:16]}")


@handbook.command("status")
@click.argument("book")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def status(ctx: click.Context, book: str, as_json: bool) -> None:
    """What this node holds of a book it follows: pages, images, quota, untrusted revisions."""
    from .mirror import follow_status

    with open_node(ctx, unlock=False) as node:
        st = follow_status(node, _book_or_id(node, book))
    if as_json:
        echo_json(st)
    else:
        click.echo(
            f"{st['pages']} pages; images {st['images']['held']} held, {st['images']['missing']} missing,"
            f" {st['images']['bytes']} of {st['quota']} bytes; {st['untrusted']} untrusted revisions"
        )


@handbook.command("editors")
@click.argument("book")
@click.option("--add", "add", multiple=True, metavar="KEY", help="Give a key the edit and approve rights.")
@click.option("--keeper", "keepers", multiple=True, metavar="KEY", help="Let a key keep the editor list.")
@click.option("--revoke", "revoke", multiple=True, metavar="KEY", help="Revoke every right of a key.")
@click.option("--sync", "sync", is_flag=True, help="Publish the list the coalition's rules give now.")
@click.option("--note", default="", help="Why (kept in the list).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def editors(
    ctx: click.Context,
    book: str,
    add: tuple[str, ...],
    keepers: tuple[str, ...],
    revoke: tuple[str, ...],
    sync: bool,
    note: str,
    as_json: bool,
) -> None:
    """Show the editor list in force, or publish the next one (--add, --keeper, --revoke, --sync)."""
    from .editors import audit, editors_json
    from .publish import publish_editors
    from .reading import resolve_book

    changing = bool(add or keepers or revoke or sync)
    with open_node(ctx, unlock=changing) as node:
        bid = resolve_book(node, book)
        out: dict[str, Any] = {}
        if changing:
            adds = {
                "edit": [_key(k) for k in add],
                "approve": [_key(k) for k in add],
                "keep": [_key(k) for k in keepers],
            }
            lid, changes = publish_editors(node, bid, adds, [_key(k) for k in revoke], sync, note)
            out = {"published": lid.hex(), **changes}
        out.update(editors_json(node, bid))
        out["audit"] = audit(node, bid)
    if as_json:
        echo_json(out)
        return
    if "published" in out:
        click.echo(f"published editor list {out['published'][:16]}")
    for right in ("edit", "approve", "keep"):
        names = ", ".join(_safe(e["name"] or e["fingerprint"]) for e in out["rights"][right])
        click.echo(f"{right}: {names or '(nobody)'}")
    for r in out["revoked"]:
        click.echo(f"revoked {r['fingerprint']} ({','.join(r['rights'])}) after seq {r['upto']}")
    for a in out["audit"]:
        click.echo(f"! {a}")


@handbook.command("approve")
@click.argument("revision")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def approve_(ctx: click.Context, revision: str, as_json: bool) -> None:
    """Approve a revision (books that need N approvals serve it once N approvers have)."""
    from .publish import approve

    with open_node(ctx) as node:
        aid = approve(node, _hex_id(revision, "REVISION"))
    if as_json:
        echo_json({"approval": aid.hex()})
    else:
        click.echo(f"approval {aid.hex()}")


@handbook.command("export")
@click.argument("book")
@click.option("--lang", required=True, help="The language to export.")
@click.option("--format", "fmt", required=True, type=click.Choice(["pdf", "html", "zim"]))
@click.option(
    "--out",
    "out",
    required=True,
    type=click.Path(path_type=Path),
    help="The file (pdf, zim) or folder (html).",
)
@click.option("--large-type", is_flag=True, help="A larger type size, for reading on paper.")
@click.option(
    "--no-publish", is_flag=True, help="Do not publish the edition record (check-print then works only here)."
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def export(
    ctx: click.Context,
    book: str,
    lang: str,
    fmt: str,
    out: Path,
    large_type: bool,
    no_publish: bool,
    as_json: bool,
) -> None:
    """Export a book in one language: PDF (cover, contents, QR proof), a static HTML folder, or ZIM."""
    from .editions import export_book
    from .reading import resolve_book

    with open_node(ctx, unlock=not no_publish) as node:
        result = export_book(
            node, resolve_book(node, book), lang.lower(), fmt, out, large_type, not no_publish
        )
    if as_json:
        echo_json(result)
    else:
        click.echo(f"{result['pages']} pages to {out} ({fmt}); revision code {result['code']}")


@handbook.command("check-print")
@click.argument("code")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def check_print(ctx: click.Context, code: str, as_json: bool) -> None:
    """Whether a printed copy (its revision code) is current, superseded, or unknown here."""
    from .editions import check_code

    with open_node(ctx, unlock=False) as node:
        result = check_code(node, code)
    if as_json:
        echo_json(result)
        return
    click.echo(f"{result['code']}: {result['status']}")
    for p in result.get("changed", []):
        click.echo(f"  changed since: {_safe(p['title'])} ({p['change']})")

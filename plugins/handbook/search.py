"""Full-text search per language: SQLite FTS5 over Snowball stems of accent-stripped words.

FTS5 cannot call a Python tokenizer, so words are reduced before they reach it: lowercased,
accents removed, then stemmed with the language's Snowball stemmer, on the page text and on the
query alike ("contrasenas" and "contraseña" both become "contrasen"). Snippets come from the page's
plain text, marking the words whose stems matched.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from functools import lru_cache
from typing import Any

from sqlite_utils import Database

from tequio.node import Node, TequioError

from .recordkinds import LANG_RE

__all__ = ["MAX_QUERY", "fts_table", "index_pages", "search", "stems", "unindex_pages"]

MAX_QUERY = 500
MAX_TERMS = 32
_WORD = re.compile(r"\w+", re.U)
_SNOWBALL = {
    "ar": "arabic", "ca": "catalan", "da": "danish", "de": "german", "el": "greek", "en": "english",
    "es": "spanish", "eu": "basque", "fi": "finnish", "fr": "french", "hu": "hungarian", "id": "indonesian",
    "it": "italian", "lt": "lithuanian", "ne": "nepali", "nl": "dutch", "no": "norwegian", "pt": "portuguese",
    "ro": "romanian", "ru": "russian", "sr": "serbian", "sv": "swedish", "ta": "tamil", "tr": "turkish",
}  # fmt: skip


@lru_cache(maxsize=64)
def _stemmer(lang: str) -> Any:
    name = _SNOWBALL.get(lang.split("-")[0])
    if name is None:
        return None
    import snowballstemmer

    return snowballstemmer.stemmer(name)


def fold(word: str) -> str:
    """Lowercase, without accents (ñ -> n, é -> e)."""
    decomposed = unicodedata.normalize("NFD", word.lower())
    return unicodedata.normalize("NFC", "".join(c for c in decomposed if unicodedata.category(c) != "Mn"))


def stems(text: str, lang: str) -> list[str]:
    """The words of ``text`` as search terms: folded, then stemmed for the language when Snowball knows it."""
    words = [fold(w) for w in _WORD.findall(text)]
    stemmer = _stemmer(lang)
    if stemmer is None:
        return words
    # snowballstemmer hands the work to PyStemmer's C code when it is installed (a dependency).
    return list(stemmer.stemWords(words))


def fts_table(lang: str) -> str:
    if not LANG_RE.fullmatch(lang):
        raise TequioError(f"{lang!r} is not a language code")
    return "hb_fts_" + lang.replace("-", "_")


def _ensure(db: Database, lang: str) -> str:
    table = fts_table(lang)
    db.execute(
        f"CREATE VIRTUAL TABLE IF NOT EXISTS {table} USING fts5("
        "book UNINDEXED, page UNINDEXED, title, body, tokenize = 'unicode61 remove_diacritics 2')"
    )
    return table


def page_text(node: Node, rid: bytes) -> tuple[str, str, str, bool] | None:
    """(title, kind, source text, complete) of a revision; text in a blob not yet held is incomplete."""
    rec = node.get(rid)
    if rec is None or rec.payload is None:
        return None
    b = rec.payload.body
    text = b.get("text", "")
    complete = True
    if b.get("text_blob"):
        if node.blobs.has(b["text_blob"]):
            text = b"".join(node.open_blob(b["text_blob"])).decode("utf-8", "replace")
        else:
            complete = False
    return b["title"], b.get("kind", "page"), text, complete


def index_pages(node: Node, db: Database, book: bytes, pages: Iterable[tuple[bytes, str]]) -> int:
    """(Re)index the served revision of each (page, lang); returns how many were indexed."""
    from .markdown import plain_text

    done = 0
    for page, lang in pages:
        row = db.execute(
            "SELECT revision FROM hb_served WHERE book = ? AND page = ? AND lang = ?", [book, page, lang]
        ).fetchone()
        unindex_pages(db, book, [(page, lang)])
        if row is None:
            continue
        got = page_text(node, row[0])
        if got is None:
            continue
        title, kind, text, complete = got
        plain = plain_text(text, kind)
        table = _ensure(db, lang)
        db.execute(
            f"INSERT INTO {table} (book, page, title, body) VALUES (?, ?, ?, ?)",
            [book, page, " ".join(stems(title, lang)), " ".join(stems(plain, lang))],
        )
        db.execute(
            "INSERT OR REPLACE INTO hb_text VALUES (?,?,?,?,?,?,?)",
            [book, page, lang, row[0], title, plain, int(complete)],
        )
        done += 1
    return done


def unindex_pages(db: Database, book: bytes, pages: Iterable[tuple[bytes, str]]) -> None:
    for page, lang in pages:
        db.execute("DELETE FROM hb_text WHERE book = ? AND page = ? AND lang = ?", [book, page, lang])
        table = fts_table(lang)
        if db[table].exists():
            db.execute(f"DELETE FROM {table} WHERE book = ? AND page = ?", [book, page])


def catch_up(node: Node, db: Database) -> int:
    """Index pages whose text blob arrived after their revision did."""
    rows = db.execute(
        "SELECT t.book, t.page, t.lang FROM hb_text t JOIN hb_follows f ON f.book = t.book"
        " WHERE t.complete = 0"
    ).fetchall()
    todo = [(b, p, lang) for b, p, lang in rows]
    n = 0
    for book, page, lang in todo:
        rid = db.execute(
            "SELECT revision FROM hb_served WHERE book = ? AND page = ? AND lang = ?", [book, page, lang]
        ).fetchone()
        got = page_text(node, rid[0]) if rid else None
        if got and got[3]:
            n += index_pages(node, db, book, [(page, lang)])
    return n


def search(db: Database, book: bytes, lang: str, query: str, limit: int = 20) -> list[dict[str, Any]]:
    """Ranked results (best first): page id, title, a snippet with matched words in **bold**, score."""
    if len(query) > MAX_QUERY:
        raise TequioError(f"a query is at most {MAX_QUERY} characters")
    terms = list(dict.fromkeys(t for t in stems(query, lang) if t))[:MAX_TERMS]
    if not terms:
        raise TequioError("the query has no words to search for")
    table = fts_table(lang)
    if not db[table].exists():
        return []
    match = " AND ".join(f'"{t}"' for t in terms)  # terms are \w+ only: nothing to escape
    # highlight() marks the first matching stem; stems and the plain text's words correspond one to
    # one, so the marker's position finds the place in the text people read.
    rows = db.execute(
        f"SELECT page, bm25({table}, 0, 0, 4.0, 1.0) AS rank, highlight({table}, 3, char(1), char(2))"
        f" FROM {table} WHERE {table} MATCH ? AND book = ? ORDER BY rank LIMIT ?",
        [match, book, limit],
    ).fetchall()
    out = []
    wanted = set(terms)
    for page, rank, marked in rows:
        text = db.execute(
            "SELECT title, plain FROM hb_text WHERE book = ? AND page = ? AND lang = ?", [book, page, lang]
        ).fetchone()
        if text is None:
            continue
        title, plain = text
        at = len(_WORD.findall(marked.split("\x01", 1)[0])) if "\x01" in marked else 0
        out.append(
            {
                "page": page.hex(),
                "title": title,
                "snippet": snippet(plain or title, lang, wanted, at if plain else 0),
                "score": float(f"{-rank:.6g}"),
            }
        )
    return out


def snippet(plain: str, lang: str, wanted: set[str], at: int = 0, width: int = 160) -> str:
    """About ``width`` characters of ``plain`` around its ``at``-th word, matched words in **bold**."""
    pos = 0
    for i, m in enumerate(_WORD.finditer(plain)):
        if i == at:
            pos = m.start()
            break
    start = plain.rfind(" ", 0, max(0, pos - width // 3)) + 1 if pos > width // 3 else 0
    end = plain.find(" ", min(len(plain), start + width))
    end = len(plain) if end < 0 else end
    words = plain[start:end].split()
    marks = stems(" ".join(words), lang)
    out, k = [], 0
    for w in words:
        n = len(_WORD.findall(w))
        hit = any(s in wanted for s in marks[k : k + n])
        k += n
        out.append(f"**{w}**" if hit else w)
    return ("… " if start else "") + " ".join(out) + (" …" if end < len(plain) else "")

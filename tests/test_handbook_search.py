"""Search per language: accent-insensitive, Snowball-stemmed (es, en and the other DFAK languages),
ranked, with snippets from the text readers see; hostile queries are refused or harmless."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tequio.node import Node, TequioError
from tequio.plugins.handbook.publish import import_dir
from tequio.plugins.handbook.search import search, stems
from tests.test_handbook_kit import new_book, write


def test_stems_fold_accents_and_plurals() -> None:
    assert stems("contrasenas", "es") == stems("contraseña", "es") == stems("Contraseñas", "es")
    assert stems("passwords", "en") == stems("password", "en")
    assert stems("Verschlüsselung", "de") == stems("verschlusselung", "de")
    assert stems("mots de passe", "xx") == ["mots", "de", "passe"]  # no stemmer known: folded words


@pytest.fixture
def book(make_node: Callable[..., Node], tmp_path: Path) -> tuple[Node, bytes]:
    node = make_node()
    bid = new_book(node, ["es", "en"], source="es")
    pages = {
        "claves.md": "---\ntitle: Contraseñas seguras\n---\nUna contraseña larga protege tu cuenta. "
        "Usa un gestor de contraseñas.\n",
        "cuentas.md": "---\ntitle: Cuentas\n---\nSi perdiste tu cuenta, cambia la contraseña"
        " desde otro equipo.\n",
        "telefono.md": "---\ntitle: Teléfono\n---\nCifra el teléfono y usa un PIN.\n",
        "claves.en.md": "---\ntitle: Strong passwords\n---\nA long password protects your account.\n",
    }
    import_dir(node, bid, write(tmp_path / "t", pages), "suffix")
    return node, bid


def test_accent_insensitive_stemmed_ranked_with_snippets(book: tuple[Node, bytes]) -> None:
    node, bid = book
    hits = search(node.db, bid, "es", "contrasenas")
    assert [h["title"] for h in hits] == ["Contraseñas seguras", "Cuentas"]  # the title weighs more
    assert hits[0]["score"] > hits[1]["score"] > 0
    assert "**contraseña**" in hits[0]["snippet"] and "**contraseñas.**" in hits[0]["snippet"]
    assert hits[1]["snippet"] == "Si perdiste tu cuenta, cambia la **contraseña** desde otro equipo."
    assert [h["title"] for h in search(node.db, bid, "es", "TELEFONO cifrar")] == ["Teléfono"]
    assert search(node.db, bid, "es", "contraseña teléfono") == []  # every word must match
    # Languages are searched apart.
    assert [h["title"] for h in search(node.db, bid, "en", "passwords")] == ["Strong passwords"]
    assert search(node.db, bid, "en", "contraseña") == []


@pytest.mark.parametrize(
    "query", ['"', "AND OR NOT", 'title:x"*', "NEAR(a b)", "'; DROP TABLE hb_text; --", "*"]
)
def test_hostile_queries_are_harmless(book: tuple[Node, bytes], query: str) -> None:
    node, bid = book
    try:
        hits = search(node.db, bid, "es", query)
    except TequioError as e:
        assert "no words" in str(e)
    else:
        assert isinstance(hits, list)
    assert node.db.execute("SELECT count(*) FROM hb_text").fetchone()[0] == 4


def test_bad_language_and_oversized_queries(book: tuple[Node, bytes]) -> None:
    node, bid = book
    with pytest.raises(TequioError, match="not a language code"):
        search(node.db, bid, "es; DROP", "hola")
    with pytest.raises(TequioError, match="at most 500"):
        search(node.db, bid, "es", "contraseña " * 100)
    assert search(node.db, bid, "fr", "mot") == []  # a language with no pages

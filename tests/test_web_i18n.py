"""Languages of the pages: complete catalogs kept in step with the code, negotiation, Babel formatting."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tequio.node import Node
from tequio.node.web import catalogs
from tequio.node.web.i18n import (
    Catalogs,
    format_count,
    format_datetime,
    format_number,
    parse_accept_language,
    use,
)
from tequio.node.web.words import message, rule_words
from tests.webkit import Site


def test_catalogs_are_complete_and_in_step_with_the_code() -> None:
    assert catalogs.problems() == []
    assert {"es", "en"} <= set(catalogs.languages())
    assert len(catalogs.extract_messages()) > 300


def test_a_new_untranslated_string_fails_the_check(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    page = tmp_path / "new.html"
    page.write_text('<p>{{ _("A sentence nobody translated yet") }}</p>\n', encoding="utf-8")
    mod = tmp_path / "handler.py"
    mod.write_text('from tequio.node.web import _\nMSG = _("Another new sentence")\n', encoding="utf-8")
    real = catalogs.sources

    def more() -> Iterator[tuple[str, Path]]:
        yield from real()
        yield "jinja2", page
        yield "python", mod

    monkeypatch.setattr(catalogs, "sources", more)
    found = catalogs.problems()
    assert "es: missing 'A sentence nobody translated yet'" in found
    assert "en: missing 'Another new sentence'" in found


def test_a_string_gone_from_the_code_is_stale(monkeypatch: pytest.MonkeyPatch) -> None:
    real = catalogs.sources
    monkeypatch.setattr(catalogs, "sources", lambda: (s for s in real() if not s[1].name.startswith("peers")))
    assert any("stale" in p and "Make an invite" in p for p in catalogs.problems())


def test_accept_language_is_parsed_with_q_values_and_bounded() -> None:
    assert parse_accept_language("fr;q=0.2, es-MX, es;q=0.9, *;q=0.1") == ["es-MX", "es", "fr"]
    assert parse_accept_language("x" * 5000) == []
    assert parse_accept_language(",".join(["en"] * 500)) == ["en"] * 20
    assert parse_accept_language("en;q=0, <script>") == []


def test_choose_language_order() -> None:
    c = Catalogs()
    assert c.choose(None, None, "es-MX,es;q=0.9").code == "es"
    assert c.choose("en", "es", "es").code == "en"  # ?lang= first
    assert c.choose(None, "en", "es").code == "en"  # then the remembered one
    assert c.choose("zz", None, "zz").code == "en"  # nothing known: English
    assert c.match("ES-mx").code == "es"  # type: ignore[union-attr]


def test_dates_numbers_and_plurals_come_from_babel_and_the_catalogs() -> None:
    c = Catalogs()
    use(c.languages["es"])
    assert format_number(1234567) == "1.234.567"
    assert format_count("%(num)s member", "%(num)s members", 1) == "1 miembro"
    assert format_count("%(num)s member", "%(num)s members", 2500) in ("2500 miembros", "2.500 miembros")
    assert "dic" in format_datetime(1_796_300_000_000)  # 2026-12-03 in Spanish
    use(c.languages["en"])
    assert format_number(1234567) == "1,234,567"
    assert "Dec" in format_datetime(1_796_300_000_000)


def test_node_messages_and_rules_are_said_in_the_page_language() -> None:
    c = Catalogs()
    use(c.languages["es"])
    assert message("that node is already a member") == "esa organización ya es miembro"
    assert message("every node would ignore that: that node is not a member") == (
        "todos los nodos ignorarían eso: esa organización no es miembro"
    )
    flags = (
        "this item cannot leave this node: faces of people at risk are visible; consent is 'no', not 'yes'. "
        "A member with the evidence.clear authority must clear it first: tequio evidence clear abc --note WHY"
    )
    assert message(flags) == (
        "esta evidencia no puede salir de este nodo: se ven rostros de personas en riesgo; "
        "el consentimiento es «no», no «sí». Primero hay que autorizarla."
    )
    assert message("something the table does not know") == "El nodo dice: something the table does not know"
    # the fold's and ingest's reasons carry their rule's name in the page's language (issue 11 §3)
    assert message("G7: the key is not sealed to exactly the members") == (
        "regla G7 (las claves van exactamente a los miembros): the key is not sealed to exactly the members"
    )
    assert message("every node would ignore that: G4: the author was not a member as of its refs").startswith(
        "todos los nodos ignorarían eso: regla G4 (autoridad cuando se escribió el registro)"
    )
    assert message("G99: no such rule") == "El nodo dice: G99: no such rule"
    rule = {
        "by": "decision",
        "method": "yes-no",
        "threshold": [2, 3],
        "quorum": [1, 2],
        "min_open_ms": 3 * 86_400_000,
    }
    assert rule_words(rule) == (
        "una votación de los miembros, por votación sí/no: al menos dos tercios de sí, "
        "que vote la mitad de los miembros, abierta al menos 3 días"
    )
    use(c.languages["en"])
    assert rule_words(rule) == (
        "a vote of the members, by a yes/no vote: at least two thirds yes, half of the members voting, "
        "open at least 3 days"
    )


def test_adding_a_language_is_dropping_in_a_catalog(tmp_path: Path) -> None:
    po = tmp_path / "pt_BR" / "LC_MESSAGES" / "messages.po"
    po.parent.mkdir(parents=True)
    po.write_text(
        'msgid ""\nmsgstr ""\n"Content-Type: text/plain; charset=UTF-8\\n"\n"Language: pt_BR\\n"\n\n'
        'msgid "Log in"\nmsgstr "Entrar na conta"\n',
        encoding="utf-8",
    )
    c = Catalogs([tmp_path])
    assert {"en", "es", "pt_BR"} <= set(c.languages)
    pt = c.choose(None, None, "pt-BR,pt;q=0.8")
    assert pt.code == "pt_BR" and pt.tag == "pt-BR" and pt.translations.gettext("Log in") == "Entrar na conta"
    assert pt.native_name.lower().startswith("português")


async def test_pages_follow_accept_language_the_switch_and_remember_it(
    make_node: Callable[..., Node],
) -> None:
    node = make_node("Casa")
    async with Site(node) as s:
        _status, html = await s.get("/login", headers={"Accept-Language": "es-MX,es;q=0.9,en;q=0.5"})
        assert '<html lang="es">' in html and "Entrar" in html and "Contraseña" in html
        assert 'href="/login?lang=en"' in html and 'href="/login?lang=es"' in html  # the switch
        _status, html = await s.get("/login?lang=en", headers={"Accept-Language": "es"})
        assert '<html lang="en">' in html and "Password" in html
        _status, html = await s.get("/login", headers={"Accept-Language": "es"})
        assert '<html lang="en">' in html  # remembered over the browser's preference
        s.user("ana", "member")
        await s.login("ana")
        _status, html = await s.get("/?lang=es")
        assert "Tablero" in html and "Requiere atención" in html and "ana (miembro)" in html
        _status, html = await s.get("/groups")
        assert '<html lang="es">' in html and "Coaliciones" in html

"""The printed edition (WeasyPrint, the ``pdf`` extra): a cover, a table of contents with page numbers,
every page with its images and checklists as tick boxes, and on every printed page the edition's
revision code and a QR code of it, so that a paper copy can be checked (``check-print``).

WeasyPrint fetches nothing from outside: its URL fetcher serves only this node's blobs and the QR
image, and refuses every other address.
"""

from __future__ import annotations

import html
import re
from pathlib import Path
from typing import Any

from tequio.node import Node, TequioError

from .editions import Edition
from .export_html import images_of, page_fragment, static, ui
from .markdown import slugify
from .reading import lang_name

__all__ = ["qr_png", "write_pdf"]

_PRINT_CSS = """
@page { size: A4; margin: 2cm 2cm 2.6cm 2cm;
  @bottom-left { content: url("hb-qr:code"); vertical-align: top; }
  @bottom-center { content: "%(code)s"; font: 9pt "DejaVu Sans Mono", monospace; }
  @bottom-right { content: counter(page) " / " counter(pages); font: 9pt "DejaVu Sans", sans-serif; } }
@page :first { @bottom-center { content: none; } @bottom-right { content: none; } }
body { max-width: none; margin: 0; padding: 0; font-size: %(size)s; }
header.book, form.search, footer.code, .noprint { display: none; }
.cover { text-align: center; padding-top: 5cm; break-after: page; }
.cover h1 { font-size: 2.4em; } .cover .code { font: 1.4em "DejaVu Sans Mono", monospace; margin-top: 2cm; }
.cover img.qr { width: 5cm; height: 5cm; }
nav.toc { break-after: page; } nav.toc ul { list-style: none; padding: 0; }
nav.toc a { color: inherit; text-decoration: none; }
nav.toc a::after { content: leader(".") target-counter(attr(href), page); }
article.page { break-before: page; }
a { color: #1b1b1b; }
span.box { font-family: "DejaVu Sans", sans-serif; font-size: 1.2em; margin-right: .4em; }
ul.checklist li { break-inside: avoid; }
.form input[type=text], .form textarea { display: none; }
.form .field label::after { content: ""; display: block; border-bottom: 1px solid #555; height: 1.6em; }
"""
_CHECKBOX = re.compile(r"<input[^>]*type=\"checkbox\"[^>]*>")


def qr_png(text: str, scale: int = 4) -> bytes:
    import io

    import segno

    buf = io.BytesIO()
    segno.make(text, error="m", micro=False).save(buf, kind="png", scale=scale, border=2)
    return buf.getvalue()


def write_pdf(node: Node, ed: Edition, out: Path, large_type: bool = False) -> int:
    try:
        import weasyprint
    except ImportError:
        raise TequioError("PDF export needs WeasyPrint: pip install 'tequio[pdf]'") from None
    if out.exists() and out.is_dir():
        raise TequioError(f"{out} is a folder: give a file name for the PDF")
    images = images_of(node, ed.views)
    qr = qr_png(ed.code)
    known = {v.page for v in ed.views}

    def serve(url: str) -> tuple[bytes, str]:
        if url == "hb-qr:code":
            return qr, "image/png"
        if url.startswith("hb-blob:"):
            h = bytes.fromhex(url[len("hb-blob:") :])
            if h in images:
                return b"".join(node.open_blob(h)), _mime(images[h])
        raise ValueError(f"the printed edition loads nothing from {url[:60]!r}")

    def page_url(page: bytes, anchor: str) -> str | None:
        if page not in known:
            return None
        return f"#{_prefix(page)}h-{slugify(anchor)}" if anchor else f"#p-{page.hex()}"

    t = ui(ed.lang)
    parts = [
        f'<section class="cover"><h1>{html.escape(ed.title)}</h1>'
        f"<p>{lang_name(ed.lang, ed.lang)} · {ed.date}</p>"
        f"<p>{t['licence']}: {html.escape(', '.join(ed.licences) or '—')}</p>"
        f'<img class="qr" src="hb-qr:code" alt="{ed.code}"><p class="code">{ed.code}</p>'
        f"<p>tequio handbook check-print {ed.code}</p></section>",
        _toc(ed),
    ]
    for v in ed.views:
        frag = page_fragment(v, ed.lang, page_url, lambda h: f"hb-blob:{h.hex()}" if h in images else None)
        # One document holds every page: heading anchors get the page's prefix so that they stay unique.
        frag = frag.replace('id="h-', f'id="{_prefix(v.page)}h-').replace(
            'href="#h-', f'href="#{_prefix(v.page)}h-'
        )
        parts.append(_CHECKBOX.sub('<span class="box">☐</span>', frag))
    # A link to a heading the target page does not have (a translation renamed it) goes to the page.
    ids = set(re.findall(r'id="([^"]+)"', "".join(parts)))
    parts = [
        re.sub(
            r'href="#(p([0-9a-f]{12})-h-[^"]*)"',
            lambda m: m.group(0) if m.group(1) in ids else _page_href(m.group(2), ids),
            p,
        )
        for p in parts
    ]
    css = static("style.css") + _PRINT_CSS % {"code": ed.code, "size": "15pt" if large_type else "10.5pt"}
    doc = (
        f'<!doctype html><html lang="{html.escape(ed.lang)}"><head><meta charset="utf-8">'
        f"<title>{html.escape(ed.title)}</title><style>{css}</style></head><body>{''.join(parts)}</body></html>"
    )
    import logging

    logging.getLogger("weasyprint").setLevel(logging.ERROR)
    tmp = out.with_name(out.name + ".part")
    weasyprint.HTML(string=doc, url_fetcher=_fetcher(weasyprint, serve), base_url="hb-none:/").write_pdf(tmp)
    tmp.replace(out)
    return len(ed.views)


def _page_href(short: str, ids: set[str]) -> str:
    full = next((i for i in ids if i.startswith("p-" + short)), None)
    return f'href="#{full}"' if full else ""


def _prefix(page: bytes) -> str:
    return f"p{page.hex()[:12]}-"


def _fetcher(weasyprint: Any, serve: Any) -> Any:
    """WeasyPrint's URL fetcher, as its version wants it (a URLFetcher since 68, a function before)."""
    from weasyprint import urls

    if hasattr(urls, "URLFetcher") and hasattr(urls, "URLFetcherResponse"):

        class Only(urls.URLFetcher):
            def fetch(self, url: str, headers: Any = None) -> Any:
                data, mime = serve(url)
                return urls.URLFetcherResponse(url, data, {"Content-Type": mime})

        return Only()

    def legacy(url: str, *args: Any, **kw: Any) -> dict[str, Any]:
        data, mime = serve(url)
        return {"string": data, "mime_type": mime}

    return legacy


def _toc(ed: Edition) -> str:
    t = ui(ed.lang)
    rows = "".join(f'<li><a href="#p-{e["page"]}">{html.escape(e["title"])}</a></li>' for e in ed.entries)
    return f'<nav class="toc"><h2>{t["contents"]}</h2><ul>{rows}</ul></nav>'


def _mime(name: str) -> str:
    ext = name.rsplit(".", 1)[-1]
    return {
        "png": "image/png",
        "jpg": "image/jpeg",
        "gif": "image/gif",
        "svg": "image/svg+xml",
        "webp": "image/webp",
    }.get(ext, "application/octet-stream")

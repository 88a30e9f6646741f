"""The ZIM export (python-libzim, the ``zim`` extra): the same pages as the HTML export, in the
single-file format Kiwix reads, with its full-text index, metadata and illustration."""

from __future__ import annotations

import contextlib
import datetime as dt
import html
import io
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tequio.node import Node, TequioError

from .editions import Edition
from .export_html import _doc, images_of, page_fragment, static, toc_html, ui
from .reading import lang_name

__all__ = ["ISO639_3", "write_zim"]

ISO639_3 = {
    "ar": "ara", "ca": "cat", "de": "deu", "en": "eng", "es": "spa", "fa": "fas", "fr": "fra", "it": "ita",
    "nl": "nld", "pt": "por", "ru": "rus", "tr": "tur", "uk": "ukr", "zh": "zho",
}  # fmt: skip


def _illustration(code: str) -> bytes:
    """The 48x48 PNG Kiwix shows for the file: the edition's QR code."""
    from PIL import Image

    from .export_pdf import qr_png

    img = (
        Image.open(io.BytesIO(qr_png(code, scale=2)))
        .convert("RGB")
        .resize((48, 48), Image.Resampling.NEAREST)
    )
    out = io.BytesIO()
    img.save(out, format="PNG")
    return out.getvalue()


@contextlib.contextmanager
def _quiet_stdout() -> Iterator[None]:
    """libzim prints its progress on standard output, where ``--json`` output goes: silence it."""
    sys.stdout.flush()
    saved = os.dup(1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 1)
        yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)
        os.close(devnull)


def write_zim(node: Node, ed: Edition, out: Path) -> int:
    try:
        from libzim.writer import Creator, Hint, Item, StringProvider
    except ImportError:
        raise TequioError("ZIM export needs libzim: pip install 'tequio[zim]'") from None
    if out.exists():
        if out.is_dir():
            raise TequioError(f"{out} is a folder: give a file name for the ZIM file")
        out.unlink()

    class Entry(Item):
        def __init__(self, path: str, title: str, mime: str, data: bytes, front: bool) -> None:
            super().__init__()
            self.path, self.title, self.mime, self.data, self.front = path, title, mime, data, front

        def get_path(self) -> str:
            return self.path

        def get_title(self) -> str:
            return self.title

        def get_mimetype(self) -> str:
            return self.mime

        def get_contentprovider(self) -> Any:
            return StringProvider(self.data)

        def get_hints(self) -> dict[Any, int]:
            return {Hint.FRONT_ARTICLE: self.front, Hint.COMPRESS: not self.mime.startswith("image/")}

    images = images_of(node, ed.views)
    known = {v.page for v in ed.views}

    def page_url(page: bytes, anchor: str) -> str | None:
        from .markdown import ANCHOR_PREFIX, slugify

        if page not in known:
            return None
        return page.hex()[:16] + (f"#{ANCHOR_PREFIX}{slugify(anchor)}" if anchor else "")

    lang3 = ISO639_3.get(ed.lang.split("-")[0], "eng")
    tmp = out.with_name(out.name + ".part")
    tmp.unlink(missing_ok=True)
    t = ui(ed.lang)
    with _quiet_stdout(), Creator(str(tmp)).config_indexing(True, lang3) as creator:
        creator.set_mainpath("index")
        for name in ("style.css", "checks.js"):
            creator.add_item(
                Entry(
                    f"assets/{name}",
                    name,
                    "text/css" if name.endswith(".css") else "application/javascript",
                    static(name).encode(),
                    False,
                )
            )
        for h, name in images.items():
            mime = "image/" + {"jpg": "jpeg", "svg": "svg+xml"}.get(
                name.rsplit(".", 1)[-1], name.rsplit(".", 1)[-1]
            )
            creator.add_item(Entry(f"img/{name}", name, mime, b"".join(node.open_blob(h)), False))
        for v in ed.views:
            body = page_fragment(
                v, ed.lang, page_url, lambda h: f"../img/{images[h]}" if h in images else None
            )
            doc = _doc(v.title, v.shown, body, "../", ed, zim=True)
            creator.add_item(Entry(f"pages/{v.page.hex()[:16]}", v.title, "text/html", doc.encode(), True))
        cover = (
            f'<section class="cover"><h1>{html.escape(ed.title)}</h1>'
            f"<p>{lang_name(ed.lang, ed.lang)} · {ed.date}</p></section>"
        )
        index = _doc(ed.title, ed.lang, cover + toc_html(ed, lambda p: f"pages/{p[:16]}"), "", ed, zim=True)
        creator.add_item(Entry("index", ed.title, "text/html", index.encode(), True))
        creator.add_illustration(48, _illustration(ed.code))
        for key, value in (
            ("Title", ed.title[:30]),
            ("Description", f"{ed.title} ({lang_name(ed.lang, ed.lang)}), {t['code']} {ed.code}"[:80]),
            ("LongDescription", f"{ed.title}. {t['code']}: {ed.code}. tequio handbook check-print {ed.code}"),
            ("Language", lang3),
            ("Creator", ed.title[:100]),
            ("Publisher", node.name[:100]),
            ("Name", f"tequio_{ed.book.hex()[:12]}_{ed.lang}"),
            ("Tags", "handbook;tequio;_ftindex:yes"),
            ("Flavour", ed.code),
            ("License", ", ".join(ed.licences) or "unknown"),
        ):
            creator.add_metadata(key, value)
        creator.add_metadata("Date", dt.date.today())
    tmp.replace(out)
    return len(ed.views)

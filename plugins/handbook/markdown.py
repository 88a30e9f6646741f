"""Markdown, checklists and forms to sanitised HTML, plain text for search, and the links a page makes.

Raw HTML in a page is parsed and then cleaned by nh3 (Ammonia) with a short allow-list: no script,
style, iframe, form, event handler or external image survives, and every link and image source
passes through the caller's mapping (internal targets to page URLs, images to local files).
Template code (Liquid, Hugo shortcodes) is never run: it is dropped before parsing, except the two
forms that only build a link (``{{ site.baseurl }}``, ``{{< ref "x" >}}``), which are read as links.
"""

from __future__ import annotations

import hashlib
import html
import re
import unicodedata
from collections.abc import Callable
from functools import lru_cache
from typing import Any

__all__ = ["Rendered", "link_targets", "plain_text", "render", "slugify"]

_BASEURL = re.compile(r"\{\{\s*site\.baseurl\s*\}\}")
_REF = re.compile(r"""\{\{[<%]\s*(?:rel)?ref\s+"([^"]+)"\s*[>%]\}\}""")
_TEMPLATE = re.compile(r"\{\{<.*?>\}\}|\{\{%.*?%\}\}|\{\{.*?\}\}|\{%.*?%\}", re.S)
_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "code", "dd", "del", "details", "div", "dl", "dt", "em",
    "fieldset", "figcaption", "figure", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "input",
    "ins", "kbd", "label", "legend", "li", "mark", "ol", "p", "pre", "s", "small", "span", "strong",
    "sub", "summary", "sup", "table", "tbody", "td", "textarea", "tfoot", "th", "thead", "tr", "u", "ul",
}  # fmt: skip
_ATTRS = {
    "*": {"class"},
    "a": {"href", "title"},
    "img": {"src", "alt", "title", "width", "height"},
    "h1": {"id"}, "h2": {"id"}, "h3": {"id"}, "h4": {"id"}, "h5": {"id"}, "h6": {"id"},
    "input": {"type", "disabled", "data-check", "name", "value"},
    "label": set(), "textarea": {"rows", "disabled", "name"},
    "td": {"colspan", "rowspan", "align"}, "th": {"colspan", "rowspan", "align"},
    "ol": {"start"},
}  # fmt: skip
_CLEAN_CONTENT = {"script", "style", "iframe", "object", "embed", "template", "noscript", "svg", "math"}
ANCHOR_PREFIX = "h-"

LinkFor = Callable[[str], str | None]


def prepare(text: str) -> str:
    """Template code out of a page's text, keeping the link-building forms as plain links."""
    text = _BASEURL.sub("", text)
    text = _REF.sub(lambda m: m.group(1), text)
    return _TEMPLATE.sub("", text)


def slugify(text: str) -> str:
    """A heading's anchor the way kramdown and GitHub make them: lowercase words joined by hyphens."""
    t = unicodedata.normalize("NFKC", text).strip().lower()
    t = re.sub(r"[^\w\- ]", "", t)
    return re.sub(r"\s", "-", t)


@lru_cache(maxsize=1)
def _md() -> Any:
    from markdown_it import MarkdownIt
    from mdit_py_plugins.anchors import anchors_plugin
    from mdit_py_plugins.tasklists import tasklists_plugin

    md = MarkdownIt("commonmark", {"html": True, "linkify": False, "typographer": False})
    md.enable(["table", "strikethrough"])
    md.use(anchors_plugin, min_level=1, max_level=6, slug_func=lambda s: ANCHOR_PREFIX + slugify(s))
    md.use(tasklists_plugin)
    return md


def _walk(tokens: list[Any]) -> Any:
    for t in tokens:
        yield t
        if t.children:
            yield from _walk(t.children)


_HTML_URL = re.compile(r"""<(?:a|img)\b[^>]*?\b(?:href|src)\s*=\s*(?:"([^"]*)"|'([^']*)')""", re.I)


def link_targets(text: str, images: bool = False) -> list[str]:
    """The link (or image) targets of a Markdown text, as the renderer will see them."""
    out: list[str] = []
    for t in _walk(_md().parse(prepare(text))):
        if not images and t.type == "link_open":
            out.append(str(t.attrGet("href") or ""))
        elif images and t.type == "image":
            out.append(str(t.attrGet("src") or ""))
        elif t.type in ("html_inline", "html_block"):
            for m in _HTML_URL.finditer(t.content):
                is_img = m.group(0).lower().startswith("<img")
                if is_img == images:
                    out.append(html.unescape(m.group(1) or m.group(2) or ""))
    return out


def plain_text(text: str, kind: str = "page") -> str:
    """What a reader reads, without markup: for search and snippets."""
    if kind in ("checklist", "form"):
        return " ".join(_data_strings(text))
    parts: list[str] = []
    for t in _walk(_md().parse(prepare(text))):
        if t.type in ("text", "code_inline"):
            parts.append(t.content)
        elif t.type in ("softbreak", "hardbreak", "paragraph_close", "heading_close", "list_item_close"):
            parts.append(" ")
        elif t.type in ("code_block", "fence"):
            parts.append(t.content)
        elif t.type in ("html_inline", "html_block"):
            parts.append(re.sub(r"<[^>]*>", " ", t.content))
    return " ".join(html.unescape("".join(parts)).split())


class Rendered:
    """A page rendered to sanitised HTML, with what the renderer noticed."""

    def __init__(self, html_text: str, broken: list[str], dropped_images: list[str]) -> None:
        self.html = html_text
        self.broken = broken
        self.dropped_images = dropped_images


def clean(fragment: str, link_for: LinkFor, image_for: LinkFor) -> Rendered:
    """Sanitise HTML; every href and img src goes through ``link_for`` / ``image_for`` (None: dropped)."""
    import nh3

    broken: list[str] = []
    dropped: list[str] = []

    def attribute_filter(tag: str, attr: str, value: str) -> str | None:
        if tag == "a" and attr == "href":
            new = link_for(value)
            if new is None:
                broken.append(value)
            return new
        if tag == "img" and attr == "src":
            new = image_for(value)
            if new is None:
                dropped.append(value)
            return new
        if tag == "input" and attr == "type":
            return value if value in ("checkbox", "text") else None
        return value

    out = nh3.clean(
        fragment,
        tags=_TAGS,
        attributes=_ATTRS,
        clean_content_tags=_CLEAN_CONTENT,
        url_schemes={"http", "https", "mailto"},
        attribute_filter=attribute_filter,
        link_rel="noopener noreferrer",
        strip_comments=True,
    )
    return Rendered(out, broken, dropped)


def render(text: str, kind: str, link_for: LinkFor, image_for: LinkFor, check_prefix: str = "") -> Rendered:
    """A page's text (Markdown, or a checklist's or form's YAML) as sanitised HTML."""
    if kind == "checklist":
        fragment = _checklist_html(text, check_prefix)
    elif kind == "form":
        fragment = _form_html(text)
    else:
        fragment = _md().render(prepare(text))
    return clean(fragment, link_for, image_for)


def _inline(text: str) -> str:
    return str(_md().renderInline(prepare(text)))


def _load(text: str) -> Any:
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return None


def checklist_items(text: str) -> list[tuple[str, str]]:
    """("check" | "label", text) of a checklist, tolerating ``check:text`` written without a space."""
    data = _load(text)
    items = data.get("list") if isinstance(data, dict) else None
    out: list[tuple[str, str]] = []
    for item in items if isinstance(items, list) else []:
        if isinstance(item, dict):
            for k in ("check", "label"):
                if isinstance(item.get(k), str | int | float):
                    out.append((k, " ".join(str(item[k]).split())))
                    break
        elif isinstance(item, str):
            k, sep, rest = item.partition(":")
            if sep and k.strip() in ("check", "label"):
                out.append((k.strip(), " ".join(rest.split())))
    return out


def _checklist_html(text: str, prefix: str) -> str:
    rows = []
    for i, (k, t) in enumerate(checklist_items(text)):
        if k == "label":
            rows.append(f'<li class="label"><strong>{_inline(t)}</strong></li>')
        else:
            cid = f"{prefix}{i}-{hashlib.sha256(t.encode()).hexdigest()[:8]}"
            rows.append(
                f'<li class="check"><label><input type="checkbox" data-check="{html.escape(cid)}"> '
                f"{_inline(t)}</label></li>"
            )
    return '<ul class="checklist">' + "".join(rows) + "</ul>"


def _form_html(text: str) -> str:
    data = _load(text)
    screens = data.get("screens") if isinstance(data, dict) else None
    out = ['<div class="form">']
    for screen in screens if isinstance(screens, list) else []:
        if not isinstance(screen, dict):
            continue
        out.append(f"<fieldset><legend>{html.escape(str(screen.get('title', '')))}</legend>")
        for item in screen.get("items") or []:
            if not isinstance(item, dict):
                continue
            label = html.escape(" ".join(str(item.get("label", item.get("name", ""))).split()))
            kind = item.get("type")
            hint = html.escape(str(item.get("hint", "")))
            if kind in ("multiple_choice", "single_choice"):
                opts = "".join(
                    f'<li><label><input type="checkbox"> {html.escape(str(o.get("label", "")))}</label></li>'
                    for o in item.get("options") or []
                    if isinstance(o, dict)
                )
                out.append(f'<div class="field"><p>{label}</p><ul class="choices">{opts}</ul></div>')
            elif kind == "text_area":
                out.append(f'<div class="field"><label>{label}<textarea rows="4"></textarea></label></div>')
            else:
                out.append(f'<div class="field"><label>{label} <input type="text"></label>')
                out.append(f"<small>{hint}</small></div>" if hint else "</div>")
        out.append("</fieldset>")
    out.append("</div>")
    return "".join(out)


def _data_strings(text: str) -> list[str]:
    data = _load(text)
    out: list[str] = []

    def walk(v: Any) -> None:
        if isinstance(v, dict):
            for k, x in v.items():
                if k not in ("name", "type", "value", "index"):
                    walk(x)
        elif isinstance(v, list):
            for x in v:
                walk(x)
        elif isinstance(v, str):
            out.append(
                re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", v.removeprefix("check:").removeprefix("label:"))
            )

    walk(data)
    return out

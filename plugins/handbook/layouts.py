"""Reading real handbook trees: DFAK (Jekyll ``_pages/<lang>``), Umbrella (``<lang>/<cat>/<sub>/<level>``)
and the suffix layout of Hugo and mkdocs (``page.md``, ``page.es.md``).

Each reader turns a directory into an ``ImportTree``: pages with a translation key (equal across
languages), their images, and every internal link resolved to a page key or reported.
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .markdown import link_targets
from .recordkinds import LANG_RE
from .source import (
    IMAGE_EXTS,
    MAX_IMAGE,
    OUTSIDE,
    REPAIRED,
    ImportTree,
    SourcePage,
    as_list,
    as_text,
    child_file,
    detect_licence,
    front_matter,
    inside,
    load_yaml_file,
    normalise,
    read_text,
    walk,
)

__all__ = ["FORMATS", "detect_format", "read_tree"]

FORMATS = ("dfak", "umbrella", "suffix")
_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*:", re.I)
_EMAIL = re.compile(r"^[^@/\s]+@[^@/\s]+\.[a-z]{2,}$", re.I)
_HUGO_REF = re.compile(r"""^\{\{[<%]\s*(?:rel)?ref\s+"([^"]+)"\s*[>%]\}\}$""")


def detect_format(root: Path) -> str:
    """``auto``: DFAK has ``_pages/``; Umbrella has language folders of ``s_*.md`` or ``.category.yml``;
    anything else is read as the suffix layout."""
    if (root / "_pages").is_dir():
        return "dfak"
    for child in sorted(root.iterdir()) if root.is_dir() else []:
        if (
            child.is_dir()
            and LANG_RE.fullmatch(child.name)
            and inside(root, child)
            and (any(child.rglob(".category.yml")) or any(child.rglob("s_*.md")))
        ):
            return "umbrella"
    return "suffix"


def read_tree(root: Path, fmt: str, languages: list[str], source_lang: str) -> ImportTree:
    if not root.is_dir():
        raise ValueError(f"{root} is not a directory")
    if fmt == "auto":
        fmt = detect_format(root)
    reader = {"dfak": _dfak, "umbrella": _umbrella, "suffix": _suffix}.get(fmt)
    if reader is None:
        raise ValueError(f"unknown format {fmt!r}: use dfak, umbrella, suffix or auto")
    tree = ImportTree(fmt, root)
    tree.licence, tree.licence_file = detect_licence(root)
    reader(tree, languages, source_lang)
    return tree


def _external(target: str) -> bool:
    return bool(_SCHEME.match(target)) or target.startswith("//")


def _split(target: str) -> tuple[str, str]:
    path, _, anchor = target.partition("#")
    return urllib.parse.unquote(path.strip()), urllib.parse.unquote(anchor.strip())


def _resolve_links(
    tree: ImportTree, page: SourcePage, body: str, find: Callable[[str, SourcePage], str | None]
) -> None:
    """Record each internal link of ``body`` with the page key it reaches, or why it reaches none."""
    for target in link_targets(body):
        if target in page.links:
            continue
        t = target.strip()
        if not t or t.startswith("#"):
            continue
        m = _HUGO_REF.match(t)
        if m:
            t = m.group(1)
        if _external(t) and not t.startswith("umbrella://"):
            continue
        if _EMAIL.match(t):
            page.links[target] = (None, "", "an e-mail address without mailto: (shown as one)")
            continue
        path, anchor = _split(t)
        key = find(path, page) if path else None
        if key is None:
            page.links[target] = (None, anchor, "no page of this book has that name, slug or alias")
        else:
            page.links[target] = (key, anchor, "")


def _image_links(page: SourcePage, body: str, find: Callable[[str], Path | None], tree: ImportTree) -> None:
    for target in link_targets(body, images=True):
        t = target.strip()
        if not t or _external(t) or t.startswith("data:"):
            continue
        path = find(urllib.parse.unquote(t.split("#")[0].split("?")[0]))
        if path is None:
            tree.note(page.path, f"image {t[:100]!r} is not in the tree")
        elif path.stat().st_size > MAX_IMAGE:
            tree.note(
                page.path, f"image {t[:100]!r} is larger than {MAX_IMAGE // (1024 * 1024)} MiB: left out"
            )
        else:
            page.images[t] = path


# -- DFAK --------------------------------------------------------------------------------------------


def _dfak(tree: ImportTree, languages: list[str], source_lang: str) -> None:
    root = tree.root
    base = "/DFAK"
    config = root / "_config.yml"
    if child_file(tree, config):
        try:
            conf = load_yaml_file(config)
            if isinstance(conf, dict) and isinstance(conf.get("baseurl"), str):
                base = conf["baseurl"].rstrip("/")
        except ValueError as e:
            tree.note(config, f"_config.yml: {e}")
    bodies: dict[int, str] = {}
    pages_dir = root / "_pages"
    if not inside(root, pages_dir):
        tree.skip(pages_dir, OUTSIDE)
        return
    for folder in sorted(pages_dir.iterdir()):
        if folder.is_symlink() and not inside(root, folder):
            tree.skip(folder, OUTSIDE)
            continue
        if not folder.is_dir():
            tree.skip(folder, "not a language folder")
            continue
        lang = folder.name
        if not LANG_RE.fullmatch(lang):
            tree.skip(folder, f"{lang!r} is not a language code")
            continue
        nav = _nav_order(tree, folder / "nav.html")
        for path in walk(tree, folder):
            rel = tree.rel(path)
            if path.name == "nav.html":
                tree.skip(path, "site navigation (HTML), not a page; its order is the table of contents'")
                continue
            if path.suffix.lower() != ".md":
                tree.skip(path, "not a Markdown page")
                continue
            try:
                text = normalise(read_text(path))
                meta, body = front_matter(text)
            except ValueError as e:
                tree.skip(path, str(e))
                continue
            if meta is None:
                tree.skip(path, "no front matter: Jekyll does not publish it as a page")
                continue
            if REPAIRED in meta:
                tree.note(path, meta.pop(REPAIRED))
            if meta.get("published") is False:
                tree.skip(path, "published: false")
                continue
            fm_lang = as_text(meta.get("language"), 20)
            if fm_lang and fm_lang != lang:
                tree.note(path, f"language: {fm_lang} in a {lang} folder; the folder decides")
            elif not fm_lang:
                tree.note(path, f"no language: in its front matter; taken from the folder ({lang})")
            if lang not in languages:
                tree.skip(path, f"language {lang} is not one of the book's ({', '.join(languages)})")
                continue
            permalink = as_text(meta.get("permalink"), 300)
            stem = path.stem
            page = SourcePage(
                key=stem,
                lang=lang,
                path=rel,
                title=as_text(meta.get("title")) or stem,
                text=normalise(body),
                slug=permalink,
                aliases=as_list(meta.get("redirect_from")),
                summary=as_text(meta.get("summary"), 4000),
                author=as_text(meta.get("author")),
                date=as_text(meta.get("date"), 40),
                order=-1
                if stem == "README"
                else nav.get(permalink.strip("/").split("/")[-1], nav.get(stem, 1000)),
                section="" if stem == "README" else "README",
                meta={k: as_text(meta[k]) for k in ("parent", "layout") if k in meta},
            )
            tree.pages.append(page)
            bodies[id(page)] = page.text
    # Links in three forms: the file name (Glossary.md), the bare slug (Glossary) and the translated
    # slug or permalink (Glosario, /es/Glosario/), with or without the site's baseurl.
    by_lang: dict[str, dict[str, str]] = {}
    anywhere: dict[str, str] = {}
    for p in tree.pages:
        names = by_lang.setdefault(p.lang, {})
        forms = [p.key, p.key + ".md", p.slug, *p.aliases]
        for form in forms:
            for variant in _dfak_variants(form, base):
                names.setdefault(variant, p.key)
                anywhere.setdefault(variant, p.key)

    def find(path: str, page: SourcePage) -> str | None:
        for variant in _dfak_variants(path, base):
            hit = by_lang.get(page.lang, {}).get(variant) or anywhere.get(variant)
            if hit:
                return hit
            # "SecureCommunication_RU.md": a language suffix left over from a translator's copy.
            m = re.fullmatch(r"(.+)_([A-Za-z]{2,3})(\.md)?", variant)
            if m and m.group(2).lower() == page.lang:
                hit = by_lang.get(page.lang, {}).get(m.group(1))
                if hit:
                    return hit
        return None

    images = {p.name: p for p in walk(tree, root / "images")} if (root / "images").is_dir() else {}
    for p in tree.pages:
        _resolve_links(tree, p, bodies[id(p)], find)
        _image_links(p, bodies[id(p)], lambda name: images.get(Path(name).name), tree)


def _dfak_variants(form: str, base: str) -> list[str]:
    f = form.strip()
    if base and f.startswith(base + "/"):
        f = f[len(base) :]
    f = f.replace("{{site.baseurl}}", "").replace("{{ site.baseurl }}", "")
    out = [f, f.strip("/")]
    last = f.strip("/").split("/")[-1] if f.strip("/") else ""
    if last:
        out += [last, last.removesuffix(".md")]
    return [o for o in dict.fromkeys(out) if o]


def _nav_order(tree: ImportTree, nav: Path) -> dict[str, int]:
    """The order of the table of contents from a language's nav.html: slug -> position."""
    if not child_file(tree, nav):
        return {}
    try:
        text = read_text(nav)
    except ValueError:
        return {}
    order: dict[str, int] = {}
    for i, href in enumerate(re.findall(r'href="([^"]+)"', text)):
        slug = href.replace("{{site.baseurl}}", "").strip("/").split("/")[-1]
        order.setdefault(slug, i)
    return order


# -- Umbrella ----------------------------------------------------------------------------------------


def _umbrella(tree: ImportTree, languages: list[str], source_lang: str) -> None:
    root = tree.root
    bodies: dict[int, str] = {}
    langs = [d for d in sorted(root.iterdir()) if d.is_dir() and not d.name.startswith(".")]
    src_images: dict[str, list[Path]] = {}
    if (root / source_lang).is_dir() and inside(root, root / source_lang):
        for p in walk(ImportTree(tree.format, root), root / source_lang):
            if p.suffix.lower() in IMAGE_EXTS:
                src_images.setdefault(p.name, []).append(p)
    for folder in langs:
        lang = folder.name
        if not LANG_RE.fullmatch(lang):
            tree.skip(folder, f"{lang!r} is not a language folder")
            continue
        if lang not in languages:
            tree.skip(folder, f"language {lang} is not one of the book's ({', '.join(languages)})")
            continue
        for path in walk(tree, folder):
            rel_parts = path.relative_to(folder).parts
            name = path.name
            suffix = path.suffix.lower()
            if suffix in IMAGE_EXTS:
                if lang != source_lang:
                    tree.note(path, "an image outside the source language's tree; the source's is used")
                continue
            try:
                if name == ".category.yml":
                    page = _umbrella_section(path, rel_parts[:-1], lang, tree)
                elif name.startswith("s_") and suffix == ".md":
                    page = _umbrella_segment(path, rel_parts, lang, tree)
                elif name.startswith("c_") and suffix in (".yml", ".yaml"):
                    page = _umbrella_data(path, rel_parts, lang, tree, "checklist")
                elif name.startswith("f_") and suffix in (".yml", ".yaml"):
                    page = _umbrella_data(path, rel_parts, lang, tree, "form")
                else:
                    tree.skip(
                        path,
                        "not an Umbrella segment (s_*.md), checklist (c_*.yml),"
                        " form (f_*.yml) or .category.yml",
                    )
                    continue
            except ValueError as e:
                tree.skip(path, str(e))
                continue
            tree.pages.append(page)
            bodies[id(page)] = page.text
    keys = {p.key for p in tree.pages}

    def find(path: str, page: SourcePage) -> str | None:
        if path.startswith("umbrella://"):
            target = path[len("umbrella://") :].strip("/")
        else:
            base = "/".join(page.key.split("/")[:-1])
            target = "/".join(x for x in (base, path) if x)
        target = target.removesuffix(".md").removesuffix(".yml")
        if target in keys:
            return target
        # A link to a category without its own .category.yml reaches its first page.
        under = sorted(k for k in keys if k.startswith(target + "/"))
        return under[0] if under else None

    def find_image(name: str) -> Path | None:
        hits = src_images.get(Path(name).name, [])
        return hits[0] if hits else None

    for page in tree.pages:
        body = bodies[id(page)]
        _resolve_links(tree, page, body, find)
        _image_links(page, body, find_image, tree)


def _umbrella_key(parts: tuple[str, ...]) -> str:
    *dirs, name = parts
    return "/".join([*dirs, Path(name).stem])


def _umbrella_section(path: Path, dirs: tuple[str, ...], lang: str, tree: ImportTree) -> SourcePage:
    data = load_yaml_file(path)
    if not isinstance(data, dict):
        raise ValueError(".category.yml is not a map")
    key = "/".join(dirs)
    if not key:
        raise ValueError("a .category.yml at the top of a language folder names no category")
    text = normalise(as_text(data.get("description"), 4000))
    return SourcePage(
        key=key,
        lang=lang,
        path=tree.rel(path),
        title=as_text(data.get("title")) or dirs[-1],
        text=text,
        kind="section",
        order=_int(data.get("index")),
        section="/".join(dirs[:-1]),
        meta={k: as_text(data[k]) for k in ("icon", "template") if k in data},
    )


def _umbrella_segment(path: Path, parts: tuple[str, ...], lang: str, tree: ImportTree) -> SourcePage:
    meta, body = front_matter(normalise(read_text(path)))
    meta = meta or {}
    if REPAIRED in meta:
        tree.note(path, meta.pop(REPAIRED))
    key = _umbrella_key(parts)
    return SourcePage(
        key=key,
        lang=lang,
        path=tree.rel(path),
        title=as_text(meta.get("title")) or Path(parts[-1]).stem[2:].replace("-", " "),
        text=normalise(body),
        order=_int(meta.get("index")),
        section="/".join(parts[:-1]),
    )


def _umbrella_data(path: Path, parts: tuple[str, ...], lang: str, tree: ImportTree, kind: str) -> SourcePage:
    text = normalise(read_text(path))
    data = load_yaml_file(path)
    if not isinstance(data, dict):
        raise ValueError(f"a {kind} file is a map")
    if kind == "checklist" and not isinstance(data.get("list"), list):
        raise ValueError("a checklist has a list of items")
    if kind == "form" and not isinstance(data.get("screens"), list):
        raise ValueError("a form has a list of screens")
    title = as_text(data.get("title")) or ("Checklist" if kind == "checklist" else Path(parts[-1]).stem[2:])
    return SourcePage(
        key=_umbrella_key(parts),
        lang=lang,
        path=tree.rel(path),
        title=title,
        text=text,
        kind=kind,
        order=_int(data.get("index"), 100),
        section="/".join(parts[:-1]),
    )


def _int(value: Any, default: int = 0) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and -1_000_000 <= value <= 1_000_000:
        return value
    return default


# -- suffix (Hugo, mkdocs) ---------------------------------------------------------------------------


def _suffix(tree: ImportTree, languages: list[str], source_lang: str) -> None:
    root = tree.root
    bodies: dict[int, str] = {}
    # Files without a suffix are in the site's default language: the one language of the book that
    # no file names as a suffix (page.md beside page.es.md is the other one), else the source.
    files = list(walk(tree))
    suffixed = {
        p.name[:-3].rpartition(".")[2]
        for p in files
        if p.suffix.lower() == ".md"
        and "." in p.name[:-3]
        and LANG_RE.fullmatch(p.name[:-3].rpartition(".")[2])
    }
    unnamed = [x for x in languages if x not in suffixed]
    default = unnamed[0] if len(unnamed) == 1 else source_lang
    seen: dict[tuple[str, str], str] = {}
    for path in files:
        rel = path.relative_to(root)
        if any(part.startswith((".", "_")) and not part.startswith("_index.") for part in rel.parts):
            continue  # hidden folders, Hugo's _default layouts, site tooling
        if path.suffix.lower() in IMAGE_EXTS or path.name.upper().startswith(("LICEN", "COPYING")):
            continue
        if path.suffix.lower() != ".md":
            tree.skip(path, "not a Markdown page")
            continue
        stem = path.name[: -len(".md")]
        base, dot, maybe = stem.rpartition(".")
        lang = maybe if dot and LANG_RE.fullmatch(maybe) else default
        stem = base if dot and LANG_RE.fullmatch(maybe) else stem
        if lang not in languages:
            tree.skip(path, f"language {lang} is not one of the book's ({', '.join(languages)})")
            continue
        try:
            meta, body = front_matter(normalise(read_text(path)))
        except ValueError as e:
            tree.skip(path, str(e))
            continue
        meta = meta or {}
        if REPAIRED in meta:
            tree.note(path, meta.pop(REPAIRED))
        if meta.get("draft") is True:
            tree.skip(path, "draft: true")
            continue
        dirs = rel.parts[:-1]
        key = "/".join([*dirs, stem])
        if (key, lang) in seen:
            tree.skip(path, f"a second file for page {key} in {lang} (the first is {seen[(key, lang)]})")
            continue
        seen[(key, lang)] = tree.rel(path)
        title = as_text(meta.get("title")) or _first_heading(body) or stem.replace("-", " ")
        page = SourcePage(
            key=key,
            lang=lang,
            path=tree.rel(path),
            title=title,
            text=normalise(body),
            slug=as_text(meta.get("slug") or meta.get("url")),
            aliases=as_list(meta.get("aliases")),
            summary=as_text(meta.get("description") or meta.get("summary"), 4000),
            author=as_text(meta.get("author")),
            date=as_text(meta.get("date"), 40),
            order=_int(meta.get("weight"), 1000),
            section="/".join(dirs + (("_index",) if stem not in ("_index", "index") else ())) if dirs else "",
        )
        tree.pages.append(page)
        bodies[id(page)] = page.text
    keys = {p.key for p in tree.pages}
    slugs = {s: p.key for p in tree.pages for s in [p.slug, *p.aliases] if s}

    def find(path: str, page: SourcePage) -> str | None:
        here = Path(page.key).parent
        p = path.removesuffix(".md")
        base, dot, maybe = p.rpartition(".")
        if dot and LANG_RE.fullmatch(maybe):
            p = base
        for candidate in (
            (here / p).as_posix(),
            p.lstrip("/"),
            (here / p / "index").as_posix(),
            (here / p / "_index").as_posix(),
        ):
            norm = _normpath(candidate)
            if norm in keys:
                return norm
        return slugs.get(path) or slugs.get("/" + path.strip("/") + "/") or slugs.get(path.strip("/"))

    def find_image(page: SourcePage) -> Callable[[str], Path | None]:
        def f(name: str) -> Path | None:
            for cand in (
                root / Path(page.path).parent / name,
                root / name.lstrip("/"),
                root / "static" / name.lstrip("/"),
            ):
                if inside(root, cand) and cand.is_file():
                    return cand  # never outside the tree
            return None

        return f

    for p in tree.pages:
        _resolve_links(tree, p, bodies[id(p)], find)
        _image_links(p, bodies[id(p)], find_image(p), tree)


def _normpath(p: str) -> str:
    out: list[str] = []
    for part in p.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if out:
                out.pop()
            continue
        out.append(part)
    return "/".join(out)


def _first_heading(body: str) -> str:
    for line in body.splitlines():
        if line.startswith("# "):
            return line[2:].strip()[:300]
    return ""

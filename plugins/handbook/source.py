"""What the importers share: a source page as read from disk, normalised text, front matter, licences.

Nothing read here is ever executed: front matter is parsed with YAML's safe loader (or TOML),
template code is only recognised (and later left out of what readers see), and files are read
with a size limit so that a hostile tree cannot exhaust memory.
"""

from __future__ import annotations

import re
import tomllib
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

__all__ = [
    "IMAGE_EXTS",
    "MAX_FILE",
    "OUTSIDE",
    "TEMPLATE_RE",
    "ImportTree",
    "SourcePage",
    "child_file",
    "detect_licence",
    "front_matter",
    "inside",
    "normalise",
    "read_text",
    "walk",
]

#: The largest source file read (a page is text; anything bigger is skipped with its reason).
MAX_FILE = 4 * 1024 * 1024
MAX_IMAGE = 32 * 1024 * 1024
IMAGE_EXTS = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".svg": "image/svg+xml",
    ".webp": "image/webp",
}
#: Jekyll/Liquid ({{ }}, {% %}) and Hugo ({{< >}}, {{% %}}) template code.
TEMPLATE_RE = re.compile(r"\{\{<.*?>\}\}|\{\{%.*?%\}\}|\{\{.*?\}\}|\{%.*?%\}", re.S)
#: Set in front matter that was repaired, with what was done (importers turn it into a note).
REPAIRED = "\x00repaired"
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


@dataclass
class SourcePage:
    """One file of a handbook tree, ready to become a revision."""

    key: str
    lang: str
    path: str
    title: str
    text: str
    kind: str = "page"
    slug: str = ""
    aliases: list[str] = field(default_factory=list)
    summary: str = ""
    author: str = ""
    date: str = ""
    order: int = 0
    section: str = ""
    meta: dict[str, str] = field(default_factory=dict)
    #: image name as written -> file on disk
    images: dict[str, Path] = field(default_factory=dict)
    #: link target as written -> (page key or None, anchor, why when unresolved)
    links: dict[str, tuple[str | None, str, str]] = field(default_factory=dict)


@dataclass
class ImportTree:
    """What an importer found in a directory."""

    format: str
    root: Path
    pages: list[SourcePage] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)
    notes: list[dict[str, str]] = field(default_factory=list)
    licence: str = "unknown"
    licence_file: Path | None = None

    def skip(self, path: Path | str, why: str) -> None:
        self.skipped.append({"path": self.rel(path), "why": why})

    def note(self, path: Path | str, what: str) -> None:
        self.notes.append({"path": self.rel(path), "what": what})

    def rel(self, path: Path | str) -> str:
        p = Path(path)
        try:
            return p.relative_to(self.root).as_posix()
        except ValueError:
            return p.as_posix()


def normalise(text: str) -> str:
    """The normalised source of a page: no BOM, LF line ends, NFC, no control characters, one final
    newline. Trailing spaces stay: in Markdown two of them are a line break."""
    text = text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    text = _CONTROL.sub("", unicodedata.normalize("NFC", text))
    return text.strip("\n") + "\n" if text.strip() else ""


def read_text(path: Path) -> str:
    """A file's text as UTF-8; raises ValueError (with the reason a person can act on) otherwise."""
    size = path.stat().st_size
    if size > MAX_FILE:
        raise ValueError(f"{size} bytes: larger than the {MAX_FILE // (1024 * 1024)} MiB a page may have")
    data = path.read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ValueError(f"not UTF-8 text (byte {e.start})") from None


def front_matter(text: str) -> tuple[dict[str, Any] | None, str]:
    """(front matter, body) of a page: YAML between ``---`` lines or TOML between ``+++`` lines;
    None when the page has none. Raises ValueError when it is there but malformed."""
    for fence, parse in (("---", _yaml), ("+++", _toml)):
        if text.startswith(fence + "\n"):
            end = text.find("\n" + fence, len(fence))
            if end < 0:
                raise ValueError(f"front matter opened with {fence} is never closed")
            after = text.find("\n", end + 1 + len(fence))
            body = "" if after < 0 else text[after + 1 :]
            meta = parse(text[len(fence) + 1 : end + 1])
            return meta, body
    return None, text


_NO_SPACE = re.compile(r"^([A-Za-z_][\w-]*):(?=[^\s:])", re.M)


def _yaml(src: str) -> dict[str, Any]:
    try:
        data = yaml.safe_load(src)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 2}" if mark is not None else ""
        # A common slip: "permalink:/ru/..." without the space YAML needs after the colon.
        fixed, n = _NO_SPACE.subn(r"\1: ", src)
        try:
            data = yaml.safe_load(fixed) if n else None
        except yaml.YAMLError:
            data = None
        if not isinstance(data, dict):
            raise ValueError(f"front matter is not valid YAML{where}") from None
        data[REPAIRED] = f"front matter repaired: a space added after the colon of {n} key(s){where}"
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ValueError("front matter is not a map of keys to values")
    return data


def _toml(src: str) -> dict[str, Any]:
    try:
        return tomllib.loads(src)
    except tomllib.TOMLDecodeError as e:
        raise ValueError(f"front matter is not valid TOML: {e}") from None


def as_text(value: Any, limit: int = 300) -> str:
    """A front-matter value as one line of text (dates and numbers as written)."""
    if value is None:
        return ""
    if isinstance(value, list):
        value = ", ".join(as_text(v, limit) for v in value)
    return " ".join(str(value).split())[:limit]


def as_list(value: Any) -> list[str]:
    if value is None:
        return []
    items = value if isinstance(value, list) else [value]
    return [str(v).strip() for v in items if str(v).strip()][:64]


def load_yaml_file(path: Path) -> Any:
    """A YAML data file (safe loader); ValueError with the reason when it cannot be read."""
    text = read_text(path)
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise ValueError(f"not valid YAML{where}") from None


_LICENCES = (
    (
        re.compile(
            r"creativecommons\.org/licenses/by-sa/4\.0|Attribution-ShareAlike 4\.0|CC BY-SA 4\.0", re.I
        ),
        "CC-BY-SA-4.0",
    ),
    (
        re.compile(r"creativecommons\.org/licenses/by/4\.0|Attribution 4\.0 International|CC BY 4\.0", re.I),
        "CC-BY-4.0",
    ),
    (re.compile(r"creativecommons\.org/licenses/by-sa/3\.0|CC BY-SA 3\.0", re.I), "CC-BY-SA-3.0"),
    (re.compile(r"creativecommons\.org/publicdomain/zero|CC0 1\.0", re.I), "CC0-1.0"),
    (re.compile(r"GNU GENERAL PUBLIC LICENSE\s+Version 3", re.I), "GPL-3.0"),
    (re.compile(r"GNU AFFERO GENERAL PUBLIC LICENSE", re.I), "AGPL-3.0"),
    (re.compile(r"Apache License,?\s+Version 2\.0", re.I), "Apache-2.0"),
    (re.compile(r"Permission is hereby granted, free of charge", re.I), "MIT"),
)
_LICENCE_FILES = ("LICENSE", "LICENSE.md", "LICENSE.txt", "LICENCE", "LICENCE.md", "COPYING", "COPYING.md")


def detect_licence(root: Path) -> tuple[str, Path | None]:
    """The licence of a tree, from its licence file: an SPDX-like name, or 'unknown'."""
    for name in _LICENCE_FILES:
        p = root / name
        if p.is_file() and inside(root, p) and p.stat().st_size <= MAX_FILE:
            text = p.read_text("utf-8", "replace")
            for pattern, spdx in _LICENCES:
                if pattern.search(text):
                    return spdx, p
            return f"unknown (see {name})", p
    return "unknown (no licence file)", None


#: Why a file or folder was not read: it leads out of the tree being imported.
OUTSIDE = "a symbolic link to outside the imported folder: not followed, not read"


def inside(root: Path, path: Path) -> bool:
    """Whether ``path``, every symbolic link on the way followed, is still under ``root``: a hostile
    handbook folder must not make the importer read (and publish) the node's own files."""
    try:
        path.resolve(strict=True).relative_to(root.resolve(strict=True))
    except (ValueError, OSError, RuntimeError):
        return False
    return True


def walk(tree: ImportTree, folder: Path | None = None) -> Iterator[Path]:
    """Files under ``folder`` (the tree's root by default) in a stable order. A symbolic link, to a
    file or a folder, is followed only when it stays inside the imported tree; one that leads out is
    skipped with its reason, and a folder already seen (a link loop) is not read twice."""
    top = tree.root if folder is None else folder
    if not inside(tree.root, top):
        tree.skip(top, OUTSIDE)
        return
    found: list[Path] = []
    seen: set[Path] = set()
    stack = [top]
    while stack:
        here = stack.pop()
        real = here.resolve()
        if real in seen:
            continue
        seen.add(real)
        try:
            entries = sorted(here.iterdir())
        except OSError as e:
            tree.skip(here, f"cannot be listed ({e.strerror or e})")
            continue
        for p in entries:
            if p.is_symlink() and not inside(tree.root, p):
                tree.skip(p, OUTSIDE)
            elif p.is_dir():
                stack.append(p)
            elif p.is_file():
                found.append(p)
    yield from sorted(found)


def child_file(tree: ImportTree, path: Path) -> bool:
    """Whether ``path`` is a regular file the importer may read (inside the tree); one that a link
    takes outside is skipped with its reason."""
    if path.is_symlink() and not inside(tree.root, path):
        tree.skip(path, OUTSIDE)
        return False
    return path.is_file() and inside(tree.root, path)


def template_code(text: str) -> list[str]:
    """The template expressions in a page (they are never run; readers do not see them)."""
    return [m.group(0)[:80] for m in TEMPLATE_RE.finditer(text)]

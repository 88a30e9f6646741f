"""Shared builders for the handbook tests: an editor's node with a book, and small but faithful
Umbrella and suffix-layout (Hugo, mkdocs) trees written at test time."""

from __future__ import annotations

import hashlib
import struct
import zlib
from collections.abc import Callable
from pathlib import Path

from tequio.node import Node
from tequio.plugins.handbook.publish import create_book
from tests.conftest import SHARED

DFAK = SHARED / "data" / "handbooks" / "dfak"
DFAK_LANGS = ["en", "es", "fr", "de", "ru", "nl"]


def png(width: int = 8, height: int = 8, seed: int = 1) -> bytes:
    """A real PNG (a coloured square), so renderers and image decoders accept it."""
    rgb = hashlib.sha256(str(seed).encode()).digest()[:3]
    raw = b"".join(b"\x00" + rgb * width for _ in range(height))

    def chunk(tag: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)
        )

    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def write(root: Path, files: dict[str, str | bytes]) -> Path:
    for rel, content in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            p.write_bytes(content)
        else:
            p.write_text(content, encoding="utf-8")
    return root


def umbrella_tree(root: Path) -> Path:
    """The Umbrella layout: <lang>/<category>/<subcategory>/<level>/s_*.md with index/title front
    matter, c_*.yml checklists, f_*.yml forms, .category.yml files, images only in the source
    language's tree referred to by bare name, umbrella:// links (as in securityfirst/umbrella-content)."""
    gpl = "GNU GENERAL PUBLIC LICENSE\n                       Version 3, 29 June 2007\n"
    return write(
        root,
        {
            "LICENSE": gpl,
            "en/information/.category.yml": "index: 2\nicon: information.png\ntitle: Information\n",
            "en/information/passwords/.category.yml": "index: 3\ntitle: Passwords\ntemplate: default\n",
            "en/information/passwords/beginner/.category.yml": (
                "index: 1\ndescription: I want to make strong passwords.\ntitle: Beginner\n"
            ),
            "en/information/passwords/beginner/s_how-to-make-a-strong-password.md": (
                "---\nindex: 1\ntitle: How to make a strong password\n---\n# Strong passwords\n\n"
                "Use a [password manager](umbrella://tools/encryption/s_keepassxc.md) and "
                "[2FA](umbrella://information/passwords/advanced).\n\n![](keepassxc-1.png)\n"
            ),
            "en/information/passwords/beginner/keepassxc-1.png": png(seed=1),
            "en/information/passwords/beginner/c_checklist.yml": (
                "index: 100\nlist:\n- label: Before you start\n- check: Use a [password manager](umbrella://tools/encryption/s_keepassxc.md)\n"
                "- check:Never reuse passwords\n- check: Turn on two-step verification\n"
            ),
            "en/information/passwords/advanced/s_two-step-authentication.md": (
                "---\nindex: 1\ntitle: Two-step authentication\n---\nA second factor protects you.\n"
            ),
            "en/tools/encryption/s_keepassxc.md": (
                "---\nindex: 7\ntitle: KeePassXC\n---\nKeePassXC keeps passwords safe.\n\n"
                "![](keepassxc-1.png)\n"
            ),
            "en/forms/f_digital-security-incident.yml": (
                "title: Digital Security Incident\nscreens:\n- title: Your contact details\n  items:\n"
                "  - name: name\n    type: text_input\n    label: 'Name:'\n"
                "  - name: what\n    type: multiple_choice\n    label: What happened?\n    options:\n"
                "    - label: I'm locked out of my account\n      value: locked\n"
            ),
            "es/information/.category.yml": "index: 2\nicon: information.png\ntitle: Información\n",
            "es/information/passwords/.category.yml": "index: 3\ntitle: Contraseñas\n",
            "es/information/passwords/beginner/.category.yml": (
                "index: 1\ndescription: Quiero crear contraseñas seguras.\ntitle: Principiante\n"
            ),
            "es/information/passwords/beginner/s_how-to-make-a-strong-password.md": (
                "---\nindex: 1\ntitle: Cómo crear una contraseña segura\n---\n# Contraseñas seguras\n\n"
                "Usa un [gestor de contraseñas](umbrella://tools/encryption/s_keepassxc.md).\n\n"
                "![](keepassxc-1.png)\n"
            ),
            "es/information/passwords/beginner/c_checklist.yml": (
                "index: 100\nlist:\n- check: Usa un gestor de contraseñas\n"
                "- check: No reutilices contraseñas\n"
            ),
            "es/forms/f_digital-security-incident.yml": (
                "title: Incidente de seguridad digital\nscreens:\n- title: Tus datos\n  items:\n"
                "  - name: name\n    type: text_input\n    label: 'Nombre:'\n"
            ),
        },
    )


def suffix_tree(root: Path) -> Path:
    """Hugo / mkdocs (static-i18n) suffix layout: page.md in the default language, page.es.md beside it."""
    return write(
        root,
        {
            "LICENSE.md": "Licensed under CC BY 4.0: https://creativecommons.org/licenses/by/4.0/\n",
            "_index.md": '+++\ntitle = "Guide"\nweight = 1\n+++\nWelcome. See [phones](devices/phones.md).\n',
            "_index.es.md": (
                '+++\ntitle = "Guía"\nweight = 1\n+++\nBienvenida. Mira [teléfonos](devices/phones.es.md).\n'
            ),
            "devices/phones.md": (
                "---\ntitle: Phones\nweight: 2\naliases: [/old/phones/]\n---\nLock your phone. "
                'Back to the [guide]({{< ref "_index.md" >}}).\n\n![diagram](lock.png)\n'
            ),
            "devices/phones.es.md": (
                "---\ntitle: Teléfonos\nweight: 2\n---\nBloquea tu teléfono.\n\n![diagrama](lock.png)\n"
            ),
            "devices/lock.png": png(seed=2),
            "devices/laptops.md": "---\ntitle: Laptops\n---\nEncrypt the disk. [Missing](nowhere.md)\n",
            "drafts/wip.md": "---\ntitle: WIP\ndraft: true\n---\nnot yet\n",
        },
    )


def editor_node(make_node: Callable[..., Node], name: str = "Casa", seed: int = 1) -> Node:
    return make_node(name=name, seed=seed)


def new_book(node: Node, languages: list[str] | None = None, **kw: object) -> bytes:
    langs = languages or ["es", "en"]
    editors = kw.pop("editors", [node.key])
    return create_book(node, "Manual", langs, editors=editors, **kw)  # type: ignore[arg-type]


def test_the_fixtures_are_what_they_claim(tmp_path: Path) -> None:
    tree = umbrella_tree(tmp_path / "u")
    assert (tree / "en/information/passwords/beginner/keepassxc-1.png").read_bytes().startswith(b"\x89PNG")
    assert not list((tree / "es").rglob("*.png")), "Umbrella keeps images in the source language's tree only"
    assert (suffix_tree(tmp_path / "s") / "devices/phones.es.md").is_file()
    assert (DFAK / "_pages" / "es").is_dir()

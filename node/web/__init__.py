"""The node's web pages: server-rendered, in Spanish and English, usable without JavaScript on a cheap phone.

Plugins add pages through the ``register_web_*`` hooks with the names here: ``WebRoute`` and
``MenuItem``, and in their handlers ``render``,
``current`` (the request's language), ``in_worker``, ``audit``, ``flash``, ``redirect``
and ``user_of``; for an upload, ``spool_part`` (a file part sealed as it streams, a ``SealedSpool``);
``_``/``N_`` mark their strings for the catalogs. The names load on first use, so
commands that only need the certificate (``tequio info``) do not import the web stack.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .app import (
        CTX,
        MenuItem,
        WebContext,
        WebRoute,
        audit,
        error_page,
        flash,
        in_worker,
        lang_of,
        make_web_app,
        redirect,
        render,
        start_web,
        user_of,
    )
    from .i18n import N_, _, current, format_count, format_datetime, format_number, gettext, ngettext
    from .uploads import SealedSpool, UploadTooLarge, spool_part
    from .users import UserDB
    from .words import action_name, message, rule_words, status_name

_WHERE = {
    **dict.fromkeys(
        (
            "CTX",
            "MenuItem",
            "WebContext",
            "WebRoute",
            "audit",
            "error_page",
            "flash",
            "in_worker",
            "lang_of",
            "make_web_app",
            "redirect",
            "render",
            "start_web",
            "user_of",
        ),
        ".app",
    ),
    **dict.fromkeys(
        ("N_", "_", "current", "format_count", "format_datetime", "format_number", "gettext", "ngettext"),
        ".i18n",
    ),
    **dict.fromkeys(("action_name", "message", "rule_words", "status_name"), ".words"),
    "UserDB": ".users",
    **dict.fromkeys(("SealedSpool", "UploadTooLarge", "spool_part"), ".uploads"),
}

__all__ = [
    "CTX",
    "N_",
    "MenuItem",
    "SealedSpool",
    "UploadTooLarge",
    "UserDB",
    "WebContext",
    "WebRoute",
    "_",
    "action_name",
    "audit",
    "current",
    "error_page",
    "flash",
    "format_count",
    "format_datetime",
    "format_number",
    "gettext",
    "in_worker",
    "lang_of",
    "make_web_app",
    "message",
    "ngettext",
    "redirect",
    "render",
    "rule_words",
    "spool_part",
    "start_web",
    "status_name",
    "user_of",
]


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(importlib.import_module(_WHERE[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

"""The node's web pages: server-rendered, in Spanish and English, usable without JavaScript on a cheap phone.

Plugins add pages through the ``register_web_*`` hooks with the names here: ``WebRoute`` and
``MenuItem``, and in their handlers ``render``, ``in_worker``, ``audit``, ``flash``, ``redirect``
and ``user_of``; ``_``/``N_`` mark their strings for the catalogs.
"""

from .app import (
    CTX,
    MenuItem,
    WebContext,
    WebRoute,
    audit,
    error_page,
    flash,
    in_worker,
    make_web_app,
    redirect,
    render,
    start_web,
    user_of,
)
from .i18n import N_, _, format_count, format_datetime, format_number, gettext, ngettext
from .words import message, rule_words, status_name

__all__ = [
    "CTX",
    "N_",
    "MenuItem",
    "WebContext",
    "WebRoute",
    "_",
    "audit",
    "error_page",
    "flash",
    "format_count",
    "format_datetime",
    "format_number",
    "gettext",
    "in_worker",
    "make_web_app",
    "message",
    "ngettext",
    "redirect",
    "render",
    "rule_words",
    "start_web",
    "status_name",
    "user_of",
]

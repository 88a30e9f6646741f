"""Text, URL, hashtag and mention normalisation: what makes two posts "the same" for each test.

Two normalisations of text exist: CNT's (so that ``--weight cnt`` reproduces its co-tweet network
exactly) and ours (which also folds Unicode look-alikes and drops links, which differ per post when a
platform shortens them). Links are normalised offline only: a shortened link is never followed.
"""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

__all__ = [
    "MIN_TOKENS",
    "cnt_text",
    "extract_hashtags",
    "extract_mentions",
    "extract_urls",
    "norm_hashtag",
    "norm_mention",
    "norm_url",
    "tequio_text",
    "tokens",
]

#: Posts with fewer distinct words are never near-duplicates of anything ("ok", "jajaja").
MIN_TOKENS = 4

# CNT's social_media_cleaner: an @ and everything up to the next whitespace (its regex module
# pattern behaves like this one from ``re`` on str input).
_CNT_MENTION = re.compile(r"@.*?(?=\s|$)")
_URL = re.compile(r"https?://[^\s<>\"']+", re.IGNORECASE)
_MENTION = re.compile(r"(?<![\w@])@(\w{1,50})")
_HASHTAG = re.compile(r"(?<![\w#&])[#＃](\w{1,140})")
_RT_PREFIX = re.compile(r"^rt\s*:?\s*")
_WORD = re.compile(r"\w+")
_TRACKING = re.compile(r"^(utm_\w+|fbclid|gclid|igshid|mc_cid|mc_eid|si|s|ref_src|ref_url|_ga|feature)$")


def cnt_text(text: str) -> str:
    """CNT's message_preprocessor: lower case, @mentions removed, whitespace collapsed."""
    return " ".join(_CNT_MENTION.sub("", text.lower()).split())


def tequio_text(text: str) -> str:
    """Our normalisation for identical text: NFKC, lower case, links, @mentions and an "RT:" prefix
    removed, whitespace collapsed; "" means nothing is left to compare (missing, never a match)."""
    t = unicodedata.normalize("NFKC", text).lower()
    if "http" in t:
        t = _URL.sub(" ", t)
    if "@" in t:
        t = _MENTION.sub(" ", t)
    t = " ".join(t.split())
    return _RT_PREFIX.sub("", t) if t.startswith("rt") and not t[2:3].isalnum() else t


def tokens(normalised: str) -> frozenset[str]:
    """The set of words of a normalised text (Unicode word characters; no model, any language)."""
    return frozenset(_WORD.findall(normalised))


def extract_urls(text: str) -> list[str]:
    return [u.rstrip(".,;:!?)]}»”’") for u in _URL.findall(text)]


def extract_hashtags(text: str) -> list[str]:
    return _HASHTAG.findall(text)


def extract_mentions(text: str) -> list[str]:
    return _MENTION.findall(text)


def norm_hashtag(tag: str) -> str | None:
    t = unicodedata.normalize("NFKC", tag).strip().lstrip("#").casefold()
    return t or None


def norm_mention(handle: str) -> str | None:
    t = unicodedata.normalize("NFKC", handle).strip().lstrip("@").casefold()
    return t or None


def norm_url(url: str) -> str | None:
    """A canonical form of a link, offline: scheme and host lower case, ``www.``, default ports,
    fragments, tracking parameters and a trailing slash dropped, query parameters sorted.

    Returns None for what is not a link at all ("", "NA", "-"): an empty URL is missing, and links
    no one (CNT's issue #46). A link without a scheme is read as ``http://``.
    """
    u = url.strip()
    if not u or any(c.isspace() for c in u) or len(u) > 4096:
        return None
    if "://" not in u:
        if "." not in u.split("/", 1)[0]:
            return None  # not a host name: "NA", "-", "none"
        u = "http://" + u
    try:
        parts = urlsplit(u)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower().rstrip(".")
    if scheme not in ("http", "https") or not host or ("." not in host and host != "localhost"):
        return None
    if host.startswith("www."):
        host = host[4:]
    netloc = host if port in (None, 80, 443) else f"{host}:{port}"
    path = re.sub(r"/{2,}", "/", parts.path) or "/"
    if len(path) > 1:
        path = path.rstrip("/")
    query = urlencode(sorted((k, v) for k, v in parse_qsl(parts.query) if not _TRACKING.match(k.lower())))
    # http and https name the same resource on every site these posts link to
    return urlunsplit(("https", netloc, path, query, ""))

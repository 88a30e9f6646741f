"""Posts held as columns of small integers: every id, link, hashtag and text interned once.

A 211,000-post export takes tens of megabytes this way, whatever the size of the file it came from;
the networks are joins over these columns.
"""

from __future__ import annotations

import hashlib
from array import array
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .textnorm import (
    MIN_TOKENS,
    cnt_text,
    extract_hashtags,
    extract_mentions,
    extract_urls,
    norm_hashtag,
    norm_mention,
    norm_url,
    tequio_text,
    tokens,
)

__all__ = ["Interner", "Posts", "PostsBuilder", "RawPost"]

EXCERPT = 280  # characters of a text kept for the report


def _text_key(norm: str) -> str:
    """Long texts are interned by a prefix and a digest of the whole, so that memory stays small."""
    if len(norm) <= 4 * EXCERPT:
        return norm
    return norm[: 3 * EXCERPT] + " …" + hashlib.blake2b(norm.encode(), digest_size=16).hexdigest()


class Interner:
    """Text to dense integer ids (in order of first appearance), and back."""

    def __init__(self) -> None:
        self.ids: dict[str, int] = {}

    def __call__(self, value: str) -> int:
        return self.ids.setdefault(value, len(self.ids))

    @property
    def values(self) -> list[str]:
        return list(self.ids)

    def __len__(self) -> int:
        return len(self.ids)


@dataclass
class RawPost:
    """One row as a format reader understood it; text fields are None when missing."""

    message_id: str
    user_id: str
    time_ms: int
    username: str | None = None
    repost_id: str | None = None
    reply_id: str | None = None
    reply_to_user: str | None = None
    text: str | None = None
    urls: list[str] | None = None  # None: the format has no such field (then taken from the text)
    hashtags: list[str] | None = None
    mentions: list[str] | None = None
    client: str | None = None
    account_created_ms: int | None = None


@dataclass
class CSR:
    """A list of integer lists: items ``ids[ptr[i]:ptr[i+1]]`` belong to post i."""

    ptr: np.ndarray
    ids: np.ndarray

    def of(self, i: int) -> np.ndarray:
        return self.ids[self.ptr[i] : self.ptr[i + 1]]


@dataclass
class Posts:
    """The posts of one analysis, in input order (after duplicates were dropped)."""

    message_id: list[str]
    user: np.ndarray  # int32, index into users
    time_ms: np.ndarray  # int64
    repost: np.ndarray  # int32 into objects.posts, -1 when not a repost
    reply: np.ndarray  # int32 into objects.posts, -1 when not a reply
    text: np.ndarray  # int32 into texts, -1 when a repost or nothing left after normalisation
    client: np.ndarray  # int32 into clients, -1 unknown
    urls: CSR
    hashtags: CSR
    mentions: CSR
    words: CSR  # token ids of non-reposts with at least MIN_TOKENS words (near-duplicates)
    users: list[str]
    usernames: list[list[str]]  # per user: every handle seen, in order
    created_ms: np.ndarray  # int64 per user, -1 unknown
    ref_ids: list[str]  # reposted / replied-to message ids
    texts: list[str]  # normalised texts (excerpts)
    url_values: list[str]
    hashtag_values: list[str]
    mention_values: list[str]
    client_values: list[str]
    word_values: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.message_id)

    @property
    def n_users(self) -> int:
        return len(self.users)

    def excerpt(self, i: int) -> str:
        t = int(self.text[i])
        return self.texts[t][:EXCERPT] if t >= 0 else ""


class PostsBuilder:
    """Collects rows into compact arrays; duplicates (a message id seen before) are skipped, as CNT does.

    ``text_mode`` is ``cnt`` (CNT's normalisation, for ``--weight cnt``) or ``tequio``.
    """

    def __init__(self, text_mode: str = "tequio", want_words: bool = True) -> None:
        self.text_mode = text_mode
        self.want_words = want_words
        self.seen: set[str] = set()
        self.message_id: list[str] = []
        self.user = array("i")
        self.time_ms = array("q")
        self.repost = array("i")
        self.reply = array("i")
        self.text = array("i")
        self.client = array("i")
        self.lists = {
            name: (array("q", [0]), array("i")) for name in ("urls", "hashtags", "mentions", "words")
        }
        self.users = Interner()
        self.usernames: list[list[str]] = []
        self.created: list[int] = []
        self.refs = Interner()
        self.texts = Interner()
        self.url_values = Interner()
        self.hashtag_values = Interner()
        self.mention_values = Interner()
        self.client_values = Interner()
        self.word_values = Interner()
        # normalisations of repeated links, tags and handles, computed once (bounded)
        self._urls: dict[str, str | None] = {}
        self._tags: dict[str, str | None] = {}
        self._mentions: dict[str, str | None] = {}

    def __len__(self) -> int:
        return len(self.message_id)

    def _cached(self, cache: dict[str, str | None], fn: Any, value: str) -> str | None:
        if value in cache:
            return cache[value]
        out: str | None = fn(value)
        if len(cache) < 1_000_000:  # memory stays bounded on exports with endless distinct links
            cache[value] = out
        return out

    def _norm_url(self, v: str) -> str | None:
        return self._cached(self._urls, norm_url, v)

    def _norm_tag(self, v: str) -> str | None:
        return self._cached(self._tags, norm_hashtag, v)

    def _norm_mention(self, v: str) -> str | None:
        return self._cached(self._mentions, norm_mention, v)

    def _append(self, name: str, ids: Iterable[int]) -> None:
        ptr, out = self.lists[name]
        if ids:
            out.extend(sorted(ids))
        ptr.append(len(out))

    def add(self, p: RawPost) -> str | None:
        """Add a post; returns why it was skipped (a reason for the input record) or None."""
        if p.message_id in self.seen:
            return "duplicate message_id"
        self.seen.add(p.message_id)
        u = self.users(p.user_id)
        if u == len(self.usernames):
            self.usernames.append([])
            self.created.append(-1)
        names = self.usernames[u]
        if p.username and p.username not in names and len(names) < 50:
            names.append(p.username)
        if p.account_created_ms is not None and (
            self.created[u] < 0 or p.account_created_ms < self.created[u]
        ):
            self.created[u] = p.account_created_ms
        self.message_id.append(p.message_id)
        self.user.append(u)
        self.time_ms.append(p.time_ms)
        is_repost = p.repost_id is not None
        self.repost.append(self.refs(p.repost_id) if p.repost_id is not None else -1)
        self.reply.append(self.refs(p.reply_id) if p.reply_id is not None else -1)
        self.client.append(self.client_values(p.client) if p.client else -1)
        if is_repost:  # a repost's text, links and tags are the original's: co-retweet covers them
            self.text.append(-1)
            for ptr, out in self.lists.values():
                ptr.append(len(out))
            return None
        raw = p.text or ""
        ours = tequio_text(raw) if raw else ""
        norm = ours if self.text_mode != "cnt" else cnt_text(raw)
        self.text.append(self.texts(_text_key(norm)) if norm else -1)
        urls = p.urls if p.urls is not None else (extract_urls(raw) if "http" in raw.lower() else [])
        self._append("urls", {self.url_values(v) for v in map(self._norm_url, urls) if v} if urls else ())
        tags = (
            p.hashtags
            if p.hashtags is not None
            else (extract_hashtags(raw) if "#" in raw or "＃" in raw else [])
        )
        self._append(
            "hashtags", {self.hashtag_values(v) for v in map(self._norm_tag, tags) if v} if tags else ()
        )
        mentioned = p.mentions if p.mentions is not None else (extract_mentions(raw) if "@" in raw else [])
        if p.reply_to_user:
            mentioned = [*mentioned, p.reply_to_user]
        if mentioned:
            own = {(p.username or "").casefold(), p.user_id.casefold()}
            found = {v for v in map(self._norm_mention, mentioned) if v and v not in own}
            self._append("mentions", {self.mention_values(v) for v in found})
        else:
            self._append("mentions", ())
        words = tokens(ours) if self.want_words and ours else ()
        wd = self.word_values.ids
        self._append("words", {wd.setdefault(w, len(wd)) for w in words} if len(words) >= MIN_TOKENS else ())
        return None

    def build(self) -> Posts:
        def csr(name: str) -> CSR:
            ptr, ids = self.lists[name]
            return CSR(np.frombuffer(ptr, dtype=np.int64).copy(), np.frombuffer(ids, dtype=np.int32).copy())

        def arr(a: array, dtype: Any) -> np.ndarray:
            return np.frombuffer(a, dtype=dtype).copy() if len(a) else np.zeros(0, dtype=dtype)

        return Posts(
            message_id=self.message_id,
            user=arr(self.user, np.int32),
            time_ms=arr(self.time_ms, np.int64),
            repost=arr(self.repost, np.int32),
            reply=arr(self.reply, np.int32),
            text=arr(self.text, np.int32),
            client=arr(self.client, np.int32),
            urls=csr("urls"),
            hashtags=csr("hashtags"),
            mentions=csr("mentions"),
            words=csr("words"),
            users=self.users.values,
            usernames=self.usernames,
            created_ms=np.array(self.created, dtype=np.int64),
            ref_ids=self.refs.values,
            texts=[t[:EXCERPT] for t in self.texts.values],
            url_values=self.url_values.values,
            hashtag_values=self.hashtag_values.values,
            mention_values=self.mention_values.values,
            client_values=self.client_values.values,
            word_values=self.word_values.values,
        )

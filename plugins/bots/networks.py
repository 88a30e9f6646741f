"""The coordination tests (B1-B8) as one windowed self-join over "shares" (a post and the object it shares).

Two accounts are linked in a network when they shared the same object (a retweeted post, a link, a
hashtag, a text …) within ±window seconds of each other: a sliding window around every post, never
fixed bins. The join runs in numpy over sorted arrays, in chunks, so memory stays bounded by the
chunk size rather than by the number of matching pairs.

Edge weights (docs/bots.md, "Edge weight"):

- ``cnt`` (CNT's definition, directed): w(u→v) = the number of distinct posts of u that have at least
  one matching post of v within the window. Both directions are listed; self-loops never.
- ``pairs`` (CooRTweet's, undirected): the number of matching (post of u, post of v) pairs, counted
  once per shared object.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from .posts import Posts

__all__ = [
    "CONTENT_NETWORKS",
    "NETWORKS",
    "RULES",
    "Edges",
    "Shares",
    "build_shares",
    "compute_edges",
    "share_pairs",
]

NETWORKS = (
    "co_retweet",
    "co_tweet",
    "co_similar",
    "co_link",
    "co_hashtag",
    "co_reply",
    "co_mention",
    "co_post",
)
DEFAULT_NETWORKS = ("co_retweet", "co_tweet", "co_similar", "co_link", "co_hashtag", "co_reply", "co_mention")
CONTENT_NETWORKS = NETWORKS[:-1]  # co_post shares no object: its evidence is the timing alone
RULES = {name: f"B{i}" for i, name in enumerate(NETWORKS, 1)}
#: What each network's shared object is, for people (docs/bots.md).
OBJECTS = {
    "co_retweet": ("la misma publicación (retuit / compartido)", "the same post (retweet / share)"),
    "co_tweet": ("el mismo texto", "the same text"),
    "co_similar": ("textos casi idénticos", "near-identical texts"),
    "co_link": ("el mismo enlace", "the same link"),
    "co_hashtag": ("la misma etiqueta", "the same hashtag"),
    "co_reply": ("respuestas a la misma publicación", "replies to the same post"),
    "co_mention": ("menciones o respuestas a la misma cuenta", "mentions of or replies to the same account"),
    "co_post": ("publicaciones al mismo tiempo", "posts at the same moment"),
}
PAIR_CHUNK = 1_000_000  # matching pairs generated at once (about 100 MB of work arrays)


@dataclass
class Shares:
    """One network's shares, sorted by (object, time, post)."""

    post: np.ndarray  # int64 post index
    obj: np.ndarray  # int64 object id
    time: np.ndarray  # int64 ms
    user: np.ndarray  # int64 user index
    post_user: np.ndarray  # int64 user of every post index
    grp: np.ndarray | None = (
        None  # co_similar: text group; pairs inside one group of a virtual object are skipped
    )
    n_self: int = 0  # co_similar: objects below this are text groups, the others pairs of groups

    @classmethod
    def of(
        cls,
        post: np.ndarray,
        obj: np.ndarray,
        time: np.ndarray,
        post_user: np.ndarray,
        grp: np.ndarray | None = None,
        n_self: int = 0,
    ) -> Shares:
        order = np.lexsort((post, time, obj))
        p = post[order].astype(np.int64)
        pu = post_user.astype(np.int64)
        return cls(
            p,
            obj[order].astype(np.int64),
            time[order].astype(np.int64),
            pu[p],
            pu,
            None if grp is None else grp[order],
            n_self,
        )

    def __len__(self) -> int:
        return len(self.post)

    def ranges(self, window_ms: int) -> tuple[np.ndarray, np.ndarray]:
        """For every share i, the index range [lo, hi) of shares of the same object with |Δt| <= window."""
        n = len(self)
        if n == 0:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        # a searchsorted inside each object through a rank-shifted time key
        new_obj = np.r_[True, self.obj[1:] != self.obj[:-1]]
        starts = np.flatnonzero(new_obj)
        rank = np.cumsum(new_obj) - 1
        t0 = self.time - self.time.min()
        span = int(t0.max()) + 2 * window_ms + 2
        lo = np.empty(n, np.int64)
        hi = np.empty(n, np.int64)
        per = max(1, (1 << 62) // span - 2)  # objects per batch so that rank * span fits in int64
        for first in range(0, len(starts), per):
            a = int(starts[first])
            b = int(starts[first + per]) if first + per < len(starts) else n
            key = (rank[a:b] - first + 1) * span + t0[a:b]
            lo[a:b] = np.searchsorted(key, key - window_ms, side="left") + a
            hi[a:b] = np.searchsorted(key, key + window_ms, side="right") + a
        return lo, hi


def uniq(x: np.ndarray) -> np.ndarray:
    """Sorted distinct values (a sort, not numpy 2's hash path, which is many times slower here)."""
    a = np.sort(x, kind="stable") if len(x) else x
    return a[np.r_[True, a[1:] != a[:-1]]] if len(a) else a


def uniq_counts(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a = np.sort(x) if len(x) else x
    if len(a) == 0:
        return a, np.zeros(0, np.int64)
    starts = np.flatnonzero(np.r_[True, a[1:] != a[:-1]])
    return a[starts], np.diff(np.r_[starts, len(a)])


def _virtual_ok(sh: Shares, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    ok = sh.user[i] != sh.user[j]
    if sh.grp is not None:
        ok &= ~((sh.obj[i] >= sh.n_self) & (sh.grp[i] == sh.grp[j]))
    return ok


def _expand(rows: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    c = hi[rows] - lo[rows]
    total = int(c.sum())
    i = np.repeat(rows, c)
    j = np.repeat(lo[rows], c) + (np.arange(total, dtype=np.int64) - np.repeat(np.cumsum(c) - c, c))
    return i, j


def user_chunks(sh: Shares, lo: np.ndarray, hi: np.ndarray, chunk: int = PAIR_CHUNK) -> Iterator[np.ndarray]:
    """Share rows grouped by account, so that all of an account's matches are in one chunk."""
    order = np.lexsort((sh.post, sh.user))
    per_row = (hi - lo)[order]
    users = sh.user[order]
    bounds = np.flatnonzero(np.r_[True, users[1:] != users[:-1], True])
    per_user = np.add.reduceat(per_row, bounds[:-1]) if len(order) else np.zeros(0, np.int64)
    csum = np.cumsum(per_user)
    k = 0
    n_users = len(per_user)
    while k < n_users:
        done = csum[k - 1] if k else 0
        end = max(int(np.searchsorted(csum, done + chunk, side="right")), k + 1)
        end = min(end, n_users)
        yield order[bounds[k] : bounds[end]]
        k = end


def share_pairs(
    sh: Shares, window_ms: int, chunk: int = PAIR_CHUNK
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Chunks of (i, j) share indices: same object, |Δt| <= window, other account, both orders; every
    match of an account's shares lies in one chunk."""
    lo, hi = sh.ranges(window_ms)
    for rows in user_chunks(sh, lo, hi, chunk):
        i, j = _expand(rows, lo, hi)
        ok = _virtual_ok(sh, i, j)
        yield i[ok], j[ok]


@dataclass
class Edges:
    """A network's edges at one window.

    Directed CNT edges ``src → dst`` with weight ``w`` are kept when ``w >= keep``; undirected edges
    ``(pa, pb)``, pa < pb, carry the CooRTweet pair count ``pw``, both directed CNT weights and their
    minimum ``pm`` (kept when the chosen weight >= keep: for cnt, when both directions are kept).
    ``hist`` counts every edge of weight >= 1 by weight (directed for cnt, undirected pair counts for
    pairs), so that a percentile threshold sees the whole distribution.
    """

    name: str
    window: float  # seconds
    weight: str  # cnt or pairs: the weight ``keep`` and ``hist`` refer to
    keep: int
    src: np.ndarray
    dst: np.ndarray
    w: np.ndarray
    pa: np.ndarray
    pb: np.ndarray
    pw: np.ndarray
    w_ab: np.ndarray
    w_ba: np.ndarray
    hist: np.ndarray  # hist[k] = undirected edges of weight k

    @property
    def pm(self) -> np.ndarray:
        return np.minimum(self.w_ab, self.w_ba)

    def strength(self) -> np.ndarray:
        """The undirected weight clustering uses: pair count, or the mutual CNT weight min(w(a→b), w(b→a))."""
        return self.pw if self.weight == "pairs" else self.pm

    def symmetry(self) -> np.ndarray:
        """CooRTweet's edge symmetry: min over max of the two accounts' posts on the edge."""
        return np.minimum(self.w_ab, self.w_ba) / np.maximum(np.maximum(self.w_ab, self.w_ba), 1)


def _merge_hist(hist: np.ndarray, weights: np.ndarray) -> np.ndarray:
    add = np.bincount(weights) if len(weights) else np.zeros(1, np.int64)
    if len(add) > len(hist):
        hist = np.concatenate([hist, np.zeros(len(add) - len(hist), np.int64)])
    hist[: len(add)] += add
    return hist


def compute_edges(
    sh: Shares,
    name: str,
    window_s: float,
    weight: str = "cnt",
    keep: int = 1,
    min_participation: int = 0,
    chunk: int = PAIR_CHUNK,
) -> Edges:
    """One network at one window: every account's matches in one chunk, so weights are final per chunk."""
    window_ms = round(window_s * 1000)
    u = np.int64(max(int(sh.post_user.max(initial=0)) + 1, 1))
    out: dict[str, list[np.ndarray]] = {k: [] for k in ("src", "dst", "w", "pa", "pb", "pw", "wab", "wba")}
    hist = np.zeros(1, np.int64)
    ok_user = None
    if min_participation > 1:
        # CooRTweet's pre-filter: an account needs that many shares before it can be paired at all
        per = np.bincount(sh.user, minlength=int(u))
        sel = per[sh.user] >= min_participation
        if not sel.all():
            grp = sh.grp[sel] if sh.grp is not None else None
            sh = Shares.of(sh.post[sel], sh.obj[sel], sh.time[sel], sh.post_user, grp, sh.n_self)
        ok_user = _participants(sh, window_ms, min_participation, chunk)
    similar = sh.grp is not None
    for i, j in share_pairs(sh, window_ms, chunk):
        if len(i) == 0:
            continue
        pi, pj, ui, uj = sh.post[i], sh.post[j], sh.user[i], sh.user[j]
        # CNT: a post of u counts once per partner account v, whatever the objects and partner posts
        fwd = uniq(pi * u + uj)
        k_f, w_f = uniq_counts(sh.post_user[fwd // u] * u + fwd % u)
        del fwd
        src, dst = k_f // u, k_f % u
        if weight == "pairs":
            # the same (u, v) keys on the other side, sorted alike: every match is symmetric
            back = uniq(pj * u + ui)
            w_b = uniq_counts(back % u * u + sh.post_user[back // u])[1]
            if similar:  # a pair of posts counts once, however many virtual objects hold it
                pp = uniq(pi * np.int64(1 << 31) + pj)
                pc = uniq_counts(sh.post_user[pp >> 31] * u + sh.post_user[pp & ((1 << 31) - 1)])[1]
            else:
                pc = uniq_counts(ui * u + uj)[1]
            if ok_user is not None:  # CooRTweet: one of the two took part with enough posts
                sel = ok_user[src] | ok_user[dst]
                w_f, w_b, pc, src, dst = w_f[sel], w_b[sel], pc[sel], src[sel], dst[sel]
            up = src < dst
            hist = _merge_hist(hist, pc[up])
            ukeep = up & (pc >= keep)
            out["pa"].append(src[ukeep])
            out["pb"].append(dst[ukeep])
            out["pw"].append(pc[ukeep])
            out["wab"].append(w_f[ukeep])
            out["wba"].append(w_b[ukeep])
        else:
            hist = _merge_hist(hist, w_f)
        dkeep = w_f >= keep
        out["src"].append(src[dkeep])
        out["dst"].append(dst[dkeep])
        out["w"].append(w_f[dkeep])
    cat = {k: (np.concatenate(v).astype(np.int64) if v else np.zeros(0, np.int64)) for k, v in out.items()}
    if weight != "pairs":
        # an undirected CNT edge is kept when both directions are: strength min(w(a→b), w(b→a)) >= keep
        cat["pa"], cat["pb"], cat["wab"], cat["wba"] = _mutual(cat["src"], cat["dst"], cat["w"], u)
        cat["pw"] = np.zeros(len(cat["pa"]), np.int64)
    return Edges(
        name,
        window_s,
        weight,
        keep,
        cat["src"],
        cat["dst"],
        cat["w"],
        cat["pa"],
        cat["pb"],
        cat["pw"],
        cat["wab"],
        cat["wba"],
        hist,
    )


def _mutual(
    src: np.ndarray, dst: np.ndarray, w: np.ndarray, u: np.int64
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    key = src * u + dst
    order = np.argsort(key)
    skey = key[order]
    up = np.flatnonzero(src < dst)
    rev = dst[up] * u + src[up]
    pos = np.minimum(np.searchsorted(skey, rev), max(len(skey) - 1, 0))
    found = skey[pos] == rev if len(skey) else np.zeros(0, bool)
    sel = up[found]
    return src[sel], dst[sel], w[sel], w[order][pos[found]]


def _participants(sh: Shares, window_ms: int, k: int, chunk: int) -> np.ndarray:
    """CooRTweet's min_participation: accounts with at least k posts that matched anyone."""
    n_users = int(sh.post_user.max(initial=0)) + 1
    per_user = np.zeros(n_users, np.int64)
    for i, _ in share_pairs(sh, window_ms, chunk):
        posts = uniq(sh.post[i])
        per_user += np.bincount(sh.post_user[posts], minlength=n_users)
    return per_user >= k


def build_shares(posts: Posts, name: str, similar: tuple[np.ndarray, np.ndarray] | None = None) -> Shares:
    """The shares of one network: which object each post shares (reposts only for co_retweet)."""
    n = len(posts)
    idx = np.arange(n, dtype=np.int64)
    user, time = posts.user.astype(np.int64), posts.time_ms
    if name in ("co_retweet", "co_tweet", "co_reply"):
        col = {"co_retweet": posts.repost, "co_tweet": posts.text, "co_reply": posts.reply}[name]
        sel = col >= 0
        if name == "co_reply":
            sel &= posts.repost < 0
        return Shares.of(idx[sel], col[sel].astype(np.int64), time[sel], user)
    if name in ("co_link", "co_hashtag", "co_mention"):
        csr = {"co_link": posts.urls, "co_hashtag": posts.hashtags, "co_mention": posts.mentions}[name]
        counts = np.diff(csr.ptr)
        p = np.repeat(idx, counts)
        return Shares.of(p, csr.ids.astype(np.int64), time[p], user)
    if name == "co_post":
        return Shares.of(idx, np.zeros(n, np.int64), time, user)
    if name == "co_similar":
        if similar is None:
            raise ValueError("co_similar needs the near-duplicate groups")
        return similar_shares(posts, *similar)
    raise ValueError(f"unknown network {name!r}")


def similar_shares(posts: Posts, group: np.ndarray, pairs: np.ndarray) -> Shares:
    """co_similar: every text group is an object, and so is every pair of similar groups."""
    idx = np.arange(len(posts), dtype=np.int64)
    has = group >= 0
    p_self, g_self = idx[has], group[has].astype(np.int64)
    n_groups = int(group.max(initial=-1)) + 1
    members_order = np.argsort(g_self, kind="stable")
    sorted_g = g_self[members_order]
    starts = np.searchsorted(sorted_g, np.arange(n_groups + 1))
    parts_p = [p_self]
    parts_o = [g_self]
    parts_g = [g_self]
    if len(pairs):
        for side in (0, 1):
            g = pairs[:, side].astype(np.int64)
            c = starts[g + 1] - starts[g]
            pos = np.repeat(starts[g], c) + (np.arange(int(c.sum())) - np.repeat(np.cumsum(c) - c, c))
            posts_of = p_self[members_order][pos]
            parts_p.append(posts_of)
            parts_o.append(np.repeat(n_groups + np.arange(len(pairs), dtype=np.int64), c))
            parts_g.append(np.repeat(g, c))
    p = np.concatenate(parts_p)
    return Shares.of(
        p,
        np.concatenate(parts_o),
        posts.time_ms[p],
        posts.user,
        grp=np.concatenate(parts_g),
        n_self=n_groups,
    )

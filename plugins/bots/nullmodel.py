"""More than chance? (N1): a p-value per cluster from re-drawn activity of its members.

``rewire`` (the default): each member keeps its number of posts in a network and draws them at random,
without replacement, from all the posts of that network (each with its time and objects): account
activity and object popularity are kept, who-shared-what-when is not (a degree-preserving rewiring
of the account–post graph). ``shuffle``: each member's timestamps are permuted among its own posts,
keeping its rhythm and its objects. co_post, whose evidence is timing alone, always uses ``rewire``.

Only members' posts take part (a cluster's statistic depends on nothing else), so a repeat costs
little. p = (1 + repeats reaching the observed statistic) / (1 + repeats).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from .clusters import Community
from .networks import Edges, Shares, compute_edges, uniq

__all__ = ["NullResult", "cluster_pvalues", "cluster_statistic"]


@dataclass
class NullResult:
    observed: list[int]
    p: list[float]
    null_mean: list[float]
    null_var: list[float]
    exceeded: list[int]


def _strengths(e: Edges) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return e.pa, e.pb, e.strength()


def _sum_by_cluster(e: Edges, cluster_of: np.ndarray, n: int) -> np.ndarray:
    a, b, s = _strengths(e)
    ca, cb = cluster_of[a], cluster_of[b]
    same = (ca == cb) & (ca >= 0)
    return np.bincount(ca[same], weights=s[same], minlength=n).astype(np.int64)


def _restrict(sh: Shares, users: np.ndarray) -> Shares:
    sel = np.isin(sh.user, users)
    grp = sh.grp[sel] if sh.grp is not None else None
    return Shares.of(sh.post[sel], sh.obj[sel], sh.time[sel], sh.post_user, grp, sh.n_self)


def cluster_statistic(
    shares: dict[str, Shares], comms: list[Community], cluster_of: np.ndarray, window: float, weight: str
) -> np.ndarray:
    """Observed statistic: the summed edge strength inside each cluster, over the networks it was found in."""
    stat = np.zeros(len(comms), np.int64)
    for name, sh in shares.items():
        ids = [i for i, c in enumerate(comms) if name in c.networks]
        if not ids:
            continue
        users = np.array(sorted({u for i in ids for u in comms[i].members}), dtype=np.int64)
        e = compute_edges(_restrict(sh, users), name, window, weight)
        mask = np.zeros(len(comms), bool)
        mask[ids] = True
        stat += np.where(mask, _sum_by_cluster(e, cluster_of, len(comms)), 0)
    return stat


class _Pool:
    """A network's posts and their share rows, for drawing posts at random."""

    def __init__(self, sh: Shares) -> None:
        order = np.argsort(sh.post, kind="stable")
        self.sh = sh
        self.rows = order
        sp = sh.post[order]
        self.start = np.flatnonzero(np.r_[True, sp[1:] != sp[:-1]]) if len(sp) else np.zeros(0, np.int64)
        self.posts = sp[self.start]
        self.end = np.r_[self.start[1:], len(sp)]

    def draw(self, rng: np.random.Generator, members: np.ndarray, counts: np.ndarray) -> Shares:
        total = int(counts.sum())
        total = min(total, len(self.posts))
        picked = rng.choice(len(self.posts), size=total, replace=False)
        owner = np.repeat(members, counts)[:total]
        c = self.end[picked] - self.start[picked]
        rows = self.rows[
            np.repeat(self.start[picked], c) + (np.arange(int(c.sum())) - np.repeat(np.cumsum(c) - c, c))
        ]
        new_post = np.repeat(np.arange(total, dtype=np.int64), c)
        sh = self.sh
        grp = sh.grp[rows] if sh.grp is not None else None
        return Shares.of(new_post, sh.obj[rows], sh.time[rows], owner, grp, sh.n_self)


def cluster_pvalues(
    shares: dict[str, Shares],
    comms: list[Community],
    n_users: int,
    window: float,
    weight: str,
    method: str,
    repeats: int,
    seed: int,
    post_user: np.ndarray,
    post_time: np.ndarray,
) -> NullResult:
    """p-values of every cluster under the chosen null model (same repeats shared by all clusters)."""
    cluster_of = np.full(n_users, -1, np.int64)
    for i, c in enumerate(comms):
        cluster_of[c.members] = i
    observed = cluster_statistic(shares, comms, cluster_of, window, weight)
    exceeded = np.zeros(len(comms), np.int64)
    total = np.zeros(len(comms), np.float64)
    squares = np.zeros(len(comms), np.float64)
    if not comms or repeats <= 0:
        zeros = [0.0] * len(comms)
        return NullResult(observed.tolist(), [1.0] * len(comms), zeros, zeros, [0] * len(comms))
    rng = np.random.default_rng(seed)
    plan = []
    for name, sh in shares.items():
        ids = [i for i, c in enumerate(comms) if name in c.networks]
        if not ids:
            continue
        members = np.array(sorted({u for i in ids for u in comms[i].members}), dtype=np.int64)
        mine = _restrict(sh, members)
        mine_posts = uniq(mine.post)
        counts = np.bincount(post_user[mine_posts], minlength=n_users)[members]
        plan.append((name, sh, mine, members, counts, np.array(ids)))
    pools = {name: _Pool(sh) for name, sh, *_ in plan if method == "rewire" or name == "co_post"}
    all_members = np.array(sorted({u for c in comms for u in c.members}), dtype=np.int64)
    member_posts = np.flatnonzero(np.isin(post_user, all_members))
    for _ in range(repeats):
        stat = np.zeros(len(comms), np.int64)
        new_time = None
        if method == "shuffle":
            new_time = post_time.copy()
            # permute each member's timestamps among its own posts
            mp = member_posts[np.argsort(post_user[member_posts], kind="stable")]
            owners = post_user[mp]
            bounds = np.flatnonzero(np.r_[True, owners[1:] != owners[:-1], True])
            for a, b in itertools.pairwise(bounds):
                seg = mp[a:b]
                new_time[seg] = post_time[rng.permutation(seg)]
        for name, _sh, mine, members, counts, cl_ids in plan:
            if name in pools:
                drawn = pools[name].draw(rng, members, counts)
            else:
                assert new_time is not None
                drawn = Shares.of(
                    mine.post, mine.obj, new_time[mine.post], mine.post_user, mine.grp, mine.n_self
                )
            e = compute_edges(drawn, name, window, weight)
            part = _sum_by_cluster(e, cluster_of, len(comms))
            mask = np.zeros(len(comms), bool)
            mask[cl_ids] = True
            stat += np.where(mask, part, 0)
        exceeded += stat >= observed
        total += stat
        squares += stat.astype(np.float64) ** 2
    p = ((1 + exceeded) / (1 + repeats)).tolist()
    mean = total / repeats
    var = np.maximum(squares / repeats - mean**2, 0.0)
    return NullResult(observed.tolist(), p, mean.tolist(), var.tolist(), exceeded.tolist())

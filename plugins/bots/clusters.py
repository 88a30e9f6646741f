"""Which edges count (W2-W4), clusters by community detection, and confidence tiers (T1-T4).

W2 minimum weight, W3 percentile threshold over the whole weight distribution (CooRTweet's: keep an
edge whose weight is above the q-quantile, R's type 7), W4 CooRTweet's edge-symmetry guard against a
hyperactive account that matches everyone once. Clusters are Louvain communities (networkx) of the
edges that pass, over all networks at once.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .networks import Edges

__all__ = ["Kept", "communities", "hist_quantile", "keep_edges", "tier_of"]

TIERS = ("high", "medium", "low")


def hist_quantile(hist: np.ndarray, q: float) -> float:
    """R's type-7 quantile of the values that ``hist`` counts (hist[k] = how many equal k)."""
    n = int(hist.sum())
    if n == 0:
        return 0.0
    cum = np.cumsum(hist)
    h = (n - 1) * q
    lo = int(np.floor(h))

    def value(k: int) -> int:  # the k-th smallest value (0-based)
        return int(np.searchsorted(cum, k, side="right"))

    a = value(lo)
    b = value(min(lo + 1, n - 1))
    return a + (h - lo) * (b - a)


@dataclass
class Kept:
    """The undirected edges of one network that pass W2-W4, with the thresholds as applied."""

    name: str
    a: np.ndarray
    b: np.ndarray
    strength: np.ndarray
    symmetry: np.ndarray
    percentile_value: float
    min_weight: int
    candidates: int  # undirected edges >= min weight before W3 and W4
    dropped_percentile: int = 0
    dropped_symmetry: int = 0


def keep_edges(e: Edges, min_weight: int, percentile: float, min_symmetry: float) -> Kept:
    strength = e.strength()
    sym = e.symmetry()
    thr = hist_quantile(e.hist, percentile) if percentile > 0 else 0.0
    base = strength >= min_weight
    # for cnt the percentile is over directed weights: both directions must be above it
    above = strength > thr if e.weight == "pairs" else np.minimum(e.w_ab, e.w_ba) > thr
    guard = sym >= min_symmetry
    keep = base & above & guard
    return Kept(
        e.name,
        e.pa[keep],
        e.pb[keep],
        strength[keep],
        sym[keep],
        float(thr),
        min_weight,
        int(base.sum()),
        int((base & ~above).sum()),
        int((base & above & ~guard).sum()),
    )


@dataclass
class Community:
    members: list[int]  # user indices, sorted
    networks: list[str]
    weight: int  # total strength of the passing edges inside
    edges: dict[str, list[tuple[int, int, int]]] = field(default_factory=dict)


def communities(kept: list[Kept], seed: int) -> list[Community]:
    """Louvain communities of the union of passing edges (weights summed over networks), size >= 2."""
    import networkx as nx

    g = nx.Graph()
    for k in kept:
        for a, b, w in zip(k.a.tolist(), k.b.tolist(), k.strength.tolist(), strict=True):
            if g.has_edge(a, b):
                g[a][b]["weight"] += w
            else:
                g.add_edge(a, b, weight=w)
    if g.number_of_edges() == 0:
        return []
    parts = nx.community.louvain_communities(g, weight="weight", seed=seed)
    out = []
    for part in parts:
        if len(part) < 2:
            continue
        members = sorted(part)
        inside = set(members)
        edges: dict[str, list[tuple[int, int, int]]] = {}
        for k in kept:
            mask = np.fromiter(
                (a in inside and b in inside for a, b in zip(k.a.tolist(), k.b.tolist(), strict=True)),
                bool,
                len(k.a),
            )
            if mask.any():
                edges[k.name] = list(
                    zip(k.a[mask].tolist(), k.b[mask].tolist(), k.strength[mask].tolist(), strict=True)
                )
        total = sum(w for es in edges.values() for _, _, w in es)
        out.append(Community(members, sorted(edges), total, edges))
    out.sort(key=lambda c: (-c.weight, c.members))
    return out


def tier_of(
    size: int,
    allowlisted: int,
    networks: int,
    p: float,
    q: float,
    cue_majority: bool,
    alpha: float,
    repeats: int,
) -> tuple[str, str]:
    """The tier and the rule that set it.

    T4: half or more of the members are on the allowlist: "coordinated, possibly organic", tier low.
    T1 high: beyond chance after correction (q <= alpha), never matched by chance in any repeat
    (p at its minimum 1/(repeats+1)), at least 3 accounts, and found by two tests or with account cues
    on most members. T2 medium: beyond chance after correction. T3 low: anything else.
    """
    if allowlisted * 2 >= size:
        return "low", "T4"
    if q <= alpha + 1e-9 and size >= 2:  # p = 1/(R+1) may round a hair above alpha
        if p <= 1.0 / (repeats + 1) + 1e-12 and size - allowlisted >= 3 and (networks >= 2 or cue_majority):
            return "high", "T1"
        return "medium", "T2"
    return "low", "T3"


def bh_qvalues(p: list[float]) -> list[float]:
    """Benjamini-Hochberg adjusted p-values (q-values), in the input order."""
    m = len(p)
    if m == 0:
        return []
    order = sorted(range(m), key=lambda i: p[i])
    q = [0.0] * m
    running = 1.0
    for rank in range(m, 0, -1):
        i = order[rank - 1]
        running = min(running, p[i] * m / rank)
        q[i] = running
    return q

"""One analysis from export files to findings: import, networks, thresholds, clusters, chance, cues,
explanations and the window sensitivity table. The CLI and tests call :func:`analyze`."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .clusters import Community, Kept, bh_qvalues, communities, keep_edges, tier_of
from .cues import account_cues
from .explain import Evidence, cluster_sentences, collect_evidence, iso, network_flag, pct, tier_reason
from .formats import PARSER_VERSION, InputRecord, Mapping, load_file
from .networks import DEFAULT_NETWORKS, NETWORKS, RULES, Edges, Shares, build_shares, compute_edges
from .nullmodel import cluster_pvalues
from .posts import Posts, PostsBuilder
from .readers import InputError
from .similar import LSH_WEIGHTS, NUM_PERM, similar_groups

__all__ = ["VERSION", "Params", "Result", "analyze", "load_allowlist"]

VERSION = "tequio-bots/1"
STRICT = 50  # the look-elsewhere-adjusted chance is held to alpha / STRICT
Progress = Callable[[str, int | None, str], AbstractContextManager[Callable[[int], None]]]


@contextlib.contextmanager
def _no_progress(label: str, total: int | None, unit: str = "bytes") -> Iterator[Callable[[int], None]]:
    yield lambda done: None


@dataclass
class Params:
    """Every parameter of an analysis; recorded in findings.json so that it can be re-run exactly."""

    window: float = 60.0
    min_weight: int = 3
    weight: str = "cnt"
    networks: tuple[str, ...] = DEFAULT_NETWORKS
    percentile: float = 0.0
    min_symmetry: float = 0.2
    similarity: float = 0.8
    null: str = "rewire"
    repeats: int = 99
    seed: int = 0
    alpha: float = 0.05
    sweep: tuple[float, ...] = (10.0, 30.0, 60.0, 300.0, 600.0)
    format: str = "auto"

    def check(self) -> None:
        if not 0 < self.window <= 31 * 86_400:
            raise InputError("--window is seconds, between 0 and 31 days")
        if self.min_weight < 1:
            raise InputError("--min-weight is at least 1")
        if self.weight not in ("cnt", "pairs"):
            raise InputError("--weight is cnt or pairs")
        if not self.networks or any(n not in NETWORKS for n in self.networks):
            raise InputError(f"--networks: choose among {', '.join(NETWORKS)}")
        if not 0 <= self.percentile < 1:
            raise InputError("--percentile is between 0 and 1 (0 turns it off)")
        if not 0 <= self.min_symmetry <= 1:
            raise InputError("--min-symmetry is between 0 and 1")
        if not 0 < self.similarity <= 1:
            raise InputError("--similarity is between 0 and 1")
        if self.null not in ("rewire", "shuffle"):
            raise InputError("--null is rewire or shuffle")
        if not 0 <= self.repeats <= 10_000:
            raise InputError("--repeats is between 0 and 10000")
        if any(not 0 < w <= 31 * 86_400 for w in self.sweep):
            raise InputError("--sweep windows are seconds, between 0 and 31 days")

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["networks"] = list(self.networks)
        d["sweep"] = list(self.sweep)
        d.update(
            version=VERSION,
            parser=PARSER_VERSION,
            minhash={"num_perm": NUM_PERM, "seed": 1, "lsh_weights": list(LSH_WEIGHTS)},
            libraries={k: _version(k) for k in ("numpy", "networkx", "datasketch")},
            text_normalisation="cnt" if self.weight == "cnt" else "tequio",
            min_participation=2 if self.weight == "pairs" else 0,
        )
        return d


def _version(name: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return "unknown"


@dataclass
class Result:
    findings: dict[str, Any]
    posts: Posts
    edges: dict[str, Edges]
    kept: dict[str, Kept]
    comms: list[Community]
    evidence: list[list[Evidence]]
    inputs: list[InputRecord] = field(default_factory=list)


def load_allowlist(path: Path) -> frozenset[str]:
    """Known activist and NGO accounts: one user id or @handle a line; # starts a comment."""
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise InputError(f"cannot read the allowlist {path.name}: {e.strerror}") from None
    if len(raw) > 16 << 20:
        raise InputError("the allowlist is over 16 MiB")
    names = set()
    for line in raw.decode("utf-8", "replace").splitlines():
        t = line.split("#", 1)[0].strip() if not line.strip().startswith("@") else line.strip().split()[0]
        if t:
            names.add(t.lstrip("@").casefold())
    return frozenset(names)


def _sweep_table(
    shares: dict[str, Shares],
    params: Params,
    main_kept: dict[str, Kept],
    flagged: set[int],
    progress: Progress,
) -> list[dict[str, Any]]:
    windows = sorted(set(params.sweep) | {params.window})
    weights = sorted({params.min_weight, params.min_weight + 2, params.min_weight * 2})
    rows = []
    with progress("window sweep", len(windows) * len(shares), "steps") as step:
        done = 0
        for w in windows:
            edges: dict[str, Edges | None] = {}
            for name, sh in shares.items():
                if w == params.window:
                    edges[name] = None
                else:
                    edges[name] = compute_edges(
                        sh, name, w, params.weight, params.min_weight, 2 if params.weight == "pairs" else 0
                    )
                done += 1
                step(done)
            for mw in weights:
                kept = [
                    keep_edges(e, mw, params.percentile, params.min_symmetry)
                    if e is not None
                    else _rethreshold(main_kept[n], mw)
                    for n, e in edges.items()
                ]
                comms = communities(kept, params.seed)
                accounts = {u for c in comms for u in c.members}
                union = accounts | flagged
                rows.append(
                    {
                        "window": w,
                        "min_weight": mw,
                        "edges": int(sum(len(k.a) for k in kept)),
                        "clusters": len(comms),
                        "accounts": len(accounts),
                        "flagged_found": len(accounts & flagged),
                        "jaccard_with_main": round(len(accounts & flagged) / len(union), 3) if union else 1.0,
                    }
                )
    return rows


def _rethreshold(k: Kept, mw: int) -> Kept:
    sel = k.strength >= mw
    return Kept(
        k.name, k.a[sel], k.b[sel], k.strength[sel], k.symmetry[sel], k.percentile_value, mw, int(sel.sum())
    )


def analyze(
    paths: Sequence[Path],
    params: Params,
    mapping: Mapping | None = None,
    allowlist: frozenset[str] = frozenset(),
    progress: Progress = _no_progress,
) -> Result:
    params.check()
    builder = PostsBuilder(
        "cnt" if params.weight == "cnt" else "tequio", want_words="co_similar" in params.networks
    )
    inputs = []
    for path in paths:
        size = path.stat().st_size if path.exists() else None
        with progress(f"reading {path.name}", size, "bytes") as bar:
            inputs.append(load_file(path, params.format, builder, mapping, bar))
    posts = builder.build()
    if len(posts) == 0:
        skipped = sum(sum(r.skipped.values()) for r in inputs)
        raise InputError(f"no posts could be read ({skipped} rows skipped): check --format or --map")
    shares: dict[str, Shares] = {}
    similar_info: dict[str, Any] = {}
    with progress("coordination tests", len(params.networks), "tests") as bar:
        edges: dict[str, Edges] = {}
        for k, name in enumerate(params.networks):
            if name == "co_similar":
                sg = similar_groups(posts, params.similarity)
                similar_info = {
                    "groups": int(sg.group.max(initial=-1)) + 1,
                    "pairs": len(sg.pairs),
                    "candidates": sg.candidates,
                }
                shares[name] = build_shares(posts, name, (sg.group, sg.pairs))
            else:
                shares[name] = build_shares(posts, name)
            edges[name] = compute_edges(
                shares[name],
                name,
                params.window,
                params.weight,
                params.min_weight,
                2 if params.weight == "pairs" else 0,
            )
            bar(k + 1)
    kept = {
        n: keep_edges(e, params.min_weight, params.percentile, params.min_symmetry) for n, e in edges.items()
    }
    comms = communities(list(kept.values()), params.seed)
    members_all = sorted({u for c in comms for u in c.members})
    cues = account_cues(posts, members_all)
    allowed = {u for u in members_all if _allowed(posts, u, allowlist)}
    with progress("chance (null model)", None, "steps") as bar:
        null = cluster_pvalues(
            {n: shares[n] for n in params.networks},
            comms,
            posts.n_users,
            params.window,
            params.weight,
            params.null,
            params.repeats,
            params.seed,
            posts.user.astype(np.int64),
            posts.time_ms,
        )
        bar(1)
    # N1's look-elsewhere correction: a cluster of k accounts was picked among all the ways of
    # joining k accounts through the M pairs that shared anything (at most M^(k-1)/(k-1)!), so the
    # Poisson tail of its statistic around the null mean is multiplied by that (Bonferroni)
    candidates = [sum(_candidate_pairs(edges[n]) for n in c.networks) for c in comms]
    adjusted = [
        look_elsewhere(obs, max(mean, 3.0 / (params.repeats + 1)), m, len(c.members))  # 0 hits: rule of 3
        for obs, mean, m, c in zip(null.observed, null.null_mean, candidates, comms, strict=True)
    ]
    # a finding names people: the look-elsewhere chance must stay under alpha / 50 (0.001 by default)
    q = [max(a, min(1.0, b * STRICT)) for a, b in zip(bh_qvalues(null.p), adjusted, strict=True)]
    rng = np.random.default_rng(params.seed)
    evidence = [
        [collect_evidence(posts, shares[n], n, c.members, params.window, rng) for n in c.networks]
        for c in comms
    ]
    counts = np.bincount(posts.user, minlength=posts.n_users)
    total = len(posts)
    clusters, accounts = [], {}
    for idx, c in enumerate(comms):
        cid = idx + 1
        n_allowed = sum(1 for u in c.members if u in allowed)
        cue_majority = sum(1 for u in c.members if len(cues[u]) >= 2) * 2 > len(c.members)
        tier, rule = tier_of(
            len(c.members),
            n_allowed,
            len(c.networks),
            null.p[idx],
            q[idx],
            cue_majority,
            params.alpha,
            params.repeats,
        )
        why = tier_reason(rule, q[idx], len(c.networks), cue_majority, n_allowed, len(c.members))
        share = float(counts[c.members].sum()) / total
        sentence = cluster_sentences(
            len(c.members),
            evidence[idx],
            params.window,
            null.p[idx],
            null.exceeded[idx],
            params.repeats,
            params.null,
            share,
            total,
            tier,
            rule,
            why,
        )
        verdict = (
            "coordinated, possibly organic"
            if rule == "T4"
            else ("coordinated" if tier != "low" else "possibly chance")
        )
        clusters.append(
            {
                "id": cid,
                "accounts": [posts.users[u] for u in c.members],
                "tier": tier,
                "tier_rule": rule,
                "verdict": verdict,
                "networks": c.networks,
                "p_value": round(null.p[idx], 6),
                "q_value": round(q[idx], 6),
                "p_adjusted": float(f"{adjusted[idx]:.3g}"),
                "candidate_pairs": candidates[idx],
                "null": {
                    "rule": "N1",
                    "method": params.null,
                    "repeats": params.repeats,
                    "observed": null.observed[idx],
                    "null_mean": round(null.null_mean[idx], 3),
                    "null_var": round(null.null_var[idx], 3),
                    "exceeded": null.exceeded[idx],
                },
                "share_of_volume": round(share, 6),
                "posts": int(counts[c.members].sum()),
                "allowlisted": sorted(posts.users[u] for u in c.members if u in allowed),
                "shared_objects": _top_objects(evidence[idx]),
                "time_gaps": {ev.network: _gap_summary(ev) for ev in evidence[idx]},
                "active": _active(evidence[idx]),
                "edges": {
                    n: [[posts.users[a], posts.users[b], w] for a, b, w in es] for n, es in c.edges.items()
                },
                "explanation": sentence,
                "why_tier": {"es": why[0], "en": why[1]},
            }
        )
        for u in c.members:
            flags: list[dict[str, Any]] = []
            for ev in evidence[idx]:
                strongest = max((w for a, b, w in c.edges.get(ev.network, []) if u in (a, b)), default=0)
                if strongest:
                    kn = kept[ev.network]
                    flags.append(
                        network_flag(
                            posts,
                            ev,
                            u,
                            cid,
                            params.window,
                            params.min_weight,
                            params.percentile,
                            kn.percentile_value,
                            strongest,
                        )
                    )
            flags.extend(cue.to_json() for cue in cues[u])
            if u in allowed:
                flags.append(
                    {
                        "rule": "T4",
                        "threshold": "on the allowlist",
                        "observed": "on the allowlist",
                        "sentence": {
                            "es": "Está en su lista de activistas y ONG conocidas: "
                            "coordinada, posiblemente orgánica.",
                            "en": "On your allowlist of known activists and NGOs: "
                            "coordinated, possibly organic.",
                        },
                    }
                )
            accounts[posts.users[u]] = {
                "usernames": posts.usernames[u],
                "cluster": cid,
                "tier": tier,
                "posts": int(counts[u]),
                "flags": flags,
            }
    flagged = {
        u
        for c, cl in zip(comms, clusters, strict=True)
        if cl["tier"] in ("high", "medium")
        for u in c.members
        if u not in allowed
    }
    sensitivity = _sweep_table(shares, params, kept, flagged, progress) if params.sweep else []
    flagged_share = float(counts[sorted(flagged)].sum()) / total if flagged else 0.0
    tiers = {t: sum(1 for c in clusters if c["tier"] == t) for t in ("high", "medium", "low")}
    findings = {
        "input": [r.to_json() for r in inputs],
        "parameters": params.to_json() | {"allowlist_entries": len(allowlist)},
        "networks": {
            n: {
                "rule": RULES[n],
                "window": params.window,
                "weight": params.weight,
                "directed": params.weight == "cnt",
                "min_weight": params.min_weight,
                "percentile": params.percentile,
                "percentile_value": kept[n].percentile_value,
                "candidate_edges": kept[n].candidates,
                "dropped_by_percentile": kept[n].dropped_percentile,
                "dropped_by_symmetry": kept[n].dropped_symmetry,
                "kept_edges": len(kept[n].a),
                "edges": _edge_list(posts, e, params.weight),
                **({"near_duplicates": similar_info} if n == "co_similar" else {}),
            }
            for n, e in edges.items()
        },
        "clusters": clusters,
        "accounts": accounts,
        "summary": {
            "posts": total,
            "accounts": posts.n_users,
            "first_post": iso(int(posts.time_ms.min())),
            "last_post": iso(int(posts.time_ms.max())),
            "clusters": tiers,
            "flagged_accounts": len(flagged),
            "flagged_share_of_volume": round(flagged_share, 6),
            "sentence": _summary_sentence(total, posts.n_users, tiers, len(flagged), flagged_share),
        },
        "sensitivity": sensitivity,
    }
    return Result(findings, posts, edges, kept, comms, evidence, inputs)


def _candidate_pairs(e: Edges) -> int:
    """Pairs of accounts that shared anything within the window in this test (any weight)."""
    n = int(e.hist.sum())
    return n // 2 if e.weight == "cnt" else n  # cnt counts both directions


def look_elsewhere(observed: int, mean: float, pairs: int, size: int) -> float:
    """P(X >= observed) for X ~ Poisson(mean), times the M^(k-1)/(k-1)! clusters of that size the
    M candidate pairs allow; computed in logarithms (a strong campaign's tail underflows to 0)."""
    from scipy.special import gammainc, gammaln

    if observed <= 0:
        return 1.0
    tail = float(gammainc(observed, mean))
    if tail <= 0.0:
        return 0.0
    log_family = (size - 1) * math.log(max(pairs, 1)) - float(gammaln(size))
    return min(1.0, math.exp(min(0.0, math.log(tail) + log_family)))


def _allowed(posts: Posts, u: int, allowlist: frozenset[str]) -> bool:
    if not allowlist:
        return False
    return posts.users[u].casefold() in allowlist or any(
        n.casefold() in allowlist for n in posts.usernames[u]
    )


def _edge_list(posts: Posts, e: Edges, weight: str) -> list[list[Any]]:
    users = posts.users
    if weight == "cnt":
        order = np.lexsort((e.dst, e.src)) if len(e.src) else np.zeros(0, np.int64)
        trip = sorted(
            (
                [users[a], users[b], int(w)]
                for a, b, w in zip(e.src[order], e.dst[order], e.w[order], strict=True)
            )
        )
        return trip
    return sorted(
        [users[a], users[b], int(w)] if users[a] <= users[b] else [users[b], users[a], int(w)]
        for a, b, w in zip(e.pa, e.pb, e.pw, strict=True)
    )


def _top_objects(evs: list[Evidence]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for ev in evs:
        for label, n in ev.objects.most_common(20):
            rows.append(
                {
                    "network": ev.network,
                    "rule": RULES[ev.network],
                    "object": label,
                    "pairs": n,
                    "accounts": len(ev.object_accounts[label]),
                }
            )
    rows.sort(key=lambda r: (-r["accounts"], -r["pairs"], r["network"], r["object"]))
    return rows[:40]


def _gap_summary(ev: Evidence) -> dict[str, Any]:
    if not ev.gaps:
        return {"pairs": 0}
    g = np.array(ev.gaps)
    return {
        "pairs": ev.pairs,
        "min_seconds": round(float(g.min()), 3),
        "median_seconds": round(float(np.median(g)), 3),
        "p90_seconds": round(float(np.quantile(g, 0.9)), 3),
        "max_seconds": round(float(g.max()), 3),
        "sample": [round(x, 3) for x in ev.gaps[:: max(1, len(ev.gaps) // 200)]],
    }


def _active(evs: list[Evidence]) -> dict[str, str]:
    firsts = [ev.first_ms for ev in evs if ev.pairs]
    lasts = [ev.last_ms for ev in evs if ev.pairs]
    return {"first": iso(min(firsts)), "last": iso(max(lasts))} if firsts else {}


def _summary_sentence(
    total: int, users: int, tiers: dict[str, int], flagged: int, share: float
) -> dict[str, str]:
    n = tiers["high"] + tiers["medium"]
    return {
        "es": (
            f"{total} publicaciones de {users} cuentas. {n} grupos coordinados de nivel alto o medio "
            f"({tiers['high']} alto, {tiers['medium']} medio; {tiers['low']} de nivel bajo, que pueden ser "
            f"coincidencia u orgánicos): {flagged} cuentas, que escribieron el {pct(share)} del total. "
            "Esto no dice que sean bots: dice que actuaron juntas más de lo que explica el azar."
        ),
        "en": (
            f"{total} posts by {users} accounts. {n} coordinated clusters of tier high or medium "
            f"({tiers['high']} high, {tiers['medium']} medium; {tiers['low']} low, which may be chance or "
            f"organic): {flagged} accounts, who wrote {pct(share)} of the total. This does not say they are "
            "bots: it says they acted together more than chance explains."
        ),
    }

"""Explanations for people: the posts and times behind every flag, cluster cards, sentences in es/en.

Every flag names its rule (B1-B8, W2-W4, N1, A1-A6, T1-T4), the threshold, the observed value and
the posts that triggered it, so that a reader can check it against the export by hand.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .networks import OBJECTS, RULES, Shares, share_pairs
from .posts import Posts

__all__ = ["Evidence", "collect_evidence", "iso", "network_flag", "object_label", "pct"]

EXAMPLES = 5  # posts shown per flag
TOP_OBJECTS = 20
GAP_SAMPLE = 5000


def iso(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def pct(x: float) -> str:
    return f"{100 * x:.1f}".rstrip("0").rstrip(".") + " %"


def object_label(posts: Posts, network: str, obj: int, post: int) -> str:
    if network in ("co_retweet", "co_reply"):
        return "post " + posts.ref_ids[obj]
    if network == "co_tweet":
        return posts.texts[obj]
    if network == "co_link":
        return posts.url_values[obj]
    if network == "co_hashtag":
        return "#" + posts.hashtag_values[obj]
    if network == "co_mention":
        return "@" + posts.mention_values[obj]
    if network == "co_similar":
        return posts.excerpt(post)
    return ""


@dataclass
class Evidence:
    """What the members of one cluster did together in one network."""

    network: str
    pairs: int = 0
    gaps: list[float] = field(default_factory=list)  # seconds, a sample
    objects: Counter[str] = field(default_factory=Counter)  # label -> matching pairs
    object_accounts: dict[str, set[int]] = field(default_factory=lambda: defaultdict(set))
    partners: dict[int, set[int]] = field(default_factory=lambda: defaultdict(set))
    account_pairs: Counter[int] = field(default_factory=Counter)
    examples: dict[int, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    first_ms: int = 0
    last_ms: int = 0


def collect_evidence(
    posts: Posts, sh: Shares, network: str, members: list[int], window: float, rng: np.random.Generator
) -> Evidence:
    """Every matching pair of posts between members (once per object), summarised."""
    ev = Evidence(network)
    sel = np.isin(sh.user, np.array(members))
    if not sel.any():
        return ev
    grp = sh.grp[sel] if sh.grp is not None else None
    mine = Shares.of(sh.post[sel], sh.obj[sel], sh.time[sel], sh.post_user, grp, sh.n_self)
    gaps: list[np.ndarray] = []
    times: list[np.ndarray] = []
    window_ms = round(window * 1000)
    for i, j in share_pairs(mine, window_ms):
        once = i < j
        i, j = i[once], j[once]
        if network == "co_similar":  # one pair of posts once, over virtual objects
            _, first = np.unique(mine.post[i] * np.int64(1 << 31) + mine.post[j], return_index=True)
            i, j = i[first], j[first]
        ev.pairs += len(i)
        gaps.append(np.abs(mine.time[j] - mine.time[i]) / 1000.0)
        times.append(mine.time[i])
        for a, b in zip(i.tolist(), j.tolist(), strict=True):
            ua, ub = int(mine.user[a]), int(mine.user[b])
            pa, pb = int(mine.post[a]), int(mine.post[b])
            label = object_label(posts, network, int(mine.obj[a]), pa)
            ev.objects[label] += 1
            ev.object_accounts[label].update((ua, ub))
            ev.partners[ua].add(ub)
            ev.partners[ub].add(ua)
            ev.account_pairs[ua] += 1
            ev.account_pairs[ub] += 1
            for me, mp, other, op in ((ua, pa, ub, pb), (ub, pb, ua, pa)):
                if len(ev.examples[me]) < EXAMPLES:
                    ev.examples[me].append(
                        {
                            "message_id": posts.message_id[mp],
                            "time": iso(int(posts.time_ms[mp])),
                            "object": label,
                            "partner": posts.users[other],
                            "partner_message_id": posts.message_id[op],
                            "partner_time": iso(int(posts.time_ms[op])),
                            "gap_seconds": abs(int(posts.time_ms[op]) - int(posts.time_ms[mp])) / 1000.0,
                        }
                    )
    if gaps:
        g = np.concatenate(gaps)
        if len(g) > GAP_SAMPLE:
            g = rng.choice(g, GAP_SAMPLE, replace=False)
        ev.gaps = sorted(float(x) for x in g)
        t = np.concatenate(times)
        ev.first_ms, ev.last_ms = int(t.min()), int(t.max())
    return ev


def network_flag(
    posts: Posts,
    ev: Evidence,
    user: int,
    cluster_id: int,
    window: float,
    min_weight: int,
    percentile: float,
    percentile_value: float,
    weight: int,
) -> dict[str, Any]:
    """One account's flag for one network: rule, threshold, observed, posts, sentences."""
    rule = RULES[ev.network]
    obj_es, obj_en = OBJECTS[ev.network]
    partners = len(ev.partners.get(user, ()))
    times = ev.account_pairs.get(user, 0)
    w = f"{window:g}"
    return {
        "rule": rule,
        "network": ev.network,
        "threshold": {
            "window_seconds": window,
            "min_weight": min_weight,
            "percentile": percentile,
            "percentile_value": percentile_value,
        },
        "observed": {"strongest_edge_weight": weight, "partners": partners, "matching_pairs": times},
        "evidence": ev.examples.get(user, []),
        "sentence": {
            "es": (
                f"Compartió {obj_es} con {partners} otras cuentas del grupo {cluster_id} con menos de {w} "
                f"segundos de diferencia, {times} veces (regla {rule}); su vínculo más fuerte pesa {weight} "
                f"(mínimo {min_weight}, y por encima del percentil {percentile:g}: {percentile_value:g})."
            ),
            "en": (
                f"Shared {obj_en} with {partners} other accounts of cluster {cluster_id} within {w} seconds "
                f"of each other, {times} times (rule {rule}); its strongest edge weighs {weight} (at least "
                f"{min_weight}, and above the {percentile:g} percentile: {percentile_value:g})."
            ),
        },
    }


def cluster_sentences(
    size: int,
    evidences: list[Evidence],
    window: float,
    p: float,
    exceeded: int,
    repeats: int,
    method: str,
    share: float,
    total_posts: int,
    tier: str,
    rule: str,
    why: tuple[str, str],
) -> dict[str, str]:
    w = f"{window:g}"
    parts_es, parts_en = [], []
    for ev in evidences:
        obj_es, obj_en = OBJECTS[ev.network]
        r = RULES[ev.network]
        parts_es.append(f"compartieron {obj_es} con menos de {w} s de diferencia {ev.pairs} veces ({r})")
        parts_en.append(f"shared {obj_en} within {w} s of each other {ev.pairs} times ({r})")
    null_es = (
        "sus propias publicaciones redistribuidas al azar" if method == "rewire" else "sus horas barajadas"
    )
    null_en = "their own posts redrawn at random" if method == "rewire" else "their times shuffled"
    tier_es = {"high": "alto", "medium": "medio", "low": "bajo"}[tier]
    return {
        "es": (
            f"{size} cuentas actuaron juntas: {'; '.join(parts_es)}. En {repeats} repeticiones con "
            f"{null_es}, el azar llegó a este nivel {exceeded} veces (p = {p:.3g}, regla N1). "
            f"Escribieron el {pct(share)} de las {total_posts} publicaciones del archivo. "
            f"Nivel {tier_es} ({rule}): {why[0]}"
        ),
        "en": (
            f"{size} accounts acted together: {'; '.join(parts_en)}. In {repeats} repeats with {null_en}, "
            f"chance reached this level {exceeded} times (p = {p:.3g}, rule N1). They wrote "
            f"{pct(share)} of the {total_posts} posts in this export. Tier {tier} ({rule}): {why[1]}"
        ),
    }


def tier_reason(
    rule: str, q: float, networks: int, cue_majority: bool, allowlisted: int, size: int
) -> tuple[str, str]:
    if rule == "T4":
        return (
            f"coordinadas, posiblemente orgánicas: {allowlisted} de {size} cuentas están en su lista de "
            "cuentas conocidas de activistas y ONG.",
            f"coordinated, possibly organic: {allowlisted} of {size} accounts are on your allowlist of known "
            "activist and NGO accounts.",
        )
    if rule == "T1":
        extra_es = (
            f"halladas por {networks} pruebas" if networks >= 2 else "con señales de cuenta en la mayoría"
        )
        extra_en = f"found by {networks} tests" if networks >= 2 else "with account cues on most members"
        return (
            f"más allá del azar tras corregir por todos los pares de cuentas y grupos (q = {q:.3g}), "
            f"nunca igualado por el "
            f"azar, {extra_es}.",
            f"beyond chance after correcting for every pair of accounts and cluster (q = {q:.3g}), "
            f"never matched by chance, "
            f"{extra_en}.",
        )
    if rule == "T2":
        return (
            f"más allá del azar tras corregir por todos los pares de cuentas y grupos (q = {q:.3g}); "
            f"una sola prueba o "
            f"pocas cuentas.",
            f"beyond chance after correcting for every pair of accounts and cluster (q = {q:.3g}); one "
            f"test only, or few accounts.",
        )
    return (
        f"no claramente más allá del azar (q = {q:.3g}): puede ser coincidencia.",
        f"not clearly beyond chance (q = {q:.3g}): this may be coincidence.",
    )

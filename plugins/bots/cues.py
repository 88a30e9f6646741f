"""Account cues (A1-A6): supporting evidence only, never a verdict on their own.

Each is weak: real people post a lot, organisations use schedulers, new accounts are made for good
reasons. They are reported for accounts already in a coordination cluster, and a tier counts them
only when most members show two or more.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import numpy as np

from .posts import Posts

__all__ = ["CUES", "Cue", "account_cues"]

DAY_MS = 86_400_000
RATE = 72  # posts a day: the DFRLab's rule of thumb for automation
BURST = 5  # posts in any 60 seconds
BURST_MS = 60_000
REGULAR_CV = 0.25  # gaps between posts this regular (coefficient of variation), over >= 10 gaps
REGULAR_MIN_GAPS = 10
YOUNG_DAYS = 30
CLIENT_MARKERS = (
    "bot",
    "api",
    "ifttt",
    "zapier",
    "dlvr.it",
    "twitterfeed",
    "autom",
    "python",
    "tweepy",
    "integromat",
)
SCHEDULERS = ("hootsuite", "buffer", "tweetdeck", "sprout", "later", "socialbee", "meta business")

CUES = {
    "A1": ("ritmo de publicación", "posting rate"),
    "A2": ("ráfaga en un minuto", "burst within a minute"),
    "A3": ("intervalos regulares", "regular gaps"),
    "A4": ("cuenta reciente", "young account"),
    "A5": ("cambios de nombre", "handle changes"),
    "A6": ("aplicación de publicación", "posting client"),
}


@dataclass
class Cue:
    rule: str
    threshold: Any
    observed: Any
    note: tuple[str, str] = ("", "")  # es, en

    def to_json(self) -> dict[str, Any]:
        es, en = CUES[self.rule]
        return {
            "rule": self.rule,
            "cue": {"es": es, "en": en},
            "threshold": self.threshold,
            "observed": self.observed,
            "weak": True,
            "sentence": {"es": self.note[0], "en": self.note[1]},
        }


def account_cues(posts: Posts, users: list[int]) -> dict[int, list[Cue]]:
    """The cues each of these accounts shows (empty list: none)."""
    out: dict[int, list[Cue]] = {u: [] for u in users}
    if not users:
        return out
    want = np.isin(posts.user, np.array(users))
    idx = np.flatnonzero(want)
    idx = idx[np.lexsort((posts.time_ms[idx], posts.user[idx]))]
    owners = posts.user[idx]
    bounds = np.flatnonzero(np.r_[True, owners[1:] != owners[:-1], True])
    for a, b in itertools.pairwise(bounds):
        u = int(owners[a])
        t = posts.time_ms[idx[a:b]]
        cues = out[u]
        n = len(t)
        days = max((int(t[-1]) - int(t[0])) / DAY_MS, 1.0)
        rate = n / days
        if rate > RATE:
            cues.append(
                Cue(
                    "A1",
                    RATE,
                    round(rate, 1),
                    (
                        f"{rate:.0f} publicaciones al día (más de {RATE}); mucha gente activa también "
                        f"lo hace.",
                        f"{rate:.0f} posts a day (over {RATE}); many active people do that too.",
                    ),
                )
            )
        if n >= BURST:
            ends = np.searchsorted(t, t + BURST_MS, side="right")
            most = int((ends - np.arange(n)).max())
            if most >= BURST:
                cues.append(
                    Cue(
                        "A2",
                        BURST,
                        most,
                        (
                            f"{most} publicaciones en un mismo minuto.",
                            f"{most} posts within one minute.",
                        ),
                    )
                )
        gaps = np.diff(t).astype(np.float64)
        if len(gaps) >= REGULAR_MIN_GAPS and gaps.mean() > 0:
            cv = float(gaps.std() / gaps.mean())
            if cv < REGULAR_CV:
                cues.append(
                    Cue(
                        "A3",
                        REGULAR_CV,
                        round(cv, 3),
                        (
                            f"intervalos casi constantes entre publicaciones (variación {cv:.2f}); "
                            "los programadores de publicaciones también lo hacen.",
                            f"nearly constant gaps between posts (variation {cv:.2f}); schedulers do "
                            f"that too.",
                        ),
                    )
                )
        created = int(posts.created_ms[u])
        if created > 0:
            age = (float(np.median(t)) - created) / DAY_MS
            if age < YOUNG_DAYS:
                cues.append(
                    Cue(
                        "A4",
                        YOUNG_DAYS,
                        round(age, 1),
                        (
                            f"la cuenta tenía {age:.0f} días al publicar (menos de {YOUNG_DAYS}).",
                            f"the account was {age:.0f} days old when posting (under {YOUNG_DAYS}).",
                        ),
                    )
                )
        names = posts.usernames[u]
        if len(names) >= 2:
            cues.append(
                Cue(
                    "A5",
                    2,
                    len(names),
                    (
                        f"{len(names)} nombres de usuario distintos en este archivo.",
                        f"{len(names)} different handles in this export.",
                    ),
                )
            )
        clients = {posts.client_values[c] for c in posts.client[idx[a:b]].tolist() if c >= 0}
        marked = sorted(c for c in clients if any(m in c.lower() for m in CLIENT_MARKERS))
        scheduled = sorted(c for c in clients if any(m in c.lower() for m in SCHEDULERS))
        if marked or scheduled:
            shown = ", ".join((marked + scheduled)[:3])
            cues.append(
                Cue(
                    "A6",
                    "automation or scheduling client",
                    shown,
                    (
                        f"publicó con {shown}; las organizaciones también usan programadores (señal débil).",
                        f"posted with {shown}; organisations use schedulers too (a weak signal).",
                    ),
                )
            )
    return out

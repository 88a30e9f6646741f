"""A planted-campaign benchmark: random organic posting, three coordinated groups acting within the
window, a group doing the same things beyond it, and an organic mobilisation as a control.

Used by the tests (small sizes, several seeds) and by ``bench/bots.py`` (5,000 users, 200,000 random
posts over 7 days, and the campaign: about 211,000 posts). The file is CNT's CSV layout, so CNT and
this plugin read the very same bytes.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["Benchmark", "make_benchmark", "write_csv"]

START = 1_767_225_600  # 2026-01-01T00:00:00Z
HEADER = ["message_id", "user_id", "username", "repost_id", "reply_id", "message", "timestamp", "urls"]


@dataclass
class Benchmark:
    rows: list[list[str]]
    coordinated: set[str] = field(default_factory=set)  # acting within the window: should be found
    beyond: set[str] = field(default_factory=set)  # the same actions, spaced beyond the window
    organic_control: set[str] = field(default_factory=set)  # one hashtag within minutes, no repeats
    ngos: set[str] = field(default_factory=set)  # coordinated on purpose, and allowlisted
    groups: dict[str, set[str]] = field(default_factory=dict)


class _Gen:
    def __init__(self, seed: int, n_words: int = 4000) -> None:
        self.rng = np.random.default_rng(seed)
        self.rows: list[list[str]] = []
        self.next_id = 10_000_000
        syll = [
            "la",
            "ma",
            "to",
            "ne",
            "ri",
            "so",
            "ca",
            "pe",
            "lu",
            "di",
            "mo",
            "ta",
            "vi",
            "ga",
            "ro",
            "ze",
        ]
        r = np.random.default_rng(12345)  # the vocabulary is the same in every seed
        self.words = ["".join(r.choice(syll, size=int(k))) for k in r.integers(2, 5, n_words)]
        self.word_cdf = np.cumsum(_zipf(n_words, 1.05, r))

    def pick(self, cdf: np.ndarray, k: int | None = None) -> Any:
        """Indices drawn with the probabilities whose running sum is ``cdf`` (fast for many draws)."""
        x = self.rng.random(k) * cdf[-1] if k is not None else self.rng.random() * cdf[-1]
        return np.minimum(np.searchsorted(cdf, x, side="right"), len(cdf) - 1)

    def mid(self) -> str:
        self.next_id += int(self.rng.integers(1, 50))
        return str(self.next_id)

    def text(self, n: int | None = None) -> list[str]:
        k = int(n if n is not None else self.rng.integers(8, 21))
        return [self.words[i] for i in self.pick(self.word_cdf, k)]

    def post(
        self, user: str, t: float, repost: str = "", reply: str = "", text: str = "", urls: str = ""
    ) -> str:
        m = self.mid()
        self.rows.append([m, user, user, repost, reply, text, str(int(t)), urls])
        return m


def _zipf(n: int, s: float, rng: np.random.Generator) -> np.ndarray:
    w = 1.0 / np.arange(1, n + 1) ** s
    w = w[rng.permutation(n)]
    return w / w.sum()


def _diurnal_times(rng: np.random.Generator, n: int, days: float) -> np.ndarray:
    span = days * 86_400
    out = np.empty(0)
    while len(out) < n:
        t = rng.uniform(0, span, size=2 * n)
        keep = rng.uniform(0, 1, size=2 * n) < 0.55 + 0.45 * np.sin(2 * np.pi * (t / 86_400 - 0.3))
        out = np.concatenate([out, t[keep]])
    return START + np.sort(out[:n])


def make_benchmark(
    seed: int,
    n_users: int = 5000,
    n_posts: int = 200_000,
    days: float = 7.0,
    group_size: int = 40,
    events: int = 40,
    control: int = 1000,
    ngos: int = 0,
) -> Benchmark:
    """Organic posts first (originals, retweets of popular originals, replies), then the campaign."""
    g = _Gen(seed)
    rng = g.rng
    users = [f"user{i:05d}" for i in range(n_users)]
    activity = rng.lognormal(0.0, 1.1, n_users)
    activity /= activity.sum()
    n_orig = int(n_posts * 0.6)
    n_rt = int(n_posts * 0.3)
    n_reply = n_posts - n_orig - n_rt
    hashtags = [f"tema{i}" for i in range(300)]
    tag_cdf = np.cumsum(_zipf(300, 1.1, rng))
    links = [f"https://noticias{i % 400}.example/nota/{i}" for i in range(3000)]
    link_cdf = np.cumsum(_zipf(3000, 1.0, rng))
    mention_cdf = np.cumsum(activity)
    times = _diurnal_times(rng, n_orig, days)
    authors = rng.choice(n_users, size=n_orig, p=activity)
    originals: list[tuple[str, float]] = []
    for t, a in zip(times, authors, strict=True):
        words = g.text()
        urls = ""
        if rng.random() < 0.2:
            words.append("#" + hashtags[g.pick(tag_cdf)])
        if rng.random() < 0.15:
            urls = links[g.pick(link_cdf)]
            words.append(urls)
        if rng.random() < 0.1:
            words.insert(0, "@" + users[g.pick(mention_cdf)])
        originals.append((g.post(users[a], t, text=" ".join(words), urls=urls), float(t)))
    pop = _zipf(len(originals), 1.1, rng)
    end = START + days * 86_400
    done: set[tuple[int, int]] = set()
    for kind, n, mean in (("rt", n_rt, 7200.0), ("reply", n_reply, 3600.0)):
        targets = rng.choice(len(originals), size=n, p=pop)
        who = rng.choice(n_users, size=n, p=activity)
        delays = rng.exponential(mean, size=n)
        for o, a, d in zip(targets, who, delays, strict=True):
            if (int(o), int(a)) in done:
                a = rng.integers(n_users)  # one retweet of a post per account
            done.add((int(o), int(a)))
            oid, ot = originals[int(o)]
            t = min(ot + 1 + d, end)
            if kind == "rt":
                g.post(users[int(a)], t, repost=oid)
            else:
                g.post(users[int(a)], t, reply=oid, text=" ".join(g.text(int(rng.integers(5, 15)))))
    bench = Benchmark([])
    _campaign(g, bench, users, days, group_size, events)
    _control(g, bench, days, control)
    if ngos:
        _ngos(g, bench, ngos, days)
    bench.rows = g.rows
    return bench


def _burst_times(g: _Gen, days: float, n: int) -> np.ndarray:
    return START + np.sort(g.rng.uniform(3600, days * 86_400 - 3600, size=n))


def _campaign(g: _Gen, b: Benchmark, users: list[str], days: float, size: int, events: int) -> None:
    rng = g.rng
    amp = [f"amp{i:03d}" for i in range(size)]
    copy = [f"eco{i:03d}" for i in range(size)]
    flood = [f"acoso{i:03d}" for i in range(size)]
    late = [f"tarde{i:03d}" for i in range(size)]
    seeds = ["fuente1", "fuente2", "fuente3"]
    b.groups = {"amplify": set(amp), "copypasta": set(copy), "reply_flood": set(flood)}
    b.coordinated = set(amp) | set(copy) | set(flood)
    b.beyond = set(late)
    for acct in amp + copy + flood + late:  # they also post like anyone, now and then
        for t in _burst_times(g, days, int(rng.integers(2, 12))):
            g.post(acct, t, text=" ".join(g.text()))
    # Amplifiers: retweet each campaign post within 40 s of each other, then push campaign links.
    for t in _burst_times(g, days, int(events * 1.5)):
        oid = g.post(str(rng.choice(seeds)), t, text=" ".join(g.text()) + " #versionoficial")
        trigger = t + rng.uniform(60, 600)
        for acct in amp:
            if rng.random() < 0.9:
                g.post(acct, trigger + rng.uniform(0, 40), repost=oid)
        for acct in late:  # the same posts, each account on its own, minutes to hours later
            if rng.random() < 0.9:
                g.post(acct, trigger + rng.uniform(900, 6 * 3600), repost=oid)
    for t in _burst_times(g, days, max(events * 3 // 4, 3)):
        url = f"https://portal-oficial.example/articulo/{int(rng.integers(1_000_000))}?utm_source=tw{int(rng.integers(99))}"
        for acct in amp:
            if rng.random() < 0.85:
                g.post(acct, t + rng.uniform(0, 45), text=" ".join(g.text(6)) + " " + url, urls=url)
    # Copypasta: the same template with one word changed, and the campaign hashtag.
    for t in _burst_times(g, days, events):
        template = g.text(16)
        for acct in copy:
            if rng.random() < 0.9:
                words = list(template)
                words[int(rng.integers(len(words)))] = str(rng.choice(g.words))
                g.post(acct, t + rng.uniform(0, 50), text=" ".join(words) + " #LaVerdad")
    # Reply flooding: the activist posts, and the group answers within a minute, naming her.
    for t in _burst_times(g, days, events):
        oid = g.post("activista", t, text=" ".join(g.text()))
        for acct in flood:
            if rng.random() < 0.85:
                g.post(acct, t + rng.uniform(5, 50), reply=oid, text="@activista " + " ".join(g.text(7)))


def _control(g: _Gen, b: Benchmark, days: float, n: int) -> None:
    """Organic mobilisation: many people, one hashtag within minutes, their own words, once each."""
    rng = g.rng
    people = [f"marcha{i:04d}" for i in range(n)]
    b.organic_control = set(people)
    t0 = START + days * 86_400 * 0.6
    for acct in people:
        g.post(acct, t0 + rng.uniform(0, 600), text=" ".join(g.text()) + " #MarchaPorLaPaz")


def _ngos(g: _Gen, b: Benchmark, n: int, days: float) -> None:
    """A coalition of NGOs retweeting each other's alerts within minutes: coordinated, and organic."""
    rng = g.rng
    orgs = [f"ong{i:02d}" for i in range(n)]
    b.ngos = set(orgs)
    for t in _burst_times(g, days, 15):
        oid = g.post(orgs[int(rng.integers(n))], t, text="alerta " + " ".join(g.text()))
        for acct in orgs:
            g.post(acct, t + rng.uniform(30, 80), repost=oid)


def write_csv(bench: Benchmark, path: Path) -> None:
    """CNT's CSV layout, rows in time order (as an export would be)."""
    rows = sorted(bench.rows, key=lambda r: (int(r[6]), r[0]))
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(HEADER)
        w.writerows(rows)


def cnt_fixture(
    seed: int = 7, n_users: int = 120, n_posts: int = 3000, span: int = 6 * 3600
) -> list[list[str]]:
    """A small export built to exercise CNT's co-retweet, co-tweet and co-reply rules: a few popular
    posts, repeated phrases with @mentions and case changes (CNT drops both), replies to a few posts,
    duplicate message ids (the first one counts), and posts exactly one window apart."""
    rng = np.random.default_rng(seed)
    users = [f"u{i:03d}" for i in range(n_users)]
    phrases = [f"frase numero {i} sobre el tema {i % 7}" for i in range(40)]
    rows: list[list[str]] = []
    originals = [f"9{i:06d}" for i in range(30)]
    next_id = 1_000_000
    for _ in range(n_posts):
        next_id += 1
        u = users[int(rng.integers(n_users)) if rng.random() < 0.5 else int(rng.integers(20))]
        t = START + int(rng.integers(span))
        kind = rng.random()
        repost = reply = message = ""
        if kind < 0.4:
            repost = originals[int(rng.zipf(1.6)) % len(originals)]
        elif kind < 0.6:
            reply = originals[int(rng.integers(len(originals)))]
            message = "respuesta " + str(int(rng.integers(5)))
        else:
            p = phrases[int(rng.zipf(1.4)) % len(phrases)]
            if rng.random() < 0.3:
                p = p.upper()
            if rng.random() < 0.3:
                p = f"@{users[int(rng.integers(n_users))]} {p}"
            message = p
        rows.append([str(next_id), u, u, repost, reply, message, str(t), ""])
    # window edges: exactly 60 s apart (inside), 61 s apart (outside)
    for gap, a, b in ((60, "edge_a", "edge_b"), (61, "edge_c", "edge_d")):
        for k in range(3):
            t = START + span + 1000 * (k + 1) + gap * 10
            rows.append([f"e{gap}{k}a", a, a, f"8{k}", "", "", str(t), ""])
            rows.append([f"e{gap}{k}b", b, b, f"8{k}", "", "", str(t + gap), ""])
    # a repeated message id: CNT keeps the first row
    rows.append([rows[0][0], "dup_user", "dup_user", originals[0], "", "", rows[0][6], ""])
    return rows


def write_rows(rows: list[list[str]], path: Path) -> None:
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(HEADER)
        w.writerows(rows)

"""The five plots of a report, drawn with matplotlib's object API (no pyplot global state).

Volume and its acceleration over time, account creation dates, the coordination graph, time gaps
within clusters, and how the clusters change with the window.
"""

from __future__ import annotations

import datetime as dt
import io
from typing import Any

import numpy as np

from .analysis import Result

__all__ = ["PLOTS", "make_plots"]

PLOTS = ("volume", "account_creation", "graph", "time_gaps", "sensitivity")
_TIER_COLOURS = {"high": "#b2182b", "medium": "#ef8a62", "low": "#999999"}


def _figure(w: float = 8.0, h: float = 4.0) -> Any:
    from matplotlib.figure import Figure

    return Figure(figsize=(w, h), dpi=100, layout="constrained")


def _png(fig: Any) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})
    return buf.getvalue()


def _dates(ms: np.ndarray) -> list[dt.datetime]:
    return [dt.datetime.fromtimestamp(float(x) / 1000, dt.UTC) for x in ms]


def volume(r: Result) -> bytes:
    t = r.posts.time_ms
    span = float(t.max() - t.min())
    step = 600_000 if span < 2 * 86_400_000 else 3_600_000
    edges = np.arange(t.min() - t.min() % step, t.max() + step, step)
    counts, _ = np.histogram(t, bins=edges)
    flagged = {
        u
        for c, cl in zip(r.comms, r.findings["clusters"], strict=True)
        if cl["tier"] in ("high", "medium")
        for u in c.members
    }
    fcounts, _ = (
        np.histogram(t[np.isin(r.posts.user, list(flagged))], bins=edges)
        if flagged
        else (np.zeros(len(counts)), None)
    )
    fig = _figure(8, 4.5)
    ax, ax2 = fig.subplots(2, 1, sharex=True, height_ratios=[2, 1])
    x = _dates(edges[:-1])
    ax.plot(x, counts, color="#2166ac", lw=1, label="all posts / todas")
    ax.plot(x, fcounts, color="#b2182b", lw=1, label="flagged clusters / grupos señalados")
    ax.set_ylabel(f"posts per {step // 60_000} min")
    ax.legend(loc="upper left", fontsize=8)
    accel = np.diff(counts, n=2) if len(counts) > 2 else np.zeros(0)
    ax2.bar(x[1:-1], accel, width=step / 86_400_000 * 0.9, color="#666666")
    ax2.set_ylabel("acceleration")
    ax.set_title("Volume and its acceleration / Volumen y su aceleración")
    fig.autofmt_xdate()
    return _png(fig)


def account_creation(r: Result) -> bytes:
    created = r.posts.created_ms
    fig = _figure()
    ax = fig.subplots()
    known = created[created > 0]
    if len(known) == 0:
        ax.text(
            0.5,
            0.5,
            "No account creation dates in this export\nSin fechas de creación de cuentas",
            ha="center",
            va="center",
        )
        ax.set_axis_off()
        return _png(fig)
    members = np.array(sorted({u for c in r.comms for u in c.members}), dtype=np.int64)
    mem = created[members] if len(members) else np.zeros(0)
    mem = mem[mem > 0]
    days = np.floor(known / 86_400_000)
    bins = np.linspace(days.min(), days.max() + 1, min(60, max(int(days.max() - days.min()) + 1, 2)))
    ax.hist(days, bins=bins, color="#92c5de", label="all accounts / todas")
    if len(mem):
        ax.hist(np.floor(mem / 86_400_000), bins=bins, color="#b2182b", label="in clusters / en grupos")
    ticks = ax.get_xticks()
    ax.set_xticks(
        ticks,
        [dt.datetime.fromtimestamp(d * 86_400, dt.UTC).strftime("%Y-%m-%d") for d in ticks],
        rotation=30,
    )
    ax.set_title("Account creation dates / Fechas de creación de las cuentas")
    ax.legend(fontsize=8)
    return _png(fig)


def graph(r: Result) -> bytes:
    import networkx as nx

    g = nx.Graph()
    tier_of: dict[int, str] = {}
    for c, cl in zip(r.comms, r.findings["clusters"], strict=True):
        for u in c.members:
            tier_of[u] = cl["tier"]
            g.add_node(u)
        for es in c.edges.values():
            for a, b, w in es:
                g.add_edge(a, b, weight=w)
    fig = _figure(7, 7)
    ax = fig.subplots()
    ax.set_axis_off()
    ax.set_title("Coordination graph / Grafo de coordinación")
    if g.number_of_nodes() == 0:
        ax.text(0.5, 0.5, "No clusters / Sin grupos", ha="center", va="center")
        return _png(fig)
    if g.number_of_nodes() > 600:  # keep the strongest part readable
        keep = sorted(g.nodes, key=lambda n: -g.degree(n, weight="weight"))[:600]
        g = g.subgraph(keep).copy()
    pos = nx.spring_layout(g, seed=1, weight="weight")
    nx.draw_networkx_edges(g, pos, ax=ax, alpha=0.15, width=0.5)
    nx.draw_networkx_nodes(
        g, pos, ax=ax, node_size=25, node_color=[_TIER_COLOURS[tier_of.get(n, "low")] for n in g.nodes]
    )
    for tier, colour in _TIER_COLOURS.items():
        ax.scatter([], [], color=colour, label=tier)
    ax.legend(fontsize=8, loc="lower right")
    return _png(fig)


def time_gaps(r: Result) -> bytes:
    fig = _figure()
    ax = fig.subplots()
    window = float(r.findings["parameters"]["window"])
    drawn = False
    for i, evs in enumerate(r.evidence[:8]):
        gaps = [x for ev in evs for x in ev.gaps]
        if gaps:
            ax.hist(gaps, bins=30, range=(0, window), histtype="step", lw=1.2, label=f"cluster {i + 1}")
            drawn = True
    if not drawn:
        ax.text(0.5, 0.5, "No clusters / Sin grupos", ha="center", va="center")
        ax.set_axis_off()
    else:
        ax.set_xlabel("seconds between matching posts / segundos entre publicaciones")
        ax.legend(fontsize=8)
    ax.set_title("Time gaps within clusters / Intervalos dentro de los grupos")
    return _png(fig)


def sensitivity(r: Result) -> bytes:
    rows = r.findings["sensitivity"]
    fig = _figure()
    ax = fig.subplots()
    if not rows:
        ax.text(0.5, 0.5, "No window sweep / Sin barrido de ventanas", ha="center", va="center")
        ax.set_axis_off()
        return _png(fig)
    for mw in sorted({row["min_weight"] for row in rows}):
        sel = sorted((row["window"], row["accounts"]) for row in rows if row["min_weight"] == mw)
        ax.plot([s[0] for s in sel], [s[1] for s in sel], marker="o", label=f"min weight {mw}")
    ax.axvline(float(r.findings["parameters"]["window"]), color="#999999", ls="--", lw=1)
    ax.set_xscale("log")
    ax.set_xlabel("window (s) / ventana (s)")
    ax.set_ylabel("accounts in clusters / cuentas en grupos")
    ax.legend(fontsize=8)
    ax.set_title("Window sensitivity / Sensibilidad a la ventana")
    return _png(fig)


def make_plots(r: Result) -> dict[str, bytes]:
    return {
        "volume": volume(r),
        "account_creation": account_creation(r),
        "graph": graph(r),
        "time_gaps": time_gaps(r),
        "sensitivity": sensitivity(r),
    }

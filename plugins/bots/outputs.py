"""Writing an analysis to its directory: findings.json, GraphML, plots and the bilingual report.

Every file is created private to the user (0600, the directory 0700): an analysis names accounts.
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from .analysis import Result
from .readers import InputError

__all__ = ["FINDINGS", "load_findings", "write_outputs"]

FINDINGS = "findings.json"
MAX_FINDINGS = 1 << 30


def _private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.chmod(path, 0o600)


def prepare_dir(out: Path, force: bool) -> None:
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out} is a file, not a directory")
    if (out / FINDINGS).exists() and not force:
        raise InputError(f"{out} already holds an analysis: pass --force to replace it")
    out.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(out, 0o700)
    for sub in ("plots", "graphml"):
        (out / sub).mkdir(exist_ok=True, mode=0o700)
        os.chmod(out / sub, 0o700)


def _graphml(r: Result, name: str | None) -> bytes:
    import networkx as nx

    posts = r.posts
    cluster_of: dict[int, tuple[int, str]] = {}
    for i, (c, cl) in enumerate(zip(r.comms, r.findings["clusters"], strict=True)):
        for u in c.members:
            cluster_of[u] = (i + 1, cl["tier"])
    if name is None:  # the coordination graph: edges that passed, all networks
        g: Any = nx.Graph()
        for k in r.kept.values():
            for a, b, w in zip(k.a.tolist(), k.b.tolist(), k.strength.tolist(), strict=True):
                prev = g.get_edge_data(a, b, {"weight": 0, "networks": ""})
                nets = ",".join(filter(None, [prev["networks"], k.name]))
                g.add_edge(a, b, weight=prev["weight"] + w, networks=nets)
    else:
        e = r.edges[name]
        directed = e.weight == "cnt"
        g = nx.DiGraph() if directed else nx.Graph()
        if directed:
            g.add_weighted_edges_from(zip(e.src.tolist(), e.dst.tolist(), e.w.tolist(), strict=True))
        else:
            g.add_weighted_edges_from(zip(e.pa.tolist(), e.pb.tolist(), e.pw.tolist(), strict=True))
    counts = np.bincount(posts.user, minlength=posts.n_users)
    relabel = {}
    for n in list(g.nodes):
        cid, tier = cluster_of.get(n, (0, ""))
        g.nodes[n].update(
            label=(posts.usernames[n][-1] if posts.usernames[n] else posts.users[n]),
            cluster=cid,
            tier=tier,
            posts=int(counts[n]),
        )
        relabel[n] = posts.users[n]
    g = nx.relabel_nodes(g, relabel)
    buf = io.BytesIO()
    nx.write_graphml(g, buf)
    return buf.getvalue()


def write_outputs(r: Result, out: Path, plots: bool = True) -> dict[str, str]:
    """Write every artefact; returns what was written (name -> path)."""
    written: dict[str, str] = {}
    data = json.dumps(r.findings, ensure_ascii=False, indent=1).encode("utf-8")
    _private(out / FINDINGS, data)
    written["findings"] = str(out / FINDINGS)
    _private(out / "graphml" / "coordination.graphml", _graphml(r, None))
    for name in r.edges:
        _private(out / "graphml" / f"{name}.graphml", _graphml(r, name))
    written["graphml"] = str(out / "graphml")
    pngs: dict[str, bytes] = {}
    if plots:
        from .plots import make_plots

        pngs = make_plots(r)
        for name, png in pngs.items():
            _private(out / "plots" / f"{name}.png", png)
        written["plots"] = str(out / "plots")
    from .report import render_report

    _private(out / "report.html", render_report(r.findings, pngs).encode("utf-8"))
    written["report"] = str(out / "report.html")
    return written


def load_findings(path: Path) -> tuple[dict[str, Any], bytes]:
    """A findings.json (or the directory holding one), checked to have the shape ``analyze`` writes."""
    p = path / FINDINGS if path.is_dir() else path
    try:
        size = p.stat().st_size
        if size > MAX_FINDINGS:
            raise InputError(f"{p.name} is over 1 GiB: not a findings file")
        raw = p.read_bytes()
    except OSError as e:
        raise InputError(f"cannot read {p}: {e.strerror}") from None
    try:
        data = json.loads(raw)
    except ValueError as e:
        raise InputError(f"{p.name} is not JSON: {e}") from None
    need = {"input", "parameters", "networks", "clusters", "accounts"}
    if not isinstance(data, dict) or not need <= set(data):
        raise InputError(f"{p.name} is not a findings file from 'tequio bots analyze'")
    if not isinstance(data["clusters"], list) or not isinstance(data["input"], list):
        raise InputError(f"{p.name}: clusters and input must be lists")
    return data, raw

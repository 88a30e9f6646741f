"""Findings signed and shared with a coalition, and compared with another organisation's analysis.

A shared finding is a ``bots.finding`` record in the group's scope: signed by the node, encrypted to
the members, verified by every node that ingests it (any changed byte fails). Comparing it with an
analysis of one's own export shows where the two agree; a second organisation that agrees, on an
export of its own, is shown as corroboration.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from tequio.node import Node, StoredRecord, TequioError
from tequio.schemas import Payload, fingerprint

from .model import FINDING, FindingBody, canonical_json

__all__ = ["TIER_RANK", "compare", "finding_body", "findings_on_node", "publish_finding"]

TIER_RANK = {"high": 0, "medium": 1, "low": 2}
MAX_BODY = 60_000  # bytes of canonical payload: a record carries at most 65,536 after encryption
AGREE = 0.5  # Jaccard of members for two clusters to be "the same"


def finding_body(
    findings: Mapping[str, Any],
    raw: bytes,
    min_tier: str = "medium",
    title: str = "",
    corroborates: bytes | None = None,
    objects: int = 20,
) -> dict[str, Any]:
    """The record body for a findings.json: clusters of at least ``min_tier``, indicators, inputs."""
    params = findings.get("parameters", {})
    repeats = int(params.get("repeats", 0))
    clusters = []
    for c in findings["clusters"]:
        if TIER_RANK.get(c.get("tier"), 9) > TIER_RANK[min_tier]:
            continue
        exceeded = int(c.get("null", {}).get("exceeded", repeats))
        clusters.append(
            {
                "id": int(c["id"]),
                "tier": c["tier"],
                "verdict": str(c.get("verdict", ""))[:64],
                "accounts": sorted({str(a)[:200] for a in c["accounts"]}),
                "networks": [str(n)[:32] for n in c.get("networks", [])][:16],
                "p": [min(exceeded + 1, repeats + 1), repeats + 1],
                "volume_ppm": max(0, min(1_000_000, round(float(c.get("share_of_volume", 0)) * 1_000_000))),
                "objects": [
                    {
                        "network": str(o["network"])[:32],
                        "object": str(o["object"])[:300],
                        "accounts": int(o["accounts"]),
                    }
                    for o in c.get("shared_objects", [])[:objects]
                ],
            }
        )
    summary = findings.get("summary", {})
    sentence = summary.get("sentence", {"es": "", "en": ""})
    windows = {float(params.get("window", 0))} | {float(w) for w in params.get("sweep", [])}
    body: dict[str, Any] = {
        "version": 1,
        "title": title[:200],
        "summary": {"es": str(sentence.get("es", ""))[:4000], "en": str(sentence.get("en", ""))[:4000]},
        "inputs": [
            {
                "file": str(i.get("file", ""))[:255],
                "sha256": str(i.get("sha256", "")),
                "bytes": int(i.get("bytes", 0)),
                "rows": int(i.get("rows", 0)),
                "posts": int(i.get("posts", 0)),
                "format": str(i.get("format", ""))[:32],
                "parser": str(i.get("parser", ""))[:64],
            }
            for i in findings["input"]
        ],
        "parameters": canonical_json(params),
        "windows_ms": sorted(round(w * 1000) for w in windows if w > 0),
        "clusters": clusters,
        "totals": {
            "posts": int(summary.get("posts", 0)),
            "accounts": int(summary.get("accounts", 0)),
            "flagged_accounts": int(summary.get("flagged_accounts", 0)),
            "flagged_volume_ppm": round(float(summary.get("flagged_share_of_volume", 0)) * 1_000_000),
        },
        "findings_sha256": hashlib.sha256(raw).hexdigest(),
    }
    if corroborates is not None:
        body["corroborates"] = corroborates.hex()
    return body


def _size(body: dict[str, Any]) -> int:
    return len(Payload(FINDING, body).encode())


def publish_finding(
    node: Node,
    scope: str,
    findings: Mapping[str, Any],
    raw: bytes,
    min_tier: str,
    title: str,
    corroborates: StoredRecord | None,
) -> StoredRecord:
    """Sign and store the finding in the group's scope; it travels to members by sync."""
    ref = corroborates.id if corroborates is not None else None
    body = finding_body(findings, raw, min_tier, title, ref)
    if _size(body) > MAX_BODY:
        body = finding_body(findings, raw, min_tier, title, ref, objects=3)
    size = _size(body)
    if size > MAX_BODY:
        raise TequioError(
            f"the finding is {size} bytes, over the {MAX_BODY} a record carries: share fewer clusters "
            "(--tier high) or raise --min-weight"
        )
    FindingBody.model_validate(body)
    return node.publish(FINDING, body, scope=scope, refs=[ref] if ref else [])


def findings_on_node(node: Node) -> list[StoredRecord]:
    return [r for r in node.records(kind=FINDING) if r.payload is not None]


def author_name(node: Node, rec: StoredRecord) -> str:
    if rec.author == node.key:
        return node.name
    st = node.governance.state(rec.record.scope) if rec.record.scope.startswith("g:") else None
    if st is not None and rec.author in st.members:
        return st.members[rec.author].name
    return fingerprint(rec.author)


def _jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a | b) if a | b else 0.0


def compare(theirs: Mapping[str, Any], mine: Mapping[str, Any]) -> dict[str, Any]:
    """Where two finding bodies agree: clusters matched by members, objects in common, inputs shared."""
    mine_clusters = [c for c in mine["clusters"]]
    rows = []
    matched: set[int] = set()
    for c in theirs["clusters"]:
        acc = set(c["accounts"])
        best, best_j = None, 0.0
        for m in mine_clusters:
            j = _jaccard(acc, set(m["accounts"]))
            if j > best_j:
                best, best_j = m, j
        row: dict[str, Any] = {
            "id": c["id"],
            "tier": c["tier"],
            "accounts": len(acc),
            "networks": c["networks"],
        }
        if best is None:
            row.update(agreement="not found", match=None)
        else:
            matched.add(best["id"])
            common_obj = {(o["network"], o["object"]) for o in c.get("objects", [])} & {
                (o["network"], o["object"]) for o in best.get("objects", [])
            }
            strong = best["tier"] in ("high", "medium") and c["tier"] in ("high", "medium")
            row["agreement"] = "agrees" if best_j >= AGREE and strong else "partly"
            row["match"] = {
                "id": best["id"],
                "tier": best["tier"],
                "jaccard": round(best_j, 3),
                "common_accounts": sorted(acc & set(best["accounts"])),
                "common_objects": [list(o) for o in sorted(common_obj)],
                "networks": best["networks"],
            }
        rows.append(row)
    a_hashes = {i["sha256"] for i in theirs["inputs"]}
    b_hashes = {i["sha256"] for i in mine["inputs"]}
    pa, pb = json.loads(theirs["parameters"]), json.loads(mine["parameters"])
    keys = (
        "window",
        "min_weight",
        "weight",
        "networks",
        "null",
        "repeats",
        "similarity",
        "percentile",
        "min_symmetry",
    )
    diffs = {k: [pa.get(k), pb.get(k)] for k in keys if pa.get(k) != pb.get(k)}
    agree = sum(1 for r in rows if r["agreement"] == "agrees")
    independent = not (a_hashes & b_hashes)
    return {
        "clusters": rows,
        "only_yours": [
            {"id": m["id"], "tier": m["tier"], "accounts": len(m["accounts"])}
            for m in mine_clusters
            if m["id"] not in matched
        ],
        "agreeing_clusters": agree,
        "independent_inputs": independent,
        "common_inputs": sorted(a_hashes & b_hashes),
        "parameter_differences": diffs,
    }


def compare_sentence(
    result: Mapping[str, Any], theirs_name: str, mine_name: str, corroborated: bool
) -> dict[str, str]:
    n = len(result["clusters"])
    agree = result["agreeing_clusters"]
    same = "" if result["independent_inputs"] else " (mismos archivos: no es independiente)"
    same_en = "" if result["independent_inputs"] else " (the same files: not independent)"
    if corroborated:
        return {
            "es": f"Corroborado: el análisis de {mine_name} sobre su propia exportación coincide con "
            f"{agree} de {n} grupos del hallazgo de {theirs_name}.",
            "en": f"Corroborated: {mine_name}'s analysis of its own export agrees with {agree} of {n} "
            f"clusters of {theirs_name}'s finding.",
        }
    return {
        "es": f"{agree} de {n} grupos del hallazgo de {theirs_name} coinciden con el análisis de "
        f"{mine_name}{same}.",
        "en": f"{agree} of {n} clusters of {theirs_name}'s finding agree with {mine_name}'s "
        f"analysis{same_en}.",
    }

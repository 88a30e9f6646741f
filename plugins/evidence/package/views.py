"""The views a package carries beside its signed records, and the exporter's binding to them.

custody.json (V1) and keys.json (V2) are functions of the signed records: a checker recomputes them
and compares, so a rewritten view is caught whoever re-signed the manifest. A name beside a key
counts only when a record signed by that key states it (the ``org`` field of its evidence records).
The exporter rule (X1) ties the manifest's signer to the export event in each item's own chain.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from tequio.schemas import Record, fingerprint, to_json

from .layout import CUSTODY, CUSTODY_KIND, KEYS, MANIFEST, ItemEntry, Problem

__all__ = [
    "custody_problems",
    "custody_view",
    "exporter_problems",
    "keys_problems",
    "keys_view",
    "stated_names",
]


def _about(payload: Mapping[str, Any], sha: bytes) -> bool:
    kind, body = payload.get("kind"), payload.get("body")
    if type(kind) is not str or not kind.startswith("evidence.") or type(body) is not dict:
        return False
    return body.get("sha256") == sha


def custody_view(
    items: Sequence[ItemEntry], payloads: Mapping[bytes, dict[str, Any]], records: Mapping[bytes, Record]
) -> list[dict[str, Any]]:
    """custody.json (V1): for each item in manifest order, every opened evidence record about it (its
    body's ``sha256`` is the original's), ordered by time, author, scope and seq, as
    ``{item, record, author, ts, scope, seq, kind, body}`` with the body as schemas.to_json shows it."""
    out: list[dict[str, Any]] = []
    for item in items:
        rows = [
            {
                "item": item.id.hex(),
                "record": rid.hex(),
                "author": records[rid].author.hex(),
                "ts": records[rid].ts,
                "scope": records[rid].scope,
                "seq": records[rid].seq,
                "kind": p["kind"],
                "body": to_json(p["body"]),
            }
            for rid, p in payloads.items()
            if rid in records and _about(p, item.original.sha256)
        ]
        out += sorted(rows, key=lambda e: (e["ts"], e["author"], e["scope"], e["seq"]))
    return out


def stated_names(
    payloads: Mapping[bytes, dict[str, Any]], records: Mapping[bytes, Record]
) -> dict[bytes, list[str]]:
    """The names each key states for itself in the ``org`` field of its own evidence records, oldest
    first (by time, then seq)."""
    found: list[tuple[int, int, bytes, str]] = []
    for rid, p in payloads.items():
        kind, body, rec = p.get("kind"), p.get("body"), records.get(rid)
        if rec is None or type(kind) is not str or not kind.startswith("evidence.") or type(body) is not dict:
            continue
        org = body.get("org")
        if type(org) is str and org:
            found.append((rec.ts, rec.seq, rec.author, org))
    names: dict[bytes, list[str]] = {}
    for _ts, _seq, author, org in sorted(found):
        if org not in names.setdefault(author, []):
            names[author].append(org)
    return names


def keys_view(signers: Iterable[bytes], exporter: bytes, stated: Mapping[bytes, list[str]]) -> dict[str, Any]:
    """keys.json (V2): every key that signed a record, and the exporter, with its fingerprint and the
    name its own records last state (null when none do)."""
    keys = {*signers, exporter}
    return {
        k.hex(): {"fingerprint": fingerprint(k), "name": stated[k][-1] if stated.get(k) else None}
        for k in sorted(keys)
    }


def keys_problems(
    value: Any, signers: Iterable[bytes], exporter: bytes | None, stated: Mapping[bytes, list[str]]
) -> list[Problem]:
    """keys.json against the records: the same keys, each fingerprint right, each name stated by a
    record its key signed (or null)."""
    if type(value) is not dict:
        return [Problem(KEYS, "is not a JSON object of public keys")]
    out: list[Problem] = []
    want = {*signers} | ({exporter} if exporter is not None else set())
    seen: set[bytes] = set()
    for hexkey, entry in value.items():
        try:
            key = bytes.fromhex(hexkey) if type(hexkey) is str and hexkey == hexkey.lower() else b""
        except ValueError:
            key = b""
        if len(key) != 32 or type(entry) is not dict or set(entry) != {"fingerprint", "name"}:
            out.append(
                Problem(KEYS, f"the entry {hexkey!r} is not a public key with a fingerprint and a name")
            )
            continue
        seen.add(key)
        if entry["fingerprint"] != fingerprint(key):
            out.append(
                Problem(
                    KEYS,
                    f"the fingerprint of {hexkey} is given as {entry['fingerprint']!r}; the key's "
                    f"fingerprint is {fingerprint(key)}",
                )
            )
        name = entry["name"]
        if name is not None and (type(name) is not str or name not in stated.get(key, [])):
            out.append(
                Problem(
                    KEYS,
                    f"names {fingerprint(key)} {json.dumps(name, ensure_ascii=False)}, but no record "
                    "signed by that key states that name",
                )
            )
        if key not in want:
            out.append(Problem(KEYS, f"lists {fingerprint(key)}, which signed no record in the package"))
    for key in sorted(want - seen):
        role = "the exporter" if key == exporter else "a key that signed records in the package"
        out.append(Problem(KEYS, f"has no entry for {fingerprint(key)}, {role}"))
    return out


def exporter_problems(
    package: str | None,
    exporter: bytes,
    items: Sequence[ItemEntry],
    payloads: Mapping[bytes, dict[str, Any]],
    records: Mapping[bytes, Record],
) -> list[Problem]:
    """X1: each item's evidence.item record, and an export event in its chain that names this package,
    are signed by the exporter: a package re-signed by another key does not check."""
    out: list[Problem] = []
    for item in items:
        rec = records.get(item.id)
        if rec is None:
            continue  # item_problems says so
        exported = any(
            p.get("kind") == CUSTODY_KIND
            and records[rid].author == exporter
            and records[rid].scope == rec.scope
            and type(b := p.get("body")) is dict
            and b.get("item") == item.id
            and b.get("event") == "export"
            and type(d := b.get("detail")) is dict
            and d.get("package") == package
            for rid, p in payloads.items()
            if rid in records
        )
        if rec.author != exporter or not exported:
            out.append(
                Problem(
                    MANIFEST,
                    f"item {item.id.hex()}: its record and an export event naming package {package} are not "
                    f"both signed by the exporter {fingerprint(exporter)}: the package was made or re-signed "
                    "by another key",
                )
            )
    return out


def custody_problems(value: Any, want: list[dict[str, Any]]) -> list[Problem]:
    """custody.json against the view of the signed records (V1): the same events, once each, in order."""
    if type(value) is not list:
        return [Problem(CUSTODY, "is not a JSON list of custody events")]
    out = []
    position = {_canon(w): i for i, w in enumerate(want)}
    records = {w["record"] for w in want}
    shown: list[int] = []
    for i, entry in enumerate(value):
        at = position.get(_canon(entry))
        if at is not None:
            if at in shown:
                out.append(Problem(CUSTODY, f"event {i + 1} shows record {want[at]['record']} twice"))
            shown.append(at)
            continue
        rid = entry.get("record") if type(entry) is dict else None
        if rid in records:
            what = f"does not show record {rid} as it was signed"
        else:
            what = f"is not a record in the package that verifies ({json.dumps(rid)[:80]})"
        out.append(Problem(CUSTODY, f"event {i + 1} {what}: an event was added or changed"))
    if shown != sorted(shown):
        out.append(Problem(CUSTODY, "its events are not in the order of the signed records"))
    missing = [w["record"][:16] for i, w in enumerate(want) if i not in set(shown)]
    if missing:
        out.append(
            Problem(
                CUSTODY,
                f"lacks {len(missing)} event(s) that signed records in the package hold "
                f"({', '.join(missing[:5])}…)",
            )
        )
    return out


def _canon(value: Any) -> str:
    try:
        return json.dumps(value, sort_keys=True)
    except (TypeError, ValueError, RecursionError):
        return ""

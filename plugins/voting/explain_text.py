"""A tally's explanation as people read it: tables for pairwise counts, one line per round."""

from __future__ import annotations

import json
from typing import Any

__all__ = ["explanation_lines"]

SKIP = {"summary", "ties", "options"}


def _cell(v: Any) -> str:
    if isinstance(v, dict | list):
        return json.dumps(v, ensure_ascii=False)
    return "-" if v is None or v == "" else str(v)


def _matrix(name: str, m: dict[str, dict[str, Any]], options: list[str]) -> list[str]:
    """Row beats column by the number shown (a dash on the diagonal)."""
    width = max([len(o) for o in options] + [4])
    cols = [max(width, len(_cell(v))) for v in options]
    lines = [
        f"{name} (row over column):",
        "  " + " " * width + "  " + "  ".join(o.rjust(c) for o, c in zip(options, cols, strict=True)),
    ]
    for a in options:
        row = [
            ("-" if a == b else _cell(m.get(a, {}).get(b))).rjust(c)
            for b, c in zip(options, cols, strict=True)
        ]
        lines.append(f"  {a.ljust(width)}  " + "  ".join(row))
    return lines


def _counts(d: dict[str, Any]) -> str:
    order = sorted(
        d.items(), key=lambda kv: (-kv[1], kv[0]) if isinstance(kv[1], int | float) else (0, kv[0])
    )
    return ", ".join(f"{k} {_cell(v)}" for k, v in order)


def _round(r: dict[str, Any]) -> str:
    head = f"  round {r.get('round', '?')}: "
    parts = [_counts(r["counts"])] if isinstance(r.get("counts"), dict) else []
    for k, v in r.items():
        if k in ("round", "counts"):
            continue
        if k == "eliminated":
            parts.append(f"{', '.join(v) if isinstance(v, list) else v} out")
        elif k == "why":
            parts.append(f"({v})")
        else:
            parts.append(f"{k.replace('_', ' ')} {_cell(v)}")
    return head + "; ".join(parts)


def explanation_lines(ex: dict[str, Any]) -> list[str]:
    """Every part of the explanation, none dropped: known shapes as tables, the rest on one line."""
    options = [str(o) for o in ex.get("options", [])]
    lines: list[str] = []
    for key, value in ex.items():
        if key in SKIP:
            continue
        label = key.replace("_", " ")
        if isinstance(value, dict) and value and all(isinstance(v, dict) for v in value.values()) and options:
            lines.extend(_matrix(label, value, options))
        elif isinstance(value, dict):
            lines.append(f"{label}: {_counts(value) if value else '-'}")
        elif isinstance(value, list) and value and all(isinstance(r, dict) for r in value):
            lines.append(f"{label}:")
            lines.extend(
                _round(r) if "round" in r else "  " + json.dumps(r, ensure_ascii=False) for r in value
            )
        elif isinstance(value, list):
            lines.append(f"{label}: {', '.join(_cell(v) for v in value) or '-'}")
        else:
            lines.append(f"{label}: {_cell(value)}")
    if options:
        lines.insert(0, f"options: {', '.join(options)}")
    return lines

"""The handbook's two figures: importing the whole DFAK set (six languages) into a fresh node, and a
search over 1,000 pages, each against a bare FTS5 baseline measured in the same run.

    python bench/handbook.py [--rounds 3] [--pages 1000] [--queries 50]

Prints one JSON object per figure. Targets: the import under 10 s, a search under 50 ms. Baselines:
for the import, inserting the same pages' raw text into a bare FTS5 table (no parsing, signing,
trust or stemming); for search, a bare FTS5 MATCH of the same terms over the same 1,000 pages'
stemmed text. Rounds interleave the two and the best of each is kept (the machine is shared).
"""

from __future__ import annotations

import argparse
import json
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

from tequio.node import Node
from tequio.plugins.handbook.layouts import read_tree
from tequio.plugins.handbook.publish import create_book, import_dir
from tequio.plugins.handbook.search import search, stems

ROOT = Path(__file__).resolve().parents[1]
DFAK = ROOT.parent / "shared" / "data" / "handbooks" / "dfak"
LANGS = ["en", "es", "fr", "de", "ru", "nl"]
WORDS = [
    "contraseña",
    "seguridad",
    "cifrado",
    "dispositivo",
    "cuenta",
    "correo",
    "teléfono",
    "ataque",
    "malware",
    "respaldo",
    "red",
    "privacidad",
    "navegador",
    "mensajes",
    "firma",
    "llave",
    "copia",
    "servidor",
    "denuncia",
    "protocolo",
    "riesgo",
    "amenaza",
    "confianza",
    "ayuda",
]


def fresh_node(where: Path, name: str) -> Node:
    return Node.create(where / name, name=name, kdf_profile="interactive")


def import_once(where: Path, i: int) -> float:
    node = fresh_node(where, f"import-{i}")
    try:
        t = time.perf_counter()
        book = create_book(node, "DFAK", LANGS, editors=[node.key])
        import_dir(node, book, DFAK)
        return time.perf_counter() - t
    finally:
        node.close()


def bare_import(where: Path, i: int) -> float:
    """The same pages' raw text into a bare FTS5 table, in one transaction."""
    t = time.perf_counter()
    db = sqlite3.connect(where / f"bare-{i}.sqlite")
    db.execute("CREATE VIRTUAL TABLE t USING fts5(path, body)")
    with db:
        for p in sorted((DFAK / "_pages").rglob("*.md")):
            db.execute("INSERT INTO t VALUES (?, ?)", (str(p), p.read_text("utf-8")))
    db.close()
    return time.perf_counter() - t


def thousand_pages(where: Path, n: int) -> tuple[Node, bytes, list[str]]:
    """A book of ``n`` Spanish pages made from DFAK's Spanish text, shuffled into new pages."""
    tree = read_tree(DFAK, "dfak", ["es"], "es")
    words = " ".join(p.text for p in tree.pages).split()
    rnd = random.Random(7)
    src = where / "pages"
    src.mkdir()
    for i in range(n):
        start = rnd.randrange(0, max(1, len(words) - 400))
        body = " ".join(words[start : start + 300]) + " " + " ".join(rnd.choices(WORDS, k=20))
        (src / f"p{i:04d}.md").write_text(
            f"---\ntitle: Página {i} {rnd.choice(WORDS)}\n---\n{body}\n", "utf-8"
        )
    node = fresh_node(where, "search")
    book = create_book(node, "Mil", ["es"], editors=[node.key])
    import_dir(node, book, src, "suffix")
    return (
        node,
        book,
        [f"{a} {b}" for a, b in zip(rnd.choices(WORDS, k=200), rnd.choices(WORDS, k=200), strict=True)],
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--pages", type=int, default=1000)
    ap.add_argument("--queries", type=int, default=50)
    args = ap.parse_args()
    if not DFAK.is_dir():
        sys.exit(f"the DFAK data is not at {DFAK}")
    with tempfile.TemporaryDirectory() as tmp:
        where = Path(tmp)
        ours = base = float("inf")
        for i in range(args.rounds):
            ours = min(ours, import_once(where, i))
            base = min(base, bare_import(where, i))
        figure = {"figure": "dfak-import", "pages": 45, "languages": 6, "seconds": round(ours, 3)}
        figure |= {"baseline_fts5_seconds": round(base, 4), "ratio": round(ours / base, 1), "target_s": 10}
        print(json.dumps(figure))
        node, book, queries = thousand_pages(where, args.pages)
        queries = queries[: args.queries]
        bare = node.db.conn
        ours_t: list[float] = []
        base_t: list[float] = []
        hits = 0
        for q in queries:
            terms = list(dict.fromkeys(stems(q, "es")))
            match = " AND ".join(f'"{t}"' for t in terms)
            for _ in range(args.rounds):
                t = time.perf_counter()
                bare.execute(
                    "SELECT page, bm25(hb_fts_es) AS r FROM hb_fts_es"
                    " WHERE hb_fts_es MATCH ? ORDER BY r LIMIT 20",
                    (match,),
                ).fetchall()
                base_t.append(time.perf_counter() - t)
                t = time.perf_counter()
                hits += len(search(node.db, book, "es", q))
                ours_t.append(time.perf_counter() - t)
        node.close()
        p50, p95 = statistics.median(ours_t), sorted(ours_t)[int(len(ours_t) * 0.95)]
        b50 = statistics.median(base_t)
        print(json.dumps({"figure": "search-1000-pages", "pages": args.pages, "queries": len(queries),
                          "median_ms": round(p50 * 1000, 2), "p95_ms": round(p95 * 1000, 2),
                          "baseline_fts5_median_ms": round(b50 * 1000, 3), "ratio": round(p50 / b50, 1),
                          "hits": hits, "target_ms": 50}))  # fmt: skip


if __name__ == "__main__":
    main()

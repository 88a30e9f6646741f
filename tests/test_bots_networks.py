"""The coordination tests against their anchors: CNT's edges, CooRTweet's vignette figure, CNT's
issue #46, the sliding window's edges, and datasketch's MinHash."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from tequio.plugins.bots.analysis import Params, analyze
from tequio.plugins.bots.formats import load_file
from tequio.plugins.bots.networks import build_shares, compute_edges
from tequio.plugins.bots.posts import PostsBuilder
from tequio.plugins.bots.similar import NUM_PERM, SEED, minhash_signatures, similar_groups
from tequio.plugins.bots.synthetic import HEADER, cnt_fixture, write_rows
from tests.conftest import ROOT, SHARED, CliResult

GOLDEN = ROOT / "tests" / "test_bots_cnt_golden.json"
RUSSIAN = SHARED / "data" / "social" / "russian_coord_tweets.csv"


def _posts(path: Path, mode: str = "cnt", fmt: str = "cnt", words: bool = False):  # type: ignore[no-untyped-def]
    b = PostsBuilder(mode, want_words=words)
    rec = load_file(path, fmt, b)
    return b.build(), rec


def _edges(posts, name: str, window: float, min_weight: int = 1) -> set[tuple[str, str, int]]:  # type: ignore[no-untyped-def]
    e = compute_edges(build_shares(posts, name), name, window, "cnt", min_weight)
    return {(posts.users[a], posts.users[b], int(w)) for a, b, w in zip(e.src, e.dst, e.w, strict=True)}


def test_cnt_edges_equal_the_real_cnt(tmp_path: Path) -> None:
    """Frozen output of the real coordination-network-toolkit 1.5.2 (``bench/bots.py --golden`` ran it
    from PyPI on this fixture and wrote tests/test_bots_cnt_golden.json); installing CNT in every test
    run would download it and twarc's dependencies, so the test checks against that file."""
    golden = json.loads(GOLDEN.read_text())
    path = tmp_path / "fixture.csv"
    write_rows(cnt_fixture(), path)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == golden["input_sha256"], "the fixture changed"
    posts, rec = _posts(path)
    assert rec.skipped["duplicate message_id"] == 1  # CNT keeps the first row of a repeated id too
    for run in golden["runs"]:
        for name in ("co_retweet", "co_tweet", "co_reply"):
            theirs = {(a, b, w) for a, b, w in run["edges"][name]}
            ours = _edges(posts, name, run["window"], run["min_weight"])
            assert ours == theirs, (name, run["window"], run["min_weight"], len(ours ^ theirs))
            assert ours or name == "co_reply"
    # the window is inclusive: 60 s apart links at 60 s, 61 s apart does not
    at60 = {e[:2] for e in _edges(posts, "co_retweet", 60)}
    assert ("edge_a", "edge_b") in at60 and ("edge_c", "edge_d") not in at60
    assert ("edge_c", "edge_d") in {e[:2] for e in _edges(posts, "co_retweet", 61)}


def _write(path: Path, rows: list[list[str]]) -> Path:
    write_rows(rows, path)
    return path


def test_no_co_link_edge_between_accounts_without_links(tmp_path: Path) -> None:
    """CNT's issue #46: an empty URL cell is missing, so posting no link links no one."""
    rows = []
    for k in range(200):  # 20 accounts post at the same moments, never a link
        for u in range(20):
            rows.append(
                [
                    f"m{k}-{u}",
                    f"nolink{u}",
                    f"nolink{u}",
                    "",
                    "",
                    f"texto {k} {u}",
                    str(1_700_000_000 + k * 10),
                    "",
                ]
            )
    for k in range(5):  # two accounts share the same link, an NA cell and a "None" cell elsewhere
        t = str(1_700_100_000 + k * 100)
        rows.append(
            [
                f"l{k}a",
                "linker_a",
                "linker_a",
                "",
                "",
                "mira",
                t,
                f"https://www.example.org/nota/{k}?utm_source=x",
            ]
        )
        rows.append([f"l{k}b", "linker_b", "linker_b", "", "", "mira", t, f"http://example.org/nota/{k}/"])
        rows.append([f"l{k}c", "na_user", "na_user", "", "", "nada", t, "NA"])
        rows.append([f"l{k}d", "none_user", "none_user", "", "", "nada", t, "None"])
    path = _write(tmp_path / "links.csv", rows)
    posts, _ = _posts(path)
    edges = _edges(posts, "co_link", 60)
    assert edges == {("linker_a", "linker_b", 5), ("linker_b", "linker_a", 5)}  # normalised alike


def test_co_hashtag_and_co_mention_within_the_window_only(tmp_path: Path) -> None:
    rows = []
    for k in range(4):
        t = 1_700_000_000 + k * 3600
        rows.append([f"a{k}", "a", "a", "", "", f"hoy #Marcha{k % 2} @Activista", str(t), ""])
        rows.append([f"b{k}", "b", "b", "", "", f"vamos #marcha{k % 2} @activista", str(t + 30), ""])
        rows.append([f"c{k}", "c", "c", "", "", f"luego #marcha{k % 2} @activista", str(t + 900), ""])
    posts, _ = _posts(_write(tmp_path / "tags.csv", rows), mode="tequio")
    assert _edges(posts, "co_hashtag", 60) == {("a", "b", 4), ("b", "a", 4)}
    assert _edges(posts, "co_mention", 60) == {("a", "b", 4), ("b", "a", 4)}
    assert ("a", "c", 4) in _edges(posts, "co_hashtag", 900)  # the sweep's longer window sees c


def test_empty_text_is_missing_for_co_tweet(tmp_path: Path) -> None:
    """CNT pairs every post whose text is empty (or only @mentions); here nothing is left to compare."""
    rows = [
        [f"x{k}{u}", u, u, "", "", "@alguien" if u == "p" else "", str(1_700_000_000 + k), ""]
        for k in range(5)
        for u in "pq"
    ]
    posts, _ = _posts(_write(tmp_path / "empty.csv", rows))
    assert _edges(posts, "co_tweet", 60) == set()


@pytest.mark.skipif(not RUSSIAN.exists(), reason="the shared data set is beside the checkout in CI")
def test_coortweet_vignette_figure_with_pairs(cli: object, tmp_path: Path) -> None:
    """CooRTweet's vignette on russian_coord_tweets: co-retweet, 600 s, 99th percentile -> minimum edge
    weight 3 (through the real command, on the real file read in place)."""
    run = cli  # type: ignore[assignment]
    out = tmp_path / "ru"
    r: CliResult = run(  # type: ignore[operator]
        "bots",
        "analyze",
        str(RUSSIAN),
        "--out",
        str(out),
        "--weight",
        "pairs",
        "--window",
        "600",
        "--networks",
        "co_retweet",
        "--percentile",
        "0.99",
        "--min-weight",
        "1",
        "--min-symmetry",
        "0",
        "--repeats",
        "0",
        "--sweep",
        "none",
        "--no-plots",
        "--json",
    )
    assert r.code == 0, r.err
    f = json.loads((out / "findings.json").read_text())
    net = f["networks"]["co_retweet"]
    assert net["weight"] == "pairs" and net["window"] == 600
    assert net["percentile_value"] == 2.0
    kept = [w for _, _, w in net["edges"] if w > net["percentile_value"]]
    assert min(kept) == 3 and len(kept) == net["kept_edges"] == 215
    assert f["input"][0]["skipped"] == {"duplicate message_id": 40}
    assert f["input"][0]["rows"] == 35125 and len(f["input"][0]["sha256"]) == 64


def test_minhash_signatures_are_datasketchs(tmp_path: Path) -> None:
    from datasketch import MinHash

    rows = [
        [
            str(i),
            f"u{i % 7}",
            "",
            "",
            "",
            f"uno dos tres cuatro cinco seis siete ocho nueve diez palabra{i % 13} otra{i % 5}",
            str(1_700_000_000 + i),
            "",
        ]
        for i in range(60)
    ]
    posts, _ = _posts(_write(tmp_path / "t.csv", rows), mode="tequio", words=True)
    ptr, ids = posts.words.ptr, posts.words.ids
    sig = minhash_signatures(ptr, ids, posts.word_values)
    for i in range(0, 60, 7):
        m = MinHash(num_perm=NUM_PERM, seed=SEED)
        m.update_batch([posts.word_values[w].encode() for w in ids[ptr[i] : ptr[i + 1]]])
        assert np.array_equal(m.hashvalues, sig[i])
    sg = similar_groups(posts, 0.8)
    assert len(sg.pairs) and all(j >= 0.8 for j in sg.jaccard)


def test_near_duplicates_link_templates_not_strangers(tmp_path: Path) -> None:
    base = [
        "el",
        "gobierno",
        "miente",
        "sobre",
        "la",
        "cifra",
        "de",
        "personas",
        "desaparecidas",
        "en",
        "esta",
        "ciudad",
        "durante",
        "todo",
        "este",
        "mes",
    ]
    rows = []
    for k in range(6):
        t = 1_700_000_000 + k * 600
        for u in ("t1", "t2", "t3"):
            words = list(base)
            words[k % len(words)] = f"cambio{u}{k}"  # one word changed per post: Jaccard 14/16
            rows.append([f"{u}-{k}", u, u, "", "", " ".join(words), str(t + int(u[1])), ""])
        rows.append(
            [
                f"s-{k}",
                "stranger",
                "stranger",
                "",
                "",
                f"hoy comí tacos muy ricos con mi familia {k}",
                str(t),
                "",
            ]
        )
    path = _write(tmp_path / "near.csv", rows)
    result = analyze(
        [path], Params(networks=("co_similar",), repeats=0, sweep=(), format="cnt", weight="cnt")
    )
    edges = result.findings["networks"]["co_similar"]["edges"]
    assert {(a, b) for a, b, _ in edges} == {
        (a, b) for a in ("t1", "t2", "t3") for b in ("t1", "t2", "t3") if a != b
    }
    assert all(w >= 5 for *_, w in edges)  # LSH may miss a pair just above the threshold


def test_header_of_cnt_layout_is_detected(tmp_path: Path) -> None:
    from tequio.plugins.bots.formats import detect_format

    path = _write(tmp_path / "x.csv", [["1", "u", "u", "", "", "hola", "1700000000", ""]])
    assert detect_format(path) == "cnt"
    assert path.read_text().splitlines()[0].split(",") == HEADER


def test_look_elsewhere_correction() -> None:
    """A pair of accounts that matched 3 times where chance expects 0.1 is nothing special among
    390,000 candidate pairs; 40 accounts matching 54,688 times where chance expects 509 is."""
    from tequio.plugins.bots.analysis import look_elsewhere

    assert look_elsewhere(3, 0.1, 390_000, 2) == 1.0
    assert look_elsewhere(8, 0.1, 390_000, 3) > 0.001
    assert look_elsewhere(54_688, 509.0, 390_000, 40) == 0.0
    assert look_elsewhere(30, 0.5, 390_000, 2) < 1e-20
    assert look_elsewhere(0, 0.5, 10, 2) == 1.0

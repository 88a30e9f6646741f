"""Near-duplicate text (B3): MinHash signatures and LSH bands with datasketch's parameters.

Signatures are datasketch's own (its permutations, its hash function and scheme: a test checks them
against ``datasketch.MinHash`` value for value), computed for all posts at once in numpy instead of
one Python call per post; the bands are the (b, r) that ``datasketch.MinHashLSH`` picks for the
threshold. Candidates from the bands are then checked with the exact Jaccard similarity of the word
sets, so the network holds no false positives; LSH may miss a pair just above the threshold.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .networks import uniq
from .posts import Posts

__all__ = ["NUM_PERM", "SimilarGroups", "lsh_params", "minhash_signatures", "similar_groups"]

NUM_PERM = 64
SEED = 1
#: datasketch's weights of false positives and false negatives when it picks the bands: candidates
#: are checked exactly, so a false positive costs a comparison and a false negative a missed pair.
LSH_WEIGHTS = (0.1, 0.9)
_CHUNK = 200_000  # (post, word) cells permuted at once


def _datasketch() -> tuple[np.ndarray, np.ndarray, str, object]:
    from datasketch import MinHash
    from datasketch.hashfunc import sha1_hash32

    m = MinHash(num_perm=NUM_PERM, seed=SEED)
    a, b = m.permutations
    return np.asarray(a), np.asarray(b), getattr(m, "scheme", "legacy"), sha1_hash32


def lsh_params(threshold: float) -> tuple[int, int]:
    """Bands and rows per band, as datasketch's MinHashLSH chooses them for this threshold."""
    from datasketch import MinHashLSH

    lsh = MinHashLSH(threshold=threshold, num_perm=NUM_PERM, weights=LSH_WEIGHTS)
    return int(lsh.b), int(lsh.r)


def _fmix32(h: np.ndarray) -> np.ndarray:
    h = h ^ (h >> np.uint32(16))
    h = h * np.uint32(0x85EBCA6B)
    h = h ^ (h >> np.uint32(13))
    h = h * np.uint32(0xC2B2AE35)
    return h ^ (h >> np.uint32(16))


def _permuted(words: list[str]) -> np.ndarray:
    """Every distinct word's value under each of the NUM_PERM permutations (words × perms)."""
    a, b, scheme, hashfunc = _datasketch()
    hv = np.array([hashfunc(w.encode("utf-8")) for w in words], dtype=np.uint64)  # type: ignore[operator]
    with np.errstate(over="ignore"):
        if scheme == "affine32":
            h = _fmix32(hv.astype(np.uint32)).reshape(-1, 1)
            return h * a.astype(np.uint32) + b.astype(np.uint32)
        if scheme == "legacy":
            mersenne = np.uint64((1 << 61) - 1)
            return ((hv.reshape(-1, 1) * a + b) % mersenne) & np.uint64(0xFFFFFFFF)
    raise RuntimeError(f"datasketch's MinHash scheme {scheme!r} is not supported here; pin datasketch")


def minhash_signatures(word_ptr: np.ndarray, word_ids: np.ndarray, words: list[str]) -> np.ndarray:
    """One datasketch MinHash signature per (non-empty) document of the CSR word lists (docs × NUM_PERM)."""
    perm_t = np.ascontiguousarray(_permuted(words).T)  # perms × words: reductions run along rows
    n = len(word_ptr) - 1
    sig = np.empty((NUM_PERM, n), dtype=perm_t.dtype)
    start = 0
    while start < n:
        # documents in chunks of about _CHUNK words
        end = int(np.searchsorted(word_ptr, word_ptr[start] + _CHUNK, side="right"))
        end = min(max(end - 1, start + 1), n)
        lo, hi = int(word_ptr[start]), int(word_ptr[end])
        block = perm_t[:, word_ids[lo:hi]]
        offs = (word_ptr[start:end] - lo).astype(np.int64)
        sig[:, start:end] = np.minimum.reduceat(block, offs, axis=1)
        start = end
    return np.ascontiguousarray(sig.T)


def _mix64(x: np.ndarray) -> np.ndarray:
    h = x.astype(np.uint64) + np.uint64(0x9E3779B97F4A7C15)
    with np.errstate(over="ignore"):
        h = (h ^ (h >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        h = (h ^ (h >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return h ^ (h >> np.uint64(31))


@dataclass
class SimilarGroups:
    """Posts grouped by identical word sets; ``pairs`` of groups whose Jaccard similarity >= threshold."""

    group: np.ndarray  # int64 per post, -1 when the post takes no part
    pairs: np.ndarray  # (k, 2) int64, g1 < g2
    jaccard: np.ndarray  # float per pair
    candidates: int  # pairs the LSH bands proposed


def similar_groups(posts: Posts, threshold: float) -> SimilarGroups:
    """Distinct word sets of the non-repost posts, and which of them are near-duplicates."""
    counts = np.diff(posts.words.ptr)
    has = np.flatnonzero(counts > 0)
    group = np.full(len(posts), -1, dtype=np.int64)
    if len(has) == 0:
        return SimilarGroups(group, np.zeros((0, 2), np.int64), np.zeros(0), 0)
    # identical word sets first: one group per distinct set, keyed by an order-free 64-bit hash of
    # the set and its size (word ids are sorted and distinct within a post)
    ptr, ids = posts.words.ptr, posts.words.ids
    with np.errstate(over="ignore"):
        set_hash = np.add.reduceat(_mix64(ids), ptr[has])
    size = counts[has]
    order = np.lexsort((has, size, set_hash))
    sh_, sz_ = set_hash[order], size[order]
    new = np.r_[True, (sh_[1:] != sh_[:-1]) | (sz_[1:] != sz_[:-1])]
    gid_sorted = np.cumsum(new) - 1
    group[has[order]] = gid_sorted
    reps = has[order][new]  # the first post of each group
    rep_counts = counts[reps]
    rptr = np.concatenate([[0], np.cumsum(rep_counts)]).astype(np.int64)
    starts = ptr[reps]
    offsets = np.arange(int(rep_counts.sum())) - np.repeat(rptr[:-1], rep_counts)
    cell = np.repeat(starts, rep_counts) + offsets
    rids = ids[cell]
    sig = minhash_signatures(rptr, rids, posts.word_values)
    bands, rows = lsh_params(threshold)
    cand: list[np.ndarray] = []
    for band in range(bands):
        cols = sig[:, band * rows : (band + 1) * rows].astype(np.uint64)
        # one 64-bit key per band (collisions only add candidates, which are checked exactly)
        band_key = np.zeros(len(cols), dtype=np.uint64)
        with np.errstate(over="ignore"):
            for c in range(rows):
                band_key = band_key * np.uint64(0x9E3779B97F4A7C15) + cols[:, c] + np.uint64(c + 1)
        order = np.argsort(band_key, kind="stable")
        sk = band_key[order]
        run_start = np.flatnonzero(np.r_[True, sk[1:] != sk[:-1]])
        lengths = np.diff(np.r_[run_start, len(sk)])
        two = run_start[lengths == 2]  # most runs are pairs: at once
        a, b = order[two], order[two + 1]
        cand.append(np.stack([np.minimum(a, b), np.maximum(a, b)], axis=1))
        for rs, ln in zip(run_start[lengths > 2], lengths[lengths > 2], strict=True):
            m = order[rs : rs + ln]
            ii, jj = np.triu_indices(len(m), 1)
            a, b = m[ii], m[jj]
            cand.append(np.stack([np.minimum(a, b), np.maximum(a, b)], axis=1))
    if not cand:
        return SimilarGroups(group, np.zeros((0, 2), np.int64), np.zeros(0), 0)
    both = np.concatenate(cand)
    keyed = uniq(both[:, 0] * np.int64(1 << 31) + both[:, 1])
    allc = np.stack([keyed >> 31, keyed & ((1 << 31) - 1)], axis=1)
    jac = _exact_jaccard(allc, rptr, rids)
    keep = jac >= threshold
    return SimilarGroups(group, allc[keep].astype(np.int64), jac[keep], len(allc))


def _exact_jaccard(pairs: np.ndarray, rptr: np.ndarray, rids: np.ndarray, chunk: int = 200_000) -> np.ndarray:
    """|A ∩ B| / |A ∪ B| of the word sets of every pair of groups, in chunks of pairs, with sorts."""
    out = np.empty(len(pairs), dtype=np.float64)
    vocab = np.int64(int(rids.max(initial=0)) + 1)
    lens = np.diff(rptr)
    for start in range(0, len(pairs), chunk):
        p = pairs[start : start + chunk]
        k = np.arange(len(p), dtype=np.int64)
        inter = np.zeros(len(p), np.int64)
        cells = []
        for side in (0, 1):
            g = p[:, side]
            c = lens[g]
            pos = np.repeat(rptr[g], c) + (np.arange(int(c.sum())) - np.repeat(np.cumsum(c) - c, c))
            cells.append(np.repeat(k, c) * vocab + rids[pos])
        both = np.sort(np.concatenate(cells))
        dup = both[1:][both[1:] == both[:-1]]  # a word in both sets appears twice under its pair
        np.add.at(inter, dup // vocab, 1)
        union = lens[p[:, 0]] + lens[p[:, 1]] - inter
        out[start : start + chunk] = inter / np.maximum(union, 1)
    return out

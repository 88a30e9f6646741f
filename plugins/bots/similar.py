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

from .posts import Posts

__all__ = ["NUM_PERM", "SimilarGroups", "lsh_params", "minhash_signatures", "similar_groups"]

NUM_PERM = 64
SEED = 1
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

    lsh = MinHashLSH(threshold=threshold, num_perm=NUM_PERM)
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
    """One datasketch MinHash signature per document of the CSR word lists (docs × NUM_PERM)."""
    perm = _permuted(words)
    n = len(word_ptr) - 1
    sig = np.empty((n, NUM_PERM), dtype=perm.dtype)
    start = 0
    while start < n:
        # documents in chunks of about _CHUNK words
        end = int(np.searchsorted(word_ptr, word_ptr[start] + _CHUNK, side="right"))
        end = min(max(end - 1, start + 1), n)
        lo, hi = int(word_ptr[start]), int(word_ptr[end])
        block = perm[word_ids[lo:hi]]
        offs = (word_ptr[start:end] - lo).astype(np.int64)
        sig[start:end] = np.minimum.reduceat(block, offs, axis=0)
        start = end
    return sig


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
    # identical word sets first: a group per distinct set (word ids are sorted within a post)
    sets: dict[bytes, int] = {}
    reps: list[int] = []
    ptr, ids = posts.words.ptr, posts.words.ids
    for i in has:
        key = ids[ptr[i] : ptr[i + 1]].tobytes()
        g = sets.get(key)
        if g is None:
            g = sets[key] = len(reps)
            reps.append(int(i))
        group[i] = g
    rep_counts = counts[reps]
    rptr = np.concatenate([[0], np.cumsum(rep_counts)]).astype(np.int64)
    rids = np.concatenate([ids[ptr[i] : ptr[i + 1]] for i in reps]) if reps else np.zeros(0, np.int32)
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
        for rs, ln in zip(run_start[lengths > 1], lengths[lengths > 1], strict=True):
            m = order[rs : rs + ln]
            ii, jj = np.triu_indices(len(m), 1)
            a, b = m[ii], m[jj]
            cand.append(np.stack([np.minimum(a, b), np.maximum(a, b)], axis=1))
    if not cand:
        return SimilarGroups(group, np.zeros((0, 2), np.int64), np.zeros(0), 0)
    allc = np.unique(np.concatenate(cand), axis=0)
    sets_of = [frozenset(rids[rptr[g] : rptr[g + 1]].tolist()) for g in range(len(reps))]
    keep: list[int] = []
    jac: list[float] = []
    for k, (g1, g2) in enumerate(allc.tolist()):
        s1, s2 = sets_of[g1], sets_of[g2]
        j = len(s1 & s2) / len(s1 | s2)
        if j >= threshold:
            keep.append(k)
            jac.append(j)
    return SimilarGroups(group, allc[keep].astype(np.int64), np.array(jac), len(allc))

"""Perceptual hashes: the same picture arriving twice, re-encoded, resized or stripped, is recognised.

A hint for the reviewer ("this photo arrived before"), never proof and never merged.
"""

from __future__ import annotations

from math import cos, pi

from PIL import Image, ImageOps

from tequio.node.media import PIL_ERRORS, PathLike, regular

__all__ = ["NEAR_DUPLICATE_BITS", "hamming", "is_near_duplicate", "perceptual_hash"]

#: Two perceptual hashes at most this many bits apart (of 64) show the same picture: a re-encoded,
#: resized or stripped copy measures 0-4 bits from its original, different photos of one street 20+.
NEAR_DUPLICATE_BITS = 10

# cos((2x + 1) u pi / 64) for the 8 lowest frequencies u of a 32-point DCT-II
_DCT = [[cos((2 * x + 1) * u * pi / 64) for x in range(32)] for u in range(8)]


def perceptual_hash(path: PathLike) -> int | None:
    """A 64-bit DCT hash (pHash) of the picture as shown; None if the file is not a decodable image.

    Survives re-encoding, resizing and metadata stripping (see :data:`NEAR_DUPLICATE_BITS`), so the
    same photo arriving twice, or a working copy, is recognised.
    """
    p = regular(path)
    try:
        with Image.open(p) as im:
            im.draft("L", (128, 128))  # JPEG: let the decoder scale down, far faster
            try:
                shown = ImageOps.exif_transpose(im)
            except PIL_ERRORS:
                shown = im
            g = shown.convert("L").resize((32, 32), Image.Resampling.LANCZOS)
            px = g.tobytes()
    except PIL_ERRORS:
        return None
    rows = [[sum(px[y * 32 + x] * _DCT[u][x] for x in range(32)) for u in range(8)] for y in range(32)]
    coeffs = [sum(rows[y][u] * _DCT[v][y] for y in range(32)) for v in range(8) for u in range(8)]
    median = sorted(coeffs)[31:33]
    mid = (median[0] + median[1]) / 2
    h = 0
    for c in coeffs:
        h = (h << 1) | (c > mid)
    return h


def hamming(a: int, b: int) -> int:
    """Bits in which two perceptual hashes differ."""
    return (a ^ b).bit_count()


def is_near_duplicate(a: int, b: int) -> bool:
    """Whether two perceptual hashes show the same picture (within :data:`NEAR_DUPLICATE_BITS`)."""
    return hamming(a, b) <= NEAR_DUPLICATE_BITS

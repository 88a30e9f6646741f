"""What curation reads from a sealed original held in memory: the picture's perceptual hash and the
camera's clock. The same pHash the evidence plugin computes (same DCT, same bits), so an item taken in
by hand and one accepted from the drop group as near-duplicates; written here because no plugin
imports another. Both take bytes: the plaintext is never written to a file.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta, timezone
from math import cos, pi

from PIL import ExifTags, Image, ImageOps

from tequio.node.media import PIL_ERRORS

__all__ = ["camera_time", "perceptual_hash"]

_DCT = [[cos((2 * x + 1) * u * pi / 64) for x in range(32)] for u in range(8)]
_ORIGINAL, _OFFSET, _DATETIME = 36867, 36881, 306


def perceptual_hash(data: bytes) -> int | None:
    """A 64-bit DCT hash of the picture as shown; None when the bytes are not a decodable image."""
    try:
        with Image.open(io.BytesIO(data)) as im:
            im.draft("L", (128, 128))
            try:
                shown = ImageOps.exif_transpose(im)
            except PIL_ERRORS:
                shown = im
            px = shown.convert("L").resize((32, 32), Image.Resampling.LANCZOS).tobytes()
    except PIL_ERRORS:
        return None
    rows = [[sum(px[y * 32 + x] * _DCT[u][x] for x in range(32)) for u in range(8)] for y in range(32)]
    coeffs = [sum(rows[y][u] * _DCT[v][y] for y in range(32)) for v in range(8) for u in range(8)]
    low, high = sorted(coeffs)[31:33]
    mid = (low + high) / 2
    h = 0
    for c in coeffs:
        h = (h << 1) | (c > mid)
    return h


def camera_time(data: bytes) -> int | None:
    """EXIF DateTimeOriginal (else DateTime) in ms since the epoch, UTC unless an offset is stated;
    None when absent or unreadable (never an error: the witness's time is shown beside it)."""
    try:
        with Image.open(io.BytesIO(data)) as im:
            exif = im.getexif()
            sub = exif.get_ifd(ExifTags.IFD.Exif)
            text, offset = sub.get(_ORIGINAL) or exif.get(_DATETIME), sub.get(_OFFSET)
    except Exception:  # any bytes Pillow cannot read simply have no camera time
        return None
    if not isinstance(text, str):
        return None
    try:
        d = datetime.strptime(text.strip("\x00 ")[:19], "%Y:%m:%d %H:%M:%S")
    except ValueError:
        return None
    tz: timezone = UTC
    if isinstance(offset, str) and len(o := offset.strip("\x00 ")) == 6 and o[0] in "+-":
        try:
            sign = 1 if o[0] == "+" else -1
            tz = timezone(sign * timedelta(hours=int(o[1:3]), minutes=int(o[4:6])))
        except ValueError:
            tz = UTC
    try:
        return int(d.replace(tzinfo=tz).timestamp() * 1000)
    except (OverflowError, ValueError, OSError):
        return None

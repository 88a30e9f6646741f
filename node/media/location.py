"""Where a photo was taken, as its EXIF GPS tags say: for checks, tests and the demo's narration."""

from __future__ import annotations

from fractions import Fraction
from typing import Any

from PIL import ExifTags, Image

from .files import PIL_ERRORS, MediaError, PathLike, regular

__all__ = ["read_location"]


def _degrees(value: Any, ref: Any, negative: str) -> Fraction | None:
    try:
        parts = [Fraction(v.numerator, v.denominator) for v in value]
        if len(parts) != 3:
            return None
        d = parts[0] + parts[1] / 60 + parts[2] / 3600
    except (TypeError, ValueError, ZeroDivisionError, AttributeError):
        return None
    r = ref.decode("latin-1") if isinstance(ref, bytes) else str(ref or "")
    return -d if r.strip("\x00 ").upper() == negative else d


def read_location(path: PathLike) -> tuple[int, int] | None:
    """(latitude, longitude) in microdegrees from the EXIF GPS tags; None when there are none.

    Raises MediaError for a file Pillow cannot open as an image: that says nothing about location.
    """
    p = regular(path)
    try:
        with Image.open(p) as im:
            gps = im.getexif().get_ifd(ExifTags.IFD.GPSInfo)
    except PIL_ERRORS as e:
        raise MediaError(f"{p}: not an image whose location Tequio can read ({e})") from None
    if not gps:
        return None
    lat = _degrees(gps.get(2), gps.get(1), "S")
    lon = _degrees(gps.get(4), gps.get(3), "W")
    if lat is None or lon is None:
        return None
    return round(lat * 1_000_000), round(lon * 1_000_000)

"""The camera's own clock, from the sealed original's EXIF: shown to curators beside the witness's time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

from PIL import ExifTags, Image

__all__ = ["camera_time"]

_ORIGINAL, _OFFSET, _DATETIME = 36867, 36881, 306


def camera_time(path: Path) -> int | None:
    """DateTimeOriginal (else DateTime) in ms since the epoch; a time without a stated offset is read as
    UTC, like a witness's time without one. None when absent or unreadable: never an error at intake."""
    try:
        with Image.open(path) as im:
            exif = im.getexif()
            sub = exif.get_ifd(ExifTags.IFD.Exif)
            text, offset = sub.get(_ORIGINAL) or exif.get(_DATETIME), sub.get(_OFFSET)
    except Exception:  # any file Pillow cannot read simply has no camera time
        return None
    if not isinstance(text, str):
        return None
    try:
        d = datetime.strptime(text.strip("\x00 ")[:19], "%Y:%m:%d %H:%M:%S")
    except ValueError:
        return None
    tz = UTC
    if isinstance(offset, str) and len(o := offset.strip("\x00 ")) == 6 and o[0] in "+-":
        try:
            sign = 1 if o[0] == "+" else -1
            tz = timezone(sign * timedelta(hours=int(o[1:3]), minutes=int(o[4:6])))
        except ValueError:
            tz = UTC
    return int(d.replace(tzinfo=tz).timestamp() * 1000)

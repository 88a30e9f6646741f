"""EXIF: what an EXIF block holds, and a minimal new one with only what the operator keeps.

A working copy keeps at most the Orientation tag (so the picture shows upright) and, when asked,
the GPS tags that say where and when: position, altitude, GPS time and date, datum. Free-text GPS
tags (area information, processing method) and the rest (satellites, speed, direction, destination)
are never kept: they can name a place or a device in words.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from PIL import ExifTags, Image

from .files import PIL_ERRORS

__all__ = ["GPS_KEPT", "ExifFacts", "exif_facts", "new_exif"]

#: GPS tags kept with keep_location: version, latitude, longitude, altitude (with their refs), the GPS
#: time, the datum and the GPS date. GPSProcessingMethod (27) and GPSAreaInformation (28) are free text.
GPS_KEPT = frozenset({0, 1, 2, 3, 4, 5, 6, 7, 18, 29})


@dataclass
class ExifFacts:
    """What an EXIF block held: the names for the report, its Orientation, its GPS tags."""

    names: list[str]
    orientation: int | None = None
    gps: dict[int, Any] | None = None


def exif_facts(data: bytes) -> ExifFacts:
    """What an EXIF block (``Exif\\0\\0`` + TIFF, or bare TIFF) held, read with Pillow; never raises."""
    facts = ExifFacts(["exif"])
    try:
        ex = Image.Exif()
        ex.load(data)
        if ExifTags.IFD.GPSInfo in ex:
            facts.names.append("gps")
            gps = ex.get_ifd(ExifTags.IFD.GPSInfo)
            facts.gps = dict(gps) if gps else None
        if 0x927C in ex.get_ifd(ExifTags.IFD.Exif):
            facts.names.append("makernote")
        if ex.get_ifd(ExifTags.IFD.IFD1):
            facts.names.append("thumbnail")
        o = ex.get(0x0112)
        if isinstance(o, int) and 2 <= o <= 8:
            facts.orientation = o
    except PIL_ERRORS:
        facts.names.append("unreadable-exif")
    return facts


def _gps_name(tag: int) -> str:
    try:
        return ExifTags.GPS(tag).name
    except ValueError:
        return f"GPS tag {tag}"


def new_exif(facts: ExifFacts | None, keep_location: bool, kept: list[str], notes: list[str]) -> bytes | None:
    """``Exif\\0\\0`` + TIFF with only the Orientation tag and, when asked, the GPS tags; None if neither."""
    if facts is None:
        if keep_location:
            notes.append("keep_location: the original has no GPS tags to keep.")
        return None
    ex = Image.Exif()
    if facts.orientation:
        ex[0x0112] = facts.orientation
    gps = facts.gps if keep_location else None
    if keep_location and not gps:
        notes.append("keep_location: the original has no readable GPS tags to keep.")
    if gps:
        dropped = sorted(k for k in gps if k not in GPS_KEPT)
        gps = {k: v for k, v in gps.items() if k in GPS_KEPT}
        if dropped:
            names = ", ".join(_gps_name(k) for k in dropped)
            notes.append(f"keep_location kept position, altitude, GPS time and datum only, not {names}.")
    if gps:
        ex[ExifTags.IFD.GPSInfo] = gps
    if not len(ex):
        return None
    try:
        data = ex.tobytes()
    except PIL_ERRORS:
        notes.append("The Orientation and GPS tags could not be rewritten, so none were kept.")
        return None
    if facts.orientation:
        kept.append("orientation")
    if gps:
        kept.append("gps")
    return data

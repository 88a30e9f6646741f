"""TIFF: offsets everywhere, so Pillow decodes every page and writes it again, losslessly.

Only the image structure tags are written (and the ICC profile and resolution of the first page);
every page is kept. Camera raw (DNG, or a TIFF with sub-images such as NEF) is not stripped:
Pillow would see only a preview.
"""

from __future__ import annotations

from typing import IO, Any, BinaryIO

from PIL import ExifTags, Image, ImageSequence, TiffImagePlugin

from .exif import ExifFacts, new_exif
from .files import PIL_ERRORS, MediaError
from .report import Stripped, result

__all__ = ["strip_tiff"]

_TIFF_TAGS = {
    34665: "exif", 34853: "gps", 700: "xmp", 33723: "iptc", 34377: "photoshop", 37724: "photoshop",
    270: "description", 271: "camera", 272: "camera", 305: "software", 306: "datetime", 315: "artist",
    316: "hostcomputer", 33432: "copyright", 269: "documentname", 285: "pagename", 37510: "comment",
}  # fmt: skip
# libtiff reports a tag it cannot write as RuntimeError
_TIFF_ERRORS: tuple[type[BaseException], ...] = (*PIL_ERRORS, RuntimeError)
_TIFF_LOSSLESS = {"raw", "tiff_lzw", "tiff_deflate", "tiff_adobe_deflate", "packbits"}


def strip_tiff(fin: BinaryIO, fout: IO[bytes], keep_location: bool) -> Stripped | None:
    """None for camera raw (DNG, NEF…): Pillow would see only a preview, so it is not stripped.

    Pages are written one at a time (AppendingTiffWriter), so a long scan costs one page of memory.
    """
    removed: list[str] = []
    kept: list[str] = []
    notes: list[str] = []
    pages = 0
    try:
        with Image.open(fin) as im:
            if im.format != "TIFF":
                raise MediaError(f"not a TIFF: Pillow reads it as {im.format}")
            for frame in ImageSequence.Iterator(im):
                tags = frame.tag_v2  # type: ignore[attr-defined]
                if 50706 in tags or 330 in tags:  # DNGVersion, SubIFDs
                    return None
                removed.extend(name for tag, name in _TIFF_TAGS.items() if tag in tags)
            im.seek(0)
            tags = im.tag_v2  # type: ignore[attr-defined]
            ex = im.getexif()
            if 0x927C in ex.get_ifd(ExifTags.IFD.Exif):
                removed.append("makernote")
            o = tags.get(0x0112)
            gps = dict(ex.get_ifd(ExifTags.IFD.GPSInfo)) if 34853 in tags else None
            im.load()
            # Recent Pillow turns the pixels upright on load and drops the tag; then none is needed.
            if 0x0112 not in im.tag_v2 and isinstance(o, int) and 2 <= o <= 8:  # type: ignore[attr-defined]
                notes.append("The Orientation was applied to the pixels, so the picture shows upright.")
                o = None
            facts = ExifFacts([], o if isinstance(o, int) and 2 <= o <= 8 else None, gps or None)
            exif = new_exif(facts, keep_location, kept, notes)
            icc = im.info.get("icc_profile")
            if icc:
                kept.append("icc")
            with TiffImagePlugin.AppendingTiffWriter(fout) as tf:
                for frame in ImageSequence.Iterator(im):
                    opts = _page_options(frame, exif, "gps" in kept, notes)
                    page = frame.copy()  # a plain image: none of the page's tags travel with it
                    page.info = {}
                    page.save(tf, format="TIFF", **opts)
                    tf.newFrame()
                    pages += 1
    except MediaError:
        raise
    except _TIFF_ERRORS as e:
        raise MediaError(f"TIFF could not be decoded or written again: {e}") from None
    if pages > 1:
        notes.append(f"All {pages} pages were kept.")
    return result(
        removed,
        kept,
        notes,
        "TIFF: the pixels were decoded and written again losslessly with "
        "only the image structure tags; every metadata tag was left out.",
    )


def _page_options(frame: Image.Image, exif: bytes | None, keep_gps: bool, notes: list[str]) -> dict[str, Any]:
    """How one page is written: its own lossless compression, ICC profile and resolution, the kept EXIF."""
    compression = frame.info.get("compression", "raw")
    if keep_gps:
        # libtiff (every compressed TIFF) cannot write a GPS IFD; Pillow's own writer can, uncompressed.
        if compression != "raw":
            _note(notes, "Written uncompressed: only that TIFF writer can keep the GPS tags.")
        compression = "raw"
    elif compression not in _TIFF_LOSSLESS:
        _note(notes, f"The {compression} pixels were re-encoded losslessly (deflate).")
        compression = "tiff_adobe_deflate"
    opts: dict[str, Any] = {"compression": compression}
    if icc := frame.info.get("icc_profile"):
        opts["icc_profile"] = icc
    if dpi := frame.info.get("dpi"):
        opts["dpi"] = dpi
    if exif is not None:
        opts["exif"] = exif[6:]
    return opts


def _note(notes: list[str], line: str) -> None:
    if line not in notes:
        notes.append(line)

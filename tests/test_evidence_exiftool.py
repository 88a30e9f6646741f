"""Working copies checked with exiftool, as a court's expert would: a multi-page TIFF keeps every page
and loses every tag; keep_location keeps the GPS position, altitude, time and datum, and no free text."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from PIL import ExifTags, Image

from tequio.node.media import read_location, strip


def exiftool(path: Path) -> dict[str, Any]:
    """Every tag exiftool reads, as ``{"Group:Tag": value}`` (every IFD and page, duplicates kept)."""
    assert shutil.which("exiftool"), "exiftool is needed (apt-get install libimage-exiftool-perl)"
    r = subprocess.run(
        ["exiftool", "-j", "-a", "-G1", "-s", "-n", str(path)], capture_output=True, text=True, check=True
    )
    (tags,) = json.loads(r.stdout)
    return dict(tags)


def _gps_tags() -> dict[int, Any]:
    """Position, altitude, time and datum, and the tags keep_location must not keep: free text and more."""
    return {
        0: b"\x02\x03\x00\x00",
        1: "N", 2: (19.0, 25.0, 57.6), 3: "W", 4: (99.0, 7.0, 58.8), 5: b"\x00", 6: 2240.0,
        7: (17.0, 4.0, 31.0), 18: "WGS-84", 29: "2026:10:02",
        8: "06", 16: "T", 17: 181.5,  # satellites, image direction
        27: b"ASCII\x00\x00\x00NETWORK",  # GPSProcessingMethod: free text
        28: b"ASCII\x00\x00\x00Casa de Ana, calle Moneda 12",  # GPSAreaInformation: free text
    }  # fmt: skip


def _exif_with_gps() -> Image.Exif:
    ex = Image.Exif()
    ex[0x010F] = "FaxCo"
    ex[0x0110] = "Scanner 9"
    ex[0x010E] = "Denuncia de Ana, hoja 1"
    ex[ExifTags.IFD.GPSInfo] = _gps_tags()
    return ex


#: What exiftool calls the GPS tags keep_location keeps (GPS_KEPT), and those it must drop.
GPS_ALLOWED = {
    "GPSVersionID", "GPSLatitudeRef", "GPSLatitude", "GPSLongitudeRef", "GPSLongitude", "GPSAltitudeRef",
    "GPSAltitude", "GPSTimeStamp", "GPSMapDatum", "GPSDateStamp",
}  # fmt: skip


def _gps_seen(tags: dict[str, Any]) -> set[str]:
    return {k.split(":", 1)[1] for k in tags if k.startswith("GPS:")}


def test_a_multi_page_tiff_keeps_every_page_and_loses_its_metadata(tmp_path: Path) -> None:
    """A witness's three-page scan: every page is kept, pixel for pixel, and no page keeps a tag."""
    pages = []
    for i in range(3):
        im = Image.new("RGB", (120, 90), (40 * i, 90, 200 - 40 * i))
        im.paste((255, 255, 255), (10 * i, 10, 10 * i + 30, 40))
        pages.append(im)
    src = tmp_path / "fax.tif"
    ex = _exif_with_gps()
    pages[0].save(src, save_all=True, append_images=pages[1:], exif=ex.tobytes())
    before = exiftool(src)
    assert before["IFD2:Make"] == "FaxCo" and "Casa de Ana" in before["GPS:GPSAreaInformation"]
    work = tmp_path / "w.tif"
    s = strip(src, work)
    assert {"gps", "camera", "description"} <= set(s.removed) and s.stripped
    assert "All 3 pages were kept." in s.note
    with Image.open(src) as a, Image.open(work) as b:
        assert getattr(b, "n_frames", 1) == 3
        for i in range(3):
            a.seek(i)
            b.seek(i)
            assert a.convert("RGB").tobytes() == b.convert("RGB").tobytes(), f"page {i + 1}"
    after = exiftool(work)
    leaked = sorted(
        k for k in after if k.split(":")[-1] in {"Make", "Model", "ImageDescription"} or k.startswith("GPS:")
    )
    assert not leaked, leaked
    assert b"Casa de Ana" not in work.read_bytes() and b"FaxCo" not in work.read_bytes()


def test_a_compressed_multi_page_tiff_is_taken_in_too(tmp_path: Path) -> None:
    """LZW pages with a description each (no GPS: libtiff writes none): kept lossless, tags gone."""
    src = tmp_path / "scan.tif"
    pages = [Image.new("L", (64, 64), 30 * i) for i in range(4)]
    ex = Image.Exif()
    ex[0x010E] = "Expediente 4411"
    pages[0].save(src, save_all=True, append_images=pages[1:], compression="tiff_lzw", exif=ex.tobytes())
    work = tmp_path / "w.tif"
    s = strip(src, work)
    assert "description" in s.removed and "All 4 pages were kept." in s.note
    with Image.open(work) as b:
        assert b.n_frames == 4 and b.info.get("compression") == "tiff_lzw"
    assert b"Expediente" not in work.read_bytes()
    assert not [k for k in exiftool(work) if k.endswith(":ImageDescription")]


def _with_gps(fmt: str, tmp_path: Path) -> Path:
    im = Image.new("RGB", (80, 60), (120, 30, 30))
    path = tmp_path / f"gps.{fmt}"
    ex = _exif_with_gps()
    im.save(path, exif=ex.tobytes(), **({"lossless": True} if fmt == "webp" else {}))
    return path


@pytest.mark.parametrize("fmt", ["jpeg", "png", "webp", "tiff"])
def test_keep_location_keeps_position_altitude_time_and_datum_only(fmt: str, tmp_path: Path) -> None:
    """GPSAreaInformation and GPSProcessingMethod are free text (an address, a network name): dropped,
    as are satellites and direction; exiftool sees only the allowed GPS tags in the working copy."""
    src = _with_gps(fmt, tmp_path)
    before = _gps_seen(exiftool(src))
    assert {"GPSAreaInformation", "GPSProcessingMethod", "GPSSatellites", "GPSImgDirection"} <= before
    work = tmp_path / f"w.{fmt}"
    s = strip(src, work, keep_location=True)
    assert s.kept == ["gps"], s
    assert (
        "not GPSSatellites, GPSImgDirectionRef, GPSImgDirection, GPSProcessingMethod, GPSAreaInformation"
        in (s.note)
    )
    after = exiftool(work)
    assert _gps_seen(after) <= GPS_ALLOWED and {"GPSLatitude", "GPSLongitude", "GPSAltitude"} <= _gps_seen(
        after
    )
    assert read_location(work) == read_location(src)
    assert b"Casa de Ana" not in work.read_bytes() and b"NETWORK" not in work.read_bytes()
    assert not [k for k in after if k.split(":")[-1] in {"Make", "Model", "ImageDescription"}]

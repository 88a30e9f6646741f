"""Evidence media: sealed originals stay byte-identical, working copies lose what locates the witness.

Real photos from ``../shared/data/evidence/exif-gps`` (Nikon JPEGs with GPS and maker notes) are read
in place; the other formats are made from them here. A missing data folder fails, it does not skip.
"""

from __future__ import annotations

import hashlib
import io
import itertools
import json
import os
import struct
import subprocess
import sys
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from PIL import ExifTags, Image, ImageCms, PngImagePlugin

from tequio.node.media import CHUNK, FileDigest, MediaError, hash_file, read_location, sniff, strip
from tequio.node.media.exif import GPS_KEPT
from tequio.plugins.evidence.phash import NEAR_DUPLICATE_BITS, hamming, is_near_duplicate, perceptual_hash

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
GPS_DIR = DATA / "evidence" / "exif-gps"
PHOTOS = [f"DSCN00{n}.jpg" for n in (10, 12, 21, 25, 27, 29, 38, 40, 42)]
# The byte patterns of what must not survive in a working copy.
EXIF_MARK = b"Exif\x00\x00"
XMP_MARK = b"http://ns.adobe.com/xap/1.0/"


def photo(name: str = "DSCN0010.jpg") -> Path:
    p = GPS_DIR / name
    assert p.is_file(), f"missing shared test photo {p}: the checkout needs ../shared/data beside it"
    return p


def sha(p: Path) -> bytes:
    return hashlib.sha256(p.read_bytes()).digest()


def pixels(p: Path) -> bytes:
    with Image.open(p) as im:
        return im.convert("RGB").tobytes()


def exif_of(p: Path) -> Image.Exif:
    with Image.open(p) as im:
        return im.getexif()


def test_shared_data_is_there() -> None:
    assert sorted(x.name for x in GPS_DIR.glob("*.jpg")) == PHOTOS, f"expected the 9 GPS photos in {GPS_DIR}"


# --------------------------------------------------------------------------------------------------
# The nine real photos


@pytest.mark.parametrize("name", PHOTOS)
def test_sealed_original_and_stripped_working_copy(name: str, tmp_path: Path) -> None:
    src = photo(name)
    before = sha(src)
    assert read_location(src) is not None  # the original carries GPS

    sealed = tmp_path / "sealed.jpg"
    sealed.write_bytes(src.read_bytes())
    digest = hash_file(sealed)
    assert digest == FileDigest(before, src.stat().st_size, "image/jpeg") == hash_file(src)

    work = tmp_path / "work.jpg"
    s = strip(sealed, work, digest.mime)
    assert s.removed == ["exif", "gps", "makernote", "thumbnail", "xmp"]
    assert s.kept == [] and s.not_stripped == []
    assert "not re-encoded" in s.note
    data = work.read_bytes()
    assert EXIF_MARK not in data and XMP_MARK not in data and b"NIKON" not in data
    assert read_location(work) is None
    assert len(exif_of(work)) == 0  # orientation is 1 in all nine, so no EXIF at all is written
    with Image.open(work) as im:
        assert not {"exif", "xmp", "comment", "photoshop"} & set(im.info)
    assert pixels(work) == pixels(src)  # segments dropped, scan data untouched: decodes identically
    # The original and the sealed copy are unchanged by all of this.
    assert sha(src) == before == sha(sealed)
    assert read_location(sealed) == read_location(src)


@pytest.mark.parametrize("name", PHOTOS)
def test_keep_location_keeps_only_gps(name: str, tmp_path: Path) -> None:
    src = photo(name)
    work = tmp_path / "work.jpg"
    s = strip(src, work, "image/jpeg", keep_location=True)
    assert s.kept == ["gps"]
    assert "gps" in s.removed  # the original block went; a new one holds only the GPS tags
    assert read_location(work) == read_location(src)
    ex = exif_of(work)
    assert set(ex) == {ExifTags.IFD.GPSInfo}
    source_gps = dict(exif_of(src).get_ifd(ExifTags.IFD.GPSInfo))
    assert dict(ex.get_ifd(ExifTags.IFD.GPSInfo)) == {k: v for k, v in source_gps.items() if k in GPS_KEPT}
    data = work.read_bytes()
    assert XMP_MARK not in data and b"NIKON" not in data
    assert pixels(work) == pixels(src)


def test_location_in_microdegrees() -> None:
    # DSCN0010: N 43° 28' 2.814", E 11° 53' 6.456"
    assert read_location(photo("DSCN0010.jpg")) == (43_467_448, 11_885_127)


# --------------------------------------------------------------------------------------------------
# JPEG details: orientation, other segments, trailers


def _exif_with(**tags: Any) -> bytes:
    ex = Image.Exif()
    for k, v in tags.items():
        ex[getattr(ExifTags.Base, k)] = v
    return ex.tobytes()


def _splice(jpeg: bytes, *segments: bytes) -> bytes:
    return jpeg[:2] + b"".join(segments) + jpeg[2:]


def _seg(marker: int, payload: bytes) -> bytes:
    return bytes([0xFF, marker]) + struct.pack(">H", len(payload) + 2) + payload


def test_orientation_is_kept_alone(tmp_path: Path) -> None:
    src = tmp_path / "rotated.jpg"
    with Image.open(photo()) as im:
        ex = im.getexif()
        ex[ExifTags.Base.Orientation] = 6
        im.save(src, exif=ex, quality=90)
    assert read_location(src) is not None
    s = strip(src, tmp_path / "w.jpg", "image/jpeg")
    assert s.kept == ["orientation"] and "gps" in s.removed
    assert dict(exif_of(tmp_path / "w.jpg")) == {ExifTags.Base.Orientation: 6}
    s = strip(src, tmp_path / "wl.jpg", "image/jpeg", keep_location=True)
    assert s.kept == ["orientation", "gps"]
    assert read_location(tmp_path / "wl.jpg") == read_location(src)


@pytest.mark.filterwarnings("ignore:Image appears to be a malformed MPO file")
def test_jpeg_other_metadata_segments(tmp_path: Path) -> None:
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    buf = io.BytesIO()
    with Image.open(photo()) as im:
        im.save(buf, format="JPEG", icc_profile=icc, comment=b"at the corner of Juarez", quality=90)
    iptc = b"\x1c\x02\x78\x00\x05Hola!"  # IPTC caption
    app13 = b"Photoshop 3.0\x00" + b"8BIM" + b"\x04\x04" + b"\x00\x00" + struct.pack(">I", len(iptc)) + iptc
    if len(iptc) & 1:
        app13 += b"\x00"
    src = tmp_path / "many.jpg"
    src.write_bytes(
        _splice(
            buf.getvalue(),
            _seg(0xE1, _exif_with(Make="Phone", Artist="Ana")),
            _seg(0xED, app13),
            _seg(0xE2, b"MPF\x00II*\x00"),
            _seg(0xEC, b"Ducky\x00\x01"),
            _seg(0xEB, b"JP\x00\x01\x00\x00\x00\x01\x00\x00\x00\x20jumb\x00\x00\x00\x18jumdc2pa"),
        )
        + b"trailing video of a motion photo"
    )
    s = strip(src, tmp_path / "w.jpg", "image/jpeg")
    assert set(s.removed) == {"exif", "iptc", "mpf", "app12", "c2pa", "comment", "trailer"}
    assert s.kept == ["icc"]
    out = (tmp_path / "w.jpg").read_bytes()
    for gone in (b"Juarez", b"Hola!", b"Ducky", b"MPF\x00", b"jumb", b"trailing", b"Phone"):
        assert gone not in out
    assert out.endswith(b"\xff\xd9")
    with Image.open(tmp_path / "w.jpg") as w:
        assert w.info["icc_profile"] == icc
    assert pixels(tmp_path / "w.jpg") == pixels(src)


def test_progressive_jpeg_segments_between_scans(tmp_path: Path) -> None:
    buf = io.BytesIO()
    with Image.open(photo()) as im:
        im.save(buf, format="JPEG", progressive=True, quality=85)
    data = buf.getvalue()
    # A comment between two scans: inside the entropy-coded part, where the scanner has to find it.
    second_sos = data.index(b"\xff\xda", data.index(b"\xff\xda") + 2)
    src = tmp_path / "prog.jpg"
    src.write_bytes(data[:second_sos] + _seg(0xFE, b"between scans") + data[second_sos:])
    s = strip(src, tmp_path / "w.jpg", "image/jpeg")
    assert s.removed == ["comment"]
    assert (tmp_path / "w.jpg").read_bytes() == data
    assert pixels(tmp_path / "w.jpg") == pixels(src)


def test_clean_jpeg_is_copied_byte_for_byte(tmp_path: Path) -> None:
    buf = io.BytesIO()
    with Image.open(photo()) as im:
        im.save(buf, format="JPEG", quality=80)
    src = tmp_path / "clean.jpg"
    src.write_bytes(buf.getvalue())
    s = strip(src, tmp_path / "w.jpg", "image/jpeg")
    assert s.removed == [] and "No metadata was present" in s.note
    assert (tmp_path / "w.jpg").read_bytes() == src.read_bytes()


# --------------------------------------------------------------------------------------------------
# PNG, WebP, TIFF made from a real photo with its real EXIF (GPS, maker note) and XMP


@pytest.fixture
def sources(tmp_path: Path) -> dict[str, Path]:
    src = photo()
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    out: dict[str, Path] = {}
    with Image.open(src) as im:
        exif, xmp = im.info["exif"], im.info["xmp"]
        info = PngImagePlugin.PngInfo()
        info.add_itxt("XML:com.adobe.xmp", xmp.decode())
        info.add_text("Comment", "taken at the march")
        info.add_text("Author", "Ana")
        out["png"] = tmp_path / "a.png"
        im.save(out["png"], exif=exif, pnginfo=info, icc_profile=icc)
        out["webp"] = tmp_path / "a.webp"
        im.save(out["webp"], exif=exif, xmp=xmp, lossless=True, icc_profile=icc)
        ex = im.getexif()
        ex.get_ifd(ExifTags.IFD.Exif)
        ex.get_ifd(ExifTags.IFD.GPSInfo)
        ex[ExifTags.Base.XMLPacket] = xmp
        out["tiff"] = tmp_path / "a.tiff"
        im.save(out["tiff"], exif=ex, icc_profile=icc)
    return out


EXPECTED = {
    "png": ("image/png", {"exif", "gps", "makernote", "thumbnail", "xmp", "comment", "text"}),
    "webp": ("image/webp", {"exif", "gps", "makernote", "thumbnail", "xmp"}),
    "tiff": ("image/tiff", {"exif", "gps", "makernote", "xmp", "camera", "software", "datetime"}),
}


@pytest.mark.parametrize("fmt", sorted(EXPECTED))
def test_other_image_formats(fmt: str, sources: dict[str, Path], tmp_path: Path) -> None:
    src = sources[fmt]
    mime, removed = EXPECTED[fmt]
    d = hash_file(src)
    assert d.mime == mime
    assert read_location(src) == read_location(photo())
    work = tmp_path / f"w.{fmt}"
    s = strip(src, work, d.mime)
    assert removed <= set(s.removed), s.removed
    assert s.kept == ["icc"] and s.not_stripped == []
    assert read_location(work) is None
    assert len(exif_of(work)) == 0 or set(exif_of(work)) <= set(range(254, 342)) | {34675}  # TIFF structure
    data = work.read_bytes()
    assert XMP_MARK not in data and b"NIKON" not in data and b"march" not in data
    assert pixels(work) == pixels(src)
    assert hash_file(src) == d

    s = strip(src, tmp_path / f"loc.{fmt}", d.mime, keep_location=True)
    assert "gps" in s.kept
    assert read_location(tmp_path / f"loc.{fmt}") == read_location(src)
    assert b"NIKON" not in (tmp_path / f"loc.{fmt}").read_bytes()


def test_webp_vp8x_flags_are_cleared(sources: dict[str, Path], tmp_path: Path) -> None:
    strip(sources["webp"], tmp_path / "w.webp", "image/webp")
    data = (tmp_path / "w.webp").read_bytes()
    assert data[12:16] == b"VP8X" and data[20] & 0x0C == 0  # neither the EXIF nor the XMP flag
    assert int.from_bytes(data[4:8], "little") == len(data) - 8


def test_png_chunks_stay_valid(sources: dict[str, Path], tmp_path: Path) -> None:
    strip(sources["png"], tmp_path / "w.png", "image/png", keep_location=True)
    data = (tmp_path / "w.png").read_bytes()
    i, types = 8, []
    while i < len(data):
        n = int.from_bytes(data[i : i + 4], "big")
        t = data[i + 4 : i + 8]
        assert zlib.crc32(data[i + 4 : i + 8 + n]) == int.from_bytes(data[i + 8 + n : i + 12 + n], "big")
        types.append(t)
        i += 12 + n
    assert b"eXIf" in types and b"iTXt" not in types and b"tEXt" not in types and types[-1] == b"IEND"


# --------------------------------------------------------------------------------------------------
# Formats Tequio cannot strip are copied unchanged, and said so


def test_video_is_copied_and_reported(tmp_path: Path) -> None:
    src = tmp_path / "clip.bin"
    src.write_bytes(b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + os.urandom(300_000))
    d = hash_file(src)
    assert d.mime == "video/mp4"
    s = strip(src, tmp_path / "w.mp4", d.mime)
    assert s.removed == [] and s.kept == []
    assert s.not_stripped == [
        "video/mp4: container metadata (creation time, device, possibly GPS) was NOT removed; "
        "Tequio cannot strip this format"
    ]
    assert "byte-for-byte copy" in s.note
    assert (tmp_path / "w.mp4").read_bytes() == src.read_bytes()


@pytest.mark.parametrize(
    ("head", "mime", "words"),
    [
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", "application/pdf", "author"),
        (b"ID3\x04\x00\x00\x00\x00\x00\x00" + b"\xff\xfb\x90\x00" * 4, "audio/mpeg", "tags"),
        (b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic", "image/heic", "Pillow cannot open"),
        (b"plain words, no magic at all", "application/octet-stream", "unrecognised"),
    ],
)
def test_unstrippable_formats(head: bytes, mime: str, words: str, tmp_path: Path) -> None:
    src = tmp_path / "x"
    src.write_bytes(head + b"\x00" * 5000)
    assert hash_file(src).mime == mime
    s = strip(src, tmp_path / "w", mime)
    assert len(s.not_stripped) == 1 and s.not_stripped[0].startswith(f"{mime}: ")
    assert "NOT removed" in s.not_stripped[0] and words in s.not_stripped[0]
    assert (tmp_path / "w").read_bytes() == src.read_bytes()


# --------------------------------------------------------------------------------------------------
# Hashing, sniffing, content addressing


def test_sniffing_is_by_content_not_name(tmp_path: Path) -> None:
    jpeg_as_txt = tmp_path / "notes.txt"
    jpeg_as_txt.write_bytes(photo().read_bytes())
    assert hash_file(jpeg_as_txt).mime == "image/jpeg"
    text_as_jpg = tmp_path / "photo.jpg"
    text_as_jpg.write_text("Declaración del testigo, 3 de mayo.\n" * 50)
    d = hash_file(text_as_jpg)
    assert d.mime == "application/octet-stream"
    assert not d.mime.startswith("image/")
    assert sniff(b"") == "application/octet-stream"
    assert sniff(b"\x89PNG\r\n\x1a\n" + b"\x00" * 32) == "image/png"


def test_hash_file_is_sha256_in_chunks(tmp_path: Path) -> None:
    p = tmp_path / "three-chunks"
    # A fixed text prefix: random first bytes sometimes match a format's magic number (PostScript's
    # "%!" one time in 65,536), and the type sniffed is part of the digest compared.
    data = b"no format begins like this\n" + os.urandom(2 * CHUNK + 12345)
    p.write_bytes(data)
    assert hash_file(p) == FileDigest(hashlib.sha256(data).digest(), len(data), "application/octet-stream")


def test_working_copy_never_overwrites_its_source(tmp_path: Path) -> None:
    src = tmp_path / "o.jpg"
    src.write_bytes(photo().read_bytes())
    with pytest.raises(MediaError, match="must not overwrite"):
        strip(src, src, "image/jpeg")
    assert src.read_bytes() == photo().read_bytes()


# --------------------------------------------------------------------------------------------------
# Bad input: a clear MediaError or a sensible result, never an exception from deep inside a parser


def _bad_inputs(tmp_path: Path) -> dict[str, Path]:
    jpeg = photo().read_bytes()
    files = {
        "empty": b"",
        "truncated-header": jpeg[:2000],  # inside the EXIF segment
        "truncated-scan": jpeg[:100_000],  # inside the image data
        "soi-only": b"\xff\xd8",
        "text-named-jpg": b"not a picture at all\n" * 20,
        "garbage-segments": b"\xff\xd8\xff\xe1\x00\x01" + b"\x00" * 64,
        "png-truncated": b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR\x00\x00",
        "webp-lying": b"RIFF\xff\xff\xff\x00WEBPVP8X" + b"\x00" * 20,
        "tiff-garbage": b"II*\x00\x08\x00\x00\x00" + b"\xff" * 64,
    }
    out = {}
    for name, data in files.items():
        out[name] = tmp_path / f"{name}.jpg"
        out[name].write_bytes(data)
    out["directory"] = tmp_path / "a-directory.jpg"
    out["directory"].mkdir()
    out["missing"] = tmp_path / "missing.jpg"
    return out


def _calls(tmp_path: Path) -> dict[str, Callable[[Path], Any]]:
    return {
        "hash_file": hash_file,
        "working_jpeg": lambda p: strip(p, tmp_path / "out" / "w.jpg", "image/jpeg"),
        "working_png": lambda p: strip(p, tmp_path / "out" / "w.png", "image/png"),
        "working_webp": lambda p: strip(p, tmp_path / "out" / "w.webp", "image/webp"),
        "working_tiff": lambda p: strip(p, tmp_path / "out" / "w.tiff", "image/tiff"),
        "working_sniffed": lambda p: strip(p, tmp_path / "out" / "w", hash_file(p).mime),
        "perceptual_hash": perceptual_hash,
        "read_location": read_location,
    }


@pytest.mark.filterwarnings("ignore:Corrupt EXIF data")
def test_bad_input_never_crashes(tmp_path: Path) -> None:
    outcomes: dict[tuple[str, str], str] = {}
    for fname, path in _bad_inputs(tmp_path).items():
        for cname, call in _calls(tmp_path).items():
            try:
                call(path)
                outcomes[fname, cname] = "ok"
            except MediaError as e:
                assert str(e), (fname, cname)
                outcomes[fname, cname] = "MediaError"
            # Anything else propagates and fails the test: that is the point.
    for cname in _calls(tmp_path):
        assert outcomes["missing", cname] == "MediaError"
        assert outcomes["directory", cname] == "MediaError"
    for fname in ("empty", "truncated-header", "soi-only", "text-named-jpg", "garbage-segments"):
        assert outcomes[fname, "working_jpeg"] == "MediaError", fname
    for fname in ("png-truncated", "webp-lying", "tiff-garbage", "empty"):
        assert outcomes[fname, "hash_file"] == "ok"
    assert outcomes["png-truncated", "working_png"] == "MediaError"
    assert outcomes["webp-lying", "working_webp"] == "MediaError"
    assert outcomes["tiff-garbage", "working_tiff"] == "MediaError"
    # No temporary file is left behind by the failures.
    assert not [p for p in (tmp_path / "out").rglob("*") if p.is_file() and p.name.startswith(".tmp")]


def test_bad_input_results_are_sensible(tmp_path: Path) -> None:
    bad = _bad_inputs(tmp_path)
    empty = hash_file(bad["empty"])
    assert empty == FileDigest(hashlib.sha256(b"").digest(), 0, "application/octet-stream")
    assert perceptual_hash(bad["empty"]) is None
    assert perceptual_hash(bad["text-named-jpg"]) is None
    with pytest.raises(MediaError, match="not an image"):
        read_location(bad["text-named-jpg"])
    with pytest.raises(MediaError, match="truncated JPEG"):
        strip(bad["truncated-header"], tmp_path / "w.jpg", "image/jpeg")
    with pytest.raises(MediaError, match="no such file"):
        hash_file(bad["missing"])
    with pytest.raises(MediaError, match="directory"):
        hash_file(bad["directory"])
    # A JPEG cut inside its image data: the header still strips, what is there is copied, and said.
    s = strip(bad["truncated-scan"], tmp_path / "cut.jpg", "image/jpeg")
    assert "gps" in s.removed and "truncated" in s.note
    assert read_location(tmp_path / "cut.jpg") is None
    assert (tmp_path / "cut.jpg").stat().st_size < 100_000
    # The text file's sniffed type is copied unchanged, with a plain warning.
    s = strip(bad["text-named-jpg"], tmp_path / "t", hash_file(bad["text-named-jpg"]).mime)
    assert s.not_stripped and (tmp_path / "t").read_bytes() == bad["text-named-jpg"].read_bytes()


# --------------------------------------------------------------------------------------------------
# Near-duplicates


def test_near_duplicates_are_near(tmp_path: Path) -> None:
    for name in PHOTOS:
        src = photo(name)
        h = perceptual_hash(src)
        assert h is not None and 0 <= h < 1 << 64
        with Image.open(src) as im:
            im.save(tmp_path / "q50.jpg", quality=50)
            im.resize((320, 240)).save(tmp_path / "half.jpg", quality=85)
            im.resize((1280, 960)).save(tmp_path / "double.png")
        strip(src, tmp_path / "stripped.jpg", "image/jpeg")
        for copy in ("q50.jpg", "half.jpg", "double.png", "stripped.jpg"):
            other = perceptual_hash(tmp_path / copy)
            assert other is not None
            assert hamming(h, other) <= 4, (name, copy, hamming(h, other))
            assert is_near_duplicate(h, other)


def test_different_photos_are_far() -> None:
    hashes: dict[str, int] = {}
    for name in PHOTOS:
        h = perceptual_hash(photo(name))
        assert h is not None
        hashes[name] = h
    distances = {(a, b): hamming(hashes[a], hashes[b]) for a, b in itertools.combinations(PHOTOS, 2)}
    # Nine photos of the same few streets, minutes apart: the closest pair is 24 bits apart.
    assert min(distances.values()) > NEAR_DUPLICATE_BITS + 8, min(distances.items(), key=lambda kv: kv[1])
    assert not any(is_near_duplicate(hashes[a], hashes[b]) for a, b in distances)


def test_hamming() -> None:
    assert hamming(0, 0) == 0
    assert hamming(0, (1 << 64) - 1) == 64
    assert hamming(0b1011, 0b0001) == 2


# --------------------------------------------------------------------------------------------------
# Bounded memory: a 1 GiB file through hash and working copy, peak RSS measured in a child

_PEAK = (
    "import os, subprocess, sys; p = subprocess.Popen(sys.argv[1:]); _, st, ru = os.wait4(p.pid, 0); "
    "print(ru.ru_maxrss); sys.exit(os.waitstatus_to_exitcode(st))"
)
_CHILD = """
import json, sys
from tequio.node.media import hash_file, strip
big, jpeg, store, work = sys.argv[1:5]
d = hash_file(big)
s = hash_file(big)
w = strip(big, work, d.mime)
j = hash_file(jpeg)
wj = strip(jpeg, work + ".jpg", j.mime)
print(json.dumps({"mime": d.mime, "same": d == s, "size": d.size, "not_stripped": w.not_stripped,
                  "jpeg": j.mime, "jpeg_removed": wj.removed}))
"""


@pytest.mark.slow
def test_one_gib_in_bounded_memory(tmp_path: Path) -> None:
    gib = 1 << 30
    big = tmp_path / "big.bin"
    jpeg = tmp_path / "big.jpg"
    try:
        with big.open("wb") as f:
            f.truncate(gib)  # sparse: costs no disk until copied
        header = photo().read_bytes()
        sos_end = 2
        while header[sos_end + 1] != 0xDA:  # walk the segments (the EXIF thumbnail has an SOS of its own)
            sos_end += 2 + int.from_bytes(header[sos_end + 2 : sos_end + 4], "big")
        sos_end += 2 + int.from_bytes(header[sos_end + 2 : sos_end + 4], "big")
        with jpeg.open("wb") as f:
            f.write(header[:sos_end])  # real EXIF and GPS, then a 1 GiB scan of zeros
            f.truncate(gib)
            f.seek(0, 2)
            f.write(b"\xff\xd9")
        cmd = [sys.executable, "-c", _PEAK, sys.executable, "-c", _CHILD]
        cmd += [str(big), str(jpeg), str(tmp_path / "store"), str(tmp_path / "work")]
        r = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=600)
        assert r.returncode == 0, r.stderr
        lines = r.stdout.strip().splitlines()
        out, peak_kib = json.loads(lines[-2]), int(lines[-1])
        assert out["mime"] == "application/octet-stream" and out["same"] and out["size"] == gib
        assert out["not_stripped"]
        assert out["jpeg"] == "image/jpeg" and "gps" in out["jpeg_removed"]
        assert (tmp_path / "work").stat().st_size == gib
        assert (tmp_path / "work.jpg").stat().st_size < jpeg.stat().st_size
        print(f"peak RSS of hash + working copy of 1 GiB: {peak_kib // 1024} MiB")
        assert peak_kib < 150 * 1024, f"peak RSS {peak_kib // 1024} MiB"
    finally:
        for p in [big, jpeg, tmp_path / "work", tmp_path / "work.jpg", *(tmp_path / "store").rglob("*")]:
            if p.is_file():
                p.unlink()

"""C2PA provenance, offline: the shared conformance images, bad input, trust anchors, and no network.

The images in ``../shared/data/evidence/c2pa`` are the C2PA project's public test files: C.jpg is
signed by a test certificate that no trust list holds, CA.jpg also has an ingredient, XCA.jpg has
altered image data, E-sig-CA.jpg an altered claim signature, A.jpg no manifest at all.
"""

from __future__ import annotations

import datetime as dt
import http.server
import io
import struct
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import c2pa
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tequio.node.media import MediaError
from tequio.node.media import strip as make_working_copy
from tequio.plugins.evidence.provenance import OFFLINE_SETTINGS, STATUSES, Provenance, read_c2pa

ROOT = Path(__file__).resolve().parents[1]
C2PA_DIR = ROOT.parent / "shared" / "data" / "evidence" / "c2pa"


def sample(name: str) -> Path:
    p = C2PA_DIR / name
    assert p.is_file(), f"missing shared C2PA test image {p}: the checkout needs ../shared/data beside it"
    return p


# --------------------------------------------------------------------------------------------------
# The shared conformance images


def test_untrusted_signer() -> None:
    p = read_c2pa(sample("C.jpg"))
    assert p.status == "untrusted-signer"
    assert "signingCredential.untrusted" in p.detail
    assert p.signer == "C2PA Signer (issued by C2PA Test Signing Cert)"
    assert p.claim_generator == "make_test_images/0.26.0 c2pa-rs/0.26.0"


def test_with_ingredient_is_untrusted_signer_too() -> None:
    # Intact and correctly signed, its ingredient (A.jpg) simply has no provenance of its own;
    # the signer is the same C2PA test certificate, on no trust list: so not "valid".
    p = read_c2pa(sample("CA.jpg"))
    assert p.status == "untrusted-signer"
    assert "ingredient(s) failed" not in p.detail
    assert p.claim_generator == "make_test_images/0.33.1 c2pa-rs/0.33.1"


def test_tampered_data() -> None:
    p = read_c2pa(sample("XCA.jpg"))
    assert p.status == "tampered"
    assert "assertion.dataHash.mismatch" in p.detail


def test_bad_claim_signature() -> None:
    p = read_c2pa(sample("E-sig-CA.jpg"))
    assert p.status == "bad-signature"
    assert "claimSignature.mismatch" in p.detail


def test_absent() -> None:
    assert read_c2pa(sample("A.jpg")) == Provenance("absent", "no C2PA manifest in the file", None, None)


def test_every_status_is_documented() -> None:
    assert STATUSES == ("valid", "untrusted-signer", "tampered", "bad-signature", "absent", "unavailable")
    doc = (ROOT / "docs" / "evidence.md").read_text()
    for s in STATUSES:
        assert f"`{s}`" in doc


# --------------------------------------------------------------------------------------------------
# Bad input


def test_not_media_at_all(tmp_path: Path) -> None:
    text = tmp_path / "statement.jpg"
    text.write_text("Declaración: vi a tres agentes.\n")
    p = read_c2pa(text)
    assert p.status == "absent" and "not a format" in p.detail
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    assert read_c2pa(empty).status == "absent"


@pytest.mark.parametrize(("cut", "status"), [(100, "tampered"), (30_000, "tampered"), (137_000, "tampered")])
def test_truncated_signed_file(cut: int, status: str, tmp_path: Path) -> None:
    p = tmp_path / "cut.jpg"
    p.write_bytes(sample("C.jpg").read_bytes()[:cut])
    r = read_c2pa(p)
    assert r.status == status
    assert "truncated" in r.detail or "dataHash.mismatch" in r.detail


def test_truncated_unsigned_file(tmp_path: Path) -> None:
    p = tmp_path / "cut.jpg"
    p.write_bytes(sample("A.jpg").read_bytes()[:5000])
    assert read_c2pa(p).status == "absent"


def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(MediaError, match="no such file"):
        read_c2pa(tmp_path / "nope.jpg")
    with pytest.raises(MediaError, match="directory"):
        read_c2pa(tmp_path)


def test_working_copy_has_no_manifest(tmp_path: Path) -> None:
    s = make_working_copy(sample("C.jpg"), tmp_path / "w.jpg", "image/jpeg")
    assert "c2pa" in s.removed
    assert read_c2pa(tmp_path / "w.jpg").status == "absent"


def test_unavailable_without_the_library(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "c2pa", None)  # import c2pa now raises ImportError
    p = read_c2pa(sample("C.jpg"))
    assert p.status == "unavailable"
    assert "pip install" in p.detail and "c2pa-python" in p.detail


# --------------------------------------------------------------------------------------------------
# "valid" is reachable: a manifest signed here by a CA the caller trusts


def _name(cn: str) -> x509.Name:
    return x509.Name(
        [x509.NameAttribute(NameOID.COMMON_NAME, cn), x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Red")]
    )


Key = ec.EllipticCurvePrivateKey


def _cert(subject: str, issuer: x509.Name, key: Key, signer: Key, ca: bool) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    off = ("content_commitment", "key_encipherment", "data_encipherment", "key_agreement")
    usage = dict.fromkeys((*off, "encipher_only", "decipher_only"), False)
    b = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(digital_signature=not ca, key_cert_sign=ca, crl_sign=ca, **usage), critical=True
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    if not ca:
        b = b.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
        b = b.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(signer.public_key()), critical=False
        )
    return b.sign(signer, hashes.SHA256())


@pytest.fixture(scope="module")
def signed() -> tuple[bytes, str]:
    """A.jpg signed with a fresh CA (no timestamp authority, so nothing is fetched); and the CA PEM."""
    ca_key, ee_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca = _cert("Red de Documentación Root", _name("Red de Documentación Root"), ca_key, ca_key, ca=True)
    ee = _cert("Red de Documentación Intake", ca.subject, ee_key, ca_key, ca=False)
    pem = lambda c: c.public_bytes(serialization.Encoding.PEM)  # noqa: E731
    key = ee_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    signer = c2pa.Signer.from_info(c2pa.C2paSignerInfo(b"es256", pem(ee) + pem(ca), key, None))
    settings = {**OFFLINE_SETTINGS, "verify": {**OFFLINE_SETTINGS["verify"], "verify_after_sign": False}}
    ctx = c2pa.Context(settings=c2pa.Settings.from_dict(settings))
    manifest = {
        "claim_generator_info": [{"name": "tequio-test", "version": "1"}],
        "title": "captura.jpg",
        "assertions": [
            {
                "label": "c2pa.actions",
                "data": {
                    "actions": [
                        {
                            "action": "c2pa.created",
                            "digitalSourceType": "http://cv.iptc.org/newscodes/digitalsourcetype/digitalCapture",
                        }
                    ]
                },
            }
        ],
    }
    out = io.BytesIO()
    with sample("A.jpg").open("rb") as src:
        c2pa.Builder(manifest, context=ctx).sign(signer, "image/jpeg", src, out)
    return out.getvalue(), pem(ca).decode()


def test_valid_with_a_trusted_anchor(signed: tuple[bytes, str], tmp_path: Path) -> None:
    data, anchor = signed
    p = tmp_path / "signed.jpg"
    p.write_bytes(data)
    untrusted = read_c2pa(p)
    assert untrusted.status == "untrusted-signer"
    trusted = read_c2pa(p, trust_anchors=anchor)
    assert trusted.status == "valid", trusted.detail
    assert trusted.signer == "Red de Documentación Intake (issued by Red)"
    assert trusted.claim_generator == "tequio-test/1"
    # One byte of the picture changed after signing: the trusted signature no longer covers it.
    bad = bytearray(data)
    bad[-100] ^= 0xFF
    p.write_bytes(bytes(bad))
    assert read_c2pa(p, trust_anchors=anchor).status == "tampered"


# --------------------------------------------------------------------------------------------------
# No network: a file that points at a remote manifest on a local server


@pytest.fixture
def server() -> Iterator[tuple[str, list[str]]]:
    hits: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append(self.path)
            self.send_response(404)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        yield f"http://127.0.0.1:{srv.server_port}/manifest.c2pa", hits
    finally:
        srv.shutdown()
        srv.server_close()


def _remote_reference(url: str, path: Path) -> None:
    """A.jpg with XMP naming ``url`` as its provenance: a C2PA reader would fetch the manifest there."""
    xmp = (
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        '<rdf:Description rdf:about="" xmlns:dcterms="http://purl.org/dc/terms/" '
        f'dcterms:provenance="{url}"/>'
        "</rdf:RDF></x:xmpmeta>"
    ).encode()
    payload = b"http://ns.adobe.com/xap/1.0/\x00" + xmp
    data = sample("A.jpg").read_bytes()
    path.write_bytes(data[:2] + b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload + data[2:])


def test_remote_manifest_is_not_fetched(server: tuple[str, list[str]], tmp_path: Path) -> None:
    url, hits = server
    p = tmp_path / "remote.jpg"
    _remote_reference(url, p)
    # The control: the library with its default settings does fetch it, so the test can see fetches.
    with pytest.raises(c2pa.C2paError), c2pa.Reader(str(p)):
        pass
    assert hits == ["/manifest.c2pa"]
    hits.clear()
    r = read_c2pa(p)
    assert r.status == "absent" and "not fetched" in r.detail
    assert hits == []
    for name in ("C.jpg", "CA.jpg", "XCA.jpg", "E-sig-CA.jpg"):
        read_c2pa(sample(name))
    assert hits == []


def test_allowed_hosts_alone_also_blocks(server: tuple[str, list[str]], tmp_path: Path) -> None:
    # Defence in depth: even were remote fetching switched back on, the empty host list refuses it.
    url, hits = server
    p = tmp_path / "remote.jpg"
    _remote_reference(url, p)
    settings = c2pa.Settings.from_dict({"core": {"allowed_network_hosts": []}})
    with (
        pytest.raises(c2pa.C2paError, match="not permitted"),
        c2pa.Reader(str(p), context=c2pa.Context(settings)),
    ):
        pass
    assert hits == []

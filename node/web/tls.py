"""The web listener's self-signed certificate: made at ``init``, its fingerprint shown for a phone to check.

Members on the LAN or a mesh reach the pages over TLS; no authority vouches for a node's certificate, so
the operator reads its SHA-256 fingerprint aloud (``tequio info``) or shows it as a QR (``tequio web qr``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import os
import ssl
from pathlib import Path

__all__ = ["CERT_FILE", "KEY_FILE", "ensure_certificate", "fingerprint_of", "make_certificate", "ssl_context"]

CERT_FILE = "web-cert.pem"
KEY_FILE = "web-key.pem"
_VALID_DAYS = 3650  # a node lives for years; a phone pins the fingerprint, not the dates


def make_certificate(home: Path, common_name: str, now: dt.datetime | None = None) -> str:
    """Write a new self-signed ECDSA P-256 certificate and key into ``home``; returns its fingerprint."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    now = now or dt.datetime.now(dt.UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, (common_name or "tequio")[:64])])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=_VALID_DAYS))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    fd = os.open(home / KEY_FILE, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(key_pem)
    fd = os.open(home / CERT_FILE, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    return fingerprint_of(home)


def ensure_certificate(home: Path, common_name: str) -> str:
    """The fingerprint of the node's certificate, making one first for nodes made before it existed."""
    if not (home / CERT_FILE).exists() or not (home / KEY_FILE).exists():
        return make_certificate(home, common_name)
    return fingerprint_of(home)


def fingerprint_of(home: Path) -> str:
    """SHA-256 of the certificate's DER bytes, as colon-separated hex pairs (how browsers show it)."""
    pem = (home / CERT_FILE).read_text(encoding="ascii")
    der = ssl.PEM_cert_to_DER_cert(pem)
    digest = hashlib.sha256(der).hexdigest().upper()
    return ":".join(digest[i : i + 2] for i in range(0, len(digest), 2))


def ssl_context(home: Path) -> ssl.SSLContext:
    """A server context for the web listener: TLS 1.2 or newer, the node's own certificate."""
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(home / CERT_FILE, home / KEY_FILE)
    return ctx

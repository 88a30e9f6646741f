"""A clean-room client of the federation transport (docs/protocol.md sections 11-14), from the spec alone.

No Tequio code: canonical msgpack from ``refimpl`` (itself written from the spec), Ed25519, X25519 and
``crypto_box`` straight from libsodium (PyNaCl's bindings), HTTP from the standard library. Section and
rule numbers in comments refer to docs/protocol.md.
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import os
import time
from dataclasses import dataclass
from typing import Any

from nacl import bindings as sodium

from tests.independent import refimpl as R

REQUEST_DOMAIN = b"tequio/fed-request/v1\n"
RESPONSE_DOMAIN = b"tequio/fed-response/v1\n"


def b64url(data: bytes) -> str:
    """Rule F2: base64url, padding dropped."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def unb64url(text: str) -> bytes:
    assert "=" not in text, "F2: no padding"
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes
    message: Any = None  # decoded, when the reply was signed and boxed


class Client:
    """One node key speaking the transport to one listener at ``addr`` (host:port)."""

    def __init__(self, seed: bytes, addr: str) -> None:
        self.pk, self.sk = sodium.crypto_sign_seed_keypair(seed)
        self.addr = addr

    # section 11, Keys and Bodies
    def _box_keys(self, peer: bytes) -> tuple[bytes, bytes]:
        return sodium.crypto_sign_ed25519_pk_to_curve25519(peer), sodium.crypto_sign_ed25519_sk_to_curve25519(
            self.sk
        )

    def seal(self, peer: bytes, plaintext: bytes) -> bytes:
        pk, sk = self._box_keys(peer)
        nonce = os.urandom(24)
        return nonce + sodium.crypto_box(plaintext, nonce, pk, sk)

    def unseal(self, peer: bytes, data: bytes) -> bytes:
        pk, sk = self._box_keys(peer)
        return sodium.crypto_box_open(data[24:], data[:24], pk, sk)

    # section 11, Requests
    def auth(self, receiver: bytes, path: str, body: bytes, nonce: bytes, at: int | None = None) -> str:
        at = time.time_ns() // 1_000_000 if at is None else at
        signed = REQUEST_DOMAIN + R.encode(["POST", path, at, nonce, hashlib.sha256(body).digest(), receiver])
        sig = sodium.crypto_sign(signed, self.sk)[:64]
        return b64url(R.encode([self.pk, at, nonce, sig]))

    def post(
        self,
        receiver: bytes,
        method: str,
        message: Any = None,
        *,
        plaintext: bytes | None = None,
        body: bytes | None = None,
        header: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> Reply:
        """POST ``/fed/v1/<method>``; a signed reply is verified (section 11, Responses) and opened."""
        path = "/fed/v1/" + method
        if body is None:
            body = self.seal(receiver, plaintext if plaintext is not None else R.encode(message))
        nonce = os.urandom(16)
        hdrs = {"Tequio-Auth": header if header is not None else self.auth(receiver, path, body, nonce)}
        hdrs |= headers or {}
        host, port = self.addr.rsplit(":", 1)
        conn = http.client.HTTPConnection(host, int(port), timeout=30)
        try:
            conn.request("POST", path, body=body, headers=hdrs)
            resp = conn.getresponse()
            data = resp.read()
            out = Reply(resp.status, {k.lower(): v for k, v in resp.getheaders()}, data)
        finally:
            conn.close()
        sig_text = out.headers.get("tequio-auth")
        if sig_text is not None:
            sig = unb64url(sig_text)
            signed = RESPONSE_DOMAIN + R.encode([out.status, nonce, hashlib.sha256(data).digest(), self.pk])
            sodium.crypto_sign_open(sig + signed, receiver)  # raises unless the responder signed it
            out.message = R.decode(self.unseal(receiver, data))
        return out


def head_only(addr: str, method: str, length: int, header: str | None) -> tuple[int, bytes]:
    """Send only a request head announcing ``length`` body bytes; a listener that refuses from the
    head alone (rule F1) answers without waiting for the body."""
    import socket

    host, port = addr.rsplit(":", 1)
    lines = [f"POST /fed/v1/{method} HTTP/1.1", f"Host: {host}", f"Content-Length: {length}"]
    if header is not None:
        lines.append(f"Tequio-Auth: {header}")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        resp = http.client.HTTPResponse(sock)
        resp.begin()
        return resp.status, resp.read()


def digest(heads: list[tuple[bytes, str, int, bytes]]) -> bytes:
    """Section 12, Digest."""
    h = hashlib.sha256()
    for author, scope, seq, head in sorted(heads, key=lambda x: (x[0], x[1].encode())):
        s = scope.encode()
        h.update(author + bytes([len(s)]) + s + seq.to_bytes(8, "big") + head)
    return h.digest()

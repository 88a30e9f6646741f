"""C2PA provenance of an original, read offline with the optional ``c2pa-python`` library.

A manifest tells who signed a capture and whether the bytes still match what was signed. Reading it
must not reach the network: a fetch would tell a remote server which evidence a node holds, and
evidence is often examined where there is no link at all. The reader is therefore built with
remote manifest fetching and OCSP off, and with an empty list of hosts the library may contact.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from typing import Any

from tequio.node.media import PathLike, open_regular

__all__ = ["OFFLINE_SETTINGS", "STATUSES", "Provenance", "read_c2pa"]

#: Every status :func:`read_c2pa` returns, worst first after the two that mean "nothing to judge".
STATUSES = ("valid", "untrusted-signer", "tampered", "bad-signature", "absent", "unavailable")

#: Settings for the c2pa library that keep it offline. Unknown keys are ignored by the library, so
#: the names are checked against its documentation and by tests (a local server sees no request).
OFFLINE_SETTINGS: dict[str, Any] = {
    "verify": {
        "remote_manifest_fetch": False,  # a manifest stored at a URL named in the file is not fetched
        "ocsp_fetch": False,  # revocation is not asked of the certificate authority
        "verify_trust": True,  # signers are checked against the configured anchors (none by default)
        "verify_timestamp_trust": True,
    },
    "core": {
        "allowed_network_hosts": [],  # an empty allow-list: the library's HTTP resolver refuses every URL
        "decode_identity_assertions": False,  # CAWG identities may name DID documents to resolve online
    },
}

INSTALL_HINT = "pip install 'tequio[c2pa]' (or: pip install c2pa-python)"

# Failure codes (C2PA 2.x validation) grouped by what they mean for the operator.
_SIGNATURE = {
    "claimSignature.mismatch",
    "claimSignature.missing",
    "claimSignature.outsideValidity",
    "signingCredential.invalid",
    "signingCredential.revoked",
    "signingCredential.expired",
    "timeStamp.mismatch",
    "algorithm.unsupported",
}
_TRUST = {"signingCredential.untrusted", "timeStamp.untrusted", "signingCredential.ocsp.unknown"}


@dataclass(frozen=True)
class Provenance:
    """The verdict on a file's C2PA manifest, with the library's reasons in ``detail``."""

    status: str
    detail: str
    signer: str | None
    claim_generator: str | None


@functools.lru_cache(maxsize=8)
def _context(trust_anchors: str | None) -> Any:
    import c2pa

    settings: dict[str, Any] = json.loads(json.dumps(OFFLINE_SETTINGS))
    if trust_anchors:
        settings["trust"] = {"trust_anchors": trust_anchors}
    return c2pa.Context(settings=c2pa.Settings.from_dict(settings))


def _signer(manifest: dict[str, Any]) -> str | None:
    info = manifest.get("signature_info") or {}
    names = [info.get("common_name"), info.get("issuer")]
    parts = [str(n) for n in names if n]
    if not parts:
        return None
    return parts[0] if len(parts) == 1 or parts[0] == parts[1] else f"{parts[0]} (issued by {parts[1]})"


def _generator(manifest: dict[str, Any]) -> str | None:
    if manifest.get("claim_generator"):
        return str(manifest["claim_generator"])
    info = manifest.get("claim_generator_info") or []
    parts = [
        "/".join(str(x) for x in (g.get("name"), g.get("version")) if x) for g in info if isinstance(g, dict)
    ]
    return " ".join(p for p in parts if p) or None


def _verdict(failures: list[dict[str, Any]]) -> tuple[str, str]:
    codes = [str(f.get("code", "")) for f in failures]
    said = "; ".join(f"{f.get('code')}: {f.get('explanation', '')}".rstrip(": ") for f in failures)
    if any(c in _SIGNATURE or c.startswith("claimSignature.") for c in codes):
        return "bad-signature", f"the claim signature does not verify ({said})"
    if any(c not in _TRUST for c in codes):
        return "tampered", f"the file or its manifest changed after signing ({said})"
    if codes:
        return (
            "untrusted-signer",
            f"intact and correctly signed, but the signer is not on a trust list ({said})",
        )
    return "valid", "intact, correctly signed, and the signer is trusted"


def _has_jumbf(path: PathLike) -> bool:
    """Whether the first 16 MiB hold a C2PA JUMBF box: a manifest the library could not parse."""
    with open_regular(path) as f:
        head = f.read(16 << 20)
    i = head.find(b"jumb")
    return i >= 0 and b"c2pa" in head[i : i + 256]


def read_c2pa(path: PathLike, trust_anchors: str | None = None) -> Provenance:
    """Read and validate the C2PA manifest embedded in ``path``, without any network access.

    ``trust_anchors`` is a PEM bundle of root certificates the organisation trusts; with none, a
    correct manifest is ``untrusted-signer``, never ``valid``. A missing file or a directory raises
    MediaError; anything else, including a file that is not media at all, gets a status.
    """
    f = open_regular(path)
    try:
        import c2pa
    except (ImportError, OSError) as e:
        f.close()
        return Provenance(
            "unavailable", f"C2PA reading needs the c2pa-python library ({e}): {INSTALL_HINT}", None, None
        )
    with f:
        try:
            with c2pa.Reader(f, context=_context(trust_anchors)) as reader:
                results = reader.get_validation_results() or {}
                manifest = reader.get_active_manifest() or {}
        except c2pa.C2paError.ManifestNotFound:
            return Provenance("absent", "no C2PA manifest in the file", None, None)
        except c2pa.C2paError.NotSupported:
            return Provenance("absent", "not a format that carries C2PA manifests", None, None)
        except c2pa.C2paError as e:
            # The library names this error "Remote: …", which its Python layer does not map to a type.
            if isinstance(e, c2pa.C2paError.RemoteManifest) or str(e).startswith("Remote"):
                why = f"the manifest is stored remotely and was not fetched: Tequio reads offline ({e})"
                return Provenance("absent", why, None, None)
            if _has_jumbf(path):
                why = f"a C2PA manifest is present but could not be read: truncated or corrupt ({e})"
                return Provenance("tampered", why, None, None)
            return Provenance(
                "absent", f"no readable C2PA manifest: the file could not be parsed ({e})", None, None
            )
    active = results.get("activeManifest") or {}
    status, detail = _verdict(list(active.get("failure") or []))
    deltas = results.get("ingredientDeltas") or []
    bad = [d for d in deltas if (d.get("validationDeltas") or {}).get("failure")]
    if bad:
        detail += f"; {len(bad)} ingredient(s) failed their own validation"
    return Provenance(status, detail, _signer(manifest), _generator(manifest))

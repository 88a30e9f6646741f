"""Court packages: one ZIP that a court's expert can check offline, without trusting anyone or running Tequio.

The package holds the original and working files byte for byte, the signed records about them as they
travelled, the keys that open exactly those records, views of those records (custody.json, keys.json)
and a manifest signed by the exporting node that lists the SHA-256 of every other member. Split along
its seams: ``layout`` (the format), ``rules`` (what ties members together, shared), ``write``,
``check``, and ``check_script`` (the standalone script VERIFY.md carries; the checker reuses its zip
reader). docs/evidence.md, "Court packages", describes it for people.
"""

from __future__ import annotations

from .check import check_package
from .layout import (
    FORMAT,
    MANIFEST_DOMAIN,
    CheckReport,
    PackageError,
    PackageFile,
    PackageItem,
    PackageRecord,
    Problem,
    Signer,
    verify_md,
)
from .write import write_package

__all__ = [
    "FORMAT",
    "MANIFEST_DOMAIN",
    "CheckReport",
    "PackageError",
    "PackageFile",
    "PackageItem",
    "PackageRecord",
    "Problem",
    "Signer",
    "check_package",
    "verify_md",
    "write_package",
]

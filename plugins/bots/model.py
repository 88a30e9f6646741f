"""The record kind ``bots.finding``: a signed summary of an analysis, with its indicators.

Canonical msgpack has no floats, so probabilities are integer fractions and shares parts per million.
The body carries what another organisation needs to compare its own analysis: members, shared
objects, windows, input hashes and every parameter (as JSON text, to re-run the analysis exactly).
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from tequio.governance import Action
from tequio.schemas import Payload, Record

__all__ = ["ACTIONS", "FINDING", "SHARE", "FindingBody", "check_finding"]

FINDING = "bots.finding"
SHARE = "bots.share"
Hex64 = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
Name = Annotated[str, StringConstraints(min_length=1, max_length=200)]
_STRICT = ConfigDict(strict=True, extra="ignore", defer_build=True)  # built when first used: start-up


class Bilingual(BaseModel):
    model_config = _STRICT
    es: str = Field(max_length=4000)
    en: str = Field(max_length=4000)


class SharedInput(BaseModel):
    model_config = _STRICT
    file: str = Field(max_length=255)
    sha256: Hex64
    bytes: int = Field(ge=0)
    rows: int = Field(ge=0)
    posts: int = Field(ge=0)
    format: str = Field(max_length=32)
    parser: str = Field(max_length=64)


class SharedObject(BaseModel):
    model_config = _STRICT
    network: str = Field(max_length=32)
    object: str = Field(max_length=300)
    accounts: int = Field(ge=0)


class SharedCluster(BaseModel):
    model_config = _STRICT
    id: int = Field(ge=1)
    tier: Literal["high", "medium", "low"]
    verdict: str = Field(max_length=64)
    accounts: list[Name] = Field(min_length=1, max_length=5000)
    networks: list[str] = Field(max_length=16)
    p: list[int] = Field(min_length=2, max_length=2)  # (exceeded + 1, repeats + 1)
    volume_ppm: int = Field(ge=0, le=1_000_000)
    objects: list[SharedObject] = Field(default_factory=list, max_length=20)


class Totals(BaseModel):
    model_config = _STRICT
    posts: int = Field(ge=0)
    accounts: int = Field(ge=0)
    flagged_accounts: int = Field(ge=0)
    flagged_volume_ppm: int = Field(ge=0, le=1_000_000)


class FindingBody(BaseModel):
    model_config = _STRICT
    version: int = Field(ge=1)
    title: str = Field(default="", max_length=200)
    summary: Bilingual
    inputs: list[SharedInput] = Field(min_length=1, max_length=100)
    parameters: str = Field(max_length=16_000)  # the analysis parameters, canonical JSON text
    windows_ms: list[int] = Field(max_length=50)
    clusters: list[SharedCluster] = Field(max_length=500)
    totals: Totals
    findings_sha256: Hex64
    corroborates: Hex64 | None = None  # another organisation's finding this analysis agrees with


def check_finding(record: Record, payload: Payload, body: FindingBody) -> str | None:
    """Beyond the model: fractions that are probabilities, members listed once, a reference that matches."""
    for c in body.clusters:
        if not 0 < c.p[0] <= c.p[1]:
            return f"cluster {c.id}: p must be a fraction in (0, 1]"
        if len(set(c.accounts)) != len(c.accounts):
            return f"cluster {c.id}: an account is listed twice"
    if len({c.id for c in body.clusters}) != len(body.clusters):
        return "two clusters share an id"
    try:
        params = json.loads(body.parameters)
    except ValueError:
        return "parameters is not JSON"
    if not isinstance(params, dict):
        return "parameters is not a JSON object"
    if body.corroborates is not None and bytes.fromhex(body.corroborates) not in payload.refs:
        return "a finding that corroborates another refers to it"
    return None


ACTIONS = [Action(SHARE, {"by": "member"}, "share a bot-campaign finding", kinds=(FINDING,))]


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))

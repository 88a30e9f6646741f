"""Governance wired into one node: folded group state, the keyring, the access policy, and publishing.

The fold itself is pure (``governance.fold``); this module feeds it the group's records from the
store, caches the result until a governance record arrives, opens the epoch keys sealed to this
node, and answers the three questions the rest of the node asks: may this record be written
(ingest step 11), can it be read (step 12), and may that peer see this feed (sync).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import msgpack

from tequio.governance import (
    BALLOT,
    FOLDED_KINDS,
    GOV_KINDS,
    KIND_KEYS,
    PUBLISH,
    CryptoError,
    GovRecord,
    GroupState,
    allowed,
    decode_key_box,
    fold,
    is_envelope,
    key_commitment,
    open_direct,
    open_group,
    open_sealed,
    parse_envelope,
    seal_direct,
    seal_group,
)
from tequio.governance import group_id as derive_group_id
from tequio.schemas import PUBLIC, PayloadError, Record, parse_payload

from .recordview import StoredRecord

if TYPE_CHECKING:
    from .node import Node

__all__ = ["GovernanceAccess", "NodeGovernance"]

log = logging.getLogger(__name__)
_FOLDED = tuple(sorted(FOLDED_KINDS))
KIND_WELCOME = "gov.welcome"
_KIND_SQL = ",".join("?" * len(_FOLDED))


class NodeGovernance:
    """Group state and keys for one node. Holds no key material beyond this process's memory."""

    def __init__(self, node: Node) -> None:
        self.node = node
        self._states: dict[str, tuple[tuple[int, int], GroupState]] = {}
        self._checked: dict[str, int] = {}  # scope -> store position when its marker was last read
        self._records: dict[str, tuple[tuple[int, int], list[GovRecord]]] = {}
        #: keys record id -> (its scope, the keys its boxes are sealed to); records never change
        self._recipients: dict[bytes, tuple[str, frozenset[bytes]]] = {}
        #: keys record id -> epoch key, opened from the boxes sealed to this node
        self.keyring: dict[bytes, bytes] = {}
        #: keys record id -> keys offered in welcomes, used once checked against the record's commitment
        self.offered: dict[bytes, set[bytes]] = {}
        self._scanned = 0  # local position up to which gov.keys records were opened
        self._hidden: tuple[int, dict[bytes, str]] = (-1, {})
        self._cuts: tuple[int, dict[tuple[bytes, str], tuple[int, bytes | None]]] = (-1, {})

    # -- keys ------------------------------------------------------------------------------------------

    def _x_secret(self) -> bytes | None:
        ident = self.node._identity
        return None if ident is None else bytes(ident.signing_key.to_curve25519_private_key())

    def scan_keys(self) -> bool:
        """Open the epoch keys sealed to this node in gov.keys records stored since the last scan."""
        secret = self._x_secret()
        if secret is None:
            return False
        rows = self.node.store.conn.execute(
            "SELECT r.n, r.id, r.wire, r.kind FROM records r WHERE r.kind IN (?, ?) AND r.n > ? ORDER BY r.n",
            (KIND_KEYS, KIND_WELCOME, self._scanned),
        ).fetchall()
        found = False
        for n, rid, wire, kind in rows:
            self._scanned = max(self._scanned, n)
            if kind == KIND_KEYS:
                found |= self._open_keys(rid, wire, secret)
            else:
                found |= self._welcome(rid)
        return found

    def _welcome(self, rid: bytes) -> bool:
        rec = self.node.get(rid)
        if rec is None or rec.body is None or rec.scope != "d:" + self.node.key.hex():
            return False
        for item in rec.body.get("keys", []):
            if isinstance(item, list) and len(item) == 2 and all(isinstance(x, bytes) for x in item):
                self.offered.setdefault(item[0], set()).add(item[1])
        return True

    def _checked_offer(self, keys_record: bytes) -> bytes | None:
        """An offered key for ``keys_record``, if the record is held and the key matches its commitment."""
        offers = self.offered.get(keys_record)
        if not offers:
            return None
        row = self.node.store.get(keys_record)
        if row is None:
            return None
        try:
            commit = parse_payload(msgpack.unpackb(row[6])[8] or b"").body.get("commit")
        except (ValueError, PayloadError, IndexError, TypeError):
            return None
        for key in sorted(offers):
            if key_commitment(key) == commit:
                self.keyring[keys_record] = key
                return key
        return None

    def _open_keys(self, rid: bytes, wire: bytes, secret: bytes) -> bool:
        try:
            body = parse_payload(msgpack.unpackb(wire)[8] or b"").body
        except (ValueError, PayloadError, IndexError, TypeError):
            return False
        for box in body.get("boxes", []):
            if not isinstance(box, dict) or box.get("to") != self.node.key:
                continue
            try:
                key, history = decode_key_box(open_sealed(secret, box.get("box", b"")))
            except CryptoError as e:
                log.warning("gov.keys %s: my box does not open: %s", rid.hex()[:16], e)
                return False
            if key_commitment(key) != body.get("commit"):
                log.warning("gov.keys %s: my key does not match the commitment; ignored", rid.hex()[:16])
                return False
            self.keyring[rid] = key
            for hid, hkey in history:
                self.offered.setdefault(hid, set()).add(hkey)
            return True
        return False

    def recipients(self, keys_record: bytes) -> tuple[str, frozenset[bytes]] | None:
        """(scope, member keys) of a held gov.keys record, None if it is not held or not one."""
        hit = self._recipients.get(keys_record)
        if hit is None:
            rec = self.node.get(keys_record)
            if rec is None or rec.body is None:
                return None
            if rec.kind != KIND_KEYS:
                return ("", frozenset())  # a record, but no key record: in no group's scope
            boxes = rec.body.get("boxes", [])
            hit = (
                rec.scope,
                frozenset(b["to"] for b in boxes if isinstance(b, dict) and isinstance(b.get("to"), bytes)),
            )
            self._recipients[keys_record] = hit
        return hit

    def epoch_key(self, keys_record: bytes) -> bytes | None:
        key = self.keyring.get(keys_record)
        if key is None:
            self.scan_keys()
            key = self.keyring.get(keys_record) or self._checked_offer(keys_record)
        return key

    # -- state -----------------------------------------------------------------------------------------

    def _marker(self, scope: str) -> tuple[int, int]:
        row = self.node.store.conn.execute(
            "SELECT coalesce(max(r.n), 0), count(*) FROM records r JOIN feeds f ON f.id = r.feed"
            f" WHERE f.scope = ? AND r.kind IN ({_KIND_SQL})",
            (scope, *_FOLDED),
        ).fetchone()
        return row[0], row[1]

    def gov_records(self, scope: str) -> list[GovRecord]:
        """The group's governance records and ballots that this node holds and can read.

        Cached until a governance record of the scope arrives: folding, heads and dry runs all
        read them, and each read decrypts every one."""
        marker = self._marker(scope)
        cached = self._records.get(scope)
        if cached is not None and cached[0] == marker:
            return cached[1]
        out = []
        for rec in map(self.node._from_row, self.node.store.query(scope, None, None, 0, None, _FOLDED)):
            if rec.payload is None or rec.kind is None:
                continue
            out.append(
                GovRecord(
                    rec.id, rec.author, rec.seq, rec.record.ts, rec.kind, rec.payload.body, rec.payload.refs
                )
            )
        self._records[scope] = (marker, out)
        return out

    def state(self, scope: str) -> GroupState | None:
        """The folded state of a group this node holds the genesis of, else None."""
        if not scope.startswith("g:"):
            return None
        cached = self._states.get(scope)
        position = self.node.store.position()
        if cached is not None and self._checked.get(scope) == position:
            st = cached[1]  # nothing was stored since the last look: the state cannot have changed
            return st if st.genesis is not None else None
        marker = self._marker(scope)
        self._checked[scope] = position
        if cached is not None and cached[0] == marker:
            st = cached[1]
        else:
            if marker[1] == 0:
                return None
            st = fold(
                bytes.fromhex(scope[2:]),
                self.gov_records(scope),
                self.node.plugins.decision_methods(),
                self.node.plugins.actions(),
            )
            self._states[scope] = (marker, st)
        return st if st.genesis is not None else None

    def groups(self) -> list[tuple[str, GroupState]]:
        """Every group this node holds a genesis of."""
        scopes = [
            s
            for (s,) in self.node.store.conn.execute(
                "SELECT DISTINCT scope FROM feeds WHERE scope LIKE 'g:%'"
            )
        ]
        out = []
        for s in sorted(scopes):
            st = self.state(s)
            if st is not None:
                out.append((s, st))
        return out

    def ignored_content(self, scope: str) -> dict[bytes, str]:
        """E6. Content records held of this group that lost their authority after the fact, with why.

        A removed member's records past the head its removal recorded: kept, but hidden and never relayed."""
        out: dict[bytes, str] = {}
        for by_author in self._ignored_by_author(scope).values():
            out.update(by_author)
        return out

    def _ignored_by_author(self, scope: str) -> dict[bytes, dict[bytes, str]]:
        """E6. ``ignored_content``, by the removed member whose feed holds them."""
        st = self.state(scope)
        if st is None or not st.bounds:
            return {}
        found: dict[bytes, dict[bytes, str]] = {}
        for author, (seq, _) in sorted(st.bounds.items()):
            out = found.setdefault(author, {})
            rows = self.node.store.conn.execute(
                "SELECT r.id, r.seq, r.kind, r.wire FROM records r JOIN feeds f ON f.id = r.feed"
                " WHERE f.author = ? AND f.scope = ? AND r.seq > ?",
                (author, scope, seq),
            )
            for rid, rseq, kind, wire in rows:
                if kind is None or kind in FOLDED_KINDS or kind == KIND_WELCOME:
                    continue  # the fold judges its own records (G5); unreadable ones are not listed anyway
                try:
                    env = parse_envelope(msgpack.unpackb(wire)[8] or b"", direct=False)
                except (CryptoError, ValueError, IndexError, TypeError):
                    continue
                if (why := st.beyond_bound(author, rseq, env.key or b"")) is not None:
                    out[rid] = why
            if not out:
                del found[author]
        return found

    def relay_cuts(self) -> dict[tuple[bytes, str], tuple[int, bytes | None]]:
        """E6, never relayed: for each feed holding a hidden record, where relaying it stops.

        That is the head its removal recorded (seq, id; seq 0 and None: nothing of it); peers are
        offered, told of and sent that feed only up to there, so no advertised record goes unsent (F9)."""
        position = self.node.store.position()
        if self._cuts[0] != position:
            cuts: dict[tuple[bytes, str], tuple[int, bytes | None]] = {}
            for scope, st in self.groups():
                for author in self._ignored_by_author(scope) if st.bounds else {}:
                    seq = st.bounds[author][0]
                    row = self.node.store.conn.execute(
                        "SELECT r.id FROM records r JOIN feeds f ON f.id = r.feed"
                        " WHERE f.author = ? AND f.scope = ? AND r.seq = ?",
                        (author, scope, seq),
                    ).fetchone()
                    cuts[(author, scope)] = (seq, row[0]) if row and seq > 0 else (0, None)
            self._cuts = (position, cuts)
        return self._cuts[1]

    def hidden(self) -> dict[bytes, str]:
        """Every held record that lost authority after the fact (E6), by id: hidden from listings."""
        position = self.node.store.position()
        if self._hidden[0] != position:
            out: dict[bytes, str] = {}
            for scope, st in self.groups():
                if st.bounds:
                    out.update(self.ignored_content(scope))
            self._hidden = (position, out)
        return self._hidden[1]

    def would_ignore(self, scope: str, kind: str, body: dict[str, Any], refs: Sequence[bytes]) -> str | None:
        """Why every node would ignore this record if this node signed it now (None: it would apply).

        Folds the group with the record added, so a command can refuse before writing anything.
        """
        from tequio.schemas.canonical import encode as canonical

        records = self.gov_records(scope)
        head = self.node.store.head(self.node.key, scope)
        probe = GovRecord(
            b"\xff" + hashlib.sha256(canonical(body)).digest()[1:],
            self.node.key,
            (head.seq if head else 0) + 1,
            self.node.clock(),
            kind,
            body,
            tuple(refs),
        )
        st = fold(
            bytes.fromhex(scope[2:]),
            [*records, probe],
            self.node.plugins.decision_methods(),
            self.node.plugins.actions(),
        )
        return st.ignored.get(probe.id)

    def heads(self, scope: str) -> list[bytes]:
        """Ids of the group's governance records that no other refers to: what a new one refs."""
        recs = self.gov_records(scope)
        referred = {p for r in recs for p in r.refs}
        return sorted(r.id for r in recs if r.id not in referred)

    def may_read(self, reader: bytes, scope: str) -> bool:
        st = self.state(scope)
        return st is not None and st.is_member(reader) and not st.dissolved

    # -- sealing payloads ------------------------------------------------------------------------------

    def seal(self, scope: str, plaintext: bytes, keys: bytes | None = None) -> bytes:
        """The envelope of ``plaintext`` for a restricted scope, under the current key."""
        from .errors import PublishError

        if keys is not None:
            key = self.epoch_key(keys)
            if key is None:
                raise PublishError("this node was not given the key it was asked to encrypt under")
            return seal_group(key, keys, plaintext, self.node.rng)
        if scope.startswith("d:"):
            secret = self._x_secret()
            if secret is None:
                raise PublishError("the node key is locked")
            try:
                return seal_direct(secret, bytes.fromhex(scope[2:]), plaintext, self.node.rng)
            except CryptoError as e:
                raise PublishError(f"{scope[:18]}…: {e}") from None
        keys_id, key = self.current_key(scope)
        return seal_group(key, keys_id, plaintext, self.node.rng)

    def current_key(self, scope: str) -> tuple[bytes, bytes]:
        """(keys record id, epoch key) to encrypt for a group now; issues a new key first if one is due."""
        from .errors import PublishError

        st = self.state(scope)
        if st is None:
            raise PublishError(f"this node holds no group {scope}")
        if not st.is_member(self.node.key):
            raise PublishError(f"this node is not a member of {scope}")
        if st.stale:
            from .groups import rotate_keys

            rotate_keys(self.node, scope)  # membership changed since the key was issued: a new epoch first
            st = self.state(scope)
            assert st is not None
        if st.current_keys is None:
            raise PublishError(f"group {scope} has no key yet")
        key = self.epoch_key(st.current_keys)
        if key is None:
            raise PublishError(f"this node was not given the current key of {scope}")
        return st.current_keys, key

    def direct_key(self, other: bytes) -> bytes:
        """The symmetric key this node shares with ``other`` (crypto_box_beforenm), for direct blobs."""
        import nacl.bindings as sodium

        from tequio.governance import x25519_public

        secret = self._x_secret()
        if secret is None:
            raise CryptoError("the node key is locked")
        return sodium.crypto_box_beforenm(x25519_public(other), secret)

    def blob_key(self, record: StoredRecord) -> bytes | None:
        """The key a restricted record's blobs are encrypted with, if this node holds it."""
        payload = record.record.payload
        if record.scope == PUBLIC or payload is None:
            return None
        try:
            if record.scope.startswith("d:"):
                to = bytes.fromhex(record.scope[2:])
                return self.direct_key(record.author if to == self.node.key else to)
            env = parse_envelope(payload, direct=False)
        except CryptoError:
            return None
        return self.epoch_key(env.key or b"")


class GovernanceAccess:
    """The ingest pipeline's policy once governance is wired in (steps 11 and 12)."""

    def __init__(self, gov: NodeGovernance) -> None:
        self.gov = gov

    def may_write(self, record: Record, kind: str | None) -> str | None:
        scope = record.scope
        if scope == PUBLIC or scope.startswith("d:") or kind is None:
            return None
        if record.payload is None:
            return None  # redacted: nothing to judge
        gid = bytes.fromhex(scope[2:])
        if not is_envelope(record.payload):
            # E2. The only plain payload in a group scope is a key record (sealed boxes only).
            if kind != KIND_KEYS:
                return f"{kind} in a group scope must be encrypted; only gov.keys is plain"
            body = parse_payload(record.payload).body
            salt = body.get("salt")
            if salt is not None and (type(salt) is not bytes or derive_group_id(record.author, salt) != gid):
                return "the first keys of a group must come from the key its id is bound to"
            return None
        # E3. An encrypted record's author must have been given the key it wrote under.
        env = parse_envelope(record.payload, direct=False)
        sealed_to = self.gov.recipients(env.key or b"")
        if sealed_to is None:
            return "the key record this was encrypted under is not held"
        keys_scope, recipients = sealed_to
        if keys_scope != scope:
            return "encrypted under a key that is not this group's"
        if record.author not in recipients:
            return "the author was never given the key it wrote under"
        # E5. Content needs write authority from the folded state (issue 9 §1).
        content = kind is not None and kind not in FOLDED_KINDS and kind != KIND_WELCOME
        if content and (why := self._e5_authority(record, scope, env.key or b"")) is not None:
            return why
        # E6. A removed member's records past the head its removal recorded have no authority.
        st6 = self.gov.state(scope) if content else None
        if st6 is not None and (why := st6.beyond_bound(record.author, record.seq, env.key or b"")):
            return why
        # E4. This node's own records follow its current view of the rules.
        if record.author == self.gov.node.key and kind not in FOLDED_KINDS:
            st = self.gov.state(scope)
            action = self.gov.node.plugins.action_for_kind(kind) or PUBLISH
            if st is None or not st.is_member(record.author):
                return "this node is not a member of the group"
            if (why := allowed(st, record.author, action, self.gov.node.plugins.action_index())) is not None:
                return f"{action} {why}"
        return None

    def _e5_authority(self, record: Record, scope: str, keys_id: bytes) -> str | None:
        """E5: content needs a key the fold applied, sealed to the author as a member of that epoch.

        Governance records are judged by the fold itself; this closes the gap for everything else.
        Undecided cases return a retryable refusal (not-permitted is retried like gap), never acceptance.
        """
        st = self.gov.state(scope)
        if st is None:
            return "E5: the group's governance records are not held yet; waiting"
        epoch = st.epochs.get(keys_id)
        if epoch is not None:
            if record.author not in epoch[1]:
                return f"E5: the author was not a member of epoch {epoch[0]}, whose key it uses"
            return None
        ever = any(record.author in r for _, r in st.epochs.values())
        why = st.ignored.get(keys_id)
        if why is None:
            return "E5: the key record it uses is not applied by the fold (yet); waiting"
        if not ever or why.startswith("G7"):
            return f"E5: the key record it uses was ignored by the fold ({why})"
        return None  # a member's key that lost authority after the fact: see docs/governance.md E5

    def open_payload(self, record: Record) -> bytes | None:
        scope = record.scope
        if scope == PUBLIC or record.payload is None:
            return record.payload
        try:
            if scope.startswith("d:"):
                secret = self.gov._x_secret()
                if secret is None:
                    return None
                to = bytes.fromhex(scope[2:])
                me = self.gov.node.key
                if to != me and record.author != me:
                    return None
                env = parse_envelope(record.payload, direct=True)
                return open_direct(secret, record.author if to == me else to, env)
            if not is_envelope(record.payload):
                return record.payload  # plain: may_write allows only gov.keys
            env = parse_envelope(record.payload, direct=False)
            key = self.gov.epoch_key(env.key or b"")
            return None if key is None else open_group(key, env)
        except CryptoError:
            return None

    def refresh(self, stored: Sequence[StoredRecord]) -> bool:
        changed = False
        for rec in stored:
            if rec.kind in GOV_KINDS or rec.kind == BALLOT:
                changed = True
        if any(rec.kind in (KIND_KEYS, KIND_WELCOME) for rec in stored):
            self.gov.scan_keys()
            changed = True
        return changed

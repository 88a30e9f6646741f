"""``Node``: the composition root that wires identity, store, plugins and the ingest pipeline together.

Clock and randomness are injected (``clock() -> ms``, ``rng(n) -> bytes``) so that several nodes can
run deterministically in one test process; each node builds its own plugin manager and holds no
global state.
"""

from __future__ import annotations

import inspect
import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from nacl.encoding import RawEncoder
from nacl.hash import blake2b
from nacl.signing import SigningKey
from pydantic import BaseModel
from sqlite_utils import Database

from tequio.federation.blobs import BlobStore
from tequio.governance import KIND_KEYS, CryptoError, encrypt_blob
from tequio.schemas import (
    PUBLIC,
    BlobRef,
    CanonicalError,
    ForkProof,
    FrameReader,
    Payload,
    PayloadError,
    Reason,
    StreamError,
    fingerprint,
    is_valid_scope,
    make_record,
    parse_payload,
)
from tequio.schemas.canonical import normalize

from . import projections
from .blobread import ChunkReader, blob_plaintext
from .config import CONFIG_FILE, Config, IdentitySection, NodeSection, load_config, write_config
from .errors import (
    NodeExists,
    NodeNotFound,
    NotRecordStream,
    PassphraseRequired,
    PublishError,
    TequioError,
)
from .governance import GovernanceAccess, NodeGovernance
from .homemode import private_home
from .identity import KEY_FILE, Identity, create_identity, key_is_encrypted, load_identity, read_public_key
from .ingest import AccessPolicy, Ingestor, IngestReport, Rejection
from .kinds import body_error
from .pluginhost import PluginHost
from .recordview import StoredRecord
from .sniff import HEAD, Prefixed, describe_non_records
from .state import NodeKey, NodeState
from .store import CORE_MIGRATIONS, DB_FILE, FEDERATION_MIGRATIONS, Store, row_record, row_wire

__all__ = ["TOKEN_FILE", "Clock", "Node", "NodeKey", "Rng", "system_clock"]

Clock = Callable[[], int]
HOUR_MS = 3_600_000
Rng = Callable[[int], bytes]
TOKEN_FILE = "api.token"
#: Rejections an import report keeps in full; the rest are counted by reason.
REPORT_DETAILS = 100
log = logging.getLogger(__name__)
M = TypeVar("M", bound=BaseModel)


def system_clock() -> int:
    """Milliseconds since the Unix epoch."""
    return time.time_ns() // 1_000_000


class Node:
    """One organisation's node, opened on its home directory."""

    def __init__(
        self,
        home: Path,
        config: Config,
        public_key: bytes,
        identity: Identity | None,
        store: Store,
        plugins: PluginHost,
        clock: Clock,
        rng: Rng,
    ) -> None:
        self.home = home
        self.config = config
        self.key = public_key
        self._identity = identity
        self.store = store
        self.plugins = plugins
        self.clock = clock
        self.rng = rng
        self.state: NodeState = NodeState()
        self.blobs = BlobStore(home / "blobs")
        #: Called (without arguments) after records are stored by this process; gossip wakes on it.
        self.listeners: list[Callable[[], None]] = []
        self.governance = NodeGovernance(self)
        self.ingestor = Ingestor(
            store,
            plugins.kinds,
            GovernanceAccess(self.governance),
            clock,
            config.store.rejections_kept,
            self._records_stored,
            self._fork_detected,
            config.ingest.workers(),
            lambda: bool(self.plugins.pm.hook.on_records_stored.get_hookimpls()),
        )

    # -- lifecycle -----------------------------------------------------------------------------------

    @classmethod
    def create(
        cls,
        home: Path | str,
        *,
        name: str,
        passphrase: str | None = None,
        passphrase_env: str = "",
        kdf_profile: str = "moderate",
        clock: Clock = system_clock,
        rng: Rng = os.urandom,
        plugins: Sequence[object] = (),
        env: Mapping[str, str] | None = None,
    ) -> Node:
        """Make a new node in ``home``: key, API token, config and an empty store."""
        home = Path(home)
        if (home / CONFIG_FILE).exists() or (home / KEY_FILE).exists():
            raise NodeExists(f"there is already a node in {home}")
        config = Config(node=NodeSection(name=name), identity=IdentitySection(passphrase_env=passphrase_env))
        host = PluginHost(plugins, env)  # before writing anything: a plugin error must leave no half node
        if not home.exists():
            home.mkdir(parents=True, mode=0o700)
        # An existing directory (0755 from a plain mkdir) is narrowed too: the store, its WAL and
        # the blobs are the organisation's, never another user's on this machine.
        private_home(home)
        identity = create_identity(home, rng, passphrase, kdf_profile)
        fd = os.open(home / TOKEN_FILE, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(rng(32).hex() + "\n")
        from .web.tls import make_certificate

        make_certificate(home, name)  # the web listener's, for TLS off loopback; its fingerprint in 'info'
        write_config(home, config)  # last: its presence marks a complete node
        return cls._assemble(home, config, identity.public, identity, clock, rng, host)

    @classmethod
    def open(
        cls,
        home: Path | str,
        *,
        passphrase: str | None = None,
        unlock: bool = True,
        clock: Clock = system_clock,
        rng: Rng = os.urandom,
        plugins: Sequence[object] = (),
        env: Mapping[str, str] | None = None,
    ) -> Node:
        """Open an existing node. With ``unlock=False`` an encrypted key stays sealed (read-only use)."""
        home = Path(home)
        if not (home / CONFIG_FILE).exists():
            raise NodeNotFound(f"no Tequio node in {home}: run 'tequio init --name NAME' first")
        private_home(home)
        env = os.environ if env is None else env
        host = PluginHost(plugins, env)
        config = load_config(home, host.config_sections())
        identity = None
        if not unlock and not key_is_encrypted(home):
            identity = load_identity(home)  # nothing to protect it with: reading group records needs it
        elif unlock:
            if passphrase is None and key_is_encrypted(home):
                var = config.identity.passphrase_env
                passphrase = env.get(var) if var else None
                if passphrase is None:
                    hint = f"set ${var}" if var else "pass it at the prompt"
                    raise PassphraseRequired(f"the node key is encrypted: {hint}")
            identity = load_identity(home, passphrase)
        return cls._assemble(home, config, read_public_key(home), identity, clock, rng, host)

    @classmethod
    def _assemble(
        cls,
        home: Path,
        config: Config,
        public: bytes,
        identity: Identity | None,
        clock: Clock,
        rng: Rng,
        host: PluginHost,
    ) -> Node:
        store = Store(home / DB_FILE, config.store.busy_timeout_ms, prepare=[host.prepare_connection])
        try:
            store.migrate([CORE_MIGRATIONS, FEDERATION_MIGRATIONS, *host.migrations()], clock())
        except BaseException:
            store.close()
            raise
        node = cls(home, config, public, identity, store, host, clock, rng)
        node._project_missed()
        return node

    def _project_missed(self) -> None:
        """Project what plugins missed while they were not loaded; only with the key at hand, since a
        sealed node would hand them restricted records without their payloads."""
        impls = list(self.plugins.impls("on_records_stored"))
        try:
            projections.initialise(self.store, [name for name, _, _ in impls])
            if self._identity is not None:
                projections.catch_up(self, impls, self._from_row)
                projections.withdraw_ignored(self, self._from_row, transaction=True)  # E6, while closed
        except BaseException:
            self.close()
            raise

    def projection_lag(self) -> dict[str, int]:
        """Stored records each projecting plugin has not seen yet (``tequio plugins --json``)."""
        return projections.lags(self.store, [name for name, _, _ in self.plugins.impls("on_records_stored")])

    def twin(self) -> Node:
        """Another Node on this home, key, clock and plugins with its own SQLite connection.

        For work in another thread (the web pages' worker): SQLite serialises its writes with this
        node's as it does a CLI command's beside ``serve``. Its stored records wake this node's
        listeners only if the caller links them."""
        store = Store(
            self.home / DB_FILE, self.config.store.busy_timeout_ms, prepare=[self.plugins.prepare_connection]
        )
        return type(self)(
            self.home, self.config, self.key, self._identity, store, self.plugins, self.clock, self.rng
        )

    def close(self) -> None:
        self.ingestor.close()
        self.store.close()

    def __enter__(self) -> Node:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def start(self) -> None:
        """Run every plugin's ``on_startup`` (awaiting what they return)."""
        for _, result in self.plugins.call_each("on_startup", node=self):
            if inspect.isawaitable(result):
                await result

    async def stop(self) -> None:
        """Run every plugin's ``on_shutdown``; one failing plugin does not keep the others running
        (the plugin host logs its failure, also of what it returns to await)."""
        for _, result in self.plugins.call_each("on_shutdown", node=self):
            if inspect.isawaitable(result):
                await result

    # -- identity ------------------------------------------------------------------------------------

    @property
    def name(self) -> str:
        return self.config.node.name

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.key)

    @property
    def api_token(self) -> str:
        return (self.home / TOKEN_FILE).read_text().strip()

    @property
    def db(self) -> Database:
        """The store as a sqlite-utils Database, for plugins' own tables.

        Write inside hooks (already in a transaction) or inside ``node.store.write()``.
        """
        return self.store.db

    @property
    def access(self) -> AccessPolicy:
        return self.ingestor.access

    @access.setter
    def access(self, policy: AccessPolicy) -> None:
        self.ingestor.access = policy

    def derive_key(self, context: bytes) -> bytes:
        """A 32-byte secret derived from the node key for ``context`` (never the key itself).

        Lets plugins hold secrets (e.g. a hidden vote's key) without storing them: the node key
        and the context give the same secret again, and only on this node.
        """
        seed = bytes(self._signing_key())
        return blake2b(context, key=seed, person=b"tequio-derive", digest_size=32, encoder=RawEncoder)

    def sign_detached(self, data: bytes) -> bytes:
        """A detached Ed25519 signature by the node key over ``data`` (callers add their own domain
        prefix, so no signature made here can be mistaken for a record's)."""
        if data.startswith(b"tequio/record/v1\n"):
            raise PublishError("records are signed by publish, never directly")
        return self._signing_key().sign(data).signature

    def _signing_key(self) -> SigningKey:
        if self._identity is None:
            raise PassphraseRequired("the node key is locked: open the node with its passphrase to sign")
        return self._identity.signing_key

    # -- records -------------------------------------------------------------------------------------

    def publish(
        self,
        kind: str,
        body: dict[str, Any],
        scope: str = PUBLIC,
        refs: Sequence[bytes] = (),
        blobs: Sequence[BlobRef] = (),
        keys: bytes | None = None,
        coarse: bool = False,
    ) -> StoredRecord:
        """Sign a record of a registered kind as the next in this node's feed and ingest it.

        Group and direct payloads are encrypted (group: under the current epoch key, or under the
        key delivered by the record ``keys`` names, which only a genesis needs). ``coarse`` rounds the
        record's time and its local arrival time down to the hour (a witness's drop keeps no exact time).
        """
        key = self._signing_key()
        spec = self.plugins.kinds.get(kind)
        if spec is None:
            raise PublishError(f"no loaded plugin defines the kind {kind!r} (see 'tequio plugins')")
        if not is_valid_scope(scope):
            raise PublishError(f"{scope!r} is not a scope: use public, g:<32 hex> or d:<64 hex>")
        try:
            payload = Payload(kind, normalize(body), tuple(refs), tuple(blobs)).encode()
        except (CanonicalError, PayloadError) as e:
            raise PublishError(f"{kind}: {e}") from None
        if (err := body_error(spec, None, parse_payload(payload))) is not None:
            raise PublishError(err)
        if scope != PUBLIC and kind != KIND_KEYS:
            payload = self.governance.seal(scope, payload, keys)  # plain only: public, and key records
        report = IngestReport()
        with self.store.write():
            head = self.store.head(self.key, scope)
            if head is not None and head.forked:
                raise PublishError(f"this node's own feed {scope} is marked forked; see 'tequio check'")
            seq, prev = (head.seq + 1, head.head) if head and head.seq else (1, None)
            now = self.clock() // HOUR_MS * HOUR_MS if coarse else self.clock()
            rec = make_record(key, scope, seq, prev, now, payload)
            saved = self.ingestor.clock
            if coarse:
                self.ingestor.clock = lambda: now
            try:
                self.ingestor.apply([(0, rec)], "local", report)
            finally:
                self.ingestor.clock = saved
        if report.rejected:
            r = report.rejected[0]
            raise PublishError(f"{r.reason}: {r.detail}")
        self._changed()
        stored = self.get(rec.id)
        assert stored is not None
        return stored

    def attach(self, path: Path, scope: str, mime: str) -> tuple[BlobRef, bytes | None]:
        """Store a file to refer to from a record in ``scope``: as it is when public, else encrypted
        (crypto_secretstream) under the scope's key. Returns the reference and, for a group, the id
        of the key record the referring record must be encrypted under (pass it as ``keys``)."""
        if scope == PUBLIC:
            h, size = self.blobs.put_file(path)
            return BlobRef(h, size, mime), None
        with path.open("rb") as f:
            return self.attach_stream(f, scope, mime)

    def attach_stream(self, src: Any, scope: str, mime: str) -> tuple[BlobRef, bytes | None]:
        """Like ``attach`` for a readable binary stream (e.g. another blob's plaintext, re-encrypted)."""
        if scope == PUBLIC:
            h, size = self.blobs.put_chunks(iter(lambda: src.read(1 << 20), b""))
            return BlobRef(h, size, mime), None
        keys: bytes | None = None
        if scope.startswith("g:"):
            keys, key = self.governance.current_key(scope)
        else:
            try:
                key = self.governance.direct_key(bytes.fromhex(scope[2:]))
            except CryptoError as e:
                raise PublishError(f"{scope[:18]}…: {e}") from None
        h, size = self.blobs.put_chunks(encrypt_blob(key, src))
        return BlobRef(h, size, mime), keys

    def sealer(self, scope: str, coarse: bool = False) -> tuple[Callable[[Any, str], BlobRef], bytes | None]:
        """Look up ``scope``'s current key now and return ``seal(src, mime)``, which encrypts a readable
        stream into the blob store as it reads it. ``seal`` touches only files, so it may run on any
        thread while this node's connection serves others (the intake plugin's concurrent uploads).
        Restricted scopes only: a public blob is never encrypted. The record referring to the blob
        must be published in ``scope`` with ``keys`` set to the second value (the epoch's key record);
        ``coarse`` sets the sealed file's times to the hour."""
        if scope == PUBLIC:
            raise PublishError("sealer: a public scope's blobs are not encrypted; use attach")
        if scope.startswith("g:"):
            keys, key = self.governance.current_key(scope)
        else:
            keys = None
            try:
                key = self.governance.direct_key(bytes.fromhex(scope[2:]))
            except CryptoError as e:
                raise PublishError(f"{scope[:18]}…: {e}") from None
        blobs = self.blobs

        def seal(src: Any, mime: str) -> BlobRef:
            h, size = blobs.put_chunks(encrypt_blob(key, src))
            if coarse:  # the file's own times say no more than the hour
                hour = self.clock() // HOUR_MS * HOUR_MS / 1000
                os.utime(blobs.path(h), (hour, hour))
            return BlobRef(h, size, mime)

        return seal, keys

    def plugin_config(self, name: str, model: type[M]) -> M:
        """A plugin's ``[name]`` section of tequio.toml (declared by register_config), or its defaults."""
        return self.config.plugin_section(name, model)

    def open_blob(self, h: bytes) -> Iterator[bytes]:
        """The plaintext of a held blob, piece by piece, decrypted if a restricted record refers to it."""
        return blob_plaintext(self, h)

    def blob_reader(self, h: bytes) -> ChunkReader:
        """A readable binary stream over a blob's plaintext (see ``open_blob``)."""
        return ChunkReader(self.open_blob(h))

    def ingest(self, raws: Iterable[bytes], source: str = "api") -> IngestReport:
        """Run wire records through the pipeline as one batch (one transaction)."""
        report = self.ingestor.ingest(raws, source)
        if report.accepted:
            self._changed()
        return report

    def import_stream(
        self,
        stream: Any,
        source: str,
        progress: Callable[[int], None] | None = None,
        report: IngestReport | None = None,
    ) -> IngestReport:
        """Ingest concatenated wire records in batches, verifying the next while writing this one.

        A stream broken part-way keeps what came before, the break a ``malformed`` rejection where
        reading stopped. Counted into ``report`` if given (so it survives a Ctrl-C)."""
        head = stream.read(HEAD)
        what = describe_non_records(head)
        if what is not None:
            raise NotRecordStream(f"not a Tequio record stream; {what}")
        total = report if report is not None else IngestReport()
        reader = FrameReader(Prefixed(head, stream))  # type: ignore[arg-type]  # only .read() is used
        size = self.config.ingest.batch_size
        max_bytes = self.config.ingest.batch_bytes
        pending: Callable[[], Any] | None = None
        index = 0

        def write_pending() -> None:
            if pending is not None:
                total.merge(self.ingestor.write(pending(), source), keep_details=REPORT_DETAILS)
                if progress:
                    progress(reader.offset)

        batch: list[bytes] = []
        held = 0
        try:
            for frame in reader:
                batch.append(frame)
                held += len(frame)
                if len(batch) >= size or held >= max_bytes:
                    nxt = self.ingestor.submit(batch, index)
                    index += len(batch)
                    batch = []
                    held = 0
                    write_pending()
                    pending = nxt
        except StreamError as e:
            broke: StreamError | None = e
        else:
            broke = None
        nxt = self.ingestor.submit(batch, index)
        index += len(batch)
        write_pending()
        pending = nxt
        write_pending()
        if broke is not None:
            total.add_rejection(Rejection(index, Reason.MALFORMED, str(broke)), REPORT_DETAILS)
        if total.accepted:
            self._changed()
        return total

    def _changed(self) -> None:
        for listener in self.listeners:
            listener()

    def get(self, record_id: bytes) -> StoredRecord | None:
        row = self.store.get(record_id)
        return self._from_row(row) if row else None

    def resolve(self, text: str) -> StoredRecord:
        """A record by full hex id or a unique prefix of at least 8 hex characters."""
        t = text.strip().lower()
        try:
            raw = bytes.fromhex(t if len(t) % 2 == 0 else t[:-1])
        except ValueError:
            raise TequioError(f"{text!r} is not a record id (hex)") from None
        if len(t) < 8:
            raise TequioError("give at least 8 hex characters of the record id")
        ids = [i for i in self.store.ids_with_prefix(raw, limit=50) if i.hex().startswith(t)][:2]
        if not ids:
            raise TequioError(f"no record with id {t}")
        if len(ids) > 1:
            raise TequioError(f"id prefix {t} matches several records; give more characters")
        stored = self.get(ids[0])
        assert stored is not None
        return stored

    def records(
        self,
        scope: str | None = None,
        kind: str | None = None,
        author: bytes | None = None,
        after: int = 0,
        limit: int | None = None,
        kinds: Sequence[str] | None = None,
    ) -> list[StoredRecord]:
        """Stored records in arrival order, filtered; ``after`` is a record's ``n`` to page from."""
        hidden, rows = self.governance.hidden(), self.store.query(scope, kind, author, after, limit, kinds)
        return [self._from_row(r) for r in rows if r[1] not in hidden]  # E6: lost authority, hidden

    def export(self, scope: str | None = None) -> Iterator[bytes]:
        """Wire bytes of every record (of a scope), in an order that imports without gaps."""
        for row in self.store.iter_rows(scope):
            yield row_wire(row)

    def count(self) -> int:
        return self.store.count()

    def _from_row(self, row: tuple) -> StoredRecord:
        rec = row_record(row)
        payload = None
        if rec.payload is not None:
            plain = self.access.open_payload(rec)
            if plain is not None:
                payload = parse_payload(plain)
        return StoredRecord(rec, payload, row[7], row[0])

    # -- hooks ---------------------------------------------------------------------------------------

    def _records_stored(self, records: list[StoredRecord]) -> None:
        # Each plugin projects inside its own savepoint: a failing plugin loses its projection of this
        # batch, not the records and not the other plugins' projections.
        last = max((r.n for r in records), default=0)
        for name, fn, argnames in self.plugins.impls("on_records_stored"):
            args = {"node": self, "db": self.store.db, "records": records}
            try:
                with self.store.db.atomic():
                    fn(*[args[a] for a in argnames])
                    projections.set_mark(self.store, name, last)
            except Exception:
                log.exception("plugin %s failed to project %d records", name, len(records))
        # E6: records projected earlier may have lost their authority with this batch (a removal)
        projections.withdraw_ignored(self, self._from_row)

    def _fork_detected(self, proof: ForkProof) -> None:
        # one plugin failing is logged by the plugin host, and the others still hear of the fork
        list(self.plugins.call_each("on_fork", node=self, proof=proof))

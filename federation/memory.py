"""An in-memory transport: the same services and sync code, many nodes in one process.

Messages go through the canonical encoding both ways (so sizes are real and nothing is shared by
reference) and can be lost at a given rate with a seeded random source, for simulations.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from tequio.schemas import decode, encode

from .service import FedError, FedService
from .sync import Unreachable

__all__ = ["MemoryNetwork", "MemoryTransport", "Meter"]


@dataclass
class Meter:
    """Bytes and calls carried, for benchmarks."""

    calls: int = 0
    sent: int = 0
    received: int = 0
    by_method: dict[str, int] = field(default_factory=dict)


class MemoryNetwork:
    """Where in-memory nodes find each other; ``loss`` is the chance that a call is lost."""

    def __init__(self, loss: float = 0.0, seed: int = 0) -> None:
        self.services: dict[bytes, FedService] = {}
        self.down: set[bytes] = set()
        self.loss = loss
        self.random = random.Random(seed)

    def attach(self, key: bytes, service: FedService) -> None:
        self.services[key] = service

    def transport(self, key: bytes) -> MemoryTransport:
        return MemoryTransport(self, key)


class MemoryTransport:
    def __init__(self, network: MemoryNetwork, me: bytes) -> None:
        self.network = network
        self.me = me
        self.meter = Meter()

    async def call(self, peer: bytes, method: str, message: Any) -> Any:
        net = self.network
        service = net.services.get(peer)
        if service is None or peer in net.down or self.me in net.down:
            raise Unreachable("no route to peer")
        if net.loss and net.random.random() < net.loss:
            raise Unreachable("message lost")
        request = encode(message)
        self.meter.calls += 1
        self.meter.sent += len(request)
        self.meter.by_method[method] = self.meter.by_method.get(method, 0) + 1
        if method != "handshake" and not service.known(self.me):
            raise FedError(401, "unknown-key", "not a trusted peer")
        reply = encode(await service.handle(self.me, method, decode(request)))
        if net.loss and net.random.random() < net.loss:
            raise Unreachable("reply lost")  # the peer did the work; the caller never hears of it
        self.meter.received += len(reply)
        return decode(reply)

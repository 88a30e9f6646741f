"""Several real nodes federated over the in-memory network, in one test process."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from tequio.federation.memory import MemoryNetwork
from tequio.node import Node
from tequio.node.federation import Federation


@dataclass
class Cluster:
    network: MemoryNetwork
    feds: list[Federation] = field(default_factory=list)

    def __getitem__(self, i: int) -> Federation:
        return self.feds[i]

    def trust(self, a: int, b: int) -> None:
        """Make nodes ``a`` and ``b`` trust each other (what a completed invite does)."""
        fa, fb = self.feds[a], self.feds[b]
        fa.peers.trust(fb.node.key, fb.node.name, [])
        fb.peers.trust(fa.node.key, fa.node.name, [])

    def ids(self, i: int) -> set[bytes]:
        return {r.id for r in self.feds[i].node.records(limit=None)}


def make_cluster(make_node: Callable[..., Node], n: int, loss: float = 0.0, **node_kw: object) -> Cluster:
    cluster = Cluster(MemoryNetwork(loss=loss, seed=7))
    for i in range(n):
        node = make_node(name=f"Org {chr(65 + i)}", seed=100 + i, **node_kw)
        fed = Federation(node, transport=cluster.network.transport(node.key), seed=i)
        cluster.network.attach(node.key, fed.service)
        cluster.feds.append(fed)
    return cluster

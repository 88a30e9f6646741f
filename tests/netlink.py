"""Emulated bad links for tests: hosts in network namespaces on one bridge, each host's link to the
bridge shaped per direction (rate, one-way delay, loss, periodic cuts), built without ``netem``.

The kernel here has no netem, so each knob is made of what it does have: ``tc tbf`` for the rate,
an NFQUEUE helper process (``netfilterqueue``) that holds packets for the delay, nftables
``numgen random`` for the loss and a drop rule flipped on a schedule for the cuts. ``docs/testing.md``
documents the API and its limits; ``tests/linkmeter.py`` checks it measures what it claims, and
``python -m tests.netlink`` prints those checks as JSON figures; ``tests/linkhold.py`` is the helper
process; ``tests/lannodes.py`` runs Tequio nodes on the hosts.
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib.util
import ipaddress
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO, Any, TypeVar

from tests.linkhold import Cut, finite

T = TypeVar("T")

#: Ethernet header counted by ``tbf`` (it shapes whole frames, without preamble or FCS).
ETH_BYTES = 14
MTU = 1500
#: Names of our namespaces: ``tql<pid>-<random>-<label>``; a dead pid marks a leftover of a killed run.
PREFIX = "tql"
_LABEL = re.compile(r"[a-z][a-z0-9]{0,9}")
_CLONE_NEWNET = 0x40000000


class NetlinkError(RuntimeError):
    """The emulator cannot be built or torn down here; the message says why and what to install."""


# -- what a link is -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Shape:
    """One direction of a link. ``rate_kbit``: Ethernet frames (IP packet + 14 bytes), 1 kbit = 1000
    bit/s, None for unlimited; ``delay_ms``: one way, added to every IPv4 packet; ``loss_pct``: share of
    frames dropped at random, after the rate (they cost airtime); ``cut``: outages; ``queue_ms``:
    the rate shaper's buffer, in time at the rate (at least four full frames)."""

    rate_kbit: float | None = None
    delay_ms: float = 0.0
    loss_pct: float = 0.0
    cut: Cut | None = None
    queue_ms: float = 200.0

    def __post_init__(self) -> None:
        if self.rate_kbit is not None:
            finite("rate_kbit", self.rate_kbit, 8, 10_000_000)
        finite("delay_ms", self.delay_ms, 0, 60_000)
        finite("loss_pct", self.loss_pct, 0, 100)
        finite("queue_ms", self.queue_ms, 1, 60_000)
        if self.cut is not None and not isinstance(self.cut, Cut):
            raise ValueError(f"cut must be a Cut, not {self.cut!r}")

    @property
    def queue_bytes(self) -> int:
        rate = (self.rate_kbit or 0) * 1000 / 8
        return max(4 * (MTU + ETH_BYTES), int(rate * self.queue_ms / 1000))

    @property
    def burst_bytes(self) -> int:
        return 2 * (MTU + ETH_BYTES)  # small: the rate holds from the first packets on


@dataclass(frozen=True)
class Link:
    """A host's link to the LAN: ``up`` shapes what the host sends, ``down`` what it receives."""

    up: Shape = field(default_factory=Shape)
    down: Shape = field(default_factory=Shape)
    name: str = "ideal"

    @classmethod
    def symmetric(cls, name: str = "custom", **shape: Any) -> Link:
        """The same shape in both directions (``delay_ms`` is still one way: the round trip is twice it)."""
        s = Shape(**shape)
        return cls(s, s, name)

    @property
    def rtt_ms(self) -> float:
        """Round trip added between this host and an ideal one."""
        return self.up.delay_ms + self.down.delay_ms

    def cuts_from(self, first_s: float) -> Link:
        """The same link with its first cut (both directions) ``first_s`` after it comes up."""
        move = lambda s: replace(s, cut=replace(s.cut, first_s=first_s)) if s.cut else s  # noqa: E731
        return replace(self, up=move(self.up), down=move(self.down))


IDEAL = Link()
#: Link (a) of issue 15: 256 kbit/s, 300 ms round trip (150 ms each way), 10 % loss each way.
LINK_A = Link.symmetric("a", rate_kbit=256, delay_ms=150, loss_pct=10)
#: Link (b): 64 kbit/s, 20 % loss each way, cut for 10 s every 30 s (both directions at once).
LINK_B = Link.symmetric("b", rate_kbit=64, loss_pct=20, cut=Cut(down_s=10, every_s=30))


# -- commands --------------------------------------------------------------------------------------------

TOOLS = {
    "ip": "iproute2",
    "tc": "iproute2",
    "nft": "nftables",
    "iptables": "iptables",
    "ethtool": "ethtool",
    "sysctl": "procps",
}


def run(
    *argv: str, timeout: float = 30, check: bool = True, input: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run a command; a failure is a NetlinkError carrying the command and what it printed."""
    try:
        r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, input=input)
    except FileNotFoundError:
        raise NetlinkError(_missing(argv[0])) from None
    except subprocess.TimeoutExpired:
        raise NetlinkError(f"'{' '.join(argv)}' did not finish in {timeout} s") from None
    if check and r.returncode != 0:
        m = re.search(r'exec of "([^"]+)" failed: No such file', r.stderr)
        if m:  # ``ip netns exec`` of a command that is not installed
            raise NetlinkError(_missing(m.group(1)))
        raise NetlinkError(f"'{' '.join(argv)}' failed: {(r.stderr or r.stdout).strip()}")
    return r


def _missing(tool: str) -> str:
    return f"'{tool}' is not installed (Debian package {TOOLS.get(tool, tool)}; .ci/run installs it)"


def require(delay: bool = False) -> None:
    """Fail now, with what to install, if a tool the emulator needs is missing."""
    for tool in ("ip", "tc", "nft", "ethtool", "sysctl", *(("iptables",) if delay else ())):
        if shutil.which(tool) is None:
            raise NetlinkError(_missing(tool))
    if delay and importlib.util.find_spec("netfilterqueue") is None:
        raise NetlinkError(
            "the Python package netfilterqueue is not installed (pip install -e '.[test]'; building it"
            " needs Debian's libnetfilter-queue-dev)"
        )


def ns_exec(ns: str, *argv: str) -> list[str]:
    return ["ip", "netns", "exec", ns, *argv]


def inside(ns: str, cmdline: str) -> subprocess.CompletedProcess[str]:
    """Run a command line (words without spaces or quotes: our names are checked) in ``ns``."""
    return run(*ns_exec(ns, *cmdline.split()))


def nft(ns: str, script: str) -> None:
    """Load an nftables script in namespace ``ns``."""
    run(*ns_exec(ns, "nft", "-f", "-"), input=script)


def _pid_alive(pid: int) -> bool:
    return Path(f"/proc/{pid}").exists()


def reap_leftovers() -> list[str]:
    """Delete namespaces left by a test process that died (their name carries its pid)."""
    r = run("ip", "netns", "list", check=False)
    gone = []
    for line in r.stdout.splitlines():
        name = line.split()[0] if line.split() else ""
        m = re.fullmatch(rf"{PREFIX}(\d+)-[0-9a-f]+-[a-z0-9]+", name)
        if m and not _pid_alive(int(m.group(1))):
            _kill_inside(name)
            run("ip", "netns", "del", name, check=False)
            gone.append(name)
    return gone


def _kill_inside(ns: str) -> None:
    """SIGKILL every process still inside one of our namespaces (they were started by our tests)."""
    r = run("ip", "netns", "pids", ns, check=False)
    for pid in r.stdout.split():
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.kill(int(pid), signal.SIGKILL)


def _enter_netns(path: str) -> None:
    """Move the calling thread (only it) into the network namespace at ``path``."""
    fd = os.open(path, os.O_RDONLY)
    try:
        setns = getattr(os, "setns", None)  # Python >= 3.12
        if setns is not None:
            setns(fd, _CLONE_NEWNET)
            return
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.setns(fd, _CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"setns({path}): {os.strerror(err)}")
    finally:
        os.close(fd)


# -- processes whose output a test awaits ----------------------------------------------------------------


class Proc:
    """A process started in a namespace; its output is read line by line in a thread (kept, and
    copied to ``log``), so that a test awaits a line instead of polling a file."""

    def __init__(self, popen: subprocess.Popen[bytes], log: Path | None = None) -> None:
        self.popen = popen
        self.log = log
        self.lines: list[str] = []
        self._cond = threading.Condition()
        self._eof = False
        self._reader = threading.Thread(target=self._read, daemon=True, name=f"proc-{popen.pid}")
        self._reader.start()

    def _read(self) -> None:
        out: IO[bytes] | None = self.log.open("ab") if self.log else None
        try:
            assert self.popen.stdout is not None
            for raw in self.popen.stdout:
                if out:
                    out.write(raw)
                    out.flush()
                with self._cond:
                    self.lines.append(raw.decode("utf-8", "replace").rstrip("\n"))
                    self._cond.notify_all()
        finally:
            if out:
                out.close()
            with self._cond:
                self._eof = True
                self._cond.notify_all()

    @property
    def pid(self) -> int:
        return self.popen.pid

    def output(self) -> str:
        with self._cond:
            return "\n".join(self.lines)

    def wait_line(self, pattern: str | re.Pattern[str], timeout: float = 30, since: int = 0) -> re.Match[str]:
        """The first line from index ``since`` on that matches ``pattern`` (``re.search``), awaited.
        Raises TimeoutError (with the output's tail) if none comes in time or the process ends first."""
        rx = re.compile(pattern) if isinstance(pattern, str) else pattern
        deadline = time.monotonic() + timeout
        i = since
        with self._cond:
            while True:
                for i in range(i, len(self.lines)):  # noqa: B020
                    m = rx.search(self.lines[i])
                    if m:
                        return m
                i = len(self.lines)
                left = deadline - time.monotonic()
                if self._eof or left <= 0:
                    why = f"exited with {self.popen.poll()}" if self._eof else f"no such line in {timeout} s"
                    tail = "\n".join(self.lines[-40:])
                    raise TimeoutError(f"waiting for /{rx.pattern}/ from pid {self.pid}: {why}\n{tail}")
                self._cond.wait(left)

    def stop(self, timeout: float = 15) -> int | None:
        """SIGTERM, then SIGKILL after ``timeout``; returns the exit code."""
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(5)
        self._reader.join(5)
        return self.popen.returncode


# -- the LAN ---------------------------------------------------------------------------------------------


class Lan:
    """A bridge in a namespace of its own (the hub) and hosts on it, one namespace each; a context
    manager that removes every namespace and process it made, whatever happened in between.

    Each host's link to the bridge is shaped by its :class:`Link`: traffic between two shaped hosts
    crosses both links (the sender's ``up``, the receiver's ``down``)."""

    def __init__(self, root: Path | None = None, subnet: str = "10.213.0", tag: str | None = None) -> None:
        if not re.fullmatch(r"(\d{1,3})\.(\d{1,3})\.(\d{1,3})", subnet):
            raise ValueError(f"subnet is three octets like '10.213.0', not {subnet!r}")
        self.root = root
        self.subnet = subnet
        self.tag = tag or f"{PREFIX}{os.getpid()}-{secrets.token_hex(3)}"
        self.namespaces: list[str] = []
        self.procs: list[subprocess.Popen[bytes]] = []
        self.hosts: dict[str, Host] = {}
        self._closed = False
        require()
        reap_leftovers()
        self.hub = self._netns("hub")
        try:
            _quiet_ipv6(self.hub)
            # Bridged IPv4 through the hub's iptables: the delay's NFQUEUE rules match the bridge port.
            inside(self.hub, "sysctl -qw net.bridge.bridge-nf-call-iptables=1")
            run("ip", "-n", self.hub, "link", "add", "br0", "type", "bridge", "mcast_snooping", "0")
            run("ip", "-n", self.hub, "link", "set", "br0", "up")
        except BaseException:
            self.close()
            raise

    def __enter__(self) -> Lan:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _netns(self, label: str) -> str:
        ns = f"{self.tag}-{label}"
        r = run("ip", "netns", "add", ns, check=False)
        if r.returncode != 0:
            err = r.stderr.strip()
            hint = (
                " (the emulated links need root, or CAP_SYS_ADMIN and CAP_NET_ADMIN)"
                if ("ermission" in err or "not permitted" in err)
                else ""
            )
            raise NetlinkError(f"cannot create network namespace {ns}: {err}{hint}")
        self.namespaces.append(ns)
        return ns

    def host(self, label: str, link: Link = IDEAL, n: int | None = None) -> Host:
        """A namespace joined to the bridge by a veth (``eth0`` inside) at ``subnet.n``, on ``link``."""
        if self._closed:
            raise NetlinkError("this LAN is closed")
        if not isinstance(label, str) or not _LABEL.fullmatch(label) or label in self.hosts or label == "hub":
            raise ValueError(f"a host label is 1-10 of [a-z0-9], starting with a letter, unused: {label!r}")
        n = len(self.hosts) + 1 if n is None else n
        if (
            not isinstance(n, int)
            or isinstance(n, bool)
            or not 1 <= n <= 254
            or any(h.n == n for h in self.hosts.values())
        ):
            raise ValueError(f"host number must be 1-254 and unused, not {n!r}")
        if not isinstance(link, Link):
            raise ValueError(f"link must be a Link, not {link!r}")
        host = Host(self, label, self._netns(label), n, link)
        self.hosts[label] = host
        host._build()
        return host

    def close(self) -> None:
        """Stop every process (helpers first, then anything left inside our namespaces), delete the
        namespaces (and with them every veth, qdisc and nft table). Raises if something is left."""
        if self._closed:
            return
        self._closed = True
        for p in self.procs:
            if p.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    p.send_signal(signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(5)
        for h in self.hosts.values():
            h._pool.shutdown(wait=True)
        problems = []
        for ns in reversed(self.namespaces):
            _kill_inside(ns)
            r = run("ip", "netns", "del", ns, check=False)
            if r.returncode != 0:
                problems.append(f"{ns}: {r.stderr.strip()}")
        left = set(run("ip", "netns", "list", check=False).stdout.split()) & set(self.namespaces)
        if problems or left:
            raise NetlinkError(f"could not remove namespaces: {problems or sorted(left)}")

    def spawn(
        self, ns: str, argv: list[str], log: Path | None = None, env: dict[str, str] | None = None
    ) -> Proc:
        """Start ``argv`` in namespace ``ns``; it is stopped when the LAN closes."""
        popen = subprocess.Popen(ns_exec(ns, *argv), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                 stdin=subprocess.DEVNULL, env=env)  # fmt: skip
        self.procs.append(popen)
        return Proc(popen, log)

    def describe(self) -> str:
        """Every namespace's qdiscs and nft rules, for a failing test's message."""
        out = []
        for ns in self.namespaces:
            qd = run(*ns_exec(ns, "tc", "-s", "qdisc"), check=False).stdout
            rules = run(*ns_exec(ns, "nft", "list", "ruleset"), check=False).stdout
            out.append(f"### {ns}\n{qd}{rules}")
        return "\n".join(out)


@contextlib.contextmanager
def open_lan(root: Path | None = None, **kw: Any) -> Iterator[Lan]:
    """A :class:`Lan` for a test: one that cannot be built fails the test with the reason (it never
    skips), and it is torn down however the test ends."""
    import pytest

    try:
        lan = Lan(root, **kw)
    except NetlinkError as e:
        pytest.fail(f"cannot build the emulated LAN: {e}")
    with lan:
        yield lan


def _quiet_ipv6(ns: str) -> None:
    """No IPv6 in our namespaces: the delay holds IPv4 only, and router solicitations and MLD
    reports would be noise on the measured links."""
    inside(ns, "sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1")


def _tbf(s: Shape) -> str:
    return f"tbf rate {s.rate_kbit}kbit burst {s.burst_bytes} limit {s.queue_bytes}"


def _ppm(pct: float) -> int:
    return round(pct * 10_000)


def _rx_table(family: str, table: str, where: str, loss_pct: float) -> str:
    """A chain that drops frames at random (``loss_pct``), then jumps to the scheduled and the
    manual cut chains; ARP passes (see docs/testing.md). ``where``: the hook and its match."""
    loss = f"numgen random mod 1000000 < {_ppm(loss_pct)} counter drop" if loss_pct > 0 else ""
    return f"""
table {family} {table} {{
    counter cut {{ }}
    chain sched {{ }}
    chain manual {{ }}
    chain rx {{
        {where}
        ether type arp accept
        {loss}
        jump sched
        jump manual
    }}
}}
"""


class Host:
    """One host on the LAN: a namespace with ``eth0`` at ``ip``, its link to the bridge shaped in
    the hub, never in the host's own stack (a local queue would push back on its TCP, which a radio
    does not). Up: ``eth0``'s frames are redirected to an ifb whose ``tbf`` is the rate, then the
    bridge's prerouting drops (loss, cuts), then NFQUEUE holds (delay). Down: NFQUEUE holds, the
    hub port's ``tbf`` is the rate, and ``eth0``'s ingress drops (loss, cuts)."""

    def __init__(self, lan: Lan, label: str, ns: str, n: int, link: Link) -> None:
        self.lan = lan
        self.label = label
        self.ns = ns
        self.n = n
        self.ip = f"{lan.subnet}.{n}"
        self.link = link
        self.dev = "eth0"
        self.hub_dev, self.ifb = f"h-{label}", f"i-{label}"
        self.table = "tql"  # netdev, in this namespace (down)
        self.hub_table = f"tql_{label}"  # bridge, in the hub's (up)
        self.queues = (2 * n, 2 * n + 1)  # NFQUEUE numbers in the hub (up, down)
        self.hold: Proc | None = None
        self._pool = ThreadPoolExecutor(
            1, f"netns-{label}", initializer=_enter_netns, initargs=(f"/run/netns/{ns}",)
        )

    # -- building --------------------------------------------------------------------------------------

    def _build(self) -> None:
        hub, ns, link, port = self.lan.hub, self.ns, self.link, self.hub_dev
        _quiet_ipv6(ns)
        inside(hub, f"ip link add {port} type veth peer name {self.dev} netns {ns}")
        for where, dev in ((hub, port), (ns, self.dev)):
            # One frame per packet: loss and cuts drop frames, not 64 KB offload super-packets.
            inside(where, f"ethtool -K {dev} tso off gso off gro off")
        inside(hub, f"ip link set {port} master br0 up")
        inside(ns, f"ip addr add {self.ip}/24 dev {self.dev}")
        inside(ns, f"ip link set {self.dev} up")
        inside(ns, "ip link set lo up")
        if (up := link.up).rate_kbit is not None:
            inside(hub, f"ip link add {self.ifb} type ifb")
            inside(hub, f"ip link set {self.ifb} up")
            inside(hub, f"tc qdisc add dev {port} handle ffff: ingress")
            inside(hub, f"tc filter add dev {port} parent ffff: protocol all u32 match u32 0 0"
                        f" action mirred egress redirect dev {self.ifb}")  # fmt: skip
            inside(hub, f"tc qdisc add dev {self.ifb} root {_tbf(up)}")
        if link.down.rate_kbit is not None:
            inside(hub, f"tc qdisc add dev {port} root {_tbf(link.down)}")
        hook = (
            f'type filter hook prerouting priority -200; policy accept;\n        iifname != "{port}" return'
        )
        nft(hub, _rx_table("bridge", self.hub_table, hook, up.loss_pct))
        hook = f'type filter hook ingress device "{self.dev}" priority 0; policy accept;'
        nft(ns, _rx_table("netdev", self.table, hook, link.down.loss_pct))
        if up.delay_ms > 0 or link.down.delay_ms > 0 or up.cut or link.down.cut:
            require(delay=True)
            self._start_hold()
        for chain, match, q, ms in (
            ("PREROUTING", "--physdev-in", self.queues[0], up.delay_ms),
            ("POSTROUTING", "--physdev-out", self.queues[1], link.down.delay_ms),
        ):
            if ms > 0:  # no --queue-bypass: if the helper dies the link dies, visibly
                inside(hub, f"iptables -w -t mangle -A {chain} -m physdev {match} {port}"
                            f" -j NFQUEUE --queue-num {q}")  # fmt: skip

    def _cut_cmds(self, direction: str, on: bool) -> list[str]:
        where, family, table = self._cut_table(direction)
        rule = f'add rule {family} {table} sched counter name "cut" drop' if on else (
            f"flush chain {family} {table} sched"
        )  # fmt: skip
        return ns_exec(where, "nft", rule)

    def _cut_table(self, direction: str) -> tuple[str, str, str]:
        """Where a direction's cut chains are: (namespace, nft family, table)."""
        return (
            (self.lan.hub, "bridge", self.hub_table) if direction == "up" else (self.ns, "netdev", self.table)
        )

    def _start_hold(self) -> None:
        up, down = self.link.up, self.link.down
        spec = {
            "delays": [[self.queues[0], up.delay_ms], [self.queues[1], down.delay_ms]],
            "cuts": [
                {"dir": d, "cut": [s.cut.down_s, s.cut.every_s, s.cut.start],
                 "on": self._cut_cmds(d, True), "off": self._cut_cmds(d, False)}
                for d, s in (("up", up), ("down", down)) if s.cut
            ],
        }  # fmt: skip
        argv = [sys.executable, str(Path(__file__).with_name("linkhold.py")), json.dumps(spec)]
        log = self.lan.root / f"{self.label}.hold.log" if self.lan.root else None
        self.hold = self.lan.spawn(self.lan.hub, argv, log=log)
        try:
            self.hold.wait_line(r'"event": "ready"', timeout=30)
        except TimeoutError as e:
            raise NetlinkError(f"the link helper of {self.label} did not start: {e}") from None

    # -- using ---------------------------------------------------------------------------------------------

    def addr(self, port: int) -> str:
        return f"{self.ip}:{port}"

    def cmd(self, *argv: str) -> list[str]:
        """``argv`` run inside this host's namespace."""
        return ns_exec(self.ns, *argv)

    def spawn(self, argv: list[str], log: Path | None = None, env: dict[str, str] | None = None) -> Proc:
        """Start ``argv`` in this namespace (stdout and stderr together, read line by line); stopped
        when the LAN closes."""
        return self.lan.spawn(self.ns, argv, log, env)

    def call(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` on a thread that lives in this namespace: sockets it makes belong here."""
        return self._pool.submit(fn, *args).result()

    def socket(
        self, family: int = socket.AF_INET, type: int = socket.SOCK_STREAM, proto: int = 0
    ) -> socket.socket:
        """A socket in this namespace, for in-process code (aiohttp's ``SockSite``, or
        ``TCPConnector(socket_factory=host.socket_factory)``)."""
        return self.call(socket.socket, family, type, proto)

    def socket_factory(self, addr_info: Any) -> socket.socket:
        """aiohttp's ``socket_factory``: a non-blocking socket in this namespace for ``addr_info``."""
        family, type_, proto, *_ = addr_info
        s = self.socket(family, type_, proto)
        s.setblocking(False)
        return s

    def listen(self, port: int = 0, backlog: int = 128) -> socket.socket:
        """A TCP socket listening at this host's address (``port`` 0: any free one)."""
        s = self.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((self.ip, port))
        s.listen(backlog)
        return s

    def move(self, ip: str) -> None:
        """Change this host's address, as a mesh or DHCP would."""
        ipaddress.IPv4Address(ip)  # a ValueError for anything else
        inside(self.ns, f"ip addr del {self.ip}/24 dev {self.dev}")
        inside(self.ns, f"ip addr add {ip}/24 dev {self.dev}")
        self.ip = ip

    def cut(self, direction: str = "both") -> None:
        """Cut the link now (``up``, ``down`` or ``both``) until :meth:`mend`, beside any schedule."""
        self._manual(direction, 'counter name "cut" drop')

    def mend(self, direction: str = "both") -> None:
        self._manual(direction, None)

    @contextlib.contextmanager
    def outage(self, direction: str = "both") -> Iterator[None]:
        """The link is cut inside the ``with`` block."""
        self.cut(direction)
        try:
            yield
        finally:
            self.mend(direction)

    def _manual(self, direction: str, rule: str | None) -> None:
        if direction not in ("up", "down", "both"):
            raise ValueError(f"direction is up, down or both, not {direction!r}")
        for d in ("up", "down"):
            if direction in (d, "both"):
                where, family, table = self._cut_table(d)
                cmd = f"add rule {family} {table} manual {rule}" if rule else (
                    f"flush chain {family} {table} manual"
                )  # fmt: skip
                run(*ns_exec(where, "nft", cmd))

    def events(self, kind: str | None = None) -> list[dict[str, Any]]:
        """What the link helper reported (``ready``, ``cut``, ``mend``; ``t`` is ``time.monotonic()``)."""
        if self.hold is None:
            return []
        out = []
        for line in self.hold.output().splitlines():
            with contextlib.suppress(ValueError):
                ev = json.loads(line)
                if isinstance(ev, dict) and (kind is None or ev.get("event") == kind):
                    out.append(ev)
        return out

    def counters(self) -> dict[str, int]:
        """Frames and bytes this host sent (``up``) and was sent (``down``), and frames the emulator
        dropped: ``*_lost`` at random, ``*_cut`` during cuts, ``*_queue`` from the rate's full queue."""
        c: dict[str, int] = {}
        for d, where, dev, shaper in (
            ("up", self.ns, self.dev, self.ifb),
            ("down", self.lan.hub, self.hub_dev, self.hub_dev),
        ):
            stats = json.loads(inside(where, f"ip -s -j link show {dev}").stdout)[0]["stats64"]["tx"]
            c[f"{d}_bytes"], c[f"{d}_frames"] = stats["bytes"], stats["packets"]
            shaped = (d == "up" and self.link.up.rate_kbit) or (d == "down" and self.link.down.rate_kbit)
            qd = (
                json.loads(inside(self.lan.hub, f"tc -s -j qdisc show dev {shaper}").stdout) if shaped else []
            )
            c[f"{d}_queue"] = sum(q.get("drops", 0) for q in qd if q.get("kind") == "tbf")
        for d in ("up", "down"):
            where, family, table = self._cut_table(d)
            rules = json.loads(inside(where, f"nft -j list table {family} {table}").stdout)["nftables"]
            c[f"{d}_lost"] = c[f"{d}_cut"] = 0
            for item in rules:
                if "counter" in item and item["counter"].get("name") == "cut":
                    c[f"{d}_cut"] = item["counter"]["packets"]
                elif (rule := item.get("rule")) and rule["chain"] == "rx":
                    counted = [
                        e["counter"]["packets"]
                        for e in rule["expr"]
                        if isinstance(e, dict) and "counter" in e
                    ]
                    c[f"{d}_lost"] += sum(counted)
        return c


if __name__ == "__main__":
    from tests.linkmeter import main

    sys.exit(main(sys.argv[1:]))

"""Hosts made of network namespaces: their networks, their processes, the faults done to their
links, and removing all of it again.

Each host is a namespace named `notes-<cluster>-<host>`, linked by a veth pair to one or both
of the cluster's two bridges (the "switches"): front, 10.231.F.0/24, and back, 10.231.B.0/24.
This machine has .1 on both, so it reaches every host and nothing else is reached.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

SUBNET = "10.231"
# host: the host part of its address on the front network, and on the back one (None: not on it).
HOSTS: dict[str, tuple[int | None, int | None]] = {
    "etcd": (None, 5),
    "lb": (10, 10),
    "db1": (None, 11),
    "db2": (None, 12),
    "api1": (21, 21),
    "api2": (22, 22),
}
NETNS_NAME = re.compile(rf"^notes-(\w+)-({'|'.join(HOSTS)})$")
BRIDGE_NAME = re.compile(r"^nac(\w+)[fb]$")
# The switch-side ends of the links are named nac<cluster><short><f|b>: 15 characters at most.
SHORT = {"etcd": "et", "lb": "lb", "db1": "d1", "db2": "d2", "api1": "a1", "api2": "a2"}


def run(*command: str, check: bool = True, **options: object) -> subprocess.CompletedProcess[str]:
    result: subprocess.CompletedProcess[str] = subprocess.run(
        command, capture_output=True, text=True, check=False, timeout=120, **options
    )  # type: ignore[call-overload]
    if check and result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)}: {result.stderr.strip() or result.returncode}")
    return result


def cluster_root(name: str) -> Path:
    """Data directories, configuration and logs of cluster `name`."""
    return Path(tempfile.gettempdir()) / f"notes-api-cluster-{name}"


@dataclass
class Process:
    """A process of the cluster, started in a namespace, its output in a log file."""

    command: list[str]
    log: Path
    popen: subprocess.Popen[bytes] | None = None

    def start(self, env: dict[str, str] | None = None, cwd: Path | str = "/") -> None:
        with self.log.open("ab") as log:
            self.popen = subprocess.Popen(
                self.command,
                cwd=cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # `make cluster` returns; the cluster goes on
            )

    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def terminate(self, timeout: float = 20) -> int | None:
        """SIGTERM, as a process manager would; the exit code (None: it had to be killed)."""
        if self.popen is None:
            return None
        popen, self.popen = self.popen, None
        if popen.poll() is None:
            popen.terminate()
        try:
            return popen.wait(timeout)
        except subprocess.TimeoutExpired:
            popen.kill()
            popen.wait(5)
            return None


@dataclass
class Network:
    """The namespaces and links of cluster `name`, on 10.231.`front`.0/24 and 10.231.`back`.0/24."""

    name: str
    front: int
    back: int

    def netns(self, host: str) -> str:
        return f"notes-{self.name}-{host}"

    def link(self, suffix: str) -> str:
        return f"nac{self.name}{suffix}"

    def address(self, host: str, network: str = "b") -> str:
        """`host`'s address on the back network (b), or the front one (f)."""
        front, back = HOSTS[host]
        part = front if network == "f" else back
        assert part is not None, f"{host} is not on the {network} network"
        return f"{SUBNET}.{self.front if network == 'f' else self.back}.{part}"

    def outside(self, host: str, network: str) -> str:
        """The switch-side end of `host`'s link to `network` (f or b)."""
        return self.link(SHORT[host] + network)

    def make(self) -> None:
        for bridge, third in (("f", self.front), ("b", self.back)):
            run("ip", "link", "add", self.link(bridge), "type", "bridge")
            run("ip", "addr", "add", f"{SUBNET}.{third}.1/24", "dev", self.link(bridge))
            run("ip", "link", "set", self.link(bridge), "up")
        for host, parts in HOSTS.items():
            ns = self.netns(host)
            run("ip", "netns", "add", ns)
            run("ip", "-n", ns, "link", "set", "lo", "up")
            for network, part in zip("fb", parts, strict=True):
                if part is None:
                    continue
                inside = "front0" if network == "f" else "back0"
                run("ip", "link", "add", self.outside(host, network), "type", "veth",
                    "peer", "name", inside, "netns", ns)  # fmt: skip
                run("ip", "link", "set", self.outside(host, network), "master", self.link(network),
                    "up")  # fmt: skip
                run("ip", "-n", ns, "addr", "add", f"{self.address(host, network)}/24", "dev",
                    inside)  # fmt: skip
                run("ip", "-n", ns, "link", "set", inside, "up")

    # -- faults ------------------------------------------------------------------------------

    def cut(self, host: str, network: str = "b") -> None:
        """Pull `host`'s cable at the switch: its packets on that network are lost, silently."""
        run("ip", "link", "set", self.outside(host, network), "down")

    def heal(self, host: str, network: str = "b") -> None:
        run("ip", "link", "set", self.outside(host, network), "up")

    def isolate(self, host: str, *others: str) -> None:
        """Drop every packet between `host` and `others`, both ways, the rest of the network
        untouched: a route that no longer goes through, as when a data centre loses its link to
        the others while its own hosts still reach each other. The sender is told at once
        (EINVAL), as by a router's "unreachable"."""
        for a, b in ((host, other) for other in others):
            run("ip", "-n", self.netns(a), "route", "add", "blackhole", f"{self.address(b)}/32")
            run("ip", "-n", self.netns(b), "route", "add", "blackhole", f"{self.address(a)}/32")

    def reconnect(self, host: str, *others: str) -> None:
        for a, b in ((host, other) for other in others):
            run("ip", "-n", self.netns(a), "route", "del", "blackhole", f"{self.address(b)}/32")
            run("ip", "-n", self.netns(b), "route", "del", "blackhole", f"{self.address(a)}/32")

    def pids(self, host: str) -> list[int]:
        result = run("ip", "netns", "pids", self.netns(host), check=False)
        return [int(pid) for pid in result.stdout.split()]

    def crash(self, host: str) -> int:
        """kill -9 every process of `host`, as a power cut would; how many there were."""
        pids = self.pids(host)
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        release_shared_memory(cluster_root(self.name) / host)
        return len(pids)


def release_shared_memory(directory: Path) -> None:
    """A killed postmaster's small System V segment outlives it: remove it, as a reboot would."""
    for pid_file in directory.glob("**/postmaster.pid"):
        with contextlib.suppress(OSError):
            lines = pid_file.read_text().splitlines()
            if len(lines) > 6 and len(lines[6].split()) == 2:
                run("ipcrm", "-m", lines[6].split()[1], check=False)


def remove(name: str, grace: float = 10) -> None:
    """Every process, namespace and link of cluster `name`: SIGTERM first (Patroni stops its
    PostgreSQL, the instances finish their requests), SIGKILL after `grace` seconds."""
    namespaces = [
        n for n in run("ip", "netns", "list").stdout.split() if n.startswith(f"notes-{name}-")
    ]

    def pids() -> list[int]:
        return [
            int(pid)
            for ns in namespaces
            for pid in run("ip", "netns", "pids", ns, check=False).stdout.split()
        ]

    def send(number: signal.Signals, to: list[int]) -> None:
        for pid in to:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, number)

    send(signal.SIGTERM, pids())
    deadline = time.monotonic() + grace
    while (left := pids()) and time.monotonic() < deadline:
        time.sleep(0.2)
    send(signal.SIGKILL, left)
    release_shared_memory(cluster_root(name))
    for ns in namespaces:
        # Deleting a namespace deletes the ends of its links inside, and so their pairs outside.
        for _ in range(50):
            if run("ip", "netns", "del", ns, check=False).returncode == 0:
                break
            time.sleep(0.1)
    for suffix in ("f", "b"):
        run("ip", "link", "del", f"nac{name}{suffix}", check=False)
    shutil.rmtree(cluster_root(name), ignore_errors=True)


def remove_stale() -> list[str]:
    """Remove the clusters of test runs whose process is gone (killed before cleaning up)."""
    names = {
        match[1]
        for ns in run("ip", "netns", "list").stdout.split()
        if (match := NETNS_NAME.match(ns))
    }
    bridges = run("ip", "-o", "link", "show", "type", "bridge").stdout
    for line in bridges.splitlines():
        if match := BRIDGE_NAME.match(line.split()[1].rstrip(":").split("@")[0]):
            names.add(match[1])
    # A test's cluster is named <its process id>x<number>; `demo` is make cluster's, left alone.
    owners = {name: name.partition("x")[0] for name in names}
    stale = [n for n, pid in owners.items() if pid.isdigit() and not Path(f"/proc/{pid}").exists()]
    for name in stale:
        remove(name, grace=0)
    return stale


def free_networks() -> tuple[int, int]:
    """Two /24 networks of 10.231.0.0/16 that no interface here uses (not 0 and 1: the demo's)."""
    used = run("ip", "-4", "-o", "addr", "show").stdout
    taken = {int(m) for m in re.findall(rf"{re.escape(SUBNET)}\.(\d+)\.", used)}
    start = 2 + 2 * (os.getpid() % 100)
    for offset in range(0, 252, 2):
        front = 2 + (start - 2 + offset) % 252
        if front not in taken and front + 1 not in taken:
            return front, front + 1
    raise RuntimeError(f"no free /24 networks left in {SUBNET}.0.0/16")

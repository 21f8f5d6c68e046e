"""etcd, where the database nodes' Patroni keep the cluster's state: who leads (a key that expires
unless its holder renews it), who is the synchronous standby, the dynamic configuration.

One member, Debian's etcd-server (3.4), on the host `etcd`. A single member cannot lose a quorum
to a fault of its own; production runs three or five, each in its own failure domain
(docs/scaling.md).
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from pathlib import Path

from cluster.hosts import Process

CLIENT_PORT = 2379
PEER_PORT = 2380


def etcd_process(netns: str, address: str, directory: Path) -> Process:
    """The member, in namespace `netns`, serving clients on `address`:2379."""
    client, peer = f"http://{address}:{CLIENT_PORT}", f"http://{address}:{PEER_PORT}"
    command = [
        "ip", "netns", "exec", netns, "etcd",
        "--name", "etcd",
        "--data-dir", str(directory / "data"),
        "--listen-client-urls", client,
        "--advertise-client-urls", client,
        "--listen-peer-urls", peer,
        "--initial-advertise-peer-urls", peer,
        "--initial-cluster", f"etcd={peer}",
        "--initial-cluster-state", "new",
        "--logger", "zap",
        "--log-outputs", "stderr",
    ]  # fmt: skip
    return Process(command, directory / "etcd.log")


def wait_healthy(address: str, process: Process, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            url = f"http://{address}:{CLIENT_PORT}/health"
            with urllib.request.urlopen(url, timeout=2) as answer:
                if json.load(answer).get("health") == "true":
                    return
        except (urllib.error.URLError, OSError, ValueError):
            pass
        if not process.running() or time.monotonic() > deadline:
            raise RuntimeError(f"etcd did not start: see {process.log}")
        time.sleep(0.2)

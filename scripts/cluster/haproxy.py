"""HAProxy on the host `lb`: HTTP to the service's instances, checked on `GET /ready`; and two
PostgreSQL ports, whose servers are checked on Patroni's REST API: 5432 goes to the node that
answers `GET /primary` with 200, 5433 to those that answer `GET /replica`.
"""

from __future__ import annotations

import csv
import io
import socket
import time
from pathlib import Path

from cluster.hosts import Process, run
from cluster.patroni import PG_PORT, REST_PORT

LB_PORT = 8080
STATS_PORT = 8404
WRITE_PORT = 5432
READ_PORT = 5433
HAPROXY_503 = """HTTP/1.1 503 Service Unavailable
content-type: application/json
retry-after: 5
cache-control: no-cache
connection: close

{"detail":"No instance of the service is available; try again shortly"}
"""


def config(
    *, front: str, back: str, apis: dict[str, str], nodes: dict[str, str], directory: Path
) -> str:
    """haproxy.cfg: listening on `front` (HTTP) and `back` (PostgreSQL); `apis` and `nodes` map
    each server's name to its address."""
    errors = directory / "503.http"
    head, body = HAPROXY_503.split("\n\n", 1)
    errors.write_text(head.replace("\n", "\r\n") + "\r\n\r\n" + body)
    instances = "\n".join(f"    server {n} {a}:5000 check" for n, a in apis.items())
    # `check port`: the check asks Patroni's REST API, the traffic goes to PostgreSQL.
    databases = "\n".join(
        f"    server {n} {a}:{PG_PORT} check port {REST_PORT}" for n, a in nodes.items()
    )
    return f"""global
    stats socket {directory / "haproxy.sock"} mode 600 level admin
    log stdout format raw local0 info

defaults
    mode http
    log global
    option httplog
    timeout connect 1s
    timeout client 30s
    # Above what the service may take (DB_POOL_TIMEOUT + DB_CONNECT_TIMEOUT): it answers first.
    timeout server 30s
    timeout check 3s
    # A request whose connection to an instance fails goes to the other one.
    retries 3
    option redispatch 1
    retry-on conn-failure

frontend api
    bind {front}:{LB_PORT}
    default_backend instances

backend instances
    balance roundrobin
    option httpchk GET /ready
    http-check expect status 200
    default-server inter 1s fastinter 500ms downinter 1s rise 2 fall 2
    errorfile 503 {errors}
{instances}

listen stats
    bind {front}:{STATS_PORT}
    stats enable
    stats uri /
    stats refresh 2s

# PostgreSQL: the pool's connections stay open while idle (the service probes them itself); a
# server marked down has its connections closed, so that none writes to a demoted leader.
defaults postgres
    mode tcp
    log global
    option tcplog
    timeout connect 1s
    timeout client 1h
    timeout server 1h
    timeout check 2s
    option httpchk
    http-check expect status 200
    default-server inter 1s fastinter 500ms downinter 1s rise 1 fall 2
    default-server on-marked-down shutdown-sessions

listen postgres-primary from postgres
    bind {back}:{WRITE_PORT}
    http-check send meth GET uri /primary
{databases}

listen postgres-replicas from postgres
    bind {back}:{READ_PORT}
    balance roundrobin
    http-check send meth GET uri /replica
{databases}
"""


def haproxy_process(netns: str, directory: Path, text: str) -> Process:
    path = directory / "haproxy.cfg"
    path.write_text(text)
    checked = run("haproxy", "-c", "-f", str(path), check=False)
    if checked.returncode != 0:
        raise RuntimeError(f"haproxy.cfg: {checked.stdout}{checked.stderr}")
    command = ["ip", "netns", "exec", netns, "haproxy", "-db", "-f", str(path)]
    return Process(command, directory / "haproxy.log")


def servers(directory: Path, proxy: str = "instances") -> dict[str, dict[str, str]]:
    """HAProxy's own view of `proxy`'s servers: each one's `show stat` row (status, stot, ...)."""
    with socket.socket(socket.AF_UNIX) as stats:
        stats.settimeout(5)
        stats.connect(str(directory / "haproxy.sock"))
        stats.sendall(b"show stat\n")
        text = b""
        while chunk := stats.recv(65536):
            text += chunk
    rows = csv.DictReader(io.StringIO(text.decode().lstrip("# ")))
    return {row["svname"]: row for row in rows if row["pxname"] == proxy}


def wait_status(
    directory: Path, server: str, up: bool = True, proxy: str = "instances", timeout: float = 30
) -> float:
    """Wait until HAProxy has `server` of `proxy` UP (or DOWN); the seconds it took."""
    started = time.monotonic()
    while True:
        try:
            status = servers(directory, proxy)[server]["status"]
        except (OSError, KeyError):
            status = ""
        if status.startswith("UP" if up else "DOWN"):
            return time.monotonic() - started
        if time.monotonic() - started > timeout:
            raise RuntimeError(f"HAProxy did not see {server} {'UP' if up else 'DOWN'}: {status}")
        time.sleep(0.1)

"""The database nodes: PostgreSQL (Debian's binaries) run by Patroni, which keeps the leader key
in etcd, promotes the synchronous standby when the leader stops renewing it, demotes a leader that
cannot renew it, and rewinds an old leader into a replica (docs/scaling.md says why each setting).

Patroni comes from its own virtualenv, .venv-cluster/ (`make cluster-venv`, from the pinned
scripts/cluster/requirements.txt): the service does not need it.
"""

from __future__ import annotations

import json
import os
import pwd
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cluster.hosts import Process

ROOT = Path(__file__).resolve().parents[2]
VENV = ROOT / ".venv-cluster"
PATRONI = VENV / "bin" / "patroni"
PATRONICTL = VENV / "bin" / "patronictl"
PG_PORT = 5432
REST_PORT = 8008
# The system user PostgreSQL runs as (it refuses root): Debian's postgresql package makes it.
PG_USER = "postgres"
REPLICATION = ("sync", "strict", "async")


def postgres_bin() -> Path | None:
    """The newest PostgreSQL server binaries of Debian's packages, if any."""
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/postgres"), key=lambda p: int(p.parts[-3])
    )
    return found[-1].parent if found else None


def dcs_settings(replication: str) -> dict[str, Any]:
    """The dynamic configuration, the same for every node: Patroni keeps it in etcd.

    replication: "sync" (a commit waits for the standby; Patroni drops the wait when no standby
    is left, and promotes only a node that was synchronous), "strict" (the wait is never dropped:
    no standby, no writes) or "async" (the contrast: commits do not wait).
    """
    assert replication in REPLICATION, replication
    return {
        # The leader renews its key every loop_wait; a replica takes over once it has expired
        # (ttl: 20 is Patroni's minimum). A leader that cannot renew it for retry_timeout demotes
        # itself, before the key can expire: loop_wait + 2 * retry_timeout <= ttl.
        "ttl": 20,
        "loop_wait": 2,
        "retry_timeout": 9,
        # Asynchronous only: how far behind (bytes of WAL) a replica may be and still be promoted.
        "maximum_lag_on_failover": 1024 * 1024,
        "synchronous_mode": replication != "async",
        "synchronous_mode_strict": replication == "strict",
        "synchronous_node_count": 1,
        "postgresql": {
            # An old leader may hold commits the new one never had: pg_rewind removes them, and
            # it needs every page change logged once after a checkpoint (wal_log_hints).
            "use_pg_rewind": True,
            "use_slots": True,  # the leader keeps the WAL a replica still needs
            "parameters": {
                "wal_level": "replica",
                "wal_log_hints": "on",
                "hot_standby": "on",
                "hot_standby_feedback": "on",
                "max_wal_senders": 5,
                "max_replication_slots": 5,
                "wal_keep_size": "256MB",
                # A leader that shuts down (to demote itself) first hands its last WAL to its
                # standbys; one that does not answer is waited for this long, not a minute.
                "wal_sender_timeout": "10s",
                "synchronous_commit": "on",  # with a synchronous standby: on its disk too
                "shared_buffers": "32MB",
            },
        },
    }


def node_config(
    *,
    scope: str,
    node: str,
    address: str,
    etcd: str,
    network: str,
    directory: Path,
    password: str,
    replication: str,
) -> dict[str, Any]:
    """Node `node`'s patroni.yml: itself, where etcd is, and how its PostgreSQL runs."""
    return {
        "scope": scope,
        "name": node,
        "restapi": {
            "listen": f"{address}:{REST_PORT}",
            "connect_address": f"{address}:{REST_PORT}",
        },
        "etcd3": {"hosts": [etcd]},
        "bootstrap": {
            "dcs": dcs_settings(replication),
            "initdb": [{"encoding": "UTF8"}, "no-locale"],
        },
        "postgresql": {
            "listen": f"{address}:{PG_PORT}",
            "connect_address": f"{address}:{PG_PORT}",
            "data_dir": str(directory / "data"),
            "bin_dir": str(postgres_bin()),
            "pgpass": str(directory / "pgpass"),
            # A new replica is a pg_basebackup of the leader, started by a checkpoint at once
            # (the default spreads it over minutes).
            "basebackup": [{"checkpoint": "fast"}],
            "authentication": {
                # pg_rewind connects as the superuser too (there is no `rewind` user).
                "superuser": {"username": "postgres", "password": f"{password}-admin"},
                "replication": {"username": "replicator", "password": f"{password}-replication"},
            },
            "parameters": {
                # No socket in /var/run/postgresql: this machine's own PostgreSQL has it.
                "unix_socket_directories": "",
                "logging_collector": "on",
                "log_directory": str(directory / "log"),
                "log_filename": "postgresql.log",
                "log_line_prefix": "%m [%p] ",
            },
            "pg_hba": [
                f"host all all {network} scram-sha-256",
                f"host replication replicator {network} scram-sha-256",
            ],
        },
        # A watchdog reboots a node whose Patroni hangs while its PostgreSQL leads; these hosts
        # share one kernel, so there is none to arm here. Production: /dev/watchdog (softdog).
        "watchdog": {"mode": "off"},
    }


def write_config(path: Path, config: dict[str, Any]) -> None:
    # JSON is YAML: Patroni reads it as is. Passwords inside: only PostgreSQL's user may read it.
    path.write_text(json.dumps(config, indent=2) + "\n")
    path.chmod(0o600)
    os.chown(path, *pg_ids())


def pg_ids() -> tuple[int, int]:
    entry = pwd.getpwnam(PG_USER)
    return entry.pw_uid, entry.pw_gid


def patroni_process(netns: str, directory: Path) -> Process:
    """Patroni of the node whose directory is `directory`, as PostgreSQL's user, in `netns`."""
    command = ["ip", "netns", "exec", netns, "setpriv", f"--reuid={PG_USER}", f"--regid={PG_USER}",
               "--init-groups", str(PATRONI), str(directory / "patroni.yml")]  # fmt: skip
    return Process(command, directory / "patroni.log")


def patroni_env() -> dict[str, str]:
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8", "HOME": "/"}


def rest(address: str, path: str, timeout: float = 2) -> tuple[int, Any]:
    """GET `path` of a node's REST API: (status, JSON body); (0, None) when it does not answer."""
    url = f"http://{address}:{REST_PORT}{path}"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as answer:
            return answer.status, json.load(answer)
    except urllib.error.HTTPError as error:
        with error:
            return error.code, json.loads(error.read() or b"null")
    except (urllib.error.URLError, OSError, ValueError):
        return 0, None


def members(addresses: list[str]) -> dict[str, dict[str, Any]]:
    """The cluster as the first node that answers sees it: {name: {role, state, timeline, lag}}."""
    for address in addresses:
        status, body = rest(address, "/cluster")
        if status == 200 and body:
            return {member["name"]: member for member in body.get("members", [])}
    return {}


def wait_for(what: str, check: Callable[[], object], timeout: float, every: float = 0.2) -> float:
    """Call `check()` until it is true; the seconds it took. Fails saying `what` after `timeout`."""
    started = time.monotonic()
    while not check():
        if time.monotonic() - started > timeout:
            raise RuntimeError(f"{what}: not after {timeout:.0f} s")
        time.sleep(every)
    return time.monotonic() - started


def patronictl(config: Path, *args: str) -> str:
    """patronictl with the cluster's client configuration; its output."""
    result = subprocess.run(
        [str(PATRONICTL), "-c", str(config), *args],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    if result.returncode != 0:
        raise RuntimeError(f"patronictl {' '.join(args)}: {result.stdout}{result.stderr}")
    return result.stdout

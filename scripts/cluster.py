"""The service beyond one machine, on one machine: `make cluster`, `make cluster-down`, and the
scenarios in tests/test_cluster.py.

Network namespaces (Linux, as root) stand in for five hosts, on two networks:

    this machine .1 ─┬─ front 10.231.F.0/24 ─┬──────────────┬──────────────┐
                     │                  lb .10 (HAProxy)  api1 .21       api2 .22
                     │                                     │              │
                     └─ back 10.231.B.0/24 ─┬──────────────┴─┬────────────┘
                                       db1 .11 (primary)   db2 .12 (streaming standby)

- db1: PostgreSQL, the primary; db2: a streaming standby made from it with pg_basebackup, named
  in db1's `synchronous_standby_names` (synchronous replication: a commit waits for db2 to have
  it on disk), or not (asynchronous: `sync=False`).
- api1, api2: `python src/main.py`, each with DATABASE_URL listing db1 and db2 and
  `target_session_attrs=read-write`; with `replica_reads`, DATABASE_READ_URL names db2.
- lb: HAProxy, round-robin over api1 and api2, checking `GET /ready` every second; a request whose
  connection to an instance fails is sent to the other.

    python scripts/cluster.py up     # make cluster: start it, print its URLs
    python scripts/cluster.py down   # make cluster-down: stop everything, remove the namespaces

Every namespace, link and process belongs to one cluster name (`demo` for `make cluster`; the
test's process id for a test, so that parallel runs and leftovers of killed runs never collide:
`remove_stale()` removes clusters whose process is gone). Traffic goes only to the addresses of
these namespaces.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import io
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg

ROOT = Path(__file__).resolve().parent.parent
MAIN = ROOT / "src" / "main.py"
SUBNET = "10.231"
PG_PORT = 5432
API_PORT = 5000
LB_PORT = 8080
STATS_PORT = 8404
DEMO = "demo"
# The system user PostgreSQL runs as (it refuses root): Debian's postgresql package makes it.
PG_USER = "postgres"
NETNS_NAME = re.compile(r"^notes-(\w+)-(db1|db2|api1|api2|lb)$")
BRIDGE_NAME = re.compile(r"^nac(\w+)[fb]$")
# What every PostgreSQL of the cluster runs with (db2 gets it with db1's data directory).
POSTGRESQL_CONF = f"""
port = {PG_PORT}
unix_socket_directories = ''
wal_level = replica
max_wal_senders = 4
wal_keep_size = '256MB'
hot_standby = on
hot_standby_feedback = on
synchronous_commit = on
shared_buffers = '32MB'
log_line_prefix = '%m [%p] '
"""
# The settings of each service instance (docs/scaling.md explains them).
API_SETTINGS = {
    "DB_POOL_TIMEOUT": "2",
    "DB_CONNECT_TIMEOUT": "2",
    "ACCESS_LOG": "false",
    "SHUTDOWN_TIMEOUT": "5",
    # HAProxy notices an instance going within 1.5 s (its checks: `inter 1s fastinter 500ms
    # fall 2`): until then, idle connections stay open rather than vanish under a request.
    "SHUTDOWN_DRAIN": "3",
}
HAPROXY_503 = """HTTP/1.1 503 Service Unavailable
content-type: application/json
retry-after: 5
cache-control: no-cache
connection: close

{"detail":"No instance of the service is available; try again shortly"}
"""


class ClusterUnavailableError(RuntimeError):
    """This machine cannot run the cluster (not root, no namespaces, a package missing)."""


def run(*command: str, check: bool = True, **options: object) -> subprocess.CompletedProcess[str]:
    result: subprocess.CompletedProcess[str] = subprocess.run(
        command, capture_output=True, text=True, check=False, timeout=120, **options
    )  # type: ignore[call-overload]
    if check and result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)}: {result.stderr.strip() or result.returncode}")
    return result


def postgres_bin() -> Path | None:
    """The newest PostgreSQL server binaries of Debian's packages, if any."""
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/postgres"), key=lambda p: int(p.parts[-3])
    )
    return found[-1].parent if found else None


def unavailable_reason() -> str | None:
    """Why this machine cannot run a cluster, or None when it can."""
    if sys.platform != "linux":
        return "network namespaces need Linux"
    if os.geteuid() != 0:
        return "network namespaces need root"
    missing = [
        package
        for package, found in (
            ("iproute2", shutil.which("ip")),
            ("haproxy", shutil.which("haproxy") or Path("/usr/sbin/haproxy").exists()),
            ("postgresql", postgres_bin()),
        )
        if not found
    ]
    if missing:
        return f"needs {', '.join(missing)}: apt-get install {' '.join(missing)}"
    try:
        pwd.getpwnam(PG_USER)
    except KeyError:
        return f"needs the system user {PG_USER!r} (Debian's postgresql package makes it)"
    probe = f"notes-probe{os.getpid()}"
    made = run("ip", "netns", "add", probe, check=False)
    if made.returncode != 0:
        return f"cannot make network namespaces here: {made.stderr.strip()}"
    run("ip", "netns", "del", probe, check=False)
    return None


@dataclass
class Process:
    """A process of the cluster, started in a namespace, its output in a log file."""

    command: list[str]
    log: Path
    popen: subprocess.Popen[bytes] | None = None

    def start(self, env: dict[str, str] | None = None) -> None:
        with self.log.open("ab") as log:
            self.popen = subprocess.Popen(
                self.command,
                cwd=ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # `make cluster` returns; the cluster goes on
            )

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
class Cluster:
    """db1, db2, api1, api2 and lb, in namespaces named after `name`, data and logs in `root`."""

    name: str
    front: int  # the third byte of the front network, 10.231.<front>.0/24
    back: int  # and of the back network
    sync: bool = True
    replica_reads: bool = False
    password: str = field(default_factory=lambda: secrets.token_urlsafe(12))
    apis: dict[str, Process] = field(default_factory=dict)
    lb: Process | None = None

    # -- addresses --------------------------------------------------------------------------

    @property
    def root(self) -> Path:
        """Data directories, configuration and logs."""
        return cluster_root(self.name)

    def address(self, node: str) -> str:
        if node == "lb":
            return f"{SUBNET}.{self.front}.10"
        return f"{SUBNET}.{self.back}.{ {'db1': 11, 'db2': 12}[node] }"

    def api_address(self, api: str) -> str:
        return f"{SUBNET}.{self.front}.{ {'api1': 21, 'api2': 22}[api] }"

    @property
    def url(self) -> str:
        """The service, through the load balancer."""
        return f"http://{self.address('lb')}:{LB_PORT}"

    def api_url(self, api: str) -> str:
        return f"http://{self.api_address(api)}:{API_PORT}"

    def database_url(self, *nodes: str, user: str = "notes", database: str = "notes") -> str:
        hosts = ",".join(f"{self.address(n)}:{PG_PORT}" for n in nodes)
        password = self.password if user == "notes" else self.password + "-admin"
        return f"postgresql://{user}:{password}@{hosts}/{database}"

    def admin_url(self, node: str) -> str:
        return self.database_url(node, user="postgres", database="notes")

    def netns(self, node: str) -> str:
        return f"notes-{self.name}-{node}"

    def link(self, suffix: str) -> str:
        return f"nac{self.name}{suffix}"  # at most 15 characters, as Linux allows

    def data(self, node: str) -> Path:
        return self.root / node / "data"

    # -- up and down ------------------------------------------------------------------------

    def up(self) -> None:
        """Make the networks, start db1, db2, api1, api2 and lb, and wait until lb serves."""
        remove(self.name)  # leftovers of an earlier run of the same name
        self.root.mkdir(parents=True, exist_ok=True)
        self.root.chmod(0o755)  # PostgreSQL's user must reach its data directory
        try:
            self._network()
            self._primary()
            self._standby()
            for api in ("api1", "api2"):
                self.start_api(api)
            self._balancer()
            for api in ("api1", "api2"):
                self.wait_in_rotation(api)
        except BaseException:
            self.down()
            raise

    def down(self) -> None:
        for process in (*self.apis.values(), self.lb):
            if process is not None:
                process.terminate(timeout=10)
        for node in ("db1", "db2"):
            if (self.data(node) / "postmaster.pid").exists() and self.pids(node):
                self.pg_stop(node, "immediate")
        remove(self.name)

    def _network(self) -> None:
        for bridge, third in (("f", self.front), ("b", self.back)):
            run("ip", "link", "add", self.link(bridge), "type", "bridge")
            run("ip", "addr", "add", f"{SUBNET}.{third}.1/24", "dev", self.link(bridge))
            run("ip", "link", "set", self.link(bridge), "up")
        plan = {  # node: [(bridge, interface in the node, host part of its address)]
            "db1": [("b", "back0", 11)],
            "db2": [("b", "back0", 12)],
            "api1": [("f", "front0", 21), ("b", "back0", 21)],
            "api2": [("f", "front0", 22), ("b", "back0", 22)],
            "lb": [("f", "front0", 10)],
        }
        for node, interfaces in plan.items():
            ns = self.netns(node)
            run("ip", "netns", "add", ns)
            run("ip", "-n", ns, "link", "set", "lo", "up")
            for bridge, interface, host in interfaces:
                outside = self.outside(node, bridge)
                third = self.front if bridge == "f" else self.back
                run("ip", "link", "add", outside, "type", "veth", "peer", "name", interface,
                    "netns", ns)  # fmt: skip
                run("ip", "link", "set", outside, "master", self.link(bridge), "up")
                run("ip", "-n", ns, "addr", "add", f"{SUBNET}.{third}.{host}/24", "dev", interface)
                run("ip", "-n", ns, "link", "set", interface, "up")

    def outside(self, node: str, bridge: str) -> str:
        """The switch-side end of `node`'s link to the `bridge` network (f or b)."""
        short = {"db1": "d1", "db2": "d2", "lb": "lb", "api1": "a1", "api2": "a2"}[node]
        return self.link(short + (bridge if node.startswith("api") else ""))

    # -- PostgreSQL -------------------------------------------------------------------------

    def pg(self, node: str, tool: str, *args: str, env: dict[str, str] | None = None) -> None:
        """A PostgreSQL program, as PostgreSQL's user, in `node`'s namespace."""
        bin_dir = postgres_bin()
        assert bin_dir is not None
        command = ["ip", "netns", "exec", self.netns(node), "setpriv", f"--reuid={PG_USER}",
                   f"--regid={PG_USER}", "--init-groups", str(bin_dir / tool), *args]  # fmt: skip
        result = run(*command, check=False, cwd="/", env={**os.environ, **(env or {})})
        if result.returncode != 0:
            raise RuntimeError(f"{node}: {tool} failed: {(result.stderr or result.stdout).strip()}")

    def pg_start(self, node: str) -> None:
        options = f"-c listen_addresses={self.address(node)}"
        self.pg(node, "pg_ctl", "start", "--wait", "--timeout=60", "-D", str(self.data(node)),
                "-l", str(self.root / node / "postgresql.log"), "-o", options)  # fmt: skip

    def pg_stop(self, node: str, mode: str = "fast") -> None:
        try:
            self.pg(node, "pg_ctl", "stop", "--wait", "-m", mode, "-D", str(self.data(node)))
        except RuntimeError:
            if mode != "immediate":
                raise

    def _primary(self) -> None:
        directory = self.root / "db1"
        directory.mkdir()
        password_file = directory / "password"
        password_file.write_text(self.password + "-admin\n")
        for path in (directory, password_file):
            shutil.chown(path, user=PG_USER, group=PG_USER)
        self.pg("db1", "initdb", "-D", str(self.data("db1")), "-U", "postgres",
                f"--pwfile={password_file}", "--auth=scram-sha-256", "--encoding=UTF8",
                "--no-locale")  # fmt: skip
        password_file.unlink()
        with (self.data("db1") / "postgresql.conf").open("a") as conf:
            conf.write(POSTGRESQL_CONF)
        back = f"{SUBNET}.{self.back}.0/24"
        (self.data("db1") / "pg_hba.conf").write_text(
            f"host all all {back} scram-sha-256\nhost replication replicator {back} scram-sha-256\n"
        )
        self.pg_start("db1")
        self.sql(
            "db1",
            f"CREATE ROLE notes LOGIN PASSWORD '{self.password}'",
            f"CREATE ROLE replicator LOGIN REPLICATION PASSWORD '{self.password}-replication'",
            "CREATE DATABASE notes OWNER notes",
            database="postgres",
        )

    def _standby(self) -> None:
        directory = self.root / "db2"
        directory.mkdir()
        shutil.chown(directory, user=PG_USER, group=PG_USER)
        self.pg("db2", "pg_basebackup", "-h", self.address("db1"), "-p", str(PG_PORT),
                "-U", "replicator", "-D", str(self.data("db2")), "--wal-method=stream",
                "--checkpoint=fast",
                env={"PGPASSWORD": f"{self.password}-replication"})  # fmt: skip
        (self.data("db2") / "standby.signal").touch()
        shutil.chown(self.data("db2") / "standby.signal", user=PG_USER, group=PG_USER)
        conninfo = (
            f"host={self.address('db1')} port={PG_PORT} user=replicator "
            f"password={self.password}-replication application_name=db2"
        )
        with (self.data("db2") / "postgresql.auto.conf").open("a") as conf:
            conf.write(f"primary_conninfo = '{conninfo}'\n")
        self.pg_start("db2")
        self.wait_for_standby()
        if self.sync:
            self.set_synchronous(True)

    def set_synchronous(self, on: bool) -> None:
        """db1 waits for db2 at each commit (on), or not; as an operator (or Patroni) sets it."""
        names = "db2" if on else ""
        self.sql("db1", f"ALTER SYSTEM SET synchronous_standby_names = '{names}'",
                 "SELECT pg_reload_conf()")  # fmt: skip
        wanted = "sync" if on else "async"
        self.wait_for_standby(wanted)

    def wait_for_standby(self, state: str = "async", timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        query = "SELECT sync_state FROM pg_stat_replication WHERE application_name = 'db2'"
        while self.fetch("db1", query) != [(state,)]:
            if time.monotonic() > deadline:
                raise RuntimeError(f"db2 is not streaming from db1 ({state}) after {timeout}s")
            time.sleep(0.2)

    def sql(self, node: str, *statements: str, database: str = "notes") -> None:
        """Statements as the superuser on `node`, from this machine."""
        url = self.admin_url(node).rsplit("/", 1)[0] + f"/{database}"

        async def execute() -> None:
            connection = await asyncpg.connect(url, timeout=10)
            try:
                for statement in statements:
                    await connection.execute(statement)
            finally:
                await connection.close()

        asyncio.run(execute())

    def fetch(self, node: str, query: str, *args: object) -> list[tuple[Any, ...]]:
        """Rows of a query as the superuser on `node`, from this machine."""

        async def fetch() -> list[tuple[Any, ...]]:
            connection = await asyncpg.connect(self.admin_url(node), timeout=10)
            try:
                return [tuple(row) for row in await connection.fetch(query, *args)]
            finally:
                await connection.close()

        return asyncio.run(fetch())

    def kill_postgres(self, node: str) -> int:
        """kill -9 every PostgreSQL process of `node`, as a crash would; how many there were."""
        pids = self.pids(node)
        for pid in pids:
            os.kill(pid, signal.SIGKILL)
        # The postmaster's small System V segment outlives it: remove it, as a reboot would.
        lines = (self.data(node) / "postmaster.pid").read_text().splitlines()
        if len(lines) > 6 and len(lines[6].split()) == 2:
            run("ipcrm", "-m", lines[6].split()[1], check=False)
        return len(pids)

    def promote(self, node: str = "db2") -> None:
        self.pg(node, "pg_ctl", "promote", "--wait", "-D", str(self.data(node)))

    # -- the service and the load balancer ----------------------------------------------------

    def api_env(self, api: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("TEST_", "DB_", "PYTEST"))}
        env.pop("DATABASE_URL", None)
        env.pop("DATABASE_READ_URL", None)
        env |= API_SETTINGS | {
            "HOST": self.api_address(api),
            "PORT": str(API_PORT),
            "DATABASE_URL": self.database_url("db1", "db2") + "?target_session_attrs=read-write",
            # HAProxy's address: uvicorn takes the client's from its X-Forwarded-For.
            "FORWARDED_ALLOW_IPS": self.address("lb"),
        }
        if self.replica_reads:
            env["DATABASE_READ_URL"] = self.database_url("db2")
        return env

    def start_api(self, api: str, timeout: float = 60) -> None:
        command = ["ip", "netns", "exec", self.netns(api), sys.executable, str(MAIN)]
        process = Process(command, self.root / f"{api}.log")
        process.start(self.api_env(api))
        self.apis[api] = process
        deadline = time.monotonic() + timeout
        while not answers(f"{self.api_url(api)}/ready"):
            assert process.popen is not None
            if process.popen.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{api} did not start:\n{tail(process.log)}")
            time.sleep(0.2)

    def stop_api(self, api: str) -> int | None:
        """SIGTERM to the instance; its exit code."""
        return self.apis.pop(api).terminate()

    def _balancer(self) -> None:
        errors = self.root / "503.http"
        head, body = HAPROXY_503.split("\n\n", 1)
        errors.write_text(head.replace("\n", "\r\n") + "\r\n\r\n" + body)
        config = self.root / "haproxy.cfg"
        config.write_text(self.haproxy_config(errors))
        checked = run("haproxy", "-c", "-f", str(config), check=False)
        if checked.returncode != 0:
            raise RuntimeError(f"haproxy.cfg: {checked.stdout}{checked.stderr}")
        command = ["ip", "netns", "exec", self.netns("lb"), "haproxy", "-db", "-f", str(config)]
        self.lb = Process(command, self.root / "haproxy.log")
        self.lb.start()

    def haproxy_config(self, errors: Path) -> str:
        servers = "\n".join(
            f"    server {api} {self.api_address(api)}:{API_PORT} check" for api in ("api1", "api2")
        )
        return f"""global
    stats socket {self.root / "haproxy.sock"} mode 600 level admin
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
    bind {self.address("lb")}:{LB_PORT}
    default_backend instances

backend instances
    balance roundrobin
    option httpchk GET /ready
    http-check expect status 200
    default-server inter 1s fastinter 500ms downinter 1s rise 2 fall 2
    errorfile 503 {errors}
{servers}

listen stats
    bind {self.address("lb")}:{STATS_PORT}
    stats enable
    stats uri /
    stats refresh 2s
"""

    def servers(self) -> dict[str, dict[str, str]]:
        """HAProxy's own view of each instance: its `show stat` row (status, stot, ...)."""
        with socket.socket(socket.AF_UNIX) as stats:
            stats.settimeout(5)
            stats.connect(str(self.root / "haproxy.sock"))
            stats.sendall(b"show stat\n")
            text = b""
            while chunk := stats.recv(65536):
                text += chunk
        rows = csv.DictReader(io.StringIO(text.decode().lstrip("# ")))
        return {row["svname"]: row for row in rows if row["pxname"] == "instances"}

    def wait_in_rotation(self, api: str, up: bool = True, timeout: float = 30) -> float:
        """Wait until HAProxy has `api` UP (or DOWN); the seconds it took."""
        started = time.monotonic()
        while True:
            try:
                status = self.servers()[api]["status"]
            except (OSError, KeyError):
                status = ""
            if status.startswith("UP" if up else "DOWN"):
                return time.monotonic() - started
            if time.monotonic() - started > timeout:
                raise RuntimeError(f"HAProxy did not see {api} {'UP' if up else 'DOWN'}: {status}")
            time.sleep(0.1)

    # -- faults -----------------------------------------------------------------------------

    def cut(self, node: str, network: str = "b") -> None:
        """Pull `node`'s cable at the switch: its packets on that network are lost, silently."""
        run("ip", "link", "set", self.outside(node, network), "down")

    def heal(self, node: str, network: str = "b") -> None:
        run("ip", "link", "set", self.outside(node, network), "up")

    def pids(self, node: str) -> list[int]:
        result = run("ip", "netns", "pids", self.netns(node), check=False)
        return [int(pid) for pid in result.stdout.split()]


def answers(url: str, timeout: float = 2) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def tail(log: Path, lines: int = 30) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log)"


def remove(name: str) -> None:
    """Every process, namespace and link of cluster `name`."""
    namespaces = [
        n for n in run("ip", "netns", "list").stdout.split() if n.startswith(f"notes-{name}-")
    ]
    for ns in namespaces:
        for pid in run("ip", "netns", "pids", ns, check=False).stdout.split():
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid), signal.SIGKILL)
    for ns in namespaces:
        # Deleting a namespace deletes the ends of its links inside, and so their pairs outside.
        for _ in range(50):
            if run("ip", "netns", "del", ns, check=False).returncode == 0:
                break
            time.sleep(0.1)
    for suffix in ("f", "b"):
        run("ip", "link", "del", f"nac{name}{suffix}", check=False)
    shutil.rmtree(Path(tempfile.gettempdir()) / f"notes-api-cluster-{name}", ignore_errors=True)


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
        remove(name)
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
    raise ClusterUnavailableError(f"no free /24 networks left in {SUBNET}.0.0/16")


def cluster_root(name: str) -> Path:
    return Path(tempfile.gettempdir()) / f"notes-api-cluster-{name}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["up", "down"])
    parser.add_argument("--async", dest="asynchronous", action="store_true",
                        help="asynchronous replication (default: synchronous)")  # fmt: skip
    parser.add_argument("--replica-reads", action="store_true",
                        help="the instances read from db2 (DATABASE_READ_URL)")  # fmt: skip
    args = parser.parse_args()
    if (reason := unavailable_reason()) is not None:
        print(f"error: the cluster {reason}", file=sys.stderr)
        return 1
    if args.command == "down":
        remove(DEMO)
        print("cluster removed")
        return 0
    cluster = Cluster(DEMO, 0, 1, sync=not args.asynchronous, replica_reads=args.replica_reads)
    print("starting db1, db2, api1, api2 and lb (about 20 s) ...")
    cluster.up()
    env = cluster.root / "cluster.env"
    env.write_text(
        f"DATABASE_URL={cluster.database_url('db1', 'db2')}?target_session_attrs=read-write\n"
        f"DB1_ADMIN_URL={cluster.admin_url('db1')}\nDB2_ADMIN_URL={cluster.admin_url('db2')}\n"
    )
    env.chmod(0o600)
    replication = "synchronous" if cluster.sync else "asynchronous"
    print(f"""cluster up ({replication} replication); `make cluster-down` removes it.
  the service, through HAProxy:  {cluster.url}   (docs: {cluster.url}/docs)
  HAProxy's statistics:          http://{cluster.address("lb")}:{STATS_PORT}/
  api1, api2:                    {cluster.api_url("api1")}  {cluster.api_url("api2")}
  db1 (primary), db2 (standby):  {cluster.address("db1")}:{PG_PORT}  {cluster.address("db2")}:{PG_PORT}
  the services' DATABASE_URL and superuser URLs (with passwords): {env}
  logs: {cluster.root}/*.log, {cluster.root}/db*/postgresql.log
  a shell on a host: ip netns exec {cluster.netns("db1")} bash""")  # noqa: E501
    return 0


if __name__ == "__main__":
    sys.exit(main())

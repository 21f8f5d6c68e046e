"""The cluster as a whole: which host runs what, in which order it starts, and what the scenarios
do to it (tests/test_cluster.py) or ask of it.

    up:   networks -> etcd -> db1 (Patroni bootstraps it: the leader) -> the service's role and
          database -> db2 (Patroni clones it from db1: the synchronous standby) -> lb -> api1, api2
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg

from cluster import etcd, haproxy, patroni
from cluster.hosts import SUBNET, Network, Process, cluster_root, remove
from cluster.instances import API_PORT, instance_env, start_instance
from cluster.patroni import PG_PORT, PG_USER, members, wait_for

NODES = ("db1", "db2")
APIS = ("api1", "api2")


@dataclass
class Cluster:
    """etcd, db1, db2, lb, api1 and api2, in namespaces named after `name`, files in `root`.

    replication: "sync", "strict" or "async" (patroni.dcs_settings); replica_reads: the instances
    read from the replicas; through_haproxy: the instances reach PostgreSQL through HAProxy's
    ports (checked on Patroni's REST API) instead of listing both nodes in DATABASE_URL.
    """

    name: str
    front: int  # the third byte of the front network, 10.231.<front>.0/24
    back: int  # and of the back network
    replication: str = "sync"
    replica_reads: bool = False
    through_haproxy: bool = False
    password: str = field(default_factory=lambda: secrets.token_urlsafe(12))
    processes: dict[str, Process] = field(default_factory=dict)

    # -- names and addresses -----------------------------------------------------------------

    @property
    def network(self) -> Network:
        return Network(self.name, self.front, self.back)

    @property
    def root(self) -> Path:
        return cluster_root(self.name)

    def address(self, host: str) -> str:
        """`host`'s address on the back network: the databases, etcd and HAProxy's PostgreSQL."""
        return self.network.address(host)

    @property
    def url(self) -> str:
        """The service, through the load balancer."""
        return f"http://{self.network.address('lb', 'f')}:{haproxy.LB_PORT}"

    def api_url(self, api: str) -> str:
        return f"http://{self.network.address(api, 'f')}:{API_PORT}"

    def database_url(self, *hosts: str, port: int = PG_PORT, user: str = "notes") -> str:
        where = ",".join(f"{self.address(h)}:{port}" for h in hosts)
        password = self.password if user == "notes" else self.password + "-admin"
        return f"postgresql://{user}:{password}@{where}/notes"

    def admin_url(self, node: str) -> str:
        return self.database_url(node, user="postgres")

    @property
    def write_url(self) -> str:
        """The services' DATABASE_URL: the node that is the primary, by either way."""
        if self.through_haproxy:
            hosts: tuple[str, ...] = ("lb",)
            url = self.database_url("lb", port=haproxy.WRITE_PORT)
        else:
            hosts = NODES
            url = self.database_url(*hosts)
        return url + "?target_session_attrs=read-write"

    @property
    def read_url(self) -> str | None:
        if not self.replica_reads:
            return None
        if self.through_haproxy:
            return self.database_url("lb", port=haproxy.READ_PORT)
        return self.database_url("db2")

    def directory(self, host: str) -> Path:
        return self.root / host

    @property
    def patronictl_config(self) -> Path:
        return self.root / "patronictl.yml"

    # -- up and down -------------------------------------------------------------------------

    def up(self) -> None:
        remove(self.name, grace=0)  # leftovers of an earlier run of the same name
        self.root.mkdir(parents=True)
        self.root.chmod(0o755)  # PostgreSQL's user must reach its directory
        try:
            self.network.make()
            self._etcd()
            self.start_node("db1")
            wait_for("db1 leads", lambda: self.leader() == "db1", timeout=60)
            self.sql("db1", f"CREATE ROLE notes LOGIN PASSWORD '{self.password}'",
                     "CREATE DATABASE notes OWNER notes", database="postgres")  # fmt: skip
            self.start_node("db2")
            self.wait_replica("db2")
            self._balancer()
            if self.through_haproxy:
                haproxy.wait_status(self.directory("lb"), "db1", proxy="postgres-primary")
            for api in APIS:
                self.start_api(api)
            for api in APIS:
                self.wait_in_rotation(api)
        except BaseException:
            self.down()
            raise

    def down(self) -> None:
        """Stop every process (SIGTERM: Patroni stops its PostgreSQL), remove the namespaces."""
        remove(self.name)
        for process in self.processes.values():
            process.terminate(timeout=5)  # gone already: this reaps it
        self.processes.clear()

    def _etcd(self) -> None:
        directory = self.directory("etcd")
        directory.mkdir()
        process = etcd.etcd_process(self.network.netns("etcd"), self.address("etcd"), directory)
        process.start()
        self.processes["etcd"] = process
        etcd.wait_healthy(self.address("etcd"), process)
        # patronictl's own configuration: which cluster, and where its store is.
        where = f"{self.address('etcd')}:{etcd.CLIENT_PORT}"
        self.patronictl_config.write_text(f"scope: notes-{self.name}\netcd3:\n  hosts: {where}\n")

    # -- the database nodes ------------------------------------------------------------------

    def start_node(self, node: str) -> None:
        """Start Patroni on `node`: the first time it bootstraps or clones PostgreSQL; after a
        crash or a partition it finds it, and rewinds it if the new leader's history differs."""
        directory = self.directory(node)
        if not directory.exists():
            directory.mkdir(mode=0o700)
            shutil.chown(directory, user=PG_USER, group=PG_USER)
            config = patroni.node_config(
                scope=f"notes-{self.name}",
                node=node,
                address=self.address(node),
                etcd=f"{self.address('etcd')}:{etcd.CLIENT_PORT}",
                network=f"{SUBNET}.{self.back}.0/24",
                directory=directory,
                password=self.password,
                replication=self.replication,
            )
            patroni.write_config(directory / "patroni.yml", config)
        process = patroni.patroni_process(self.network.netns(node), directory)
        process.start(patroni.patroni_env())
        self.processes[node] = process

    def stop_node(self, node: str) -> int | None:
        """SIGTERM to `node`'s Patroni, as systemd would: it stops PostgreSQL, then exits."""
        return self.processes.pop(node).terminate(timeout=60)

    def crash(self, node: str) -> int:
        """kill -9 of Patroni and PostgreSQL on `node`; how many processes there were."""
        killed = self.network.crash(node)
        if (process := self.processes.pop(node, None)) is not None:
            process.terminate(timeout=5)  # killed already: this reaps it
        return killed

    def members(self) -> dict[str, dict[str, Any]]:
        """Patroni's view of the cluster (its REST API's /cluster), from any node answering."""
        return members([self.address(n) for n in NODES])

    def leader(self) -> str | None:
        """The node that holds the leader key and runs as primary (answers /primary with 200)."""
        for node in NODES:
            if patroni.rest(self.address(node), "/primary", timeout=1)[0] == 200:
                return node
        return None

    def in_recovery(self, node: str) -> bool | None:
        """Whether `node`'s PostgreSQL runs read-only (True), as a primary (False), or not at all
        (None: not running, starting, shutting down, or out of reach)."""
        try:
            return bool(self.fetch(node, "SELECT pg_is_in_recovery()", timeout=2)[0][0])
        except (OSError, asyncpg.PostgresError, TimeoutError):
            return None

    def wait_replica(self, node: str, timeout: float = 90) -> float:
        """Wait until `node` streams from the leader (and is its synchronous standby, unless
        asynchronous); the seconds it took."""
        role = "replica" if self.replication == "async" else "sync_standby"

        def streaming() -> bool:
            member = self.members().get(node, {})
            return bool(member.get("state") == "streaming" and member.get("role") == role)

        return wait_for(f"{node} streams as {role}", streaming, timeout)

    def switchover(self, candidate: str) -> str:
        """A planned switchover to `candidate`, by patronictl: Patroni does it, not us."""
        return patroni.patronictl(
            self.patronictl_config, "switchover", "--candidate", candidate, "--force"
        )

    def patronictl_list(self) -> str:
        return patroni.patronictl(self.patronictl_config, "list")

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

    def fetch(
        self, node: str, query: str, *args: object, timeout: float = 10
    ) -> list[tuple[Any, ...]]:
        """Rows of a query as the superuser on `node`, from this machine."""

        async def fetch() -> list[tuple[Any, ...]]:
            connection = await asyncpg.connect(self.admin_url(node), timeout=timeout)
            try:
                return [tuple(row) for row in await connection.fetch(query, *args)]
            finally:
                await connection.close()

        return asyncio.run(fetch())

    # -- the service and the load balancer ---------------------------------------------------

    def start_api(self, api: str) -> None:
        env = instance_env(
            address=self.network.address(api, "f"),
            database_url=self.write_url,
            read_url=self.read_url,
            balancer=self.network.address("lb", "f"),
        )
        self.processes[api] = start_instance(self.network.netns(api), env, self.root / f"{api}.log")

    def stop_api(self, api: str) -> int | None:
        """SIGTERM to the instance; its exit code."""
        return self.processes.pop(api).terminate()

    def _balancer(self) -> None:
        directory = self.directory("lb")
        directory.mkdir()
        text = haproxy.config(
            front=self.network.address("lb", "f"),
            back=self.address("lb"),
            apis={api: self.network.address(api, "f") for api in APIS},
            nodes={node: self.address(node) for node in NODES},
            directory=directory,
        )
        process = haproxy.haproxy_process(self.network.netns("lb"), directory, text)
        process.start()
        self.processes["lb"] = process

    def servers(self, proxy: str = "instances") -> dict[str, dict[str, str]]:
        return haproxy.servers(self.directory("lb"), proxy)

    def wait_in_rotation(self, api: str, up: bool = True, timeout: float = 30) -> float:
        return haproxy.wait_status(self.directory("lb"), api, up, timeout=timeout)

    # -- faults (the network's, by host name) ------------------------------------------------

    def cut(self, host: str, network: str = "b") -> None:
        self.network.cut(host, network)

    def heal(self, host: str, network: str = "b") -> None:
        self.network.heal(host, network)


def environment_file(cluster: Cluster) -> Path:
    """What `make cluster` leaves for its user: the URLs, with passwords (mode 600)."""
    path = cluster.root / "cluster.env"
    path.write_text(
        f"DATABASE_URL={cluster.write_url}\n"
        + "".join(f"{n.upper()}_ADMIN_URL={cluster.admin_url(n)}\n" for n in NODES)
    )
    os.chmod(path, 0o600)
    return path

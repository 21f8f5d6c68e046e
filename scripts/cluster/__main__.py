"""`make cluster` and `make cluster-down`: python -m cluster up|down, with scripts/ on sys.path."""

from __future__ import annotations

import argparse
import sys

import cluster
from cluster.haproxy import READ_PORT, STATS_PORT, WRITE_PORT
from cluster.hosts import remove
from cluster.machine import unavailable_reason
from cluster.patroni import PATRONICTL, PG_PORT, REST_PORT
from cluster.topology import Cluster, environment_file

DEMO = "demo"


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m cluster", description=cluster.__doc__)
    parser.add_argument("command", choices=["up", "down"])
    parser.add_argument("--replication", choices=["sync", "strict", "async"], default="sync",
                        help="Patroni's synchronous_mode (sync), with synchronous_mode_strict "
                        "(strict), or off (async); default: sync")  # fmt: skip
    parser.add_argument("--replica-reads", action="store_true",
                        help="the instances read from the replica (DATABASE_READ_URL)")  # fmt: skip
    parser.add_argument("--through-haproxy", action="store_true",
                        help="the instances reach PostgreSQL through HAProxy's ports")  # fmt: skip
    args = parser.parse_args()
    if (reason := unavailable_reason()) is not None:
        print(f"error: the cluster {reason}", file=sys.stderr)
        return 1
    if args.command == "down":
        remove(DEMO)
        print("cluster removed")
        return 0
    demo = Cluster(DEMO, 0, 1, replication=args.replication, replica_reads=args.replica_reads,
                   through_haproxy=args.through_haproxy)  # fmt: skip
    print("starting etcd, db1 and db2 (Patroni), lb, api1 and api2 (about 20 s) ...")
    demo.up()
    env = environment_file(demo)
    lb, db1, db2 = demo.address("lb"), demo.address("db1"), demo.address("db2")
    print(f"""cluster up ({args.replication} replication); `make cluster-down` removes it.
  the service, through HAProxy:  {demo.url}   (docs: {demo.url}/docs)
  HAProxy's statistics:          http://{demo.network.address("lb", "f")}:{STATS_PORT}/
  PostgreSQL through HAProxy:    {lb}:{WRITE_PORT} (the primary)  {lb}:{READ_PORT} (the replicas)
  api1, api2:                    {demo.api_url("api1")}  {demo.api_url("api2")}
  db1, db2 (PostgreSQL):         {db1}:{PG_PORT}  {db2}:{PG_PORT}
  Patroni's REST API:            http://{db1}:{REST_PORT}/cluster  http://{db2}:{REST_PORT}/cluster
  who leads:                     {PATRONICTL} -c {demo.patronictl_config} list
  the services' DATABASE_URL and superuser URLs (with passwords): {env}
  logs: {demo.root}/*.log, {demo.root}/<host>/*.log, {demo.root}/db*/log/postgresql.log
  a shell on a host: ip netns exec {demo.network.netns("db1")} bash""")
    print(demo.patronictl_list(), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())

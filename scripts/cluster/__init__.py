"""The service beyond one machine, on one machine: `make cluster`, `make cluster-down`, and the
scenarios of tests/test_cluster.py.

Network namespaces (Linux, as root) stand in for six hosts, on two networks:

    this machine .1 ─┬─ front 10.231.F.0/24 ─┬──────────────┬──────────────┐
                     │                  lb .10 (HAProxy)  api1 .21       api2 .22
                     │                       │              │              │
                     └─ back 10.231.B.0/24 ──┴──┬───────────┴───┬──────────┴───┬──────────┐
                                          db1 .11 (Patroni)  db2 .12 (Patroni)  etcd .5

- etcd: the store where Patroni keeps who leads (etcd.py).
- db1, db2: PostgreSQL under Patroni: one leads, the other streams from it as its synchronous
  standby; Patroni promotes, demotes and rewinds, nobody else (patroni.py).
- api1, api2: `python src/main.py`, reaching PostgreSQL by DATABASE_URL listing db1 and db2 with
  `target_session_attrs=read-write`, or through HAProxy's PostgreSQL ports (instances.py).
- lb: HAProxy, round-robin over api1 and api2 checked on `GET /ready`; and PostgreSQL ports for
  the primary and the replicas, checked on Patroni's REST API (haproxy.py).

hosts.py makes the namespaces and their links and does the faults to them; topology.py starts the
whole in order; machine.py says what this machine lacks for it.

    python -m cluster up     # make cluster: start it, print its URLs (scripts/ on sys.path)
    python -m cluster down   # make cluster-down: stop everything, remove the namespaces

Every namespace, link and process belongs to one cluster name (`demo` for `make cluster`; a
test's `<pid>x<n>`, so that parallel runs and leftovers of killed runs never collide:
hosts.remove_stale() removes clusters whose process is gone). Traffic goes only to the addresses
of these namespaces.
"""

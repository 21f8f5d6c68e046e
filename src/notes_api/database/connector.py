"""How a database connection opens: each host of DATABASE_URL in turn, within DB_CONNECT_TIMEOUT.

asyncpg takes several hosts and `target_session_attrs`, but its one `timeout` covers them all: a
host that does not answer (powered off, or cut off by the network: no refusal ever comes) spends
the whole timeout, and the hosts after it are never tried. After a failover that leaves the old
primary silent, no connection would ever reach the new one. libpq gives each host a timeout of its
own; here each host gets its share of DB_CONNECT_TIMEOUT (what is left, divided among the hosts
left), so the whole attempt stays within it and a silent host leaves time for the next.

The host that answered last is tried first: after a failover, new connections go straight to the
new primary instead of waiting on the old one each time. The pool opens its connections through
`Connector` (asyncpg's `connect` argument); the start-up check and the migrations use it too.

A connection also learns to notice a server that vanished without a word, within about
DB_CONNECT_TIMEOUT: its socket gives up when what it sent stays unacknowledged for half of it
(TCP_USER_TIMEOUT), and, while it waits for an answer or sits idle, probes the server every second
after half of it (keepalives; the server's kernel answers them however busy the server is).
Otherwise a request waiting on a host that lost its network waits for TCP: minutes to hours.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from typing import Any

import asyncpg

from notes_api.database import internals
from notes_api.database.errors import UNAVAILABLE
from notes_api.database.url import ConnectionTarget

logger = logging.getLogger(__name__)

# Seconds between keepalive probes of a connection that has heard nothing for a while.
KEEPALIVE_INTERVAL = 1


class Connector:
    """Opens connections to `target`: the host that answered last first, then the others in the
    URL's order, each within its share of `timeout` seconds."""

    def __init__(self, target: ConnectionTarget, *, timeout: float) -> None:
        self.target = target
        self.timeout = timeout
        self._first = 0  # the index of the host that answered last

    async def __call__(self, dsn: None = None, **options: Any) -> asyncpg.Connection:
        """A new connection; `options` as `asyncpg.connect` takes them, over the target's own
        (the pool passes its statement cache size, server settings, connection class... and a
        `dsn` of None: the target is the URL)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout
        common = self.target.connect_options() | options
        attrs = common.pop("target_session_attrs", None)
        count = max(1, len(self.target.hosts))
        order = [(self._first + n) % count for n in range(count)]
        # libpq's prefer-standby: a standby if any answers, else any server.
        passes = ["standby", "any"] if attrs == "prefer-standby" else [attrs]
        error: Exception | None = None
        for attempt in passes:
            for tried, index in enumerate(order):
                share = (deadline - loop.time()) / (len(order) - tried)
                if share <= 0:
                    break
                here = dict(common)
                if self.target.hosts:
                    here["host"], here["port"] = self.target.hosts[index], self.target.ports[index]
                if attempt is not None:
                    here["target_session_attrs"] = attempt
                try:
                    connection: asyncpg.Connection = await asyncpg.connect(**here, timeout=share)
                except UNAVAILABLE as failure:
                    # Refused, silent within its share, starting or stopping, or not what
                    # target_session_attrs asks for: on to the next host.
                    error = failure
                    if count > 1:
                        logger.debug("%s: %r", self.target.host_name(index), failure)
                    continue
                if index != self._first:
                    logger.info("Connected to %s", self.target.host_name(index))
                    self._first = index
                watch_for_silence(connection, self.timeout)
                return connection
        raise error or TimeoutError(f"no host answered within {self.timeout}s")

    async def reachable(self) -> ConnectionTarget:
        """The target narrowed to the one host a connection settles on now (for tools that open
        connections their own way: Alembic's engine)."""
        connection = await self()
        await connection.close()
        if len(self.target.hosts) < 2:
            return self.target
        return self.target.only(self._first)


def watch_for_silence(connection: asyncpg.Connection, timeout: float) -> None:
    """Make `connection` fail within about `timeout` seconds of its server falling silent: data
    left unacknowledged for half of it, or no answer to a keepalive probe sent after half of it
    without a word (Linux; elsewhere a no-op)."""
    sock = internals.socket_of(connection)
    user_timeout = getattr(socket, "TCP_USER_TIMEOUT", None)
    if sock is None or user_timeout is None or sock.family not in (socket.AF_INET, socket.AF_INET6):
        return
    half = timeout / 2
    sock.setsockopt(socket.IPPROTO_TCP, user_timeout, max(1, round(half * 1000)))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, max(1, int(half)))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, KEEPALIVE_INTERVAL)

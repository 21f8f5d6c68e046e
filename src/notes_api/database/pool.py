"""How a request waits for a database connection: in line, first come first served, for at most
DB_POOL_TIMEOUT seconds, then a DatabaseUnavailableError. Opening a new connection, when the pool
has to (one was broken, or the pool grows), is bounded too, by DB_CONNECT_TIMEOUT (connector.py):
so a request waits at most the two together.

Every path takes its connection here: `Database`'s verbs, `database.connection()` and
`database.transaction()`, the export's cursor, `/ready`.

asyncpg's own pool hands a returned connection to whichever request asks next: one that arrives
just as a connection comes back takes it ahead of one already waiting, which goes to the back of
the queue again. Under load some requests waited several times over, and the p99 latency was
many times plain asyncpg's (docs/performance.md, step 15). Here each request first takes a
place in line (a permit of a semaphore as large as the pool), then a connection, which is then
always free.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

import asyncpg

from notes_api.database.errors import TRANSLATED, translated

logger = logging.getLogger(__name__)


class Pool:
    """asyncpg's pool, entered in line. `waiting`: requests in line now; `on_wait`, if set, is
    told each acquire's time in line, in seconds (0.0 when a place was free at once)."""

    __slots__ = ("_line", "_pool", "on_wait", "timeout", "waiting")

    def __init__(self, pool: asyncpg.Pool, *, timeout: float) -> None:
        self._pool = pool
        self._line = asyncio.Semaphore(pool.get_max_size())
        self.timeout = timeout
        self.waiting = 0
        self.on_wait: Callable[[float], None] | None = None

    @property
    def size(self) -> int:
        """Connections open (lent or idle)."""
        return int(self._pool.get_size())

    @property
    def max_size(self) -> int:
        return int(self._pool.get_max_size())

    @property
    def idle(self) -> int:
        return int(self._pool.get_idle_size())

    async def acquire(self) -> asyncpg.Connection:
        """A connection, once those ahead in line have theirs; give it back with `release`.
        DatabaseUnavailableError when none comes in time, or a new one cannot be opened."""
        try:
            if self._line.locked() or self._pool.get_idle_size() == 0:
                return await self._wait_in_line()
            await self._line.acquire()  # a free place: returns at once
            if self.on_wait is not None:
                self.on_wait(0.0)
            return await self._take()
        except TRANSLATED as error:
            raise translated(error) from error

    async def _wait_in_line(self) -> asyncpg.Connection:
        # There is a wait: bound it. The timer is armed only here, not while a connection is idle
        # and nobody waits, which is most of the time. The wait told to `on_wait` is the whole of
        # it: the place in line, and a new connection if the pool had to open one.
        started = time.perf_counter()
        self.waiting += 1
        try:
            async with asyncio.timeout(self.timeout):
                await self._line.acquire()
                return await self._take()
        finally:
            self.waiting -= 1
            if self.on_wait is not None:
                self.on_wait(time.perf_counter() - started)

    async def _take(self) -> asyncpg.Connection:
        try:
            connection: asyncpg.Connection = await self._pool.acquire()
        except BaseException:
            self._line.release()
            raise
        return connection

    async def release(self, connection: asyncpg.Connection) -> None:
        """Give `connection` back; a failure to do so is logged, not raised.

        asyncpg resets a connection before pooling it again. On a connection the server has just
        dropped, that fails, and asyncpg has already closed it for the pool to replace. The
        statement's own outcome is known by now: it, not this, decides the answer (a committed
        write must not be reported as a failure).
        """
        try:
            await self._pool.release(connection)
        except Exception as error:
            logger.warning("Dropped a broken database connection: %r", error)
        finally:
            self._line.release()

    def lease(self) -> Lease:
        """`async with pool.lease() as connection`: acquire, and release on the way out."""
        return Lease(self)

    async def close(self) -> None:
        await self._pool.close()


class Lease:
    """One connection for the length of an `async with` block."""

    __slots__ = ("_connection", "_pool")

    def __init__(self, pool: Pool) -> None:
        self._pool = pool

    async def __aenter__(self) -> asyncpg.Connection:
        self._connection = await self._pool.acquire()
        return self._connection

    async def __aexit__(self, *exc_info: object) -> None:
        await self._pool.release(self._connection)

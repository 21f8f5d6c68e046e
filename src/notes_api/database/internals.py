"""Every place the data layer reaches into a private part of `databases` or asyncpg, and why.

databases 0.9.0 (its last release, 2024) has no public way to build its PostgreSQL pool from
options of our own (the parsed DATABASE_URL: sslmode, several hosts), to take connections from it
in line, or to find the connection a task holds inside `database.connection()` or
`database.transaction()`. asyncpg has no public way to the socket under a connection. Each reach
below is named where it is made; tests/database/test_internals.py has a test named after each, so
that an upgrade that moves one fails there, by name, rather than in a request or in silence.

databases:
- `Database.SUPPORTED_BACKENDS`: which backend class a URL's scheme gets (`SUPPORTED_BACKENDS`).
- `Database(url, **options)` hands `options` to the backend's constructor (`Backend`).
- `PostgresBackend._dialect`: the dialect it compiles databases' own queries with (`Backend`).
- `PostgresConnection._connection`, `._database`: its asyncpg connection and backend
  (`BackendConnection`).
- `Database._backend`: the backend it made (`pool_of`).
- `Database._global_connection`, `._connection_map`: force_rollback's connection, and each
  task's (`task_connection`).
- `Connection._query_lock`: one statement at a time on a connection (`raw_connection`).
- `core.Transaction(connection_callable, force_rollback, **options)`: how `Database.transaction`
  makes one (core.py); its `_connection`, `_transaction` and `_extra_options`, and the
  connection's `_connection`, `_transaction_lock` and `_transaction_stack`: how it begins and ends
  (`begin`, `end`).

asyncpg:
- `Connection._transport`: the asyncio transport under a connection (`socket_of`).

SQLAlchemy is used through public API only.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import databases
from databases.backends.postgres import PostgresBackend, PostgresConnection
from databases.core import Connection, DatabaseURL, Transaction

from notes_api.database.pool import Pool

# -- databases --------------------------------------------------------------------------------

BACKEND = "notes_api.database.internals:Backend"
# What `Database` puts in place of databases' own table: PostgreSQL URLs get our backend.
SUPPORTED_BACKENDS = {
    **databases.Database.SUPPORTED_BACKENDS,
    "postgresql": BACKEND,
    "postgres": BACKEND,
}


class Backend(PostgresBackend):
    """databases' PostgreSQL backend, over a pool whose connections a Connector opens, entered in
    line.

    databases' own backend builds its pool from the URL's one host and port (several hosts make
    it fail), and passes on none of libpq's options. Here the pool opens its connections through
    a Connector (connector.py), on every host of the target.
    """

    def __init__(
        self,
        database_url: DatabaseURL | str,
        *,
        connector: Callable[..., Awaitable[asyncpg.Connection]],
        pool_timeout: float,
        **pool_options: Any,
    ) -> None:
        # databases passes the options `Database(...)` was given on to here.
        super().__init__(database_url)
        self.connector = connector
        self.pool_timeout = pool_timeout
        self.pool_options = pool_options
        self.pool: Pool | None = None

    async def connect(self) -> None:
        assert self.pool is None, "the database is already connected"
        pool = await asyncpg.create_pool(connect=self.connector, **self.pool_options)
        self.pool = Pool(pool, timeout=self.pool_timeout)

    async def disconnect(self) -> None:
        assert self.pool is not None, "the database is not connected"
        pool, self.pool = self.pool, None
        await pool.close()

    def connection(self) -> BackendConnection:
        # `_dialect`: the dialect PostgresBackend made for compiling databases' own queries.
        return BackendConnection(self, self._dialect)


class BackendConnection(PostgresConnection):
    """databases' PostgreSQL connection, which takes its asyncpg connection in line (pool.py)."""

    _database: Backend

    async def acquire(self) -> None:
        assert self._database.pool is not None, "the database is not connected"
        # `_connection`: the asyncpg connection PostgresConnection runs databases' queries on.
        self._connection = await self._database.pool.acquire()

    async def release(self) -> None:
        assert self._database.pool is not None, "the database is not connected"
        connection, self._connection = self._connection, None
        assert connection is not None, "the connection is not acquired"
        await self._database.pool.release(connection)


def pool_of(database: databases.Database) -> Pool:
    """The pool (in line) of a connected database whose backend is ours."""
    # `_backend`: the backend databases made from `Database.SUPPORTED_BACKENDS`.
    backend = database._backend
    assert isinstance(backend, Backend), "not a notes_api Database"
    assert backend.pool is not None, "the database is not connected"
    return backend.pool


def task_connection(database: databases.Database) -> Connection | None:
    """The connection this task holds inside `database.connection()` or `database.transaction()`,
    or, with `force_rollback=True`, the one connection every task shares; else None."""
    # `_global_connection`: force_rollback's connection, inside its never-committed transaction.
    # `_connection_map`: databases' connection of each task, kept while the task is inside
    # `connection()` or `transaction()`. (`database.connection()` would make one when none is.)
    shared: Connection | None = database._global_connection
    if shared is not None:
        return shared
    task = asyncio.current_task()
    return database._connection_map.get(task) if task is not None else None


@asynccontextmanager
async def raw_connection(connection: Connection) -> AsyncIterator[asyncpg.Connection]:
    """The asyncpg connection under databases' `connection`, for one statement."""
    # Entering counts one more user (databases acquires the connection if nobody holds it).
    # `_query_lock`: databases' guard against two statements at once on one connection
    # (force_rollback's connection is shared by every task).
    async with connection, connection._query_lock:
        yield connection.raw_connection


async def begin(transaction: Transaction) -> None:
    """databases' `Transaction.start`, but a BEGIN that fails gives its connection back."""
    # `_connection`: the task's databases connection; `_connection._connection`: its backend
    # connection, whose `transaction()` is the backend's; `_transaction`: the transaction's own
    # (kept in a context variable); `_transaction_lock` and `_transaction_stack`: the connection's
    # nesting (the root transaction is a BEGIN, the others savepoints).
    connection = transaction._connection
    transaction._transaction = connection._connection.transaction()
    async with connection._transaction_lock:
        is_root = not connection._transaction_stack
        await connection.__aenter__()
        try:
            await transaction._transaction.start(
                is_root=is_root, extra_options=transaction._extra_options
            )
        except BaseException:
            transaction._transaction = None
            await connection.__aexit__()
            raise
        connection._transaction_stack.append(transaction)


async def end(transaction: Transaction, *, commit: bool) -> None:
    """databases' `Transaction.commit` or `rollback`, but the connection is given back however
    the COMMIT or ROLLBACK ends: databases gives it back only after one that worked, so each
    failed one (the server gone, a failover) would keep a pooled connection forever."""
    connection = transaction._connection
    async with connection._transaction_lock:
        assert connection._transaction_stack[-1] is transaction
        connection._transaction_stack.pop()
        backend, transaction._transaction = transaction._transaction, None
        assert backend is not None, "the transaction was not started"
        raw = connection.raw_connection
        try:
            await (backend.commit() if commit else backend.rollback())
        except asyncpg.InterfaceError as error:
            if not lost(raw):
                raise
            # On a connection the server dropped, asyncpg says only that it is closed: say it
            # as the lost connection it is (which errors.py counts as "unavailable").
            raise asyncpg.ConnectionDoesNotExistError(str(error)) from error
        finally:
            await connection.__aexit__()


def lost(connection: asyncpg.Connection) -> bool:
    """Whether a pooled connection is closed; asyncpg's pool takes one the server dropped back at
    once, and its proxy then refuses every call, `is_closed()` included."""
    try:
        closed: bool = connection.is_closed()
    except asyncpg.InterfaceError:
        return True
    return closed


# -- asyncpg ----------------------------------------------------------------------------------


def socket_of(connection: asyncpg.Connection) -> socket.socket | None:
    """The socket under an asyncpg connection (to set TCP options asyncpg has no argument for);
    None over a Unix socket's transport that has none to give."""
    # `_transport`: the asyncio transport asyncpg's protocol reads and writes; asyncio's
    # `get_extra_info("socket")` is public. Without it the connector could not bound how long a
    # silent server holds a request: fail loudly rather than serve without the bound.
    try:
        transport: asyncio.Transport = connection._transport
    except AttributeError:
        raise RuntimeError(
            "asyncpg.Connection has no _transport: this asyncpg is not one notes-api was tested "
            "with (see notes_api.database.internals)"
        ) from None
    sock: socket.socket | None = transport.get_extra_info("socket")
    return sock

"""The one `databases.Database` of a process: where it points, how it connects, when it opens.

databases 0.9 hands asyncpg only host, port, user, password, database and `ssl`; it silently
drops libpq's `sslmode`, so `?sslmode=require` would connect in clear text. `ConnectionTarget` reads
the URL the way libpq users expect and turns it into asyncpg options, for the service and Alembic.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

import asyncpg
from databases import Database
from databases.backends.postgres import PostgresBackend, PostgresConnection
from databases.core import DatabaseURL

from notes_api.config import Settings
from notes_api.embedded import EmbeddedPostgres

logger = logging.getLogger(__name__)

# The database the service creates in its embedded server.
EMBEDDED_DATABASE = "notes"


@dataclass(frozen=True)
class ConnectionTarget:
    """A PostgreSQL server and database, with the asyncpg options to reach it."""

    scheme_less: str  # user:password@host:port/database, no query
    query: dict[str, str]  # options kept in the URL (a Unix socket `host`)
    ssl: ssl.SSLContext | str | bool | None
    pool_options: dict[str, Any]
    acquire_timeout: float

    @classmethod
    def from_url(cls, url: str, settings: Settings) -> ConnectionTarget:
        parts = urlsplit(url)
        # Settings validated the options; here they only change form.
        options = dict(parse_qsl(parts.query))
        return cls(
            scheme_less=urlunsplit(("", parts.netloc, parts.path, "", "")).lstrip("/"),
            query={k: v for k, v in options.items() if k == "host"},
            ssl=ssl_option(options.get("sslmode"), options.get("sslrootcert")),
            pool_options={
                "min_size": settings.db_pool_min_size,
                "max_size": settings.db_pool_max_size,
                "statement_cache_size": settings.db_statement_cache_size,
                "server_settings": server_settings(settings),
                # None: asyncpg's full reset; see keep_session.
                "reset": None if settings.db_reset_session else keep_session,
            },
            acquire_timeout=settings.db_pool_timeout,
        )

    def url(self, scheme: str = "postgresql") -> str:
        query = f"?{urlencode(self.query)}" if self.query else ""
        return f"{scheme}://{self.scheme_less}{query}"

    @property
    def masked_url(self) -> str:
        """The URL with its password replaced, fit for logs."""
        parts = urlsplit(self.url())
        if parts.password is None:
            return self.url()
        netloc = parts.netloc.replace(f":{parts.password}@", ":****@", 1)
        return urlunsplit(parts._replace(netloc=netloc))

    @property
    def connect_options(self) -> dict[str, Any]:
        """Options for a single asyncpg connection (Alembic's, admin tasks).

        No statement timeout here: a migration may rightly run longer than any request."""
        options: dict[str, Any] = {
            "statement_cache_size": self.pool_options["statement_cache_size"]
        }
        if self.ssl is not None:
            options["ssl"] = self.ssl
        return options

    def database(self) -> PooledDatabase:
        options = dict(self.pool_options)
        if self.ssl is not None:
            options["ssl"] = self.ssl
        return PooledDatabase(self.url(), acquire_timeout=self.acquire_timeout, **options)


async def keep_session(connection: asyncpg.Connection) -> None:
    """Reset nothing more when a connection returns to the pool.

    By default asyncpg sends `SELECT pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL`
    each time a connection returns to the pool: a second round trip for every one-statement
    request, which cost about a third of the pool's time per request (docs/performance.md). The
    service's statements leave none of that state behind: no SET, LISTEN, session advisory lock
    or WITH HOLD cursor (migrations run on connections of their own). asyncpg still rolls back
    a transaction left open before it calls this. Code that does change the session should set
    DB_RESET_SESSION=true, which restores asyncpg's reset.
    """


def server_settings(settings: Settings) -> dict[str, str]:
    """PostgreSQL settings sent when each connection starts."""
    if not settings.db_statement_timeout:
        return {}
    # Whole milliseconds: PostgreSQL reads a bare number as ms.
    return {"statement_timeout": str(max(1, round(settings.db_statement_timeout * 1000)))}


class TimedPostgresConnection(PostgresConnection):
    """databases' asyncpg connection, acquired from the pool with a timeout.

    databases 0.9 waits for a free connection forever: when every connection is busy (slow
    queries, a burst of clients), requests would pile up until their clients give up. Waiting at
    most DB_POOL_TIMEOUT seconds turns that into a TimeoutError, which errors.py answers with 503.
    """

    _database: TimedPostgresBackend

    async def acquire(self) -> None:
        assert self._connection is None, "Connection is already acquired"
        assert self._database._pool is not None, "DatabaseBackend is not running"
        self._connection = await self._database._pool.acquire(
            timeout=self._database.acquire_timeout
        )

    async def release(self) -> None:
        assert self._database._pool is not None, "DatabaseBackend is not running"
        connection, self._connection = self._connection, None
        await release_quietly(self._database._pool, connection)


class TimedPostgresBackend(PostgresBackend):
    def __init__(
        self, database_url: DatabaseURL | str, *, acquire_timeout: float, **options: Any
    ) -> None:
        super().__init__(database_url, **options)
        self.acquire_timeout = acquire_timeout

    def connection(self) -> TimedPostgresConnection:
        return TimedPostgresConnection(self, self._dialect)


class PooledDatabase(Database):
    """A `databases.Database` whose PostgreSQL connections wait at most `acquire_timeout` seconds
    for the pool. Every query path (`fetch_*`, `connection()`, `transaction()`, `lease()`) goes
    through it."""

    SUPPORTED_BACKENDS = {  # noqa: RUF012 (the type databases gives it)
        **Database.SUPPORTED_BACKENDS,
        "postgresql": f"{__name__}:TimedPostgresBackend",
        "postgres": f"{__name__}:TimedPostgresBackend",
    }

    _line: asyncio.Semaphore | None = None

    async def connect(self) -> None:
        await super().connect()
        pool = self._backend._pool if isinstance(self._backend, TimedPostgresBackend) else None
        if pool is not None:
            self._line = asyncio.Semaphore(pool.get_max_size())

    def lease(self) -> Lease:
        """`async with database.lease() as connection`: an asyncpg connection from this pool.

        What `database.connection()` does for a request, without its bookkeeping: that wrapper
        keeps a map of connections per task, so that nested calls in one task share a connection,
        and takes three `asyncio.Lock`s per use; it cost a GET /notes/{id} about 10% of its time
        (docs/performance.md). The service's functions each run one statement, or one
        transaction, on a connection of their own, and need none of it. The pool, its size and
        its acquire timeout stay those of `databases`; a lease is not shared with
        `database.connection()` or `database.transaction()` in the same task.
        """
        backend = self._backend
        assert isinstance(backend, TimedPostgresBackend), "lease() needs PostgreSQL"
        assert backend._pool is not None, "the database is not connected"
        assert self._line is not None, "the database is not connected"
        return Lease(backend._pool, backend.acquire_timeout, self._line)


class Lease:
    """One connection from the pool for the length of an `async with` (see PooledDatabase.lease).

    Leases wait for a connection in a line, first come first served: a permit of a semaphore as
    large as the pool, taken before the connection and given back after it. asyncpg's own queue
    lets a request that arrives just as a connection comes back take it ahead of one already
    waiting, which goes to the back of the queue again: under load some requests waited several
    times over, and the p99 latency was 2.5 times that of plain asyncpg use (35 ms against 14 ms,
    docs/performance.md). In line, it came down to 14 ms.
    """

    __slots__ = ("_connection", "_line", "_pool", "_timeout")

    def __init__(self, pool: asyncpg.Pool, timeout: float, line: asyncio.Semaphore) -> None:
        self._pool = pool
        self._timeout = timeout
        self._line = line
        self._connection: asyncpg.Connection | None = None

    async def __aenter__(self) -> asyncpg.Connection:
        line, pool = self._line, self._pool
        if line.locked() or pool.get_idle_size() == 0:
            # Wait at most DB_POOL_TIMEOUT, in line then for the connection: a TimeoutError
            # (503), not an endless queue. The timer is armed only here: while a connection is
            # idle and nobody waits, there is nothing to wait for.
            async with asyncio.timeout(self._timeout):
                await line.acquire()
                self._connection = await self._connect()
        else:
            await line.acquire()  # free: returns at once
            self._connection = await self._connect()
        return self._connection

    async def _connect(self) -> asyncpg.Connection:
        try:
            connection: asyncpg.Connection = await self._pool.acquire()
        except BaseException:
            self._line.release()
            raise
        return connection

    async def __aexit__(self, *exc_info: object) -> None:
        try:
            await release_quietly(self._pool, self._connection)
        finally:
            self._line.release()


async def release_quietly(pool: asyncpg.Pool, connection: asyncpg.Connection | None) -> None:
    """Give `connection` back to `pool`; a failure to do so is logged, not raised.

    asyncpg resets a connection before pooling it again. On a connection the server has just
    dropped, that fails, and asyncpg has already closed it for the pool to replace. The
    statement's own outcome is known by now: it, not this, decides the answer (a committed write
    must not be reported as a failure).
    """
    try:
        await pool.release(connection)
    except Exception as error:
        logger.warning("Dropped a broken database connection: %r", error)


def ssl_option(sslmode: str | None, rootcert: str | None) -> ssl.SSLContext | str | bool | None:
    """libpq's sslmode/sslrootcert as asyncpg's `ssl` argument (None: asyncpg's default, prefer)."""
    if sslmode is None:
        return None
    if sslmode == "disable":
        return False
    if sslmode in ("verify-ca", "verify-full") and rootcert is not None:
        context = ssl.create_default_context(cafile=unquote(rootcert))
        context.check_hostname = sslmode == "verify-full"
        return context
    # asyncpg understands the remaining libpq modes by name, and for verify-* without sslrootcert
    # it looks where libpq does (PGSSLROOTCERT, ~/.postgresql/root.crt).
    return sslmode


async def ensure_database(admin_url: str, name: str) -> None:
    """Create database `name` on the server behind `admin_url` unless it exists."""
    connection = await asyncpg.connect(admin_url)
    try:
        exists = await connection.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if not exists:
            await connection.execute(f'CREATE DATABASE "{name}"')
    except asyncpg.DuplicateDatabaseError:
        pass  # created by a concurrent starter
    finally:
        await connection.close()


def embedded_server(settings: Settings) -> EmbeddedPostgres:
    return EmbeddedPostgres(root=settings.embedded_db_dir, port=settings.embedded_db_port)


@asynccontextmanager
async def connection_target(settings: Settings) -> AsyncIterator[ConnectionTarget]:
    """Where to connect: DATABASE_URL, or the embedded server, started for as long as needed."""
    if settings.database_url is not None:
        yield ConnectionTarget.from_url(settings.database_url.get_secret_value(), settings)
        return
    server = embedded_server(settings)
    await asyncio.to_thread(server.start)
    try:
        await ensure_database(server.url(), EMBEDDED_DATABASE)
        yield ConnectionTarget.from_url(server.url(EMBEDDED_DATABASE), settings)
    finally:
        await asyncio.to_thread(server.stop)


@asynccontextmanager
async def open_database(settings: Settings) -> AsyncIterator[PooledDatabase]:
    """Connect the pool (after migrating, unless turned off); disconnect it on the way out."""
    async with connection_target(settings) as target:
        embedded = " (embedded)" if settings.database_url is None else ""
        logger.info("Using database %s%s", target.masked_url, embedded)
        if settings.migrate_on_start:
            from notes_api.migrate import upgrade

            await upgrade(target)
        database = target.database()
        await database.connect()
        try:
            yield database
        finally:
            await database.disconnect()


async def check_connection(target: ConnectionTarget, connect_timeout: float = 10) -> None:
    """Connect once and run `SELECT 1`; raise what asyncpg raises (for a clear error at start)."""
    connection = await asyncpg.connect(
        target.url(), timeout=connect_timeout, **target.connect_options
    )
    try:
        await connection.fetchval("SELECT 1")
    finally:
        await connection.close()

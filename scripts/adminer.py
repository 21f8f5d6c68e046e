"""Serve Adminer for the service's database, without Docker: `make adminer`.

    python scripts/adminer.py [--port 8080] [--print-only]

Runs PHP's built-in web server on 127.0.0.1 with Adminer as its only script, after printing what to
type on Adminer's login page (and a link that fills in all of it but the password) for the database
the service uses: DATABASE_URL, or else the embedded PostgreSQL. Needs `php` with the pgsql
extension and `adminer.php`: Debian and Ubuntu package them as php-cli, php-pgsql and adminer.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn
from urllib.parse import unquote, urlencode, urlsplit

from dotenv import dotenv_values

from notes_api.config import Settings, load_settings
from notes_api.development.database import EMBEDDED_DATABASE
from notes_api.development.embedded import EmbeddedPostgres

# Where Debian's `adminer` package puts the single-file build; ADMINER_PHP overrides it.
DEBIAN_ADMINER = Path("/usr/share/adminer/adminer.php")
INSTALL_HINT = """\
  Debian, Ubuntu:  sudo apt-get install adminer php-cli php-pgsql
  elsewhere:       PHP 7.4+ with its pgsql extension, and adminer.php from https://www.adminer.org
                   (then: ADMINER_PHP=/path/to/adminer.php make adminer)"""


@dataclass(frozen=True)
class Login:
    """What Adminer's login form asks for."""

    server: str  # host:port
    username: str
    password: str | None
    database: str
    note: str = ""  # anything the user must know before logging in

    def link(self, adminer: str) -> str:
        """Adminer's login page with everything but the password filled in, opening `notes`."""
        query = {"pgsql": self.server, "username": self.username, "db": self.database}
        query |= {"ns": "public", "select": "notes"}
        return f"{adminer}/?{urlencode(query, safe=':')}"


def login_for(settings: Settings) -> Login:
    """The login of the database the service uses."""
    if settings.database_url is not None:
        url = urlsplit(settings.database_url.get_secret_value())
        note = ""
        if url.password is None:
            note = (
                "DATABASE_URL has no password, and Adminer refuses to log in without one. If the "
                "server trusts this connection (trust auth), type any password: it is ignored. "
                "Otherwise give the role one: ALTER ROLE <name> PASSWORD '...'"
            )
        return Login(
            server=f"{url.hostname or '127.0.0.1'}:{url.port or 5432}",
            username=unquote(url.username or "postgres"),
            password=unquote(url.password) if url.password is not None else None,
            database=unquote(url.path.lstrip("/")),
            note=note,
        )
    server = EmbeddedPostgres(root=settings.embedded_db_dir, port=settings.embedded_db_port)
    if not (server.root / "password").exists():
        return Login(
            server=f"127.0.0.1:{server.port}",
            username=server.user,
            password=None,
            database=EMBEDDED_DATABASE,
            note=f"The embedded PostgreSQL does not exist yet ({server.root}): `make start` first.",
        )
    port = server.running_port()
    note = ""
    if port is None:
        note = (
            "The embedded PostgreSQL is not running: it runs while the service does "
            "(`make start`, or `make run` in another terminal)."
        )
    return Login(
        server=f"127.0.0.1:{port or server.port}",
        username=server.user,
        password=server.password,
        database=EMBEDDED_DATABASE,
        note=note,
    )


def missing_tools(adminer_php: Path) -> list[str]:
    """What is missing to serve Adminer, in words."""
    missing = []
    php = shutil.which("php")
    if php is None:
        missing.append("php (the command-line PHP)")
    else:
        check = [php, "-r", 'exit(extension_loaded("pgsql") ? 0 : 1);']
        if subprocess.run(check, capture_output=True, check=False).returncode != 0:
            missing.append("PHP's pgsql extension")
    if not adminer_php.is_file():
        missing.append(f"Adminer ({adminer_php})")
    return missing


def port_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def serve(adminer_php: Path, port: int) -> NoReturn:
    """Become PHP's web server, with Adminer as the router script: it gets every request."""
    php = ["php", "-S", f"127.0.0.1:{port}", "-t", str(adminer_php.parent), str(adminer_php)]
    os.execvp(php[0], php)


def print_login(login: Login, adminer: str) -> None:
    password = login.password if login.password is not None else "(see the note below)"
    print(f"Adminer on {adminer}. Log in with:")
    print("  System    PostgreSQL")
    print(f"  Server    {login.server}")
    print(f"  Username  {login.username}")
    print(f"  Password  {password}")
    print(f"  Database  {login.database}")
    print(f"or open (everything but the password filled in):\n  {login.link(adminer)}")
    if login.note:
        print(f"note: {login.note}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    # ADMINER_PORT from the environment, then `.env` (docker compose reads it there too).
    default_port = os.environ.get("ADMINER_PORT") or dotenv_values(".env").get("ADMINER_PORT")
    parser.add_argument("--port", type=int, default=int(default_port or 8080), help="(8080)")
    parser.add_argument("--print-only", action="store_true", help="print the login, serve nothing")
    args = parser.parse_args()
    port: int = args.port
    adminer_php = Path(os.environ.get("ADMINER_PHP") or DEBIAN_ADMINER)

    if args.print_only:
        print_login(login_for(load_settings()), f"http://127.0.0.1:{port}")
        return 0
    if missing := missing_tools(adminer_php):
        print(f"error: `make adminer` needs {', '.join(missing)}. Install:", file=sys.stderr)
        print(INSTALL_HINT, file=sys.stderr)
        return 1
    if not port_free(port):
        print(
            f"error: 127.0.0.1:{port} is taken (Adminer already running? docker compose's?); "
            f"choose another: make adminer ADMINER_PORT={port + 1}",
            file=sys.stderr,
        )
        return 1

    print_login(login_for(load_settings()), f"http://127.0.0.1:{port}")
    print("Ctrl-C stops Adminer.", flush=True)
    serve(adminer_php, port)


if __name__ == "__main__":
    sys.exit(main())

"""Where to connect: DATABASE_URL read once, the way libpq users expect, into asyncpg's options.

`databases` 0.9 hands asyncpg only the URL's host, port, user, password and database, and drops
libpq's `sslmode` without a word: `?sslmode=require` would connect in clear text. Here the URL
becomes the keyword arguments of `asyncpg.connect()` and `asyncpg.create_pool()`, once, for the
pool, the migrations and the start-up check alike; a URL this cannot honour is refused (config.py
validates DATABASE_URL with `ConnectionTarget.from_url`), never half-read.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlsplit, urlunsplit

# libpq's sslmode values, all honoured (see ssl_option).
SSL_MODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")
# libpq's target_session_attrs values: which of several hosts a connection may settle on.
SESSION_ATTRS = ("any", "read-write", "read-only", "primary", "standby", "prefer-standby")
# The query options understood; anything else is refused rather than silently ignored.
URL_OPTIONS = ("host", "sslmode", "sslrootcert", "target_session_attrs")
DEFAULT_PORT = 5432

SSLOption = ssl.SSLContext | str | bool | None


@dataclass(frozen=True)
class ConnectionTarget:
    """A PostgreSQL server and database: `postgresql://user:password@host:port/database?options`.

    `host` may list several servers (`db1:5432,db2:5432`), as libpq allows, and
    `?target_session_attrs=read-write` which of them to settle on (connector.py tries them).
    `?host=/run/postgresql` names a Unix socket directory instead.
    """

    hosts: tuple[str, ...]  # empty: asyncpg's default (PGHOST, else the local Unix socket)
    ports: tuple[int, ...]
    user: str | None
    password: str | None = field(repr=False)
    database: str
    ssl: SSLOption = None
    target_session_attrs: str | None = None  # None: libpq's default, any
    masked_url: str = ""  # the URL, its password shown as ****: for people, in logs and errors
    public_url: str = ""  # the URL without its password: for `databases`' own log lines

    @classmethod
    def from_url(cls, url: str) -> ConnectionTarget:
        """Parse DATABASE_URL; a ValueError says, for a person, what is wrong with it."""
        parts = urlsplit(url)
        if parts.scheme not in ("postgresql", "postgres"):
            raise ValueError(
                "must start with postgresql:// (e.g. postgresql://user:pw@host:5432/db)"
            )
        database = unquote(parts.path.lstrip("/"))
        if not database:
            raise ValueError("must name a database (postgresql://user:pw@host:5432/<database>)")
        options = dict(parse_qsl(parts.query))
        unknown = sorted(set(options) - set(URL_OPTIONS))
        if unknown:
            raise ValueError(
                f"unsupported option {unknown[0]!r} (supported: {', '.join(URL_OPTIONS)})"
            )
        userinfo, _, hostlist = parts.netloc.rpartition("@")
        user, has_password, password = userinfo.partition(":")
        hosts, ports = _hosts(hostlist)
        attrs = options.get("target_session_attrs")
        if attrs is not None and attrs not in SESSION_ATTRS:
            raise ValueError(
                f"target_session_attrs={attrs!r} is not one of {', '.join(SESSION_ATTRS)}"
            )
        if "host" in options:  # a Unix socket directory, as libpq's `host` parameter
            hosts, ports = (options["host"],), ports[:1] or (DEFAULT_PORT,)
        public = parts._replace(netloc=f"{user}@{hostlist}" if user else hostlist)
        masked = parts._replace(netloc=f"{user}:****@{hostlist}") if has_password else public
        return cls(
            hosts=hosts,
            ports=ports,
            user=unquote(user) or None,
            password=unquote(password) if has_password else None,
            database=database,
            ssl=ssl_option(options.get("sslmode"), options.get("sslrootcert")),
            target_session_attrs=attrs,
            masked_url=urlunsplit(masked),
            public_url=urlunsplit(public),
        )

    def connect_options(self) -> dict[str, Any]:
        """Keyword arguments for `asyncpg.connect()` and `asyncpg.create_pool()`."""
        options: dict[str, Any] = {
            "user": self.user,
            "password": self.password,
            "database": self.database,
        }
        if self.hosts:
            # asyncpg takes one host, or lists of hosts and of their ports.
            single = len(self.hosts) == 1
            options["host"] = self.hosts[0] if single else list(self.hosts)
            options["port"] = self.ports[0] if single else list(self.ports)
        if self.ssl is not None:
            options["ssl"] = self.ssl
        if self.target_session_attrs is not None:
            options["target_session_attrs"] = self.target_session_attrs
        return options

    def only(self, index: int) -> ConnectionTarget:
        """The same target on its `index`-th host alone."""
        hosts, ports = self.hosts[index : index + 1], self.ports[index : index + 1]
        return replace(self, hosts=hosts, ports=ports)

    def host_name(self, index: int) -> str:
        """`host:port` of the `index`-th host, for people ([::1]:5432 for IPv6)."""
        host = self.hosts[index]
        return f"[{host}]:{self.ports[index]}" if ":" in host else f"{host}:{self.ports[index]}"

    def with_database(self, database: str) -> ConnectionTarget:
        """The same server, another database on it."""
        path = f"/{quote(database)}"
        return replace(
            self,
            database=database,
            masked_url=urlunsplit(urlsplit(self.masked_url)._replace(path=path)),
            public_url=urlunsplit(urlsplit(self.public_url)._replace(path=path)),
        )


def _hosts(hostlist: str) -> tuple[tuple[str, ...], tuple[int, ...]]:
    """`db1:5432,[::1]:5433,db3` as hosts and ports (5432 where none is given)."""
    hosts, ports = [], []
    for spec in filter(None, hostlist.split(",")):
        if spec.startswith("["):  # an IPv6 address: [::1]:5432
            host, _, rest = spec[1:].partition("]")
            port = rest.removeprefix(":")
        else:
            host, _, port = spec.partition(":")
        if port and not port.isdigit():
            raise ValueError(f"port {port!r} of host {host!r} is not a number")
        hosts.append(unquote(host))
        ports.append(int(port) if port else DEFAULT_PORT)
    return tuple(hosts), tuple(ports)


def ssl_option(sslmode: str | None, rootcert: str | None) -> SSLOption:
    """libpq's sslmode/sslrootcert as asyncpg's `ssl` argument (None: asyncpg's default, prefer)."""
    if sslmode is None:
        if rootcert is not None:
            raise ValueError("sslrootcert needs sslmode=verify-ca or sslmode=verify-full")
        return None
    if sslmode not in SSL_MODES:
        raise ValueError(f"sslmode={sslmode!r} is not one of {', '.join(SSL_MODES)}")
    if rootcert is not None:
        if sslmode not in ("verify-ca", "verify-full"):
            raise ValueError("sslrootcert needs sslmode=verify-ca or sslmode=verify-full")
        try:
            context = ssl.create_default_context(cafile=unquote(rootcert))
        except (OSError, ssl.SSLError) as error:
            raise ValueError(f"sslrootcert={unquote(rootcert)!r}: {error}") from None
        context.check_hostname = sslmode == "verify-full"
        return context
    if sslmode == "disable":
        return False
    # asyncpg understands the remaining libpq modes by name, and for verify-* without sslrootcert
    # it looks where libpq does (PGSSLROOTCERT, ~/.postgresql/root.crt).
    return sslmode

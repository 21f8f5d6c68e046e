"""Opening connections on several hosts (connector.py): a silent host leaves time for the next, the
host that answered last goes first, target_session_attrs picks among a real primary and standby."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from notes_api.database.connector import Connector
from notes_api.database.internals import socket_of
from notes_api.database.url import ConnectionTarget
from notes_api.development.embedded import EmbeddedPostgres
from tests.support import free_port, standby_of, throwaway_cluster


@pytest.fixture
def silent_host() -> Iterator[str]:
    """`127.0.0.1:port` where something accepts TCP connections and never says a word, as a
    server cut off mid-way, or hung, would."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)  # the kernel completes handshakes; nobody ever reads
        yield f"127.0.0.1:{listener.getsockname()[1]}"


def with_hosts(url: str, *hosts: str, query: str = "") -> str:
    """`url` with its host list replaced (its user and password kept)."""
    parts = urlsplit(url)
    userinfo = parts.netloc.rpartition("@")[0]
    netloc = f"{userinfo}@{','.join(hosts)}" if userinfo else ",".join(hosts)
    return urlunsplit(parts._replace(netloc=netloc, query=query))


def host_of(url: str) -> str:
    return urlsplit(url).netloc.rpartition("@")[2]


async def server_port(connector: Connector) -> int:
    """Connect through `connector`; the port of the server reached, as it says."""
    connection = await connector()
    try:
        port: int = await connection.fetchval("SELECT inet_server_port()")
        return port
    finally:
        await connection.close()


def test_a_silent_first_host_leaves_time_for_the_next(database_url: str, silent_host: str) -> None:
    target = ConnectionTarget.from_url(with_hosts(database_url, silent_host, host_of(database_url)))
    real_port = target.ports[1]

    async def scenario() -> tuple[int, float, int, float]:
        connector = Connector(target, timeout=2)
        started = time.monotonic()
        first = await server_port(connector)
        first_took = time.monotonic() - started
        started = time.monotonic()
        second = await server_port(connector)  # the host that answered last goes first
        return first, first_took, second, time.monotonic() - started

    first, first_took, second, second_took = asyncio.run(scenario())

    assert (first, second) == (real_port, real_port)
    assert 0.9 <= first_took < 2  # the silent host had its share, half of the 2 s
    assert second_took < 0.5


def test_asyncpgs_own_timeout_never_reaches_the_host_after_a_silent_one(
    database_url: str, silent_host: str
) -> None:
    # Why connector.py exists: one timeout for every host, all of it spent on the first.
    target = ConnectionTarget.from_url(with_hosts(database_url, silent_host, host_of(database_url)))

    with pytest.raises(TimeoutError):
        asyncio.run(asyncpg.connect(**target.connect_options(), timeout=2))


def test_no_host_answering_fails_within_the_timeout(silent_host: str) -> None:
    refused = f"127.0.0.1:{free_port()}"
    target = ConnectionTarget.from_url(f"postgresql://u:pw@{refused},{silent_host}/notes")

    started = time.monotonic()
    with pytest.raises(TimeoutError):  # the silent host was the last tried
        asyncio.run(Connector(target, timeout=1)())
    assert time.monotonic() - started < 1.5


def test_a_connection_gives_up_on_a_server_that_stops_acknowledging(database_url: str) -> None:
    async def options() -> tuple[int, int, int]:
        connection = await Connector(ConnectionTarget.from_url(database_url), timeout=3)()
        try:
            sock = socket_of(connection)
            assert sock is not None
            return (
                sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT),
                sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE),
                sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE),
            )
        finally:
            await connection.close()

    assert asyncio.run(options()) == (1500, 1, 1)  # half of the 3 s: detected within it


# --- a primary and its streaming standby ------------------------------------------------------


@pytest.fixture(scope="module")
def pair() -> Iterator[tuple[EmbeddedPostgres, EmbeddedPostgres]]:
    with throwaway_cluster() as primary, standby_of(primary) as standby:
        yield primary, standby


@pytest.mark.parametrize(
    ("attrs", "reaches"),
    [
        ("read-write", "primary"),
        ("primary", "primary"),
        ("standby", "standby"),
        ("read-only", "standby"),
        ("prefer-standby", "standby"),
        (None, "first"),
    ],
)
def test_target_session_attrs_picks_the_server(
    pair: tuple[EmbeddedPostgres, EmbeddedPostgres], attrs: str | None, reaches: str
) -> None:
    primary, standby = pair
    ports = {"primary": primary.port, "standby": standby.port}
    # Each order: the pick must not depend on where the server is listed.
    for first, second in (("primary", "standby"), ("standby", "primary")):
        hosts = (f"127.0.0.1:{ports[first]}", f"127.0.0.1:{ports[second]}")
        query = f"target_session_attrs={attrs}" if attrs else ""
        target = ConnectionTarget.from_url(with_hosts(primary.url(), *hosts, query=query))

        reached = asyncio.run(server_port(Connector(target, timeout=5)))

        assert reached == ports[first if reaches == "first" else reaches], (attrs, first)


def test_prefer_standby_takes_the_primary_when_no_standby_answers(
    pair: tuple[EmbeddedPostgres, EmbeddedPostgres],
) -> None:
    primary, _ = pair
    down = f"127.0.0.1:{free_port()}"
    url = with_hosts(
        primary.url(),
        down,
        f"127.0.0.1:{primary.port}",
        query="target_session_attrs=prefer-standby",
    )

    reached = asyncio.run(server_port(Connector(ConnectionTarget.from_url(url), timeout=5)))

    assert reached == primary.port


def test_no_server_of_the_kind_asked_for_is_an_error_naming_it(
    pair: tuple[EmbeddedPostgres, EmbeddedPostgres],
) -> None:
    _, standby = pair
    url = with_hosts(
        standby.url(), f"127.0.0.1:{standby.port}", query="target_session_attrs=read-write"
    )

    with pytest.raises(asyncpg.TargetServerAttributeNotMatched, match="read-write"):
        asyncio.run(Connector(ConnectionTarget.from_url(url), timeout=5)())

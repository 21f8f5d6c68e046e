"""DATABASE_URL, read once into asyncpg's connect options (database/url.py): hosts, ports, users,
passwords decoded; TLS options as asyncpg takes them, and in effect on a real connection."""

from __future__ import annotations

import ssl

import asyncpg
import pytest

from notes_api.database.url import ConnectionTarget
from tests.support import connects_encrypted, sql


def test_the_url_becomes_asyncpgs_options_decoded() -> None:
    target = ConnectionTarget.from_url(
        "postgresql://app%40corp:p%2Fss%3Aword@db.example:6543/my%20notes"
    )

    assert target.connect_options() == {
        "host": "db.example",
        "port": 6543,
        "user": "app@corp",
        "password": "p/ss:word",
        "database": "my notes",
    }


def test_several_hosts_become_lists_in_order() -> None:
    target = ConnectionTarget.from_url("postgresql://u:pw@db1:5432,db2,[::1]:5433/notes")

    options = target.connect_options()
    assert options["host"] == ["db1", "db2", "::1"]
    assert options["port"] == [5432, 5432, 5433]


def test_a_unix_socket_directory_is_the_host() -> None:
    options = ConnectionTarget.from_url(
        "postgresql://postgres@/notes?host=/run/postgresql"
    ).connect_options()

    assert (options["host"], options["user"], options["password"]) == (
        "/run/postgresql",
        "postgres",
        None,
    )


def test_no_host_leaves_it_to_asyncpg() -> None:
    assert "host" not in ConnectionTarget.from_url("postgres:///notes").connect_options()


def test_the_password_is_hidden_in_the_urls_for_people() -> None:
    target = ConnectionTarget.from_url(
        "postgresql://notes:s3cret@db1:5432,db2:5432/notes?sslmode=require"
    )

    assert target.masked_url == "postgresql://notes:****@db1:5432,db2:5432/notes?sslmode=require"
    assert target.public_url == "postgresql://notes@db1:5432,db2:5432/notes?sslmode=require"
    assert "s3cret" not in repr(target)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("mysql://u@h/db", "must start with postgresql://"),
        ("postgresql://u@h:5432", "must name a database"),
        ("postgresql://u@h/db?pool=5", "unsupported option 'pool'"),
        ("postgresql://u@h:port/db", "port 'port' of host 'h' is not a number"),
        ("postgresql://u@h/db?sslmode=maybe", "sslmode='maybe' is not one of"),
        ("postgresql://u@h/db?sslmode=require&sslrootcert=/ca.pem", "sslrootcert needs"),
        ("postgresql://u@h/db?sslmode=verify-ca&sslrootcert=/no/such/ca.pem", "/no/such/ca.pem"),
    ],
)
def test_a_url_that_cannot_be_honoured_is_refused(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ConnectionTarget.from_url(url)


def test_target_session_attrs_is_passed_on() -> None:
    target = ConnectionTarget.from_url(
        "postgresql://u:pw@db1:5432,db2:5432/notes?target_session_attrs=read-write"
    )

    assert target.connect_options()["target_session_attrs"] == "read-write"
    assert (target.host_name(1), target.only(1).hosts, target.only(1).ports) == (
        "db2:5432",
        ("db2",),
        (5432,),
    )


def test_an_unknown_target_session_attrs_is_refused() -> None:
    with pytest.raises(ValueError, match="target_session_attrs='primary-only' is not one of"):
        ConnectionTarget.from_url("postgresql://u@h/db?target_session_attrs=primary-only")


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", None),
        ("?sslmode=disable", False),
        ("?sslmode=require", "require"),
        ("?sslmode=prefer", "prefer"),
        ("?sslmode=verify-full", "verify-full"),
    ],
)
def test_sslmode_becomes_asyncpgs_ssl_option(query: str, expected: object) -> None:
    options = ConnectionTarget.from_url(f"postgresql://u:p@h:5432/db{query}").connect_options()

    assert options.get("ssl") == expected
    assert (options["host"], options["port"], options["database"]) == ("h", 5432, "db")


def test_sslrootcert_builds_a_verifying_context() -> None:
    ca = ssl.get_default_verify_paths().cafile or "/etc/ssl/certs/ca-certificates.crt"
    full = ConnectionTarget.from_url(f"postgresql://u@h/db?sslmode=verify-full&sslrootcert={ca}")
    ca_only = ConnectionTarget.from_url(f"postgresql://u@h/db?sslmode=verify-ca&sslrootcert={ca}")

    assert isinstance(full.ssl, ssl.SSLContext)
    assert full.ssl.check_hostname
    assert isinstance(ca_only.ssl, ssl.SSLContext)
    assert not ca_only.ssl.check_hostname
    assert full.ssl.verify_mode == ssl.CERT_REQUIRED


def test_sslmode_takes_effect_on_a_real_connection(database_url: str) -> None:
    # databases 0.9 alone drops sslmode: `require` would quietly connect in clear text.
    server_has_tls = sql(database_url, "SHOW ssl")[0][0] == "on"

    assert connects_encrypted(f"{database_url}?sslmode=disable") is False
    if server_has_tls:
        assert connects_encrypted(f"{database_url}?sslmode=require") is True
    else:
        with pytest.raises((ConnectionError, asyncpg.PostgresError)):
            connects_encrypted(f"{database_url}?sslmode=require")

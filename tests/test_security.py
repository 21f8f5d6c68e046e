"""Who may do what, what leaks, and what travels in clear: the bearer token, security headers,
CORS, listening addresses, secrets, and TLS to a PostgreSQL with a certificate made here."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

import asyncpg
import pytest
import requests
from fastapi.testclient import TestClient
from pydantic import SecretStr

from notes_api.app import create_app
from notes_api.config import Settings
from notes_api.development.binaries import SYSTEM_USER
from tests.support import (
    LOOPBACK,
    ServerProcess,
    connects_encrypted,
    free_port,
    listening_addresses,
    sql,
    system_postgres_bin,
    throwaway_cluster,
)

TOKEN = "a-long-random-token"


def token_client(settings: Settings, *, reads: bool = False) -> TestClient:
    # model_copy does not validate: hand it the type Settings holds.
    update = {"api_token": SecretStr(TOKEN), "api_token_reads": reads}
    return TestClient(create_app(settings.model_copy(update=update)))


def bearer(token: str = TOKEN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# --- access control ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [{}, bearer("wrong"), bearer(TOKEN + "x"), bearer(""), {"Authorization": f"Basic {TOKEN}"}],
)
def test_write_without_the_token_is_401(
    settings: Settings, clean_notes: None, headers: dict[str, str]
) -> None:
    with token_client(settings) as client:
        created = client.post("/notes", json={"text": "no"}, headers=headers)
        replaced = client.put("/notes/1", json={"text": "no"}, headers=headers)
        patched = client.patch("/notes/1", json={"text": "no"}, headers=headers)
        deleted = client.delete("/notes/1", headers=headers)
        listed = client.get("/notes/all")

    for response in (created, replaced, patched, deleted):
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"] == "Bearer"
        assert TOKEN not in response.text
    assert listed.json() == []


def test_write_with_the_token_is_served_and_reads_stay_open(
    settings: Settings, clean_notes: None
) -> None:
    with token_client(settings) as client:
        created = client.post("/notes", json={"text": "yes"}, headers=bearer())
        note_id = created.json()["id"]
        read = client.get(f"/notes/{note_id}")
        patched = client.patch(f"/notes/{note_id}", json={"completed": True}, headers=bearer())
        deleted = client.delete(f"/notes/{note_id}", headers=bearer())

    assert created.status_code == 200
    assert read.json() == created.json()
    assert patched.json()["completed"] is True
    assert deleted.status_code == 200


def test_reads_need_the_token_with_api_token_reads(settings: Settings, clean_notes: None) -> None:
    with token_client(settings, reads=True) as client:
        anonymous = [client.get(path) for path in ("/notes", "/notes/all", "/notes/1")]
        allowed = client.get("/notes", headers=bearer())
        health = client.get("/health")

    assert [r.status_code for r in anonymous] == [401, 401, 401]
    assert allowed.json() == []
    assert health.status_code == 200  # probes need no token


def test_openapi_documents_the_token_for_swagger_ui(settings: Settings) -> None:
    with token_client(settings) as client:
        document = client.get("/openapi.json").json()
    with token_client(settings, reads=True) as client:
        strict = client.get("/openapi.json").json()

    assert document["components"]["securitySchemes"]["token"] == {
        "type": "http",
        "scheme": "bearer",
        "description": document["components"]["securitySchemes"]["token"]["description"],
    }
    notes = document["paths"]["/notes"]
    assert notes["post"]["security"] == [{"token": []}]
    assert notes["post"]["responses"]["401"]["description"]
    assert "security" not in notes["get"]  # reads are open: Swagger UI sends no token
    assert strict["paths"]["/notes"]["get"]["security"] == [{"token": []}]


def test_no_token_configured_documents_no_security(api: TestClient) -> None:
    document = api.get("/openapi.json").json()

    assert "securitySchemes" not in document.get("components", {})
    assert api.post("/notes", json={"text": "open"}).status_code == 200


# --- headers ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/", 200),
        ("GET", "/notes", 200),
        ("GET", "/notes/999", 404),
        ("GET", "/notes/abc", 422),
        ("PUT", "/notes/all", 405),
        ("GET", "/nowhere", 404),
        ("GET", "/openapi.json", 200),
        ("GET", "/docs/assets/swagger-ui-bundle.js", 200),
    ],
)
def test_every_answer_has_security_headers(
    api: TestClient, method: str, path: str, status: int
) -> None:
    response = api.request(method, path)

    assert response.status_code == status
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["Content-Security-Policy"] == (
        "default-src 'none'; frame-ancestors 'none'"
    )


@pytest.mark.parametrize("path", ["/docs", "/redoc"])
def test_docs_pages_have_security_headers_and_a_policy_of_their_own(
    api: TestClient, path: str
) -> None:
    response = api.get(path)

    assert response.status_code == 200
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    # Set by the page (tests/serving/test_api_docs.py), kept by Guards: one policy, not two.
    assert len(response.headers.get_list("Content-Security-Policy")) == 1
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]


def test_cors_matches_origins_scheme_included(settings: Settings) -> None:
    app = create_app(settings.model_copy(update={"cors_origins": ["https://notes.example.com"]}))
    with TestClient(app) as client:
        same = client.get("/notes", headers={"Origin": "https://notes.example.com"})
        other_scheme = client.get("/notes", headers={"Origin": "http://notes.example.com"})
        other_port = client.get("/notes", headers={"Origin": "https://notes.example.com:8443"})

    assert same.headers["Access-Control-Allow-Origin"] == "https://notes.example.com"
    assert "Access-Control-Allow-Origin" not in other_scheme.headers
    assert "Access-Control-Allow-Origin" not in other_port.headers


# --- listening addresses and secrets ----------------------------------------------------------


@pytest.mark.e2e
def test_default_service_and_embedded_database_listen_on_loopback_only(
    embedded_dir: Path, tmp_dir: Path
) -> None:
    env = {
        "EMBEDDED_DB_DIR": str(embedded_dir),
        "EMBEDDED_DB_PORT": str(free_port()),
        "PORT": str(free_port()),
    }
    server = ServerProcess(env, tmp_dir / "server.log")  # HOST left to its default
    try:
        server.wait_ready()
        service = listening_addresses(server.port)
        database = listening_addresses(int(env["EMBEDDED_DB_PORT"]))
        password = (embedded_dir / "password").read_text().strip()
        ready = requests.get(f"{server.base}/ready", timeout=5)
        root = requests.get(f"{server.base}/", timeout=5)
    finally:
        assert server.stop() == 0

    assert service == {LOOPBACK}  # and no other address
    assert database == {LOOPBACK}
    for text in (ready.text, root.text, server.log.read_text()):
        assert password not in text
        assert quote(password, safe="") not in text


# --- TLS to the database ----------------------------------------------------------------------


@dataclass
class Certificates:
    ca: Path
    other_ca: Path
    server_cert: Path
    server_key: Path


def openssl(*args: str | Path, cwd: Path) -> None:
    subprocess.run(["openssl", *map(str, args)], cwd=cwd, check=True, capture_output=True)


def make_certificates(directory: Path) -> Certificates:
    """A CA, a server certificate it signs for `localhost` only, and an unrelated CA."""
    directory.mkdir(mode=0o755)
    key = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    # The extensions Python 3.13's strict verification (VERIFY_X509_STRICT) asks for: a CA's key
    # usage, and the key identifier that links a certificate to its CA.
    for name in ("ca", "other-ca"):
        openssl("req", "-x509", *key, "-keyout", f"{name}.key", "-out", f"{name}.crt",
                "-days", "1", "-subj", f"/CN=notes-api test {name}",
                "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=directory)  # fmt: skip
    openssl("req", *key, "-keyout", "server.key", "-out", "server.csr",
            "-subj", "/CN=localhost", cwd=directory)  # fmt: skip
    (directory / "san.ext").write_text(
        "subjectAltName=DNS:localhost\nauthorityKeyIdentifier=keyid\nsubjectKeyIdentifier=hash\n"
    )
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
            "-CAcreateserial", "-out", "server.crt", "-days", "1",
            "-extfile", "san.ext", cwd=directory)  # fmt: skip
    return Certificates(
        ca=directory / "ca.crt",
        other_ca=directory / "other-ca.crt",
        server_cert=directory / "server.crt",
        server_key=directory / "server.key",
    )


@pytest.fixture(scope="module")
def tls_cluster() -> Iterator[tuple[str, Certificates]]:
    """A throwaway PostgreSQL serving TLS with a certificate for `localhost`, and its URL."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed (apt-get install openssl)")
    # The embedded server's binaries are built without TLS; Debian's have it.
    bin_dir = system_postgres_bin()
    if bin_dir is None:
        pytest.skip("no TLS-capable PostgreSQL server binaries (apt-get install postgresql)")
    with throwaway_cluster(bin_dir) as cluster:
        certificates = make_certificates(cluster.root.parent / "certs")
        # PostgreSQL reads its key only if the server's user owns it and no one else may read it.
        certificates.server_key.chmod(0o600)
        if os.geteuid() == 0:
            for path in (certificates.server_cert, certificates.server_key):
                shutil.chown(path, user=SYSTEM_USER, group=SYSTEM_USER)
        url = cluster.url()
        sql(url, f"ALTER SYSTEM SET ssl_cert_file = '{certificates.server_cert}'")
        sql(url, f"ALTER SYSTEM SET ssl_key_file = '{certificates.server_key}'")
        sql(url, "ALTER SYSTEM SET ssl = on")
        sql(url, "SELECT pg_reload_conf()")
        assert sql(url, "SHOW ssl")[0][0] == "on"
        yield url, certificates


def with_host(url: str, host: str, query: str) -> str:
    parts = urlsplit(url)
    netloc = parts.netloc.replace("@127.0.0.1:", f"@{host}:")
    return urlunsplit(parts._replace(netloc=netloc, query=query))


def test_sslmode_require_connects_encrypted(tls_cluster: tuple[str, Certificates]) -> None:
    url, _ = tls_cluster

    assert connects_encrypted(with_host(url, "127.0.0.1", "sslmode=require")) is True
    assert connects_encrypted(with_host(url, "127.0.0.1", "sslmode=disable")) is False


def test_verify_full_accepts_the_certificate_it_can_verify(
    tls_cluster: tuple[str, Certificates],
) -> None:
    url, certificates = tls_cluster
    query = f"sslmode=verify-full&sslrootcert={quote(str(certificates.ca))}"

    assert connects_encrypted(with_host(url, "localhost", query)) is True


@pytest.mark.parametrize(
    ("host", "ca", "why"),
    [
        ("localhost", "other_ca", "signed by a CA we do not trust"),
        ("127.0.0.1", "ca", "issued for another name"),
    ],
)
def test_verify_full_refuses_a_certificate_it_cannot_verify(
    tls_cluster: tuple[str, Certificates], host: str, ca: str, why: str
) -> None:
    url, certificates = tls_cluster
    rootcert = quote(str(getattr(certificates, ca)))
    query = f"sslmode=verify-full&sslrootcert={rootcert}"

    with pytest.raises((ConnectionError, asyncpg.PostgresError, OSError)) as refused:
        connects_encrypted(with_host(url, host, query))
    assert "certificate verify failed" in str(refused.value), why


def test_verify_full_without_a_root_certificate_refuses(
    tls_cluster: tuple[str, Certificates], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    url, _ = tls_cluster
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.postgresql/root.crt to fall back on
    monkeypatch.delenv("PGSSLROOTCERT", raising=False)

    with pytest.raises(asyncpg.InterfaceError, match="root certificate file"):
        connects_encrypted(with_host(url, "localhost", "sslmode=verify-full"))


@pytest.mark.e2e
def test_service_talks_to_its_database_over_verified_tls(
    tls_cluster: tuple[str, Certificates], tmp_path: Path
) -> None:
    url, certificates = tls_cluster
    query = f"sslmode=verify-full&sslrootcert={quote(str(certificates.ca))}"
    server = ServerProcess(
        {"DATABASE_URL": with_host(url, "localhost", query), "PORT": str(free_port())},
        tmp_path / "server.log",
    )
    try:
        server.wait_ready()
        created = requests.post(f"{server.base}/notes", json={"text": "sealed"}, timeout=5)
        sessions = sql(
            url,
            "SELECT s.ssl FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) "
            "WHERE a.datname = 'postgres' AND a.backend_type = 'client backend' "
            "AND a.pid <> pg_backend_pid()",
        )
    finally:
        assert server.stop() == 0

    assert created.status_code == 200
    assert sessions
    assert {row["ssl"] for row in sessions} == {True}
    password = urlsplit(url).password
    assert password
    assert password not in server.log.read_text()

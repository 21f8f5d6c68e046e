"""Optional access control: one shared bearer token (API_TOKEN) for writes, and for reads if asked.

Off by default, for a service on 127.0.0.1. Turn it on before the service listens anywhere else.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import FastAPI, HTTPException, Request, Security, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import SecretStr

from notes_api.schemas import ErrorMessage

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
UNAUTHORIZED = "A valid bearer token is needed (Authorization: Bearer <token>)"

# auto_error=False: a missing or malformed header reaches our check, which answers 401 with the
# WWW-Authenticate header (HTTPBearer's own error is a 403 in older FastAPI versions).
bearer = HTTPBearer(
    auto_error=False,
    scheme_name="token",
    description="The service's API_TOKEN. Writes need it; reads too when API_TOKEN_READS=true.",
)

UNAUTHORIZED_RESPONSE: dict[int | str, dict[str, Any]] = {
    401: {
        "model": ErrorMessage,
        "description": "The bearer token is missing or wrong.",
        "headers": {"WWW-Authenticate": {"description": "Bearer", "schema": {"type": "string"}}},
    }
}


def token_guard(
    token: SecretStr, *, reads: bool
) -> Callable[[Request, HTTPAuthorizationCredentials | None], Awaitable[None]]:
    """A dependency that lets a request through only with `Authorization: Bearer <token>`."""
    expected = token.get_secret_value().encode()

    async def require_token(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)],
    ) -> None:
        if not reads and request.method in READ_METHODS:
            return
        given = credentials.credentials.encode() if credentials is not None else b""
        # Constant time: how long a wrong guess takes must not tell how much of it was right.
        if not hmac.compare_digest(given, expected):
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED, UNAUTHORIZED, headers={"WWW-Authenticate": "Bearer"}
            )

    return require_token


def document_open_reads(app: FastAPI) -> None:
    """Reads need no token: drop the security requirement from GET operations in OpenAPI, so that
    clients (and Swagger UI) know they may call them without one."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = build()  # FastAPI keeps this object as app.openapi_schema
        for operations in schema["paths"].values():
            for method, operation in operations.items():
                if method.upper() in READ_METHODS:
                    operation.pop("security", None)
                    operation["responses"].pop("401", None)
        return schema

    app.openapi = openapi  # type: ignore[method-assign]

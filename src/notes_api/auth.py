"""Optional access control: one shared bearer token (API_TOKEN), which app.py asks of the writes,
and of the reads too with API_TOKEN_READS=true.

Off by default, for a service on 127.0.0.1. Turn it on before the service listens anywhere else.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import SecretStr

from notes_api.errors import UNAUTHORIZED

# auto_error=False: a missing or malformed header reaches our check, which answers 401 with the
# WWW-Authenticate header (HTTPBearer's own error is a 403 in older FastAPI versions).
bearer = HTTPBearer(
    auto_error=False,
    scheme_name="token",
    description="The service's API_TOKEN. Writes need it; reads too when API_TOKEN_READS=true.",
)


def token_guard(
    token: SecretStr,
) -> Callable[[HTTPAuthorizationCredentials | None], Awaitable[None]]:
    """A dependency that lets a request through only with `Authorization: Bearer <token>`.

    Given to a router (`dependencies=[Depends(guard)]`), it guards every route of it, and FastAPI
    documents the bearer scheme on each of them in OpenAPI (Swagger UI's Authorize button).
    """
    expected = token.get_secret_value().encode()

    async def require_token(
        credentials: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)],
    ) -> None:
        given = credentials.credentials.encode() if credentials is not None else b""
        # Constant time: how long a wrong guess takes must not tell how much of it was right.
        if not hmac.compare_digest(given, expected):
            raise UNAUTHORIZED.exception()

    return require_token

"""The `Prefer` header (RFC 7240): the preferences a client states, of which the service honours
those it knows (`count=exact`, `count=planned`) and says so in `Preference-Applied`."""

from __future__ import annotations

from fastapi import Request


def preferences(request: Request) -> dict[str, str]:
    """`Prefer: count=exact, return=minimal` as {"count": "exact", "return": "minimal"}: names in
    lower case, values unquoted, parameters (after `;`) dropped, the first of a name kept."""
    stated: dict[str, str] = {}
    for field in request.headers.getlist("prefer"):
        for preference in field.split(","):
            name, _, value = preference.split(";", 1)[0].partition("=")
            stated.setdefault(name.strip().lower(), value.strip().strip('"'))
    return stated

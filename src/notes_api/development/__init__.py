"""Tools for a developer's machine: the embedded PostgreSQL, started when DATABASE_URL is unset.

Skip this folder on a first read. The service itself never starts a database: the entry points
do (src/main.py, `python -m notes_api.migrate`, scripts/ and the tests), then hand the app a URL.
`make check` holds that rule (import-linter's contracts in pyproject.toml).
"""

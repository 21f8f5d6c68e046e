"""The notes: the example this project exists for, one feature from HTTP to SQL. The first four
files are the feature; the last two add what a client of a real service expects.

- routes.py   thin async routes: validate, call one service function, answer
- service.py  SQL-first functions: Core statements run with databases' verbs
- schemas.py  what clients send and get back (pydantic)
- tables.py   the `notes` table (SQLAlchemy Core); notes_api/migrations/ creates it
- counts.py   how many notes a page's filters match (Prefer: count=exact|planned)
- openapi.py  how OpenAPI shows the headers the routes read and answer
"""
